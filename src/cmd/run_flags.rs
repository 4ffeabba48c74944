//! The flags of `sam3c run`, compiled with or without the native runtime so that `--backend upstream` works in
//! a build without libtorch.

use std::path::PathBuf;

/// The flags of `sam3c run` (both backends read `file`, `set` and `stage`; the rest are the native runtime's).
#[derive(clap::Args)]
pub struct RunArgs {
    /// The .sam3x file.
    pub file: PathBuf,
    /// Override a parameter: `--set lr_scale=0.05` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The experiment directory (default: the spec's `experiment.out`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// cpu, cuda or cuda:N (default: CUDA when present, else the CPU).
    #[arg(long)]
    pub device: Option<String>,
    /// Continue interrupted stages from their latest checkpoint; skip finished ones.
    #[arg(long)]
    pub resume: bool,
    /// Run only this stage or evaluation (a stage it initializes from must have run).
    #[arg(long, value_name = "NAME")]
    pub stage: Option<String>,
    /// Threads of the tensor library (default: the number of cores; 1 can be faster on a busy machine).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Stop as on Ctrl-C (saving `latest`) after this many optimizer steps; for smoke runs and tests.
    #[arg(long, value_name = "N", hide = true)]
    pub stop_after_steps: Option<u64>,
}

/// The flags only `--backend upstream` reads.
#[derive(clap::Args)]
pub struct UpstreamFlags {
    /// The text tokenizer's vocabulary (`bpe_simple_vocab_16e6.txt.gz`), which sam3's PyPI wheel lacks.
    #[arg(long, value_name = "FILE")]
    pub bpe_path: Option<String>,
    /// Submit to a cluster through the trainer's submitit path (default: run on this machine).
    #[arg(long, value_enum)]
    pub cluster: Option<crate::cmd::launch::ClusterKind>,
    /// SLURM partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// SLURM account.
    #[arg(long)]
    pub account: Option<String>,
    /// SLURM quality of service.
    #[arg(long)]
    pub qos: Option<String>,
    /// Nodes (default: the spec's resources).
    #[arg(long)]
    pub nodes: Option<u32>,
    /// GPUs per node (default: the spec's resources).
    #[arg(long)]
    pub gpus_per_node: Option<u32>,
    /// Where to write the configs (default: `<experiment out>/upstream_configs`).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Write the configs and print the trainer's commands; launch nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl UpstreamFlags {
    /// The first flag given, by name: these mean nothing to the native runtime.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            ("--bpe-path", self.bpe_path.is_some()),
            ("--cluster", self.cluster.is_some()),
            ("--partition", self.partition.is_some()),
            ("--account", self.account.is_some()),
            ("--qos", self.qos.is_some()),
            ("--nodes", self.nodes.is_some()),
            ("--gpus-per-node", self.gpus_per_node.is_some()),
            ("--config-dir", self.config_dir.is_some()),
            ("--dry-run", self.dry_run),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(flag, _)| flag)
    }
}

/// The flags only the native runtime reads.
impl RunArgs {
    pub fn first_native_flag(&self) -> Option<&'static str> {
        [
            ("--out", self.out.is_some()),
            ("--device", self.device.is_some()),
            ("--resume", self.resume),
            ("--threads", self.threads.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(flag, _)| flag)
    }
}
