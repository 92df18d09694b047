//! The log in sled: entries, stored subtree hashes, tree head, checkpoint and
//! log key, and the append that rides in the caller's own transaction.
//!
//! Three trees (layout in `docs/AUDIT.md`):
//! - `audit_entries`: leaf index (`u64` big-endian) → canonical entry bytes;
//! - `audit_nodes`: [`NodeId::to_key`] → 32-byte hash of that perfect
//!   subtree, for levels from [`LOWEST_STORED_LEVEL`] up, written once when
//!   the subtree completes, never changed; and [`leaf_block_key`] → the
//!   leaf hashes of a block of [`LEAF_BLOCK`] entries, 32 bytes each,
//!   rewritten while the block fills. Nodes of levels 0 to 3 are read or
//!   folded from a leaf block;
//! - `audit_meta`: `head` (size `u64` BE ‖ root), `checkpoint` (the latest
//!   signed note), `log_key` (PKCS#8), `origin`.
//!
//! An action and its entry must commit together (a crash never leaves one
//! without the other), so appending is split in two: [`stage_append`] is
//! pure and computes every write from the in-memory [`LogState`];
//! [`StagedAppend::write_into`] performs them inside the caller's sled
//! transaction over its own trees plus these three. Appends must be
//! serialised (hold one lock from staging until the commit is done); a stale
//! stage aborts rather than overwrite entries.
//!
//! Reads ([`LogTrees::entries`], proofs, past roots) use only committed
//! nodes and leaf hashes of committed entries, which never change, so they
//! need no lock.

use std::ops::Range;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::AuditError;
use super::checkpoint::{Checkpoint, LogKey};
use super::entry::LogEntry;
use super::hash::{Hash, empty_root, leaf_hash};
use super::proof::{self, NodeReader};
use super::tree::{Frontier, NodeId};
use super::verify::LogSource;

/// Entries per leaf block: the leaf hashes of entries `16·b .. 16·b + 16`
/// are stored together under [`leaf_block_key`]`(b)`, one write per block
/// (and one rewrite per append that adds to an unfinished block) instead of
/// one per entry.
pub const LEAF_BLOCK: u64 = 16;
/// The lowest level of Merkle node stored under its own key: a node of
/// level 4 covers one leaf block. Nodes of levels 0 to 3 lie inside one
/// block and are read or folded from its leaf hashes when a proof or the
/// frontier needs them. Storing per-entry hashes at all (rather than
/// recomputing them from the entries) is what lets the auditor name the
/// exact entry that was edited (`docs/AUDIT.md`, "Storage in sled").
pub const LOWEST_STORED_LEVEL: u8 = 4;
/// First byte of a leaf-block key in `audit_nodes`; node keys start with
/// their level (0 to 63), so the two never collide.
const LEAF_BLOCK_TAG: u8 = 0xFF;

/// The `audit_nodes` key of leaf block `block`: `0xFF ‖ block u64 BE`
/// (9 bytes, the length of a node key).
pub fn leaf_block_key(block: u64) -> [u8; NodeId::KEY_LEN] {
    let mut key = [0u8; NodeId::KEY_LEN];
    key[0] = LEAF_BLOCK_TAG;
    key[1..].copy_from_slice(&block.to_be_bytes());
    key
}

/// Meta key of the tree head: size (`u64` BE) ‖ root (32 bytes).
const META_HEAD: &[u8] = b"head";
/// Meta key of the latest signed checkpoint (UTF-8 note text).
const META_CHECKPOINT: &[u8] = b"checkpoint";
/// Meta key of the log's Ed25519 key (PKCS#8).
const META_LOG_KEY: &[u8] = b"log_key";
/// Meta key of the origin the log key was created for.
const META_ORIGIN: &[u8] = b"origin";

/// The three sled trees of the log.
#[derive(Clone, Debug)]
pub struct LogTrees {
    /// Leaf index (`u64` BE) → entry bytes.
    pub entries: sled::Tree,
    /// Node key (level ‖ index BE, levels from [`LOWEST_STORED_LEVEL`] up)
    /// → subtree hash; and [`leaf_block_key`] → the leaf hashes of a block.
    pub nodes: sled::Tree,
    /// Tree head, latest checkpoint, log key, origin.
    pub meta: sled::Tree,
}

impl LogTrees {
    /// Opens (creating if needed) the trees `audit_entries`, `audit_nodes`
    /// and `audit_meta` of `db`.
    ///
    /// # Errors
    /// [`AuditError::Storage`].
    pub fn open(db: &sled::Db) -> Result<LogTrees, AuditError> {
        Ok(LogTrees {
            entries: db.open_tree("audit_entries")?,
            nodes: db.open_tree("audit_nodes")?,
            meta: db.open_tree("audit_meta")?,
        })
    }

    /// Appends entries in a transaction of their own (for actions that
    /// write nothing else, e.g. a report query) and installs the new state.
    /// Does not flush: call `flush_async` before acknowledging.
    ///
    /// # Errors
    /// Those of [`stage_append`] and [`StagedAppend::write_into`]; `state`
    /// is unchanged then.
    pub fn append(
        &self,
        state: &mut LogState,
        entries: &[LogEntry],
    ) -> Result<Range<u64>, AuditError> {
        let staged = stage_append(state, entries)?;
        (&self.entries, &self.nodes, &self.meta)
            .transaction(|(e, n, m)| staged.write_into::<AuditError>(e, n, m))
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => AuditError::Storage(e),
            })?;
        let indexes = staged.indexes();
        *state = staged.into_state();
        Ok(indexes)
    }

    /// The committed tree head: size and root (the empty root for size 0).
    ///
    /// # Errors
    /// [`AuditError::Storage`]; [`AuditError::Corrupt`] for a malformed head.
    pub fn head(&self) -> Result<(u64, Hash), AuditError> {
        match self.meta.get(META_HEAD)? {
            None => Ok((0, empty_root())),
            Some(bytes) => decode_head(&bytes),
        }
    }

    /// The entry bytes at `index`, if stored.
    ///
    /// # Errors
    /// [`AuditError::Storage`].
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        Ok(self.entries.get(index.to_be_bytes())?.map(|v| v.to_vec()))
    }

    /// The stored entries with indexes in `range`, in order, as
    /// `(index, bytes)`. A missing index is simply absent (callers that need
    /// a contiguous run check the indexes).
    pub fn entries(
        &self,
        range: Range<u64>,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), AuditError>> + use<> {
        self.entries
            .range(range.start.to_be_bytes()..range.end.to_be_bytes())
            .map(|item| {
                let (key, value) = item?;
                let index: [u8; 8] = key.as_ref().try_into().map_err(|_| {
                    AuditError::Corrupt(format!("an entry key of {} bytes", key.len()))
                })?;
                Ok((u64::from_be_bytes(index), value.to_vec()))
            })
    }

    /// Checks that a tree of `size` leaves is committed.
    fn check_committed(&self, size: u64, what: &str) -> Result<(), AuditError> {
        let (committed, _) = self.head()?;
        if size > committed {
            return Err(AuditError::OutOfRange(format!(
                "{what} for a tree of {size} leaves; the log has {committed}"
            )));
        }
        Ok(())
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves
    /// (RFC 9162 §2.1.3), from O(log n) stored nodes.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] unless `index < size <=` the log size;
    /// [`AuditError::Corrupt`] for a missing node; [`AuditError::Storage`].
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        self.check_committed(size, "inclusion proof")?;
        proof::inclusion_proof(self, index, size)
    }

    /// Consistency proof between the trees of `old` and `new` leaves
    /// (RFC 9162 §2.1.4), from O(log n) stored nodes.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] unless `old <= new <=` the log size;
    /// [`AuditError::Corrupt`] for a missing node; [`AuditError::Storage`].
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        self.check_committed(new, "consistency proof")?;
        proof::consistency_proof(self, old, new)
    }

    /// The root of the tree of the first `size` leaves, from O(log n) stored
    /// nodes.
    ///
    /// # Errors
    /// As [`LogTrees::consistency_proof`].
    pub fn root_at(&self, size: u64) -> Result<Hash, AuditError> {
        self.check_committed(size, "root")?;
        if size == 0 {
            return Ok(empty_root());
        }
        proof::root_at(self, size)
    }

    /// The log key signing as `origin`, created (and flushed) on first use.
    ///
    /// # Errors
    /// [`AuditError::Key`] when the stored key is unusable or the origin
    /// differs from the one the log was created with (checkpoints signed
    /// under the old name would stop verifying); [`AuditError::Storage`].
    pub fn log_key(&self, origin: &str) -> Result<LogKey, AuditError> {
        if self.meta.get(META_LOG_KEY)?.is_none() {
            let pkcs8 = LogKey::generate_pkcs8()?;
            LogKey::from_pkcs8(origin, &pkcs8)?; // validates the origin first
            let fresh = [
                (META_LOG_KEY, pkcs8.as_slice()),
                (META_ORIGIN, origin.as_bytes()),
            ];
            for (key, value) in fresh {
                // A concurrent first open may win; its value is kept.
                let _ = self
                    .meta
                    .compare_and_swap(key, None as Option<&[u8]>, Some(value))?;
            }
            self.meta.flush()?;
            tracing::info!(origin, "created the transparency log key");
        }
        let stored_origin = self.meta.get(META_ORIGIN)?.unwrap_or_default();
        if stored_origin.as_ref() != origin.as_bytes() {
            return Err(AuditError::Key(format!(
                "the log was created with origin {:?}, not {origin:?}",
                String::from_utf8_lossy(&stored_origin)
            )));
        }
        let pkcs8 = self
            .meta
            .get(META_LOG_KEY)?
            .ok_or_else(|| AuditError::Corrupt("the log key vanished".into()))?;
        LogKey::from_pkcs8(origin, &pkcs8)
    }

    /// Signs a checkpoint of `state` at `time` (unix seconds) and stores it
    /// as the latest checkpoint; returns the signed note.
    ///
    /// Call only once the commit that produced `state` is durable (after the
    /// flush): a checkpoint must never commit to entries a crash could lose.
    ///
    /// # Errors
    /// [`AuditError::StaleState`] when `state` is not the committed head, or
    /// is smaller than the latest stored checkpoint (checkpoints never go
    /// back); errors of [`LogKey::sign_checkpoint`]; [`AuditError::Storage`].
    pub fn sign_checkpoint(
        &self,
        key: &LogKey,
        state: &LogState,
        time: i64,
    ) -> Result<String, AuditError> {
        // The state must be committed: the head itself, or an earlier head
        // that the stored nodes confirm (appends may have followed since).
        let (committed, root) = self.head()?;
        let matches = if committed == state.size() {
            root == state.root()
        } else {
            state.size() < committed && self.root_at(state.size())? == state.root()
        };
        if !matches {
            return Err(AuditError::StaleState {
                staged: state.size(),
                stored: committed,
            });
        }
        let note = key.sign_checkpoint(&Checkpoint {
            origin: key.name().to_string(),
            size: state.size(),
            root: state.root(),
            time: Some(time),
        })?;
        // Compare-and-swap, so two signers racing cannot store a smaller
        // checkpoint over a larger one.
        loop {
            let current = self.meta.get(META_CHECKPOINT)?;
            if let Some(bytes) = &current {
                let latest = std::str::from_utf8(bytes).map_err(|_| {
                    AuditError::Corrupt("the stored checkpoint is not UTF-8".into())
                })?;
                let previous = parse_unverified(latest)?;
                if previous.size > state.size() {
                    return Err(AuditError::StaleState {
                        staged: state.size(),
                        stored: previous.size,
                    });
                }
            }
            let swapped =
                self.meta
                    .compare_and_swap(META_CHECKPOINT, current, Some(note.as_bytes()))?;
            if swapped.is_ok() {
                return Ok(note);
            }
        }
    }

    /// The latest signed checkpoint note, if one was stored.
    ///
    /// # Errors
    /// [`AuditError::Storage`]; [`AuditError::Corrupt`] when not UTF-8.
    pub fn latest_checkpoint(&self) -> Result<Option<String>, AuditError> {
        self.meta
            .get(META_CHECKPOINT)?
            .map(|bytes| {
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| AuditError::Corrupt("the stored checkpoint is not UTF-8".into()))
            })
            .transpose()
    }
}

/// The checkpoint in a note, without checking signatures (for the log's own
/// bookkeeping only).
fn parse_unverified(note: &str) -> Result<Checkpoint, AuditError> {
    let text_end = note
        .rfind("\n\n")
        .ok_or_else(|| AuditError::Corrupt("the stored checkpoint is not a signed note".into()))?;
    Checkpoint::parse(&note[..=text_end])
}

/// Decodes a stored tree head: size (8 bytes BE) ‖ root (32 bytes).
fn decode_head(bytes: &[u8]) -> Result<(u64, Hash), AuditError> {
    if bytes.len() != 40 {
        return Err(AuditError::Corrupt(format!(
            "a tree head of {} bytes",
            bytes.len()
        )));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&bytes[..8]);
    let mut root = [0u8; 32];
    root.copy_from_slice(&bytes[8..]);
    Ok((u64::from_be_bytes(size), root))
}

/// Encodes a tree head: size (8 bytes BE) ‖ root (32 bytes).
fn encode_head(size: u64, root: &Hash) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&size.to_be_bytes());
    out[8..].copy_from_slice(root);
    out
}

impl LogTrees {
    /// The stored leaf hashes of leaf block `block` (0 to 16 of them).
    ///
    /// # Errors
    /// [`AuditError::Corrupt`] when the value is not a whole number of
    /// hashes or holds more than [`LEAF_BLOCK`]; [`AuditError::Storage`].
    pub fn leaf_block(&self, block: u64) -> Result<Vec<Hash>, AuditError> {
        let value = self.nodes.get(leaf_block_key(block))?.unwrap_or_default();
        if value.len() % 32 != 0 || value.len() as u64 > 32 * LEAF_BLOCK {
            return Err(AuditError::Corrupt(format!(
                "leaf block {block} holds {} bytes",
                value.len()
            )));
        }
        Ok(value
            .chunks_exact(32)
            .map(|c| {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(c);
                hash
            })
            .collect())
    }

    /// The hash of a node below [`LOWEST_STORED_LEVEL`]: its `2^level` leaf
    /// hashes from their block, folded as a [`Frontier`] (RFC 9162 §2.1.1).
    ///
    /// # Errors
    /// [`AuditError::Corrupt`] naming the node and the first entry whose
    /// leaf hash is not stored; errors of [`LogTrees::leaf_block`].
    fn node_in_block(&self, id: NodeId) -> Result<Hash, AuditError> {
        let width = 1usize << id.level;
        let first = id.index.checked_mul(width as u64).ok_or_else(|| {
            AuditError::OutOfRange(format!(
                "node (level {}, index {}) lies past any log",
                id.level, id.index
            ))
        })?;
        let block = self.leaf_block(first / LEAF_BLOCK)?;
        let offset = (first % LEAF_BLOCK) as usize;
        let Some(leaves) = block.get(offset..offset + width) else {
            return Err(AuditError::Corrupt(format!(
                "node (level {}, index {}) is missing: the leaf hash of entry {} is not stored",
                id.level,
                id.index,
                first + block.len().saturating_sub(offset) as u64
            )));
        };
        // A perfect subtree's root is the one subtree of its frontier.
        let mut subtree = Frontier::new();
        for leaf in leaves {
            subtree.push(*leaf, |_, _| {});
        }
        Ok(subtree.root())
    }
}

impl NodeReader for LogTrees {
    /// Nodes from [`LOWEST_STORED_LEVEL`] up are read from their own key;
    /// lower ones from their leaf block.
    ///
    /// # Errors
    /// [`AuditError::Corrupt`] when the node (or a leaf hash under it) is
    /// missing or a stored node is not 32 bytes.
    fn node(&self, id: NodeId) -> Result<Hash, AuditError> {
        if id.level < LOWEST_STORED_LEVEL {
            return self.node_in_block(id);
        }
        let value = self.nodes.get(id.to_key())?.ok_or_else(|| {
            AuditError::Corrupt(format!(
                "node (level {}, index {}) is missing",
                id.level, id.index
            ))
        })?;
        value.as_ref().try_into().map_err(|_| {
            AuditError::Corrupt(format!(
                "node (level {}, index {}) holds {} bytes",
                id.level,
                id.index,
                value.len()
            ))
        })
    }
}

/// The log's in-memory tree head: size, frontier and the leaf hashes of the
/// unfinished leaf block. Owned by whoever serialises appends (one per open
/// store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState {
    /// The right edge of the committed tree.
    frontier: Frontier,
    /// Leaf hashes of entries `size - size % 16 .. size`: the unfinished
    /// leaf block, which the next append rewrites with its own hashes added.
    open_block: Vec<Hash>,
}

impl LogState {
    /// Rebuilds the state from sled: the head, one node per set bit of the
    /// size (O(log n) reads) checked against the head's root, and the
    /// unfinished leaf block.
    ///
    /// # Errors
    /// [`AuditError::Corrupt`] when a frontier node is missing, the nodes do
    /// not give the stored root, or the unfinished leaf block does not hold
    /// exactly the leaves since the last full block; [`AuditError::Storage`].
    pub fn open(trees: &LogTrees) -> Result<LogState, AuditError> {
        let (size, root) = trees.head()?;
        let subtrees = NodeId::frontier_of(size)
            .map(|id| trees.node(id))
            .collect::<Result<Vec<Hash>, AuditError>>()?;
        let frontier = Frontier::from_parts(size, subtrees)?;
        if frontier.root() != root {
            return Err(AuditError::Corrupt(format!(
                "the stored nodes do not give the stored root of the {size}-entry tree"
            )));
        }
        let open_block = if size % LEAF_BLOCK == 0 {
            Vec::new()
        } else {
            trees.leaf_block(size / LEAF_BLOCK)?
        };
        if open_block.len() as u64 != size % LEAF_BLOCK {
            return Err(AuditError::Corrupt(format!(
                "leaf block {} holds {} hashes; a tree of {size} entries needs {}",
                size / LEAF_BLOCK,
                open_block.len(),
                size % LEAF_BLOCK
            )));
        }
        Ok(LogState {
            frontier,
            open_block,
        })
    }

    /// Number of entries committed.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root hash of the committed tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The right edge of the tree.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

/// Which of the log's trees a staged write goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogTree {
    /// [`LogTrees::entries`].
    Entries,
    /// [`LogTrees::nodes`].
    Nodes,
    /// [`LogTrees::meta`].
    Meta,
}

/// Every write of one append, computed but not yet performed.
#[derive(Clone, Debug)]
pub struct StagedAppend {
    /// Index of the first staged entry (the log size it was staged on).
    first: u64,
    /// The encoded entries, in order.
    entries: Vec<Vec<u8>>,
    /// Perfect subtrees the entries complete from [`LOWEST_STORED_LEVEL`]
    /// up (about one per 8 entries).
    nodes: Vec<(NodeId, Hash)>,
    /// Leaf blocks the entries fill or add to: (block, leaf hashes), whole
    /// values (an unfinished block's earlier hashes included).
    leaf_blocks: Vec<(u64, Vec<u8>)>,
    /// The state once committed.
    state: LogState,
}

/// Stages the append of `entries` to the log in `state`: encodes them and
/// computes their leaf and node hashes and the new head. Pure; amortised
/// O(1) hashing; per 16 entries about one leaf-block and two node writes.
///
/// # Errors
/// [`AuditError::EntryEncoding`] when an entry cannot be encoded (see
/// [`LogEntry::encode`]); nothing is staged then.
pub fn stage_append(state: &LogState, entries: &[LogEntry]) -> Result<StagedAppend, AuditError> {
    let encoded = entries
        .iter()
        .map(LogEntry::encode)
        .collect::<Result<Vec<_>, _>>()?;
    let mut frontier = state.frontier.clone();
    let mut open_block = state.open_block.clone();
    let mut nodes = Vec::with_capacity(encoded.len() / 8 + 64);
    let mut leaf_blocks = Vec::with_capacity(encoded.len() / 16 + 1);
    for bytes in &encoded {
        let leaf = leaf_hash(bytes);
        let index = frontier.size();
        frontier.push(leaf, |id, hash| {
            if id.level >= LOWEST_STORED_LEVEL {
                nodes.push((id, *hash));
            }
        });
        open_block.push(leaf);
        if open_block.len() as u64 == LEAF_BLOCK {
            leaf_blocks.push((index / LEAF_BLOCK, open_block.concat()));
            open_block.clear();
        }
    }
    if !encoded.is_empty() && !open_block.is_empty() {
        leaf_blocks.push((frontier.size() / LEAF_BLOCK, open_block.concat()));
    }
    Ok(StagedAppend {
        first: state.size(),
        entries: encoded,
        nodes,
        leaf_blocks,
        state: LogState {
            frontier,
            open_block,
        },
    })
}

impl StagedAppend {
    /// Performs the staged writes inside the caller's sled transaction:
    /// entries, nodes, leaf blocks and the new head. Safe to run again when
    /// sled retries the transaction.
    ///
    /// Use it in a transaction over the caller's trees and these three, e.g.
    /// `(&records, &trees.entries, &trees.nodes, &trees.meta).transaction(
    /// |(r, e, n, m)| { ...; staged.write_into(e, n, m)?; Ok(()) })`.
    ///
    /// # Errors
    /// Aborts with [`AuditError::StaleState`] (converted into the caller's
    /// abort error) when the stored head is not the one the append was
    /// staged on: two appends raced, or the state is out of date. Passes on
    /// sled's conflicts and storage errors.
    pub fn write_into<E: From<AuditError>>(
        &self,
        entries: &TransactionalTree,
        nodes: &TransactionalTree,
        meta: &TransactionalTree,
    ) -> Result<(), ConflictableTransactionError<E>> {
        let stored = match meta.get(META_HEAD)? {
            None => 0,
            Some(bytes) => {
                decode_head(&bytes)
                    .map_err(|e| ConflictableTransactionError::Abort(E::from(e)))?
                    .0
            }
        };
        if stored != self.first {
            return Err(ConflictableTransactionError::Abort(E::from(
                AuditError::StaleState {
                    staged: self.first,
                    stored,
                },
            )));
        }
        for (tree, key, value) in self.writes() {
            let target = match tree {
                LogTree::Entries => entries,
                LogTree::Nodes => nodes,
                LogTree::Meta => meta,
            };
            target.insert(key, value)?;
        }
        Ok(())
    }

    /// Every staged write as `(tree, key, value)`: the entries, the completed
    /// nodes, the leaf blocks, then the new head.
    /// [`StagedAppend::write_into`] performs them in a transaction; bulk
    /// loading where atomicity with an action does not matter (benchmark
    /// fixtures, migrations) may apply them as one `sled::Batch` per tree
    /// instead.
    pub fn writes(&self) -> impl Iterator<Item = (LogTree, Vec<u8>, Vec<u8>)> + '_ {
        let entries = (self.first..).zip(&self.entries).map(|(index, bytes)| {
            (
                LogTree::Entries,
                index.to_be_bytes().to_vec(),
                bytes.clone(),
            )
        });
        let nodes = self
            .nodes
            .iter()
            .map(|(id, hash)| (LogTree::Nodes, id.to_key().to_vec(), hash.to_vec()));
        let leaf_blocks = self.leaf_blocks.iter().map(|(block, hashes)| {
            (
                LogTree::Nodes,
                leaf_block_key(*block).to_vec(),
                hashes.clone(),
            )
        });
        let head = encode_head(self.state.size(), &self.state.root()).to_vec();
        entries
            .chain(nodes)
            .chain(leaf_blocks)
            .chain(std::iter::once((LogTree::Meta, META_HEAD.to_vec(), head)))
    }

    /// The indexes the staged entries get.
    pub fn indexes(&self) -> Range<u64> {
        self.first..self.state.size()
    }

    /// The log state after the commit; install it once the transaction
    /// succeeded (and drop it if the transaction failed).
    pub fn into_state(self) -> LogState {
        self.state
    }

    /// The state the log will be in once this append is committed.
    pub fn state(&self) -> &LogState {
        &self.state
    }
}

impl LogSource for LogTrees {
    /// # Errors
    /// [`AuditError::OutOfRange`] when no checkpoint was signed yet.
    async fn checkpoint(&mut self) -> Result<String, AuditError> {
        self.latest_checkpoint()?
            .ok_or_else(|| AuditError::OutOfRange("no checkpoint was signed yet".into()))
    }

    /// Stops at the first index the store does not hold.
    async fn entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, AuditError> {
        let mut out = Vec::new();
        for item in LogTrees::entries(self, start..end) {
            let (index, bytes) = item?;
            if index != start + out.len() as u64 {
                break;
            }
            out.push(bytes);
        }
        Ok(out)
    }

    async fn inclusion_proof(&mut self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        LogTrees::inclusion_proof(self, index, size)
    }

    async fn consistency_proof(&mut self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        LogTrees::consistency_proof(self, old, new)
    }
}
