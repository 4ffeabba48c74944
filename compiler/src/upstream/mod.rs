//! The upstream backend: Hydra YAML for Meta's trainer (`python -m sam3.train.train -c ...`), and back.
//!
//! * `export` turns each image stage and evaluation of a spec into one self-contained config
//!   (`# @package _global_`, `defaults: [_self_]`, every value written out). The catalog gives every
//!   component's `_target_` and argument names; the few places where upstream's shape differs from the
//!   catalog's (filters wrapped in `FlexibleFilterFindGetQueries`, `ToTensorAPI` before `NormalizeAPI`, loss
//!   weights in `weight_dict`, schedules as per-group `options.lr` lists, meters as `PredictionDumper` with
//!   `pred_file_evaluators`, ...) are written out in `export`. A spec with sweeps becomes a job array: the
//!   values that differ between tasks are interpolations into a `sweep` table indexed by
//!   `submitit.job_array.task_index`.
//! * `import` reads an upstream config (and its defaults-list parent), resolves its interpolations as
//!   OmegaConf does, maps each `_target_` back to its catalog component, and writes a formatted .sam3x spec.
//!
//! Both are pure: files come through the `SourceDb`, the CLI writes the results.

pub mod export;
pub mod import;
pub mod resolve;
pub mod targets;
pub mod yaml;

pub use export::{export, ExportOptions, ExportOutput, ExportedConfig};
pub use import::{import, ImportOptions, ImportOutput};
