//! The parser: pest over one item at a time, then a conversion of pest's pairs into the syntax tree.
//! It never fails: an item that does not parse becomes a `SyntaxError` and the other items are still parsed.

use crate::ast::*;
use crate::scan;
use crate::SyntaxError;
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// Parse a whole file. Never fails: the errors are in `SourceFile::errors`, in source order.
pub fn parse(text: &str) -> SourceFile {
    let scanned = scan::scan(text);
    let comment_ends: std::collections::HashMap<usize, usize> = scanned
        .comments
        .iter()
        .map(|c| (c.span.end as usize, c.span.start as usize))
        .collect();
    let mut file = SourceFile {
        comments: scanned.comments,
        ..Default::default()
    };
    for span in scanned.items {
        let chunk = &text[span.range()];
        match Grammar::parse(Rule::item_only, chunk) {
            Ok(mut pairs) => {
                let item_only = pairs.next().expect("item_only matched");
                let pair = item_only
                    .into_inner()
                    .next()
                    .expect("an item inside item_only");
                let b = Builder {
                    offset: span.start as usize,
                    text,
                    comment_ends: &comment_ends,
                };
                file.items.push(b.item(pair));
            }
            Err(e) => file
                .errors
                .push(SyntaxError::from_pest(e, chunk, span.start as usize)),
        }
    }
    file
}

/// Parse a standalone expression (the value of a `--set name=value` override, a default in the catalog).
pub fn parse_expr(text: &str) -> Result<Expr, SyntaxError> {
    let mut pairs =
        Grammar::parse(Rule::expr_only, text).map_err(|e| SyntaxError::from_pest(e, text, 0))?;
    let pair = pairs.next().unwrap().into_inner().next().unwrap();
    Ok(Builder {
        offset: 0,
        text,
        comment_ends: &Default::default(),
    }
    .expr(pair))
}

/// Parse a standalone type (`Float in 0..=1`).
pub fn parse_type(text: &str) -> Result<TypeExpr, SyntaxError> {
    let mut pairs =
        Grammar::parse(Rule::type_only, text).map_err(|e| SyntaxError::from_pest(e, text, 0))?;
    let pair = pairs.next().unwrap().into_inner().next().unwrap();
    Ok(Builder {
        offset: 0,
        text,
        comment_ends: &Default::default(),
    }
    .type_expr(pair))
}

pub(crate) fn rule_name(rule: Rule) -> Option<&'static str> {
    // The words a user reads in "expected ..." messages; `None` hides a rule from them.
    Some(match rule {
        Rule::EOI => "end of the declaration",
        Rule::item | Rule::decl => "a declaration",
        Rule::import => "`import`",
        Rule::ident | Rule::decl_name => "a name",
        Rule::type_annot => "`:` and a type",
        Rule::after => "`after`",
        Rule::type_expr
        | Rule::type_union
        | Rule::type_atom
        | Rule::type_named
        | Rule::type_record => "a type",
        Rule::type_field => "a field type (`name: Type`)",
        Rule::range | Rule::range_bound => "a range such as `0..=1`",
        Rule::range_op => "`..` or `..=`",
        Rule::expr | Rule::additive | Rule::multiplicative | Rule::unary | Rule::postfix => {
            "a value"
        }
        Rule::add_op => "`+` or `-`",
        Rule::mul_op => "`*` or `/`",
        Rule::with_kw => "`with`",
        Rule::field_access => "`.`",
        Rule::call_args => "`(`",
        Rule::block_args | Rule::record => "`{`",
        Rule::arg => "an argument",
        Rule::list => "a list",
        Rule::field => "a field (`name = value`)",
        Rule::quantity | Rule::number => "a number",
        Rule::unit => "a unit",
        Rule::string => "a string",
        Rule::boolean => "`true` or `false`",
        Rule::none => "`none`",
        Rule::paren => "`(`",
        Rule::optional_mark => "`?`",
        Rule::neg => "`-`",
        _ => return None,
    })
}

struct Builder<'t> {
    offset: usize,
    /// The whole file, to trim spans.
    text: &'t str,
    /// Comment end -> comment start, to trim comments off the end of spans.
    comment_ends: &'t std::collections::HashMap<usize, usize>,
}

impl Builder<'_> {
    /// The span of a pair without the whitespace and comments pest includes after the last token of a rule that
    /// ends in a repetition.
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        let start = s.start() + self.offset;
        let mut end = s.end() + self.offset;
        loop {
            let trimmed = self.text[start..end].trim_end();
            end = start + trimmed.len();
            match self.comment_ends.get(&end) {
                Some(&comment_start) if comment_start >= start => end = comment_start,
                _ => break,
            }
        }
        Span::new(start, end)
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        debug_assert!(matches!(p.as_rule(), Rule::ident));
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn item(&self, p: Pair<Rule>) -> Item {
        match p.as_rule() {
            Rule::import => {
                let span = self.span(&p);
                let mut inner = p.into_inner();
                let path = self.string(inner.next().unwrap());
                let alias = inner.next().map(|a| self.ident(a));
                Item::Import(Import { path, alias, span })
            }
            Rule::decl => Item::Decl(self.decl(p)),
            r => unreachable!("item rule {r:?}"),
        }
    }

    fn decl(&self, p: Pair<Rule>) -> Decl {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let kind = self.ident(inner.next().unwrap());
        let (mut name, mut ty, mut after, mut value, mut block_form) =
            (None, None, Vec::new(), None, false);
        for part in inner {
            match part.as_rule() {
                Rule::decl_name => name = Some(self.ident(part.into_inner().next().unwrap())),
                Rule::type_annot => ty = Some(self.type_expr(part.into_inner().next().unwrap())),
                Rule::after => after = part.into_inner().map(|i| self.ident(i)).collect(),
                Rule::expr => value = Some(self.expr(part)),
                Rule::record => {
                    block_form = true;
                    let s = self.span(&part);
                    value = Some(Expr {
                        kind: ExprKind::Record(self.fields(part)),
                        span: s,
                    });
                }
                r => unreachable!("decl part {r:?}"),
            }
        }
        Decl {
            kind,
            name,
            ty,
            after,
            value: value.expect("grammar requires a value"),
            block_form,
            span,
        }
    }

    fn type_expr(&self, p: Pair<Rule>) -> TypeExpr {
        match p.as_rule() {
            Rule::type_expr => {
                let span = self.span(&p);
                let mut inner = p.into_inner();
                let base = self.type_expr(inner.next().unwrap());
                match inner.next() {
                    None => base,
                    Some(range) => TypeExpr {
                        kind: TypeExprKind::Refined {
                            base: Box::new(base),
                            range: self.range(range),
                        },
                        span,
                    },
                }
            }
            Rule::type_union => {
                let span = self.span(&p);
                let mut alts: Vec<TypeExpr> = p.into_inner().map(|a| self.type_expr(a)).collect();
                if alts.len() == 1 {
                    alts.pop().unwrap()
                } else {
                    TypeExpr {
                        kind: TypeExprKind::Union(alts),
                        span,
                    }
                }
            }
            Rule::type_record => {
                let span = self.span(&p);
                let fields = p
                    .into_inner()
                    .map(|f| {
                        let mut inner = f.into_inner();
                        let name = self.ident(inner.next().unwrap());
                        (name, self.type_expr(inner.next().unwrap()))
                    })
                    .collect();
                TypeExpr {
                    kind: TypeExprKind::Record(fields),
                    span,
                }
            }
            Rule::type_atom => {
                let span = self.span(&p);
                let mut inner = p.into_inner();
                let named = self.type_expr(inner.next().unwrap());
                match inner.next() {
                    Some(_optional_mark) => TypeExpr {
                        kind: TypeExprKind::Optional(Box::new(named)),
                        span,
                    },
                    None => named,
                }
            }
            Rule::type_named => {
                let span = self.span(&p);
                let mut inner = p.into_inner();
                let name = self.ident(inner.next().unwrap());
                let args = inner.map(|a| self.type_expr(a)).collect();
                TypeExpr {
                    kind: TypeExprKind::Named { name, args },
                    span,
                }
            }
            r => unreachable!("type rule {r:?}"),
        }
    }

    fn range(&self, p: Pair<Rule>) -> RangeExpr {
        let span = self.span(&p);
        let (mut lo, mut hi, mut inclusive, mut seen_op) = (None, None, false, false);
        for part in p.into_inner() {
            match part.as_rule() {
                Rule::range_op => {
                    inclusive = part.as_str() == "..=";
                    seen_op = true;
                }
                Rule::range_bound => {
                    let b = Some(Box::new(self.range_bound(part)));
                    if seen_op {
                        hi = b
                    } else {
                        lo = b
                    }
                }
                r => unreachable!("range part {r:?}"),
            }
        }
        RangeExpr {
            lo,
            hi,
            inclusive,
            span,
        }
    }

    fn range_bound(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let mut inner = p.into_inner().peekable();
        let negative = inner
            .peek()
            .map(|q| q.as_rule() == Rule::neg)
            .unwrap_or(false);
        if negative {
            inner.next();
        }
        let q = inner.next().unwrap();
        let number = self.quantity(q);
        if negative {
            Expr {
                kind: ExprKind::Neg(Box::new(number)),
                span,
            }
        } else {
            number
        }
    }

    fn expr(&self, p: Pair<Rule>) -> Expr {
        match p.as_rule() {
            Rule::expr => {
                let mut inner = p.into_inner();
                let mut e = self.expr(inner.next().unwrap());
                while let Some(_with) = inner.next() {
                    let rec = inner.next().unwrap();
                    let span = e.span.to(self.span(&rec));
                    e = Expr {
                        kind: ExprKind::With {
                            base: Box::new(e),
                            fields: self.fields(rec),
                        },
                        span,
                    };
                }
                e
            }
            Rule::additive | Rule::multiplicative => {
                let mut inner = p.into_inner();
                let mut e = self.expr(inner.next().unwrap());
                while let Some(op) = inner.next() {
                    let op = match op.as_str() {
                        "+" => BinOp::Add,
                        "-" => BinOp::Sub,
                        "*" => BinOp::Mul,
                        _ => BinOp::Div,
                    };
                    let rhs = self.expr(inner.next().unwrap());
                    let span = e.span.to(rhs.span);
                    e = Expr {
                        kind: ExprKind::Binary {
                            op,
                            lhs: Box::new(e),
                            rhs: Box::new(rhs),
                        },
                        span,
                    };
                }
                e
            }
            Rule::unary => {
                let span = self.span(&p);
                let mut inner = p.into_inner();
                let first = inner.next().unwrap();
                if first.as_rule() == Rule::neg {
                    let operand = self.expr(inner.next().unwrap());
                    Expr {
                        kind: ExprKind::Neg(Box::new(operand)),
                        span,
                    }
                } else {
                    self.expr(first)
                }
            }
            Rule::postfix => {
                let mut inner = p.into_inner();
                let mut e = self.primary(inner.next().unwrap());
                for suffix in inner {
                    let span = e.span.to(self.span(&suffix));
                    e = match suffix.as_rule() {
                        Rule::field_access => {
                            let field = self.ident(suffix.into_inner().next().unwrap());
                            Expr {
                                kind: ExprKind::Field {
                                    base: Box::new(e),
                                    field,
                                },
                                span,
                            }
                        }
                        Rule::call_args => {
                            let args = suffix.into_inner().map(|a| self.arg(a)).collect();
                            Expr {
                                kind: ExprKind::Call {
                                    callee: Box::new(e),
                                    args,
                                    block: false,
                                },
                                span,
                            }
                        }
                        Rule::block_args => {
                            let rec = suffix.into_inner().next().unwrap();
                            let args = self
                                .fields(rec)
                                .into_iter()
                                .map(|f| Arg {
                                    span: f.span,
                                    name: Some(f.name),
                                    value: f.value,
                                })
                                .collect();
                            Expr {
                                kind: ExprKind::Call {
                                    callee: Box::new(e),
                                    args,
                                    block: true,
                                },
                                span,
                            }
                        }
                        r => unreachable!("postfix {r:?}"),
                    };
                }
                e
            }
            _ => self.primary(p),
        }
    }

    fn primary(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::quantity => return self.quantity(p),
            Rule::string => ExprKind::Str(self.string(p)),
            Rule::boolean => ExprKind::Bool(p.as_str().starts_with('t')),
            Rule::none => ExprKind::None,
            Rule::ident => ExprKind::Name(self.ident(p)),
            Rule::list => ExprKind::List(p.into_inner().map(|e| self.expr(e)).collect()),
            Rule::record => ExprKind::Record(self.fields(p)),
            Rule::paren => ExprKind::Paren(Box::new(self.expr(p.into_inner().next().unwrap()))),
            r => unreachable!("primary {r:?}"),
        };
        Expr { kind, span }
    }

    fn quantity(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let number = inner.next().unwrap();
        let text = number.as_str().to_string();
        let is_integer = !text.contains(['.', 'e', 'E']);
        let unit = inner.next().map(|u| Ident {
            name: u.as_str().to_string(),
            span: self.span(&u),
        });
        Expr {
            kind: ExprKind::Number(NumberLit {
                text,
                is_integer,
                unit,
            }),
            span,
        }
    }

    fn string(&self, p: Pair<Rule>) -> StrLit {
        let span = self.span(&p);
        let mut parts: Vec<StrPart> = Vec::new();
        for part in p.into_inner() {
            match part.as_rule() {
                Rule::text => push_text(&mut parts, part.as_str()),
                Rule::escape => push_text(
                    &mut parts,
                    match &part.as_str()[1..] {
                        "n" => "\n",
                        "t" => "\t",
                        other => other,
                    },
                ),
                Rule::interp => parts.push(StrPart::Interp(
                    part.into_inner().map(|i| self.ident(i)).collect(),
                )),
                r => unreachable!("string part {r:?}"),
            }
        }
        StrLit { parts, span }
    }

    fn fields(&self, p: Pair<Rule>) -> Vec<Field> {
        p.into_inner()
            .map(|f| {
                let span = self.span(&f);
                let mut inner = f.into_inner();
                let key = inner.next().unwrap();
                // A quoted key (`"1" = "boat"`) is a name that is not an identifier.
                let name = match key.as_rule() {
                    Rule::string => {
                        let s = self.string(key);
                        Ident {
                            name: s.as_plain().unwrap_or_default(),
                            span: s.span,
                        }
                    }
                    _ => self.ident(key),
                };
                let value = self.expr(inner.next().unwrap());
                Field { name, value, span }
            })
            .collect()
    }

    fn arg(&self, p: Pair<Rule>) -> Arg {
        let span = self.span(&p);
        let mut inner: Vec<Pair<Rule>> = p.into_inner().collect();
        let value = self.expr(inner.pop().unwrap());
        let name = inner.pop().map(|i| self.ident(i));
        Arg { name, value, span }
    }
}

fn push_text(parts: &mut Vec<StrPart>, s: &str) {
    if let Some(StrPart::Text(t)) = parts.last_mut() {
        t.push_str(s);
    } else {
        parts.push(StrPart::Text(s.to_string()));
    }
}
