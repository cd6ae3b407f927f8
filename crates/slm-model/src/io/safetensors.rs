//! safetensors files: tensors read by name from a memory-mapped file or a sharded model directory (f32,
//! f16, bf16 and slm's int8), and written from host copies of a model's parameters.

use std::path::{Path, PathBuf};

use half::{bf16, f16};

use crate::error::{ModelError, Result};
use crate::nn::{ParamMut, TensorMut};

/// An opened safetensors file.
pub struct Weights {
    path: PathBuf,
    map: memmap2::Mmap,
    /// Where the tensor data starts (after the 8-byte length and the JSON header).
    data_start: usize,
    /// The header, parsed once.
    metadata: safetensors::tensor::Metadata,
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
        let (header, metadata) = safetensors::SafeTensors::read_metadata(&map)
            .map_err(|e| ModelError::format(path, format!("not a safetensors file: {e}")))?;
        Ok(Weights { path: path.to_owned(), map, data_start: 8 + header, metadata })
    }

    /// Whether the file has a tensor named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.metadata.info(name).is_some()
    }

    /// The storage type of `name`, when the file has it.
    ///
    /// # Errors
    /// Not a safetensors file.
    pub fn dtype(&self, name: &str) -> Result<Option<safetensors::Dtype>> {
        Ok(self.metadata.info(name).map(|t| t.dtype))
    }

    /// Names of all tensors in the file.
    ///
    /// # Errors
    /// Not a safetensors file.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self.metadata.tensors().into_keys().collect())
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
        let Some(t) = self.metadata.info(name) else { return Ok(None) };
        let (start, end) = t.data_offsets;
        let data = self.map.get(self.data_start + start..self.data_start + end).ok_or_else(|| {
            ModelError::format(&self.path, format!("the data of `{name}` lies past the end of the file"))
        })?;
        let values = match t.dtype {
            safetensors::Dtype::F32 => {
                data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            }
            safetensors::Dtype::F16 => {
                data.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
            safetensors::Dtype::BF16 => {
                data.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
            safetensors::Dtype::I8 => {
                // slm's int8 matrices: one f32 scale per row (output channel) in `<name>_scale`.
                let scale_name = format!("{name}_scale");
                let (_, scales) = self.raw(&scale_name)?.ok_or_else(|| {
                    ModelError::format(&self.path, format!("int8 tensor `{name}` has no `{scale_name}`"))
                })?;
                let cols = t.shape.iter().skip(1).product::<usize>().max(1);
                if scales.len() * cols != data.len() {
                    return Err(ModelError::format(&self.path, format!("`{scale_name}` does not match `{name}`")));
                }
                data.iter().enumerate().map(|(i, &q)| f32::from(q as i8) * scales[i / cols]).collect()
            }
            other => {
                return Err(ModelError::Unsupported {
                    path: self.path.clone(),
                    what: format!("dtype {other:?} of `{name}`"),
                    supported: "slm loads F32, F16, BF16 and its own int8 (with per-row scales) weights".into(),
                });
            }
        };
        Ok(Some((t.shape.clone(), values)))
    }
}

/// The weights of a model directory: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists (its `weight_map` names the shard of every tensor).
pub struct DirWeights {
    shards: Vec<Weights>,
    /// Tensor name -> shard.
    index: std::collections::HashMap<String, usize>,
    path: PathBuf,
}

impl DirWeights {
    /// Opens the weights of `dir`.
    ///
    /// # Errors
    /// No weights file, an index that does not parse, or a shard that cannot be read.
    pub fn open(dir: &Path) -> Result<DirWeights> {
        let index_path = dir.join("model.safetensors.index.json");
        if !index_path.is_file() {
            let single = Weights::open(&dir.join("model.safetensors"))?;
            let index = single.names()?.into_iter().map(|n| (n, 0)).collect();
            return Ok(DirWeights { path: single.path.clone(), shards: vec![single], index });
        }
        let text =
            std::fs::read_to_string(&index_path).map_err(|e| ModelError::Io { path: index_path.clone(), source: e })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::format(&index_path, format!("not JSON: {e}")))?;
        let map = json["weight_map"]
            .as_object()
            .ok_or_else(|| ModelError::format(&index_path, "has no `weight_map` object"))?;
        let mut files: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        files.sort();
        files.dedup();
        let shards = files.iter().map(|f| Weights::open(&dir.join(f))).collect::<Result<Vec<_>>>()?;
        let index = map
            .iter()
            .filter_map(|(name, file)| {
                Some((name.clone(), files.iter().position(|f| Some(f.as_str()) == file.as_str())?))
            })
            .collect();
        Ok(DirWeights { shards, index, path: index_path })
    }

    /// Whether a tensor named `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Shape and f32 values of `name`, or `None` when no shard has it.
    ///
    /// # Errors
    /// As [`Weights::raw`].
    pub fn raw(&self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        match self.index.get(name) {
            Some(&shard) => self.shards[shard].raw(name),
            None => Ok(None),
        }
    }

    /// The error for a problem with these weights.
    pub fn error(&self, problem: String) -> ModelError {
        ModelError::format(&self.path, problem)
    }
}

impl crate::transformer::Checkpoint for DirWeights {
    fn contains(&self, name: &str) -> bool {
        DirWeights::contains(self, name)
    }

    fn raw(&self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        DirWeights::raw(self, name)
    }

    fn error(&self, problem: String) -> ModelError {
        DirWeights::error(self, problem)
    }
}

/// Writes f32 tensors `(name, shape, values)` to a safetensors file readable by everyone.
///
/// # Errors
/// The file cannot be written.
pub fn write_safetensors<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
    path: &Path,
) -> Result<()> {
    let tensors =
        tensors.into_iter().map(|(name, shape, data)| (name, safetensors::Dtype::F32, shape, bytemuck_f32(data)));
    write_raw(tensors, path)
}

/// Writes tensors `(name, dtype, shape, little-endian bytes)` to a safetensors file readable by everyone.
///
/// # Errors
/// The file cannot be written.
pub fn write_raw<'a>(
    tensors: impl IntoIterator<Item = (&'a str, safetensors::Dtype, &'a [usize], &'a [u8])>,
    path: &Path,
) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .into_iter()
        .map(|(name, dtype, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(dtype, shape.to_vec(), bytes).expect("shape matches the data");
            (name.to_owned(), view)
        })
        .collect();
    let meta = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize_to_file(views, Some(meta), path)
        .map_err(|e| ModelError::format(path, format!("cannot write safetensors: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| ModelError::Io { path: path.to_owned(), source: e })?;
    }
    Ok(())
}

/// Host copies of `params` in HF layout: `(name, shape, values)`.
pub fn host_tensors(params: Vec<ParamMut<'_>>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    params
        .into_iter()
        .map(|p| {
            let (shape, values) = match p.tensor {
                TensorMut::Vector(t) => (t.dims().to_vec(), to_vec(t.clone().into_data())),
                TensorMut::Matrix(t) if p.hf_transposed => {
                    let [r, c] = t.dims();
                    (vec![c, r], to_vec(t.clone().transpose().into_data()))
                }
                TensorMut::Matrix(t) => (t.dims().to_vec(), to_vec(t.clone().into_data())),
            };
            (p.name, shape, values)
        })
        .collect()
}

fn to_vec(data: burn::tensor::TensorData) -> Vec<f32> {
    data.convert::<f32>().try_into_vec::<f32>().expect("f32 data")
}

/// The bytes of an f32 slice (little-endian machines only, as safetensors stores little-endian).
pub fn bytemuck_f32(data: &[f32]) -> &[u8] {
    const { assert!(cfg!(target_endian = "little"), "safetensors stores little-endian data") };
    // SAFETY: f32 has no padding and any byte pattern is a valid u8; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}
