//! The transparency log: every submission receipt, withdrawal, linkage
//! decision, job, report query and retention run is a leaf of an
//! append-only Merkle tree, so an auditor can check — without trusting the
//! operator — that each action was recorded and that nothing recorded was
//! changed or removed later.
//!
//! The pieces, bottom up (details and byte layouts in `docs/AUDIT.md`):
//! - [`hash`]: RFC 9162 §2.1.1 leaf and node hashing (SHA-256, ring);
//! - [`tree`]: the incremental tree head (the frontier: O(log n) hashes,
//!   amortised O(1) work per append) and an in-memory tree;
//! - [`proof`]: RFC 9162 §2.1.3/§2.1.4 inclusion and consistency proofs,
//!   generated from stored subtree hashes in O(log n) reads, and verified;
//! - [`entry`]: the canonical, versioned byte encoding of each entry kind
//!   (never a token or anything derived from personal data);
//! - [`checkpoint`]: C2SP signed-note checkpoints with the log's Ed25519 key,
//!   the pinned verifier key, and when to sign;
//! - [`log`]: storage in sled — appends are staged purely and written inside
//!   the caller's own transaction, so an action and its entry commit
//!   together;
//! - [`mod@verify`]: the auditor's verifier, which names the first bad entry.
//!
//! The server wires these into the `Audit` gRPC service; `veilink audit
//! verify` runs [`verify::verify`] against it.

pub mod checkpoint;
pub mod entry;
pub mod hash;
pub mod log;
pub mod proof;
pub mod tree;
pub mod verify;

use std::path::PathBuf;

pub use checkpoint::{
    Checkpoint, CheckpointDue, CheckpointPolicy, DEFAULT_ORIGIN, LogKey, NoteVerifier,
};
pub use entry::{EntryKind, LogEntry};
pub use hash::Hash;
pub use log::{LogState, LogTree, LogTrees, StagedAppend, stage_append};
pub use verify::{
    FailureReason, LogSource, VerifierState, VerifyFailure, VerifyOptions, VerifyReport,
    check_receipt, verify,
};

/// Errors of the transparency log, its proofs, checkpoints and verifier.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// sled failed to read or write.
    #[error("audit log storage: {0}")]
    Storage(#[from] sled::Error),
    /// Stored log data is malformed or missing (the store was damaged or
    /// edited).
    #[error("audit log damaged: {0}")]
    Corrupt(String),
    /// An append was staged on another head than the stored one (appends
    /// raced, or the in-memory state is out of date); nothing was written.
    #[error("audit log head moved: staged on size {staged}, stored size is {stored}")]
    StaleState {
        /// Size the append was staged on.
        staged: u64,
        /// Size found in the store.
        stored: u64,
    },
    /// A proof, root or node was asked for beyond the tree.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// An entry does not encode or decode under the v1 rules.
    #[error("audit entry: {0}")]
    EntryEncoding(String),
    /// A proof does not verify (which RFC 9162 step failed).
    #[error("proof does not verify: {0}")]
    ProofInvalid(&'static str),
    /// A signed note, checkpoint or verifier key is not well formed.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A note carries no valid signature of the pinned key.
    #[error("signature: {0}")]
    Signature(String),
    /// The log's signing key is unusable or does not fit the log.
    #[error("log key: {0}")]
    Key(String),
    /// The log source (e.g. the gRPC connection) failed.
    #[error("log source: {0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// The verifier's state file cannot be used.
    #[error("verifier state {}: {reason}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The log does not verify; names the first bad entry.
    #[error("the log does not verify: {0}")]
    LogInvalid(VerifyFailure),
    /// An intake receipt is not proven by the log.
    #[error("receipt for entry {index}: {reason}")]
    Receipt {
        /// The entry index the receipt names.
        index: u64,
        /// What does not match.
        reason: String,
    },
}
