//! A checkpoint's tensors, read lazily from a memory map: [`StateDict`] lists every entry (name, dtype, shape)
//! and turns one into a tch tensor on demand, so loading the 3.4 GB official checkpoint never holds a second
//! copy of it.

use super::pickle::{StorageDType, TensorRef};
use super::CheckpointError;
use memmap2::Mmap;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use tch::{Kind, Tensor};

/// Element type of a checkpoint tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    C64,
    C128,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::C64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::C128 => 16,
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            DType::F64 => Kind::Double,
            DType::F32 => Kind::Float,
            DType::F16 => Kind::Half,
            DType::BF16 => Kind::BFloat16,
            DType::I64 => Kind::Int64,
            DType::I32 => Kind::Int,
            DType::I16 => Kind::Int16,
            DType::I8 => Kind::Int8,
            DType::U8 => Kind::Uint8,
            DType::Bool => Kind::Bool,
            DType::C64 => Kind::ComplexFloat,
            DType::C128 => Kind::ComplexDouble,
        }
    }

    pub fn from_kind(kind: Kind) -> Option<Self> {
        Some(match kind {
            Kind::Double => DType::F64,
            Kind::Float => DType::F32,
            Kind::Half => DType::F16,
            Kind::BFloat16 => DType::BF16,
            Kind::Int64 => DType::I64,
            Kind::Int => DType::I32,
            Kind::Int16 => DType::I16,
            Kind::Int8 => DType::I8,
            Kind::Uint8 => DType::U8,
            Kind::Bool => DType::Bool,
            Kind::ComplexFloat => DType::C64,
            Kind::ComplexDouble => DType::C128,
            _ => return None,
        })
    }

    /// The torch name (`float32`, `bfloat16`, ...), for messages.
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "float64",
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::I16 => "int16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::Bool => "bool",
            DType::C64 => "complex64",
            DType::C128 => "complex128",
        }
    }

    pub fn is_complex(self) -> bool {
        matches!(self, DType::C64 | DType::C128)
    }

    pub(crate) fn from_storage(d: StorageDType) -> Self {
        match d {
            StorageDType::F64 => DType::F64,
            StorageDType::F32 => DType::F32,
            StorageDType::F16 => DType::F16,
            StorageDType::BF16 => DType::BF16,
            StorageDType::I64 => DType::I64,
            StorageDType::I32 => DType::I32,
            StorageDType::I16 => DType::I16,
            StorageDType::I8 => DType::I8,
            StorageDType::U8 => DType::U8,
            StorageDType::Bool => DType::Bool,
            StorageDType::C64 => DType::C64,
            StorageDType::C128 => DType::C128,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A byte range of the mapped file, checked (once, on first use) against the CRC-32 the archive records.
#[derive(Debug)]
pub(crate) struct Storage {
    pub(crate) file: Arc<Mmap>,
    pub(crate) range: Range<usize>,
    pub(crate) crc32: Option<u32>,
    pub(crate) name: String,
    pub(crate) verified: OnceLock<Result<(), String>>,
}

impl Storage {
    fn bytes(&self) -> Result<&[u8], String> {
        let bytes = &self.file[self.range.clone()];
        let check = self.verified.get_or_init(|| match self.crc32 {
            Some(expected) if crc32fast::hash(bytes) != expected => Err(format!(
                "record `{}` is damaged (CRC-32 mismatch)",
                self.name
            )),
            _ => Ok(()),
        });
        check.clone().map(|()| bytes)
    }
}

/// One tensor of a checkpoint: a strided view of a storage, not yet read.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i64>,
    strides: Vec<i64>,
    offset: i64,
    storage: Arc<Storage>,
}

impl TensorEntry {
    pub(crate) fn new(
        name: String,
        dtype: DType,
        shape: Vec<i64>,
        strides: Vec<i64>,
        offset: i64,
        storage: Arc<Storage>,
    ) -> Result<Self, String> {
        if shape.len() != strides.len() {
            return Err(format!(
                "`{name}`: {} sizes but {} strides",
                shape.len(),
                strides.len()
            ));
        }
        if shape.iter().chain(&strides).any(|&v| v < 0) || offset < 0 {
            return Err(format!("`{name}`: negative size, stride or offset"));
        }
        let entry = TensorEntry {
            name,
            dtype,
            shape,
            strides,
            offset,
            storage,
        };
        // The view must lie inside its storage.
        let span = entry.span_bytes()?;
        if span.end > entry.storage.range.len() {
            return Err(format!(
                "`{}` reaches byte {} of a {}-byte storage (truncated file?)",
                entry.name,
                span.end,
                entry.storage.range.len()
            ));
        }
        Ok(entry)
    }

    pub fn numel(&self) -> i64 {
        self.shape.iter().product()
    }

    /// Bytes of the storage the view covers, from its first to its last element.
    fn span_bytes(&self) -> Result<Range<usize>, String> {
        let overflow = || format!("`{}`: sizes overflow", self.name);
        if self.numel() == 0 {
            return Ok(0..0);
        }
        let mut last: i64 = self.offset;
        for (&s, &st) in self.shape.iter().zip(&self.strides) {
            last = (s - 1)
                .checked_mul(st)
                .and_then(|v| v.checked_add(last))
                .ok_or_else(overflow)?;
        }
        let elem = self.dtype.size() as u64;
        let start = (self.offset as u64)
            .checked_mul(elem)
            .ok_or_else(overflow)?;
        let end = (last as u64 + 1).checked_mul(elem).ok_or_else(overflow)?;
        Ok(usize::try_from(start).map_err(|_| overflow())?
            ..usize::try_from(end).map_err(|_| overflow())?)
    }

    fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&s, &st) in self.shape.iter().zip(&self.strides).rev() {
            if s != 1 && st != expected {
                return false;
            }
            expected *= s;
        }
        true
    }

    /// Reads the tensor into a new contiguous CPU tensor of its own dtype.
    pub fn to_tensor(&self) -> Result<Tensor, CheckpointError> {
        let err = |reason: String| CheckpointError::Tensor {
            name: self.name.clone(),
            reason,
        };
        if cfg!(target_endian = "big") {
            return Err(err(
                "checkpoints are little-endian; this machine is not".into()
            ));
        }
        let kind = self.dtype.kind();
        if self.numel() == 0 {
            return Tensor::f_zeros(&self.shape, (kind, tch::Device::Cpu))
                .map_err(|e| err(e.to_string()));
        }
        let bytes = self.storage.bytes().map_err(err)?;
        let span = self.span_bytes().map_err(err)?;
        let view = &bytes[span.clone()];
        let elems = (span.len() / self.dtype.size()) as i64;
        let flat =
            Tensor::f_from_data_size(view, &[elems], kind).map_err(|e| err(e.to_string()))?;
        let t = if self.is_contiguous() {
            flat.f_reshape(&self.shape)
        } else {
            flat.f_as_strided(&self.shape, &self.strides, 0)
                .and_then(|t| t.f_contiguous())
        };
        t.map_err(|e| err(e.to_string()))
    }
}

/// The container a checkpoint came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` (zip archive with a pickle).
    Torch,
    Safetensors,
}

/// The tensors of a checkpoint, in file order, plus what else the file holds.
#[derive(Debug)]
pub struct StateDict {
    entries: Vec<TensorEntry>,
    index: HashMap<String, usize>,
    pub format: Format,
    /// safetensors `__metadata__`; for torch files, the other top-level entries with a short description
    /// (`epoch` -> `int 3`, `optimizer` -> `dict with 2 entries`, ...), which loading ignores.
    pub metadata: BTreeMap<String, String>,
    /// Where the tensors were found in a torch file: `""` (the whole file), `"model"`, `"state_dict"`.
    pub source_key: String,
}

impl StateDict {
    pub(crate) fn new(
        entries: Vec<TensorEntry>,
        format: Format,
        metadata: BTreeMap<String, String>,
        source_key: String,
    ) -> Result<Self, String> {
        let mut index = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if index.insert(e.name.clone(), i).is_some() {
                return Err(format!("tensor `{}` appears twice", e.name));
            }
        }
        Ok(StateDict {
            entries,
            index,
            format,
            metadata,
            source_key,
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[TensorEntry] {
        &self.entries
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    pub fn get(&self, name: &str) -> Option<&TensorEntry> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    /// Reads one tensor (CPU, its own dtype).
    pub fn tensor(&self, name: &str) -> Result<Tensor, CheckpointError> {
        self.get(name)
            .ok_or_else(|| CheckpointError::Tensor {
                name: name.to_string(),
                reason: "not in the checkpoint".into(),
            })?
            .to_tensor()
    }
}

/// Finds an archive record by name: its byte range and CRC-32.
pub(crate) type RecordLookup<'a> = dyn Fn(&str) -> Option<(Range<usize>, u32)> + 'a;

/// Builds the entry of a pickled tensor over archive storages.
pub(crate) fn entry_from_pickle(
    name: String,
    t: &TensorRef,
    storages: &mut HashMap<String, Arc<Storage>>,
    lookup: &RecordLookup,
    file: &Arc<Mmap>,
) -> Result<TensorEntry, String> {
    let dtype = DType::from_storage(t.storage.dtype);
    let storage = match storages.get(&t.storage.key) {
        Some(s) => s.clone(),
        None => {
            let record = format!("data/{}", t.storage.key);
            let (range, crc) = lookup(&record).ok_or_else(|| {
                format!("`{name}`: storage record `{record}` is missing from the archive")
            })?;
            let needed = t.storage.numel.checked_mul(dtype.size() as u64);
            if needed.is_none_or(|n| n > range.len() as u64) {
                return Err(format!(
                    "`{name}`: storage `{record}` holds {} bytes, {} {} elements need more (truncated?)",
                    range.len(),
                    t.storage.numel,
                    dtype
                ));
            }
            let s = Arc::new(Storage {
                file: file.clone(),
                range,
                crc32: Some(crc),
                name: record,
                verified: OnceLock::new(),
            });
            storages.insert(t.storage.key.clone(), s.clone());
            s
        }
    };
    TensorEntry::new(
        name,
        dtype,
        t.shape.clone(),
        t.strides.clone(),
        t.offset,
        storage,
    )
}

/// An entry over a contiguous byte range (safetensors).
pub(crate) fn contiguous_entry(
    name: String,
    dtype: DType,
    shape: Vec<i64>,
    file: &Arc<Mmap>,
    range: Range<usize>,
) -> Result<TensorEntry, String> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1i64;
    for (i, &s) in shape.iter().enumerate().rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(s.max(1));
    }
    let storage = Arc::new(Storage {
        file: file.clone(),
        range,
        crc32: None,
        name: name.clone(),
        verified: OnceLock::new(),
    });
    TensorEntry::new(name, dtype, shape, strides, 0, storage)
}
