//! `sam3c run`: check a spec, then run its stages and evaluations in order on the native runtime.
//!
//! Exit codes: 0 everything ran; 1 the spec has errors (nothing runs) or a stage failed; 2 a usage problem (a
//! flag, a missing file, an output directory that already holds results without `--resume`); 130 interrupted
//! (Ctrl-C: the current step finishes, `latest` is written, `--resume` continues).

use crate::cmd::run_flags::RunArgs;
use crate::fsdb;
use crate::util::*;
use crate::Format;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sam3c_compiler::checks::StageKind;
use sam3c_compiler::graph::NodeKind;
use sam3c_compiler::value::{ComponentValue, Value};
use sam3c_compiler::{CheckOptions, CheckedSpec};
use sam3c_runtime::exec::{
    self, state::stable_hash, EvalJob, Event, MeterJob, Monitor, Outcome, RunOptions, StageJob,
    StageSummary,
};
use sam3c_stdlib::components::meter::MeterSpec;
use sam3c_stdlib::components::stage::{Evaluation, Stage};
use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One node to run: a training stage or an evaluation.
enum Job {
    Train(StageJob),
    Eval(EvalJob),
}

impl Job {
    fn name(&self) -> &str {
        match self {
            Job::Train(j) => &j.name,
            Job::Eval(j) => &j.name,
        }
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    let overrides = match parse_sets(&args.set) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    if !args.file.exists() {
        return usage_error(&format!("`{}` does not exist", args.file.display()));
    }
    let out = sam3c_compiler::check(
        &fsdb::FsDb,
        &args.file,
        &CheckOptions {
            overrides,
            ..Default::default()
        },
    );
    let (errors, _) = report(&out, Format::Human);
    let Some(spec) = out.spec.as_ref().filter(|_| errors == 0) else {
        eprintln!(
            "{}: {}; nothing was run",
            args.file.display(),
            plural(errors.max(1), "error")
        );
        return ExitCode::from(1);
    };
    if spec.sweep_size() > 1 {
        let names: Vec<String> = spec.sweeps.iter().map(|s| spec.decl_path(s.decl)).collect();
        return usage_error(&format!(
            "the spec sweeps {} ({} experiments); `sam3c run` runs one experiment: fix each swept parameter \
             with --set, e.g. --set {}=...",
            names.join(", "),
            spec.sweep_size(),
            names.first().map_or("name", String::as_str)
        ));
    }
    let device = match sam3c_runtime::device::select(args.device.as_deref()) {
        Ok(d) => d,
        Err(e) => return usage_error(&format!("--device: {e}")),
    };
    if args.threads == Some(0) {
        return usage_error("--threads must be at least 1");
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    exec::set_threads(threads);

    let experiment_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(&spec.out_dir));
    let jobs = match plan(spec, &experiment_dir) {
        Ok(jobs) => jobs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let jobs: Vec<Job> = match &args.stage {
        None => jobs,
        Some(name) => {
            let names: Vec<String> = jobs.iter().map(|j| j.name().to_string()).collect();
            let selected: Vec<Job> = jobs.into_iter().filter(|j| j.name() == name).collect();
            if selected.is_empty() {
                return usage_error(&format!(
                    "--stage {name}: the spec has no stage or evaluation `{name}` (it has: {})",
                    names.join(", ")
                ));
            }
            selected
        }
    };
    if jobs.is_empty() {
        eprintln!(
            "{}: the spec declares no stage and no evaluation; nothing to run",
            args.file.display()
        );
        return ExitCode::SUCCESS;
    }
    // Everything the runtime cannot do is refused before anything trains.
    for job in &jobs {
        let checked = match job {
            Job::Train(j) => exec::preflight_stage(j, device),
            Job::Eval(j) => exec::preflight_eval(j, device),
        };
        if let Err(e) = checked {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    }
    if let Err(e) = write_spec_files(&args.file, spec, &experiment_dir) {
        return usage_error(&e);
    }

    let interrupt = Arc::new(AtomicBool::new(false));
    install_interrupt_handler(interrupt.clone());
    let monitor = Progress::new();
    let mut options = RunOptions::new(device, &monitor);
    options.resume = args.resume;
    options.interrupt = interrupt;
    options.stop_after_steps = args.stop_after_steps;
    eprintln!(
        "running {} on {device:?} with {threads} thread(s); outputs in {}",
        args.file.display(),
        experiment_dir.display()
    );

    let mut summaries = Vec::new();
    for job in &jobs {
        let result = match job {
            Job::Train(j) => exec::train_stage(j, &options),
            Job::Eval(j) => exec::evaluate(j, &options),
        };
        match result {
            Ok(summary) => {
                let stop = summary.outcome == Outcome::Interrupted;
                summaries.push(summary);
                if stop {
                    print_summary(&summaries);
                    eprintln!("interrupted; continue with: {}", resume_command(&args));
                    return ExitCode::from(130);
                }
            }
            Err(e) => {
                print_summary(&summaries);
                eprintln!("error: {e}");
                return ExitCode::from(e.exit_code());
            }
        }
    }
    print_summary(&summaries);
    ExitCode::SUCCESS
}

/// The jobs of a checked spec, in execution order.
fn plan(spec: &CheckedSpec, experiment_dir: &Path) -> Result<Vec<Job>, String> {
    // Each job records its node's content hash from the execution graph (its configuration and, through its
    // inputs' hashes, everything it depends on): a stage whose `final` checkpoint carries it is up to date.
    let graph = sam3c_compiler::graph::lower(spec);
    let fallback = stable_hash(&spec.resolved());
    let node_hash = |kind: NodeKind, name: &str| {
        graph
            .find(kind, name)
            .map_or_else(|| fallback.clone(), |n| graph.graph[n].hash.clone())
    };
    let mut jobs = Vec::new();
    for info in &spec.stages {
        let json = spec.stage_config(info);
        match info.kind {
            StageKind::Train => {
                let config: Stage = serde_json::from_value(json.clone()).map_err(|e| {
                    format!(
                        "stage `{}`: the runtime cannot read its configuration: {e}",
                        info.name
                    )
                })?;
                let meters = meter_jobs(spec, &info.value, &config.eval);
                jobs.push(Job::Train(StageJob {
                    name: info.name.clone(),
                    config,
                    meters,
                    experiment_dir: experiment_dir.to_path_buf(),
                    stage_hash: stage_hash(&json),
                    spec_hash: node_hash(NodeKind::TrainStage, &info.name),
                }));
            }
            StageKind::Evaluate => {
                let config: Evaluation = serde_json::from_value(json).map_err(|e| {
                    format!(
                        "evaluation `{}`: the runtime cannot read its configuration: {e}",
                        info.name
                    )
                })?;
                let meters = meter_jobs(spec, &info.value, &config.eval);
                jobs.push(Job::Eval(EvalJob {
                    name: info.name.clone(),
                    config,
                    meters,
                    experiment_dir: experiment_dir.to_path_buf(),
                    spec_hash: node_hash(NodeKind::Evaluate, &info.name),
                }));
            }
        }
    }
    Ok(jobs)
}

/// The hash of what determines a stage's training: its configuration without `resume` (where to continue
/// from) and `workers` (which does not change the batches).
fn stage_hash(config: &serde_json::Value) -> String {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        map.remove("resume");
        map.remove("workers");
    }
    stable_hash(&config.to_string())
}

/// The meters of a stage or evaluation (`specs`: its typed `eval` list) with the names of their declarations
/// (or made-up names for inline values) and of their datasets.
fn meter_jobs(spec: &CheckedSpec, stage: &ComponentValue, specs: &[MeterSpec]) -> Vec<MeterJob> {
    let items: &[sam3c_compiler::value::Val] = match stage.get("eval").map(|v| &v.value) {
        Some(Value::List(items)) => items,
        _ => &[],
    };
    specs
        .iter()
        .enumerate()
        .map(|(i, meter)| {
            let component = items.get(i).and_then(|item| match &item.value {
                Value::Component(c) => Some((item, c)),
                _ => None,
            });
            let name = component
                .and_then(|(item, _)| item.origin)
                .map(|id| spec.decl_path(id))
                .unwrap_or_else(|| format!("meter_{i}"));
            let dataset = component
                .and_then(|(_, c)| c.get("data"))
                .and_then(|d| d.origin)
                .map(|id| spec.decl_path(id))
                .unwrap_or_else(|| format!("data_{i}"));
            MeterJob {
                name,
                dataset,
                spec: meter.clone(),
            }
        })
        .collect()
}

/// The experiment directory gets the spec as written and its resolved form.
fn write_spec_files(file: &Path, spec: &CheckedSpec, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the output directory {}: {e}", dir.display()))?;
    let source = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
    for (name, text) in [
        ("spec.sam3x", source),
        ("spec.resolved.sam3x", spec.resolved()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Ctrl-C once: finish the current step, write `latest`, stop. Twice: stop at once.
fn install_interrupt_handler(flag: Arc<AtomicBool>) {
    let result = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: stopping without saving");
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupt: finishing the current step and saving (Ctrl-C again to stop at once)"
        );
    });
    if let Err(e) = result {
        eprintln!(
            "warning: cannot handle Ctrl-C ({e}); an interrupted run resumes from its last epoch"
        );
    }
}

/// Progress bars on a terminal (loss, learning rate, images/s); periodic lines otherwise.
struct Progress {
    terminal: bool,
    bar: RefCell<Option<ProgressBar>>,
    line_every: u64,
}

impl Progress {
    fn new() -> Self {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            bar: RefCell::new(None),
            line_every: 10,
        }
    }

    fn print(&self, text: &str) {
        match self.bar.borrow().as_ref() {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Monitor for Progress {
    fn event(&self, event: &Event) {
        match event {
            Event::Started {
                stage,
                total_steps,
                done_steps,
            } => {
                if *total_steps == 0 {
                    return;
                }
                if self.terminal {
                    let bar = ProgressBar::with_draw_target(
                        Some(*total_steps),
                        ProgressDrawTarget::stderr(),
                    );
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
                        )
                        .expect("a valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(stage.clone());
                    bar.set_position(*done_steps);
                    *self.bar.borrow_mut() = Some(bar);
                }
            }
            Event::Step {
                stage,
                step,
                total_steps,
                epoch,
                loss,
                lr,
                images_per_s,
            } => {
                let text = format!("loss {loss:.4}, lr {lr:.2e}, {images_per_s:.1} images/s");
                match self.bar.borrow().as_ref() {
                    Some(bar) => {
                        bar.set_position(*step);
                        bar.set_message(text);
                    }
                    None => {
                        if *step == 1 || step == total_steps || step % self.line_every == 0 {
                            eprintln!("{stage}: step {step}/{total_steps} (epoch {epoch}): {text}");
                        }
                    }
                }
            }
            Event::Message { stage, text } => self.print(&format!("{stage}: {text}")),
            Event::Finished { .. } => {
                if let Some(bar) = self.bar.borrow_mut().take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}

/// The end-of-run summary: per stage, steps, time, losses, metrics and where the weights are.
fn print_summary(summaries: &[StageSummary]) {
    if summaries.is_empty() {
        return;
    }
    println!("\nsummary:");
    for s in summaries {
        let status = match s.outcome {
            Outcome::Finished => "done",
            Outcome::AlreadyDone => "already done",
            Outcome::Interrupted => "interrupted",
        };
        let loss = match (s.first_loss, s.final_loss) {
            (Some(a), Some(b)) => format!(", loss {a:.4} -> {b:.4}"),
            (None, Some(b)) => format!(", final loss {b:.4}"),
            _ => String::new(),
        };
        println!(
            "  {}: {status}, {}/{} steps, {} epoch(s), {:.1} s{loss}",
            s.name, s.steps, s.total_steps, s.epochs, s.seconds
        );
        // The last evaluation of each meter.
        let mut last: Vec<&exec::Evaluated> = Vec::new();
        for e in s.evaluations.iter().rev() {
            if !last.iter().any(|l| l.result.meter == e.result.meter) {
                last.push(e);
            }
        }
        for e in last.into_iter().rev() {
            let metrics: Vec<String> = e
                .result
                .metrics
                .iter()
                .take(3)
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect();
            println!(
                "    {} on {} (step {}): {}",
                e.result.meter,
                e.result.dataset,
                e.step,
                metrics.join(", ")
            );
        }
        if let Some(p) = &s.checkpoint {
            println!("    weights: {}", p.display());
        }
    }
}

/// The command that continues an interrupted run: the same spec, overrides, stage and output directory (a
/// different `--set` would be a differently configured stage), shell-quoted.
fn resume_command(args: &RunArgs) -> String {
    let quote = |s: &str| {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut words = vec!["sam3c".to_string(), "run".to_string()];
    words.push(quote(&args.file.to_string_lossy()));
    for set in &args.set {
        words.push("--set".to_string());
        words.push(quote(set));
    }
    if let Some(stage) = &args.stage {
        words.push("--stage".to_string());
        words.push(quote(stage));
    }
    if let Some(out) = &args.out {
        words.push("--out".to_string());
        words.push(quote(&out.to_string_lossy()));
    }
    words.push("--resume".to_string());
    words.join(" ")
}
