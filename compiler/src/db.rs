//! Source files as the compiler sees them. The compiler never touches the filesystem: the caller passes a
//! `SourceDb` (the CLI reads real files; tests and the editor pass in-memory ones).

use sam3c_lang::ast::Span;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Access to files: spec sources, and for `check --data` the data files a spec names.
pub trait SourceDb {
    /// The text of a file, or why it cannot be read.
    fn read_text(&self, path: &Path) -> Result<String, String>;
    /// Whether a file exists (images named by an annotation file).
    fn exists(&self, path: &Path) -> bool;
    /// The (width, height) of an image file, read from its header, if it is an image.
    fn image_size(&self, path: &Path) -> Option<(u32, u32)> {
        let _ = path;
        None
    }
}

/// An in-memory `SourceDb`, for tests and the editor.
#[derive(Default, Clone)]
pub struct MemoryDb {
    pub files: HashMap<PathBuf, String>,
    /// Paths that exist but have no text (images), with their size.
    pub blobs: HashMap<PathBuf, Option<(u32, u32)>>,
}

impl MemoryDb {
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(normalize(&path.into()), text.into());
        self
    }
}

impl SourceDb for MemoryDb {
    fn read_text(&self, path: &Path) -> Result<String, String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| "no such file".to_string())
    }

    fn exists(&self, path: &Path) -> bool {
        let p = normalize(path);
        self.files.contains_key(&p) || self.blobs.contains_key(&p)
    }

    fn image_size(&self, path: &Path) -> Option<(u32, u32)> {
        self.blobs.get(&normalize(path)).copied().flatten()
    }
}

/// `a/./b/../c` → `a/c`, without touching the filesystem.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Identifies a loaded source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct FileId(pub u32);

/// A loaded file: its path as the user named it, and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let col = self.text[self.line_starts[line]..offset].chars().count();
        (line + 1, col + 1)
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// All files of one compilation.
#[derive(Debug, Clone, Default)]
pub struct Files {
    files: Vec<SourceFile>,
}

impl Files {
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.files.push(SourceFile::new(path, text));
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .map(|i| FileId(i as u32))
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let f = SourceFile::new("x".into(), "ab\nçd\n".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(5), (2, 2)); // after the two-byte ç
    }

    #[test]
    fn normalize_removes_dots() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }
}
