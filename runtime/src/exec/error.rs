//! What can stop a stage: every error names the stage and the file, flag or step involved.

use crate::checkpoint::CheckpointError;
use crate::data::DataError;
use crate::model::ModelError;
use crate::train::TrainError;
use std::path::PathBuf;

/// Why a stage or an evaluation did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The stage asks for something the native runtime does not do (a video stage, fp16 on CUDA, ...).
    #[error("stage `{stage}`: {message}")]
    Unsupported { stage: String, message: String },
    /// The stage's configuration cannot run (an empty dataset, a batch that `accumulate` does not divide, ...).
    #[error("stage `{stage}`: {message}")]
    Config { stage: String, message: String },
    /// The output directory already holds results of this stage; running again would overwrite them.
    #[error(
        "stage `{stage}`: {} already holds {what}; pass --resume to continue the run, or choose another --out",
        dir.display()
    )]
    OutputExists {
        stage: String,
        dir: PathBuf,
        what: String,
    },
    #[error("stage `{stage}`: data: {source}")]
    Data {
        stage: String,
        #[source]
        source: DataError,
    },
    #[error("stage `{stage}`: {context}: {source}")]
    Checkpoint {
        stage: String,
        context: String,
        #[source]
        source: CheckpointError,
    },
    /// A checkpoint that does not belong to this stage or this runtime.
    #[error("stage `{stage}`: {} {message}", path.display())]
    BadCheckpoint {
        stage: String,
        path: PathBuf,
        message: String,
    },
    #[error("stage `{stage}`: model: {source}")]
    Model {
        stage: String,
        #[source]
        source: ModelError,
    },
    #[error("stage `{stage}`: {source}")]
    Train {
        stage: String,
        #[source]
        source: TrainError,
    },
    /// A loss term or the gradient norm went NaN or infinite; nothing was written after the last good step.
    #[error(
        "stage `{stage}`, step {step}: non-finite {}; training stopped before the optimizer wrote it into the \
         weights. {}",
        describe_terms(terms),
        match last_good {
            Some(p) => format!("The last good checkpoint is {}", p.display()),
            None => "No checkpoint was written yet.".to_string(),
        }
    )]
    NonFinite {
        stage: String,
        step: u64,
        terms: Vec<(String, f64)>,
        last_good: Option<PathBuf>,
    },
    #[error("stage `{stage}`: {}: {source}", path.display())]
    Io {
        stage: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The video model could not train or track on its input (a clip without masks, ...).
    #[error("stage `{stage}`: {source}")]
    Temporal {
        stage: String,
        #[source]
        source: crate::temporal::TemporalError,
    },
    /// A meter could not evaluate (bad ground truth, ...).
    #[error("stage `{stage}`: meter `{meter}`: {message}")]
    Meter {
        stage: String,
        meter: String,
        message: String,
    },
}

fn describe_terms(terms: &[(String, f64)]) -> String {
    terms
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ExecError {
    /// The process exit code: 2 for a problem with how the run was invoked (its flags or output directory),
    /// 1 for a run that failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            ExecError::OutputExists { .. } => 2,
            _ => 1,
        }
    }
}

/// Attaches the stage name to the errors of the pieces.
pub(crate) trait InStage<T> {
    fn in_stage(self, stage: &str) -> Result<T, ExecError>;
}

impl<T> InStage<T> for Result<T, DataError> {
    fn in_stage(self, stage: &str) -> Result<T, ExecError> {
        self.map_err(|source| ExecError::Data {
            stage: stage.to_string(),
            source,
        })
    }
}

impl<T> InStage<T> for Result<T, ModelError> {
    fn in_stage(self, stage: &str) -> Result<T, ExecError> {
        self.map_err(|source| ExecError::Model {
            stage: stage.to_string(),
            source,
        })
    }
}

impl<T> InStage<T> for Result<T, TrainError> {
    fn in_stage(self, stage: &str) -> Result<T, ExecError> {
        self.map_err(|source| ExecError::Train {
            stage: stage.to_string(),
            source,
        })
    }
}

impl<T> InStage<T> for Result<T, tch::TchError> {
    fn in_stage(self, stage: &str) -> Result<T, ExecError> {
        self.map_err(|e| ExecError::Train {
            stage: stage.to_string(),
            source: TrainError::Torch(e),
        })
    }
}
