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
use std::time::{Duration, Instant};

use ring::rand::SecureRandom;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use codec::{
    RecordKey, StoredReceipt, StoredRecord, decode_record_row, encode_record_row, record_row_key,
};

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
    /// The data directory holds a store of another layout version.
    #[error(
        "store: the data directory holds layout {found}, this veilink reads layout {expected}; \
         re-create the store (docs/STORAGE.md)"
    )]
    Layout {
        /// The layout found (1 for stores written before layouts were recorded).
        found: u64,
        /// [`LAYOUT_VERSION`].
        expected: u64,
    },
    /// The data directory stayed locked by another open store (usually
    /// another `veilink serve` on the same `--data`) for all of
    /// [`LOCK_WAIT`].
    #[error(
        "store: the data directory {path} is in use by another open store, usually another \
         process (its lock was held for {waited_ms} ms); stop that process or choose another \
         --data"
    )]
    Locked {
        /// The data directory.
        path: String,
        /// How long the open waited for the lock, in milliseconds.
        waited_ms: u128,
    },
}

/// How long [`Store::open`] waits for the data directory's lock. sled 0.34
/// releases its file lock from a background thread shortly after the last
/// handle is dropped (sled issues #1234 and #1289), so an open right after a
/// close in the same process can find it still held for a moment.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Meta key of the server's own secret (32 bytes) used to re-key tokens at rest.
const META_SERVER_SECRET: &[u8] = b"server_secret";
/// Meta key of the project's encoding fingerprint (32 bytes).
pub const META_FINGERPRINT: &[u8] = b"fingerprint";
/// Meta key of the next record sequence number (u64 BE).
pub const META_NEXT_SEQ: &[u8] = b"next_seq";
/// Meta key of the linkage model (JSON).
pub const META_LINK_MODEL: &[u8] = b"link_model";
/// Meta key of the store layout version (u64 BE).
const META_LAYOUT: &[u8] = b"layout";
/// The store layout this code reads and writes (`docs/STORAGE.md`). Layout 1
/// (before 2026-11-30) kept whole records under their ref; layout 2 keeps
/// them in sequence order with a ref → seq index; layout 3 (from 2026-11-30)
/// stores the audit log's leaf hashes in blocks of 16 and no Merkle nodes
/// below level 4 (`docs/AUDIT.md`); layout 4 (from 2026-12-01) drops the
/// stored ref → seq index (`record_refs`), which the server keeps in memory.
pub const LAYOUT_VERSION: u64 = 4;
/// The tree of layouts 2 and 3 that layout 4 no longer has: agency code ‖
/// record ref → seq.
const LAYOUT_3_REFS: &[u8] = b"record_refs";
/// Default size of sled's page cache in bytes (1 GiB, sled's own default).
pub const DEFAULT_CACHE_BYTES: u64 = 1024 * 1024 * 1024;

/// `bytes` read from `tree` as an array of exactly `N` bytes (a fixed-width
/// key or value, `docs/STORAGE.md`).
///
/// # Errors
/// [`StoreError::Corrupt`] naming `tree`, with `message`, for any other length.
pub fn fixed_width<const N: usize>(
    bytes: &[u8],
    tree: TreeName,
    message: &str,
) -> Result<[u8; N], StoreError> {
    <[u8; N]>::try_from(bytes).map_err(|_| StoreError::Corrupt {
        tree: tree.name(),
        message: message.into(),
    })
}

/// The trees of the store (`docs/STORAGE.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeName {
    /// Small values: secrets, fingerprint, sequence counters, model.
    Meta,
    /// Agency id ↔ 16-bit agency code.
    Agencies,
    /// Record sequence number (u64 BE) → agency code ‖ record ref ‖ stored
    /// record ([`codec::encode_record_row`]): appended in sequence order.
    Records,
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
    const ALL: [TreeName; 7] = [
        TreeName::Meta,
        TreeName::Agencies,
        TreeName::Records,
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

/// Whether sled's open failed because the directory's lock is held. Its
/// error text is the only sign of that: sled is pinned at 0.34.7, whose
/// `Config::try_lock` writes "could not acquire lock on PATH: ERROR" with
/// the `Debug` form of the OS error (`kind: WouldBlock` for a held lock).
/// Other lock failures (no locks on the file system) are not retried.
fn is_lock_held(e: &std::io::Error) -> bool {
    let text = e.to_string();
    text.starts_with("could not acquire lock on") && text.contains("WouldBlock")
}

/// Opens sled with `config`, retrying every 20 ms for up to `wait` while
/// sled reports the directory's lock as held ([`is_lock_held`]).
///
/// # Errors
/// [`StoreError::Locked`] when the lock stays held for `wait`;
/// [`StoreError::Sled`] for any other failure, at once.
fn open_waiting_for_lock(
    config: &sled::Config,
    dir: &Path,
    wait: Duration,
) -> Result<sled::Db, StoreError> {
    let started = Instant::now();
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if is_lock_held(&e) => {
                if started.elapsed() >= wait {
                    return Err(StoreError::Locked {
                        path: dir.display().to_string(),
                        waited_ms: started.elapsed().as_millis(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return Ok(opened?),
        }
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
    /// Opens (or creates) the store in `dir` with the default page cache
    /// ([`DEFAULT_CACHE_BYTES`]); see [`Store::open_with_cache`].
    ///
    /// # Errors
    /// As [`Store::open_with_cache`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store in `dir` with a page cache of
    /// `cache_bytes`, creating the server secret and recording the layout
    /// version on first use.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another open store holds the directory for
    /// longer than [`LOCK_WAIT`], [`StoreError::Sled`] when the directory
    /// cannot be opened, [`StoreError::Random`],
    /// [`StoreError::Layout`] for a store of another layout version.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let config = sled::Config::new().path(dir).cache_capacity(cache_bytes);
        let db = open_waiting_for_lock(&config, dir, LOCK_WAIT)?;
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
        store.check_layout()?;
        Ok(store)
    }

    /// Records [`LAYOUT_VERSION`] in a store without records, or checks it;
    /// upgrades a layout-3 store in place (layout 4 is layout 3 without the
    /// `record_refs` tree, which is dropped).
    fn check_layout(&self) -> Result<(), StoreError> {
        let meta = self.tree(TreeName::Meta);
        let found = match meta.get(META_LAYOUT)? {
            Some(_) => self.get_u64(TreeName::Meta, META_LAYOUT)?,
            // A store that never held a record can take any layout; one that
            // did was written before layouts were recorded (layout 1).
            None if self.tree(TreeName::Records).is_empty()
                && !self
                    .db
                    .tree_names()
                    .iter()
                    .any(|name| name.as_ref() == b"records_by_seq") =>
            {
                meta.insert(META_LAYOUT, &LAYOUT_VERSION.to_be_bytes())?;
                self.db.flush()?;
                LAYOUT_VERSION
            }
            None => 1,
        };
        if found == 3 && LAYOUT_VERSION == 4 {
            // Drop the index, then record the new layout: a crash between the
            // two leaves layout 3 without `record_refs`, which upgrades again.
            self.db.drop_tree(LAYOUT_3_REFS)?;
            meta.insert(META_LAYOUT, &LAYOUT_VERSION.to_be_bytes())?;
            self.db.flush()?;
            tracing::info!(
                "store upgraded from layout 3 to 4: the ref index is now kept in memory"
            );
            return Ok(());
        }
        if found != LAYOUT_VERSION {
            return Err(StoreError::Layout {
                found,
                expected: LAYOUT_VERSION,
            });
        }
        Ok(())
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
            Some(v) => fixed_width(&v, tree, "a counter is not 8 bytes").map(u64::from_be_bytes),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory that an open store holds is refused once the wait is
    /// over, naming the directory; an open that starts while the holder is
    /// still open succeeds when the holder closes within the wait.
    #[test]
    fn a_held_directory_is_waited_for_then_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held");
        let held = Store::open(&path).unwrap();
        let config = sled::Config::new().path(&path);
        let err = open_waiting_for_lock(&config, &path, Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::Locked { waited_ms, .. } if waited_ms >= 100),
            "{err}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        let reopened = open_waiting_for_lock(&config, &path, Duration::from_secs(20));
        closer.join().unwrap();
        assert!(reopened.is_ok(), "{:?}", reopened.err());
    }

    /// Only a held lock (`WouldBlock`) is waited for; another failure to
    /// lock (a file system without locks) or any other I/O error is not.
    #[test]
    fn only_a_held_lock_is_retried() {
        let io = |text: &str| std::io::Error::other(text.to_string());
        assert!(is_lock_held(&io(
            "could not acquire lock on \"/d/db\": Os { code: 11, kind: WouldBlock, \
             message: \"Resource temporarily unavailable\" }"
        )));
        assert!(!is_lock_held(&io(
            "could not acquire lock on \"/d/db\": Os { code: 37, kind: Uncategorized, \
             message: \"No locks available\" }"
        )));
        assert!(!is_lock_held(&io("Permission denied (os error 13)")));
    }

    /// A new store records the current layout and opens again; a store of
    /// layout 1 (records but no `layout` key) or of an unknown layout is
    /// refused with an error naming both versions.
    #[test]
    fn layout_is_recorded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        drop(Store::open(&fresh).unwrap());
        let store = Store::open(&fresh).unwrap();
        assert_eq!(
            store.get_u64(TreeName::Meta, META_LAYOUT).unwrap(),
            LAYOUT_VERSION
        );
        store
            .tree(TreeName::Meta)
            .insert(META_LAYOUT, &7u64.to_be_bytes())
            .unwrap();
        store.db.flush().unwrap();
        drop(store);
        let err = Store::open(&fresh).err().unwrap();
        assert!(matches!(
            err,
            StoreError::Layout {
                found: 7,
                expected: LAYOUT_VERSION
            }
        ));
        assert!(err.to_string().contains("layout 7"), "{err}");

        let old = dir.path().join("layout-1");
        {
            let db = sled::open(&old).unwrap();
            let by_seq = db.open_tree("records_by_seq").unwrap();
            by_seq.insert(1u64.to_be_bytes(), vec![0u8; 34]).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(&old).err().unwrap();
        assert!(matches!(err, StoreError::Layout { found: 1, .. }), "{err}");
    }

    /// A layout-3 store opens as layout 4: its `record_refs` tree is
    /// dropped and the new layout recorded; its records stay.
    #[test]
    fn a_layout_3_store_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layout-3");
        {
            let db = sled::open(&path).unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert(META_LAYOUT, &3u64.to_be_bytes())
                .unwrap();
            db.open_tree("records")
                .unwrap()
                .insert(1u64.to_be_bytes(), vec![0u8; 40])
                .unwrap();
            db.open_tree(LAYOUT_3_REFS)
                .unwrap()
                .insert([0u8; 34], &1u64.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.get_u64(TreeName::Meta, META_LAYOUT).unwrap(),
            LAYOUT_VERSION
        );
        assert!(
            !store
                .db
                .tree_names()
                .iter()
                .any(|name| name.as_ref() == LAYOUT_3_REFS)
        );
        assert_eq!(store.tree(TreeName::Records).len(), 1);
    }
}
