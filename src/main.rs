//! The `sam3c` command line. This is the only place that reads and writes files and spawns processes; the
//! libraries it calls are pure.

mod cmd;
mod fsdb;
mod util;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sam3c",
    version,
    about = "A typed experiment language, compiler and training runtime for fine-tuning SAM 3"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Where a spec runs: sam3c's own runtime, or Meta's trainer through generated configs.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// sam3c's runtime on libtorch (`run` only).
    Native,
    /// Meta's trainer, through generated Hydra configs.
    Upstream,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve and type-check specs, and check their invariants; report every problem with its code.
    Check {
        /// The .sam3x files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Override a parameter: `--set lr_scale=0.05` (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Output format: readable diagnostics, or JSON lines for editors and CI.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also check the data the spec names: annotation files, images, masks, class statistics.
        #[arg(long)]
        data: bool,
    },
    /// Format specs in place (keeps comments); with --check, only report files that would change.
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Do not write; exit with 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Explain a diagnostic code (`sam3c explain E0400`).
    Explain {
        /// The code; without it, list every code.
        code: Option<String>,
    },
    /// Document the component catalog, or one component (`sam3c doc random_resize`).
    Doc {
        /// A component name.
        name: Option<String>,
    },
    /// Evaluate a prediction file against ground truth: COCO AP (bbox, segm), cgF1, HOTA or J&F.
    Eval {
        /// Ground-truth annotation files (several for cgF1's oracle over annotators).
        #[arg(long, required = true, num_args = 1..)]
        gt: Vec<PathBuf>,
        /// The prediction file (COCO results, or YTVIS results for hota and jf).
        #[arg(long)]
        pred: PathBuf,
        /// The metric.
        #[arg(long, default_value = "bbox", value_parser = ["bbox", "segm", "cgf1", "hota", "jf"])]
        metric: String,
        /// COCO AP: ignore detections of categories absent from an image (ODinW's AP+).
        #[arg(long)]
        positive_split: bool,
        /// Output: a readable table, or JSON (metric name -> value, upstream names).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the execution graph of a spec: what runs, in which order, on which artifacts.
    Graph {
        /// The .sam3x file.
        file: PathBuf,
        /// Override a parameter (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Text (execution order), Graphviz DOT, or JSON.
        #[arg(long, value_enum, default_value_t = cmd::graph::GraphFormat::Text)]
        format: cmd::graph::GraphFormat,
    },
    /// The models: `sam3c model inspect sam3 [--video]` lists every state-dict entry (name, shape, dtype).
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Write Hydra configs for Meta's trainer (`python -m sam3.train.train`): one per image stage or evaluation.
    Export {
        /// The spec.
        file: PathBuf,
        /// The backend to export for.
        #[arg(long, value_enum)]
        backend: Backend,
        /// Write `<stage>.yaml` files into this directory (default: print them).
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: Option<PathBuf>,
        /// Override a parameter: `--set lr_scale=0.05` (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Export only this stage or evaluation (repeatable).
        #[arg(long = "stage", value_name = "NAME")]
        stage: Vec<String>,
        /// The text tokenizer's vocabulary (`bpe_simple_vocab_16e6.txt.gz`), which sam3's PyPI wheel lacks.
        #[arg(long, value_name = "FILE")]
        bpe_path: Option<String>,
    },
    /// Convert a config of Meta's trainer (Hydra YAML) into a formatted .sam3x spec.
    Import {
        /// The upstream config.
        file: PathBuf,
        /// Write the spec here (default: print it).
        #[arg(short = 'o', long = "out", value_name = "OUT.sam3x")]
        out: Option<PathBuf>,
        /// The defaults-list parent (`eval_base.yaml`; default: the file of that name beside FILE).
        #[arg(long, value_name = "FILE")]
        parent: Option<PathBuf>,
    },
    /// Check a spec, then train and evaluate its stages in order: on the native runtime (CUDA if present, else
    /// the CPU), or with `--backend upstream` through Meta's trainer (`python -m sam3.train.train`), locally or
    /// on SLURM.
    Run {
        #[command(flatten)]
        args: cmd::run_flags::RunArgs,
        /// Where the stages run.
        #[arg(long, value_enum, default_value_t = Backend::Native)]
        backend: Backend,
        #[command(flatten)]
        upstream: cmd::run_flags::UpstreamFlags,
    },
    /// Run the language server over stdio (diagnostics, hover, go to definition, completion, formatting).
    Lsp,
    /// Detect and segment text prompts in one image with a checkpoint; write JSON and an overlay PNG.
    #[cfg(feature = "native")]
    Predict(cmd::predict::PredictArgs),
    /// Write the synthetic factory dataset (COCO images and YTVIS clips) the quickstart trains on.
    #[cfg(feature = "native")]
    DemoData {
        /// The directory to write.
        dir: PathBuf,
        /// Seed of the generator.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Images in the train split.
        #[arg(long, default_value_t = sam3c_runtime::demo::TRAIN_IMAGES)]
        train_images: usize,
        /// Images in the test split.
        #[arg(long, default_value_t = sam3c_runtime::demo::TEST_IMAGES)]
        test_images: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            files,
            set,
            format,
            data,
        } => cmd::check::check(&files, &set, format, data),
        Command::Fmt { files, check } => cmd::fmt::fmt(&files, check),
        Command::Explain { code } => cmd::explain::explain(code.as_deref()),
        Command::Doc { name } => cmd::doc::doc(name.as_deref()),
        Command::Eval {
            gt,
            pred,
            metric,
            positive_split,
            format,
        } => cmd::eval::eval(&gt, &pred, &metric, positive_split, format),
        Command::Graph { file, set, format } => cmd::graph::graph(&file, &set, format),
        Command::Model {
            action:
                ModelAction::Inspect {
                    preset,
                    video,
                    summary,
                },
        } => cmd::model::inspect(&preset, video, summary),
        #[cfg(feature = "native")]
        Command::Model {
            action: ModelAction::Weights { checkpoint, out },
        } => cmd::model::weights(&checkpoint, &out),
        Command::Export {
            file,
            backend,
            out,
            set,
            stage,
            bpe_path,
        } => match backend {
            Backend::Upstream => {
                cmd::export::export(&file, out.as_deref(), &set, &stage, bpe_path.as_deref())
            }
            Backend::Native => util::usage_error(
                "`export` writes configs for another trainer: use `--backend upstream` (the native runtime runs the spec itself: `sam3c run`)",
            ),
        },
        Command::Import { file, out, parent } => {
            cmd::import::import(&file, out.as_deref(), parent.as_deref())
        }
        Command::Run {
            args,
            backend: Backend::Upstream,
            upstream,
        } => {
            if let Some(flag) = args.first_native_flag() {
                return util::usage_error(&format!(
                    "{flag} is a flag of the native runtime; Meta's trainer does not read it"
                ));
            }
            cmd::launch::run_upstream(
                &args.file,
                &cmd::launch::LaunchOptions {
                    set: args.set,
                    stages: args.stage.into_iter().collect(),
                    bpe_path: upstream.bpe_path,
                    cluster: upstream.cluster,
                    partition: upstream.partition,
                    account: upstream.account,
                    qos: upstream.qos,
                    nodes: upstream.nodes,
                    gpus_per_node: upstream.gpus_per_node,
                    config_dir: upstream.config_dir,
                    dry_run: upstream.dry_run,
                },
            )
        }
        Command::Run {
            args,
            backend: Backend::Native,
            upstream,
        } => {
            if let Some(flag) = upstream.first_given() {
                return util::usage_error(&format!(
                    "{flag} is a flag of `--backend upstream` (Meta's trainer)"
                ));
            }
            run_native(args)
        }
        #[cfg(feature = "native")]
        Command::Predict(args) => cmd::predict::predict(args),
        #[cfg(feature = "native")]
        Command::DemoData {
            dir,
            seed,
            train_images,
            test_images,
        } => cmd::demo_data::demo_data(&dir, seed, train_images, test_images),
        Command::Lsp => {
            let (connection, io_threads) = lsp_server::Connection::stdio();
            let result = sam3c_lsp::run(&connection, &fsdb::FsDb);
            drop(connection);
            let _ = io_threads.join();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => util::usage_error(&format!("language server: {e}")),
            }
        }
    }
}

#[cfg(feature = "native")]
fn run_native(args: cmd::run_flags::RunArgs) -> ExitCode {
    cmd::run::run(args)
}

#[cfg(not(feature = "native"))]
fn run_native(_: cmd::run_flags::RunArgs) -> ExitCode {
    util::usage_error(
        "this sam3c was built without the native runtime (cargo feature `native`); use `--backend upstream`, or build with the default features",
    )
}

#[derive(Subcommand)]
enum ModelAction {
    /// Print every state-dict entry of a preset: `name<TAB>shape<TAB>dtype`, in upstream order.
    Inspect {
        /// `sam3` (the released sizes) or `sam3-tiny`.
        preset: String,
        /// The video model (detector and tracker) instead of the image model.
        #[arg(long)]
        video: bool,
        /// Only the number of entries and of trainable parameters.
        #[arg(long)]
        summary: bool,
    },
    /// Write a checkpoint's model weights without its optimizer state (to share, ship or start a stage from).
    #[cfg(feature = "native")]
    Weights {
        /// A stage checkpoint (`<out>/<stage>/checkpoints/*.safetensors`) or any checkpoint sam3c reads.
        checkpoint: PathBuf,
        /// The safetensors file to write.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
    },
}
