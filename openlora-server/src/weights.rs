//! Reading and writing safetensors files as tch tensors, including HF's sharded layout
//! (`model.safetensors.index.json` naming which shard holds each weight).
//!
//! Files are memory-mapped and parsed by the `safetensors` crate, which checks the header
//! (offsets inside the file, sizes matching dtype × shape), so a truncated or corrupt file is a
//! clear error here and never a panic inside libtorch.

use safetensors::{Dtype, SafeTensors};
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};
use tch::{Device, Kind, Tensor};

/// Errors reading weights.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file (truncated, corrupt header, bad offsets).
    #[error("{path} is not a valid safetensors file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The shard index is missing, unreadable or names files that are not there.
    #[error("bad shard index {path}: {reason}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A dtype libtorch cannot hold or this crate does not load.
    #[error("tensor `{name}` in {path} has unsupported dtype {dtype}")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// A weight the model needs is absent.
    #[error("missing weight `{name}` in {dir}")]
    Missing {
        /// The key.
        name: String,
        /// The model folder.
        dir: PathBuf,
    },
    /// A weight has the wrong shape.
    #[error("weight `{name}` has shape {got:?}, expected {expected:?}")]
    Shape {
        /// The key.
        name: String,
        /// Its shape in the file.
        got: Vec<i64>,
        /// The shape the config implies.
        expected: Vec<i64>,
    },
    /// No `*.safetensors` file in the folder.
    #[error("no *.safetensors file in {0}")]
    NoWeights(PathBuf),
}

/// Maps a safetensors dtype to a tch kind.
pub fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        _ => return None,
    })
}

/// Parses safetensors bytes into tensors of `kind` on `device`; `path` names the source in
/// errors.
pub fn parse_safetensors(
    bytes: &[u8],
    path: &Path,
    kind: Kind,
    device: Device,
) -> Result<Vec<(String, Tensor)>, WeightError> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| WeightError::Corrupt { path: path.to_owned(), reason: e.to_string() })?;
    let mut out = Vec::with_capacity(st.len());
    // In name order, so that the first error reported for a file is always the same.
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in views {
        let file_kind = kind_of(view.dtype()).ok_or_else(|| WeightError::Dtype {
            path: path.to_owned(),
            name: name.clone(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let tensor = Tensor::f_from_data_size(view.data(), &shape, file_kind)
            .map_err(|e| WeightError::Corrupt { path: path.to_owned(), reason: e.to_string() })?;
        let tensor = if file_kind == kind { tensor } else { tensor.to_kind(kind) };
        out.push((name, tensor.to_device(device)));
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<memmap2::Mmap, WeightError> {
    let file = std::fs::File::open(path)
        .map_err(|source| WeightError::Io { path: path.into(), source })?;
    // SAFETY: the map is read-only and dropped before this function's caller returns; a file
    // changed underneath by another process could give torn reads, which the safetensors parser
    // then reports as corrupt (it never trusts the header's offsets).
    unsafe { memmap2::Mmap::map(&file) }
        .map_err(|source| WeightError::Io { path: path.into(), source })
}

/// The safetensors files of a model folder: the shards named by `model.safetensors.index.json`
/// when it exists, else every `*.safetensors` file (sorted).
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, WeightError> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index)
            .map_err(|source| WeightError::Io { path: index.clone(), source })?;
        #[derive(serde::Deserialize)]
        struct Index {
            weight_map: BTreeMap<String, String>,
        }
        let parsed: Index = serde_json::from_str(&text)
            .map_err(|e| WeightError::Index { path: index.clone(), reason: e.to_string() })?;
        let mut files: Vec<String> = parsed.weight_map.into_values().collect();
        files.sort();
        files.dedup();
        let mut paths = Vec::with_capacity(files.len());
        for file in files {
            if file.contains('/') || file.contains("..") {
                return Err(WeightError::Index {
                    path: index,
                    reason: format!("shard name `{file}` must be a plain file name"),
                });
            }
            let path = dir.join(&file);
            if !path.is_file() {
                return Err(WeightError::Index {
                    path: index,
                    reason: format!("shard {file} is missing"),
                });
            }
            paths.push(path);
        }
        return Ok(paths);
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| WeightError::Io { path: dir.into(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(WeightError::NoWeights(dir.into()));
    }
    Ok(paths)
}

/// Every tensor of a model folder by its checkpoint name.
#[derive(Debug)]
pub struct WeightMap {
    dir: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl WeightMap {
    /// Loads all shards of `dir` as `kind` on `device`.
    pub fn load(dir: &Path, kind: Kind, device: Device) -> Result<Self, WeightError> {
        let mut tensors = HashMap::new();
        for path in weight_files(dir)? {
            let map = read_file(&path)?;
            for (name, t) in parse_safetensors(&map, &path, kind, device)? {
                tensors.insert(name, t);
            }
        }
        Ok(Self { dir: dir.to_owned(), tensors })
    }

    /// Takes the weight `name`, checking its shape.
    pub fn take(&mut self, name: &str, expected: &[i64]) -> Result<Tensor, WeightError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| WeightError::Missing { name: name.into(), dir: self.dir.clone() })?;
        if t.size() != expected {
            return Err(WeightError::Shape {
                name: name.into(),
                got: t.size(),
                expected: expected.to_vec(),
            });
        }
        Ok(t)
    }

    /// Whether `name` is present (and not yet taken).
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensors not yet taken, in name order.
    pub fn into_named(self) -> Vec<(String, Tensor)> {
        let mut named: Vec<_> = self.tensors.into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }
}

/// Serialises named f32 tensors (moved to the CPU) to safetensors bytes.
pub fn to_safetensors_bytes(
    tensors: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, WeightError> {
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let numel = t.numel();
        let mut values = vec![0f32; numel];
        t.copy_data(&mut values, numel);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        buffers.push((name.clone(), t.size().iter().map(|&d| d as usize).collect(), bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = buffers
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| WeightError::Corrupt {
                    path: PathBuf::from(name),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    safetensors::serialize(views, metadata).map_err(|e| WeightError::Corrupt {
        path: PathBuf::from("<memory>"),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_an_error() {
        let t = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3]);
        let bytes = to_safetensors_bytes(&[("w".into(), t.shallow_clone())], None).unwrap();
        let parsed = parse_safetensors(&bytes, Path::new("x"), Kind::Double, Device::Cpu).unwrap();
        assert_eq!(parsed[0].0, "w");
        assert_eq!(parsed[0].1.kind(), Kind::Double);
        assert_eq!(parsed[0].1.size(), [2, 3]);
        for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
            let err = parse_safetensors(&bytes[..cut], Path::new("x"), Kind::Float, Device::Cpu)
                .unwrap_err();
            assert!(matches!(err, WeightError::Corrupt { .. }), "{cut}: {err}");
        }
        let mut garbage = bytes.clone();
        garbage[9] = b'{';
        garbage[10] = 0xff;
        assert!(parse_safetensors(&garbage, Path::new("x"), Kind::Float, Device::Cpu).is_err());
    }
}
