//! Editor features over plain data: diagnostics, hover, go-to-definition, completion and formatting. Positions
//! are byte offsets here; `server.rs` converts to and from the protocol's line/UTF-16 positions.

use sam3c_compiler::diag::Label;
use sam3c_compiler::program::{Binding, DeclKind};
use sam3c_compiler::{CheckOptions, Severity, SourceDb};
use sam3c_lang::ast::{Arg, Decl, Expr, ExprKind, Field, Item, SourceFile, Span};
use sam3c_stdlib::components;
use std::path::{Path, PathBuf};

/// A diagnostic of the file being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct FileDiagnostic {
    pub span: Span,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// Other places involved: (file, span in that file's text, text of that file, message).
    pub related: Vec<(PathBuf, Span, String, String)>,
}

/// Check the buffer `text` of `path` (its imports are read through `db`).
pub fn diagnostics(db: &dyn SourceDb, path: &Path, text: &str) -> Vec<FileDiagnostic> {
    let out = sam3c_compiler::check_text(db, path, text.to_string(), &CheckOptions::default());
    let root_file = out.files.find(&sam3c_compiler::db::normalize(path));
    let mut result = Vec::new();
    for d in &out.diagnostics {
        let in_root = |l: &Label| Some(l.file) == root_file;
        // A diagnostic whose primary place is in an imported file shows at the top of the buffer.
        let span = d
            .labels
            .iter()
            .find(|l| l.primary && in_root(l))
            .map(|l| l.span)
            .unwrap_or_default();
        let mut message = d.message.clone();
        if let Some(h) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(h);
        }
        let related = d
            .labels
            .iter()
            .filter(|l| !(l.primary && in_root(l)) && !l.message.is_empty())
            .map(|l| {
                let f = out.files.get(l.file);
                (f.path.clone(), l.span, f.text.clone(), l.message.clone())
            })
            .collect();
        result.push(FileDiagnostic {
            span,
            severity: d.severity(),
            code: d.code.as_str(),
            message,
            related,
        });
    }
    result
}

/// What the cursor is on.
#[derive(Debug, Clone, PartialEq)]
enum Hit<'a> {
    /// The name of a called component.
    Component(&'a str, Span),
    /// A named argument of a component call.
    Parameter {
        component: &'a str,
        name: &'a str,
        span: Span,
    },
    /// A reference to a declaration (or an import alias).
    Name(&'a str, Span),
    /// `alias.name`
    Qualified {
        alias: &'a str,
        name: &'a str,
        span: Span,
    },
    /// The keyword of a declaration.
    Keyword(&'a str, Span),
}

fn contains(span: Span, offset: usize) -> bool {
    (span.start as usize) <= offset && offset <= (span.end as usize)
}

fn hit_in_file(file: &SourceFile, offset: usize) -> Option<Hit<'_>> {
    for item in &file.items {
        if let Item::Decl(d) = item {
            if contains(d.span, offset) {
                return hit_in_decl(d, offset);
            }
        }
    }
    None
}

fn hit_in_decl(d: &Decl, offset: usize) -> Option<Hit<'_>> {
    if contains(d.kind.span, offset) {
        return Some(Hit::Keyword(&d.kind.name, d.kind.span));
    }
    // A block stage/evaluation/experiment: its fields are the parameters of that builtin component.
    if let ExprKind::Record(fields) = &d.value.kind {
        let component = match d.kind.name.as_str() {
            "stage" | "evaluation" | "experiment" | "resources" => Some(d.kind.name.as_str()),
            _ => None,
        };
        if let Some(c) = component {
            for f in fields {
                if contains(f.name.span, offset) {
                    return Some(Hit::Parameter {
                        component: c,
                        name: &f.name.name,
                        span: f.name.span,
                    });
                }
            }
        }
    }
    hit_in_expr(&d.value, offset)
}

fn hit_in_fields<'a>(fields: &'a [Field], offset: usize) -> Option<Hit<'a>> {
    fields
        .iter()
        .find(|f| contains(f.span, offset))
        .and_then(|f| hit_in_expr(&f.value, offset))
}

fn hit_in_expr(e: &Expr, offset: usize) -> Option<Hit<'_>> {
    if !contains(e.span, offset) {
        return None;
    }
    match &e.kind {
        ExprKind::Name(i) => Some(Hit::Name(&i.name, i.span)),
        ExprKind::Field { base, field } => {
            if let ExprKind::Name(b) = &base.kind {
                if contains(field.span, offset) || contains(b.span, offset) {
                    return Some(Hit::Qualified {
                        alias: &b.name,
                        name: &field.name,
                        span: e.span,
                    });
                }
            }
            hit_in_expr(base, offset)
        }
        ExprKind::Call { callee, args, .. } => {
            if let ExprKind::Name(n) = &callee.kind {
                if contains(n.span, offset) {
                    return Some(Hit::Component(&n.name, n.span));
                }
                for Arg { name, value, .. } in args {
                    if let Some(a) = name {
                        if contains(a.span, offset) {
                            return Some(Hit::Parameter {
                                component: &n.name,
                                name: &a.name,
                                span: a.span,
                            });
                        }
                    }
                    if let Some(h) = hit_in_expr(value, offset) {
                        return Some(h);
                    }
                }
                None
            } else {
                hit_in_expr(callee, offset)
            }
        }
        ExprKind::List(items) => items.iter().find_map(|i| hit_in_expr(i, offset)),
        ExprKind::Record(fields) => hit_in_fields(fields, offset),
        ExprKind::With { base, fields } => {
            hit_in_expr(base, offset).or_else(|| hit_in_fields(fields, offset))
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            hit_in_expr(lhs, offset).or_else(|| hit_in_expr(rhs, offset))
        }
        ExprKind::Neg(inner) | ExprKind::Paren(inner) => hit_in_expr(inner, offset),
        ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::None => None,
    }
}

/// Markdown for what is under the cursor.
pub fn hover(text: &str, offset: usize) -> Option<(Span, String)> {
    let file = sam3c_lang::parse(text);
    match hit_in_file(&file, offset)? {
        Hit::Component(name, span) => {
            sam3c_compiler::docs::component(name).map(|d| (span, format!("```text\n{d}```")))
        }
        Hit::Parameter {
            component,
            name,
            span,
        } => {
            let sig = components::lookup(component)?;
            let p = sig.param(name)?;
            let ty = sam3c_compiler::types::Ty::from_desc(&p.ty);
            let default = p.default.map(|d| format!(" = {d}")).unwrap_or_default();
            Some((
                span,
                format!("`{}.{}: {}{}`\n\n{}", sig.name, p.name, ty, default, p.doc),
            ))
        }
        Hit::Name(name, span) => {
            if let Some(sig) = components::lookup(name) {
                return Some((
                    span,
                    format!(
                        "**{}** ({})\n\n{}",
                        sig.name,
                        sig.kind.noun(),
                        sig.summary()
                    ),
                ));
            }
            let decl = file.items.iter().find_map(|i| match i {
                Item::Decl(d) if d.name.as_ref().is_some_and(|n| n.name == name) => Some(d),
                _ => None,
            })?;
            let header = text.get(decl.span.range())?.lines().next().unwrap_or("");
            Some((span, format!("```sam3x\n{header}\n```")))
        }
        Hit::Keyword(kw, span) => {
            let doc = match DeclKind::parse(kw)? {
                DeclKind::Param => "A typed parameter, overridable with `--set NAME=VALUE`.",
                DeclKind::Let => "A named value.",
                DeclKind::Pipeline => "An ordered list of transforms applied to each image or clip.",
                DeclKind::Stage => "A training stage: a model trained on data with a loss, an optimizer and a schedule.",
                DeclKind::Evaluation => "An evaluation: meters run on a model without training.",
                _ => return Some((span, format!("A `{kw}` declaration. `sam3c doc` lists the components it can be."))),
            };
            Some((span, doc.to_string()))
        }
        Hit::Qualified { alias, name, span } => Some((
            span,
            format!("`{name}`, declared in the file imported as `{alias}`"),
        )),
    }
}

/// Where the name under the cursor is declared: (file, span in that file).
pub fn definition(
    db: &dyn SourceDb,
    path: &Path,
    text: &str,
    offset: usize,
) -> Option<(PathBuf, Span)> {
    let file = sam3c_lang::parse(text);
    let hit = hit_in_file(&file, offset)?;
    let out = sam3c_compiler::check_text(db, path, text.to_string(), &CheckOptions::default());
    let spec = out.spec?;
    let program = &spec.program;
    let root = program.root();
    let target = match hit {
        Hit::Name(name, _) => program.module(root).bindings.get(name).copied()?,
        Hit::Qualified { alias, name, .. } => match program.module(root).bindings.get(alias)? {
            Binding::Module(m) => program.module(*m).bindings.get(name).copied()?,
            Binding::Decl(_) => return None,
        },
        _ => return None,
    };
    match target {
        Binding::Decl(d) => {
            let f = program.files.get(program.decl_file(d));
            Some((f.path.clone(), program.decl(d).name_span()))
        }
        Binding::Module(m) => {
            let f = program.files.get(program.module(m).file);
            Some((f.path.clone(), Span::new(0, 0)))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub label: String,
    pub detail: String,
    /// Parameters are inserted as `name = `.
    pub insert: String,
}

/// Completions at `offset`: the parameters of the enclosing component call or block first, then declared names
/// and components.
pub fn completions(text: &str, offset: usize) -> Vec<Completion> {
    let mut out = Vec::new();
    if let Some(sig) = enclosing_component(text, offset) {
        for p in &sig.params {
            out.push(Completion {
                label: p.name.to_string(),
                detail: format!(
                    "{}: {}",
                    sig.name,
                    sam3c_compiler::types::Ty::from_desc(&p.ty)
                ),
                insert: format!("{} = ", p.name),
            });
        }
    }
    let file = sam3c_lang::parse(text);
    for item in &file.items {
        if let Item::Decl(d) = item {
            if let Some(n) = &d.name {
                out.push(Completion {
                    label: n.name.clone(),
                    detail: d.kind.name.clone(),
                    insert: n.name.clone(),
                });
            }
        }
    }
    for c in components::all() {
        out.push(Completion {
            label: c.name.to_string(),
            detail: c.kind.noun().to_string(),
            insert: c.name.to_string(),
        });
    }
    for (kw, _) in DeclKind::ALL {
        out.push(Completion {
            label: kw.to_string(),
            detail: "declaration".into(),
            insert: format!("{kw} "),
        });
    }
    out
}

/// The component whose argument list or block encloses `offset`, found by scanning back for the unclosed
/// bracket (the buffer may not parse while typing).
fn enclosing_component(
    text: &str,
    offset: usize,
) -> Option<&'static sam3c_stdlib::catalog::ComponentSig> {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut i = offset.min(bytes.len());
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b')' | b'}' | b']' => depth += 1,
            b'(' | b'{' | b'[' if depth > 0 => depth -= 1,
            b'(' | b'{' => {
                let before = text[..i].trim_end();
                let word_start = before
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map(|p| p + 1)
                    .unwrap_or(0);
                let word = &before[word_start..];
                if let Some(sig) = components::lookup(word) {
                    return Some(sig);
                }
                // `stage name {` / `evaluation name {`: the word before the name is the keyword.
                let line = &text[text[..i].rfind('\n').map(|p| p + 1).unwrap_or(0)..i];
                let first = line.split_whitespace().next().unwrap_or("");
                return match first {
                    "stage" | "evaluation" | "experiment" | "resources" => {
                        components::lookup(first)
                    }
                    _ => None,
                };
            }
            b'[' => return None,
            _ => {}
        }
    }
    None
}

/// The formatted buffer, or `None` when it has syntax errors.
pub fn format(text: &str) -> Option<String> {
    sam3c_lang::format(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sam3c_compiler::MemoryDb;

    const SPEC: &str = "import \"std/sam3.sam3x\" as sam3\n\ndataset parts = coco_images {\n    images = \"d\"\n    annotations = \"a.json\"\n}\n\npipeline p = [decode_masks, resize(1008px, square = true), normalize()]\n\nstage s {\n    model = sam3_image {}\n    data = parts\n    pipeline = p\n    loss = sam3.detection_masks\n    optimizer = sam3.finetune\n    epochs = 3 epochs\n}\n";

    #[test]
    fn diagnostics_carry_code_span_and_help() {
        let text = SPEC.replace("data = parts", "data = prats");
        let d = diagnostics(&MemoryDb::default(), Path::new("s.sam3x"), &text);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "E0100");
        assert_eq!(&text[d[0].span.range()], "prats");
        assert!(
            d[0].message.contains("did you mean `parts`?"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn hover_documents_components_and_parameters() {
        let at = |needle: &str| SPEC.find(needle).unwrap() + 1;
        let (_, h) = hover(SPEC, at("resize(")).unwrap();
        assert!(h.contains("Resize to one fixed size"), "{h}");
        let (_, h) = hover(SPEC, at("square")).unwrap();
        assert!(h.starts_with("`resize.square: Bool = false`"), "{h}");
        let (_, h) = hover(SPEC, at("epochs =")).unwrap();
        assert!(h.contains("stage.epochs: Epochs"), "{h}");
    }

    #[test]
    fn definitions_resolve_locally_and_through_imports() {
        let db = MemoryDb::default();
        let (path, span) = definition(
            &db,
            Path::new("s.sam3x"),
            SPEC,
            SPEC.find("data = parts").unwrap() + 8,
        )
        .unwrap();
        assert_eq!(path, PathBuf::from("s.sam3x"));
        assert_eq!(&SPEC[span.range()], "parts");
        let (path, _) = definition(
            &db,
            Path::new("s.sam3x"),
            SPEC,
            SPEC.find("sam3.finetune").unwrap() + 6,
        )
        .unwrap();
        assert_eq!(path, PathBuf::from("std/sam3.sam3x"));
    }

    #[test]
    fn completion_offers_the_parameters_of_the_enclosing_call_first() {
        let text = "dataset d = coco_images {\n    images = \"x\"\n    \n}\n";
        let c = completions(text, text.find("    \n").unwrap() + 4);
        assert_eq!(c[0].label, "images");
        assert!(c
            .iter()
            .take(9)
            .any(|c| c.label == "annotations" && c.insert == "annotations = "));
        let text = "stage s {\n    \n}\n";
        let c = completions(text, 14);
        assert!(
            c.iter().take(25).any(|c| c.label == "lr_scale"),
            "{:?}",
            &c[..5]
        );
    }
}
