//! A checked spec as Hydra configs for Meta's trainer: one document per image stage or evaluation.
//!
//! Layout of the outputs: stage `S` of an experiment writing to `out` runs in `out/S` (upstream's
//! `launcher.experiment_log_dir`, where train.py writes `config.yaml` and `submitit_logs/`); its checkpoints,
//! TensorBoard events, logs and prediction dumps go to `out/S/checkpoints`, `tensorboard`, `logs` and
//! `dumps/<dataset>/<meter>`. With sweeps each job-array task gets its own sub-directory `out/S/<task>/...`, so
//! that tasks never resume from each other's checkpoints. A stage initialized from stage `P` loads
//! `out/P[/<task>]/checkpoints/checkpoint.pt` through `checkpoint.model_weight_initializer`.

use super::targets::*;
use super::yaml::{self, Yaml};
use crate::checks::{StageInfo, StageKind};
use crate::db::Files;
use crate::diag::{Code, Diagnostic};
use crate::program::DeclKind;
use crate::spec::CheckedSpec;
use crate::value::{ComponentValue, Val, Value};
use crate::{CheckOptions, SourceDb};
use sam3c_stdlib::catalog::{Domain, UnitKind};
use std::path::Path;
use std::rc::Rc;

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// `--set name=value` overrides of root parameters.
    pub overrides: Vec<(String, String)>,
    /// The stages and evaluations to export, by name; all of them when empty.
    pub stages: Vec<String>,
    /// The text tokenizer's vocabulary (`bpe_simple_vocab_16e6.txt.gz`) for `build_sam3_image_model`; none: the
    /// file the sam3 package looks for beside itself (absent from its PyPI wheel).
    pub bpe_path: Option<String>,
}

/// One generated config.
#[derive(Debug, Clone)]
pub struct ExportedConfig {
    /// The stage or evaluation it runs.
    pub stage: String,
    pub kind: StageKind,
    /// `<stage>.yaml`.
    pub file_name: String,
    pub yaml: String,
    /// Job-array tasks (1 without sweeps).
    pub tasks: usize,
    /// The stages whose checkpoints it starts from (they must run first).
    pub after: Vec<String>,
    /// `launcher.experiment_log_dir`.
    pub experiment_dir: String,
}

#[derive(Debug)]
pub struct ExportOutput {
    /// Every source involved, for rendering diagnostics.
    pub files: Files,
    pub diagnostics: Vec<Diagnostic>,
    /// Empty when there are errors.
    pub configs: Vec<ExportedConfig>,
}

impl ExportOutput {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity() == crate::Severity::Error)
    }
}

/// Check the spec at `path` and export its stages. `Err` only for a stage name that the spec does not have.
pub fn export(
    db: &dyn SourceDb,
    path: &Path,
    opts: &ExportOptions,
) -> Result<ExportOutput, String> {
    let check_opts = |sweep_index| CheckOptions {
        overrides: opts.overrides.clone(),
        sweep_index,
        data: false,
        every_sweep: false,
    };
    let first = crate::check(db, path, &check_opts(0));
    let mut out = ExportOutput {
        files: first.files.clone(),
        diagnostics: first.diagnostics.clone(),
        configs: Vec::new(),
    };
    let Some(spec) = first.spec else {
        return Ok(out);
    };
    for name in &opts.stages {
        if spec.stage(name).is_none() {
            let names: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "the spec has no stage or evaluation `{name}`; it has: {}",
                names.join(", ")
            ));
        }
    }
    if out.has_errors() {
        return Ok(out);
    }
    let selected: Vec<StageInfo> = spec
        .stages
        .iter()
        .filter(|s| opts.stages.is_empty() || opts.stages.contains(&s.name))
        .cloned()
        .collect();
    for s in &selected {
        if let Some(d) = video_stage(&spec, s) {
            out.diagnostics.push(d);
        }
    }
    if out.has_errors() {
        return Ok(out);
    }

    // One checked spec per job-array task.
    let tasks = spec.sweep_size().max(1);
    let mut specs = vec![spec];
    for i in 1..tasks {
        let o = crate::check(db, path, &check_opts(i));
        let errors: Vec<Diagnostic> = o
            .diagnostics
            .into_iter()
            .filter(|d| d.severity() == crate::Severity::Error)
            .collect();
        if !errors.is_empty() || o.spec.is_none() {
            // Only the checked combination was checked before: report what another one gets wrong.
            out.files = o.files;
            for mut d in errors {
                d = d.note(format!(
                    "in job-array task {i} (the sweep's combination number {i})"
                ));
                out.diagnostics.push(d);
            }
            return Ok(out);
        }
        specs.push(o.spec.unwrap());
    }
    let labels = task_labels(&specs);
    let default_resources = default_resources(db);
    for s in selected {
        let mut docs = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let stage = spec.stage(&s.name).unwrap();
            let mut b = Builder {
                spec,
                opts,
                label: labels.as_ref().map(|l| l[i].clone()),
                diags: Vec::new(),
                default_resources: &default_resources,
            };
            docs.push(b.document(stage));
            if i == 0 {
                out.diagnostics.extend(b.diags);
            }
        }
        if out.has_errors() {
            continue;
        }
        let mut doc = if tasks > 1 {
            SweepMerge::new(&specs).merge_documents(&docs)
        } else {
            docs.pop().unwrap()
        };
        if tasks > 1 {
            if let Some(submitit) = doc.get_mut("submitit") {
                submitit.set(
                    "job_array",
                    Yaml::map([
                        ("num_tasks", Yaml::Int(tasks as i64)),
                        ("task_index", Yaml::Int(0)),
                    ]),
                );
            }
        }
        let spec = &specs[0];
        let experiment_dir = stage_dir(spec, &s.name);
        let after = s
            .init_from
            .map(|d| spec.program.decl(d).name().to_string())
            .into_iter()
            .collect();
        let header = header(spec, &s, path, tasks);
        out.configs.push(ExportedConfig {
            stage: s.name.clone(),
            kind: s.kind,
            file_name: format!("{}.yaml", s.name),
            yaml: format!("{header}{}", yaml::to_string(&doc)),
            tasks,
            after,
            experiment_dir,
        });
    }
    if out.has_errors() {
        out.configs.clear();
    }
    Ok(out)
}

fn header(spec: &CheckedSpec, s: &StageInfo, path: &Path, tasks: usize) -> String {
    let what = match s.kind {
        StageKind::Train => "stage",
        StageKind::Evaluate => "evaluation",
    };
    let mut h = format!(
        "# @package _global_\n# Generated by sam3c from {} ({what} `{}`). Edit the spec and export again rather than this\n# file. Run it with Meta's trainer: python -m sam3.train.train -c <dir>/{}.yaml\n",
        path.display(),
        s.name,
        s.name
    );
    if tasks > 1 {
        let names: Vec<&str> = spec
            .sweeps
            .iter()
            .map(|sw| spec.program.decl(sw.decl).name())
            .collect();
        h.push_str(&format!(
            "# A job array of {tasks} tasks, one per value of the swept parameter{} {}.\n",
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        ));
    }
    h.push_str("defaults:\n  - _self_\n\n");
    h
}

/// A stage or evaluation on video: Meta's trainer trains and evaluates image models only through configs.
fn video_stage(spec: &CheckedSpec, s: &StageInfo) -> Option<Diagnostic> {
    let c = &s.value;
    let mut video: Option<&Val> = None;
    for name in ["model", "data"] {
        if let Some(v) = c.get(name) {
            if v.component().is_some_and(|c| c.sig.domain == Domain::Video) {
                video = video.or(Some(v));
            }
        }
    }
    for m in c.list("eval") {
        if m.component().is_some_and(|c| c.sig.domain == Domain::Video) {
            video = video.or(Some(m));
        }
    }
    let v = video?;
    let decl = spec.program.decl(s.decl);
    let file = spec.program.decl_file(s.decl);
    let what = match s.kind {
        StageKind::Train => "stage",
        StageKind::Evaluate => "evaluation",
    };
    let verb = match s.kind {
        StageKind::Train => "trains",
        StageKind::Evaluate => "evaluates",
    };
    Some(
        Diagnostic::new(
            Code::E0800,
            format!(
                "{what} `{}` {verb} on video, which Meta's trainer cannot run from a config",
                s.name
            ),
        )
        .primary(file, decl.name_span(), format!("a video {what}"))
        .secondary(v.file, v.span, "video")
        .help(format!(
            "the upstream backend exports image stages and evaluations; run `{}` with sam3c's native runtime (`sam3c run`), and export the others with `--stage NAME`",
            s.name
        )),
    )
}

/// `out/<stage>`: a stage's `launcher.experiment_log_dir`.
fn stage_dir(spec: &CheckedSpec, stage: &str) -> String {
    let out = spec.out_dir.trim_end_matches('/');
    if out.is_empty() {
        stage.to_string()
    } else {
        format!("{out}/{stage}")
    }
}

/// A name per job-array task for its output directory: the swept value (a string, or a record's `name`),
/// or the task's number when that does not tell the tasks apart.
fn task_labels(specs: &[CheckedSpec]) -> Option<Vec<String>> {
    if specs.len() < 2 {
        return None;
    }
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let labels: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let parts: Vec<String> = spec
                .sweeps
                .iter()
                .map(|sw| match spec.values.get(&sw.decl).map(|v| &v.value) {
                    Some(Value::Str(s) | Value::Path(s)) => clean(s),
                    Some(Value::Record(fields)) => fields
                        .iter()
                        .find(|(k, _)| k == "name")
                        .and_then(|(_, v)| match &v.value {
                            Value::Str(s) => Some(clean(s)),
                            _ => None,
                        })
                        .unwrap_or_else(|| format!("task{i}")),
                    _ => format!("task{i}"),
                })
                .collect();
            parts.join("-")
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let unique = labels
        .iter()
        .all(|l| !l.is_empty() && seen.insert(l.clone()));
    Some(if unique {
        labels
    } else {
        (0..specs.len()).map(|i| format!("task{i}")).collect()
    })
}

/// `resources { cluster = slurm {} }` with every default, for specs without resources or without a cluster.
fn default_resources(db: &dyn SourceDb) -> Option<Rc<ComponentValue>> {
    let _ = db;
    let mem = crate::MemoryDb::default().with("defaults.sam3x", "resources { cluster = slurm {} }");
    crate::check(&mem, Path::new("defaults.sam3x"), &CheckOptions::default())
        .spec
        .and_then(|s| s.resources)
}

struct Builder<'a> {
    spec: &'a CheckedSpec,
    opts: &'a ExportOptions,
    /// This task's sub-directory (with sweeps).
    label: Option<String>,
    diags: Vec<Diagnostic>,
    default_resources: &'a Option<Rc<ComponentValue>>,
}

/// Where a value was written, for diagnostics.
fn at(v: &Val) -> (crate::db::FileId, sam3c_lang::ast::Span) {
    (v.file, v.span)
}

impl Builder<'_> {
    /// Report something Meta's trainer cannot do.
    fn cannot(&mut self, v: &Val, message: String, label: &str, help: String) {
        let (file, span) = at(v);
        let d = Diagnostic::new(Code::E0801, message)
            .primary(file, span, label)
            .help(help);
        // A value shared by several parts of the config (a schedule of every group) is reported once.
        if !self.diags.contains(&d) {
            self.diags.push(d);
        }
    }

    /// The directory of this stage's (and task's) outputs.
    fn run_dir(&self, stage: &str) -> String {
        let dir = stage_dir(self.spec, stage);
        match &self.label {
            Some(l) => format!("{dir}/{l}"),
            None => dir,
        }
    }

    fn document(&mut self, s: &StageInfo) -> Yaml {
        let trainer = match s.kind {
            StageKind::Train => self.train_trainer(s),
            StageKind::Evaluate => self.eval_trainer(s),
        };
        Yaml::map([
            ("trainer", trainer),
            ("launcher", self.launcher(s)),
            ("submitit", self.submitit()),
        ])
    }

    fn train_trainer(&mut self, s: &StageInfo) -> Yaml {
        let c = s.value.clone();
        let epochs = c.number("epochs").unwrap_or(1.0) as i64;
        let eval_every = c
            .get("eval_every")
            .and_then(|v| v.value.as_number())
            .map(|e| e as i64)
            .unwrap_or(epochs);
        if c.bool("eval_first") == Some(true) {
            let v = c.get("eval_first").unwrap().clone();
            self.cannot(
                &v,
                "Meta's trainer cannot evaluate before training".into(),
                "evaluate before the first epoch",
                "its first evaluation comes after the first epoch at the earliest; drop `eval_first`, or run an `evaluation` of the starting weights".into(),
            );
        }
        let accumulate = c.number("accumulate").unwrap_or(1.0) as i64;
        let meters = self.meters(s);
        let mut t = vec![
            ("_target_", Yaml::str(TRAINER)),
            (
                "mode",
                Yaml::str(if meters.is_some() {
                    "train"
                } else {
                    "train_only"
                }),
            ),
            ("max_epochs", Yaml::Int(epochs)),
            ("accelerator", Yaml::str("cuda")),
            ("seed_value", self.int_of(&c, "seed")),
            ("val_epoch_freq", Yaml::Int(eval_every)),
            // Epoch 0 is a multiple of every cadence: without this upstream evaluates after the first epoch.
            ("skip_first_val", Yaml::Bool(true)),
            (
                "skip_saving_ckpts",
                Yaml::Bool(c.bool("save") == Some(false)),
            ),
            ("empty_gpu_mem_cache_after_eval", Yaml::Bool(true)),
            ("gradient_accumulation_steps", Yaml::Int(accumulate)),
        ];
        let model = c.component("model").cloned();
        let segmentation = model
            .as_ref()
            .and_then(|m| m.bool("segmentation"))
            .unwrap_or(false);
        let semantic = c
            .component("loss")
            .and_then(|l| l.get("semantic"))
            .is_some_and(|v| !matches!(v.value, Value::None));
        let mut distributed = distributed();
        if segmentation && !semantic {
            // The semantic-segmentation head gets no gradient without its criterion; DDP then needs a static graph.
            distributed.set("static_graph", Yaml::Bool(true));
        }
        t.push(("distributed", distributed));
        let loss = c.get("loss").map(|l| self.value(l)).unwrap_or(Yaml::Null);
        t.push((
            "loss",
            Yaml::map([
                ("all", loss),
                ("default", Yaml::call(DUMMY_LOSS, no_args())),
            ]),
        ));
        let mut data = vec![("train", self.train_loader(&c))];
        let mut val_key = None;
        if let Some((loader, _key, meters)) = meters {
            data.push(("val", loader));
            val_key = Some(meters);
        }
        t.push(("data", Yaml::map(data)));
        if let Some(m) = &model {
            t.push(("model", self.model(m, false)));
        }
        if let Some(meters) = val_key {
            t.push(("meters", Yaml::map([("val", meters)])));
        }
        t.push(("optim", self.optim(&c)));
        t.push(("checkpoint", self.checkpoint(s)));
        t.push(("logging", self.logging(&s.name)));
        Yaml::map(t)
    }

    fn eval_trainer(&mut self, s: &StageInfo) -> Yaml {
        let c = s.value.clone();
        let mut t = vec![
            ("_target_", Yaml::str(TRAINER)),
            ("mode", Yaml::str("val")),
            ("max_epochs", Yaml::Int(1)),
            ("accelerator", Yaml::str("cuda")),
            ("seed_value", self.int_of(&c, "seed")),
            ("skip_saving_ckpts", Yaml::Bool(true)),
            ("empty_gpu_mem_cache_after_eval", Yaml::Bool(true)),
            ("distributed", distributed()),
            (
                "loss",
                Yaml::map([("default", Yaml::call(DUMMY_LOSS, no_args()))]),
            ),
        ];
        let meters = self.meters(s);
        let mut meters_yaml = None;
        if let Some((loader, _key, m)) = meters {
            t.push(("data", Yaml::map([("val", loader)])));
            meters_yaml = Some(m);
        }
        if let Some(m) = c.component("model").cloned() {
            t.push(("model", self.model(&m, true)));
        }
        if let Some(m) = meters_yaml {
            t.push(("meters", Yaml::map([("val", m)])));
        }
        t.push(("optim", Yaml::map([("amp", self.amp(&c))])));
        t.push(("checkpoint", self.checkpoint(s)));
        t.push(("logging", self.logging(&s.name)));
        Yaml::map(t)
    }

    fn int_of(&self, c: &ComponentValue, name: &str) -> Yaml {
        Yaml::Int(c.number(name).unwrap_or(0.0) as i64)
    }

    // ---- generic mapping through the catalog ------------------------------------------------------------

    /// A value as upstream writes it: numbers with units as plain numbers, components as `_target_` calls.
    fn value(&mut self, v: &Val) -> Yaml {
        match &v.value {
            Value::Error | Value::None => Yaml::Null,
            Value::Bool(b) => Yaml::Bool(*b),
            Value::Int(i) => Yaml::Int(*i),
            Value::Float(f) => Yaml::Float(*f),
            Value::Str(s) | Value::Path(s) | Value::Word(s) => Yaml::str(s.clone()),
            Value::Quantity(q, u) => quantity(*q, *u),
            Value::List(items) => Yaml::List(items.iter().map(|i| self.value(i)).collect()),
            Value::Record(fields) => Yaml::Map(
                fields
                    .iter()
                    .map(|(k, f)| (k.clone(), self.value(f)))
                    .collect(),
            ),
            Value::Component(c) => self.component(c, v),
            Value::Stage(d) => Yaml::str(self.spec.program.decl(*d).name()),
        }
    }

    /// A component: per-component code where upstream's shape differs from the catalog, else `_target_` plus
    /// every parameter under its upstream name (`weight_dict.loss_bbox` nests).
    fn component(&mut self, c: &Rc<ComponentValue>, v: &Val) -> Yaml {
        match c.name() {
            "random_resize" | "resize" => return self.resize(c),
            "filter_crowds" | "filter_empty" | "max_objects" => {
                let filter = self.generic(c, v);
                return Yaml::call(FLEXIBLE_FILTER, [("query_filter", filter)]);
            }
            "inverse_sqrt" | "cosine" | "constant" => {
                // Schedules need their base learning rate: written by `options`.
                return Yaml::Null;
            }
            _ => {}
        }
        self.generic(c, v)
    }

    fn generic(&mut self, c: &Rc<ComponentValue>, v: &Val) -> Yaml {
        let Some(target) = c.sig.upstream else {
            self.cannot(
                v,
                format!("Meta's trainer has no counterpart of `{}`", c.name()),
                "not available upstream",
                "the upstream backend exports what Meta's trainer can run; use sam3c's native runtime for this".into(),
            );
            return Yaml::Null;
        };
        let mut out = Yaml::call(target, no_args());
        for (p, a) in c.sig.params.iter().zip(&c.args) {
            let value = self.value(&a.val);
            let name = p.upstream.unwrap_or(p.name);
            let mut node = &mut out;
            let mut parts = name.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    node.set(part, value);
                    break;
                }
                if node.get(part).is_none() {
                    node.set(part, Yaml::Map(Vec::new()));
                }
                node = node.get_mut(part).unwrap();
            }
        }
        out
    }

    /// `random_resize` / `resize`: `sizes` as upstream's helper call, `max_size` defaulting to upstream's 5/3 of
    /// the largest size.
    fn resize(&mut self, c: &Rc<ComponentValue>) -> Yaml {
        let sizes = c.get("sizes").or(c.get("size")).cloned();
        let (sizes_yaml, largest) = match sizes.as_ref().map(|s| &s.value) {
            Some(Value::Quantity(q, _)) => (Yaml::Int(*q as i64), *q as i64),
            Some(Value::List(items)) => {
                let px: Vec<i64> = items
                    .iter()
                    .filter_map(|i| i.value.as_number())
                    .map(|x| x as i64)
                    .collect();
                let largest = px.iter().copied().max().unwrap_or(0);
                (Yaml::List(px.into_iter().map(Yaml::Int).collect()), largest)
            }
            Some(Value::Component(sc)) => {
                let size = sc.number("size").unwrap_or(0.0) as i64;
                (
                    Yaml::call(
                        RESIZE_SCALES,
                        [
                            ("size", Yaml::Int(size)),
                            (
                                "min_size",
                                Yaml::Int(sc.number("min").unwrap_or(0.0) as i64),
                            ),
                            ("rounded", Yaml::Bool(sc.bool("rounded") == Some(true))),
                        ],
                    ),
                    size,
                )
            }
            _ => (Yaml::Null, 0),
        };
        let max_size = match c.get("max_size").and_then(|v| v.value.as_number()) {
            Some(m) => Yaml::Int(m as i64),
            None => Yaml::call(RESIZE_MAX_SIZE, [("size", Yaml::Int(largest))]),
        };
        Yaml::call(
            RESIZE,
            [
                ("sizes", sizes_yaml),
                ("max_size", max_size),
                ("square", Yaml::Bool(c.bool("square") == Some(true))),
                (
                    "consistent_transform",
                    Yaml::Bool(c.bool("consistent") == Some(true)),
                ),
            ],
        )
    }

    /// A pipeline: one `ComposeAPI`, with `ToTensorAPI` after the last geometric transform before `normalize`
    /// (upstream's geometric transforms work on PIL images).
    fn transforms(&mut self, pipeline: &Val) -> Yaml {
        let items: Vec<Val> = match &pipeline.value {
            Value::List(items) => items.clone(),
            _ => Vec::new(),
        };
        let normalize_at = items
            .iter()
            .position(|i| i.component().is_some_and(|c| c.name() == "normalize"));
        let to_tensor_at = normalize_at.map(|n| {
            items[..n]
                .iter()
                .rposition(|i| {
                    i.component().is_some_and(|c| {
                        matches!(
                            c.name(),
                            "random_resize" | "resize" | "pad" | "hflip" | "color_jitter"
                        )
                    })
                })
                .map(|g| g + 1)
                .unwrap_or(n)
        });
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if Some(i) == to_tensor_at {
                out.push(Yaml::call(TO_TENSOR, no_args()));
            }
            out.push(self.value(item));
        }
        Yaml::List(vec![Yaml::call(COMPOSE, [("transforms", Yaml::List(out))])])
    }

    // ---- data -------------------------------------------------------------------------------------------------

    /// `Sam3ImageDataset` for a `coco_images` dataset.
    fn dataset(&mut self, data: &Val, pipeline: &Val, training: bool) -> Yaml {
        let Some(d) = data.component().cloned() else {
            return Yaml::Null;
        };
        let mut out = vec![
            ("_target_", Yaml::str(IMAGE_DATASET)),
            ("img_folder", self.value(d.get("images").unwrap())),
            ("ann_file", self.annotations(&d)),
            ("transforms", self.transforms(pipeline)),
            (
                "load_segmentation",
                Yaml::Bool(d.bool("masks") == Some(true)),
            ),
            (
                "max_ann_per_img",
                Yaml::Int(if training {
                    TRAIN_MAX_ANN_PER_IMG
                } else {
                    VAL_MAX_ANN_PER_IMG
                }),
            ),
            ("multiplier", self.int_of(&d, "repeat")),
            ("training", Yaml::Bool(training)),
            (
                "limit_ids",
                d.get("limit").map(|v| self.value(v)).unwrap_or(Yaml::Null),
            ),
        ];
        if training {
            out.push(("max_train_queries", Yaml::Int(TRAIN_MAX_QUERIES)));
            out.push(("max_val_queries", Yaml::Int(TRAIN_MAX_QUERIES)));
        }
        // The COCO loader's settings, written when the spec sets any of them (`prompts` also when it is set to
        // none, so that every task of a sweep has the same keys).
        let given = |name: &str| d.arg(name).is_some_and(|a| a.explicit);
        if given("prompts") || given("negatives") || given("queries_per_image") {
            let mut loader = Vec::new();
            if given("prompts") {
                let p = d.get("prompts").unwrap().clone();
                let prompts = match p.value {
                    Value::None => Yaml::Null,
                    _ => self.prompts(&p),
                };
                loader.push(("prompts", prompts));
            }
            loader.push((
                "include_negatives",
                Yaml::Bool(d.bool("negatives") != Some(false)),
            ));
            if let Some(n) = d.number("queries_per_image") {
                loader.push(("category_chunk_size", Yaml::Int(n as i64)));
            }
            let mut l = vec![("_target_", Yaml::str(COCO_LOADER))];
            l.extend(loader);
            l.push(("_partial_", Yaml::Bool(true)));
            out.push(("coco_json_loader", Yaml::map(l)));
        }
        Yaml::map(out)
    }

    /// The annotation file, copied with ids shifted to 1 when the dataset says `reindex`.
    fn annotations(&mut self, d: &ComponentValue) -> Yaml {
        let file = self.value(d.get("annotations").unwrap());
        if d.bool("reindex") == Some(true) {
            Yaml::call(REINDEX, [("input_json_path", file)])
        } else {
            file
        }
    }

    /// `prompts`: COCO_FROM_JSON evaluates a Python list of `{id, name}` records, keyed by category id.
    fn prompts(&mut self, p: &Val) -> Yaml {
        let Value::Record(fields) = &p.value else {
            return Yaml::Null;
        };
        let mut by_id = Vec::new();
        for (k, v) in fields {
            let Ok(id) = k.trim().parse::<i64>() else {
                self.cannot(
                    p,
                    format!("upstream's COCO loader keys prompts by category id, and `{k}` is not one"),
                    "keyed by name",
                    "key the prompts by category id (`{ \"1\" = \"boat\", ... }`) for the upstream backend".into(),
                );
                return Yaml::Null;
            };
            let text = match &v.value {
                Value::Str(s) => s.clone(),
                _ => String::new(),
            };
            by_id.push((id, text));
        }
        by_id.sort();
        let list: Vec<serde_json::Value> = by_id
            .into_iter()
            .map(|(id, name)| serde_json::json!({"id": id, "name": name}))
            .collect();
        Yaml::Str(serde_json::Value::Array(list).to_string())
    }

    fn collate(&self, dict_key: &str, masks: bool, chunks: i64) -> Yaml {
        let mut c = vec![
            (
                "_target_",
                Yaml::str(if chunks > 1 { COLLATE_CHUNKED } else { COLLATE }),
            ),
            ("_partial_", Yaml::Bool(true)),
        ];
        if chunks > 1 {
            c.push(("num_chunks", Yaml::Int(chunks)));
        }
        c.push(("repeats", Yaml::Int(1)));
        c.push(("dict_key", Yaml::str(dict_key)));
        c.push(("with_seg_masks", Yaml::Bool(masks)));
        Yaml::map(c)
    }

    fn train_loader(&mut self, c: &ComponentValue) -> Yaml {
        let data = c.get("data").unwrap().clone();
        let pipeline = c.get("pipeline").unwrap().clone();
        let masks = data.component().and_then(|d| d.bool("masks")) == Some(true);
        let accumulate = c.number("accumulate").unwrap_or(1.0) as i64;
        Yaml::map([
            ("_target_", Yaml::str(TORCH_DATASET)),
            ("dataset", self.dataset(&data, &pipeline, true)),
            ("shuffle", Yaml::Bool(true)),
            ("batch_size", self.int_of(c, "batch")),
            ("num_workers", self.int_of(c, "workers")),
            (
                "pin_memory",
                Yaml::Bool(c.bool("pin_memory") != Some(false)),
            ),
            ("drop_last", Yaml::Bool(true)),
            ("collate_fn", self.collate("all", masks, accumulate)),
        ])
    }

    /// The validation loader and the meters, keyed by the dataset's name. Meta's trainer has one validation
    /// loader, so every meter of a stage must read the same dataset through the same pipeline.
    fn meters(&mut self, s: &StageInfo) -> Option<(Yaml, String, Yaml)> {
        let c = s.value.clone();
        let meters: Vec<Val> = c.list("eval").to_vec();
        if meters.is_empty() {
            return None;
        }
        let evaluation = s.kind == StageKind::Evaluate;
        let mut loader: Option<(Yaml, String, Val)> = None;
        let mut by_name: Vec<(String, Yaml)> = Vec::new();
        for (i, m) in meters.iter().enumerate() {
            let Some(mc) = m.component().cloned() else {
                continue;
            };
            let data = mc.get("data").unwrap().clone();
            let pipeline = mc.get("pipeline").unwrap().clone();
            let dict_key = match data.origin {
                Some(o) if self.spec.program.decl(o).kind == DeclKind::Dataset => {
                    let name = self.spec.program.decl(o).name();
                    // `all` and `default` are the keys of the training loss and of the fallback loss.
                    if name == "all" || name == "default" {
                        format!("{name}_val")
                    } else {
                        name.to_string()
                    }
                }
                _ => "val".to_string(),
            };
            let masks = data.component().and_then(|d| d.bool("masks")) == Some(true);
            let dataset = self.dataset(&data, &pipeline, false);
            let this = Yaml::map([
                ("_target_", Yaml::str(TORCH_DATASET)),
                ("dataset", dataset),
                ("shuffle", Yaml::Bool(false)),
                (
                    "batch_size",
                    if evaluation {
                        self.int_of(&c, "batch")
                    } else {
                        Yaml::Int(1)
                    },
                ),
                (
                    "num_workers",
                    if evaluation {
                        self.int_of(&c, "workers")
                    } else {
                        Yaml::Int(0)
                    },
                ),
                (
                    "pin_memory",
                    Yaml::Bool(c.bool("pin_memory") != Some(false)),
                ),
                ("drop_last", Yaml::Bool(false)),
                ("collate_fn", self.collate(&dict_key, masks, 1)),
            ]);
            match &loader {
                None => loader = Some((this, dict_key.clone(), m.clone())),
                Some((first, _, first_meter)) if *first != this => {
                    let (file, span) = at(m);
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0801,
                            "Meta's trainer has one validation loader, and these meters read different data",
                        )
                        .primary(file, span, "another dataset or pipeline")
                        .secondary(first_meter.file, first_meter.span, "the first meter's data")
                        .help("evaluate the other dataset in its own `evaluation`, or give every meter of the stage the same `data` and `pipeline`"),
                    );
                    continue;
                }
                _ => {}
            }
            let base = match m.origin {
                Some(o) => self.spec.program.decl(o).name().to_string(),
                None => mc.name().to_string(),
            };
            let mut name = base.clone();
            let mut n = 2;
            while by_name.iter().any(|(k, _)| *k == name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            let _ = i;
            let dump_dir = format!("{}/dumps/{dict_key}/{name}", self.run_dir(&s.name));
            let meter = self.meter(&mc, m, &data, dump_dir);
            by_name.push((name, meter));
        }
        let (loader, key, _) = loader?;
        Some((loader, key.clone(), Yaml::map([(key, Yaml::Map(by_name))])))
    }

    /// A meter: predictions dumped by `PredictionDumper`, then scored by the meter's evaluator.
    fn meter(&mut self, mc: &Rc<ComponentValue>, m: &Val, data: &Val, dump_dir: String) -> Yaml {
        let iou = mc.word("iou").unwrap_or("bbox").to_string();
        let segm = iou == "segm";
        let d = data.component().cloned();
        let gt = d
            .as_ref()
            .map(|d| self.annotations(d))
            .unwrap_or(Yaml::Null);
        let evaluator = match mc.name() {
            "coco_ap" => Yaml::call(
                mc.sig.upstream.unwrap_or_default(),
                [
                    ("gt_path", gt),
                    ("tide", Yaml::Bool(false)),
                    ("iou_type", Yaml::str(iou.clone())),
                    (
                        "positive_split",
                        Yaml::Bool(mc.bool("positive_split") == Some(true)),
                    ),
                ],
            ),
            "cgf1" => {
                if let Some(t) = mc
                    .get("threshold")
                    .filter(|t| t.value.as_number() != Some(0.5))
                {
                    let t = t.clone();
                    self.cannot(
                        &t,
                        "upstream's cgF1 keeps predictions scoring at least 0.5; the threshold is fixed".into(),
                        "not 50%",
                        "use `threshold = 50%` for the upstream backend".into(),
                    );
                }
                Yaml::call(
                    mc.sig.upstream.unwrap_or_default(),
                    [("gt_path", gt), ("iou_type", Yaml::str(iou.clone()))],
                )
            }
            _ => {
                self.cannot(
                    m,
                    format!("Meta's trainer has no `{}` meter", mc.name()),
                    "not available upstream",
                    "use `coco_ap` or `cgf1`, or sam3c's native runtime".into(),
                );
                Yaml::Null
            }
        };
        // Explicit postprocessing decides whether masks are kept; by default a segm meter keeps them.
        let pp = mc.component("postprocess").cloned();
        let masks = pp.as_ref().and_then(|p| p.bool("masks")).unwrap_or(segm);
        let mut post = vec![
            ("_target_", Yaml::str(POSTPROCESS)),
            (
                "max_dets_per_img",
                Yaml::Int(
                    pp.as_ref()
                        .and_then(|p| p.number("max_dets"))
                        .map(|x| x as i64)
                        .unwrap_or(-1),
                ),
            ),
            ("iou_type", Yaml::str(if masks { "segm" } else { "bbox" })),
            ("use_original_ids", Yaml::Bool(true)),
            ("use_original_sizes_box", Yaml::Bool(true)),
        ];
        if masks {
            post.push(("use_original_sizes_mask", Yaml::Bool(true)));
            post.push(("convert_mask_to_rle", Yaml::Bool(true)));
        }
        post.push((
            "use_presence",
            Yaml::Bool(pp.as_ref().and_then(|p| p.bool("presence")) != Some(false)),
        ));
        if let Some(t) = pp.as_ref().and_then(|p| p.number("threshold")) {
            post.push(("detection_threshold", Yaml::Float(t)));
        }
        let maxdets = match mc.name() {
            "coco_ap" => mc.number("max_dets").unwrap_or(100.0) as i64,
            // cgF1 scores every prediction above its threshold (SA-Co's configs keep 1e6 per image).
            _ => 1_000_000,
        };
        Yaml::map([
            ("_target_", Yaml::str(PREDICTION_DUMPER)),
            ("iou_type", Yaml::str(iou)),
            ("dump_dir", Yaml::str(dump_dir)),
            ("merge_predictions", Yaml::Bool(true)),
            ("postprocessor", Yaml::map(post)),
            ("gather_pred_via_filesys", Yaml::Bool(false)),
            ("maxdets", Yaml::Int(maxdets)),
            ("pred_file_evaluators", Yaml::List(vec![evaluator])),
        ])
    }

    // ---- model, optimizer, checkpoints, logging --------------------------------------------------------------

    fn model(&mut self, m: &Rc<ComponentValue>, eval_mode: bool) -> Yaml {
        if m.word("size") == Some("tiny") {
            let v = m.get("size").unwrap().clone();
            self.cannot(
                &v,
                "Meta's model builder has no size presets".into(),
                "`tiny` exists only in sam3c's native runtime",
                "the upstream backend builds the released architecture: drop `size = tiny`".into(),
            );
        }
        let weights = m
            .get("weights")
            .map(|w| self.value(w))
            .unwrap_or(Yaml::Null);
        let hub = weights == Yaml::Null && m.bool("from_hub") == Some(true);
        Yaml::map([
            ("_target_", Yaml::str(m.sig.upstream.unwrap_or(IMAGE_MODEL))),
            (
                "bpe_path",
                self.opts
                    .bpe_path
                    .clone()
                    .map(Yaml::Str)
                    .unwrap_or(Yaml::Null),
            ),
            // Anything but "cuda" leaves the model where it is built; the trainer moves it to its device.
            ("device", Yaml::str("cpu")),
            ("eval_mode", Yaml::Bool(eval_mode)),
            (
                "enable_segmentation",
                Yaml::Bool(m.bool("segmentation") != Some(false)),
            ),
            ("checkpoint_path", weights),
            ("load_from_HF", Yaml::Bool(hub)),
        ])
    }

    fn amp(&self, c: &ComponentValue) -> Yaml {
        match c.word("precision") {
            Some("fp32") => Yaml::map([("enabled", Yaml::Bool(false))]),
            Some("fp16") => Yaml::map([
                ("enabled", Yaml::Bool(true)),
                ("amp_dtype", Yaml::str("float16")),
            ]),
            _ => Yaml::map([
                ("enabled", Yaml::Bool(true)),
                ("amp_dtype", Yaml::str("bfloat16")),
            ]),
        }
    }

    fn optim(&mut self, c: &ComponentValue) -> Yaml {
        let mut out = vec![("amp", self.amp(c))];
        let Some(opt) = c.component("optimizer").cloned() else {
            return Yaml::map(out);
        };
        let opt_val = c.get("optimizer").unwrap().clone();
        // AdamW with torch's defaults; the schedulers set lr and weight decay at every step.
        let mut adamw = vec![("_target_", Yaml::str(ADAMW))];
        if let Some(Value::List(b)) = opt.get("betas").map(|v| &v.value) {
            let betas: Vec<f64> = b.iter().filter_map(|x| x.value.as_number()).collect();
            if betas != [0.9, 0.999] {
                adamw.push((
                    "betas",
                    Yaml::List(betas.into_iter().map(Yaml::Float).collect()),
                ));
            }
        }
        if let Some(eps) = opt.number("eps").filter(|e| *e != 1e-8) {
            adamw.push(("eps", Yaml::Float(eps)));
        }
        out.push(("optimizer", Yaml::map(adamw)));
        if let Some(norm) = opt.number("clip_norm") {
            out.push((
                "gradient_clip",
                Yaml::call(
                    GRADIENT_CLIPPER,
                    [
                        ("max_norm", Yaml::Float(norm)),
                        ("norm_type", Yaml::Int(GRADIENT_CLIP_NORM_TYPE)),
                    ],
                ),
            ));
        }
        if let Some(freeze) = opt
            .get("freeze")
            .filter(|f| matches!(&f.value, Value::List(l) if !l.is_empty()))
        {
            let freeze = freeze.clone();
            self.cannot(
                &freeze,
                "Meta's trainer cannot freeze parameters from its config".into(),
                "frozen parameters",
                "its optimizer trains every parameter; drop `freeze` for the upstream backend"
                    .into(),
            );
        }
        if let Some(ld) = opt.component("layer_decay").cloned() {
            let ld_val = opt.get("layer_decay").unwrap().clone();
            let mut modifier = vec![
                ("_target_", Yaml::str(ld.sig.upstream.unwrap_or_default())),
                ("_partial_", Yaml::Bool(true)),
                (
                    "layer_decay_value",
                    Yaml::Float(ld.number("decay").unwrap_or(1.0)),
                ),
                ("apply_to", self.value(ld.get("over").unwrap())),
                (
                    "overrides",
                    Yaml::List(
                        ld.list("overrides")
                            .iter()
                            .filter_map(|o| o.component())
                            .map(|o| {
                                Yaml::map([
                                    ("pattern", Yaml::str(o_str(o, "pattern"))),
                                    ("value", Yaml::Float(o.number("scale").unwrap_or(1.0))),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ];
            if let Some(min) = ld.number("min") {
                modifier.push(("layer_decay_min", Yaml::Float(min)));
            }
            let _ = ld_val;
            out.push((
                "param_group_modifiers",
                Yaml::List(vec![Yaml::map(modifier)]),
            ));
        }
        let lr_scale = c.number("lr_scale").unwrap_or(1.0);
        let schedule = c.get("schedule").cloned();
        let mut lr = Vec::new();
        if let Some(base) = opt.number("lr") {
            lr.push(Yaml::map([(
                "scheduler",
                self.scheduler(schedule.as_ref(), base * lr_scale, &opt_val),
            )]));
        }
        for g in opt.list("groups") {
            let Some(gc) = g.component() else { continue };
            let patterns: Vec<Yaml> = gc.list("patterns").iter().map(|p| self.value(p)).collect();
            let base = gc.number("lr").unwrap_or(0.0) * lr_scale;
            lr.push(Yaml::map([
                ("scheduler", self.scheduler(schedule.as_ref(), base, g)),
                ("param_names", Yaml::List(patterns)),
            ]));
        }
        let mut wd = vec![Yaml::map([(
            "scheduler",
            Yaml::call(
                CONSTANT_SCHEDULER,
                [(
                    "value",
                    Yaml::Float(opt.number("weight_decay").unwrap_or(0.0)),
                )],
            ),
        )])];
        let mut names = Vec::new();
        let mut classes = Vec::new();
        for sel in opt.list("no_decay") {
            match &sel.value {
                Value::Str(p) => names.push(Yaml::str(p.clone())),
                Value::Word(w) => {
                    let class = MODULE_CLASSES
                        .iter()
                        .find(|(k, _)| k == w)
                        .map(|(_, c)| *c)
                        .unwrap_or("torch.nn.Module");
                    classes.push(Yaml::str(class));
                }
                _ => {}
            }
        }
        if !names.is_empty() || !classes.is_empty() {
            let mut entry = vec![(
                "scheduler",
                Yaml::call(CONSTANT_SCHEDULER, [("value", Yaml::Float(0.0))]),
            )];
            if !names.is_empty() {
                entry.push(("param_names", Yaml::List(names)));
            }
            if !classes.is_empty() {
                entry.push(("module_cls_names", Yaml::List(classes)));
            }
            wd.push(Yaml::map(entry));
        }
        out.push((
            "options",
            Yaml::map([("lr", Yaml::List(lr)), ("weight_decay", Yaml::List(wd))]),
        ));
        Yaml::map(out)
    }

    /// The scheduler of one learning-rate group. Upstream schedulers count optimizer steps (or the fraction of
    /// training done), so spans in epochs cannot be written.
    fn scheduler(&mut self, schedule: Option<&Val>, base_lr: f64, site: &Val) -> Yaml {
        let _ = site;
        let Some(sched_val) = schedule else {
            return Yaml::call(CONSTANT_SCHEDULER, [("value", Yaml::Float(base_lr))]);
        };
        let Some(s) = sched_val.component().cloned() else {
            return Yaml::Null;
        };
        let steps = |this: &mut Self, name: &str| -> i64 {
            match s.get(name).map(|v| (&v.value, v)) {
                Some((Value::Quantity(q, UnitKind::Steps), _)) => *q as i64,
                Some((Value::Quantity(q, UnitKind::Epochs), v)) if *q != 0.0 => {
                    let v = v.clone();
                    this.cannot(
                        &v,
                        "Meta's schedulers count optimizer steps, not epochs".into(),
                        "in epochs",
                        "write the span in steps (`20 steps`) for the upstream backend".into(),
                    );
                    0
                }
                _ => 0,
            }
        };
        match s.name() {
            "inverse_sqrt" => {
                let timescale = steps(self, "timescale");
                let warmup = steps(self, "warmup");
                let cooldown = steps(self, "cooldown");
                Yaml::call(
                    s.sig.upstream.unwrap_or_default(),
                    [
                        ("base_lr", Yaml::Float(base_lr)),
                        ("timescale", Yaml::Int(timescale)),
                        ("warmup_steps", Yaml::Int(warmup)),
                        ("cooldown_steps", Yaml::Int(cooldown)),
                    ],
                )
            }
            "constant" | "cosine" => {
                let warmup = steps(self, "warmup");
                let cooldown = if s.name() == "constant" {
                    steps(self, "cooldown")
                } else {
                    0
                };
                if warmup != 0 || cooldown != 0 {
                    self.cannot(
                        sched_val,
                        format!("Meta's trainer has no `{}` schedule with a warmup or cooldown in steps", s.name()),
                        "warmup or cooldown",
                        "use `inverse_sqrt(...)`, or drop the warmup and cooldown, for the upstream backend".into(),
                    );
                }
                if s.name() == "constant" {
                    Yaml::call(CONSTANT_SCHEDULER, [("value", Yaml::Float(base_lr))])
                } else {
                    Yaml::call(
                        COSINE_SCHEDULER,
                        [
                            ("start_value", Yaml::Float(base_lr)),
                            (
                                "end_value",
                                Yaml::Float(base_lr * s.number("final_scale").unwrap_or(0.0)),
                            ),
                        ],
                    )
                }
            }
            _ => Yaml::Null,
        }
    }

    fn checkpoint(&mut self, s: &StageInfo) -> Yaml {
        let c = s.value.clone();
        let mut out = vec![
            (
                "save_dir",
                Yaml::str(format!("{}/checkpoints", self.run_dir(&s.name))),
            ),
            (
                "save_freq",
                Yaml::Int(
                    c.get("save_every")
                        .and_then(|v| v.value.as_number())
                        .unwrap_or(0.0) as i64,
                ),
            ),
        ];
        if let Some(init) = c.get("init").filter(|v| !matches!(v.value, Value::None)) {
            let init = init.clone();
            let path = match (&init.value, s.init_from) {
                (_, Some(from)) => Some(format!(
                    "{}/checkpoints/checkpoint.pt",
                    self.run_dir(self.spec.program.decl(from).name())
                )),
                (Value::Path(p), None) if p.ends_with(".safetensors") => {
                    self.cannot(
                        &init,
                        "Meta's trainer reads torch checkpoints, not sam3c's safetensors".into(),
                        "a sam3c checkpoint",
                        "initialize from a checkpoint of Meta's trainer (`checkpoint.pt`), or from a stage exported to it".into(),
                    );
                    None
                }
                (Value::Path(p), None) => Some(p.clone()),
                _ => None,
            };
            if let Some(path) = path {
                out.push(("model_weight_initializer", weight_initializer(&path)));
            }
        }
        if let Some(resume) = c.get("resume").filter(|v| !matches!(v.value, Value::None)) {
            out.push(("resume_from", self.value(&resume.clone())));
        }
        Yaml::map(out)
    }

    fn logging(&self, stage: &str) -> Yaml {
        let dir = self.run_dir(stage);
        Yaml::map([
            (
                "tensorboard_writer",
                Yaml::call(
                    TENSORBOARD,
                    [
                        ("log_dir", Yaml::str(format!("{dir}/tensorboard"))),
                        ("flush_secs", Yaml::Int(TENSORBOARD_FLUSH_SECS)),
                        ("should_log", Yaml::Bool(true)),
                    ],
                ),
            ),
            ("log_dir", Yaml::str(format!("{dir}/logs"))),
            ("log_freq", Yaml::Int(LOG_FREQ)),
        ])
    }

    fn launcher(&self, s: &StageInfo) -> Yaml {
        let r = self
            .spec
            .resources
            .clone()
            .or(self.default_resources.clone());
        let n = |name: &str| {
            r.as_ref()
                .and_then(|r| r.number(name))
                .map(|x| x as i64)
                .unwrap_or(1)
        };
        Yaml::map([
            ("num_nodes", Yaml::Int(n("nodes"))),
            ("gpus_per_node", Yaml::Int(n("gpus"))),
            (
                "experiment_log_dir",
                Yaml::str(stage_dir(self.spec, &s.name)),
            ),
        ])
    }

    /// submitit: the spec's cluster, or the catalog's cluster defaults with `use_cluster: false` (train.py's
    /// `--use-cluster 1` then submits with them).
    fn submitit(&mut self) -> Yaml {
        let declared = self
            .spec
            .resources
            .as_ref()
            .and_then(|r| r.component("cluster").cloned());
        let cluster = declared.clone().or_else(|| {
            self.default_resources
                .as_ref()
                .and_then(|r| r.component("cluster").cloned())
        });
        let mut out = vec![("use_cluster", Yaml::Bool(declared.is_some()))];
        if let Some(c) = cluster {
            for (p, a) in c.sig.params.iter().zip(&c.args) {
                let name = p.upstream.unwrap_or(p.name);
                let value = match (&a.val.value, p.name) {
                    (Value::Quantity(secs, UnitKind::Duration), _) => {
                        let hours = secs / 3600.0;
                        if hours.fract() == 0.0 {
                            Yaml::Int(hours as i64)
                        } else {
                            Yaml::Float(hours)
                        }
                    }
                    // Unset optional settings are left out (train.py reads them with `.get`).
                    (Value::None, _) if !matches!(p.name, "partition" | "account" | "qos") => {
                        continue
                    }
                    (Value::List(l), _) if l.is_empty() => continue,
                    _ => self.value(&a.val),
                };
                out.push((name, value));
            }
        }
        out.push((
            "port_range",
            Yaml::List(PORT_RANGE.iter().map(|p| Yaml::Int(*p)).collect()),
        ));
        Yaml::Map(out.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

fn o_str(c: &ComponentValue, name: &str) -> String {
    match c.get(name).map(|v| &v.value) {
        Some(Value::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

fn no_args() -> Vec<(String, Yaml)> {
    Vec::new()
}

fn distributed() -> Yaml {
    Yaml::map([
        ("backend", Yaml::str("nccl")),
        ("find_unused_parameters", Yaml::Bool(true)),
        ("gradient_as_bucket_view", Yaml::Bool(true)),
    ])
}

/// `checkpoint.model_weight_initializer`: load the `model` entry of a trainer checkpoint, strictly.
fn weight_initializer(path: &str) -> Yaml {
    Yaml::map([
        ("_target_", Yaml::str(LOAD_INTO_MODEL)),
        ("_partial_", Yaml::Bool(true)),
        ("strict", Yaml::Bool(true)),
        (
            "state_dict",
            Yaml::call(
                LOAD_CHECKPOINT,
                [
                    ("checkpoint_path", Yaml::str(path)),
                    ("ckpt_state_dict_keys", Yaml::List(vec![Yaml::str("model")])),
                ],
            ),
        ),
    ])
}

fn quantity(q: f64, u: UnitKind) -> Yaml {
    if u.integral() {
        Yaml::Int(q as i64)
    } else {
        Yaml::Float(q)
    }
}

// ---- sweeps as a job array -----------------------------------------------------------------------------

/// Merges the documents of all job-array tasks into one: values that differ between tasks become
/// interpolations into `sweep.values[task_index]`. A differing string that is the swept values put into a
/// template (`<root>/${sweep.current.supercategory}/train`) keeps that template; anything else is stored per task.
struct SweepMerge {
    /// Swept strings: their path in the task record (`supercategory`, `task.images`) and their value per task.
    atoms: Vec<(Vec<String>, Vec<String>)>,
    /// Per-task values stored in the table, by field name.
    fields: Vec<(String, Vec<Yaml>)>,
    used_atoms: std::collections::BTreeSet<usize>,
}

impl SweepMerge {
    fn new(specs: &[CheckedSpec]) -> SweepMerge {
        let mut atoms: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for sw in &specs[0].sweeps {
            let name = specs[0].program.decl(sw.decl).name().to_string();
            let per_task: Vec<&Val> = specs
                .iter()
                .filter_map(|s| s.values.get(&sw.decl))
                .collect();
            if per_task.len() != specs.len() {
                continue;
            }
            collect_atoms(&mut atoms, vec![name], &per_task);
        }
        // Longer strings first: a dataset path is matched before a name it contains.
        atoms.sort_by_key(|(_, v)| std::cmp::Reverse(v[0].len()));
        SweepMerge {
            atoms,
            fields: Vec::new(),
            used_atoms: Default::default(),
        }
    }

    fn merge_documents(mut self, docs: &[Yaml]) -> Yaml {
        let mut path = Vec::new();
        let mut doc = self.merge(docs, &mut path);
        // The table: one record per task, with the swept strings used by templates and the stored values.
        let tasks = docs.len();
        let mut values = Vec::new();
        for t in 0..tasks {
            let mut record = Yaml::Map(Vec::new());
            for &a in &self.used_atoms {
                let (apath, vals) = &self.atoms[a];
                let mut node = &mut record;
                for (i, part) in apath.iter().enumerate() {
                    if i + 1 == apath.len() {
                        node.set(part, Yaml::str(vals[t].clone()));
                    } else {
                        if node.get(part).is_none() {
                            node.set(part, Yaml::Map(Vec::new()));
                        }
                        node = node.get_mut(part).unwrap();
                    }
                }
            }
            for (name, vals) in &self.fields {
                record.set(name, vals[t].clone());
            }
            values.push(record);
        }
        let sweep = Yaml::map([
            ("values", Yaml::List(values)),
            (
                "current",
                Yaml::Interp("${sweep.values.${string:${submitit.job_array.task_index}}}".into()),
            ),
        ]);
        if let Yaml::Map(entries) = &mut doc {
            entries.insert(0, ("sweep".to_string(), sweep));
        }
        doc
    }

    fn merge(&mut self, docs: &[Yaml], path: &mut Vec<String>) -> Yaml {
        if docs.iter().all(|d| *d == docs[0]) {
            return docs[0].clone();
        }
        match &docs[0] {
            Yaml::Map(first) => {
                let keys: Vec<&String> = first.iter().map(|(k, _)| k).collect();
                let same_keys = docs.iter().all(|d| match d {
                    Yaml::Map(e) => e.iter().map(|(k, _)| k).eq(keys.iter().copied()),
                    _ => false,
                });
                if same_keys {
                    let mut out = Vec::new();
                    for (i, k) in keys.iter().enumerate() {
                        let children: Vec<Yaml> = docs
                            .iter()
                            .map(|d| match d {
                                Yaml::Map(e) => e[i].1.clone(),
                                _ => unreachable!(),
                            })
                            .collect();
                        path.push((*k).clone());
                        out.push(((*k).clone(), self.merge(&children, path)));
                        path.pop();
                    }
                    return Yaml::Map(out);
                }
            }
            Yaml::List(first) => {
                let same_len = docs
                    .iter()
                    .all(|d| matches!(d, Yaml::List(l) if l.len() == first.len()));
                if same_len {
                    let mut out = Vec::new();
                    for i in 0..first.len() {
                        let children: Vec<Yaml> = docs
                            .iter()
                            .map(|d| match d {
                                Yaml::List(l) => l[i].clone(),
                                _ => unreachable!(),
                            })
                            .collect();
                        path.push(i.to_string());
                        out.push(self.merge(&children, path));
                        path.pop();
                    }
                    return Yaml::List(out);
                }
            }
            _ => {}
        }
        let strings: Option<Vec<&str>> = docs
            .iter()
            .map(|d| match d {
                Yaml::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        if let Some(strings) = strings {
            if let Some(t) = self.template(&strings) {
                return Yaml::Interp(t);
            }
        }
        let name = self.store(path, docs);
        Yaml::Interp(format!("${{sweep.current.{name}}}"))
    }

    /// A template of swept strings that gives every task's string, or none. Tries the fewest atoms first: the
    /// swept values that occur in the first task's string, each replacing all its occurrences.
    fn template(&mut self, strings: &[&str]) -> Option<String> {
        let occurring: Vec<usize> = (0..self.atoms.len())
            .filter(|&a| {
                let v = &self.atoms[a].1[0];
                !v.is_empty() && strings[0].contains(v.as_str())
            })
            .take(6)
            .collect();
        let mut masks: Vec<u32> = (1..(1u32 << occurring.len())).collect();
        masks.sort_by_key(|m| m.count_ones());
        for mask in masks {
            let chosen: Vec<usize> = occurring
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, a)| *a)
                .collect();
            let mut parts: Vec<Result<String, usize>> = vec![Ok(strings[0].to_string())];
            for &a in &chosen {
                let needle = self.atoms[a].1[0].clone();
                parts = parts
                    .into_iter()
                    .flat_map(|p| match p {
                        Ok(text) => {
                            let mut pieces = Vec::new();
                            for (i, piece) in text.split(needle.as_str()).enumerate() {
                                if i > 0 {
                                    pieces.push(Err(a));
                                }
                                if !piece.is_empty() {
                                    pieces.push(Ok(piece.to_string()));
                                }
                            }
                            pieces
                        }
                        other => vec![other],
                    })
                    .collect();
            }
            let fill = |t: usize| -> String {
                parts
                    .iter()
                    .map(|p| match p {
                        Ok(text) => text.clone(),
                        Err(x) => self.atoms[*x].1[t].clone(),
                    })
                    .collect()
            };
            if !parts.iter().any(|p| p.is_err())
                || !(0..strings.len()).all(|t| fill(t) == strings[t])
            {
                continue;
            }
            self.used_atoms.extend(chosen);
            return Some(
                parts
                    .iter()
                    .map(|p| match p {
                        Ok(text) => text.replace("${", "\\${"),
                        Err(x) => format!("${{sweep.current.{}}}", self.atoms[*x].0.join(".")),
                    })
                    .collect(),
            );
        }
        None
    }

    /// Store per-task values in the table under a name derived from their key; equal columns share a name.
    fn store(&mut self, path: &[String], docs: &[Yaml]) -> String {
        if let Some((name, _)) = self.fields.iter().find(|(_, v)| v == docs) {
            return name.clone();
        }
        let base = path
            .iter()
            .rev()
            .find(|k| !k.chars().all(|c| c.is_ascii_digit()) && !k.starts_with('_'))
            .cloned()
            .unwrap_or_else(|| "value".into());
        let taken = |n: &str, this: &SweepMerge| {
            this.fields.iter().any(|(k, _)| k == n) || this.atoms.iter().any(|(p, _)| p[0] == n)
        };
        let mut name = base.clone();
        let mut i = 2;
        while taken(&name, self) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.fields.push((name.clone(), docs.to_vec()));
        name
    }
}

/// The strings of a swept value (the value itself, or the fields of a record), with their path.
fn collect_atoms(
    atoms: &mut Vec<(Vec<String>, Vec<String>)>,
    path: Vec<String>,
    per_task: &[&Val],
) {
    match &per_task[0].value {
        Value::Str(_) | Value::Path(_) => {
            let vals: Option<Vec<String>> = per_task
                .iter()
                .map(|v| match &v.value {
                    Value::Str(s) | Value::Path(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            if let Some(vals) = vals {
                atoms.push((path, vals));
            }
        }
        Value::Record(fields) => {
            for (k, _) in fields {
                let children: Option<Vec<&Val>> = per_task
                    .iter()
                    .map(|v| match &v.value {
                        Value::Record(f) => f.iter().find(|(n, _)| n == k).map(|(_, x)| x),
                        _ => None,
                    })
                    .collect();
                if let Some(children) = children {
                    let mut p = path.clone();
                    p.push(k.clone());
                    collect_atoms(atoms, p, &children);
                }
            }
        }
        _ => {}
    }
}
