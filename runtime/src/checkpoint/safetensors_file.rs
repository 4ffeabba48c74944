//! safetensors: reading (validated by the `safetensors` crate, tensors read from the memory map) and atomic
//! writing with metadata.

use super::apply::NamedTensors;
use super::state_dict::{contiguous_entry, DType, Format, StateDict};
use super::CheckpointError;
use memmap2::Mmap;
use safetensors::tensor::{Dtype as StDtype, SafeTensors};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn from_st(d: StDtype) -> Option<DType> {
    Some(match d {
        StDtype::F64 => DType::F64,
        StDtype::F32 => DType::F32,
        StDtype::F16 => DType::F16,
        StDtype::BF16 => DType::BF16,
        StDtype::I64 => DType::I64,
        StDtype::I32 => DType::I32,
        StDtype::I16 => DType::I16,
        StDtype::I8 => DType::I8,
        StDtype::U8 => DType::U8,
        StDtype::BOOL => DType::Bool,
        StDtype::C64 => DType::C64,
        _ => return None,
    })
}

fn to_st(d: DType) -> Option<StDtype> {
    Some(match d {
        DType::F64 => StDtype::F64,
        DType::F32 => StDtype::F32,
        DType::F16 => StDtype::F16,
        DType::BF16 => StDtype::BF16,
        DType::I64 => StDtype::I64,
        DType::I32 => StDtype::I32,
        DType::I16 => StDtype::I16,
        DType::I8 => StDtype::I8,
        DType::U8 => StDtype::U8,
        DType::Bool => StDtype::BOOL,
        DType::C64 => StDtype::C64,
        DType::C128 => return None,
    })
}

pub(crate) fn read(path: &Path, map: Arc<Mmap>) -> Result<StateDict, CheckpointError> {
    let p = || path.to_path_buf();
    // A safetensors file starts with the header length (the crate caps it at 100 MB) and a JSON object; a
    // plausible length with the rest cut off is a truncated safetensors file, anything else is not one.
    let header_len = map
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let plausible = header_len.is_some_and(|n| (2..100_000_000).contains(&n));
    let looks_like_safetensors = plausible && map.get(8).is_none_or(|&b| b == b'{');
    if !looks_like_safetensors {
        return Err(CheckpointError::Format {
            path: p(),
            reason: "not a checkpoint: neither a torch.save archive nor a safetensors file".into(),
        });
    }
    let corrupt = |e: safetensors::SafeTensorError| CheckpointError::Corrupt {
        path: p(),
        reason: format!("{e:?}"),
    };
    SafeTensors::deserialize(&map).map_err(corrupt)?;
    let (n, metadata) = SafeTensors::read_metadata(&map).map_err(corrupt)?;
    let data_start = 8 + n;
    let mut infos: Vec<_> = metadata.tensors().into_iter().collect();
    infos.sort_by_key(|(_, info)| info.data_offsets);
    let mut entries = Vec::with_capacity(infos.len());
    for (name, info) in infos {
        let dtype = from_st(info.dtype).ok_or_else(|| CheckpointError::Format {
            path: p(),
            reason: format!(
                "tensor `{name}` has dtype {:?}, which sam3c does not load",
                info.dtype
            ),
        })?;
        let shape = info.shape.iter().map(|&s| s as i64).collect();
        let range = data_start + info.data_offsets.0..data_start + info.data_offsets.1;
        entries.push(
            contiguous_entry(name, dtype, shape, &map, range)
                .map_err(|reason| CheckpointError::Corrupt { path: p(), reason })?,
        );
    }
    let md = metadata
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    StateDict::new(entries, Format::Safetensors, md, String::new())
        .map_err(|reason| CheckpointError::Corrupt { path: p(), reason })
}

/// Writes `tensors` (any device or dtype safetensors has; copied to the CPU one at a time) with `metadata` as a
/// safetensors file at `path`. The file is written beside `path` under a temporary name, synced, then renamed
/// over `path`: a crash leaves the old file or the new one, never a partial one.
pub fn save<T: NamedTensors + ?Sized>(
    path: &Path,
    tensors: &T,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let named = tensors.named_tensors();
    let mut layout = Vec::with_capacity(named.len());
    for (name, t) in &named {
        if name.is_empty() || name == "__metadata__" {
            return Err(CheckpointError::Invalid(format!(
                "`{name}` cannot name a tensor"
            )));
        }
        let kind = t.f_kind().map_err(|e| CheckpointError::Tensor {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let dtype = DType::from_kind(kind)
            .and_then(|d| to_st(d).map(|s| (d, s)))
            .ok_or_else(|| CheckpointError::Tensor {
                name: name.clone(),
                reason: format!("dtype {kind:?} cannot be saved as safetensors"),
            })?;
        layout.push(dtype);
    }
    // Like the safetensors crate: larger elements first, then by name, so every tensor is aligned.
    let mut order: Vec<usize> = (0..named.len()).collect();
    order.sort_by(|&a, &b| {
        layout[b]
            .1
            .cmp(&layout[a].1)
            .then_with(|| named[a].0.cmp(&named[b].0))
    });
    for w in order.windows(2) {
        if named[w[0]].0 == named[w[1]].0 {
            return Err(CheckpointError::Invalid(format!(
                "tensor `{}` is given twice",
                named[w[0]].0
            )));
        }
    }
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(metadata).expect("strings"),
        );
    }
    let mut offset = 0usize;
    for &i in &order {
        let (name, t) = &named[i];
        let size: Vec<i64> = t.size();
        let bytes = size.iter().product::<i64>() as usize * layout[i].0.size();
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": layout[i].1,
                "shape": size,
                "data_offsets": [offset, offset + bytes],
            }),
        );
        offset += bytes;
    }
    let mut header = serde_json::to_vec(&header).expect("JSON of strings and numbers");
    header.resize(header.len().next_multiple_of(8), b' ');

    let tmp = temp_path(path);
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let write = || -> Result<(), CheckpointError> {
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &file);
        w.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.write_all(&header).map_err(io)?;
        for &i in &order {
            let (name, t) = &named[i];
            let cpu = t.detach().to_device(tch::Device::Cpu).contiguous();
            let numel = cpu.numel();
            let mut buf = vec![0u8; numel * layout[i].0.size()];
            cpu.f_copy_data_u8(&mut buf, numel)
                .map_err(|e| CheckpointError::Tensor {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
            w.write_all(&buf).map_err(io)?;
        }
        w.flush().map_err(io)?;
        drop(w);
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        // Make the rename itself durable.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A temporary name in the same directory (so the rename stays on one filesystem).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    path.with_file_name(format!(".{name}.tmp-{}-{nanos}", std::process::id()))
}
