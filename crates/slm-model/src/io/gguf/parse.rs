//! The GGUF header: magic, version, counts, metadata and tensor descriptions, with every read bounds-checked
//! so that a truncated file is an error that says where it ends.

use std::collections::BTreeMap;
use std::path::Path;

use super::{GgmlType, TensorInfo, Value};
use crate::error::{ModelError, Result};

/// The most elements a tensor may have (2^48: far more than any model, far from overflowing a size).
const MAX_ELEMENTS: u64 = 1 << 48;

/// What precedes the tensor data.
pub struct Header {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub data_start: usize,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            ModelError::format(
                self.path,
                format!("truncated while reading {what} (at byte {} of {})", self.pos, self.bytes.len()),
            )
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        let len = usize::try_from(len)
            .map_err(|_| ModelError::format(self.path, format!("{what} has an impossible length {len}")))?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ModelError::format(self.path, format!("{what} is not UTF-8")))
    }

    fn value(&mut self, ty: u32, what: &str) -> Result<Value> {
        Ok(match ty {
            0 => Value::U64(u64::from(self.array::<1>(what)?[0])),
            1 => Value::I64(i64::from(i8::from_le_bytes(self.array(what)?))),
            2 => Value::U64(u64::from(u16::from_le_bytes(self.array(what)?))),
            3 => Value::I64(i64::from(i16::from_le_bytes(self.array(what)?))),
            4 => Value::U64(u64::from(self.u32(what)?)),
            5 => Value::I64(i64::from(i32::from_le_bytes(self.array(what)?))),
            6 => Value::F64(f64::from(f32::from_le_bytes(self.array(what)?))),
            7 => Value::Bool(self.array::<1>(what)?[0] != 0),
            8 => Value::Str(self.string(what)?),
            9 => {
                let item_ty = self.u32(what)?;
                let n = self.u64(what)?;
                let mut items = Vec::with_capacity(n.min(1 << 20) as usize);
                for _ in 0..n {
                    items.push(self.value(item_ty, what)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            other => {
                return Err(ModelError::format(self.path, format!("{what} has an unknown value type {other}")));
            }
        })
    }
}

/// Parses everything before the tensor data.
pub fn header(bytes: &[u8], path: &Path) -> Result<Header> {
    let mut c = Cursor { bytes, pos: 0, path };
    if c.take(4, "the magic number")? != b"GGUF" {
        return Err(ModelError::format(path, "not a GGUF file (the first four bytes are not `GGUF`)"));
    }
    let version = c.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(ModelError::Unsupported {
            path: path.to_owned(),
            what: format!("GGUF version {version}"),
            supported: "slm reads versions 2 and 3".into(),
        });
    }
    let n_tensors = c.u64("the tensor count")?;
    let n_kv = c.u64("the metadata count")?;
    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let key = c.string(&format!("the key of metadata entry {i}"))?;
        let ty = c.u32(&format!("the type of `{key}`"))?;
        let value = c.value(ty, &format!("the value of `{key}`"))?;
        metadata.insert(key, value);
    }
    let mut tensors = Vec::with_capacity(n_tensors.min(1 << 16) as usize);
    for i in 0..n_tensors {
        let name = c.string(&format!("the name of tensor {i}"))?;
        let n_dims = c.u32(&format!("the rank of {name}"))?;
        if n_dims > 4 {
            return Err(ModelError::format(
                path,
                format!("tensor {name} has {n_dims} dimensions; GGUF allows at most 4"),
            ));
        }
        let dims = (0..n_dims).map(|_| c.u64(&format!("the dimensions of {name}"))).collect::<Result<Vec<_>>>()?;
        // Element counts (and byte sizes, at most a few bytes each) must stay far from overflowing.
        if dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(ModelError::format(path, format!("tensor {name} has dimensions {dims:?}: too many elements")));
        }
        let ggml_type = GgmlType::from_id(c.u32(&format!("the type of {name}"))?);
        let offset = c.u64(&format!("the offset of {name}"))?;
        tensors.push(TensorInfo { name, dims, ggml_type, offset });
    }
    let alignment = metadata.get("general.alignment").and_then(Value::as_u64).unwrap_or(32) as usize;
    if alignment == 0 || !alignment.is_power_of_two() {
        return Err(ModelError::format(path, format!("general.alignment must be a power of two, got {alignment}")));
    }
    let data_start = c.pos.div_ceil(alignment) * alignment;
    Ok(Header { version, metadata, tensors, data_start })
}
