//! `torch.save` files: a zip archive `<name>/data.pkl` (the pickled object) + `<name>/data/<key>` (raw
//! little-endian storages) + `<name>/byteorder`, `<name>/version`.

use super::pickle::{self, Value};
use super::state_dict::{entry_from_pickle, Format, StateDict};
use super::zip;
use super::CheckpointError;
use memmap2::Mmap;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// Top-level keys under which trainers store the model's state dict, in the order they are tried.
const STATE_DICT_KEYS: [&str; 2] = ["model", "state_dict"];

pub(crate) fn read(path: &Path, map: Arc<Mmap>) -> Result<StateDict, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let format = |reason: String| CheckpointError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let index = zip::read_index(&map).map_err(corrupt)?;
    let pkl = index
        .entries
        .keys()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| (n.matches('/').count(), n.len()))
        .cloned();
    let Some(pkl) = pkl else {
        let torchscript = index.entries.keys().any(|n| n.ends_with("constants.pkl"));
        return Err(format(if torchscript {
            "a TorchScript archive (torch.jit.save), not a torch.save checkpoint".into()
        } else {
            "a zip archive without `data.pkl`: not a torch.save checkpoint".into()
        }));
    };
    let prefix = pkl.strip_suffix("data.pkl").unwrap_or("").to_string();
    if let Some(order) = index.entries.get(&format!("{prefix}byteorder")) {
        let order = &map[order.data.clone()];
        if order != b"little" {
            return Err(format(format!(
                "storages are {}-endian; only little-endian checkpoints are supported",
                String::from_utf8_lossy(order)
            )));
        }
    }
    let pkl_entry = &index.entries[&pkl];
    zip::verify_crc(&map, pkl_entry).map_err(corrupt)?;
    let root = pickle::unpickle(&map[pkl_entry.data.clone()])
        .map_err(|e| format(format!("cannot read `{pkl}`: {e}")))?;

    let Value::Dict(items) = root else {
        return Err(format(format!(
            "the file holds a {}, not a dict of tensors",
            root.describe()
        )));
    };
    let key_of = |k: &Value| match k {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    };
    let nested = STATE_DICT_KEYS.iter().find_map(|wanted| {
        items.iter().find_map(|(k, v)| match (key_of(k), v) {
            (Some(k), Value::Dict(d)) if k == *wanted => Some((k, d)),
            _ => None,
        })
    });
    let mut metadata = BTreeMap::new();
    let (source_key, dict) = match nested {
        Some((key, dict)) => {
            for (k, v) in &items {
                let name = key_of(k).unwrap_or_else(|| format!("{k:?}"));
                if name != key {
                    metadata.insert(name, v.describe());
                }
            }
            (key, dict.clone())
        }
        None if items.iter().any(|(_, v)| matches!(v, Value::Tensor(_))) => (String::new(), items),
        None => {
            let keys: Vec<String> = items.iter().filter_map(|(k, _)| key_of(k)).collect();
            return Err(format(format!(
                "no state dict found: the top-level keys are {keys:?}; expected tensors, or a dict of \
                 tensors under `model` or `state_dict`"
            )));
        }
    };

    let lookup = |record: &str| {
        index
            .entries
            .get(&format!("{prefix}{record}"))
            .map(|e| (e.data.clone(), e.crc32))
    };
    let mut storages = HashMap::new();
    let mut entries = Vec::new();
    let mut unsupported = Vec::new();
    for (k, v) in &dict {
        let Some(name) = key_of(k) else {
            return Err(format(format!(
                "a state-dict key is a {}, not a string",
                k.describe()
            )));
        };
        match v {
            Value::Tensor(t) => entries
                .push(entry_from_pickle(name, t, &mut storages, &lookup, &map).map_err(corrupt)?),
            Value::Unsupported(what) => unsupported.push(format!("`{name}` ({what})")),
            other => {
                let full = if source_key.is_empty() {
                    name
                } else {
                    format!("{source_key}.{name}")
                };
                metadata.insert(full, other.describe());
            }
        }
    }
    if !unsupported.is_empty() {
        return Err(format(format!(
            "state-dict entries of unsupported types: {}",
            unsupported.join(", ")
        )));
    }
    StateDict::new(entries, Format::Torch, metadata, source_key).map_err(format)
}
