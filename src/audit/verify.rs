//! The auditor's verifier: checks, without trusting the operator, that the
//! log is what its signed checkpoints say and that it only ever grew — and
//! when it is not, names the first entry that does not verify.
//!
//! One run ([`verify`]):
//! 1. fetch the latest checkpoint and verify its signature against the
//!    *pinned* verifier key (never the key the server offers);
//! 2. against the state saved by the previous run ([`VerifierState`]: size,
//!    root, frontier, checkpoint): the log may not have shrunk, and a
//!    consistency proof must show the saved tree is a prefix of the new one;
//! 3. fetch every entry not seen before (all of them with
//!    [`VerifyOptions::full`] or without a state), decode each one, and
//!    recompute the root from the saved frontier — it must equal the signed
//!    root;
//! 4. check inclusion proofs for a random sample of entries (and the last).
//!
//! Any failure in incremental mode (2–4) re-runs the check over the whole log
//! to localise it. The first bad index is the smallest `i` such that the
//! served entries `0..=i` cannot be shown to be a prefix of the signed tree:
//! a bisection over prefix sizes `m`, each tested with a consistency proof
//! from `m` to the signed size against the locally recomputed root of the
//! first `m` entries. Frontier snapshots every [`VerifyOptions::batch`]
//! entries keep memory at O(n / batch · log n) and the bisection refetches
//! one batch. This names a changed, inserted, removed or reordered entry
//! exactly while the log's stored subtree hashes are intact; if the operator
//! rewrote those too, the proofs stop verifying and the verifier names the
//! first entry it can no longer prove (it never reports success).

use std::future::Future;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::AuditError;
use super::checkpoint::{Checkpoint, NoteVerifier};
use super::entry::{BatchReceipt, LogEntry};
use super::hash::{Hash, hex_serde, leaf_hash, to_hex};
use super::proof::{verify_consistency, verify_inclusion};
use super::tree::Frontier;

/// Where the verifier reads the log: the server over gRPC (the CLI), or the
/// sled store directly ([`LogTrees`](super::log::LogTrees), in tests).
///
/// Futures must be `Send` so a verification can run on any tokio runtime.
/// Transport failures are [`AuditError::Source`] (wrap the transport's
/// error); a log that lacks what its checkpoint promises answers
/// [`LogSource::entries`] with fewer entries, and a proof request with any
/// error.
pub trait LogSource {
    /// The latest signed checkpoint note.
    fn checkpoint(&mut self) -> impl Future<Output = Result<String, AuditError>> + Send;

    /// Entries `start..end` in order (at most 100 000 are asked at once).
    /// Stops early, without error, at the first index the log cannot serve.
    fn entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, AuditError>> + Send;

    /// Inclusion proof of leaf `index` in the tree of `size` leaves.
    fn inclusion_proof(
        &mut self,
        index: u64,
        size: u64,
    ) -> impl Future<Output = Result<Vec<Hash>, AuditError>> + Send;

    /// Consistency proof between the trees of `old` (at least 1) and `new`
    /// leaves.
    fn consistency_proof(
        &mut self,
        old: u64,
        new: u64,
    ) -> impl Future<Output = Result<Vec<Hash>, AuditError>> + Send;
}

/// How thoroughly to verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Re-read and re-hash every entry, not only those after the saved
    /// state (catches an old entry edited in place, which incremental runs
    /// catch only when sampled).
    pub full: bool,
    /// Random entries whose inclusion proofs are checked (plus the last).
    pub sample: usize,
    /// Entries fetched per request, and the spacing of frontier snapshots
    /// (at most 100 000, the server's limit).
    pub batch: u64,
    /// Seed of the sample; `None` draws it from the OS.
    pub seed: Option<u64>,
}

impl Default for VerifyOptions {
    /// Incremental, 32 sampled proofs, batches of 10 000 entries.
    fn default() -> VerifyOptions {
        VerifyOptions {
            full: false,
            sample: 32,
            batch: 10_000,
            seed: None,
        }
    }
}

/// What the verifier keeps between runs (the `--state FILE`, JSON): the
/// last verified checkpoint and the frontier of its tree, so the next run
/// fetches only new entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierState {
    /// The verified signed checkpoint note (evidence if the log later
    /// contradicts it).
    checkpoint: String,
    /// The log's origin.
    origin: String,
    /// The right edge of the verified tree (its size and root).
    frontier: Frontier,
}

/// The JSON layout of [`VerifierState`].
#[derive(Serialize, Deserialize)]
struct StateFile {
    /// Layout version, 1.
    version: u32,
    /// The log's origin.
    origin: String,
    /// Entries verified.
    size: u64,
    /// Root of the verified tree (hex), checked against the frontier.
    #[serde(with = "hex_serde::array")]
    root: Hash,
    /// Right-edge subtree hashes, largest first (hex).
    #[serde(with = "hex_serde::list")]
    frontier: Vec<Hash>,
    /// The verified signed checkpoint note.
    checkpoint: String,
}

impl VerifierState {
    /// Number of entries verified.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root of the verified tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Reads a state file; `Ok(None)` when it does not exist yet.
    ///
    /// # Errors
    /// [`AuditError::StateFile`] when it cannot be read, is not the JSON of
    /// a state, or its frontier does not give its root.
    pub fn load(path: &Path) -> Result<Option<VerifierState>, AuditError> {
        let bad = |reason: String| AuditError::StateFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.version != 1 {
            return Err(bad(format!("unknown state version {}", file.version)));
        }
        let frontier =
            Frontier::from_parts(file.size, file.frontier).map_err(|e| bad(e.to_string()))?;
        if frontier.root() != file.root {
            return Err(bad("the frontier does not give the saved root".into()));
        }
        Ok(Some(VerifierState {
            checkpoint: file.checkpoint,
            origin: file.origin,
            frontier,
        }))
    }

    /// Writes the state file atomically (a temporary file, then a rename).
    ///
    /// # Errors
    /// [`AuditError::StateFile`] when writing fails.
    pub fn save(&self, path: &Path) -> Result<(), AuditError> {
        let bad = |e: &dyn std::fmt::Display| AuditError::StateFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let file = StateFile {
            version: 1,
            origin: self.origin.clone(),
            size: self.size(),
            root: self.root(),
            frontier: self.frontier.subtrees().to_vec(),
            checkpoint: self.checkpoint.clone(),
        };
        let json = serde_json::to_string_pretty(&file).map_err(|e| bad(&e))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, json + "\n").map_err(|e| bad(&e))?;
        std::fs::rename(&tmp, path).map_err(|e| bad(&e))
    }

    /// Checks the state belongs to the pinned key: its checkpoint verifies
    /// and commits to its frontier.
    fn check(&self, key: &NoteVerifier) -> Result<(), AuditError> {
        let saved = key
            .open_checkpoint(&self.checkpoint)
            .map_err(|e| AuditError::StateFile {
                path: "(verifier state)".into(),
                reason: format!("its checkpoint does not verify with the pinned key: {e}"),
            })?;
        if saved.size != self.size() || saved.root != self.root() || saved.origin != self.origin {
            return Err(AuditError::StateFile {
                path: "(verifier state)".into(),
                reason: "its checkpoint and its frontier disagree".into(),
            });
        }
        Ok(())
    }
}

/// Why the first bad entry is bad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// The served entries up to this one are not a prefix of the signed
    /// tree: the proof that would show it does not verify. With the log's
    /// stored subtree hashes intact, this entry was changed, inserted,
    /// removed or moved; if those hashes were rewritten too, it is the first
    /// entry the log can no longer prove.
    NotInSignedTree,
    /// The log could not produce a proof that the entry is in the signed
    /// tree (its stored subtree hashes are missing or damaged).
    Unprovable(String),
    /// The log does not serve the entry although its checkpoint commits to
    /// `signed_size` entries.
    Missing {
        /// Size of the signed checkpoint.
        signed_size: u64,
    },
    /// The entry is in the signed tree but does not decode (unknown kind or
    /// version, or malformed).
    Undecodable(String),
    /// The log signs fewer entries than the auditor verified before.
    Truncated {
        /// Size of the saved state.
        saved_size: u64,
        /// Size of the latest signed checkpoint.
        signed_size: u64,
    },
    /// The latest checkpoint is not signed by the pinned key, so nothing
    /// from this index on is covered by a trusted checkpoint.
    UntrustedCheckpoint(String),
    /// The log (with a valid signature) differs from the one verified
    /// before; the first changed entry lies in `index..range_end`.
    NotAnExtension {
        /// Size of the saved state.
        saved_size: u64,
        /// End (exclusive) of the perfect subtree of the saved tree that
        /// differs.
        range_end: u64,
    },
}

/// A log that does not verify: the first bad entry index and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("first bad entry {first_bad_index}: {reason}")]
pub struct VerifyFailure {
    /// Index of the first entry that does not verify.
    pub first_bad_index: u64,
    /// Why.
    pub reason: FailureReason,
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureReason::NotInSignedTree => f.write_str(
                "the log cannot show it is the entry the signed checkpoint commits to: \
                 it was changed, inserted, removed or moved (or the log's stored hashes were)",
            ),
            FailureReason::Unprovable(why) => {
                write!(f, "the log cannot prove it is in the signed tree ({why})")
            }
            FailureReason::Missing { signed_size } => write!(
                f,
                "it is missing, although the signed checkpoint commits to {signed_size} entries"
            ),
            FailureReason::Undecodable(why) => write!(f, "it does not decode ({why})"),
            FailureReason::Truncated {
                saved_size,
                signed_size,
            } => write!(
                f,
                "it and all later entries are gone: the log now signs {signed_size} entries, \
                 {saved_size} were verified before"
            ),
            FailureReason::UntrustedCheckpoint(why) => write!(
                f,
                "no checkpoint signed by the pinned key covers it or any later entry ({why})"
            ),
            FailureReason::NotAnExtension {
                saved_size,
                range_end,
            } => write!(
                f,
                "the signed log is not an extension of the {saved_size}-entry log verified \
                 before; the first changed entry is before index {range_end}"
            ),
        }
    }
}

/// A verified log: the one-line summary and the state to save.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries fetched, decoded and hashed in this run.
    pub entries_checked: u64,
    /// Consistency and inclusion proofs verified in this run.
    pub proofs_checked: u64,
    /// Whether the whole log was re-read (asked for, no saved state, or an
    /// incremental check failed and was re-run in full).
    pub full: bool,
    /// The state to save for the next run.
    pub state: VerifierState,
}

impl std::fmt::Display for VerifyReport {
    /// `log <origin> verified: N entries, root <hex>; E entries and P proofs checked`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "log {} verified: {} entries, root {}; {} entries and {} proofs checked{}",
            self.checkpoint.origin,
            self.checkpoint.size,
            to_hex(&self.checkpoint.root),
            self.entries_checked,
            self.proofs_checked,
            if self.full { " (full)" } else { "" }
        )
    }
}

/// The result of testing a prefix of the served log against the signed tree.
enum Confirmation {
    /// Proven to be a prefix of the signed tree.
    Confirmed,
    /// A proof was served but does not verify.
    Mismatch,
    /// No proof could be obtained.
    Unprovable(String),
}

/// One linear pass over the entries.
struct Pass {
    /// Frontier after the last served entry.
    frontier: Frontier,
    /// Frontier at the start of each fetched batch (the first is the start).
    snapshots: Vec<Frontier>,
    /// First entry that does not decode.
    undecodable: Option<(u64, String)>,
    /// Frontier at the saved state's size, when this pass crossed it.
    at_saved: Option<Frontier>,
}

/// The state of one verification run.
struct Run<'a, S> {
    /// Where entries and proofs come from.
    source: &'a mut S,
    /// The verified checkpoint everything is checked against.
    checkpoint: Checkpoint,
    /// Batch size, sample size and seed.
    options: &'a VerifyOptions,
    /// Entries fetched and hashed, for the report.
    entries_checked: u64,
    /// Proofs verified, for the report.
    proofs_checked: u64,
}

/// Verifies the log behind `source` against the pinned `key`, starting from
/// the `saved` state of the previous run (if any).
///
/// # Errors
/// [`AuditError::LogInvalid`] naming the first bad entry when the log does
/// not verify; [`AuditError::StateFile`] when `saved` is not a state of this
/// key's log; the source's errors (transport) otherwise.
pub async fn verify<S: LogSource + Send>(
    source: &mut S,
    key: &NoteVerifier,
    saved: Option<&VerifierState>,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let saved_size = saved.map_or(0, VerifierState::size);
    let note = source.checkpoint().await?;
    let checkpoint = match key.open_checkpoint(&note) {
        Ok(checkpoint) => checkpoint,
        Err(e @ (AuditError::Signature(_) | AuditError::Malformed(_))) => {
            return Err(invalid(
                saved_size,
                FailureReason::UntrustedCheckpoint(e.to_string()),
            ));
        }
        Err(e) => return Err(e),
    };
    if let Some(state) = saved {
        state.check(key)?;
        if checkpoint.size < state.size() {
            return Err(invalid(
                checkpoint.size,
                FailureReason::Truncated {
                    saved_size: state.size(),
                    signed_size: checkpoint.size,
                },
            ));
        }
    }
    let mut run = Run {
        source,
        checkpoint,
        options,
        entries_checked: 0,
        proofs_checked: 0,
    };
    let mut full = options.full || saved.is_none();
    if let (false, Some(state)) = (full, saved) {
        full = !run.extends(state).await;
    }
    loop {
        let start = match (full, saved) {
            (false, Some(state)) => state.frontier.clone(),
            _ => Frontier::new(),
        };
        let pass = run
            .read_entries(start, saved.map(VerifierState::size))
            .await?;
        // What the pass finds is exact in either mode: an incremental pass
        // starts from a saved prefix the consistency proof confirmed.
        if let Some(failure) = run.diagnose(&pass, saved).await? {
            return Err(AuditError::LogInvalid(failure));
        }
        if let Some(failure) = run.check_sample().await? {
            if full {
                return Err(AuditError::LogInvalid(failure));
            }
            full = true;
            continue;
        }
        let state = VerifierState {
            checkpoint: note,
            origin: run.checkpoint.origin.clone(),
            frontier: pass.frontier,
        };
        return Ok(VerifyReport {
            checkpoint: run.checkpoint,
            entries_checked: run.entries_checked,
            proofs_checked: run.proofs_checked,
            full,
            state,
        });
    }
}

/// An [`AuditError::LogInvalid`] for `index`.
fn invalid(index: u64, reason: FailureReason) -> AuditError {
    AuditError::LogInvalid(VerifyFailure {
        first_bad_index: index,
        reason,
    })
}

impl<S: LogSource + Send> Run<'_, S> {
    /// Whether the saved tree is a prefix of the signed one (a consistency
    /// proof; any failure, including a failed request, means "re-check in
    /// full").
    async fn extends(&mut self, state: &VerifierState) -> bool {
        let (old, new) = (state.size(), self.checkpoint.size);
        if old == 0 || old == new {
            return state.root() == self.checkpoint.root || old == 0;
        }
        let Ok(proof) = self.source.consistency_proof(old, new).await else {
            return false;
        };
        self.proofs_checked += 1;
        verify_consistency(old, new, &state.root(), &self.checkpoint.root, &proof).is_ok()
    }

    /// Fetches, decodes and hashes entries from `start.size()` to the signed
    /// size, stopping early where the log stops serving.
    async fn read_entries(
        &mut self,
        start: Frontier,
        saved_size: Option<u64>,
    ) -> Result<Pass, AuditError> {
        let signed = self.checkpoint.size;
        let batch = self.options.batch.clamp(1, 100_000);
        let mut pass = Pass {
            at_saved: (saved_size == Some(start.size())).then(|| start.clone()),
            frontier: start,
            snapshots: Vec::new(),
            undecodable: None,
        };
        while pass.frontier.size() < signed {
            let lo = pass.frontier.size();
            let hi = signed.min(lo + batch);
            pass.snapshots.push(pass.frontier.clone());
            let entries = self.source.entries(lo, hi).await?;
            let served = entries.len().min((hi - lo) as usize);
            for bytes in &entries[..served] {
                if pass.undecodable.is_none()
                    && let Err(e) = LogEntry::decode(bytes)
                {
                    pass.undecodable = Some((pass.frontier.size(), e.to_string()));
                }
                pass.frontier.push(leaf_hash(bytes), |_, _| {});
                if saved_size == Some(pass.frontier.size()) {
                    pass.at_saved = Some(pass.frontier.clone());
                }
            }
            self.entries_checked += served as u64;
            if (served as u64) < hi - lo {
                break;
            }
        }
        Ok(pass)
    }

    /// Finds the first bad entry of a pass, if any.
    async fn diagnose(
        &mut self,
        pass: &Pass,
        saved: Option<&VerifierState>,
    ) -> Result<Option<VerifyFailure>, AuditError> {
        let signed = &self.checkpoint;
        let matches_signed =
            pass.frontier.size() == signed.size && pass.frontier.root() == signed.root;
        let undecodable = pass.undecodable.clone().map(|(index, why)| VerifyFailure {
            first_bad_index: index,
            reason: FailureReason::Undecodable(why),
        });
        let mut found = Vec::new();
        if !matches_signed {
            found.push(self.localise(pass).await?);
        } else if let (Some(state), Some(local)) = (saved, &pass.at_saved)
            && local.root() != state.root()
        {
            found.push(differing_subtree(state, local));
        }
        found.extend(undecodable);
        // The smallest index wins; on a tie, the order above (the proof-based
        // finding first).
        Ok(found.into_iter().reduce(|best, next| {
            if next.first_bad_index < best.first_bad_index {
                next
            } else {
                best
            }
        }))
    }

    /// Tests whether the served prefix of `size` entries with root `root` is
    /// a prefix of the signed tree.
    async fn confirm(&mut self, size: u64, root: &Hash) -> Confirmation {
        let signed_size = self.checkpoint.size;
        if size == 0 {
            return Confirmation::Confirmed;
        }
        if size == signed_size {
            return if *root == self.checkpoint.root {
                Confirmation::Confirmed
            } else {
                Confirmation::Mismatch
            };
        }
        match self.source.consistency_proof(size, signed_size).await {
            Err(e) => Confirmation::Unprovable(e.to_string()),
            Ok(proof) => {
                self.proofs_checked += 1;
                match verify_consistency(size, signed_size, root, &self.checkpoint.root, &proof) {
                    Ok(()) => Confirmation::Confirmed,
                    Err(_) => Confirmation::Mismatch,
                }
            }
        }
    }

    /// Bisects `candidates` (prefix sizes with their local roots, ascending;
    /// the prefix just before the first is known good): returns the last
    /// confirmed candidate's position (`None` if none) and how the next one
    /// failed (`None` if all are confirmed).
    async fn last_confirmed(
        &mut self,
        candidates: &[(u64, Hash)],
    ) -> (Option<usize>, Option<Confirmation>) {
        // Invariant: every candidate before `lo` is confirmed, `hi` is not
        // (or is past the end).
        let (mut lo, mut hi) = (0usize, candidates.len());
        let mut failure = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (size, root) = candidates[mid];
            match self.confirm(size, &root).await {
                Confirmation::Confirmed => lo = mid + 1,
                other => {
                    hi = mid;
                    failure = Some(other);
                }
            }
        }
        let failure = if hi < candidates.len() { failure } else { None };
        (lo.checked_sub(1), failure)
    }

    /// Names the first served entry that is not in the signed tree: bisects
    /// over the batch boundaries of the pass, then inside one refetched
    /// batch.
    async fn localise(&mut self, pass: &Pass) -> Result<VerifyFailure, AuditError> {
        let signed_size = self.checkpoint.size;
        let served = pass.frontier.size();
        let base = pass.snapshots.first().map_or(served, Frontier::size);
        let mut boundaries: Vec<(u64, Hash)> = pass
            .snapshots
            .iter()
            .skip(1)
            .map(|f| (f.size(), f.root()))
            .collect();
        if boundaries.last().map_or(base, |b| b.0) < served {
            boundaries.push((served, pass.frontier.root()));
        }
        let (good, failure) = self.last_confirmed(&boundaries).await;
        let good_size = good.map_or(base, |i| boundaries[i].0);
        if let (Some(Confirmation::Unprovable(_)), true) = (&failure, served < signed_size) {
            // The log serves fewer entries than it signed and cannot prove
            // anything against the signed tree (it lacks the tail): the first
            // entry it fails to serve is the first one that is provably bad.
            return Ok(VerifyFailure {
                first_bad_index: served,
                reason: FailureReason::Missing { signed_size },
            });
        }
        let Some(failure) = failure else {
            // Everything served is confirmed: the rest is missing.
            return Ok(VerifyFailure {
                first_bad_index: served,
                reason: if served < signed_size {
                    FailureReason::Missing { signed_size }
                } else {
                    FailureReason::NotInSignedTree
                },
            });
        };
        let bad_size = boundaries[good.map_or(0, |i| i + 1)].0;
        // Refetch the batch between the good and the bad boundary and bisect
        // inside it, from the snapshot at the good boundary.
        let Some(mut frontier) = pass
            .snapshots
            .iter()
            .find(|f| f.size() == good_size)
            .cloned()
        else {
            return Err(AuditError::Corrupt(
                "verifier: no snapshot at a batch boundary".into(),
            ));
        };
        let entries = self.source.entries(good_size, bad_size).await?;
        self.entries_checked += entries.len() as u64;
        let mut prefixes = Vec::with_capacity(entries.len());
        for bytes in entries.iter().take((bad_size - good_size - 1) as usize) {
            frontier.push(leaf_hash(bytes), |_, _| {});
            prefixes.push((frontier.size(), frontier.root()));
        }
        let refetched_all = prefixes.len() as u64 == bad_size - good_size - 1;
        let (inner_good, inner_failure) = self.last_confirmed(&prefixes).await;
        let first_bad_index = inner_good.map_or(good_size, |i| prefixes[i].0);
        let reason = match inner_failure.or(refetched_all.then_some(failure)) {
            None => FailureReason::Missing { signed_size },
            Some(Confirmation::Unprovable(why)) => FailureReason::Unprovable(why),
            Some(_) => FailureReason::NotInSignedTree,
        };
        Ok(VerifyFailure {
            first_bad_index,
            reason,
        })
    }

    /// Checks inclusion proofs of a random sample of entries and the last
    /// one; returns the first that fails.
    async fn check_sample(&mut self) -> Result<Option<VerifyFailure>, AuditError> {
        let size = self.checkpoint.size;
        if size == 0 {
            return Ok(None);
        }
        let mut rng = match self.options.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let mut indexes: Vec<u64> = (0..self.options.sample)
            .map(|_| rng.random_range(0..size))
            .collect();
        indexes.push(size - 1);
        indexes.sort_unstable();
        indexes.dedup();
        for index in indexes {
            let entries = self.source.entries(index, index + 1).await?;
            let Some(bytes) = entries.first() else {
                return Ok(Some(VerifyFailure {
                    first_bad_index: index,
                    reason: FailureReason::Missing { signed_size: size },
                }));
            };
            let reason = match self.source.inclusion_proof(index, size).await {
                Err(e) => Some(FailureReason::Unprovable(e.to_string())),
                Ok(proof) => {
                    self.proofs_checked += 1;
                    verify_inclusion(
                        index,
                        size,
                        &leaf_hash(bytes),
                        &proof,
                        &self.checkpoint.root,
                    )
                    .err()
                    .map(|_| FailureReason::NotInSignedTree)
                }
            };
            if let Some(reason) = reason {
                return Ok(Some(VerifyFailure {
                    first_bad_index: index,
                    reason,
                }));
            }
        }
        Ok(None)
    }
}

/// Localises a difference between the saved tree and the served one of the
/// same size: the first perfect subtree of the saved frontier whose hash
/// differs.
fn differing_subtree(saved: &VerifierState, local: &Frontier) -> VerifyFailure {
    let mut start = 0u64;
    for (id, (mine, theirs)) in super::tree::NodeId::frontier_of(saved.size())
        .zip(saved.frontier.subtrees().iter().zip(local.subtrees()))
    {
        let end = start + (1u64 << id.level);
        if mine != theirs {
            return VerifyFailure {
                first_bad_index: start,
                reason: FailureReason::NotAnExtension {
                    saved_size: saved.size(),
                    range_end: end,
                },
            };
        }
        start = end;
    }
    VerifyFailure {
        first_bad_index: 0,
        reason: FailureReason::NotAnExtension {
            saved_size: saved.size(),
            range_end: saved.size(),
        },
    }
}

/// Proves an agency's receipt: the entry at `index` is a batch receipt with
/// this batch id and digest, and it is included in the verified
/// `checkpoint`'s tree. Returns the receipt entry.
///
/// # Errors
/// [`AuditError::Receipt`] saying what does not match; the source's errors.
pub async fn check_receipt<S: LogSource + Send>(
    source: &mut S,
    checkpoint: &Checkpoint,
    index: u64,
    batch_id: &[u8; 32],
    digest: &[u8; 32],
) -> Result<BatchReceipt, AuditError> {
    let bad = |reason: String| AuditError::Receipt { index, reason };
    if index >= checkpoint.size {
        return Err(bad(format!(
            "the verified checkpoint covers only {} entries",
            checkpoint.size
        )));
    }
    let entries = source.entries(index, index + 1).await?;
    let bytes = entries
        .first()
        .ok_or_else(|| bad("the log does not serve the entry".into()))?;
    let receipt = match LogEntry::decode(bytes) {
        Ok(LogEntry::BatchReceipt(receipt)) => receipt,
        Ok(other) => {
            return Err(bad(format!(
                "the entry is a {}, not a batch receipt",
                other.kind()
            )));
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    if receipt.batch_id != *batch_id {
        return Err(bad(format!(
            "the entry is the receipt of batch {}, not {}",
            to_hex(&receipt.batch_id),
            to_hex(batch_id)
        )));
    }
    if receipt.digest != *digest {
        return Err(bad(
            "the entry's batch digest differs from the receipt's".into()
        ));
    }
    let proof = source.inclusion_proof(index, checkpoint.size).await?;
    verify_inclusion(
        index,
        checkpoint.size,
        &leaf_hash(bytes),
        &proof,
        &checkpoint.root,
    )
    .map_err(|e| bad(e.to_string()))?;
    Ok(receipt)
}
