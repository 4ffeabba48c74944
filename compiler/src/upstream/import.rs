//! An upstream config as a .sam3x spec: the inverse of `export`.
//!
//! The config (merged over its defaults-list parent) is resolved as train.py resolves it, once per job-array
//! task; what differs between tasks becomes a `sweep([...])` parameter. Every `_target_` is mapped back to its
//! catalog component through the catalog's upstream names, and every argument to the parameter whose upstream
//! name it is; the places where export writes a fixed shape (`ComposeAPI`, `ToTensorAPI`, filters wrapped in
//! `FlexibleFilterFindGetQueries`, per-group schedulers, `PredictionDumper`) are read back here. Keys no code
//! reads are dropped with W0812; what a spec cannot say is E0811 at the YAML line. The text goes through the
//! formatter.

use super::resolve::{python_float, resolve_key, ResolveError};
use super::targets::*;
use super::yaml::{parse, Node, NodeValue};
use crate::db::{Files, SourceDb};
use crate::diag::{Code, Diagnostic};
use sam3c_lang::ast::Span;
use sam3c_stdlib::catalog::{ComponentSig, TypeDesc, UnitKind};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The defaults-list parent (`eval_base.yaml`); default: the file of that name beside the config.
    pub parent: Option<PathBuf>,
}

#[derive(Debug)]
pub struct ImportOutput {
    pub files: Files,
    pub diagnostics: Vec<Diagnostic>,
    /// The formatted spec; `None` when the config could not be read.
    pub spec: Option<String>,
}

impl ImportOutput {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity() == crate::Severity::Error)
    }
}

/// Keys of the trainer's sections that no code reads (reference §1.5), dropped with W0812.
const UNREAD: &[&str] = &[
    "launcher.multiprocessing_context",
    "submitit.constraint",
    "trainer.optim_overrides",
    "trainer.logging.wandb_writer",
];
/// `Sam3ImageDataset` arguments no code reads.
const UNREAD_DATASET_ARGS: &[&str] = &[
    "use_caching",
    "is_sharded_annotation_dir",
    "zstd_dict_path",
    "filter_query",
];

pub fn import(db: &dyn SourceDb, path: &Path, opts: &ImportOptions) -> ImportOutput {
    let mut out = ImportOutput {
        files: Files::default(),
        diagnostics: Vec::new(),
        spec: None,
    };
    let Some(root) = read(db, path, &mut out) else {
        return out;
    };
    let root = match with_parent(db, path, root, opts, &mut out) {
        Some(r) => r,
        None => return out,
    };
    if root.get("trainer").is_none() {
        out.diagnostics.push(
            Diagnostic::new(Code::E0810, "the config has no `trainer` section")
                .primary(root.file, Span::new(0, 0), "not a trainer config")
                .help("`sam3c import` reads the configs of `python -m sam3.train.train -c ...`"),
        );
        return out;
    }
    let tasks = root
        .get("submitit")
        .and_then(|s| s.get("job_array"))
        .and_then(|j| j.get("num_tasks"))
        .and_then(|n| match n.value {
            NodeValue::Int(i) if i > 1 => Some(i as usize),
            _ => None,
        })
        .unwrap_or(1);
    let mut resolved = Vec::new();
    for t in 0..tasks {
        match resolve_all(&root, if tasks > 1 { Some(t as i64) } else { None }) {
            Ok(doc) => resolved.push(doc),
            Err(e) => {
                out.diagnostics.push(
                    Diagnostic::new(
                        Code::E0810,
                        format!("the config does not resolve: {}", e.message),
                    )
                    .primary(e.file, e.span, "cannot be resolved"),
                );
                return out;
            }
        }
    }
    let name = path
        .file_stem()
        .map(|s| identifier(&s.to_string_lossy()))
        .unwrap_or_else(|| "imported".into());
    let mut im = Importer {
        doc: resolved[0].clone(),
        diags: Vec::new(),
        sweep: BTreeMap::new(),
        params: String::new(),
        blocks: Vec::new(),
    };
    im.unread(&root);
    im.sweeps(&root, &resolved);
    let text = im.spec(&name, path);
    out.diagnostics.append(&mut im.diags);
    match sam3c_lang::format(&text) {
        Ok(formatted) => out.spec = Some(formatted),
        Err(errors) => {
            // A bug of the importer, not of the config: show what was produced.
            let first = errors.first().map(|e| format!("{e:?}")).unwrap_or_default();
            out.diagnostics.push(
                Diagnostic::new(
                    Code::E0810,
                    format!("sam3c wrote a spec it cannot parse ({first}); please report this"),
                )
                .primary(root.file, Span::new(0, 0), "while importing this config")
                .note(text),
            );
        }
    }
    out
}

fn read(db: &dyn SourceDb, path: &Path, out: &mut ImportOutput) -> Option<Node> {
    let text = match db.read_text(path) {
        Ok(t) => t,
        Err(e) => {
            let id = out.files.add(path.to_path_buf(), String::new());
            out.diagnostics.push(
                Diagnostic::new(
                    Code::E0810,
                    format!("cannot read `{}`: {e}", path.display()),
                )
                .primary(id, Span::new(0, 0), "here"),
            );
            return None;
        }
    };
    let id = out.files.add(path.to_path_buf(), text.clone());
    match parse(&text, id) {
        Ok(n) => Some(n),
        Err(e) => {
            out.diagnostics.push(
                Diagnostic::new(
                    Code::E0810,
                    format!("the config is not valid YAML: {}", e.message),
                )
                .primary(id, e.span, "here"),
            );
            None
        }
    }
}

/// The config merged over its defaults-list parent (`- /configs/eval_base.yaml` before `- _self_`).
fn with_parent(
    db: &dyn SourceDb,
    path: &Path,
    root: Node,
    opts: &ImportOptions,
    out: &mut ImportOutput,
) -> Option<Node> {
    let Some(NodeValue::List(defaults)) = root.get("defaults").map(|d| d.value.clone()) else {
        return Some(root);
    };
    let mut merged: Option<Node> = None;
    for d in &defaults {
        let Some(entry) = d.as_str() else { continue };
        let layer = if entry == "_self_" {
            root.clone()
        } else {
            let file = opts.parent.clone().unwrap_or_else(|| {
                path.parent()
                    .unwrap_or(Path::new("."))
                    .join(Path::new(entry).file_name().unwrap_or_default())
            });
            if !db.exists(&file) {
                out.diagnostics.push(
                    Diagnostic::new(
                        Code::E0810,
                        format!("the defaults-list parent `{entry}` is not at `{}`", file.display()),
                    )
                    .primary(d.file, d.span, "a parent config")
                    .help("give it with `--parent FILE` (Meta's configs use `eval_base.yaml` this way)"),
                );
                return None;
            }
            read(db, &file, out)?
        };
        merged = Some(match merged {
            None => layer,
            Some(base) => merge(base, layer),
        });
    }
    merged.or(Some(root))
}

/// OmegaConf's merge: maps merge key by key, anything else is replaced.
fn merge(base: Node, over: Node) -> Node {
    match (base.value, over.value) {
        (NodeValue::Map(mut b), NodeValue::Map(o)) => {
            for (k, s, v) in o {
                if let Some(i) = b.iter().position(|(bk, _, _)| *bk == k) {
                    let old = b.remove(i).2;
                    b.insert(i, (k, s, merge(old, v)));
                } else {
                    b.push((k, s, v));
                }
            }
            Node {
                value: NodeValue::Map(b),
                file: over.file,
                span: over.span,
            }
        }
        (_, value) => Node {
            value,
            file: over.file,
            span: over.span,
        },
    }
}

/// The sections train.py reads, resolved; the rest are namespaces read through interpolation.
fn resolve_all(root: &Node, task: Option<i64>) -> Result<Node, ResolveError> {
    let mut entries = Vec::new();
    for key in ["trainer", "launcher", "submitit"] {
        if let Some(n) = resolve_key(root, key, task)? {
            entries.push((key.to_string(), root.key_span(key).unwrap_or(n.span), n));
        }
    }
    Ok(Node {
        value: NodeValue::Map(entries),
        file: root.file,
        span: root.span,
    })
}

fn identifier(s: &str) -> String {
    let mut id: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if id.starts_with(|c: char| c.is_ascii_digit()) || id.is_empty() {
        id.insert(0, '_');
    }
    id
}

fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn number(n: &Node) -> Option<f64> {
    match n.value {
        NodeValue::Int(i) => Some(i as f64),
        NodeValue::Float(f) => Some(f),
        _ => None,
    }
}

fn float_text(f: f64) -> String {
    python_float(f)
}

fn int_text(f: f64) -> String {
    format!("{}", f as i64)
}

fn at_path<'a>(n: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = n;
    for part in path.split('.') {
        node = node.get(part)?;
    }
    Some(node)
}

fn target(n: &Node) -> Option<&str> {
    n.get("_target_").and_then(Node::as_str)
}

/// Category prompts as COCO_FROM_JSON reads them (a JSON list of `{id, name}`), as a .sam3x record by id.
fn prompts_record(s: &str) -> Option<String> {
    // COCO_FROM_JSON evaluates a Python literal: JSON, or the same with single-quoted strings.
    let list: Vec<serde_json::Value> = serde_json::from_str(s)
        .ok()
        .or_else(|| serde_json::from_str(&python_literal_to_json(s)).ok())?;
    let mut fields = Vec::new();
    for p in list {
        let id = p.get("id")?.as_i64()?;
        let name = p.get("name")?.as_str()?;
        fields.push(format!("{} = {}", quote(&id.to_string()), quote(name)));
    }
    Some(format!("{{ {} }}", fields.join(", ")))
}

/// Single-quoted Python strings as JSON strings (`{'id': 1}` -> `{"id": 1}`).
fn python_literal_to_json(s: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push('"');
            }
            (Some(q), c) if c == q => {
                quote = None;
                out.push('"');
            }
            (Some(_), '\\') => {
                out.push('\\');
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (Some('\''), '"') => out.push_str("\\\""),
            (_, c) => out.push(c),
        }
    }
    out
}

struct Importer {
    /// Task 0's resolved sections.
    doc: Node,
    diags: Vec<Diagnostic>,
    /// Leaves that differ between job-array tasks: path -> the expression that picks the task's value.
    sweep: BTreeMap<String, String>,
    params: String,
    blocks: Vec<String>,
}

impl Importer {
    fn cannot(&mut self, n: &Node, message: String, label: &str) {
        self.diags.push(
            Diagnostic::new(Code::E0811, message)
                .primary(n.file, n.span, label.to_string())
                .help("the imported spec leaves this out and is not equivalent to the config; complete it by hand"),
        );
    }

    fn dropped(&mut self, n: &Node, key: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::W0812,
                format!("`{key}` is read by no code of Meta's trainer; dropped"),
            )
            .primary(n.file, n.span, "not read"),
        );
    }

    /// W0812 for the keys of §1.5 present in the raw config.
    fn unread(&mut self, raw: &Node) {
        for key in UNREAD {
            if let Some(n) = at_path(raw, key) {
                if !(key.ends_with("wandb_writer") && n.value == NodeValue::Null) {
                    let n = n.clone();
                    self.dropped(&n, key);
                }
            }
        }
    }

    // ---- job arrays -----------------------------------------------------------------------------------------

    /// Leaves that differ between tasks become one sweep: a `Str` parameter when one value varies (after the
    /// common prefix and suffix of path-like strings), else a record with one field per varying value.
    fn sweeps(&mut self, raw: &Node, tasks: &[Node]) {
        if tasks.len() < 2 {
            return;
        }
        let mut varying: Vec<(String, Vec<Node>)> = Vec::new();
        collect_varying(tasks, "", &mut varying);
        // Outputs are laid out by the exporter (one directory per task), not imported.
        varying.retain(|(p, _)| !is_output(p) && p != "submitit.job_array.task_index");
        if varying.is_empty() {
            let n = at_path(raw, "submitit.job_array").cloned().unwrap();
            self.diags.push(
                Diagnostic::new(
                    Code::W0813,
                    format!("a job array of {} tasks, but nothing differs between them; task 0 is imported", tasks.len()),
                )
                .primary(n.file, n.span, "job array")
                .help("declare the swept values in the spec with `sweep([...])`"),
            );
            return;
        }
        // Columns: (field name, per-task .sam3x literals), shared by leaves with the same values.
        let mut columns: Vec<(String, Vec<String>, Option<&'static str>)> = Vec::new();
        let mut uses: Vec<(String, usize, String, String)> = Vec::new(); // path, column, prefix, suffix
        for (path, values) in &varying {
            let strings: Option<Vec<&str>> = values.iter().map(Node::as_str).collect();
            let prompts = path.ends_with("coco_json_loader.prompts");
            let (literals, prefix, suffix, ty): (
                Vec<String>,
                String,
                String,
                Option<&'static str>,
            ) = if prompts {
                let lits = values
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .and_then(prompts_record)
                            .unwrap_or_else(|| "none".into())
                    })
                    .collect();
                (lits, String::new(), String::new(), Some("Map<Str>?"))
            } else if let Some(strings) = strings {
                let (pre, suf) = common_affixes(&strings);
                let lits = strings
                    .iter()
                    .map(|s| quote(&s[pre.len()..s.len() - suf.len()]))
                    .collect();
                (lits, pre, suf, None)
            } else {
                let n = values[0].clone();
                self.cannot(
                    &n,
                    format!("`{path}` differs between job-array tasks in a way sam3c cannot sweep"),
                    "varies by task",
                );
                continue;
            };
            let col = match columns.iter().position(|(_, l, _)| *l == literals) {
                Some(c) => c,
                None => {
                    columns.push((field_name(path, &columns), literals, ty));
                    columns.len() - 1
                }
            };
            uses.push((path.clone(), col, prefix, suffix));
        }
        let key_name = job_array_key(raw).unwrap_or_else(|| "task".into());
        let single = columns.len() == 1;
        let param = if single { key_name } else { "task".to_string() };
        for (path, col, prefix, suffix) in uses {
            let (field, _, ty) = &columns[col];
            let access = if single {
                param.clone()
            } else {
                format!("{param}.{field}")
            };
            let expr = if ty.is_some() {
                access
            } else {
                format!(
                    "\"{}${{{access}}}{}\"",
                    escape_inner(&prefix),
                    escape_inner(&suffix)
                )
            };
            self.sweep.insert(path, expr);
        }
        let n = tasks.len();
        let mut p = String::new();
        let _ = writeln!(p, "// The job array of {n} tasks, one per value.");
        if single {
            let (_, lits, ty) = &columns[0];
            let _ = writeln!(
                p,
                "param {param}: {} = sweep([{}])",
                ty.unwrap_or("Str"),
                lits.join(", ")
            );
        } else {
            let fields: Vec<String> = columns
                .iter()
                .map(|(f, _, ty)| format!("{f}: {}", ty.unwrap_or("Str")))
                .collect();
            let records: Vec<String> = (0..n)
                .map(|t| {
                    let fs: Vec<String> = columns
                        .iter()
                        .map(|(f, l, _)| format!("{f} = {}", l[t]))
                        .collect();
                    format!("{{ {} }}", fs.join(", "))
                })
                .collect();
            let _ = writeln!(
                p,
                "param {param}: {{ {} }} = sweep([{}])",
                fields.join(", "),
                records.join(", ")
            );
        }
        self.params = p;
    }

    /// The expression of a leaf: the sweep's when it varies by task.
    fn swept(&self, path: &str) -> Option<String> {
        self.sweep.get(path).cloned()
    }

    // ---- values through the catalog ---------------------------------------------------------------------------

    /// A YAML value as .sam3x text of type `ty`; `None` (with E0811) when it cannot be written.
    fn value(&mut self, n: &Node, path: &str, ty: &TypeDesc) -> Option<String> {
        if let Some(s) = self.swept(path) {
            return Some(s);
        }
        let text = match (ty, &n.value) {
            (TypeDesc::Optional { .. }, NodeValue::Null) => "none".to_string(),
            (TypeDesc::Optional { of }, _) => return self.value(n, path, of),
            (TypeDesc::Bool, NodeValue::Bool(b)) => b.to_string(),
            (TypeDesc::Int, _) if number(n).is_some() => int_text(number(n).unwrap()),
            (TypeDesc::Float, _) if number(n).is_some() => float_text(number(n).unwrap()),
            (TypeDesc::Str | TypeDesc::Path, NodeValue::Str(s)) => quote(s),
            (TypeDesc::Quantity { unit }, _) if number(n).is_some() => {
                quantity(number(n).unwrap(), *unit)
            }
            (TypeDesc::Enum { variants, .. }, NodeValue::Str(s))
                if variants.contains(&s.as_str()) =>
            {
                s.clone()
            }
            (TypeDesc::List { of }, NodeValue::List(items)) => {
                let mut parts = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    parts.push(self.value(item, &format!("{path}.{i}"), of)?);
                }
                format!("[{}]", parts.join(", "))
            }
            (TypeDesc::Map { .. }, NodeValue::Str(s)) if path.ends_with("prompts") => {
                prompts_record(s)?
            }
            (
                TypeDesc::Component { .. } | TypeDesc::KindOf { .. } | TypeDesc::Union { .. },
                NodeValue::Map(_),
            ) if target(n).is_some() => self.component(n, path)?,
            (TypeDesc::Union { alternatives, .. }, _) => {
                // The first alternative that takes the value (ResizeSizes: pixels, a list of pixels, `scales`).
                for (_, alt) in alternatives {
                    let mut probe = Importer {
                        doc: self.doc.clone(),
                        diags: Vec::new(),
                        sweep: self.sweep.clone(),
                        params: String::new(),
                        blocks: Vec::new(),
                    };
                    if let Some(t) = probe.value(n, path, alt) {
                        if probe.diags.is_empty() {
                            return Some(t);
                        }
                    }
                }
                self.cannot(
                    n,
                    format!("`{path}` has a value sam3c cannot write"),
                    "not expressible",
                );
                return None;
            }
            _ => {
                self.cannot(
                    n,
                    format!("`{path}`: expected {}", ty.display()),
                    "unexpected value",
                );
                return None;
            }
        };
        Some(text)
    }

    /// A `_target_` call as a catalog component, each argument under its parameter's name.
    fn component(&mut self, n: &Node, path: &str) -> Option<String> {
        let t = target(n).unwrap_or_default().to_string();
        if t == FLEXIBLE_FILTER {
            return self.component(n.get("query_filter")?, &format!("{path}.query_filter"));
        }
        if t == RESIZE {
            return self.resize(n, path);
        }
        let Some(sig) = sam3c_stdlib::components::all()
            .iter()
            .find(|c| c.upstream == Some(t.as_str()))
        else {
            self.cannot(
                n,
                format!("sam3c has no component for `{t}`"),
                "unknown to the catalog",
            );
            return None;
        };
        let args = self.arguments(n, path, sig, &[])?;
        Some(format!("{}({})", sig.name, args.join(", ")))
    }

    /// `name = value` for every parameter given in `n`; arguments no parameter takes are E0811 (or W0812).
    fn arguments(
        &mut self,
        n: &Node,
        path: &str,
        sig: &ComponentSig,
        skip: &[&str],
    ) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut used: Vec<String> = vec!["_target_".into(), "_partial_".into()];
        used.extend(skip.iter().map(|s| s.to_string()));
        for p in &sig.params {
            let key = p.upstream.unwrap_or(p.name);
            if skip.contains(&key) {
                continue;
            }
            let Some(v) = at_path(n, key) else { continue };
            used.push(key.to_string());
            let v = v.clone();
            if let Some(text) = self.value(&v, &format!("{path}.{key}"), &p.ty) {
                out.push(format!("{} = {text}", p.name));
            }
        }
        if let NodeValue::Map(entries) = &n.value {
            for (k, span, v) in entries.clone() {
                let consumed = used
                    .iter()
                    .any(|u| *u == k || u.starts_with(&format!("{k}.")));
                let nested_extra = match &v.value {
                    NodeValue::Map(sub) if consumed && !used.contains(&k) => sub
                        .iter()
                        .filter(|(sk, _, _)| !used.contains(&format!("{k}.{sk}")))
                        .map(|(sk, _, sv)| (format!("{k}.{sk}"), sv.clone()))
                        .collect(),
                    _ => Vec::new(),
                };
                for (sk, sv) in nested_extra {
                    self.cannot(
                        &sv,
                        format!("`{}` has no parameter for upstream's `{sk}`", sig.name),
                        "not expressible",
                    );
                }
                if consumed {
                    continue;
                }
                if sig.name == "coco_images" && UNREAD_DATASET_ARGS.contains(&k.as_str()) {
                    let at = Node { span, ..v.clone() };
                    self.dropped(&at, &format!("{path}.{k}"));
                    continue;
                }
                self.cannot(
                    &v,
                    format!("`{}` has no parameter for upstream's `{k}`", sig.name),
                    "not expressible",
                );
            }
        }
        Some(out)
    }

    /// `RandomResizeAPI`: one size is `resize`, several (or `get_random_resize_scales`) `random_resize`.
    fn resize(&mut self, n: &Node, path: &str) -> Option<String> {
        let sizes = n.get("sizes")?;
        let px = |x: f64| quantity(x, UnitKind::Pixels);
        let mut args = Vec::new();
        let random = match &sizes.value {
            NodeValue::Int(s) => {
                args.push(format!("size = {}", px(*s as f64)));
                false
            }
            NodeValue::List(items) => {
                let l: Vec<String> = items.iter().filter_map(number).map(px).collect();
                args.push(format!("sizes = [{}]", l.join(", ")));
                true
            }
            NodeValue::Map(_) if target(sizes) == Some(RESIZE_SCALES) => {
                let size = sizes.get("size").and_then(number).unwrap_or(0.0);
                let min = sizes.get("min_size").and_then(number).unwrap_or(0.0);
                let rounded = sizes
                    .get("rounded")
                    .map(|r| r.value == NodeValue::Bool(true))
                    .unwrap_or(false);
                args.push(format!(
                    "sizes = scales(size = {}, min = {}, rounded = {rounded})",
                    px(size),
                    px(min)
                ));
                true
            }
            _ => {
                let s = sizes.clone();
                self.cannot(&s, "`RandomResizeAPI(sizes=...)` takes pixels, a list or `get_random_resize_scales`".into(), "unexpected");
                return None;
            }
        };
        match n.get("max_size") {
            Some(m) if target(m) == Some(RESIZE_MAX_SIZE) => {}
            Some(m) if number(m).is_some() => {
                args.push(format!("max_size = {}", px(number(m).unwrap())))
            }
            _ => {}
        }
        if let Some(NodeValue::Bool(b)) = n.get("square").map(|s| &s.value) {
            args.push(format!("square = {b}"));
        }
        if let Some(c) = n.get("consistent_transform") {
            let on = c.value == NodeValue::Bool(true);
            if random {
                args.push(format!("consistent = {on}"));
            } else if on {
                let c = c.clone();
                self.cannot(
                    &c,
                    format!("`{path}`: `resize` is always consistent across frames"),
                    "not expressible",
                );
            }
        }
        Some(format!(
            "{}({})",
            if random { "random_resize" } else { "resize" },
            args.join(", ")
        ))
    }

    /// A pipeline: `ComposeAPI` flattened, `ToTensorAPI` dropped (export puts it back before `normalize`).
    fn pipeline(&mut self, n: &Node, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let NodeValue::List(items) = &n.value else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}.{i}");
            match target(item) {
                Some(COMPOSE) => {
                    if let Some(inner) = item.get("transforms") {
                        out.extend(self.pipeline(inner, &format!("{p}.transforms")));
                    }
                }
                Some(TO_TENSOR) => {}
                _ => {
                    if let Some(t) = self.component(item, &p) {
                        out.push(t);
                    }
                }
            }
        }
        out
    }

    // ---- the spec -------------------------------------------------------------------------------------------

    fn spec(&mut self, name: &str, path: &Path) -> String {
        let doc = self.doc.clone();
        let trainer = doc.get("trainer").cloned().unwrap();
        let mode = trainer
            .get("mode")
            .and_then(Node::as_str)
            .unwrap_or("train")
            .to_string();
        let evaluation = mode == "val";
        let data = trainer.get("data").cloned();
        let val = data
            .as_ref()
            .and_then(|d| d.get("val"))
            .filter(|v| v.value != NodeValue::Null)
            .cloned();
        let train = data
            .as_ref()
            .and_then(|d| d.get("train"))
            .filter(|v| v.value != NodeValue::Null)
            .cloned();

        // Datasets and pipelines.
        let mut val_key = None;
        if let Some(v) = &val {
            let key = v
                .get("collate_fn")
                .and_then(|c| c.get("dict_key"))
                .and_then(Node::as_str)
                .map(identifier)
                .unwrap_or_else(|| "val_data".into());
            self.dataset(&key, v, "trainer.data.val");
            self.pipeline_block("eval_images", v, "trainer.data.val");
            val_key = Some(key);
        }
        if !evaluation {
            if let Some(t) = &train {
                self.dataset("train_data", t, "trainer.data.train");
                self.pipeline_block("train_images", t, "trainer.data.train");
            }
        }
        // The model.
        let model = trainer.get("model").cloned();
        if let Some(m) = &model {
            self.model(m);
        }
        // Meters.
        let mut meters = Vec::new();
        if let (Some(key), Some(ms)) = (&val_key, trainer.get("meters").and_then(|m| m.get("val")))
        {
            if let NodeValue::Map(by_key) = &ms.value {
                for (_, _, named) in by_key {
                    if let NodeValue::Map(named) = &named.value {
                        for (mname, _, meter) in named {
                            let id = identifier(mname);
                            self.meter(&id, meter, key);
                            meters.push(id);
                        }
                    }
                }
            }
        }
        // The stage.
        let mut fields = vec!["model = model".to_string()];
        let amp = trainer.get("optim").and_then(|o| o.get("amp"));
        let precision = match (
            amp.and_then(|a| a.get("enabled")).map(|e| e.value.clone()),
            amp.and_then(|a| a.get("amp_dtype")).and_then(Node::as_str),
        ) {
            (Some(NodeValue::Bool(true)), Some("bfloat16")) => "bf16",
            (Some(NodeValue::Bool(true)), _) => "fp16",
            _ => "fp32",
        };
        let loader = if evaluation {
            val.as_ref()
        } else {
            train.as_ref()
        };
        let int_at = |n: Option<&Node>, key: &str| n.and_then(|n| n.get(key)).and_then(number);
        if !evaluation {
            fields.push("data = train_data".into());
            fields.push("pipeline = train_images".into());
            if let Some(l) = trainer.get("loss").and_then(|l| l.get("all")) {
                let l = l.clone();
                if let Some(t) = self.component(&l, "trainer.loss.all") {
                    self.blocks.push(format!("loss training_loss = {t}"));
                    fields.push("loss = training_loss".into());
                }
            }
            let optim = trainer.get("optim").cloned();
            if let Some(o) = &optim {
                self.optimizer(o, &mut fields);
            }
            if let Some(e) = int_at(Some(&trainer), "max_epochs") {
                fields.push(format!("epochs = {} epochs", e as i64));
            }
            if let Some(e) = int_at(Some(&trainer), "val_epoch_freq") {
                if !meters.is_empty() {
                    fields.push(format!("eval_every = {} epochs", e as i64));
                }
            }
            if let Some(a) = int_at(Some(&trainer), "gradient_accumulation_steps") {
                fields.push(format!("accumulate = {}", a as i64));
            }
            if let Some(NodeValue::Bool(true)) = trainer.get("skip_saving_ckpts").map(|v| &v.value)
            {
                fields.push("save = false".into());
            }
            if let Some(c) = trainer.get("checkpoint") {
                if let Some(f) = c.get("save_freq").and_then(number).filter(|f| *f > 0.0) {
                    fields.push(format!("save_every = {} epochs", f as i64));
                }
                if let Some(r) = c.get("resume_from").and_then(Node::as_str) {
                    fields.push(format!("resume = {}", quote(r)));
                }
            }
        }
        if let Some(c) = trainer.get("checkpoint") {
            if let Some(init) = c
                .get("model_weight_initializer")
                .filter(|i| i.value != NodeValue::Null)
            {
                match at_path(init, "state_dict.checkpoint_path").and_then(Node::as_str) {
                    Some(p) => fields.push(format!("init = {}", quote(p))),
                    None => {
                        let init = init.clone();
                        self.cannot(
                            &init,
                            "a weight initializer other than loading a checkpoint".into(),
                            "not expressible",
                        );
                    }
                }
            }
        }
        if let Some(b) = int_at(loader, "batch_size") {
            fields.push(format!("batch = {}", b as i64));
        }
        if let Some(w) = int_at(loader, "num_workers") {
            fields.push(format!("workers = {}", w as i64));
        }
        if let Some(NodeValue::Bool(p)) = loader.and_then(|l| l.get("pin_memory")).map(|v| &v.value)
        {
            fields.push(format!("pin_memory = {p}"));
        }
        fields.push(format!("precision = {precision}"));
        if let Some(s) = int_at(Some(&trainer), "seed_value") {
            fields.push(format!("seed = {}", s as i64));
        }
        if !meters.is_empty() {
            fields.push(format!("eval = [{}]", meters.join(", ")));
        }
        let kind = if evaluation { "evaluation" } else { "stage" };
        self.blocks
            .push(format!("{kind} {name} {{\n{}\n}}", fields.join("\n")));
        self.resources();

        let out_dir = doc
            .get("launcher")
            .and_then(|l| l.get("experiment_log_dir"))
            .and_then(Node::as_str)
            .unwrap_or("sam3_logs")
            .to_string();
        let mut text = format!(
            "// Imported by `sam3c import` from {}.\n\n{}\nexperiment {{\n    name = {}\n    out = {}\n}}\n\n",
            path.display(),
            self.params,
            quote(name),
            quote(&out_dir),
        );
        for b in &self.blocks {
            text.push_str(b);
            text.push_str("\n\n");
        }
        text
    }

    fn dataset(&mut self, name: &str, loader: &Node, path: &str) {
        let Some(ds) = loader.get("dataset").cloned() else {
            return;
        };
        let dpath = format!("{path}.dataset");
        if target(&ds) != Some(IMAGE_DATASET) {
            self.cannot(
                &ds,
                format!("sam3c imports image datasets (`{IMAGE_DATASET}`)"),
                "another dataset",
            );
            return;
        }
        let sig = sam3c_stdlib::components::lookup("coco_images").unwrap();
        let mut fields = Vec::new();
        // The annotation file, possibly through `reindex_coco_to_temp`.
        let ann = ds.get("ann_file").cloned();
        let (ann_node, ann_path) = match &ann {
            Some(a) if target(a) == Some(REINDEX) => {
                fields.push("reindex = true".to_string());
                (
                    a.get("input_json_path").cloned(),
                    format!("{dpath}.ann_file.input_json_path"),
                )
            }
            Some(a) => (Some(a.clone()), format!("{dpath}.ann_file")),
            None => (None, String::new()),
        };
        if let Some(a) = ann_node {
            if let Some(t) = self.value(&a, &ann_path, &TypeDesc::Path) {
                fields.push(format!("annotations = {t}"));
            }
        }
        // The COCO loader's settings are dataset parameters.
        if let Some(l) = ds.get("coco_json_loader").cloned() {
            let lsig_args = self
                .arguments(&l, &format!("{dpath}.coco_json_loader"), sig, &[])
                .unwrap_or_default();
            fields.extend(lsig_args);
        }
        // Fixed by the exporter from the stage's role.
        let fixed = [
            "ann_file",
            "transforms",
            "coco_json_loader",
            "max_ann_per_img",
            "max_train_queries",
            "max_val_queries",
            "training",
        ];
        let args = self.arguments(&ds, &dpath, sig, &fixed).unwrap_or_default();
        // The dataset's own arguments first, the annotations right after the images.
        let after_images = args
            .iter()
            .position(|a| a.starts_with("images ="))
            .map_or(0, |i| i + 1);
        let loader_fields = fields.split_off(
            fields.len()
                - fields
                    .iter()
                    .rev()
                    .take_while(|f| !f.starts_with("annotations ="))
                    .count(),
        );
        let mut all = args;
        all.splice(after_images..after_images, fields);
        all.extend(loader_fields);
        let mut fields = all;
        if ds.get("load_segmentation").is_none() {
            // Sam3ImageDataset's default (sam3c's `masks` defaults to true).
            fields.push("masks = false".into());
        }
        self.blocks.push(format!(
            "dataset {name} = coco_images {{\n{}\n}}",
            fields.join("\n")
        ));
    }

    fn pipeline_block(&mut self, name: &str, loader: &Node, path: &str) {
        let Some(t) = loader
            .get("dataset")
            .and_then(|d| d.get("transforms"))
            .cloned()
        else {
            return;
        };
        let steps = self.pipeline(&t, &format!("{path}.dataset.transforms"));
        self.blocks
            .push(format!("pipeline {name} = [\n{},\n]", steps.join(",\n")));
    }

    fn model(&mut self, m: &Node) {
        let t = target(m).unwrap_or_default();
        let Some(sig) = sam3c_stdlib::components::all()
            .iter()
            .find(|c| c.upstream == Some(t))
        else {
            let m = m.clone();
            self.cannot(&m, format!("sam3c has no model for `{t}`"), "unknown model");
            return;
        };
        // Set by the exporter (bpe_path is an export option; eval_mode follows the stage; device is the trainer's).
        let mut args = self
            .arguments(
                m,
                "trainer.model",
                sig,
                &["bpe_path", "device", "eval_mode"],
            )
            .unwrap_or_default();
        if m.get("load_from_HF").is_none() {
            // build_sam3_image_model's default.
            args.push("from_hub = true".into());
        }
        self.blocks.push(format!(
            "model model = {} {{\n{}\n}}",
            sig.name,
            args.join("\n")
        ));
    }

    fn meter(&mut self, name: &str, m: &Node, data: &str) {
        if target(m) != Some(PREDICTION_DUMPER) {
            let m = m.clone();
            self.cannot(
                &m,
                format!("sam3c reads meters written as `{PREDICTION_DUMPER}`"),
                "another meter",
            );
            return;
        }
        let evaluators = match m.get("pred_file_evaluators").map(|e| &e.value) {
            Some(NodeValue::List(l)) => l.clone(),
            _ => Vec::new(),
        };
        let Some(ev) = evaluators.first() else {
            let m = m.clone();
            self.cannot(
                &m,
                "a prediction dump without an evaluator".into(),
                "no metric",
            );
            return;
        };
        let et = target(ev).unwrap_or_default();
        let Some(sig) = sam3c_stdlib::components::all()
            .iter()
            .find(|c| c.upstream == Some(et))
        else {
            let ev = ev.clone();
            self.cannot(
                &ev,
                format!("sam3c has no meter for `{et}`"),
                "unknown evaluator",
            );
            return;
        };
        let iou = m
            .get("iou_type")
            .and_then(Node::as_str)
            .unwrap_or("bbox")
            .to_string();
        let mut args = vec![
            iou.clone(),
            format!("data = {data}"),
            "pipeline = eval_images".to_string(),
        ];
        if let Some(NodeValue::Bool(true)) = ev.get("positive_split").map(|v| &v.value) {
            args.push("positive_split = true".into());
        }
        if sig.name == "coco_ap" {
            if let Some(d) = m.get("maxdets").and_then(number) {
                args.push(format!("max_dets = {}", d as i64));
            }
        }
        // The postprocessor, written when it differs from what export derives from the meter.
        if let Some(pp) = m.get("postprocessor") {
            let masks = pp.get("iou_type").and_then(Node::as_str) == Some("segm");
            let mut p = Vec::new();
            if masks != (iou == "segm") {
                p.push(format!("masks = {masks}"));
            }
            if let Some(NodeValue::Bool(false)) = pp.get("use_presence").map(|v| &v.value) {
                p.push("presence = false".into());
            }
            if let Some(d) = pp
                .get("max_dets_per_img")
                .and_then(number)
                .filter(|d| *d > 0.0)
            {
                p.push(format!("max_dets = {}", d as i64));
            }
            if let Some(t) = pp.get("detection_threshold").and_then(number) {
                p.push(format!("threshold = {}", float_text(t)));
            }
            if !p.is_empty() {
                args.push(format!("postprocess = detections({})", p.join(", ")));
            }
        }
        self.blocks
            .push(format!("meter {name} = {}({})", sig.name, args.join(", ")));
    }

    /// AdamW with its parameter groups, weight decay, layer decay and clipping; the per-group schedulers as the
    /// stage's schedule.
    fn optimizer(&mut self, o: &Node, fields: &mut Vec<String>) {
        let Some(opt) = o.get("optimizer").cloned() else {
            return;
        };
        if target(&opt) != Some(ADAMW) {
            self.cannot(
                &opt,
                "sam3c's optimizer is AdamW".into(),
                "another optimizer",
            );
            return;
        }
        let mut args = Vec::new();
        if let Some(NodeValue::List(b)) = opt.get("betas").map(|b| &b.value) {
            let b: Vec<String> = b.iter().filter_map(number).map(float_text).collect();
            args.push(format!("betas = [{}]", b.join(", ")));
        }
        if let Some(e) = opt.get("eps").and_then(number) {
            args.push(format!("eps = {}", float_text(e)));
        }
        let mut schedules: Vec<(Node, String)> = Vec::new();
        if let Some(NodeValue::List(lrs)) = at_path(o, "options.lr").map(|l| &l.value) {
            let mut groups = Vec::new();
            for entry in lrs {
                let Some(s) = entry.get("scheduler") else {
                    continue;
                };
                let (base, sched) = self.scheduler(s);
                match entry.get("param_names").map(|p| &p.value) {
                    Some(NodeValue::List(names)) => {
                        let pats: Vec<String> =
                            names.iter().filter_map(Node::as_str).map(quote).collect();
                        groups.push(format!(
                            "group({}, lr = {})",
                            pats.join(", "),
                            float_text(base)
                        ));
                    }
                    _ => args.push(format!("lr = {}", float_text(base))),
                }
                schedules.push((s.clone(), sched));
            }
            if !groups.is_empty() {
                args.push(format!("groups = [{}]", groups.join(", ")));
            }
        }
        if let Some(NodeValue::List(wds)) = at_path(o, "options.weight_decay").map(|l| &l.value) {
            for entry in wds {
                let value = entry
                    .get("scheduler")
                    .and_then(|s| s.get("value"))
                    .and_then(number)
                    .unwrap_or(0.0);
                let names = entry.get("param_names");
                let classes = entry.get("module_cls_names");
                if names.is_none() && classes.is_none() {
                    args.push(format!("weight_decay = {}", float_text(value)));
                    continue;
                }
                if value != 0.0 {
                    let e = entry.clone();
                    self.cannot(
                        &e,
                        "a weight decay other than 0 for some parameters".into(),
                        "not expressible",
                    );
                    continue;
                }
                let mut sel: Vec<String> = Vec::new();
                if let Some(NodeValue::List(l)) = names.map(|n| &n.value) {
                    sel.extend(l.iter().filter_map(Node::as_str).map(quote));
                }
                if let Some(NodeValue::List(l)) = classes.map(|n| &n.value) {
                    for c in l {
                        match MODULE_CLASSES
                            .iter()
                            .find(|(_, cls)| Some(*cls) == c.as_str())
                        {
                            Some((word, _)) => sel.push(word.to_string()),
                            None => {
                                let c = c.clone();
                                self.cannot(&c, "sam3c names LayerNorm, GroupNorm, Embedding, Linear and Conv2d modules".into(), "unknown module class");
                            }
                        }
                    }
                }
                args.push(format!("no_decay = [{}]", sel.join(", ")));
            }
        }
        if let Some(NodeValue::List(mods)) = o.get("param_group_modifiers").map(|m| &m.value) {
            for (i, m) in mods.iter().enumerate() {
                let sig = sam3c_stdlib::components::lookup("layer_decay").unwrap();
                if target(m) != sig.upstream {
                    let m = m.clone();
                    self.cannot(
                        &m,
                        "sam3c's only parameter-group modifier is layer decay".into(),
                        "not expressible",
                    );
                    continue;
                }
                let mut a = Vec::new();
                let path = format!("trainer.optim.param_group_modifiers.{i}");
                for key in ["layer_decay_value", "apply_to", "layer_decay_min"] {
                    if let Some(v) = m.get(key).filter(|v| v.value != NodeValue::Null) {
                        let p = sig.params.iter().find(|p| p.upstream == Some(key)).unwrap();
                        let v = v.clone();
                        if let Some(t) = self.value(&v, &format!("{path}.{key}"), &p.ty) {
                            a.push(format!("{} = {t}", p.name));
                        }
                    }
                }
                if let Some(NodeValue::List(ovs)) = m.get("overrides").map(|v| &v.value) {
                    let items: Vec<String> = ovs
                        .iter()
                        .map(|ov| {
                            format!(
                                "{{ pattern = {}, scale = {} }}",
                                quote(ov.get("pattern").and_then(Node::as_str).unwrap_or("")),
                                float_text(ov.get("value").and_then(number).unwrap_or(1.0))
                            )
                        })
                        .collect();
                    a.push(format!("overrides = [{}]", items.join(", ")));
                }
                args.push(format!("layer_decay = layer_decay({})", a.join(", ")));
            }
        }
        if let Some(c) = o
            .get("gradient_clip")
            .filter(|c| c.value != NodeValue::Null)
        {
            if let Some(n) = c.get("max_norm").and_then(number) {
                args.push(format!("clip_norm = {}", float_text(n)));
            }
        }
        self.blocks.push(format!(
            "optimizer optimizer = adamw {{\n{}\n}}",
            args.join("\n")
        ));
        fields.push("optimizer = optimizer".into());
        // One schedule for every group.
        if let Some((first_node, first)) = schedules.first().cloned() {
            if schedules.iter().any(|(_, s)| *s != first) {
                self.cannot(
                    &first_node,
                    "the learning-rate groups follow different schedules; sam3c has one per stage"
                        .into(),
                    "per-group schedule",
                );
            } else if !first.is_empty() {
                self.blocks.push(format!("schedule schedule = {first}"));
                fields.push("schedule = schedule".into());
            }
        }
    }

    /// A scheduler's base learning rate and the schedule it follows (empty for a constant rate).
    fn scheduler(&mut self, s: &Node) -> (f64, String) {
        let steps = |k: &str| s.get(k).and_then(number).unwrap_or(0.0) as i64;
        match target(s).unwrap_or_default() {
            CONSTANT_SCHEDULER => (
                s.get("value").and_then(number).unwrap_or(0.0),
                String::new(),
            ),
            COSINE_SCHEDULER => {
                let start = s.get("start_value").and_then(number).unwrap_or(0.0);
                let end = s.get("end_value").and_then(number).unwrap_or(0.0);
                let scale = if start == 0.0 { 0.0 } else { end / start };
                (
                    start,
                    format!("cosine(final_scale = {})", float_text(scale)),
                )
            }
            t if Some(t)
                == sam3c_stdlib::components::lookup("inverse_sqrt").and_then(|c| c.upstream) =>
            {
                (
                    s.get("base_lr").and_then(number).unwrap_or(0.0),
                    format!(
                    "inverse_sqrt(warmup = {} steps, timescale = {} steps, cooldown = {} steps)",
                    steps("warmup_steps"),
                    steps("timescale"),
                    steps("cooldown_steps")
                ),
                )
            }
            t => {
                let s = s.clone();
                self.cannot(
                    &s,
                    format!("sam3c has no schedule for `{t}`"),
                    "unknown scheduler",
                );
                (0.0, String::new())
            }
        }
    }

    fn resources(&mut self) {
        let doc = self.doc.clone();
        let mut fields = Vec::new();
        if let Some(l) = doc.get("launcher") {
            if let Some(g) = l.get("gpus_per_node").and_then(number) {
                fields.push(format!("gpus = {}", g as i64));
            }
            if let Some(n) = l.get("num_nodes").and_then(number) {
                fields.push(format!("nodes = {}", n as i64));
            }
        }
        if let Some(s) = doc.get("submitit") {
            if let Some(NodeValue::Bool(true)) = s.get("use_cluster").map(|u| &u.value) {
                let sig = sam3c_stdlib::components::lookup("slurm").unwrap();
                let skip = [
                    "use_cluster",
                    "port_range",
                    "job_array",
                    "constraint",
                    "name",
                    "include_nodes",
                    "mem",
                    "srun_args",
                ];
                let args = self
                    .arguments(s, "submitit", sig, &skip)
                    .unwrap_or_default();
                fields.push(format!("cluster = slurm {{\n{}\n}}", args.join("\n")));
            }
        }
        if !fields.is_empty() {
            self.blocks
                .push(format!("resources {{\n{}\n}}", fields.join("\n")));
        }
    }
}

/// A number with its unit; upstream writes durations in hours (`timeout_hour`).
fn quantity(x: f64, unit: UnitKind) -> String {
    let suffix = match unit {
        UnitKind::Duration => "h",
        _ => unit.suffixes()[0].0,
    };
    let num = if x.fract() == 0.0 {
        int_text(x)
    } else {
        float_text(x)
    };
    match unit {
        UnitKind::Pixels | UnitKind::Duration | UnitKind::Percent => format!("{num}{suffix}"),
        _ => format!("{num} {suffix}"),
    }
}

/// Paths (dot-separated) of leaves whose values differ between tasks.
fn collect_varying(tasks: &[Node], path: &str, out: &mut Vec<(String, Vec<Node>)>) {
    let first = &tasks[0];
    match &first.value {
        NodeValue::Map(entries) => {
            for (k, _, _) in entries {
                let children: Option<Vec<Node>> = tasks.iter().map(|t| t.get(k).cloned()).collect();
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match children {
                    Some(c) => collect_varying(&c, &p, out),
                    None => out.push((p, tasks.to_vec())),
                }
            }
        }
        NodeValue::List(items) => {
            let same_len = tasks
                .iter()
                .all(|t| matches!(&t.value, NodeValue::List(l) if l.len() == items.len()));
            if !same_len {
                out.push((path.to_string(), tasks.to_vec()));
                return;
            }
            for i in 0..items.len() {
                let c: Vec<Node> = tasks
                    .iter()
                    .map(|t| match &t.value {
                        NodeValue::List(l) => l[i].clone(),
                        _ => unreachable!(),
                    })
                    .collect();
                collect_varying(&c, &format!("{path}.{i}"), out);
            }
        }
        _ => {
            if tasks.iter().any(|t| t.value != first.value) {
                out.push((path.to_string(), tasks.to_vec()));
            }
        }
    }
}

/// Output locations: export lays them out per stage and task.
fn is_output(path: &str) -> bool {
    path == "launcher.experiment_log_dir"
        || path.ends_with("checkpoint.save_dir")
        || path.ends_with("logging.log_dir")
        || path.ends_with("tensorboard_writer.log_dir")
        || path.ends_with(".dump_dir")
        || path.contains(".pred_file_evaluators.")
}

/// The longest common prefix ending in `/` and suffix starting with `/` (so that names are not cut).
fn common_affixes(values: &[&str]) -> (String, String) {
    let first = values[0];
    let mut pre = first.len();
    let mut suf = first.len();
    for v in &values[1..] {
        pre = pre.min(
            first
                .bytes()
                .zip(v.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
        suf = suf.min(
            first
                .bytes()
                .rev()
                .zip(v.bytes().rev())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let mut prefix = &first[..pre];
    prefix = match prefix.rfind('/') {
        Some(i) => &prefix[..=i],
        None => "",
    };
    let shortest = values.iter().map(|v| v.len()).min().unwrap_or(0);
    let suf = suf.min(shortest.saturating_sub(prefix.len()));
    let mut suffix = &first[first.len() - suf..];
    suffix = match suffix.find('/') {
        Some(i) => &suffix[i..],
        None => "",
    };
    (prefix.to_string(), suffix.to_string())
}

fn escape_inner(s: &str) -> String {
    let q = quote(s);
    q[1..q.len() - 1].to_string()
}

/// A field name for a varying leaf: its dataset role and parameter (`val_images`), or its last keys.
fn field_name(path: &str, taken: &[(String, Vec<String>, Option<&'static str>)]) -> String {
    let role = if path.contains(".data.train.") {
        "train_"
    } else if path.contains(".data.val.") {
        "val_"
    } else {
        ""
    };
    let last = match path.rsplit('.').next().unwrap_or("value") {
        "img_folder" => "images",
        "ann_file" | "input_json_path" => "annotations",
        other => other,
    };
    let base = identifier(&format!("{role}{last}"));
    let mut name = base.clone();
    let mut n = 2;
    while taken.iter().any(|(t, _, _)| *t == name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The key whose value picks by `submitit.job_array.task_index` (`supercategory`), for the sweep's name.
fn job_array_key(raw: &Node) -> Option<String> {
    fn walk(n: &Node, key: &str) -> Option<String> {
        match &n.value {
            NodeValue::Str(s) if s.contains("job_array.task_index") => Some(key.to_string()),
            NodeValue::Map(entries) => entries.iter().find_map(|(k, _, v)| walk(v, k)),
            NodeValue::List(items) => items.iter().find_map(|v| walk(v, key)),
            _ => None,
        }
    }
    walk(raw, "task").map(|k| identifier(&k))
}
