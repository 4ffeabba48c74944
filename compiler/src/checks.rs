//! Checks across fields and declarations: stage order and initialization, image/video domains, resolution,
//! cadences and schedules, parameter-group patterns against the model's real parameter names, and the
//! invariants Meta's trainer checks late or never (reference/upstream-sam3.md §8.3).

use crate::db::FileId;
use crate::diag::{Code, Diagnostic};
use crate::eval::Checker;
use crate::program::{DeclId, DeclKind, Program};
use crate::value::{format_quantity, ComponentValue, Val, Value};
use petgraph::graph::{DiGraph, NodeIndex};
use sam3c_lang::ast::Span;
use sam3c_stdlib::arch::{ParamInfo, Sam3Config};
use sam3c_stdlib::catalog::{Domain, UnitKind};
use sam3c_stdlib::components::optim::AdamW;
use sam3c_stdlib::groups::{self, GroupIssue, PatternSite};
use std::collections::HashMap;
use std::rc::Rc;

/// Whether a stage trains, or only evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    Train,
    Evaluate,
}

/// A stage (or an evaluation) after checking: its declaration, its value, and the stages it depends on.
#[derive(Debug, Clone)]
pub struct StageInfo {
    pub kind: StageKind,
    pub decl: DeclId,
    pub name: String,
    pub value: Rc<ComponentValue>,
    /// Stages that must finish first (`after` and `init`).
    pub deps: Vec<DeclId>,
    /// The stage whose weights this one starts from.
    pub init_from: Option<DeclId>,
}

/// The SAM 3 patch size: input resolutions must be multiples of it.
pub const PATCH_SIZE: f64 = 14.0;

pub fn check_stages(ck: &mut Checker) -> Vec<StageInfo> {
    let program = ck.program;
    let root = program.root();
    let mut stages = Vec::new();
    for id in program.decl_ids(root) {
        let kind = match program.decl(id).kind {
            DeclKind::Stage => StageKind::Train,
            DeclKind::Evaluation => StageKind::Evaluate,
            _ => continue,
        };
        let v = ck.decl_value(id);
        let Some(c) = v.component().cloned() else {
            continue;
        };
        let decl = program.decl(id);
        let file = program.decl_file(id);
        let mut deps = Vec::new();
        for a in &decl.ast.after {
            match program.module(root).bindings.get(&a.name) {
                Some(crate::program::Binding::Decl(d))
                    if program.decl(*d).kind == DeclKind::Stage =>
                {
                    deps.push(*d)
                }
                Some(_) => ck.diags.push(
                    Diagnostic::new(
                        Code::E0200,
                        format!("`after` needs stages, and `{}` is not one", a.name),
                    )
                    .primary(file, a.span, "not a stage"),
                ),
                None => {
                    let names: Vec<&str> = program
                        .decl_ids(root)
                        .filter(|d| program.decl(*d).kind == DeclKind::Stage)
                        .map(|d| program.decl(d).name())
                        .collect();
                    let mut d = Diagnostic::new(Code::E0100, format!("unknown stage `{}`", a.name))
                        .primary(file, a.span, "no such stage");
                    if let Some(s) = crate::suggest::did_you_mean(&a.name, names.iter().copied()) {
                        d = d.help(s);
                    }
                    ck.diags.push(d);
                }
            }
        }
        let init_from = match c.get("init").map(|v| &v.value) {
            Some(Value::Stage(s)) => Some(*s),
            Some(Value::Path(_)) => c
                .get("init")
                .and_then(|v| v.origin)
                .filter(|o| program.decl(*o).kind == DeclKind::Stage),
            _ => None,
        };
        if let Some(s) = init_from {
            if !deps.contains(&s) {
                deps.push(s);
            }
        }
        stages.push(StageInfo {
            kind,
            decl: id,
            name: decl.name().to_string(),
            value: c,
            deps,
            init_from,
        });
    }
    let stages = order_stages(ck, stages);
    let by_decl: HashMap<DeclId, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.decl, i))
        .collect();
    for s in &stages {
        check_stage(ck, s, &stages, &by_decl);
    }
    stages
}

/// Topological order (stable: source order among independent stages); cycles are reported.
fn order_stages(ck: &mut Checker, stages: Vec<StageInfo>) -> Vec<StageInfo> {
    let program = ck.program;
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..stages.len()).map(|i| g.add_node(i)).collect();
    let index: HashMap<DeclId, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.decl, i))
        .collect();
    for (i, s) in stages.iter().enumerate() {
        for d in &s.deps {
            if let Some(&j) = index.get(d) {
                g.add_edge(nodes[j], nodes[i], ());
            }
        }
    }
    let mut in_cycle = vec![false; stages.len()];
    for scc in petgraph::algo::tarjan_scc(&g) {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let mut members: Vec<usize> = scc.iter().map(|n| g[*n]).collect();
        members.sort();
        for &m in &members {
            in_cycle[m] = true;
        }
        let first = &stages[members[0]];
        let file = program.decl_file(first.decl);
        let names: Vec<String> = members
            .iter()
            .map(|&m| format!("`{}`", stages[m].name))
            .collect();
        let mut d = Diagnostic::new(
            Code::E0300,
            format!("stages {} depend on each other", names.join(", ")),
        )
        .primary(
            file,
            program.decl(first.decl).name_span(),
            "part of a dependency cycle",
        );
        for &m in &members[1..] {
            d = d.secondary(
                program.decl_file(stages[m].decl),
                program.decl(stages[m].decl).name_span(),
                "also part of it",
            );
        }
        d = d.help("a stage runs after the stages it names in `after` and in `init`; remove one of these dependencies");
        ck.diags.push(d);
    }
    // Kahn's algorithm, picking the earliest declared ready stage each time.
    let mut indegree: Vec<usize> = vec![0; stages.len()];
    for e in g.edge_indices() {
        let (_, b) = g.edge_endpoints(e).unwrap();
        indegree[g[b]] += 1;
    }
    let mut done = vec![false; stages.len()];
    let mut order = Vec::new();
    loop {
        let next = (0..stages.len()).find(|&i| !done[i] && !in_cycle[i] && indegree[i] == 0);
        let Some(i) = next else { break };
        done[i] = true;
        order.push(i);
        for n in g.neighbors(nodes[i]) {
            indegree[g[n]] = indegree[g[n]].saturating_sub(1);
        }
    }
    // Stages in or behind a cycle keep source order at the end, so later checks still see them.
    order.extend((0..stages.len()).filter(|i| !done[*i]));
    let mut slots: Vec<Option<StageInfo>> = stages.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| slots[i].take().unwrap())
        .collect()
}

/// The domain of a component value (`Any` if unknown).
fn domain_of(v: &Val) -> Domain {
    v.component().map(|c| c.sig.domain).unwrap_or(Domain::Any)
}

fn decl_note(program: &Program, v: &Val) -> Option<(FileId, Span, String)> {
    let o = v.origin?;
    let d = program.decl(o);
    Some((
        program.decl_file(o),
        d.name_span(),
        format!("`{}` is declared here", d.name()),
    ))
}

fn check_stage(
    ck: &mut Checker,
    s: &StageInfo,
    stages: &[StageInfo],
    by_decl: &HashMap<DeclId, usize>,
) {
    let program = ck.program;
    let file = program.decl_file(s.decl);
    let c = &s.value;
    let get = |name: &str| c.get(name).cloned();

    // Initialization and resume.
    if let Some(from) = s.init_from {
        let init_val = get("init").unwrap();
        if from == s.decl {
            ck.diags.push(
                Diagnostic::new(Code::E0303, format!("stage `{}` initializes from its own weights", s.name))
                    .primary(file, init_val.span, "this is the stage itself")
                    .help("`init` starts a stage from *another* stage's weights with a fresh optimizer; to continue an interrupted run of this stage, run `sam3c run --resume` (or set `resume` to one of its checkpoints)"),
            );
        } else if let Some(&j) = by_decl.get(&from) {
            let other = &stages[j];
            if other.value.bool("save") == Some(false) {
                let save_span = other
                    .value
                    .get("save")
                    .map(|v| v.span)
                    .unwrap_or(program.decl(other.decl).name_span());
                ck.diags.push(
                    Diagnostic::new(
                        Code::E0301,
                        format!(
                            "`{}` initializes from `{}`, which saves no weights",
                            s.name, other.name
                        ),
                    )
                    .primary(file, init_val.span, "needs the weights of this stage")
                    .secondary(
                        program.decl_file(other.decl),
                        save_span,
                        format!("`{}` does not save", other.name),
                    )
                    .help(format!("remove `save = false` from `{}`", other.name)),
                );
            }
            check_init_compatibility(ck, s, other, init_val.span);
        }
    }
    if let Some(init) = get("init") {
        if let Value::Path(p) = &init.value {
            if is_own_checkpoint(ck, s, p) {
                ck.diags.push(
                    Diagnostic::new(Code::E0303, format!("stage `{}` initializes from its own checkpoint", s.name))
                        .primary(file, init.span, "a checkpoint written by this stage")
                        .help("initializing restarts the schedule at step 0 with a fresh optimizer; to continue the run, use `resume` (or `sam3c run --resume`)"),
                );
            }
        }
    }
    if let Some(resume) = get("resume") {
        if let Value::Path(p) = &resume.value {
            let own_final = format!(
                "{}/{}/checkpoints/final.safetensors",
                ck.out_dir.trim_end_matches('/'),
                s.name
            );
            let other_stage = resume
                .origin
                .filter(|o| *o != s.decl && program.decl(*o).kind == DeclKind::Stage);
            if let Some(o) = other_stage {
                let other = program.decl(o).name().to_string();
                ck.diags.push(
                    Diagnostic::new(
                        Code::E0302,
                        format!(
                            "`resume` continues this stage's own interrupted run, not `{other}`"
                        ),
                    )
                    .primary(file, resume.span, format!("a checkpoint of `{other}`"))
                    .help(format!(
                        "to start from `{other}`'s final weights, write `init = {other}`"
                    )),
                );
            } else if resume.origin != Some(s.decl) && !is_own_run_path(ck, s, p) {
                // A checkpoint from elsewhere (another stage, another experiment): resuming would continue
                // that run's epoch count and optimizer state instead of starting this stage.
                ck.diags.push(
                    Diagnostic::new(
                        Code::E0302,
                        format!(
                            "`resume` continues this stage's own interrupted run, but `{p}` is not one of `{}`'s checkpoints",
                            s.name
                        ),
                    )
                    .primary(file, resume.span, "a checkpoint of another run")
                    .help(format!(
                        "`{}`'s checkpoints are written under `{}/{}/`; to start from these weights with a fresh optimizer, write `init = \"{p}\"`",
                        s.name,
                        ck.out_dir.trim_end_matches('/'),
                        s.name
                    )),
                );
            } else if p == &own_final || resume.origin == Some(s.decl) {
                let epochs = c.number("epochs").unwrap_or(0.0);
                ck.diags.push(
                    Diagnostic::new(Code::E0304, format!("resuming `{}` from its final checkpoint trains zero steps", s.name))
                        .primary(file, resume.span, format!("written after all {} epochs", epochs))
                        .help("the final checkpoint is written when the stage is complete; resume from `latest` after an interruption (`sam3c run --resume` does), or raise `epochs` to train longer"),
                );
            }
        }
    }

    // Domains: everything in the stage works on the dataset's kind of data.
    let mut model_domain_ok = true;
    let data = get("data");
    let domain = data.as_ref().map(domain_of).unwrap_or(Domain::Any);
    if domain != Domain::Any {
        let data = data.clone().unwrap();
        let mut parts: Vec<(&str, Val)> = Vec::new();
        for name in ["model", "loss"] {
            if let Some(v) = get(name) {
                parts.push((name, v));
            }
        }
        if let Some(p) = get("pipeline") {
            if let Value::List(items) = &p.value {
                for item in items {
                    parts.push(("pipeline", item.clone()));
                }
            }
        }
        for m in c.list("eval") {
            parts.push(("eval", m.clone()));
            if let Some(mc) = m.component() {
                if let Some(md) = mc.get("data") {
                    if domain_of(md) != Domain::Any
                        && domain_of(md) != domain_of(m)
                        && domain_of(m) != Domain::Any
                    {
                        report_domain(ck, md, m, "its data");
                    }
                }
            }
        }
        for (what, v) in parts {
            let d = domain_of(&v);
            if d != Domain::Any && d != domain {
                model_domain_ok &= what != "model";
                report_domain(ck, &v, &data, "the training data");
            }
        }
    }

    // Evaluating on the training data measures memorization, not generalization.
    if let Some(train) = get("data") {
        for m in c.list("eval") {
            let Some(md) = m.component().and_then(|mc| mc.get("data")) else {
                continue;
            };
            let same_decl = train.origin.is_some() && md.origin == train.origin;
            let same_file = match (
                train.component().and_then(|t| t.get("annotations")),
                md.component().and_then(|d| d.get("annotations")),
            ) {
                (Some(a), Some(b)) => {
                    matches!((&a.value, &b.value), (Value::Path(x), Value::Path(y)) if x == y)
                }
                _ => false,
            };
            if same_decl || same_file {
                ck.diags.push(
                    Diagnostic::new(Code::W0507, format!("stage `{}` evaluates on its own training data", s.name))
                        .primary(md.file, md.span, "the meter's data")
                        .secondary(train.file, train.span, "the training data")
                        .help("evaluate on a held-out split (e.g. `test/`) to measure how the model generalizes"),
                );
            }
        }
    }

    // Batch and accumulation.
    if let (Some(batch), Some(acc)) = (c.number("batch"), c.number("accumulate")) {
        if acc > 1.0 && !(batch as u64).is_multiple_of(acc as u64) {
            let v = get("accumulate").unwrap();
            ck.diags.push(
                Diagnostic::new(
                    Code::E0502,
                    format!("`accumulate = {acc}` does not divide `batch = {batch}`"),
                )
                .primary(file, v.span, "each batch is split into this many chunks")
                .secondary(file, get("batch").unwrap().span, "the batch")
                .help(format!(
                    "make the batch a multiple of {acc} (e.g. `batch = {}`)",
                    (acc as u64) * ((batch as u64) / (acc as u64)).max(1)
                )),
            );
        }
    }

    // Cadences and schedule length (skipped when the stage's length itself is wrong: that was reported).
    if let Some(epochs) = c.number("epochs") {
        check_cadences(ck, s, file, epochs);
    }
    check_pipelines(ck, s);
    check_masks(ck, s);
    check_resolution(ck, s);
    check_prompts(ck, s);
    // With the wrong model for the data, pattern errors against that model would only be noise.
    if model_domain_ok {
        check_optimizer(ck, s);
    }
}

fn check_cadences(ck: &mut Checker, s: &StageInfo, file: FileId, epochs: f64) {
    let c = &s.value;
    let get = |name: &str| c.get(name).cloned();
    if let Some(ev) = get("eval_every").filter(|v| matches!(v.value, Value::Quantity(..))) {
        let every = ev.value.as_number().unwrap_or(0.0);
        if every > epochs {
            ck.diags.push(
                Diagnostic::new(Code::W0300, format!("evaluation every {} never runs during the {}-epoch stage", format_quantity(every, UnitKind::Epochs), epochs))
                    .primary(file, ev.span, "longer than the stage")
                    .secondary(file, get("epochs").unwrap().span, "the stage's length")
                    .help("only the final evaluation runs; shorten the cadence to see progress during training"),
            );
        } else if c.list("eval").is_empty() {
            ck.diags.push(
                Diagnostic::new(
                    Code::W0300,
                    "`eval_every` is set but the stage has no meters",
                )
                .primary(file, ev.span, "nothing to evaluate")
                .help("add meters with `eval = [...]`"),
            );
        }
    }
    if let Some(sv) = get("save_every").filter(|v| matches!(v.value, Value::Quantity(..))) {
        let every = sv.value.as_number().unwrap_or(0.0);
        if every > epochs {
            ck.diags.push(
                Diagnostic::new(
                    Code::W0301,
                    format!(
                        "a checkpoint every {} is never written during the {}-epoch stage",
                        format_quantity(every, UnitKind::Epochs),
                        epochs
                    ),
                )
                .primary(file, sv.span, "longer than the stage")
                .secondary(file, get("epochs").unwrap().span, "the stage's length")
                .help("only the latest and final checkpoints are kept"),
            );
        }
    }

    // Schedule length against the stage length, where both are in epochs (steps need the dataset size; see
    // `check --data`).
    if let Some(sched) = c.component("schedule") {
        let span_of = |name: &str| sched.get(name).map(|v| (v.value.clone(), v.span));
        let mut total = 0.0;
        let mut all_epochs = true;
        let mut spans = Vec::new();
        for name in ["warmup", "cooldown"] {
            if let Some((Value::Quantity(q, u), sp)) = span_of(name) {
                if q > 0.0 {
                    total += q;
                    all_epochs &= u == UnitKind::Epochs;
                    spans.push((name, sp, q, u));
                }
            }
        }
        if all_epochs && !spans.is_empty() && total > epochs {
            let sched_val = get("schedule").unwrap();
            let mut d = Diagnostic::new(Code::E0307, format!("warmup and cooldown ({total} epochs) are longer than the stage ({epochs} epochs)"))
                .primary(file, sched_val.span, "the schedule");
            for (name, sp, q, u) in spans {
                d = d.secondary(
                    sched_val.file,
                    sp,
                    format!("{name}: {}", format_quantity(q, u)),
                );
            }
            d = d.secondary(file, get("epochs").unwrap().span, "the stage's length").help("the learning rate would never reach its base value; shorten warmup or cooldown, or train longer");
            ck.diags.push(d);
        }
    }
}

fn report_domain(ck: &mut Checker, part: &Val, data: &Val, data_what: &str) {
    let program = ck.program;
    let pc = part.component().unwrap();
    let dd = domain_of(data);
    let mut d = Diagnostic::new(
        Code::E0305,
        format!(
            "{} `{}` works on {} data, but {} is {}",
            pc.sig.kind.noun(),
            pc.sig.name,
            pc.sig.domain.name().to_lowercase(),
            data_what,
            if dd == Domain::Video {
                "video"
            } else {
                "images"
            }
        ),
    )
    .primary(
        part.file,
        part.span,
        format!("{} only", pc.sig.domain.name().to_lowercase()),
    )
    .secondary(
        data.file,
        data.span,
        format!("{} data", dd.name().to_lowercase()),
    );
    if let Some((f, sp, msg)) = decl_note(program, part) {
        if (f, sp) != (part.file, part.span) {
            d = d.secondary(f, sp, msg);
        }
    }
    let alternatives: Vec<&str> = sam3c_stdlib::components::all()
        .iter()
        .filter(|c| c.kind == pc.sig.kind && (c.domain == dd || c.domain == Domain::Any))
        .map(|c| c.name)
        .collect();
    if !alternatives.is_empty() {
        d = d.help(format!(
            "for {} data use: {}",
            dd.name().to_lowercase(),
            alternatives.join(", ")
        ));
    }
    ck.diags.push(d);
}

/// The model configuration a stage trains, and whether it is the video model.
pub fn model_config(model: &ComponentValue) -> Option<(Sam3Config, bool)> {
    let size = match model.word("size") {
        Some("tiny") => Sam3Config::tiny(),
        _ => Sam3Config::full(),
    };
    let mut cfg = size;
    match model.name() {
        "sam3_image" => {
            cfg.image.enable_segmentation = model.bool("segmentation").unwrap_or(true);
            Some((cfg, false))
        }
        "sam3_video" => Some((cfg, true)),
        _ => None,
    }
}

fn check_init_compatibility(ck: &mut Checker, s: &StageInfo, other: &StageInfo, span: Span) {
    let (Some(a), Some(b)) = (s.value.component("model"), other.value.component("model")) else {
        return;
    };
    let (Some((ca, _)), Some((cb, _))) = (model_config(a), model_config(b)) else {
        return;
    };
    if ca.image.vit_dim != cb.image.vit_dim
        || ca.image.vit_depth != cb.image.vit_depth
        || ca.image.d_model != cb.image.d_model
    {
        let file = ck.program.decl_file(s.decl);
        ck.diags.push(
            Diagnostic::new(
                Code::E0308,
                format!(
                    "`{}` and `{}` train models of different sizes",
                    s.name, other.name
                ),
            )
            .primary(file, span, format!("`{}`'s weights do not fit", other.name))
            .secondary(
                file,
                s.value.get("model").unwrap().span,
                format!("size `{}`", a.word("size").unwrap_or("full")),
            )
            .secondary(
                ck.program.decl_file(other.decl),
                other.value.get("model").unwrap().span,
                format!("size `{}`", b.word("size").unwrap_or("full")),
            )
            .help("both stages must use the same `size`"),
        );
    }
}

/// Whether a path lies in the stage's own directory (`<out>/<stage>/`), where its checkpoints are written.
fn is_own_run_path(ck: &Checker, s: &StageInfo, path: &str) -> bool {
    let dir = crate::db::normalize(std::path::Path::new(&format!(
        "{}/{}",
        ck.out_dir.trim_end_matches('/'),
        s.name
    )));
    crate::db::normalize(std::path::Path::new(path)).starts_with(dir)
}

fn is_own_checkpoint(ck: &Checker, s: &StageInfo, path: &str) -> bool {
    let dir = format!(
        "{}/{}/checkpoints/",
        ck.out_dir.trim_end_matches('/'),
        s.name
    );
    path.starts_with(&dir)
}

/// Where a transform may sit in a pipeline; `None`: anywhere.
fn phase(name: &str) -> Option<(u8, &'static str)> {
    Some(match name {
        "filter_crowds" | "box_noise" => (0, "before masks are decoded"),
        "decode_masks" => (1, "before any geometric transform"),
        "random_resize" | "resize" | "pad" | "hflip" | "color_jitter" => (2, "before `normalize`"),
        "normalize" => (3, "after every geometric transform"),
        "text_to_visual" => (4, "after `normalize`"),
        _ => return None,
    })
}

fn check_pipelines(ck: &mut Checker, s: &StageInfo) {
    let mut pipelines: Vec<Val> = Vec::new();
    if let Some(p) = s.value.get("pipeline") {
        pipelines.push(p.clone());
    }
    for m in s.value.list("eval") {
        if let Some(p) = m.component().and_then(|c| c.get("pipeline")) {
            pipelines.push(p.clone());
        }
    }
    for p in pipelines {
        // A pipeline declared once and used in several stages is checked once.
        if let Some(o) = p.origin {
            if !ck.checked_pipelines.insert(o) {
                continue;
            }
        }
        let Value::List(items) = &p.value else {
            continue;
        };
        let mut highest: Option<(u8, &Val)> = None;
        let mut has_normalize = false;
        for item in items {
            let Some(c) = item.component() else { continue };
            has_normalize |= c.name() == "normalize";
            let Some((ph, rule)) = phase(c.name()) else {
                continue;
            };
            if let Some((h, prev)) = highest {
                if ph < h {
                    let pc = prev.component().unwrap();
                    ck.diags.push(
                        Diagnostic::new(Code::E0504, format!("`{}` must come {}", c.name(), rule))
                            .primary(item.file, item.span, "too late here")
                            .secondary(prev.file, prev.span, format!("`{}` comes first", pc.name()))
                            .help(format!("move `{}` before `{}`", c.name(), pc.name())),
                    );
                    continue;
                }
            }
            if highest.is_none_or(|(h, _)| ph >= h) {
                highest = Some((ph, item));
            }
        }
        if !has_normalize && !items.is_empty() {
            let mut d = Diagnostic::new(Code::E0506, "this pipeline never normalizes its images")
                .primary(p.file, p.span, "no `normalize`")
                .help("add `normalize()` after the geometric transforms (SAM 3 uses mean and std 0.5)");
            if let Some(o) = p.origin {
                let decl = ck.program.decl(o);
                d = d.secondary(
                    ck.program.decl_file(o),
                    decl.name_span(),
                    format!("`{}` is declared here", decl.name()),
                );
            }
            ck.diags.push(d);
        }
    }
}

fn has_transform(p: &Val, name: &str) -> bool {
    matches!(&p.value, Value::List(items) if items.iter().any(|i| i.component().is_some_and(|c| c.name() == name)))
}

fn check_masks(ck: &mut Checker, s: &StageInfo) {
    let c = &s.value;
    let Some(model) = c.get("model").cloned() else {
        return;
    };
    let Some(mc) = model.component() else { return };
    let segmentation = mc.bool("segmentation").unwrap_or(mc.name() == "sam3_video");
    let loss = c.get("loss").cloned();
    let mask_term = loss.as_ref().and_then(|l| l.component()).and_then(|lc| {
        lc.list("terms")
            .iter()
            .find(|t| t.component().is_some_and(|t| t.name() == "masks"))
            .cloned()
    });
    let is_sam3_loss = loss
        .as_ref()
        .and_then(|l| l.component())
        .is_some_and(|l| l.name() == "sam3_loss");
    if mc.name() == "sam3_image" && segmentation && is_sam3_loss && mask_term.is_none() {
        let loss = loss.clone().unwrap();
        let mut d = Diagnostic::new(
            Code::E0500,
            format!(
                "stage `{}` trains the segmentation head without a mask loss",
                s.name
            ),
        )
        .primary(loss.file, loss.span, "no `masks()` term")
        .secondary(model.file, model.span, "predicts masks");
        if let Some(seg) = mc
            .get("segmentation")
            .filter(|_| mc.arg("segmentation").is_some_and(|a| a.explicit))
        {
            d = d.secondary(seg.file, seg.span, "segmentation enabled here");
        }
        d = d.help("add `masks()` to the loss terms (e.g. `sam3.detection_masks`), or set `segmentation = false` on the model");
        ck.diags.push(d);
    }
    if let Some(term) = &mask_term {
        if !segmentation {
            ck.diags.push(
                Diagnostic::new(Code::E0505, "a mask loss on a model without segmentation")
                    .primary(term.file, term.span, "needs predicted masks")
                    .secondary(model.file, model.span, "`segmentation = false`")
                    .help("set `segmentation = true` on the model, or drop the `masks()` term"),
            );
        }
    }
    // Masks must be loaded and decoded where a mask loss or a segm meter needs them.
    let mut needs: Vec<(Val, Val, Val, String)> = Vec::new(); // (who, dataset, pipeline, why)
    if let (Some(term), Some(data), Some(pipe)) =
        (mask_term.clone(), c.get("data"), c.get("pipeline"))
    {
        needs.push((term, data.clone(), pipe.clone(), "the mask loss".into()));
    }
    for m in c.list("eval") {
        let Some(mcomp) = m.component() else { continue };
        if mcomp.word("iou") != Some("segm") {
            continue;
        }
        // A segm meter needs a model that predicts masks and a postprocessor that keeps them.
        if !segmentation {
            ck.diags.push(
                Diagnostic::new(
                    Code::E0501,
                    format!(
                        "`{}(segm)` evaluates masks, but the model predicts none",
                        mcomp.name()
                    ),
                )
                .primary(m.file, m.span, "a segm meter")
                .secondary(model.file, model.span, "`segmentation = false`")
                .help(
                    "set `segmentation = true` on the model, or evaluate boxes with `iou = bbox`",
                ),
            );
        }
        if let Some(pp) = mcomp.component("postprocess") {
            if pp.bool("masks") == Some(false) {
                let ppv = mcomp.get("postprocess").unwrap();
                ck.diags.push(
                    Diagnostic::new(Code::E0501, format!("`{}(segm)` is fed by a box-only postprocessor", mcomp.name()))
                        .primary(ppv.file, ppv.span, "`masks = false`: boxes only")
                        .secondary(m.file, m.span, "evaluates masks")
                        .help("drop `postprocess` (the default keeps masks for segm), or set `masks = true`"),
                );
            }
        }
        if let (Some(data), Some(pipe)) = (mcomp.get("data"), mcomp.get("pipeline")) {
            needs.push((
                m.clone(),
                data.clone(),
                pipe.clone(),
                format!("`{}(segm)`", mcomp.name()),
            ));
        }
    }
    for (who, data, pipe, why) in needs {
        if data.is_error() || pipe.is_error() {
            continue;
        }
        if let Some(dc) = data.component() {
            if dc.bool("masks") == Some(false) {
                ck.diags.push(
                    Diagnostic::new(
                        Code::E0503,
                        format!("{why} needs masks, but the dataset does not load them"),
                    )
                    .primary(data.file, data.span, "`masks = false`")
                    .secondary(who.file, who.span, "needs masks")
                    .help("set `masks = true` on the dataset"),
                );
                continue;
            }
        }
        if !has_transform(&pipe, "decode_masks") {
            ck.diags.push(
                Diagnostic::new(
                    Code::E0503,
                    format!("{why} needs masks, but the pipeline does not decode them"),
                )
                .primary(pipe.file, pipe.span, "no `decode_masks`")
                .secondary(who.file, who.span, "needs masks")
                .help("add `decode_masks` before the geometric transforms"),
            );
        }
    }
}

/// The input resolution a pipeline produces: the `pad` size, or the size of a square resize.
fn pipeline_resolutions(p: &Val) -> Vec<(f64, Val)> {
    let Value::List(items) = &p.value else {
        return vec![];
    };
    let mut out = Vec::new();
    for item in items {
        let Some(c) = item.component() else { continue };
        match c.name() {
            "pad" => {
                if let Some(v) = c.get("size") {
                    out.push((v.value.as_number().unwrap_or(0.0), v.clone()));
                }
            }
            "resize" if c.bool("square") == Some(true) => {
                if let Some(v) = c.get("size") {
                    out.push((v.value.as_number().unwrap_or(0.0), v.clone()));
                }
            }
            "random_resize" if c.bool("square") == Some(true) => {
                if let Some(sizes) = c.get("sizes") {
                    match &sizes.value {
                        Value::Quantity(q, _) => out.push((*q, sizes.clone())),
                        Value::List(items) => out.extend(
                            items
                                .iter()
                                .filter_map(|v| v.value.as_number().map(|q| (q, v.clone()))),
                        ),
                        Value::Component(sc) => {
                            if let Some(v) = sc.get("size") {
                                out.push((v.value.as_number().unwrap_or(0.0), v.clone()));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// SAM 2's trainer corrects every conditioning frame that was prompted with clicks, so it needs at least as
/// many corrected frames as conditioning frames.
fn check_prompts(ck: &mut Checker, s: &StageInfo) {
    let Some(model) = s.value.component("model") else {
        return;
    };
    let Some(val) = model.get("prompts") else {
        return;
    };
    let Some(prompts) = val.component() else {
        return;
    };
    if !ck.checked_prompts.insert((val.file, val.span.start)) {
        return;
    }
    let (Some(clicks), Some(cond), Some(corrected)) = (
        prompts.number("clicks"),
        prompts.number("cond_frames"),
        prompts.number("corrected_frames"),
    ) else {
        return;
    };
    if clicks <= 0.0 || corrected >= cond {
        return;
    }
    let mut d = Diagnostic::new(
        Code::E0508,
        format!("`corrected_frames = {corrected}` is fewer than `cond_frames = {cond}`"),
    );
    // Point at the fields that were written (one of them was: the defaults agree); a default is named in the
    // message.
    let mut labelled = false;
    for (name, label) in [
        ("corrected_frames", "frames that get correction clicks"),
        ("cond_frames", "conditioning frames per clip"),
    ] {
        if let Some(arg) = prompts.arg(name).filter(|a| a.explicit) {
            d = if labelled {
                d.secondary(arg.val.file, arg.val.span, label)
            } else {
                d.primary(arg.val.file, arg.val.span, label)
            };
            labelled = true;
        }
    }
    if !labelled {
        d = d.primary(val.file, val.span, "these training prompts");
    }
    ck.diags.push(d.help(format!(
        "every conditioning frame prompted with clicks is also corrected: set `corrected_frames = {cond}` or \
         more, or `clicks = 0` to prompt the conditioning frames with masks only"
    )));
}

fn check_resolution(ck: &mut Checker, s: &StageInfo) {
    let Some(model) = s.value.component("model") else {
        return;
    };
    let full = model.word("size") != Some("tiny");
    let mut pipes: Vec<Val> = Vec::new();
    if let Some(p) = s.value.get("pipeline") {
        pipes.push(p.clone());
    }
    for m in s.value.list("eval") {
        if let Some(p) = m.component().and_then(|c| c.get("pipeline")) {
            pipes.push(p.clone());
        }
    }
    let mut seen: Vec<(FileId, Span)> = Vec::new();
    for p in pipes {
        for (res, v) in pipeline_resolutions(&p) {
            if seen.contains(&(v.file, v.span)) || res <= 0.0 {
                continue;
            }
            seen.push((v.file, v.span));
            // One report per parameter, however many places (and stages) use it.
            if let Some(o) = v.origin {
                if !ck.reported_resolution_params.insert(o) {
                    continue;
                }
            }
            let px = |x: f64| format_quantity(x, UnitKind::Pixels);
            let mut d = if res % PATCH_SIZE != 0.0 {
                let below = (res / PATCH_SIZE).floor() * PATCH_SIZE;
                Diagnostic::new(
                    Code::E0306,
                    format!("{} is not a multiple of SAM 3's patch size (14)", px(res)),
                )
                .primary(v.file, v.span, "the model's input size")
                .help(format!("use {} or {}", px(below), px(below + PATCH_SIZE)))
            } else if full && res % (PATCH_SIZE * 24.0) != 0.0 {
                Diagnostic::new(
                    Code::W0302,
                    format!(
                        "{} is not a multiple of 336, SAM 3's attention window (24 patches)",
                        px(res)
                    ),
                )
                .primary(v.file, v.span, "windows will be padded")
                .help(
                    "the released model was trained at 1008px; 672px and 1344px keep whole windows",
                )
            } else {
                continue;
            };
            if let Some((f, sp, msg)) = ck.param_source(&v) {
                d = d.secondary(f, sp, msg);
            }
            ck.diags.push(d);
        }
    }
}

/// The adamw struct of a checked optimizer value (patterns, groups), for group resolution.
fn adamw_of(opt: &ComponentValue) -> Option<AdamW> {
    let json = crate::config::component_json(opt);
    serde_json::from_value(json).ok()
}

fn check_optimizer(ck: &mut Checker, s: &StageInfo) {
    let Some(model) = s.value.component("model") else {
        return;
    };
    let Some(opt_val) = s.value.get("optimizer").cloned() else {
        return;
    };
    let Some(opt) = opt_val.component() else {
        return;
    };
    let Some((cfg, video)) = model_config(model) else {
        return;
    };
    let Some(adamw) = adamw_of(opt) else { return };
    // Resolving the same optimizer on the same model twice gives the same issues: report once.
    let key = (
        opt_val.origin,
        opt_val.span,
        cfg.image.vit_depth,
        video,
        cfg.image.enable_segmentation,
    );
    if !ck.checked_optimizers.insert(format!("{key:?}")) {
        return;
    }
    // The issues depend only on the patterns and the model, not on learning rates: a spec with many optimizers
    // over one recipe resolves it once.
    let content_key = format!(
        "{:?}|{:?}|{:?}|{:?}|{}|{}|{video}|{}",
        adamw.groups.iter().map(|g| &g.patterns).collect::<Vec<_>>(),
        adamw.no_decay,
        adamw.freeze,
        adamw.layer_decay.as_ref().map(|l| (
            &l.over,
            l.overrides.iter().map(|o| &o.pattern).collect::<Vec<_>>()
        )),
        adamw.lr.is_some(),
        cfg.image.vit_depth,
        cfg.image.enable_segmentation,
    );
    let issues = match ck.resolved_groups.get(&content_key) {
        Some(issues) => issues.clone(),
        None => {
            let params: Vec<ParamInfo> = sam3c_stdlib::arch::model_params(&cfg, video);
            let (_, issues) = groups::resolve(&adamw, &params, 1.0);
            ck.resolved_groups.insert(content_key, issues.clone());
            issues
        }
    };
    let model_val = s.value.get("model").unwrap().clone();
    let model_desc = format!(
        "`{}`{}",
        model.name(),
        if model.word("size") == Some("tiny") {
            " (tiny)"
        } else {
            ""
        }
    );
    for issue in issues {
        let d = match issue {
            GroupIssue::NoMatch {
                site,
                pattern,
                suggestions,
            } => {
                let span_val = site_value(opt, site);
                let (vf, vs) = span_val
                    .map(|v| (v.file, v.span))
                    .unwrap_or((opt_val.file, opt_val.span));
                let mut d = Diagnostic::new(
                    Code::E0400,
                    format!("`{pattern}` matches no parameter of {model_desc}"),
                )
                .primary(vf, vs, "matches nothing")
                .secondary(
                    model_val.file,
                    model_val.span,
                    "the model of this stage",
                );
                d = match suggestions.first() {
                    Some(best) if best.starts_with("detector.") || best.starts_with("tracker.") => d.help(format!(
                        "the video model prefixes the image model's names with `detector.`: did you mean `{best}`?"
                    )),
                    Some(best) => d.help(format!("did you mean `{best}`? (closest real prefixes: {})", suggestions.join(", "))),
                    None => d.help(format!("`sam3c model inspect {}` lists the parameter names", if video { "sam3 --video" } else { "sam3" })),
                };
                d
            }
            GroupIssue::Overlap {
                first,
                second,
                count,
                example,
            } => {
                let a = site_value(
                    opt,
                    PatternSite::Group {
                        group: first,
                        pattern: 0,
                    },
                )
                .and_then(|_| opt.list("groups").get(first).cloned());
                let b = opt.list("groups").get(second).cloned();
                let mut d = Diagnostic::new(
                    Code::E0401,
                    format!(
                        "groups {first} and {second} both claim {count} parameter{}",
                        if count == 1 { "" } else { "s" }
                    ),
                );
                if let Some(b) = b {
                    d = d.primary(b.file, b.span, format!("also claims `{example}`"));
                }
                if let Some(a) = a {
                    d = d.secondary(a.file, a.span, "claims it first");
                }
                d.help("a parameter trains with one learning rate; make the patterns disjoint")
            }
            GroupIssue::Uncovered { count, examples } => Diagnostic::new(
                Code::E0402,
                format!("{count} parameters of {model_desc} have no learning rate"),
            )
            .primary(
                opt_val.file,
                opt_val.span,
                "no `lr` for parameters outside the groups",
            )
            .note(format!("for example: {}", examples.join(", ")))
            .help(
                "give the optimizer a default `lr`, add groups for them, or list them in `freeze`",
            ),
            GroupIssue::NotATrunk { over } => {
                let v = site_value(opt, PatternSite::LayerDecayOver);
                let (vf, vs) = v
                    .map(|v| (v.file, v.span))
                    .unwrap_or((opt_val.file, opt_val.span));
                Diagnostic::new(Code::E0403, format!("`{over}` has no transformer blocks to decay over"))
                    .primary(vf, vs, "not a ViT trunk")
                    .help("layer decay needs the trunk's `blocks.N`: for SAM 3 that is `backbone.vision_backbone.trunk` (`detector.backbone.vision_backbone.trunk` in the video model)")
            }
            GroupIssue::FrozenInGroup {
                group,
                count,
                example,
            } => {
                let g = opt.list("groups").get(group).cloned();
                let (gf, gs) = g
                    .map(|g| (g.file, g.span))
                    .unwrap_or((opt_val.file, opt_val.span));
                Diagnostic::new(
                    Code::W0404,
                    format!(
                        "{count} frozen parameter{} in group {group}",
                        if count == 1 { " is" } else { "s are" }
                    ),
                )
                .primary(
                    gf,
                    gs,
                    format!("its learning rate does not apply to `{example}`"),
                )
                .help("frozen parameters are not trained; narrow `freeze` or the group's patterns")
            }
        };
        ck.diags.push(d);
    }
}

/// The value in the optimizer spec where a pattern was written.
fn site_value(opt: &ComponentValue, site: PatternSite) -> Option<Val> {
    let list_item = |list: &[Val], i: usize| list.get(i).cloned();
    match site {
        PatternSite::Group { group, pattern } => {
            let g = list_item(opt.list("groups"), group)?;
            let gc = g.component()?;
            list_item(gc.list("patterns"), pattern).or(Some(g.clone()))
        }
        PatternSite::NoDecay(i) => list_item(opt.list("no_decay"), i),
        PatternSite::Freeze(i) => list_item(opt.list("freeze"), i),
        PatternSite::Override(i) => {
            let ld = opt.component("layer_decay")?;
            let o = list_item(ld.list("overrides"), i)?;
            match &o.value {
                Value::Component(oc) => oc.get("pattern").cloned(),
                _ => Some(o),
            }
        }
        PatternSite::LayerDecayOver => opt.component("layer_decay")?.get("over").cloned(),
    }
}
