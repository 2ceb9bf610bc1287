//! The Datanet content store: contributions kept by content hash (keccak256 of the bytes, the
//! hash registered on chain), with the contributor's address, the Datanet, and a curation
//! status. A snapshot of the approved contributions of one or more Datanets is a training set.
//!
//! ```text
//! <store>/objects/<first 2 hex>/<hash hex>        the bytes (written once, checked on read)
//! <store>/records/<datanet>/<hash hex>.json       Contribution (status changes rewrite it)
//! ```
//!
//! Every file is written through a temporary file and a rename, so a crash leaves either the
//! old or the new record, never half of one.

use crate::data::Example;
use alloy_primitives::{Address, B256, keccak256};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A Datanet name with characters other than letters, digits, `-`, `_`, `.`.
    #[error("bad Datanet name {0:?} (letters, digits, '-', '_', '.')")]
    BadName(String),
    /// The content is not UTF-8 text, or is empty.
    #[error("contribution rejected: {0}")]
    BadContent(String),
    /// No such contribution.
    #[error("no contribution {hash} in Datanet {datanet}")]
    NotFound {
        /// The Datanet.
        datanet: String,
        /// The content hash.
        hash: B256,
    },
    /// The same content is already in the Datanet (from someone).
    #[error("{hash} is already in Datanet {datanet}, contributed by {contributor}")]
    Duplicate {
        /// The Datanet.
        datanet: String,
        /// The content hash.
        hash: B256,
        /// Who contributed it first.
        contributor: Address,
    },
    /// Stored bytes no longer hash to their name, or a record is malformed.
    #[error("corrupt store entry {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// Curation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Uploaded, not yet reviewed.
    Pending,
    /// In the training sets.
    Approved,
    /// Kept but never trained on.
    Rejected,
}

/// One contribution's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// keccak256 of the bytes.
    pub hash: B256,
    /// Who contributed it.
    pub contributor: Address,
    /// The Datanet.
    pub datanet: String,
    /// Curation status.
    pub status: Status,
    /// Size in bytes.
    pub bytes: usize,
}

/// A content store in a folder.
#[derive(Debug, Clone)]
pub struct DatanetStore {
    dir: PathBuf,
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || name.starts_with('.')
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(StoreError::BadName(name.to_owned()));
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl DatanetStore {
    /// Opens (creating) a store.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for sub in ["objects", "records"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn object_path(&self, hash: B256) -> PathBuf {
        let hex = format!("{hash:x}");
        self.dir.join("objects").join(&hex[2..4]).join(&hex[2..])
    }

    fn record_path(&self, datanet: &str, hash: B256) -> PathBuf {
        self.dir.join("records").join(datanet).join(format!("{hash:x}.json"))
    }

    /// Stores a contribution (UTF-8 text) as pending; refuses content already in the Datanet.
    pub fn add(
        &self,
        datanet: &str,
        contributor: Address,
        content: &[u8],
    ) -> Result<Contribution, StoreError> {
        check_name(datanet)?;
        let text = std::str::from_utf8(content)
            .map_err(|e| StoreError::BadContent(format!("not UTF-8 text: {e}")))?;
        if text.trim().is_empty() {
            return Err(StoreError::BadContent("empty".into()));
        }
        let hash = keccak256(content);
        if let Ok(existing) = self.get_record(datanet, hash) {
            return Err(StoreError::Duplicate {
                datanet: datanet.to_owned(),
                hash,
                contributor: existing.contributor,
            });
        }
        let obj = self.object_path(hash);
        if !obj.exists() {
            if let Some(parent) = obj.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            write_atomic(&obj, content)?;
        }
        let record = Contribution {
            hash,
            contributor,
            datanet: datanet.to_owned(),
            status: Status::Pending,
            bytes: content.len(),
        };
        self.put_record(&record)?;
        Ok(record)
    }

    fn put_record(&self, record: &Contribution) -> Result<(), StoreError> {
        let path = self.record_path(&record.datanet, record.hash);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        write_atomic(&path, &json)
    }

    /// A contribution's record.
    pub fn get_record(&self, datanet: &str, hash: B256) -> Result<Contribution, StoreError> {
        check_name(datanet)?;
        let path = self.record_path(datanet, hash);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                StoreError::NotFound { datanet: datanet.to_owned(), hash }
            }
            _ => StoreError::Io { path: path.clone(), source: e },
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { path, reason: e.to_string() })
    }

    /// Sets a contribution's status (a curator's decision).
    pub fn set_status(
        &self,
        datanet: &str,
        hash: B256,
        status: Status,
    ) -> Result<Contribution, StoreError> {
        let mut record = self.get_record(datanet, hash)?;
        record.status = status;
        self.put_record(&record)?;
        Ok(record)
    }

    /// The bytes of `hash`, checked against it.
    pub fn content(&self, hash: B256) -> Result<Vec<u8>, StoreError> {
        let path = self.object_path(hash);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let found = keccak256(&bytes);
        if found != hash {
            return Err(StoreError::Corrupt { path, reason: format!("content hashes to {found}") });
        }
        Ok(bytes)
    }

    /// The Datanets in the store.
    pub fn datanets(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.dir.join("records");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            if let Some(name) = entry.file_name().to_str()
                && check_name(name).is_ok()
            {
                out.push(name.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// A Datanet's contributions, by hash.
    pub fn list(&self, datanet: &str) -> Result<Vec<Contribution>, StoreError> {
        check_name(datanet)?;
        let dir = self.dir.join("records").join(datanet);
        if !dir.exists() {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                out.push(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| StoreError::Corrupt { path, reason: e.to_string() })?,
                );
            }
        }
        out.sort_by_key(|c: &Contribution| c.hash);
        Ok(out)
    }

    /// The approved contributions of `datanets` as training examples, Datanet by Datanet, by
    /// hash (a content hash that two Datanets both approved is trained on once, credited to
    /// its first Datanet in this order).
    pub fn snapshot(&self, datanets: &[String]) -> Result<Vec<Example>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for d in datanets {
            for c in self.list(d)? {
                if c.status != Status::Approved || !seen.insert(c.hash) {
                    continue;
                }
                let bytes = self.content(c.hash)?;
                let text = String::from_utf8(bytes).map_err(|e| StoreError::Corrupt {
                    path: self.object_path(c.hash),
                    reason: e.to_string(),
                })?;
                out.push(Example {
                    hash: c.hash,
                    contributor: c.contributor,
                    datanet: d.clone(),
                    text,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_approve_snapshot_and_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let store = DatanetStore::open(dir.path()).unwrap();
        let alice = Address::repeat_byte(0xa1);
        let bob = Address::repeat_byte(0xb0);
        let a = store.add("plays", alice, b"To be, or not to be").unwrap();
        let b = store.add("plays", bob, b"A horse! a horse!").unwrap();
        assert_eq!(a.hash, keccak256(b"To be, or not to be"));
        assert_eq!(a.status, Status::Pending);
        assert!(store.snapshot(&["plays".into()]).unwrap().is_empty());
        store.set_status("plays", a.hash, Status::Approved).unwrap();
        store.set_status("plays", b.hash, Status::Rejected).unwrap();
        let snap = store.snapshot(&["plays".into()]).unwrap();
        assert_eq!(snap.len(), 1);
        assert_eq!((snap[0].contributor, snap[0].text.as_str()), (alice, "To be, or not to be"));
        // Reopening sees the same state.
        let again = DatanetStore::open(dir.path()).unwrap();
        assert_eq!(again.list("plays").unwrap().len(), 2);
        assert_eq!(again.datanets().unwrap(), ["plays"]);
        // Bad input.
        assert!(matches!(
            store.add("plays", bob, b"To be, or not to be"),
            Err(StoreError::Duplicate { .. })
        ));
        assert!(matches!(store.add("../x", bob, b"x"), Err(StoreError::BadName(_))));
        assert!(matches!(store.add("plays", bob, &[0xff, 0xfe]), Err(StoreError::BadContent(_))));
        assert!(matches!(store.add("plays", bob, b"  "), Err(StoreError::BadContent(_))));
        assert!(matches!(
            store.set_status("plays", B256::ZERO, Status::Approved),
            Err(StoreError::NotFound { .. })
        ));
        // Tampered bytes are refused.
        let obj = store.object_path(a.hash);
        std::fs::write(&obj, b"To be, or not to be?").unwrap();
        assert!(matches!(store.snapshot(&["plays".into()]), Err(StoreError::Corrupt { .. })));
    }
}
