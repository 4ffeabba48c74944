//! The one error type of this crate: what went wrong, and where in the text when the input was a file.

use std::fmt;
use std::ops::Range;

/// A position in a text: 1-based line and column (columns count bytes, as serde_json does) and the 0-based byte
/// offset of the same spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLocation {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
}

impl TextLocation {
    /// The location of byte `offset` in `text` (clamped to the text's length).
    pub fn of_offset(text: &str, offset: usize) -> TextLocation {
        let offset = offset.min(text.len());
        let before = &text.as_bytes()[..offset];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        TextLocation {
            line,
            column: offset - line_start + 1,
            offset,
        }
    }

    /// The byte offset of a serde_json (line, column) pair: serde_json counts columns in bytes and points just past
    /// the byte it stopped at.
    pub fn of_line_column(text: &str, line: usize, column: usize) -> TextLocation {
        let mut line_start = 0usize;
        if line > 1 {
            let mut seen = 1usize;
            for (i, b) in text.bytes().enumerate() {
                if b == b'\n' {
                    seen += 1;
                    if seen == line {
                        line_start = i + 1;
                        break;
                    }
                }
            }
        }
        let offset = (line_start + column.saturating_sub(1)).min(text.len());
        TextLocation {
            line: line.max(1),
            column: column.max(1),
            offset,
        }
    }
}

/// An error in an annotation file, a prediction file or a mask.
///
/// `location` is set when the error comes from a text (a JSON file); `path` names the JSON value at fault
/// (`annotations[12].segmentation.counts`) when it is known, and `span` is that value's byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub message: String,
    pub location: Option<TextLocation>,
    pub path: Option<String>,
    pub span: Option<Range<usize>>,
}

impl FormatError {
    /// An error without a position (e.g. an RLE string handed over in code).
    pub fn new(message: impl Into<String>) -> FormatError {
        FormatError {
            message: message.into(),
            location: None,
            path: None,
            span: None,
        }
    }

    pub fn line(&self) -> Option<usize> {
        self.location.map(|l| l.line)
    }

    pub fn column(&self) -> Option<usize> {
        self.location.map(|l| l.column)
    }

    pub fn offset(&self) -> Option<usize> {
        self.location.map(|l| l.offset)
    }

    /// Prefixes the JSON path of the enclosing value, e.g. `annotations[3].segmentation`.
    pub fn at_path(mut self, path: impl Into<String>) -> FormatError {
        self.path = Some(path.into());
        self
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = self.location {
            write!(
                f,
                "line {}, column {} (byte {}): ",
                loc.line, loc.column, loc.offset
            )?;
        }
        if let Some(path) = &self.path {
            write!(f, "at `{path}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for FormatError {}
