//! The gradient index on disk: one row per training example (in manifest order), f16,
//! memory-mapped, in shards, with a root that commits to all of it.
//!
//! ```text
//! <index>/index.json            IndexHeader: strategy, projection, blocks, fingerprint,
//!                               manifest root, shards (file, rows, keccak), root
//! <index>/shard-00000.bin       "OLGI0001" | dim u64 | rows×dim f16 | rows f32 scales | rows u64
//! <index>/groups.bin            same layout: one row per (contributor, Datanet), optional
//! <index>/groups-ckpt-N.bin      the same sums at the run's earlier checkpoint N, optional
//! ```
//!
//! Each row is stored as `v / s` in f16 with its own scale `s = max |v|` (f32), so every row
//! keeps f16's ~3 significant digits whatever its magnitude: 2·dim + 4 bytes per example.
//! A shard's bytes are hashed while written; opening an index checks every shard's size and
//! (unless told not to) its keccak, and recomputes the root, so a corrupt or swapped shard is a
//! clear error before any score is served. At 1,000,000 examples and 1,024 coordinates an
//! index is 2.05 GB in 16 shards of 65,536 rows; a query reads it once, sequentially.
//!
//! A projected index also keeps, in `groups.bin`, the exact (unprojected) sum of the
//! preconditioned rows of each (contributor, Datanet) pair. Influence is linear in the training
//! gradient, so `⟨q, Σ rows⟩` is the group's exact total, which is what a fee is split by; the
//! projected per-example rows only rank single examples. A random projection's error, small
//! per pair, adds up over a contributor's examples and would otherwise decide the split.
//!
//! An index may also keep the group sums at the run's earlier checkpoints (each preconditioned
//! with factors fitted at that checkpoint): a query then adds `⟨q_c, Σ rows_c⟩` over the
//! checkpoints `c`, with `q_c` its gradient under checkpoint `c`'s adapter (TracIn's sum over
//! checkpoints, with EK-FAC's preconditioning at each). Each checkpoint's adapter id is
//! recorded, so a query under another adapter is refused.

use crate::{factors::Strategy, lora::Block, projection::ProjectionSpec};
use alloy_primitives::{Address, B256, Keccak256, keccak256};
use half::{f16, slice::HalfFloatSliceExt};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
};

/// The header file.
pub const HEADER: &str = "index.json";
/// The file of exact per-group sums.
pub const GROUPS: &str = "groups.bin";
const MAGIC: &[u8; 8] = b"OLGI0001";
/// Format version.
pub const VERSION: u32 = 1;

/// Errors writing or reading an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The index folder already holds an index.
    #[error("{0} already holds an index (pass overwrite to replace it)")]
    Exists(PathBuf),
    /// `index.json` is malformed or of another version.
    #[error("{path}: {reason}")]
    Header {
        /// The header file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A shard does not match the header (size, magic, dimension, rows or hash).
    #[error("corrupt index shard {path}: {reason}")]
    CorruptShard {
        /// The shard.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A query or rows of the wrong width, or values that are not finite.
    #[error("{0}")]
    Input(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io { path: path.to_owned(), source }
}

/// One shard in the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name inside the index folder.
    pub file: String,
    /// Rows in it.
    pub rows: usize,
    /// keccak256 of the file.
    pub keccak: B256,
}

/// What an index is, apart from its shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexParams {
    /// How rows were preconditioned ([`Strategy::Identity`] and [`Strategy::Datainf`] store
    /// raw gradients).
    pub strategy: Strategy,
    /// The factors' artifact name.
    pub factors: String,
    /// The projection (`out_dims` give each block's coordinates in a row).
    pub projection: ProjectionSpec,
    /// The adapter's blocks.
    pub blocks: Vec<Block>,
    /// DataInf's damping per block (empty for other strategies).
    pub datainf_damping: Vec<f64>,
    /// The model fingerprint (base model files and adapter) the gradients come from.
    pub fingerprint: B256,
    /// The training manifest's root: row `i` is manifest entry `i`.
    pub manifest_root: B256,
    /// Rows per shard.
    pub shard_rows: usize,
}

/// What a fee is split over: one contributor's examples in one Datanet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    /// The contributor.
    pub contributor: Address,
    /// The Datanet.
    pub datanet: String,
}

/// `groups.bin` in the header: the exact sums of each group's preconditioned rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsInfo {
    /// Row width: every LoRA parameter (no projection).
    pub dim: usize,
    /// The groups, in row order (sorted).
    pub keys: Vec<GroupKey>,
    /// keccak256 of the file.
    pub keccak: B256,
}

/// The group sums at one of the run's earlier checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointGroupsInfo {
    /// The checkpoint's adapter folder, relative to the run folder.
    pub adapter: String,
    /// Its adapter id (keccak of its weights): queries must use exactly this adapter.
    pub adapter_id: B256,
    /// The file inside the index folder.
    pub file: String,
    /// The sums (same keys and width as [`IndexHeader::groups`]).
    pub groups: GroupsInfo,
}

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexHeader {
    /// [`VERSION`].
    pub version: u32,
    /// The parameters.
    #[serde(flatten)]
    pub params: IndexParams,
    /// Row width.
    pub dim: usize,
    /// Rows in all.
    pub rows: usize,
    /// The shards in row order.
    pub shards: Vec<ShardInfo>,
    /// The exact per-group sums, where kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupsInfo>,
    /// The group sums at earlier checkpoints, oldest first, where kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<CheckpointGroupsInfo>,
    /// The index root: see [`IndexHeader::compute_root`].
    pub root: B256,
}

impl IndexHeader {
    /// `keccak256("OLGI-root-v1" ‖ fingerprint ‖ manifest_root ‖ keccak(params JSON) ‖ rows u64
    /// ‖ dim u64 ‖ shard keccaks… [‖ "groups" ‖ keccak(groups JSON)] [‖ "checkpoint" ‖
    /// keccak(checkpoint JSON)]…)`: commits to the model, the training set, the method, the
    /// checkpoints' adapters and every stored byte.
    pub fn compute_root(&self) -> B256 {
        let mut h = Keccak256::new();
        h.update(b"OLGI-root-v1");
        h.update(self.params.fingerprint);
        h.update(self.params.manifest_root);
        h.update(keccak256(serde_json::to_vec(&self.params).unwrap_or_default()));
        h.update((self.rows as u64).to_be_bytes());
        h.update((self.dim as u64).to_be_bytes());
        for s in &self.shards {
            h.update(s.keccak);
        }
        if let Some(g) = &self.groups {
            h.update(b"groups");
            h.update(keccak256(serde_json::to_vec(g).unwrap_or_default()));
        }
        for c in &self.checkpoints {
            h.update(b"checkpoint");
            h.update(keccak256(serde_json::to_vec(c).unwrap_or_default()));
        }
        h.finalize()
    }

    /// Bytes per example on disk (data and scale).
    pub fn bytes_per_row(&self) -> usize {
        2 * self.dim + 4
    }
}

/// Rounds a row into f16 values and its scale.
fn quantize(row: &[f32], out: &mut Vec<u8>) -> Result<f32, IndexError> {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    if !max.is_finite() {
        return Err(IndexError::Input("a gradient row holds NaN or infinite values".into()));
    }
    let scale = if max > 0.0 { max } else { 1.0 };
    let inv = 1.0 / scale;
    for v in row {
        out.extend_from_slice(&f16::from_f32(v * inv).to_le_bytes());
    }
    Ok(scale)
}

struct ShardWriter {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    hasher: Keccak256,
    rows: usize,
    scales: Vec<f32>,
}

impl ShardWriter {
    fn create(path: PathBuf, dim: usize) -> Result<Self, IndexError> {
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut w = Self {
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            path,
            hasher: Keccak256::new(),
            rows: 0,
            scales: Vec::new(),
        };
        w.write(MAGIC)?;
        w.write(&(dim as u64).to_le_bytes())?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        self.hasher.update(bytes);
        self.file.write_all(bytes).map_err(io(&self.path))
    }

    /// Quantizes and writes one row (`buf` is scratch space).
    fn push_row(&mut self, row: &[f32], buf: &mut Vec<u8>) -> Result<(), IndexError> {
        buf.clear();
        let scale = quantize(row, buf)?;
        self.write(buf)?;
        self.scales.push(scale);
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(usize, B256), IndexError> {
        let scales: Vec<u8> = self.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.write(&scales)?;
        self.write(&(self.rows as u64).to_le_bytes())?;
        let file = self
            .file
            .into_inner()
            .map_err(|e| IndexError::Io { path: self.path.clone(), source: e.into_error() })?;
        file.sync_all().map_err(io(&self.path))?;
        Ok((self.rows, self.hasher.finalize()))
    }
}

/// Running exact sums of full-width rows per group (f64: many small terms), written as a
/// `groups.bin`-style file.
#[derive(Debug, Clone)]
pub struct GroupSums {
    dim: usize,
    sums: BTreeMap<GroupKey, Vec<f64>>,
}

impl GroupSums {
    /// Empty sums of rows `dim` wide.
    pub fn new(dim: usize) -> Self {
        Self { dim, sums: BTreeMap::new() }
    }

    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Adds full-width rows (`keys.len()` of them, unprojected) to their groups' sums.
    pub fn add(&mut self, keys: &[GroupKey], rows: &[f32]) -> Result<(), IndexError> {
        let dim = self.dim;
        if dim == 0 || rows.len() != keys.len() * dim {
            return Err(IndexError::Input(format!(
                "{} values are not {} rows of {dim}",
                rows.len(),
                keys.len()
            )));
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(IndexError::Input("a gradient row holds NaN or infinite values".into()));
        }
        for (key, row) in keys.iter().zip(rows.chunks_exact(dim)) {
            let sum = self.sums.entry(key.clone()).or_insert_with(|| vec![0.0; dim]);
            for (s, v) in sum.iter_mut().zip(row) {
                *s += f64::from(*v);
            }
        }
        Ok(())
    }

    /// Writes the sums, one row per group in key order.
    fn write(self, path: PathBuf, buf: &mut Vec<u8>) -> Result<GroupsInfo, IndexError> {
        let mut w = ShardWriter::create(path, self.dim)?;
        let mut row = Vec::with_capacity(self.dim);
        let mut keys = Vec::with_capacity(self.sums.len());
        for (key, sum) in self.sums {
            row.clear();
            row.extend(sum.iter().map(|v| *v as f32));
            w.push_row(&row, buf)?;
            keys.push(key);
        }
        let (_, keccak) = w.finish()?;
        Ok(GroupsInfo { dim: self.dim, keys, keccak })
    }
}

/// Writes an index row by row; [`IndexWriter::finish`] writes the header last, so a
/// half-written index is never taken for a whole one.
pub struct IndexWriter {
    dir: PathBuf,
    params: IndexParams,
    dim: usize,
    shards: Vec<ShardInfo>,
    current: Option<ShardWriter>,
    rows: usize,
    buf: Vec<u8>,
    /// Per group, the running sum of its full-width rows.
    groups: Option<GroupSums>,
    /// The same at earlier checkpoints: (adapter folder, adapter id, sums).
    checkpoints: Vec<(String, B256, GroupSums)>,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter").field("dir", &self.dir).field("rows", &self.rows).finish()
    }
}

impl IndexWriter {
    /// Starts an index in `dir`; an existing index there is refused unless `overwrite`.
    pub fn create(dir: &Path, params: IndexParams, overwrite: bool) -> Result<Self, IndexError> {
        if params.shard_rows == 0 {
            return Err(IndexError::Input("shard_rows must be positive".into()));
        }
        if dir.join(HEADER).exists() {
            if !overwrite {
                return Err(IndexError::Exists(dir.to_owned()));
            }
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let dim = params.projection.dim();
        Ok(Self {
            dir: dir.to_owned(),
            params,
            dim,
            shards: Vec::new(),
            current: None,
            rows: 0,
            buf: Vec::new(),
            groups: None,
            checkpoints: Vec::new(),
        })
    }

    /// Also keeps the exact sum of each group's full-width (`full_dim`) rows: see
    /// [`IndexWriter::add_to_groups`].
    pub fn with_groups(mut self, full_dim: usize) -> Self {
        self.groups = Some(GroupSums::new(full_dim));
        self
    }

    /// Adds full-width rows (`keys.len()` of them, unprojected) to their groups' sums.
    pub fn add_to_groups(&mut self, keys: &[GroupKey], rows: &[f32]) -> Result<(), IndexError> {
        let Some(sums) = self.groups.as_mut() else {
            return Err(IndexError::Input("this index keeps no group sums".into()));
        };
        sums.add(keys, rows)
    }

    /// Keeps `sums`, the group sums at an earlier checkpoint (adapter folder `adapter`,
    /// relative to the run, with id `adapter_id`), beside the index's own: same width, and
    /// (checked by [`IndexWriter::finish`]) the same groups. Stored in the order added.
    pub fn add_checkpoint(
        &mut self,
        adapter: String,
        adapter_id: B256,
        sums: GroupSums,
    ) -> Result<(), IndexError> {
        let Some(own) = self.groups.as_ref() else {
            return Err(IndexError::Input(
                "checkpoint sums need the index's own group sums".into(),
            ));
        };
        if sums.dim != own.dim {
            return Err(IndexError::Input(format!(
                "the sums at checkpoint {adapter} are {} wide, the index's {}",
                sums.dim, own.dim
            )));
        }
        self.checkpoints.push((adapter, adapter_id, sums));
        Ok(())
    }

    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn close_shard(&mut self) -> Result<(), IndexError> {
        if let Some(w) = self.current.take() {
            let file =
                w.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let (rows, keccak) = w.finish()?;
            self.shards.push(ShardInfo { file, rows, keccak });
        }
        Ok(())
    }

    /// Appends rows (`rows.len()` a multiple of the width).
    pub fn push(&mut self, rows: &[f32]) -> Result<(), IndexError> {
        if self.dim == 0 || !rows.len().is_multiple_of(self.dim) {
            return Err(IndexError::Input(format!(
                "{} values are not whole rows of {}",
                rows.len(),
                self.dim
            )));
        }
        for row in rows.chunks_exact(self.dim) {
            if self.current.as_ref().is_some_and(|w| w.rows >= self.params.shard_rows) {
                self.close_shard()?;
            }
            if self.current.is_none() {
                let path = self.dir.join(format!("shard-{:05}.bin", self.shards.len()));
                self.current = Some(ShardWriter::create(path, self.dim)?);
            }
            if let Some(w) = self.current.as_mut() {
                w.push_row(row, &mut self.buf)?;
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// Closes the last shard and writes `index.json`.
    pub fn finish(mut self) -> Result<IndexHeader, IndexError> {
        self.close_shard()?;
        if let Some(own) = &self.groups
            && let Some((adapter, ..)) =
                self.checkpoints.iter().find(|(_, _, c)| !c.sums.keys().eq(own.sums.keys()))
        {
            return Err(IndexError::Input(format!(
                "the sums at checkpoint {adapter} cover other groups than the index's"
            )));
        }
        let groups = match self.groups.take() {
            Some(sums) => Some(sums.write(self.dir.join(GROUPS), &mut self.buf)?),
            None => None,
        };
        let mut checkpoints = Vec::new();
        for (n, (adapter, adapter_id, sums)) in
            std::mem::take(&mut self.checkpoints).into_iter().enumerate()
        {
            let file = format!("groups-ckpt-{}.bin", n + 1);
            let groups = sums.write(self.dir.join(&file), &mut self.buf)?;
            checkpoints.push(CheckpointGroupsInfo { adapter, adapter_id, file, groups });
        }
        let mut header = IndexHeader {
            version: VERSION,
            params: self.params.clone(),
            dim: self.dim,
            rows: self.rows,
            shards: std::mem::take(&mut self.shards),
            groups,
            checkpoints,
            root: B256::ZERO,
        };
        header.root = header.compute_root();
        let json =
            serde_json::to_vec_pretty(&header).map_err(|e| IndexError::Input(e.to_string()))?;
        let path = self.dir.join(HEADER);
        let tmp = self.dir.join(".index.json.tmp");
        std::fs::write(&tmp, json).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(header)
    }
}

struct Shard {
    map: memmap2::Mmap,
    rows: usize,
}

impl Shard {
    /// Maps `path`, checking its size, magic, dimension, rows and scales, and with `verify`
    /// its keccak.
    fn open(
        path: &Path,
        rows: usize,
        dim: usize,
        keccak: B256,
        verify: bool,
    ) -> Result<Self, IndexError> {
        let corrupt = |reason: String| IndexError::CorruptShard { path: path.to_owned(), reason };
        let file = std::fs::File::open(path).map_err(io(path))?;
        // SAFETY: a read-only map of a file this process does not write. Another process
        // truncating it meanwhile could fault a read (SIGBUS); the index folder is owned
        // by the engine, which only ever replaces indexes by writing a new folder.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(path))?;
        let want = 16 + rows * dim * 2 + rows * 4 + 8;
        if map.len() != want {
            return Err(corrupt(format!("{} bytes, expected {want}", map.len())));
        }
        if &map[..8] != MAGIC {
            return Err(corrupt("bad magic".into()));
        }
        let stored_dim = u64::from_le_bytes(map[8..16].try_into().unwrap_or_default());
        let stored_rows = u64::from_le_bytes(map[want - 8..].try_into().unwrap_or_default());
        if stored_dim as usize != dim || stored_rows as usize != rows {
            return Err(corrupt(format!(
                "holds {stored_rows} rows of {stored_dim}, header says {rows} of {dim}"
            )));
        }
        if verify {
            let k = keccak256(&map[..]);
            if k != keccak {
                return Err(corrupt(format!("keccak {k}, header records {keccak}")));
            }
        }
        let shard = Shard { map, rows };
        if shard.scales(dim).any(|x| !x.is_finite() || x <= 0.0) {
            return Err(corrupt("a row scale is not a positive number".into()));
        }
        Ok(shard)
    }

    fn data(&self, dim: usize) -> &[f16] {
        let bytes = &self.map[16..16 + self.rows * dim * 2];
        // SAFETY: the map is page-aligned and the data starts at byte 16, so it is aligned for
        // f16 (2 bytes); the length is whole f16s, checked against the file size on open; f16
        // has no invalid bit patterns; the format is little-endian and `open` refuses
        // big-endian hosts.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f16>(), bytes.len() / 2) }
    }

    fn scales(&self, dim: usize) -> impl Iterator<Item = f32> + '_ {
        let start = 16 + self.rows * dim * 2;
        self.map[start..start + self.rows * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// `⟨q, row⟩ · scale` for every row of a group-sums file.
fn group_dots(info: &GroupsInfo, shard: &Shard, q: &[f32]) -> Result<Vec<f32>, IndexError> {
    if q.len() != info.dim {
        return Err(IndexError::Input(format!(
            "full query has {} coordinates, the group sums {}",
            q.len(),
            info.dim
        )));
    }
    if q.iter().any(|v| !v.is_finite()) {
        return Err(IndexError::Input("the query gradient is not finite".into()));
    }
    let mut buf = vec![0f32; info.dim];
    Ok(shard
        .data(info.dim)
        .chunks_exact(info.dim)
        .zip(shard.scales(info.dim))
        .map(|(values, scale)| {
            values.convert_to_f32_slice(&mut buf);
            dot(q, &buf) * scale
        })
        .collect())
}

/// An open index.
pub struct GradientIndex {
    dir: PathBuf,
    header: IndexHeader,
    shards: Vec<Shard>,
    groups: Option<Shard>,
    /// The group sums at earlier checkpoints, as in the header.
    checkpoints: Vec<Shard>,
}

impl std::fmt::Debug for GradientIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GradientIndex")
            .field("dir", &self.dir)
            .field("rows", &self.header.rows)
            .field("dim", &self.header.dim)
            .field("root", &self.header.root)
            .finish()
    }
}

/// `Σ a_i·b_i` in eight lanes (vectorised by the compiler).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

impl GradientIndex {
    /// Opens `dir`, checking every shard's size and layout, and with `verify` its keccak and
    /// the root.
    pub fn open(dir: &Path, verify: bool) -> Result<Self, IndexError> {
        if cfg!(target_endian = "big") {
            return Err(IndexError::Input("the index format is little-endian only".into()));
        }
        let path = dir.join(HEADER);
        let text = std::fs::read(&path).map_err(io(&path))?;
        let header: IndexHeader = serde_json::from_slice(&text)
            .map_err(|e| IndexError::Header { path: path.clone(), reason: e.to_string() })?;
        let bad_header = |reason: String| IndexError::Header { path: path.clone(), reason };
        if header.version != VERSION {
            return Err(bad_header(format!("version {} (expected {VERSION})", header.version)));
        }
        if header.dim != header.params.projection.dim() || header.dim == 0 {
            return Err(bad_header("row width does not match the projection".into()));
        }
        if header.shards.iter().map(|s| s.rows).sum::<usize>() != header.rows {
            return Err(bad_header("shard rows do not add up".into()));
        }
        if header.compute_root() != header.root {
            return Err(bad_header("the root does not match the header's contents".into()));
        }
        let mut shards = Vec::with_capacity(header.shards.len());
        for s in &header.shards {
            if s.file.contains('/') || s.file.contains("..") {
                return Err(bad_header(format!("shard file name {:?}", s.file)));
            }
            shards.push(Shard::open(&dir.join(&s.file), s.rows, header.dim, s.keccak, verify)?);
        }
        let groups = match &header.groups {
            Some(g) if g.dim != header.params.projection.block_dims.iter().sum::<usize>() => {
                return Err(bad_header("the group rows are not full-width".into()));
            }
            Some(g) => Some(Shard::open(&dir.join(GROUPS), g.keys.len(), g.dim, g.keccak, verify)?),
            None => None,
        };
        let mut checkpoints = Vec::with_capacity(header.checkpoints.len());
        for c in &header.checkpoints {
            let own = header.groups.as_ref();
            if own.is_none_or(|g| g.dim != c.groups.dim || g.keys != c.groups.keys) {
                return Err(bad_header(format!(
                    "the sums at checkpoint {} do not match the index's groups",
                    c.adapter
                )));
            }
            if c.file.contains('/') || c.file.contains("..") {
                return Err(bad_header(format!("checkpoint file name {:?}", c.file)));
            }
            let path = dir.join(&c.file);
            checkpoints.push(Shard::open(
                &path,
                c.groups.keys.len(),
                c.groups.dim,
                c.groups.keccak,
                verify,
            )?);
        }
        Ok(Self { dir: dir.to_owned(), header, shards, groups, checkpoints })
    }

    /// The header.
    pub fn header(&self) -> &IndexHeader {
        &self.header
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.header.root
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.header.rows
    }

    /// Whether the index has no rows.
    pub fn is_empty(&self) -> bool {
        self.header.rows == 0
    }

    /// Bytes on disk (shards and group sums).
    pub fn disk_bytes(&self) -> usize {
        self.shards.iter().chain(&self.groups).chain(&self.checkpoints).map(|s| s.map.len()).sum()
    }

    /// The groups whose exact sums the index keeps, if any.
    pub fn groups(&self) -> Option<&[GroupKey]> {
        self.header.groups.as_ref().map(|g| g.keys.as_slice())
    }

    /// `⟨q, Σ group rows⟩` for every group, from a full-width (unprojected) query; `None`
    /// when the index keeps no group sums.
    pub fn group_scores(&self, q: &[f32]) -> Result<Option<Vec<f32>>, IndexError> {
        let (Some(info), Some(shard)) = (&self.header.groups, &self.groups) else {
            return Ok(None);
        };
        group_dots(info, shard, q).map(Some)
    }

    /// The earlier checkpoints whose group sums the index keeps, oldest first.
    pub fn checkpoints(&self) -> &[CheckpointGroupsInfo] {
        &self.header.checkpoints
    }

    /// [`GradientIndex::group_scores`] against the sums at checkpoint `i` (of
    /// [`GradientIndex::checkpoints`]), from the query's gradient under that checkpoint's adapter.
    pub fn checkpoint_group_scores(&self, i: usize, q: &[f32]) -> Result<Vec<f32>, IndexError> {
        match (self.header.checkpoints.get(i), self.checkpoints.get(i)) {
            (Some(info), Some(shard)) => group_dots(&info.groups, shard, q),
            _ => Err(IndexError::Input(format!(
                "checkpoint {i}: the index keeps {}",
                self.checkpoints.len()
            ))),
        }
    }

    /// Calls `f(row, values, scale)` for every row in order, converting each to f32 once.
    fn for_each_row(&self, mut f: impl FnMut(usize, &[f32], f32)) {
        let dim = self.header.dim;
        let mut buf = vec![0f32; dim];
        let mut row = 0;
        for shard in &self.shards {
            for (values, scale) in shard.data(dim).chunks_exact(dim).zip(shard.scales(dim)) {
                values.convert_to_f32_slice(&mut buf);
                f(row, &buf, scale);
                row += 1;
            }
        }
    }

    fn check_query(&self, q: &[f32]) -> Result<(), IndexError> {
        if q.len() != self.header.dim {
            return Err(IndexError::Input(format!(
                "query has {} coordinates, the index {}",
                q.len(),
                self.header.dim
            )));
        }
        if q.iter().any(|v| !v.is_finite()) {
            return Err(IndexError::Input("the query gradient is not finite".into()));
        }
        Ok(())
    }

    /// `⟨q, row⟩` for every row.
    pub fn scores(&self, q: &[f32]) -> Result<Vec<f32>, IndexError> {
        self.check_query(q)?;
        let mut out = Vec::with_capacity(self.len());
        self.for_each_row(|_, row, scale| out.push(dot(q, row) * scale));
        Ok(out)
    }

    /// DataInf against the raw-gradient rows: per block `b` with damping `λ_b`,
    /// `score_i = Σ_b (⟨q_b, x_ib⟩ − (1/n)·Σ_j c_jb·⟨x_jb, x_ib⟩) / λ_b` with
    /// `c_jb = ⟨x_jb, q_b⟩ / (λ_b + ‖x_jb‖²)`: two passes over the index.
    pub fn scores_datainf(&self, q: &[f32], damping: &[f64]) -> Result<Vec<f32>, IndexError> {
        self.check_query(q)?;
        let spec = &self.header.params.projection;
        if damping.len() != spec.out_dims.len() || damping.iter().any(|d| d.is_nan() || *d <= 0.0) {
            return Err(IndexError::Input("DataInf needs one positive damping per block".into()));
        }
        let offsets = spec.offsets();
        let ranges: Vec<(usize, usize)> =
            offsets.iter().zip(&spec.out_dims).map(|(&o, &d)| (o, o + d)).collect();
        let n = self.len().max(1) as f64;
        let mut w = vec![0f64; self.header.dim];
        let mut direct = Vec::with_capacity(self.len());
        self.for_each_row(|_, row, scale| {
            let mut s = 0f64;
            for (b, &(lo, hi)) in ranges.iter().enumerate() {
                let x = &row[lo..hi];
                let d = f64::from(dot(&q[lo..hi], x) * scale);
                let norm = f64::from(dot(x, x) * scale * scale);
                let c = d / (damping[b] + norm) * f64::from(scale);
                for (wi, xi) in w[lo..hi].iter_mut().zip(x) {
                    *wi += c * f64::from(*xi);
                }
                s += d / damping[b];
            }
            direct.push(s);
        });
        let w: Vec<f32> = w.iter().map(|v| (*v / n) as f32).collect();
        let mut out = Vec::with_capacity(self.len());
        self.for_each_row(|i, row, scale| {
            let mut s = direct[i];
            for (b, &(lo, hi)) in ranges.iter().enumerate() {
                s -= f64::from(dot(&w[lo..hi], &row[lo..hi]) * scale) / damping[b];
            }
            out.push(s as f32);
        });
        Ok(out)
    }

    /// Row `i` as f32 (for checks and tests).
    pub fn row(&self, i: usize) -> Option<Vec<f32>> {
        let dim = self.header.dim;
        let mut at = i;
        for shard in &self.shards {
            if at < shard.rows {
                let mut out = vec![0f32; dim];
                shard.data(dim)[at * dim..(at + 1) * dim].convert_to_f32_slice(&mut out);
                let scale = shard.scales(dim).nth(at)?;
                out.iter_mut().for_each(|v| *v *= scale);
                return Some(out);
            }
            at -= shard.rows;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(dim: usize, shard_rows: usize) -> IndexParams {
        IndexParams {
            strategy: Strategy::Identity,
            factors: "none".into(),
            projection: ProjectionSpec::new(0, vec![dim / 2, dim - dim / 2], 0),
            blocks: vec![],
            datainf_damping: vec![],
            fingerprint: B256::repeat_byte(1),
            manifest_root: B256::repeat_byte(2),
            shard_rows,
        }
    }

    fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n * dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    #[test]
    fn round_trip_scores_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let (n, dim) = (1000, 24);
        let data: Vec<f32> = rows(n, dim, 1)
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1 + i % 7) as f32 * 1e-3)
            .collect();
        let mut w = IndexWriter::create(dir.path(), params(dim, 300), false).unwrap();
        w.push(&data[..dim * 10]).unwrap();
        w.push(&data[dim * 10..]).unwrap();
        let header = w.finish().unwrap();
        assert_eq!(header.shards.len(), 4);
        assert_eq!(header.rows, n);
        let index = GradientIndex::open(dir.path(), true).unwrap();
        assert_eq!(index.root(), header.root);
        let q = rows(1, dim, 2);
        let scores = index.scores(&q).unwrap();
        for i in [0, 299, 300, 999] {
            let want = dot(&q, &data[i * dim..(i + 1) * dim]);
            assert!(
                (scores[i] - want).abs() < 2e-3 * want.abs().max(1e-3),
                "{i}: {} vs {want}",
                scores[i]
            );
        }
        // A second index in the same folder is refused without overwrite.
        assert!(matches!(
            IndexWriter::create(dir.path(), params(dim, 300), false),
            Err(IndexError::Exists(_))
        ));
        // Wrong query width, flipped byte, truncated shard, edited header.
        assert!(index.scores(&q[1..]).is_err());
        drop(index);
        let shard = dir.path().join("shard-00001.bin");
        let mut bytes = std::fs::read(&shard).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&shard, &bytes).unwrap();
        let err = GradientIndex::open(dir.path(), true).unwrap_err();
        assert!(matches!(err, IndexError::CorruptShard { .. }), "{err}");
        assert!(err.to_string().contains("keccak"), "{err}");
        std::fs::write(&shard, &bytes[..bytes.len() - 3]).unwrap();
        let err = GradientIndex::open(dir.path(), false).unwrap_err();
        assert!(err.to_string().contains("bytes, expected"), "{err}");
        let text = std::fs::read_to_string(dir.path().join(HEADER)).unwrap();
        std::fs::write(dir.path().join(HEADER), text.replace("\"rows\": 1000", "\"rows\": 999"))
            .unwrap();
        assert!(matches!(GradientIndex::open(dir.path(), true), Err(IndexError::Header { .. })));
    }

    /// Group sums: each group's score is `⟨q, Σ its full rows⟩`; the sums are committed to by
    /// the root and checked on open like a shard.
    #[test]
    fn group_sums_score_exactly_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (n, full, dim) = (60, 40, 8);
        let mut p = params(dim, 32);
        p.projection = ProjectionSpec::new(0, vec![full / 2, full / 2], dim);
        let key = |i: usize| GroupKey {
            contributor: Address::with_last_byte((i % 3) as u8),
            datanet: if i.is_multiple_of(2) { "even" } else { "odd" }.into(),
        };
        let keys: Vec<GroupKey> = (0..n).map(key).collect();
        let full_rows = rows(n, full, 5);
        let mut w = IndexWriter::create(dir.path(), p.clone(), false).unwrap().with_groups(full);
        w.push(&rows(n, dim, 6)).unwrap();
        assert!(w.add_to_groups(&keys[..2], &full_rows[..full]).is_err(), "rows ≠ keys");
        w.add_to_groups(&keys[..10], &full_rows[..10 * full]).unwrap();
        w.add_to_groups(&keys[10..], &full_rows[10 * full..]).unwrap();
        let header = w.finish().unwrap();
        let index = GradientIndex::open(dir.path(), true).unwrap();
        let groups = index.groups().unwrap().to_vec();
        assert_eq!(groups.len(), 6);
        let q = rows(1, full, 7);
        assert!(index.group_scores(&q[1..]).is_err());
        let got = index.group_scores(&q).unwrap().unwrap();
        for (g, score) in groups.iter().zip(&got) {
            let want: f32 = (0..n)
                .filter(|i| &keys[*i] == g)
                .map(|i| dot(&q, &full_rows[i * full..(i + 1) * full]))
                .sum();
            assert!((score - want).abs() < 2e-3 * want.abs().max(1.0), "{g:?}: {score} vs {want}");
        }
        // The root covers the sums: the same rows without them have another root.
        let plain = tempfile::tempdir().unwrap();
        let mut w = IndexWriter::create(plain.path(), p, false).unwrap();
        w.push(&rows(n, dim, 6)).unwrap();
        assert_ne!(w.finish().unwrap().root, header.root);
        // A flipped byte in the sums is a corrupt shard.
        drop(index);
        let path = dir.path().join(GROUPS);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = GradientIndex::open(dir.path(), true).unwrap_err();
        assert!(matches!(err, IndexError::CorruptShard { .. }), "{err}");
    }

    /// Sums at earlier checkpoints: scored like the index's own, committed to by the root with
    /// their adapter ids, and refused when they cover other groups or are missing.
    #[test]
    fn checkpoint_sums_score_exactly_and_are_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (n, full, dim) = (30, 16, 4);
        let mut p = params(dim, 32);
        p.projection = ProjectionSpec::new(0, vec![full / 2, full / 2], dim);
        let key = |i: usize| GroupKey {
            contributor: Address::with_last_byte((i % 3) as u8),
            datanet: "d".into(),
        };
        let keys: Vec<GroupKey> = (0..n).map(key).collect();
        let (own, earlier) = (rows(n, full, 8), rows(n, full, 9));
        let sums_of = |rows: &[f32], keys: &[GroupKey]| {
            let mut s = GroupSums::new(full);
            s.add(keys, rows).unwrap();
            s
        };
        let write = |dir: &Path, ckpt: Vec<(String, B256, GroupSums)>| {
            let mut w = IndexWriter::create(dir, p.clone(), true).unwrap().with_groups(full);
            w.push(&rows(n, dim, 6)).unwrap();
            w.add_to_groups(&keys, &own).unwrap();
            for (a, id, s) in ckpt {
                w.add_checkpoint(a, id, s)?;
            }
            w.finish()
        };
        let id = B256::repeat_byte(7);
        let header =
            write(dir.path(), vec![("checkpoints/epoch-1".into(), id, sums_of(&earlier, &keys))])
                .unwrap();
        let index = GradientIndex::open(dir.path(), true).unwrap();
        assert_eq!(index.checkpoints().len(), 1);
        assert_eq!(
            (index.checkpoints()[0].adapter.as_str(), index.checkpoints()[0].adapter_id),
            ("checkpoints/epoch-1", id)
        );
        let q = rows(1, full, 10);
        let got = index.checkpoint_group_scores(0, &q).unwrap();
        for (g, score) in index.groups().unwrap().iter().zip(&got) {
            let want: f32 = (0..n)
                .filter(|i| &keys[*i] == g)
                .map(|i| dot(&q, &earlier[i * full..(i + 1) * full]))
                .sum();
            assert!((score - want).abs() < 2e-3 * want.abs().max(1.0), "{g:?}: {score} vs {want}");
        }
        assert!(index.checkpoint_group_scores(1, &q).is_err());
        assert!(index.checkpoint_group_scores(0, &q[1..]).is_err());
        // Another adapter id, the same bytes: another root.
        let other = tempfile::tempdir().unwrap();
        let moved = write(
            other.path(),
            vec![("checkpoints/epoch-1".into(), B256::repeat_byte(8), sums_of(&earlier, &keys))],
        )
        .unwrap();
        assert_ne!(moved.root, header.root);
        // Sums over other groups, or of another width, are refused.
        assert!(
            write(other.path(), vec![("c".into(), id, sums_of(&earlier[..full * 2], &keys[..2]))])
                .is_err()
        );
        assert!(
            IndexWriter::create(other.path(), p.clone(), true)
                .unwrap()
                .with_groups(full)
                .add_checkpoint("c".into(), id, GroupSums::new(full + 1))
                .is_err()
        );
        // An index without its own group sums keeps none at checkpoints.
        let mut bare = IndexWriter::create(other.path(), p.clone(), true).unwrap();
        assert!(bare.add_checkpoint("c".into(), id, sums_of(&earlier, &keys)).is_err());
        // Editing the recorded adapter id in the header breaks the root.
        drop(index);
        let path = dir.path().join(HEADER);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(&id.to_string(), &B256::repeat_byte(8).to_string());
        std::fs::write(&path, text).unwrap();
        let err = GradientIndex::open(dir.path(), true).unwrap_err();
        assert!(matches!(err, IndexError::Header { .. }), "{err}");
    }

    /// DataInf over the index equals the closed form computed densely.
    #[test]
    fn datainf_matches_the_dense_formula() {
        let dir = tempfile::tempdir().unwrap();
        let (n, dim) = (50, 6);
        let data = rows(n, dim, 3);
        let mut w = IndexWriter::create(dir.path(), params(dim, 16), false).unwrap();
        w.push(&data).unwrap();
        w.finish().unwrap();
        let index = GradientIndex::open(dir.path(), true).unwrap();
        let q = rows(1, dim, 4);
        let damping = [0.3, 0.7];
        let got = index.scores_datainf(&q, &damping).unwrap();
        for i in [0usize, 17, 49] {
            let mut want = 0f64;
            for (b, (lo, hi)) in [(0usize, 3usize), (3, 6)].into_iter().enumerate() {
                let l = damping[b];
                let xi = &data[i * dim + lo..i * dim + hi];
                let mut v: Vec<f64> = q[lo..hi].iter().map(|x| f64::from(*x) / l).collect();
                for j in 0..n {
                    let xj = &data[j * dim + lo..j * dim + hi];
                    let c = f64::from(dot(xj, &q[lo..hi]))
                        / (l + f64::from(dot(xj, xj)))
                        / l
                        / n as f64;
                    for (vk, xk) in v.iter_mut().zip(xj) {
                        *vk -= c * f64::from(*xk);
                    }
                }
                want += v.iter().zip(xi).map(|(a, b)| a * f64::from(*b)).sum::<f64>();
            }
            assert!(
                (f64::from(got[i]) - want).abs() < 1e-2 * want.abs().max(0.1),
                "{i}: {} vs {want}",
                got[i]
            );
        }
    }
}
