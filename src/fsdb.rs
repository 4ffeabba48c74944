//! The filesystem as the compiler's `SourceDb`.

use sam3c_compiler::SourceDb;
use std::path::Path;

pub struct FsDb;

impl SourceDb for FsDb {
    fn read_text(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        })
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn image_size(&self, path: &Path) -> Option<(u32, u32)> {
        // Reads the header only.
        imagesize::size(path)
            .ok()
            .map(|s| (s.width as u32, s.height as u32))
    }
}
