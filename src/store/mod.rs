//! The embedded store: one sled database in the server's data directory.
//!
//! Every tree, key layout and value encoding is documented in
//! `docs/STORAGE.md`. This module owns opening the database, the server's own
//! key material (created once, kept across restarts), reading the stored
//! state back at startup, and [`Store::commit`]: one sled transaction over
//! every tree a change touches — records, receipts, persons, counters and the
//! transparency log's entries — so an action and its log entry are stored
//! together or not at all.
//!
//! sled 0.34.7 is durable only after a flush; callers await
//! [`Store::flush`] before acknowledging anything (`DESIGN.md`, "Facts about
//! the chosen parts"). It syncs with `sync_file_range` on Linux: safe against
//! a process crash (`kill -9`), not guaranteed against power loss.

pub mod codec;

use std::path::{Path, PathBuf};

use ring::rand::SecureRandom;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use codec::{RecordKey, StoredReceipt, StoredRecord};

use crate::audit::AuditError;
use crate::audit::log::{LogTrees, StagedAppend};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O, corruption).
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode: the store is damaged or was edited.
    #[error("store: damaged value in tree {tree}: {message}")]
    Corrupt {
        /// The tree holding the value.
        tree: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The transparency log refused or failed an operation.
    #[error("store: transparency log: {0}")]
    Audit(#[from] AuditError),
    /// The OS random generator failed.
    #[error("store: the OS random generator failed")]
    Random,
}

/// Meta key of the server's own secret (32 bytes) used to re-key tokens at rest.
const META_SERVER_SECRET: &[u8] = b"server_secret";
/// Meta key of the project's encoding fingerprint (32 bytes).
pub const META_FINGERPRINT: &[u8] = b"fingerprint";
/// Meta key of the next record sequence number (u64 BE).
pub const META_NEXT_SEQ: &[u8] = b"next_seq";
/// Meta key of the linkage model (JSON).
pub const META_LINK_MODEL: &[u8] = b"link_model";

/// The trees of the store (`docs/STORAGE.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeName {
    /// Small values: secrets, fingerprint, sequence counters, model.
    Meta,
    /// Agency id ↔ 16-bit agency code.
    Agencies,
    /// Agency code ‖ record ref → stored record.
    Records,
    /// Record sequence number → agency code ‖ record ref.
    RecordsBySeq,
    /// Agency code ‖ batch id → stored receipt.
    Batches,
    /// Person id → creation sequence ‖ record sequence numbers.
    Persons,
    /// Job id → job (JSON).
    Jobs,
    /// Counter name → u64.
    Counters,
}

impl TreeName {
    const ALL: [TreeName; 8] = [
        TreeName::Meta,
        TreeName::Agencies,
        TreeName::Records,
        TreeName::RecordsBySeq,
        TreeName::Batches,
        TreeName::Persons,
        TreeName::Jobs,
        TreeName::Counters,
    ];

    fn name(self) -> &'static str {
        match self {
            TreeName::Meta => "meta",
            TreeName::Agencies => "agencies",
            TreeName::Records => "records",
            TreeName::RecordsBySeq => "records_by_seq",
            TreeName::Batches => "batches",
            TreeName::Persons => "persons",
            TreeName::Jobs => "jobs",
            TreeName::Counters => "counters",
        }
    }
}

/// A set of writes to commit atomically: puts (`Some`) and deletes (`None`).
#[derive(Debug, Default)]
pub struct WriteSet {
    writes: Vec<(TreeName, Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteSet {
    /// An empty set.
    pub fn new() -> WriteSet {
        WriteSet::default()
    }
    /// Stores `value` under `key` in `tree`.
    pub fn put(&mut self, tree: TreeName, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.writes.push((tree, key.into(), Some(value.into())));
    }
    /// Removes `key` from `tree`.
    pub fn delete(&mut self, tree: TreeName, key: impl Into<Vec<u8>>) {
        self.writes.push((tree, key.into(), None));
    }
    /// Number of writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// The opened store.
#[derive(Clone)]
pub struct Store {
    /// The sled database (all trees).
    db: sled::Db,
    /// The store's own trees, in [`TreeName::ALL`] order.
    trees: Vec<sled::Tree>,
    /// The transparency log's trees.
    log: LogTrees,
    /// Where the database lives, for status and messages.
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir`, creating the server secret on
    /// first use.
    ///
    /// # Errors
    /// [`StoreError::Sled`] when the directory cannot be opened (also when
    /// another process holds it), [`StoreError::Random`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(256 * 1024 * 1024)
            .open()?;
        let trees = TreeName::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        let log = LogTrees::open(&db)?;
        let store = Store {
            db,
            trees,
            log,
            path: dir.to_path_buf(),
        };
        if store
            .tree(TreeName::Meta)
            .get(META_SERVER_SECRET)?
            .is_none()
        {
            let mut secret = [0u8; 32];
            ring::rand::SystemRandom::new()
                .fill(&mut secret)
                .map_err(|_| StoreError::Random)?;
            // compare_and_swap: a concurrent first open keeps one secret.
            let _ = store.tree(TreeName::Meta).compare_and_swap(
                META_SERVER_SECRET,
                None as Option<&[u8]>,
                Some(&secret[..]),
            )?;
            store.db.flush()?;
        }
        Ok(store)
    }

    /// One of the store's trees.
    pub fn tree(&self, name: TreeName) -> &sled::Tree {
        // `trees` holds one tree per name, in `TreeName::ALL` order.
        &self.trees[TreeName::ALL.iter().position(|t| *t == name).unwrap_or(0)]
    }

    /// The transparency log's trees.
    pub fn log(&self) -> &LogTrees {
        &self.log
    }

    /// The server's own 32-byte secret, used to re-key tokens before storing them.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the stored secret is missing or not 32 bytes.
    pub fn server_secret(&self) -> Result<[u8; 32], StoreError> {
        let value = self.tree(TreeName::Meta).get(META_SERVER_SECRET)?;
        value
            .as_deref()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or(StoreError::Corrupt {
                tree: "meta",
                message: "server secret missing or not 32 bytes".into(),
            })
    }

    /// A u64 stored big-endian under `key` in `tree` (0 when absent).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the value is not 8 bytes.
    pub fn get_u64(&self, tree: TreeName, key: &[u8]) -> Result<u64, StoreError> {
        match self.tree(tree).get(key)? {
            None => Ok(0),
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    tree: tree.name(),
                    message: "a counter is not 8 bytes".into(),
                }),
        }
    }

    /// Commits `writes` and the staged transparency-log append in one sled
    /// transaction over every tree: all of it is stored, or none of it.
    /// Not yet durable: await [`Store::flush`] before acknowledging.
    ///
    /// # Errors
    /// [`StoreError::Sled`] on I/O failure; [`StoreError::Audit`] when the
    /// staged append no longer fits the stored log (nothing is written).
    pub fn commit(&self, writes: &WriteSet, log: Option<&StagedAppend>) -> Result<(), StoreError> {
        let mut all: Vec<&sled::Tree> = self.trees.iter().collect();
        all.extend([&self.log.entries, &self.log.nodes, &self.log.meta]);
        let result = all.as_slice().transaction(|trees| {
            for (tree, key, value) in &writes.writes {
                let index = TreeName::ALL.iter().position(|t| t == tree).unwrap_or(0);
                match value {
                    Some(v) => {
                        trees[index].insert(key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        trees[index].remove(key.as_slice())?;
                    }
                }
            }
            if let Some(staged) = log {
                let n = TreeName::ALL.len();
                staged.write_into::<AuditError>(&trees[n], &trees[n + 1], &trees[n + 2])?;
            }
            Ok::<(), ConflictableTransactionError<AuditError>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(StoreError::Audit(e)),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// Makes every write so far durable (fsync of the whole database).
    ///
    /// # Errors
    /// [`StoreError::Sled`] on I/O failure.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Bytes the database occupies on disk.
    ///
    /// # Errors
    /// [`StoreError::Sled`].
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
