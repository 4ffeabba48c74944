//! The syntax tree of a .sam3x file. Every node carries its byte span in the file. The tree knows nothing of
//! types: declaration kinds, component names and units are plain identifiers here.

use serde::Serialize;

/// A byte range `start..end` in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn shifted(self, offset: usize) -> Span {
        Span {
            start: self.start + offset as u32,
            end: self.end + offset as u32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A parsed file: its items in source order, its comments, and the syntax errors met on the way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceFile {
    pub items: Vec<Item>,
    pub comments: Vec<Comment>,
    pub errors: Vec<crate::SyntaxError>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    /// The comment including its `//` or `/* */` markers.
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Item {
    Import(Import),
    Decl(Decl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::Decl(d) => d.span,
        }
    }
}

/// `import "presets/losses.sam3x" as losses`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Import {
    pub path: StrLit,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// `kind name: Type after a, b = value` or `kind name { fields }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decl {
    /// The declaration keyword (`dataset`, `stage`, ...); the compiler knows which ones exist.
    pub kind: Ident,
    /// Absent for singletons such as `resources { ... }`.
    pub name: Option<Ident>,
    pub ty: Option<TypeExpr>,
    /// Stages this one runs after.
    pub after: Vec<Ident>,
    pub value: Expr,
    /// Whether the source wrote `= value` or a bare block; the formatter keeps the choice.
    pub block_form: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TypeExprKind {
    /// `Float`, `List<Int>`, `Dataset<Image>`
    Named { name: Ident, args: Vec<TypeExpr> },
    /// `Int?`
    Optional(Box<TypeExpr>),
    /// `Image | Video`
    Union(Vec<TypeExpr>),
    /// `Float in 0..=1`
    Refined {
        base: Box<TypeExpr>,
        range: RangeExpr,
    },
    /// `{ name: Str, images: Path }`
    Record(Vec<(Ident, TypeExpr)>),
}

/// `lo..hi` or `lo..=hi`; either bound may be absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeExpr {
    pub lo: Option<Box<Expr>>,
    pub hi: Option<Box<Expr>>,
    pub inclusive: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExprKind {
    /// `8e-4`, `1008px`, `20 steps`: the text as written, and the unit if any.
    Number(NumberLit),
    Str(StrLit),
    Bool(bool),
    None,
    Name(Ident),
    /// `spatial.checkpoint`
    Field {
        base: Box<Expr>,
        field: Ident,
    },
    /// `scales(1008px, min = 480px)` or `coco_images { images = ... }`
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
        block: bool,
    },
    List(Vec<Expr>),
    Record(Vec<Field>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
    /// `base with { field = value }`: a copy of `base` with fields replaced.
    With {
        base: Box<Expr>,
        fields: Vec<Field>,
    },
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumberLit {
    /// The digits as written (`8e-4`, `1_000`), so the formatter reproduces them.
    pub text: String,
    /// Written without a fraction or exponent.
    pub is_integer: bool,
    pub unit: Option<Ident>,
}

impl NumberLit {
    /// The numeric value; the grammar guarantees the text is a valid number.
    pub fn value(&self) -> f64 {
        self.text.replace('_', "").parse().unwrap_or(f64::NAN)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// A string literal, split into literal text and `${name.field}` interpolations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrLit {
    pub parts: Vec<StrPart>,
    pub span: Span,
}

impl StrLit {
    /// The text when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(_) => return None,
            }
        }
        Some(out)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StrPart {
    /// Literal text with escapes already resolved.
    Text(String),
    /// `${a.b.c}`: the path of names.
    Interp(Vec<Ident>),
}
