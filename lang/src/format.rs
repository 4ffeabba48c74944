//! The formatter. It prints the syntax tree in one canonical layout and re-attaches every comment: comments on
//! their own lines stay before the node that follows them, comments at the end of a line stay there.
//!
//! Layout: four-space indentation; a record, list or argument list is printed on one line if the source wrote it
//! on one line, it holds no comment, and it fits in 100 columns; otherwise one element per line (lists and
//! arguments with trailing commas, record fields without). At most one blank line is kept between items and
//! between the elements of a block. Files with syntax errors are not formatted.

use crate::ast::*;
use crate::SyntaxError;

const WIDTH: usize = 100;
const INDENT: &str = "    ";

/// Format a file. Returns the syntax errors instead when it does not parse.
pub fn format(text: &str) -> Result<String, Vec<SyntaxError>> {
    let file = crate::parse(text);
    if !file.errors.is_empty() {
        return Err(file.errors);
    }
    let mut p = Printer {
        text,
        comments: &file.comments,
        next_comment: 0,
        out: String::new(),
        indent: 0,
    };
    let mut prev_end: Option<u32> = None;
    for item in &file.items {
        p.leading_comments(item.span().start, prev_end);
        p.item(item);
        p.trailing_comment(item.span().end);
        p.out.push('\n');
        prev_end = Some(item.span().end);
    }
    p.leading_comments(u32::MAX, prev_end);
    let mut out = p.out.trim_end().to_string();
    out.push('\n');
    Ok(out)
}

struct Printer<'a> {
    text: &'a str,
    comments: &'a [Comment],
    next_comment: usize,
    out: String,
    indent: usize,
}

/// How a bracketed sequence is printed when broken over lines.
#[derive(Clone, Copy, PartialEq)]
enum Sep {
    /// `,` after every element (lists, arguments).
    Comma,
    /// Nothing: one field per line (records and blocks).
    Newline,
}

impl<'a> Printer<'a> {
    fn column(&self) -> usize {
        self.out.len() - self.out.rfind('\n').map(|i| i + 1).unwrap_or(0)
    }

    fn newline(&mut self) {
        // No trailing spaces on blank lines.
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    fn blank_line_between(&self, a: u32, b: u32) -> bool {
        let (a, b) = (a as usize, b as usize);
        a < b && b <= self.text.len() && self.text[a..b].matches('\n').count() >= 2
    }

    /// Comments before `pos` on their own lines, each on its own line at the current indentation. `prev_end` is the
    /// end of the previous sibling (to keep one blank line where the source had one).
    fn leading_comments(&mut self, pos: u32, prev_end: Option<u32>) {
        let mut last = prev_end;
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= pos {
                break;
            }
            if let Some(l) = last {
                if self.blank_line_between(l, c.span.start) {
                    self.ensure_blank_line();
                }
            }
            self.out.push_str(&c.text);
            self.newline();
            last = Some(c.span.end);
            self.next_comment += 1;
        }
        if let Some(l) = last {
            if pos != u32::MAX && self.blank_line_between(l, pos) {
                self.ensure_blank_line();
            }
        }
    }

    fn ensure_blank_line(&mut self) {
        // The output ends with "\n" + indentation; make it "\n\n" + indentation.
        let line_start = self.out.rfind('\n').map(|i| i + 1).unwrap_or(0);
        if self.out[..line_start].ends_with("\n\n") || line_start == 0 {
            return;
        }
        self.out.truncate(line_start);
        self.newline();
    }

    /// A comment that starts on the same line right after `end` stays at the end of that line.
    fn trailing_comment(&mut self, end: u32) {
        if let Some(c) = self.comments.get(self.next_comment) {
            let between = self
                .text
                .get(end as usize..c.span.start as usize)
                .unwrap_or("\n");
            if c.span.start >= end
                && !between.contains('\n')
                && between.trim_matches([' ', '\t', ',']).is_empty()
            {
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.next_comment += 1;
            }
        }
    }

    fn has_comment_within(&self, span: Span) -> bool {
        self.comments[self.next_comment..]
            .iter()
            .any(|c| c.span.start >= span.start && c.span.end <= span.end)
    }

    fn source_is_multiline(&self, span: Span) -> bool {
        self.text
            .get(span.range())
            .is_some_and(|s| s.contains('\n'))
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(i) => {
                self.out.push_str("import ");
                self.out.push_str(&str_lit(&i.path));
                if let Some(a) = &i.alias {
                    self.out.push_str(" as ");
                    self.out.push_str(&a.name);
                }
            }
            Item::Decl(d) => {
                self.out.push_str(&d.kind.name);
                if let Some(n) = &d.name {
                    self.out.push(' ');
                    self.out.push_str(&n.name);
                }
                if let Some(t) = &d.ty {
                    self.out.push_str(": ");
                    self.out.push_str(&type_str(t));
                }
                if !d.after.is_empty() {
                    self.out.push_str(" after ");
                    let names: Vec<&str> = d.after.iter().map(|a| a.name.as_str()).collect();
                    self.out.push_str(&names.join(", "));
                }
                if d.block_form {
                    self.out.push(' ');
                } else {
                    self.out.push_str(" = ");
                }
                self.expr(&d.value);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Number(n) => self.out.push_str(&number_str(n)),
            ExprKind::Str(s) => self.out.push_str(&str_lit(s)),
            ExprKind::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            ExprKind::None => self.out.push_str("none"),
            ExprKind::Name(i) => self.out.push_str(&i.name),
            ExprKind::Field { base, field } => {
                self.expr(base);
                self.out.push('.');
                self.out.push_str(&field.name);
            }
            ExprKind::Call {
                callee,
                args,
                block,
            } => {
                self.expr(callee);
                if *block {
                    self.out.push(' ');
                    let elems: Vec<Elem> = args
                        .iter()
                        .map(|a| {
                            Elem::Field(
                                a.name.as_ref().expect("block arguments are named"),
                                &a.value,
                                a.span,
                            )
                        })
                        .collect();
                    self.seq("{", "}", &elems, Sep::Newline, e.span);
                } else {
                    let elems: Vec<Elem> = args
                        .iter()
                        .map(|a| Elem::Arg(a.name.as_ref(), &a.value, a.span))
                        .collect();
                    self.seq("(", ")", &elems, Sep::Comma, e.span);
                }
            }
            ExprKind::List(items) => {
                let elems: Vec<Elem> = items.iter().map(|i| Elem::Arg(None, i, i.span)).collect();
                self.seq("[", "]", &elems, Sep::Comma, e.span);
            }
            ExprKind::Record(fields) => {
                let elems: Vec<Elem> = fields
                    .iter()
                    .map(|f| Elem::Field(&f.name, &f.value, f.span))
                    .collect();
                self.seq("{", "}", &elems, Sep::Newline, e.span);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.expr(lhs);
                self.out.push(' ');
                self.out.push_str(op.symbol());
                self.out.push(' ');
                self.expr(rhs);
            }
            ExprKind::Neg(inner) => {
                self.out.push('-');
                self.expr(inner);
            }
            ExprKind::With { base, fields } => {
                self.expr(base);
                self.out.push_str(" with ");
                let elems: Vec<Elem> = fields
                    .iter()
                    .map(|f| Elem::Field(&f.name, &f.value, f.span))
                    .collect();
                let rec_span = Span {
                    start: fields.first().map(|f| f.span.start).unwrap_or(e.span.end),
                    end: e.span.end,
                };
                self.seq("{", "}", &elems, Sep::Newline, rec_span);
            }
            ExprKind::Paren(inner) => {
                self.out.push('(');
                self.expr(inner);
                self.out.push(')');
            }
        }
    }

    /// A bracketed sequence: inline when the source had it inline, it has no comments, and it fits.
    fn seq(&mut self, open: &str, close: &str, elems: &[Elem], sep: Sep, span: Span) {
        if elems.is_empty() && !self.has_comment_within(span) {
            self.out.push_str(open);
            self.out.push_str(close);
            return;
        }
        if !self.source_is_multiline(span) && !self.has_comment_within(span) {
            let inline = self.render_inline(open, close, elems);
            if self.column() + inline.len() <= WIDTH && !inline.contains('\n') {
                self.out.push_str(&inline);
                return;
            }
        }
        // A lone list or record argument hugs the parentheses: `sweep([` ... `])`.
        if open == "(" && elems.len() == 1 && !self.has_comment_between(span, elems[0].span()) {
            if let Elem::Arg(None, value, _) = &elems[0] {
                if matches!(value.kind, ExprKind::List(_) | ExprKind::Record(_)) {
                    self.out.push_str(open);
                    self.expr(value);
                    self.out.push_str(close);
                    return;
                }
            }
        }
        // A long list of short literals fills its lines instead of taking one line per element.
        if sep == Sep::Comma
            && open == "["
            && elems.len() > 3
            && elems.iter().all(is_short_literal)
            && !self.has_comment_within(span)
        {
            self.out.push_str(open);
            self.indent += 1;
            self.newline();
            for (i, elem) in elems.iter().enumerate() {
                let text = self.render_inline_elem(elem);
                if i > 0 {
                    if self.column() + 1 + text.len() + 1 > WIDTH {
                        self.newline();
                    } else {
                        self.out.push(' ');
                    }
                }
                self.out.push_str(&text);
                self.out.push(',');
            }
            self.indent -= 1;
            self.newline();
            self.out.push_str(close);
            return;
        }
        self.out.push_str(open);
        self.indent += 1;
        let mut prev_end: Option<u32> = None;
        for elem in elems {
            let s = elem.span();
            self.newline();
            self.leading_comments(s.start, prev_end);
            self.elem(elem);
            if sep == Sep::Comma {
                self.out.push(',');
            }
            self.trailing_comment(s.end);
            prev_end = Some(s.end);
        }
        // Comments after the last element, before the closing bracket.
        let close_pos = span.end.saturating_sub(1);
        if self
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.span.start < close_pos)
        {
            self.newline();
            self.leading_comments(close_pos, prev_end);
            // leading_comments ends with a newline at this indentation; drop it, the loop below adds one.
            while self.out.ends_with(' ') {
                self.out.pop();
            }
            if self.out.ends_with('\n') {
                self.out.pop();
            }
        }
        self.indent -= 1;
        self.newline();
        self.out.push_str(close);
    }

    fn render_inline_elem(&self, elem: &Elem) -> String {
        let mut sub = Printer {
            text: self.text,
            comments: &[],
            next_comment: 0,
            out: String::new(),
            indent: 0,
        };
        sub.elem(elem);
        sub.out
    }

    /// Comments between the opening bracket of `outer` and the start of `inner`.
    fn has_comment_between(&self, outer: Span, inner: Span) -> bool {
        self.comments[self.next_comment..]
            .iter()
            .any(|c| c.span.start >= outer.start && c.span.end <= inner.start)
    }

    fn render_inline(&self, open: &str, close: &str, elems: &[Elem]) -> String {
        let mut sub = Printer {
            text: self.text,
            comments: &[],
            next_comment: 0,
            out: String::new(),
            indent: 0,
        };
        let pad = open == "{";
        sub.out.push_str(open);
        if pad {
            sub.out.push(' ');
        }
        for (i, elem) in elems.iter().enumerate() {
            if i > 0 {
                sub.out.push_str(", ");
            }
            sub.elem(elem);
        }
        if pad {
            sub.out.push(' ');
        }
        sub.out.push_str(close);
        sub.out
    }

    fn elem(&mut self, elem: &Elem) {
        match elem {
            Elem::Field(name, value, _) => {
                self.out.push_str(&key_str(&name.name));
                self.out.push_str(" = ");
                self.expr(value);
            }
            Elem::Arg(name, value, _) => {
                if let Some(n) = name {
                    self.out.push_str(&n.name);
                    self.out.push_str(" = ");
                }
                self.expr(value);
            }
        }
    }
}

/// Numbers, strings, booleans and names: list elements that can share a line.
fn is_short_literal(e: &Elem) -> bool {
    match e {
        Elem::Arg(None, v, _) => match &v.kind {
            ExprKind::Number(_) | ExprKind::Bool(_) | ExprKind::None | ExprKind::Name(_) => true,
            ExprKind::Str(s) => s.span.len() <= 80,
            _ => false,
        },
        _ => false,
    }
}

enum Elem<'e> {
    Field(&'e Ident, &'e Expr, Span),
    Arg(Option<&'e Ident>, &'e Expr, Span),
}

impl Elem<'_> {
    fn span(&self) -> Span {
        match self {
            Elem::Field(_, _, s) | Elem::Arg(_, _, s) => *s,
        }
    }
}

/// A record key: bare when it is an identifier, quoted otherwise (`"1" = "boat"`).
fn key_str(name: &str) -> String {
    let is_ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && ![
            "import", "as", "after", "with", "in", "true", "false", "none",
        ]
        .contains(&name);
    if is_ident {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// Short symbolic units stick to the number (`1008px`, `15%`, `72h`); word units take a space (`20 steps`).
fn number_str(n: &NumberLit) -> String {
    match &n.unit {
        None => n.text.clone(),
        Some(u) if u.name == "%" || u.name.len() <= 3 => format!("{}{}", n.text, u.name),
        Some(u) => format!("{} {}", n.text, u.name),
    }
}

fn str_lit(s: &StrLit) -> String {
    let mut out = String::from("\"");
    for part in &s.parts {
        match part {
            StrPart::Text(t) => {
                let mut chars = t.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
                        c => out.push(c),
                    }
                }
            }
            StrPart::Interp(path) => {
                let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
                out.push_str("${");
                out.push_str(&names.join("."));
                out.push('}');
            }
        }
    }
    out.push('"');
    out
}

pub(crate) fn type_str(t: &TypeExpr) -> String {
    match &t.kind {
        TypeExprKind::Named { name, args } if args.is_empty() => name.name.clone(),
        TypeExprKind::Named { name, args } => {
            format!(
                "{}<{}>",
                name.name,
                args.iter().map(type_str).collect::<Vec<_>>().join(", ")
            )
        }
        TypeExprKind::Optional(inner) => format!("{}?", type_str(inner)),
        TypeExprKind::Union(alts) => alts.iter().map(type_str).collect::<Vec<_>>().join(" | "),
        TypeExprKind::Record(fields) => {
            let fs: Vec<String> = fields
                .iter()
                .map(|(n, t)| format!("{}: {}", key_str(&n.name), type_str(t)))
                .collect();
            format!("{{ {} }}", fs.join(", "))
        }
        TypeExprKind::Refined { base, range } => {
            let bound = |b: &Option<Box<Expr>>| -> String {
                let mut p = Printer {
                    text: "",
                    comments: &[],
                    next_comment: 0,
                    out: String::new(),
                    indent: 0,
                };
                if let Some(e) = b {
                    p.expr(e);
                }
                p.out
            };
            format!(
                "{} in {}{}{}",
                type_str(base),
                bound(&range.lo),
                if range.inclusive { "..=" } else { ".." },
                bound(&range.hi)
            )
        }
    }
}
