//! Checkpoints without Python: reading `torch.save` files (the official `sam3.pt`, upstream trainer
//! checkpoints, flat state dicts) and safetensors, strict loading into a model, atomic safetensors saving.
//!
//! ```no_run
//! # use sam3c_runtime::checkpoint::{self, KeyMap};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let sd = checkpoint::load("sam3.pt".as_ref())?;            // detector.* and tracker.* keys
//! let report = checkpoint::load_into(&vs, &sd, &KeyMap::video_to_tracker(), true)?;
//! checkpoint::save("tracker.safetensors".as_ref(), &vs.variables(), &Default::default())?;
//! # Ok(()) }
//! ```
//!
//! * [`load`] reads the tensors' index (names, dtypes, shapes) and maps the file; tensors are read when used.
//! * [`load_into`] copies them into a model's variables, by name after a [`KeyMap`]. Strict loading fails on any
//!   missing or unexpected name and always on a wrong shape or dtype, listing every problem at once. A
//!   variable's dtype is never changed. RoPE tables (`*.freqs_cis`, complex) are recomputed by the model and
//!   skipped.
//! * [`save`] writes safetensors with string metadata, through a temporary file and a rename.

mod apply;
mod layout;
pub mod pickle;
mod safetensors_file;
mod state_dict;
mod torch_file;
pub mod zip;

pub use apply::{load_into, LoadReport, Mismatch, NamedTensors};
pub use layout::{detect_layout, KeyMap, Layout};
pub use safetensors_file::save;
pub use state_dict::{DType, Format, StateDict, TensorEntry};

use std::path::{Path, PathBuf};

/// Everything that can go wrong with a checkpoint. Messages name the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a format this reader understands (or a variant of one it does not support).
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    /// A damaged or truncated file.
    #[error("{}: damaged or truncated checkpoint: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A tensor that cannot be read or written.
    #[error("tensor `{name}`: {reason}")]
    Tensor { name: String, reason: String },
    /// The checkpoint does not fit the model; every problem is listed.
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    /// Bad arguments (duplicate names, an unsupported dtype to save, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Reads a checkpoint: a `torch.save` file (`.pt`, `.pth`: a flat state dict, or a dict whose `model` or
/// `state_dict` entry is one) or a safetensors file, told apart by content.
pub fn load(path: &Path) -> Result<StateDict, CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the map is read-only; like every mmap-based reader, it assumes the file is not truncated
    // or rewritten by another process while the returned StateDict is alive.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let map = std::sync::Arc::new(map);
    if zip::looks_like_zip(&map) {
        torch_file::read(path, map)
    } else if map.starts_with(&[0x80]) && map.get(8) != Some(&b'{') {
        // (A safetensors file starts with its header's length, whose low byte may be 0x80 too; its JSON
        // header then starts at byte 8.)
        Err(CheckpointError::Format {
            path: path.to_path_buf(),
            reason:
                "a legacy torch.save file (written with _use_new_zipfile_serialization=False or \
                     torch < 1.6); re-save it with a current torch"
                    .into(),
        })
    } else {
        safetensors_file::read(path, map)
    }
}
