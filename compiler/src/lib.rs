//! The sam3c compiler: from a .sam3x file to a checked spec and its diagnostics. Pure: files come through a
//! `SourceDb`, nothing else is read, nothing is written.
//!
//! Passes: `program::load` (parse the file and its imports) → `eval::Checker` (resolve names, evaluate and
//! type-check every declaration against the catalog) → `checks` (stages, domains, optimizer patterns, the
//! cross-field invariants) → `CheckedSpec`.

pub mod checks;
pub mod config;
pub mod data;
pub mod db;
pub mod diag;
pub mod docs;
pub mod eval;
pub mod graph;
pub mod program;
pub mod spec;
pub mod suggest;
pub mod types;
pub mod value;

pub use db::{FileId, Files, MemoryDb, SourceDb};
pub use diag::{Code, Diagnostic, Severity};
pub use spec::CheckedSpec;

use program::{Binding, DeclKind};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// `--set name=value` overrides of root parameters, as written on the command line.
    pub overrides: Vec<(String, String)>,
    /// Which combination of `sweep` values to check (row-major over the swept parameters; 0 by default).
    pub sweep_index: usize,
    /// Also read the data the spec names (`check --data`): annotation files, images, class statistics.
    pub data: bool,
    /// Check every combination of `sweep` values, not only `sweep_index` (problems that only one combination has
    /// are reported with the values that cause them).
    pub every_sweep: bool,
}

/// Combinations checked at most by `every_sweep` (a sweep this large is checked on its first ones).
pub const MAX_SWEEP_CHECKS: usize = 1000;

#[derive(Debug)]
pub struct CheckOutput {
    /// Every source involved (for rendering diagnostics); empty when the root file could not be read.
    pub files: Files,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked spec (also when there are errors: checks that can still run have run).
    pub spec: Option<CheckedSpec>,
    /// The execution graph, when the spec has no errors.
    pub graph: Option<graph::ExecGraph>,
}

impl CheckOutput {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity() == Severity::Error)
    }
}

/// Check the spec at `path`.
pub fn check(db: &dyn SourceDb, path: &Path, opts: &CheckOptions) -> CheckOutput {
    let mut out = check_inner(db, path, None, opts);
    let size = out.spec.as_ref().map(|s| s.sweep_size()).unwrap_or(1);
    if opts.every_sweep && size > 1 {
        for index in (0..size.min(MAX_SWEEP_CHECKS)).filter(|&i| i != opts.sweep_index) {
            let other = check_inner(
                db,
                path,
                None,
                &CheckOptions {
                    sweep_index: index,
                    every_sweep: false,
                    ..opts.clone()
                },
            );
            let values = other.spec.as_ref().map(sweep_values).unwrap_or_default();
            for mut d in other.diagnostics {
                let seen = out
                    .diagnostics
                    .iter()
                    .any(|o| o.code == d.code && o.labels == d.labels && o.message == d.message);
                if !seen {
                    d.notes.push(format!("with the sweep values {values}"));
                    out.diagnostics.push(d);
                }
            }
        }
        sort_and_dedup(&mut out.diagnostics);
    }
    out
}

/// `name = value` of each swept parameter in a checked combination.
fn sweep_values(spec: &CheckedSpec) -> String {
    spec.sweeps
        .iter()
        .map(|s| {
            let name = spec.program.decl(s.decl).name();
            let shown = spec
                .values
                .get(&s.decl)
                .map(|v| crate::spec::show_value(&spec.program, v))
                .unwrap_or_default();
            format!("`{name} = {shown}`")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check a spec whose text is given (an editor buffer); its imports are read through `db`.
pub fn check_text(
    db: &dyn SourceDb,
    path: &Path,
    text: String,
    opts: &CheckOptions,
) -> CheckOutput {
    check_inner(db, path, Some(text), opts)
}

fn check_inner(
    db: &dyn SourceDb,
    path: &Path,
    text: Option<String>,
    opts: &CheckOptions,
) -> CheckOutput {
    let mut diags = Vec::new();
    let Some(mut program) = program::load(db, path, text, &mut diags) else {
        return CheckOutput {
            files: Files::default(),
            diagnostics: diags,
            spec: None,
            graph: None,
        };
    };
    let overrides = parse_overrides(&mut program, opts, &mut diags);
    let mut ck = eval::Checker::new(&program, overrides);
    ck.sweep_index = opts.sweep_index;
    let root = program.root();
    // The experiment first: stage checkpoint paths depend on its output directory.
    let experiment = program
        .module(root)
        .singletons
        .get("experiment")
        .copied()
        .and_then(|id| ck.decl_value(id).component().cloned());
    if let Some(out) = experiment.as_ref().and_then(|e| e.get("out")) {
        if let value::Value::Path(p) | value::Value::Str(p) = &out.value {
            ck.out_dir = p.clone();
        }
    }
    ck.eval_all();
    let stages = checks::check_stages(&mut ck);
    let resources = program
        .module(root)
        .singletons
        .get("resources")
        .copied()
        .and_then(|id| ck.decl_value(id).component().cloned());
    let out_dir = ck.out_dir.clone();
    let sweeps = std::mem::take(&mut ck.sweeps);
    diags.extend(std::mem::take(&mut ck.diags));
    let values = ck.into_values();
    if opts.data {
        diags.extend(data::check_data(db, &mut program.files, &stages));
    }
    let files = program.files.clone();
    let spec = CheckedSpec {
        program,
        values,
        stages,
        experiment,
        resources,
        out_dir,
        sweeps,
    };
    // Lower to the execution graph once the spec is sound, and check the graph's own invariants.
    let graph = if diags.iter().any(|d| d.severity() == Severity::Error) {
        None
    } else {
        let g = graph::lower(&spec);
        diags.extend(graph::validate(&g));
        Some(g)
    };
    sort_and_dedup(&mut diags);
    CheckOutput {
        files,
        diagnostics: diags,
        spec: Some(spec),
        graph,
    }
}

fn parse_overrides(
    program: &mut program::Program,
    opts: &CheckOptions,
    diags: &mut Vec<Diagnostic>,
) -> Vec<eval::Override> {
    let mut out = Vec::new();
    let root = program.root();
    let params: Vec<String> = program
        .module(root)
        .bindings
        .iter()
        .filter(|(_, b)| matches!(b, Binding::Decl(d) if program.decl(*d).kind == DeclKind::Param))
        .map(|(n, _)| n.clone())
        .collect();
    for (name, text) in &opts.overrides {
        let file = program.files.add(
            PathBuf::from(format!("--set {name}")),
            format!("{name}={text}"),
        );
        let name_span = sam3c_lang::ast::Span::new(0, name.len());
        let value_offset = name.len() + 1;
        if !params.contains(name) {
            let mut d = Diagnostic::new(
                Code::E0209,
                format!("`--set {name}`: the spec has no parameter `{name}`"),
            )
            .primary(file, name_span, "unknown parameter");
            d = d.help(
                match suggest::did_you_mean(name, params.iter().map(|s| s.as_str())) {
                    Some(s) => s,
                    None if params.is_empty() => "the spec declares no `param`".into(),
                    None => {
                        let mut ps = params.clone();
                        ps.sort();
                        format!("its parameters are: {}", ps.join(", "))
                    }
                },
            );
            diags.push(d);
            continue;
        }
        match sam3c_lang::parse_expr(text) {
            Ok(mut expr) => {
                shift(&mut expr, value_offset);
                out.push(eval::Override { name: name.clone(), expr, file, name_span });
            }
            Err(e) => diags.push(
                Diagnostic::new(Code::E0209, format!("`--set {name}`: {}", e.message))
                    .primary(file, e.span.shifted(value_offset), "cannot read this value")
                    .help("values are written as in a spec: `--set lr_scale=0.05`, `--set resolution=672px`, `--set data_root=\"/mnt/data\"`"),
            ),
        }
    }
    out
}

/// Move every span of an expression by `offset` bytes.
fn shift(e: &mut sam3c_lang::ast::Expr, offset: usize) {
    use sam3c_lang::ast::ExprKind::*;
    e.span = e.span.shifted(offset);
    match &mut e.kind {
        Number(n) => {
            if let Some(u) = &mut n.unit {
                u.span = u.span.shifted(offset);
            }
        }
        Str(s) => s.span = s.span.shifted(offset),
        Name(i) => i.span = i.span.shifted(offset),
        Field { base, field } => {
            shift(base, offset);
            field.span = field.span.shifted(offset);
        }
        Call { callee, args, .. } => {
            shift(callee, offset);
            for a in args {
                a.span = a.span.shifted(offset);
                if let Some(n) = &mut a.name {
                    n.span = n.span.shifted(offset);
                }
                shift(&mut a.value, offset);
            }
        }
        List(items) => items.iter_mut().for_each(|i| shift(i, offset)),
        Record(fields) => fields.iter_mut().for_each(|f| {
            f.span = f.span.shifted(offset);
            f.name.span = f.name.span.shifted(offset);
            shift(&mut f.value, offset);
        }),
        With { base, fields } => {
            shift(base, offset);
            fields.iter_mut().for_each(|f| {
                f.span = f.span.shifted(offset);
                f.name.span = f.name.span.shifted(offset);
                shift(&mut f.value, offset);
            });
        }
        Binary { lhs, rhs, .. } => {
            shift(lhs, offset);
            shift(rhs, offset);
        }
        Neg(inner) | Paren(inner) => shift(inner, offset),
        Bool(_) | None => {}
    }
}

/// Source order (file, then position), errors before warnings at the same spot; exact duplicates dropped.
fn sort_and_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        a.position()
            .cmp(&b.position())
            .then(a.severity().cmp(&b.severity()))
    });
    diags.dedup_by(|a, b| a.code == b.code && a.message == b.message && a.labels == b.labels);
}
