//! The error type of the training pieces: every bad input is reported, never a panic.

/// What went wrong in a loss, a matcher, the optimizer, autocast or the event writer.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An input tensor has the wrong shape, kind or content.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A configuration value cannot be used (e.g. all matching costs zero).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A matching cost is NaN or infinite, so no assignment exists.
    #[error(
        "{matcher}: the matching cost of batch element {batch} is not finite at query {query}, target {target} \
         (value {value}); the predictions or the target boxes contain NaN or inf"
    )]
    NonFiniteCost {
        matcher: &'static str,
        batch: usize,
        query: usize,
        target: usize,
        value: f64,
    },
    /// Loss terms (or the gradient norm) went non-finite at a training step.
    #[error("step {step}: non-finite {}", describe_terms(.terms))]
    NonFinite {
        step: u64,
        /// Every non-finite term with its value, in name order.
        terms: Vec<(String, f64)>,
    },
    /// The optimizer state does not fit the parameters (on load), or a group is inconsistent.
    #[error("optimizer: {0}")]
    Optimizer(String),
    /// Autocast could not be switched.
    #[error("autocast: {0}")]
    Autocast(String),
    /// An error reported by libtorch.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// A file could not be written or read.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn describe_terms(terms: &[(String, f64)]) -> String {
    terms
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TrainError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        TrainError::InvalidInput(message.into())
    }
}
