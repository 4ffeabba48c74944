//! Typed JSON parsing with positioned errors.

use serde::de::DeserializeOwned;

use crate::error::{FormatError, TextLocation};
use crate::json_span::{self, PathSeg};

/// Parses `text` as `T`. The fast path is a plain serde_json parse; only on failure the text is parsed again with
/// path tracking, so the error can name the JSON path and byte range of the bad value.
pub(crate) fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, FormatError> {
    match serde_json::from_str::<T>(text) {
        Ok(value) => Ok(value),
        Err(first) => Err(positioned_error::<T>(text, first)),
    }
}

fn positioned_error<T: DeserializeOwned>(text: &str, first: serde_json::Error) -> FormatError {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let (message, error, path) = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(e) => {
            let path = e.path().clone();
            let inner = e.into_inner();
            (inner.to_string(), inner, Some(path))
        }
        Ok(_) => (first.to_string(), first, None),
    };
    // serde_json's message ends with " at line L column C"; the location is reported separately.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    let location = if error.line() > 0 {
        Some(TextLocation::of_line_column(
            text,
            error.line(),
            error.column(),
        ))
    } else {
        None
    };
    let segments = path.as_ref().map(path_segments).unwrap_or_default();
    let path_text = path.map(|p| p.to_string()).filter(|p| p != ".");
    let span = if segments.is_empty() {
        None
    } else {
        let refs: Vec<PathSeg> = segments.iter().map(OwnedSeg::as_seg).collect();
        json_span::locate(text, &refs)
    };
    FormatError {
        message,
        location,
        path: path_text,
        span,
    }
}

enum OwnedSeg {
    Key(String),
    Index(usize),
}

impl OwnedSeg {
    fn as_seg(&self) -> PathSeg<'_> {
        match self {
            OwnedSeg::Key(k) => PathSeg::Key(k),
            OwnedSeg::Index(i) => PathSeg::Index(*i),
        }
    }
}

fn path_segments(path: &serde_path_to_error::Path) -> Vec<OwnedSeg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(OwnedSeg::Index(*index)),
            Segment::Map { key } => Some(OwnedSeg::Key(key.clone())),
            Segment::Enum { variant } => Some(OwnedSeg::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}
