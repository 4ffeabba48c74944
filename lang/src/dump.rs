//! A span-free, comment-free rendering of a syntax tree as S-expressions: two files with the same dump have the
//! same meaning. Used by the round-trip tests (`parse(format(x))` equals `parse(x)`) and parser snapshots.

use crate::ast::*;
use std::fmt::Write;

pub fn dump(file: &SourceFile) -> String {
    let mut out = String::new();
    for item in &file.items {
        match item {
            Item::Import(i) => {
                let _ = write!(out, "(import {}", str_lit(&i.path));
                if let Some(a) = &i.alias {
                    let _ = write!(out, " as {}", a.name);
                }
                out.push_str(")\n");
            }
            Item::Decl(d) => {
                let _ = write!(
                    out,
                    "({} {}",
                    d.kind.name,
                    d.name.as_ref().map(|n| n.name.as_str()).unwrap_or("_")
                );
                if let Some(t) = &d.ty {
                    let _ = write!(out, " : {}", ty(t));
                }
                if !d.after.is_empty() {
                    let names: Vec<&str> = d.after.iter().map(|a| a.name.as_str()).collect();
                    let _ = write!(out, " after [{}]", names.join(" "));
                }
                let _ = writeln!(out, " = {})", expr(&d.value));
            }
        }
    }
    out
}

fn str_lit(s: &StrLit) -> String {
    let mut out = String::from("\"");
    for p in &s.parts {
        match p {
            StrPart::Text(t) => out.push_str(&t.escape_debug().to_string()),
            StrPart::Interp(path) => {
                let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
                let _ = write!(out, "${{{}}}", names.join("."));
            }
        }
    }
    out.push('"');
    out
}

fn ty(t: &TypeExpr) -> String {
    match &t.kind {
        TypeExprKind::Named { name, args } if args.is_empty() => name.name.clone(),
        TypeExprKind::Named { name, args } => {
            format!(
                "{}<{}>",
                name.name,
                args.iter().map(ty).collect::<Vec<_>>().join(", ")
            )
        }
        TypeExprKind::Optional(inner) => format!("(optional {})", ty(inner)),
        TypeExprKind::Union(alts) => format!(
            "(union {})",
            alts.iter().map(ty).collect::<Vec<_>>().join(" ")
        ),
        TypeExprKind::Refined { base, range } => format!("(in {} {})", ty(base), range_str(range)),
        TypeExprKind::Record(fields) => {
            format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(n, t)| format!("{}: {}", n.name, ty(t)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

fn range_str(r: &RangeExpr) -> String {
    format!(
        "{}{}{}",
        r.lo.as_ref().map(|e| expr(e)).unwrap_or_default(),
        if r.inclusive { "..=" } else { ".." },
        r.hi.as_ref().map(|e| expr(e)).unwrap_or_default()
    )
}

fn fields(fs: &[Field]) -> String {
    fs.iter()
        .map(|f| format!("{}={}", f.name.name, expr(&f.value)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(n) => match &n.unit {
            Some(u) => format!("{}{}", n.text, u.name),
            None => n.text.clone(),
        },
        ExprKind::Str(s) => str_lit(s),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Field { base, field } => format!("{}.{}", expr(base), field.name),
        ExprKind::Call { callee, args, .. } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}={}", n.name, expr(&a.value)),
                    None => expr(&a.value),
                })
                .collect();
            format!("(call {} {})", expr(callee), args.join(" "))
        }
        ExprKind::List(items) => {
            format!("[{}]", items.iter().map(expr).collect::<Vec<_>>().join(" "))
        }
        ExprKind::Record(fs) => format!("{{{}}}", fields(fs)),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), expr(lhs), expr(rhs))
        }
        ExprKind::Neg(inner) => format!("(neg {})", expr(inner)),
        ExprKind::With { base, fields: fs } => format!("(with {} {{{}}})", expr(base), fields(fs)),
        ExprKind::Paren(inner) => expr(inner),
    }
}
