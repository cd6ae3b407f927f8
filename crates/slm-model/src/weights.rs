//! Tensors from a `model.safetensors` file (f32, f16 or bf16) onto a Burn device.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use half::{bf16, f16};

use crate::error::{ModelError, Result};

/// An opened safetensors file.
pub struct Weights {
    path: PathBuf,
    map: memmap2::Mmap,
    device: Device,
}

impl Weights {
    /// Memory-maps `path`.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn open(path: &Path, device: &Device) -> Result<Weights> {
        let file = std::fs::File::open(path).map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
        // SAFETY: read-only map of a file slm does not modify while it is open.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
        Ok(Weights { path: path.to_owned(), map, device: device.clone() })
    }

    fn tensors(&self) -> Result<safetensors::SafeTensors<'_>> {
        safetensors::SafeTensors::deserialize(&self.map)
            .map_err(|e| ModelError::format(&self.path, format!("not a safetensors file: {e}")))
    }

    /// Whether the file has a tensor named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors().is_ok_and(|t| t.tensor(name).is_ok())
    }

    fn values(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let st = self.tensors()?;
        let t = st.tensor(name).map_err(|_| ModelError::format(&self.path, format!("tensor `{name}` is missing")))?;
        let data = t.data();
        let values = match t.dtype() {
            safetensors::Dtype::F32 => {
                data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            }
            safetensors::Dtype::F16 => {
                data.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
            safetensors::Dtype::BF16 => {
                data.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
            other => {
                return Err(ModelError::Unsupported {
                    path: self.path.clone(),
                    what: format!("dtype {other:?} of `{name}`"),
                    supported: "slm loads F32, F16 and BF16 weights".into(),
                });
            }
        };
        Ok((t.shape().to_vec(), values))
    }

    /// A rank-2 tensor.
    ///
    /// # Errors
    /// Missing, of another rank, or of an unsupported dtype.
    pub fn matrix(&self, name: &str) -> Result<Tensor<2>> {
        let (shape, values) = self.values(name)?;
        let [r, c] = shape[..] else {
            return Err(ModelError::format(&self.path, format!("`{name}` has shape {shape:?}, expected a matrix")));
        };
        Ok(Tensor::from_data(TensorData::new(values, [r, c]), &self.device))
    }

    /// A rank-1 tensor.
    ///
    /// # Errors
    /// Missing, of another rank, or of an unsupported dtype.
    pub fn vector(&self, name: &str) -> Result<Tensor<1>> {
        let (shape, values) = self.values(name)?;
        let [n] = shape[..] else {
            return Err(ModelError::format(&self.path, format!("`{name}` has shape {shape:?}, expected a vector")));
        };
        Ok(Tensor::from_data(TensorData::new(values, [n]), &self.device))
    }
}
