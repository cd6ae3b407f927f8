//! Tensors from a `model.safetensors` file (f32, f16 or bf16), read by name.

use std::path::{Path, PathBuf};

use half::{bf16, f16};

use crate::error::{ModelError, Result};

/// An opened safetensors file.
pub struct Weights {
    path: PathBuf,
    map: memmap2::Mmap,
}

impl Weights {
    /// Memory-maps `path`.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn open(path: &Path) -> Result<Weights> {
        let file = std::fs::File::open(path).map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
        // SAFETY: read-only map of a file slm does not modify while it is open.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
        Ok(Weights { path: path.to_owned(), map })
    }

    fn tensors(&self) -> Result<safetensors::SafeTensors<'_>> {
        safetensors::SafeTensors::deserialize(&self.map)
            .map_err(|e| ModelError::format(&self.path, format!("not a safetensors file: {e}")))
    }

    /// Whether the file has a tensor named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors().is_ok_and(|t| t.tensor(name).is_ok())
    }

    /// Names of all tensors in the file.
    ///
    /// # Errors
    /// Not a safetensors file.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self.tensors()?.names().into_iter().map(str::to_owned).collect())
    }

    /// The error for a problem with this file.
    pub fn error(&self, problem: String) -> ModelError {
        ModelError::format(&self.path, problem)
    }

    /// Shape and f32 values of `name`, or `None` when the file has no such tensor.
    ///
    /// # Errors
    /// Not a safetensors file, or a dtype other than F32, F16 and BF16.
    pub fn raw(&self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        let st = self.tensors()?;
        let Ok(t) = st.tensor(name) else { return Ok(None) };
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
        Ok(Some((t.shape().to_vec(), values)))
    }
}
