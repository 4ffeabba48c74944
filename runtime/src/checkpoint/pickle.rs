//! A small unpickler for what `torch.save` writes: dicts (and `OrderedDict`), lists, tuples, sets, ints,
//! floats, strings, bytes, booleans, `None`, and tensors (`torch._utils._rebuild_tensor_v2` over a persistent
//! storage id). Nothing is ever executed: a global is only a name, and `REDUCE` builds a value only for the
//! callables above. Any other object becomes [`Value::Unsupported`], an error only if it is needed (inside the
//! state dict); elsewhere (an optimizer's extras, say) it is just reported.
//!
//! Objects live in an arena so that memoized containers are shared, as in Python: a list appended to after it
//! was memoized is seen complete through every reference.

use std::collections::HashMap;

/// Element types of torch storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageDType {
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

impl StorageDType {
    /// From a storage class name (`torch.FloatStorage`, ...) as `torch.save` pickles it.
    fn from_storage_class(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => Self::F64,
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            "ComplexFloatStorage" => Self::C64,
            "ComplexDoubleStorage" => Self::C128,
            _ => return None,
        })
    }
}

/// A storage referenced by a tensor: the archive record `data/<key>` holding `numel` elements.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub dtype: StorageDType,
    pub key: String,
    pub numel: u64,
}

/// A tensor as pickled: a view (offset, sizes, strides in elements) of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: i64,
    pub shape: Vec<i64>,
    pub strides: Vec<i64>,
}

/// An unpickled value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    /// Keys and values in pickle order (a dict or an `OrderedDict`).
    Dict(Vec<(Value, Value)>),
    Tensor(TensorRef),
    /// An object this reader does not build, by its class or function name.
    Unsupported(String),
}

impl Value {
    /// A short description for reports: `dict with 3 entries`, `int 7`, ...
    pub fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => format!("bool {}", if *b { "True" } else { "False" }),
            Value::Int(i) => format!("int {i}"),
            Value::Float(f) => format!("float {f}"),
            Value::Str(s) if s.len() <= 40 => format!("str {s:?}"),
            Value::Str(s) => format!("str of {} chars", s.chars().count()),
            Value::Bytes(b) => format!("bytes ({})", b.len()),
            Value::List(v) => format!("list of {}", v.len()),
            Value::Tuple(v) => format!("tuple of {}", v.len()),
            Value::Set(v) => format!("set of {}", v.len()),
            Value::Dict(v) => format!("dict with {} entries", v.len()),
            Value::Tensor(t) => format!("tensor {:?} {:?}", t.storage.dtype, t.shape),
            Value::Unsupported(what) => format!("unsupported object `{what}`"),
        }
    }
}

/// Arena objects: containers refer to other objects by index.
#[derive(Debug, Clone)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Set(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Global(String, String),
    Storage(StorageRef),
    Tensor(TensorRef),
    Unsupported(String),
}

/// Limits against hostile or damaged input.
const MAX_OBJECTS: usize = 50_000_000;
const MAX_DEPTH: usize = 200;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    arena: Vec<Obj>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u64, usize>,
}

/// Unpickles `data`. Errors say what is wrong and at which byte.
pub fn unpickle(data: &[u8]) -> Result<Value, String> {
    let mut m = Machine {
        data,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run()?;
    let mut budget = MAX_OBJECTS;
    m.to_value(root, 0, &mut budget)
}

impl Machine<'_> {
    fn err<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("pickle byte {}: {msg}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        match self.pos.checked_add(n).filter(|&e| e <= self.data.len()) {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.err("the pickle ends in the middle of an instruction (truncated)"),
        }
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return self.err("unterminated text argument");
        };
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn len(&mut self, n: u64) -> Result<usize, String> {
        match usize::try_from(n) {
            Ok(n) if n <= self.data.len() - self.pos => Ok(n),
            _ => self.err(format!("length {n} runs past the end of the pickle")),
        }
    }

    fn alloc(&mut self, o: Obj) -> Result<usize, String> {
        if self.arena.len() >= MAX_OBJECTS {
            return self.err("too many objects");
        }
        self.arena.push(o);
        Ok(self.arena.len() - 1)
    }

    fn push(&mut self, o: Obj) -> Result<(), String> {
        let id = self.alloc(o)?;
        self.stack.push(id);
        Ok(())
    }

    fn pop(&mut self) -> Result<usize, String> {
        match self.stack.pop() {
            Some(id) => Ok(id),
            None => self.err("stack underflow"),
        }
    }

    fn top(&self) -> Result<usize, String> {
        match self.stack.last() {
            Some(id) => Ok(*id),
            None => self.err("stack underflow"),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<usize>, String> {
        let Some(mark) = self.marks.pop() else {
            return self.err("MARK expected");
        };
        if mark > self.stack.len() {
            return self.err("stack underflow");
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), String> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<(), String> {
        match self.memo.get(&key) {
            Some(&id) => {
                self.stack.push(id);
                Ok(())
            }
            None => self.err(format!("memo key {key} was never stored")),
        }
    }

    fn int_of(&self, id: usize) -> Option<i64> {
        match &self.arena[id] {
            Obj::Int(i) => Some(*i),
            Obj::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    fn ints_of(&self, id: usize) -> Option<Vec<i64>> {
        match &self.arena[id] {
            Obj::Tuple(items) | Obj::List(items) => items.iter().map(|&i| self.int_of(i)).collect(),
            _ => None,
        }
    }

    /// Appends items to the list or set `target`.
    fn extend(&mut self, target: usize, items: Vec<usize>) -> Result<(), String> {
        match &mut self.arena[target] {
            Obj::List(v) | Obj::Set(v) => {
                v.extend(items);
                Ok(())
            }
            Obj::Unsupported(_) => Ok(()),
            _ => self.err("APPEND to something that is not a list"),
        }
    }

    fn set_items(&mut self, target: usize, items: Vec<usize>) -> Result<(), String> {
        if items.len() % 2 == 1 {
            return self.err("SETITEMS with an odd number of items");
        }
        match &mut self.arena[target] {
            Obj::Dict(v) => {
                v.extend(items.chunks(2).map(|kv| (kv[0], kv[1])));
                Ok(())
            }
            Obj::Unsupported(_) => Ok(()),
            _ => self.err("SETITEM on something that is not a dict"),
        }
    }

    /// `persistent_load` of torch: `('storage', StorageClass, key, location, numel)`.
    fn persistent(&mut self, pid: usize) -> Result<Obj, String> {
        let Obj::Tuple(items) = &self.arena[pid] else {
            return self.err("persistent id is not a tuple");
        };
        let items = items.clone();
        if items.len() != 5 || !matches!(&self.arena[items[0]], Obj::Str(s) if s == "storage") {
            return self.err("persistent id is not a torch storage record");
        }
        let Obj::Global(_, class) = &self.arena[items[1]] else {
            return self.err("storage type is not a class");
        };
        let Some(dtype) = StorageDType::from_storage_class(class) else {
            return self.err(format!("unsupported storage type `{class}`"));
        };
        let Obj::Str(key) = &self.arena[items[2]] else {
            return self.err("storage key is not a string");
        };
        let Some(numel) = self.int_of(items[4]).and_then(|n| u64::try_from(n).ok()) else {
            return self.err("storage size is not a non-negative int");
        };
        Ok(Obj::Storage(StorageRef {
            dtype,
            key: key.clone(),
            numel,
        }))
    }

    /// `REDUCE`: builds the few values torch checkpoints need; anything else stays an opaque name.
    fn reduce(&mut self, callable: usize, args: usize) -> Result<Obj, String> {
        let (module, name) = match &self.arena[callable] {
            Obj::Global(m, n) => (m.clone(), n.clone()),
            Obj::Unsupported(what) => return Ok(Obj::Unsupported(what.clone())),
            _ => return self.err("REDUCE of something that is not a global"),
        };
        let arg_ids = match &self.arena[args] {
            Obj::Tuple(a) => a.clone(),
            _ => return self.err("REDUCE arguments are not a tuple"),
        };
        match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") if arg_ids.is_empty() => Ok(Obj::Dict(Vec::new())),
            ("builtins", "set") | ("builtins", "frozenset") | ("__builtin__", "set") => {
                match arg_ids.first().map(|&i| &self.arena[i]) {
                    None => Ok(Obj::Set(Vec::new())),
                    Some(Obj::List(v)) | Some(Obj::Tuple(v)) => Ok(Obj::Set(v.clone())),
                    _ => self.err("set() of something that is not a list"),
                }
            }
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                if arg_ids.len() < 4 {
                    return self.err("_rebuild_tensor_v2 with too few arguments");
                }
                let Obj::Storage(storage) = &self.arena[arg_ids[0]] else {
                    return self.err("_rebuild_tensor_v2 without a storage");
                };
                let storage = storage.clone();
                let offset = self.int_of(arg_ids[1]);
                let shape = self.ints_of(arg_ids[2]);
                let strides = self.ints_of(arg_ids[3]);
                match (offset, shape, strides) {
                    (Some(offset), Some(shape), Some(strides)) => Ok(Obj::Tensor(TensorRef {
                        storage,
                        offset,
                        shape,
                        strides,
                    })),
                    _ => self.err("_rebuild_tensor_v2 with malformed offset, sizes or strides"),
                }
            }
            // nn.Parameter: the data is the first argument.
            ("torch._utils", "_rebuild_parameter")
            | ("torch._utils", "_rebuild_parameter_with_state") => match arg_ids.first() {
                Some(&data) if matches!(self.arena[data], Obj::Tensor(_)) => {
                    Ok(self.arena[data].clone())
                }
                _ => self.err("_rebuild_parameter without a tensor"),
            },
            // A tensor subclass: (function, type, args, state); the plain tensor is enough.
            ("torch._tensor", "_rebuild_from_type_v2") => {
                if arg_ids.len() < 3 {
                    return self.err("_rebuild_from_type_v2 with too few arguments");
                }
                self.reduce(arg_ids[0], arg_ids[2])
            }
            _ => Ok(Obj::Unsupported(format!("{module}.{name}"))),
        }
    }

    fn run(&mut self) -> Result<usize, String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return self.err(format!("unsupported pickle protocol {proto}"));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'N' => self.push(Obj::None)?,
                0x88 => self.push(Obj::Bool(true))?,
                0x89 => self.push(Obj::Bool(false))?,
                b'I' => {
                    let s = self.line()?;
                    let o = match s.as_str() {
                        "01" => Obj::Bool(true),
                        "00" => Obj::Bool(false),
                        _ => match s.parse() {
                            Ok(i) => Obj::Int(i),
                            Err(_) => return self.err(format!("bad INT {s:?}")),
                        },
                    };
                    self.push(o)?;
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Obj::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Obj::Int(i64::from(v)))?;
                }
                b'L' => {
                    let s = self.line()?;
                    match s.trim_end_matches('L').parse() {
                        Ok(i) => self.push(Obj::Int(i))?,
                        Err(_) => return self.err(format!("unsupported LONG {s:?}")),
                    }
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        u64::from(self.u8()?)
                    } else {
                        u64::from(self.u32()?)
                    };
                    let n = self.len(n)?;
                    let bytes = self.take(n)?.to_vec();
                    if n > 8 {
                        return self.err(format!("integer of {n} bytes does not fit in 64 bits"));
                    }
                    let mut v: i64 = 0;
                    for (i, b) in bytes.iter().enumerate() {
                        v |= i64::from(*b) << (8 * i);
                    }
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n); // sign-extend two's complement
                    }
                    self.push(Obj::Int(v))?;
                }
                b'F' => {
                    let s = self.line()?;
                    match s.parse() {
                        Ok(f) => self.push(Obj::Float(f))?,
                        Err(_) => return self.err(format!("bad FLOAT {s:?}")),
                    }
                }
                b'G' => {
                    let b = self.take(8)?;
                    let f = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.push(Obj::Float(f))?;
                }
                b'X' | 0x8c | 0x8d | b'T' | b'U' => {
                    let n = match op {
                        0x8c | b'U' => u64::from(self.u8()?),
                        0x8d => self.u64()?,
                        _ => u64::from(self.u32()?),
                    };
                    let n = self.len(n)?;
                    let bytes = self.take(n)?;
                    let s = match std::str::from_utf8(bytes) {
                        Ok(s) => s.to_string(),
                        Err(_) if op == b'T' || op == b'U' => String::from_utf8_lossy(bytes).into(),
                        Err(_) => return self.err("string is not UTF-8"),
                    };
                    self.push(Obj::Str(s))?;
                }
                b'V' => {
                    let s = self.line()?;
                    self.push(Obj::Str(s))?;
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => u64::from(self.u8()?),
                        b'B' => u64::from(self.u32()?),
                        _ => self.u64()?,
                    };
                    let n = self.len(n)?;
                    let bytes = self.take(n)?.to_vec();
                    self.push(Obj::Bytes(bytes))?;
                }
                b']' => self.push(Obj::List(Vec::new()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(items))?;
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.extend(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.extend(list, items)?;
                }
                b')' => self.push(Obj::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return self.err("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Obj::Tuple(items))?;
                }
                b'}' => self.push(Obj::Dict(Vec::new()))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    let id = self.alloc(Obj::Dict(Vec::new()))?;
                    self.set_items(id, items)?;
                    self.stack.push(id);
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let dict = self.top()?;
                    self.set_items(dict, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?;
                    self.set_items(dict, items)?;
                }
                0x8f => self.push(Obj::Set(Vec::new()))?,
                0x90 => {
                    let items = self.pop_mark()?;
                    let set = self.top()?;
                    self.extend(set, items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Set(items))?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Obj::Global(module, name))?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.arena[module], &self.arena[name]) {
                        (Obj::Str(m), Obj::Str(n)) => {
                            let g = Obj::Global(m.clone(), n.clone());
                            self.push(g)?;
                        }
                        _ => return self.err("STACK_GLOBAL of non-strings"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let o = self.reduce(callable, args)?;
                    self.push(o)?;
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?; // kwargs
                    }
                    self.pop()?; // args
                    let cls = self.pop()?;
                    let what = match &self.arena[cls] {
                        Obj::Global(m, n) => format!("{m}.{n}"),
                        _ => "object".into(),
                    };
                    self.push(Obj::Unsupported(what))?;
                }
                b'b' => {
                    // BUILD sets an object's state: `OrderedDict` state (the `_metadata` of a state dict) is
                    // irrelevant here, and other objects are unsupported anyway.
                    self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let o = self.persistent(pid)?;
                    self.push(o)?;
                }
                b'P' => return self.err("text persistent ids are not written by torch.save"),
                b'p' => {
                    let s = self.line()?;
                    match s.parse() {
                        Ok(k) => self.memo_put(k)?,
                        Err(_) => return self.err(format!("bad PUT {s:?}")),
                    }
                }
                b'q' => {
                    let k = u64::from(self.u8()?);
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = u64::from(self.u32()?);
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'g' => {
                    let s = self.line()?;
                    match s.parse() {
                        Ok(k) => self.memo_get(k)?,
                        Err(_) => return self.err(format!("bad GET {s:?}")),
                    }
                }
                b'h' => {
                    let k = u64::from(self.u8()?);
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = u64::from(self.u32()?);
                    self.memo_get(k)?;
                }
                other => {
                    self.pos -= 1;
                    return self.err(format!(
                        "unsupported pickle opcode 0x{other:02x} (not something torch.save writes)"
                    ));
                }
            }
        }
    }

    fn to_value(&self, id: usize, depth: usize, budget: &mut usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("the pickle nests too deeply (or refers to itself)".into());
        }
        *budget = budget
            .checked_sub(1)
            .ok_or("the pickle expands to too many objects")?;
        let list = |items: &[usize], budget: &mut usize| -> Result<Vec<Value>, String> {
            items
                .iter()
                .map(|&i| self.to_value(i, depth + 1, budget))
                .collect()
        };
        Ok(match &self.arena[id] {
            Obj::None => Value::None,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::Int(*i),
            Obj::Float(f) => Value::Float(*f),
            Obj::Str(s) => Value::Str(s.clone()),
            Obj::Bytes(b) => Value::Bytes(b.clone()),
            Obj::List(items) => Value::List(list(items, budget)?),
            Obj::Tuple(items) => Value::Tuple(list(items, budget)?),
            Obj::Set(items) => Value::Set(list(items, budget)?),
            Obj::Dict(items) => Value::Dict(
                items
                    .iter()
                    .map(|&(k, v)| {
                        Ok((
                            self.to_value(k, depth + 1, budget)?,
                            self.to_value(v, depth + 1, budget)?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            Obj::Global(m, n) => Value::Unsupported(format!("{m}.{n}")),
            Obj::Storage(s) => Value::Unsupported(format!("a bare storage `{}`", s.key)),
            Obj::Tensor(t) => Value::Tensor(t.clone()),
            Obj::Unsupported(what) => Value::Unsupported(what.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memoized_containers_are_shared() {
        // l = []; memoized; a second reference to l is pushed; 1 is appended through the top reference; then
        // the tuple (l, l): both references must see [1], as in Python.
        let p = b"\x80\x02]q\x01h\x01K\x01a\x86.";
        let l = Value::List(vec![Value::Int(1)]);
        assert_eq!(unpickle(p).unwrap(), Value::Tuple(vec![l.clone(), l]));
    }

    #[test]
    fn long1_is_signed_little_endian() {
        let p = b"\x80\x02\x8a\x02\xff\x7f.";
        assert_eq!(unpickle(p).unwrap(), Value::Int(0x7fff));
        let p = b"\x80\x02\x8a\x01\xff.";
        assert_eq!(unpickle(p).unwrap(), Value::Int(-1));
    }

    #[test]
    fn self_referencing_list_is_an_error_not_a_hang() {
        // l = []; l.append(l)
        let p = b"\x80\x02]q\x00h\x00a.";
        assert!(unpickle(p).unwrap_err().contains("nests too deeply"));
    }

    #[test]
    fn damaged_pickles_are_errors() {
        for p in [
            &b""[..],
            b"\x80",
            b"\x80\x02",
            b"\x80\x02X\xff\xff\xff\x7f",
            b"\x80\x02h\x05.",
            b"\x80\x02s.",
        ] {
            assert!(unpickle(p).is_err(), "{p:?}");
        }
    }
}
