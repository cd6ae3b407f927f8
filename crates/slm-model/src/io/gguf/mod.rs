//! GGUF, the file format of llama.cpp (versions 2 and 3): a header, typed metadata key/values, tensor
//! descriptions, then the aligned tensor data. The file is memory-mapped; tensors are dequantized to f32
//! on request. [`import_gguf`] turns a file into a Hugging Face model directory; [`export_gguf`] writes
//! version 3 files of the llama architecture.

mod dequant;
mod export;
mod import;
mod parse;
mod tokenizer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use dequant::GgmlType;
pub use export::{ExportSummary, ExportType, export_gguf, quantize_q8_0};
pub use import::import_gguf;
pub use tokenizer::to_hf_tokenizer;

use crate::error::{ModelError, Result};

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any unsigned integer type.
    U64(u64),
    /// Any signed integer type.
    I64(i64),
    /// f32 or f64.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    Str(String),
    /// An array of values of one type.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where a tensor's data is and how it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The llama.cpp name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in GGUF order: the first is the contiguous one (PyTorch's last).
    pub dims: Vec<u64>,
    /// The storage type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Whether the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape in row-major order, outermost first (PyTorch's order).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// An open GGUF file.
pub struct Gguf {
    path: PathBuf,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata, by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensor descriptions, in file order.
    pub tensors: Vec<TensorInfo>,
    map: memmap2::Mmap,
    data_start: usize,
}

impl Gguf {
    /// Opens and parses `path`; tensor data is read only when asked for.
    ///
    /// # Errors
    /// The file cannot be read, is not GGUF, is truncated, or has a version other than 2 or 3.
    pub fn open(path: &Path) -> Result<Gguf> {
        let file = std::fs::File::open(path).map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
        // SAFETY: the map is read-only and slm never writes the file while it is open; a file changed by
        // another process underneath would give wrong numbers, not undefined behaviour in safe code reading
        // plain bytes.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
        let header = parse::header(&map, path)?;
        let gguf = Gguf {
            path: path.to_owned(),
            version: header.version,
            metadata: header.metadata,
            tensors: header.tensors,
            map,
            data_start: header.data_start,
        };
        for t in &gguf.tensors {
            gguf.tensor_bytes(t)?;
        }
        Ok(gguf)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A required metadata value.
    ///
    /// # Errors
    /// The key is missing.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| ModelError::format(&self.path, format!("the metadata key `{key}` is missing")))
    }

    /// A tensor description by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    fn tensor_bytes(&self, t: &TensorInfo) -> Result<&[u8]> {
        let size = t.ggml_type.byte_size(t.len()).ok_or_else(|| {
            ModelError::format(
                &self.path,
                format!(
                    "tensor {} has {} elements, not a whole number of {} blocks",
                    t.name,
                    t.len(),
                    t.ggml_type.name()
                ),
            )
        })?;
        let start = (self.data_start as u64).checked_add(t.offset);
        match start.and_then(|s| Some((s, s.checked_add(size)?))) {
            Some((start, end)) if end <= self.map.len() as u64 => Ok(&self.map[start as usize..end as usize]),
            _ => Err(ModelError::format(
                &self.path,
                format!(
                    "truncated: tensor {} needs {size} bytes at offset {} of the data but the file has {} bytes",
                    t.name,
                    t.offset,
                    self.map.len()
                ),
            )),
        }
    }

    /// The tensor `t` dequantized to f32, in row-major order of [`TensorInfo::shape`].
    ///
    /// # Errors
    /// The tensor's type is not supported.
    pub fn to_f32(&self, t: &TensorInfo) -> Result<Vec<f32>> {
        if let GgmlType::Other(id) = t.ggml_type {
            return Err(ModelError::Unsupported {
                path: self.path.clone(),
                what: format!("tensor type {} ({id}) of {}", t.ggml_type.name(), t.name),
                supported: "slm reads F32, F16, BF16, Q8_0, Q4_0 and Q4_1".into(),
            });
        }
        Ok(t.ggml_type.dequantize(self.tensor_bytes(t)?))
    }
}
