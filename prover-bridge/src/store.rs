//! The bridge's progress, in an embedded redb database: each service's state as a JSON value
//! under a key, written in one durable transaction per change, so a `kill -9` at any moment
//! leaves the last acknowledged step on disk and a restart resumes from it.

use crate::error::BridgeResult;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use std::path::Path;

const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");

/// The progress store.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> BridgeResult<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                crate::error::BridgeError::Store(format!("creating {}: {e}", parent.display()))
            })?;
        }
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(STATE)?;
        tx.commit()?;
        Ok(Self { db })
    }

    /// The value under `key`, if any.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> BridgeResult<Option<T>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(STATE)?;
        match table.get(key)? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(|e| {
                crate::error::BridgeError::Store(format!("corrupt value under {key}: {e}"))
            }),
            None => Ok(None),
        }
    }

    /// Writes `value` under `key`, durably.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> BridgeResult<()> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| crate::error::BridgeError::Store(format!("encoding {key}: {e}")))?;
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| crate::error::BridgeError::Store(e.to_string()))?;
        tx.open_table(STATE)?.insert(key, bytes.as_slice())?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.redb");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.get::<u64>("x").unwrap(), None);
            store.put("x", &42u64).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get::<u64>("x").unwrap(), Some(42));
        assert!(store.get::<String>("x").is_err(), "a value of another shape is an error");
    }
}
