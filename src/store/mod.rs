//! The embedded store: one sled database in the server's data directory.
//!
//! Every tree, key layout and value encoding is documented in
//! `docs/STORAGE.md`. This module owns opening the database, the server's own
//! key material (created once, kept across restarts), and the atomic,
//! durable commits that the intake, linkage and audit paths go through.
//!
//! sled 0.34.7 is durable only after a flush; callers await
//! [`Store::flush`] before acknowledging anything (`DESIGN.md`, "Facts about
//! the chosen parts").

use std::path::{Path, PathBuf};

use ring::rand::SecureRandom;

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
    /// The OS random generator failed.
    #[error("store: the OS random generator failed")]
    Random,
}

/// Meta key of the server's own secret (32 bytes) used to re-key tokens at rest.
const META_SERVER_SECRET: &[u8] = b"server_secret";

/// The opened store.
#[derive(Clone)]
pub struct Store {
    /// The sled database (all trees).
    db: sled::Db,
    /// Small values: server secret, project fingerprint, counters.
    meta: sled::Tree,
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
        let meta = db.open_tree("meta")?;
        let store = Store {
            db,
            meta,
            path: dir.to_path_buf(),
        };
        if store.meta.get(META_SERVER_SECRET)?.is_none() {
            let mut secret = [0u8; 32];
            ring::rand::SystemRandom::new()
                .fill(&mut secret)
                .map_err(|_| StoreError::Random)?;
            store
                .meta
                .compare_and_swap(META_SERVER_SECRET, None as Option<&[u8]>, Some(&secret[..]))?
                .ok();
            store.db.flush()?;
        }
        Ok(store)
    }

    /// The server's own 32-byte secret, used to re-key tokens before storing them.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the stored secret is missing or not 32 bytes.
    pub fn server_secret(&self) -> Result<[u8; 32], StoreError> {
        let value = self.meta.get(META_SERVER_SECRET)?;
        value
            .as_deref()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or(StoreError::Corrupt {
                tree: "meta",
                message: "server secret missing or not 32 bytes".into(),
            })
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
