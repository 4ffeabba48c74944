//! Errors: `DataError` from the meters (which input, which entry), `EvalError` from `evaluate` (which file, where).

use std::fmt;
use std::ops::Range;

use sam3c_formats::json_span::{self, PathSeg};
use sam3c_formats::{FormatError, TextLocation};

/// Which input an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The ground-truth file with this index (several for cgF1's oracle setting).
    GroundTruth(usize),
    Predictions,
}

/// One step of a JSON path inside an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Bad data found by a meter: the input, the JSON path of the entry at fault, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    pub source: Source,
    pub path: Vec<PathStep>,
    pub message: String,
}

impl DataError {
    pub fn gt(file: usize, path: Vec<PathStep>, message: impl Into<String>) -> DataError {
        DataError {
            source: Source::GroundTruth(file),
            path,
            message: message.into(),
        }
    }

    pub fn pred(path: Vec<PathStep>, message: impl Into<String>) -> DataError {
        DataError {
            source: Source::Predictions,
            path,
            message: message.into(),
        }
    }

    /// The path as `annotations[3].bbox`.
    pub fn path_string(&self) -> String {
        let segs: Vec<PathSeg> = self.path.iter().map(step_to_seg).collect();
        json_span::path_to_string(&segs)
    }
}

fn step_to_seg(step: &PathStep) -> PathSeg<'_> {
    match step {
        PathStep::Key(k) => PathSeg::Key(k),
        PathStep::Index(i) => PathSeg::Index(*i),
    }
}

/// Shorthand for paths: `path!["annotations", 3, "bbox"]`.
#[macro_export]
#[doc(hidden)]
macro_rules! path {
    ($($step:expr),* $(,)?) => { vec![$($crate::error::IntoPathStep::into_step($step)),*] };
}

#[doc(hidden)]
pub trait IntoPathStep {
    fn into_step(self) -> PathStep;
}

impl IntoPathStep for &str {
    fn into_step(self) -> PathStep {
        PathStep::Key(self.to_owned())
    }
}

impl IntoPathStep for usize {
    fn into_step(self) -> PathStep {
        PathStep::Index(self)
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            Source::GroundTruth(i) => format!("ground truth #{}", i + 1),
            Source::Predictions => "predictions".to_owned(),
        };
        let path = self.path_string();
        if path.is_empty() {
            write!(f, "{source}: {}", self.message)
        } else {
            write!(f, "{source}, `{path}`: {}", self.message)
        }
    }
}

impl std::error::Error for DataError {}

/// An error of [`crate::evaluate`]: the file (as the caller named it), the JSON path and position of the entry at
/// fault when known, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub file: String,
    pub path: Option<String>,
    pub location: Option<TextLocation>,
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl EvalError {
    /// An error about the request itself (no file, or a file that does not fit the metric).
    pub fn request(message: impl Into<String>) -> EvalError {
        EvalError {
            file: String::new(),
            path: None,
            location: None,
            span: None,
            message: message.into(),
        }
    }

    pub(crate) fn from_format(file: &str, e: FormatError) -> EvalError {
        EvalError {
            file: file.to_owned(),
            path: e.path,
            location: e.location,
            span: e.span,
            message: e.message,
        }
    }

    /// Places a meter's `DataError` in its file's text.
    pub(crate) fn from_data(file: &str, text: &str, e: DataError) -> EvalError {
        let segs: Vec<PathSeg> = e.path.iter().map(step_to_seg).collect();
        let span = if segs.is_empty() {
            None
        } else {
            json_span::locate(text, &segs)
        };
        let location = span
            .as_ref()
            .map(|r| TextLocation::of_offset(text, r.start));
        let path = Some(e.path_string()).filter(|p| !p.is_empty());
        EvalError {
            file: file.to_owned(),
            path,
            location,
            span,
            message: e.message,
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}", self.file)?;
            if let Some(loc) = self.location {
                write!(f, ":{}:{}", loc.line, loc.column)?;
            }
            write!(f, ": ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "`{path}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}
