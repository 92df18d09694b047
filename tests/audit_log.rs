//! The transparency log on a real sled database: appends inside the caller's
//! transaction, reopening, proofs from stored nodes, checkpoints and the log
//! key, and the auditor's verifier — including tamper cases made by editing
//! the sled store directly, where the verifier must fail and name the first
//! bad entry.

use std::cell::Cell;

use futures::executor::block_on;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use veilink::audit::entry::{BatchReceipt, Retention, Withdrawal};
use veilink::audit::hash::{Hash, leaf_hash};
use veilink::audit::log::{LEAF_BLOCK, LOWEST_STORED_LEVEL, leaf_block_key};
use veilink::audit::proof::{self, NodeReader, verify_consistency, verify_inclusion};
use veilink::audit::tree::{Frontier, MemoryTree, NodeId};
use veilink::audit::{
    AuditError, DEFAULT_ORIGIN, FailureReason, LogEntry, LogKey, LogState, LogTrees, NoteVerifier,
    VerifierState, VerifyOptions, VerifyReport, check_receipt, stage_append, verify,
};

/// A log in a temporary directory, with a "records" tree standing in for
/// the caller's own data.
struct TestLog {
    dir: tempfile::TempDir,
    db: sled::Db,
    trees: LogTrees,
    records: sled::Tree,
    state: LogState,
    key: LogKey,
}

impl TestLog {
    fn new() -> TestLog {
        let dir = tempfile::tempdir().unwrap();
        TestLog::open_in(dir)
    }

    fn open_in(dir: tempfile::TempDir) -> TestLog {
        // No background flusher (every append flushes): with fewer sled
        // threads at work, the directory's lock is released sooner after the
        // drop in `reopen`. sled's I/O threads can still hold it for a
        // moment, so a held lock is waited for (up to 10 s), as
        // `Store::open` does.
        let config = sled::Config::new().path(dir.path()).flush_every_ms(None);
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("WouldBlock")
                        && started.elapsed() < std::time::Duration::from_secs(10) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => break opened.unwrap(),
            }
        };
        let trees = LogTrees::open(&db).unwrap();
        let records = db.open_tree("records").unwrap();
        let state = LogState::open(&trees).unwrap();
        let key = trees.log_key(DEFAULT_ORIGIN).unwrap();
        TestLog {
            dir,
            db,
            trees,
            records,
            state,
            key,
        }
    }

    /// Closes and reopens the database.
    fn reopen(self) -> TestLog {
        self.db.flush().unwrap();
        let dir = self.dir;
        drop((self.db, self.trees, self.records));
        TestLog::open_in(dir)
    }

    /// Appends entries together with one record write, in one transaction,
    /// then flushes; returns the indexes.
    fn append(&mut self, entries: &[LogEntry]) -> std::ops::Range<u64> {
        let staged = stage_append(&self.state, entries).unwrap();
        let trees = &self.trees;
        (&self.records, &trees.entries, &trees.nodes, &trees.meta)
            .transaction(|(records, e, n, m)| {
                records.insert(b"last", &staged.indexes().start.to_be_bytes())?;
                staged.write_into::<AuditError>(e, n, m)?;
                Ok(())
            })
            .unwrap();
        self.db.flush().unwrap();
        let indexes = staged.indexes();
        self.state = staged.into_state();
        indexes
    }

    /// Signs and stores a checkpoint of the current state.
    fn checkpoint(&self) -> String {
        self.trees
            .sign_checkpoint(&self.key, &self.state, 1_700_000_000)
            .unwrap()
    }

    fn verifier(&self) -> NoteVerifier {
        self.key.verifier_key().parse().unwrap()
    }

    /// Runs the verifier against the sled store: batches of 16 (so the
    /// bisection has several levels), 8 sampled proofs.
    fn verify(
        &self,
        saved: Option<&VerifierState>,
        full: bool,
    ) -> Result<VerifyReport, AuditError> {
        self.verify_with(saved, full, 8)
    }

    fn verify_with(
        &self,
        saved: Option<&VerifierState>,
        full: bool,
        sample: usize,
    ) -> Result<VerifyReport, AuditError> {
        let options = VerifyOptions {
            full,
            sample,
            batch: 16,
            seed: Some(7),
        };
        let mut source = self.trees.clone();
        block_on(verify(&mut source, &self.verifier(), saved, &options))
    }
}

/// Entry `i` of a synthetic run: receipts, withdrawals and retention runs.
fn entry(i: u64) -> LogEntry {
    match i % 3 {
        0 => LogEntry::BatchReceipt(BatchReceipt {
            agency: "police".into(),
            batch_id: batch_id(i),
            digest: [i as u8; 32],
            accepted: i as u32,
            corrected: 0,
            time: 1_700_000_000 + i as i64,
        }),
        1 => LogEntry::Withdrawal(Withdrawal {
            agency: "care".into(),
            count: 2,
            refs_digest: [0x5a; 32],
            time: 1_700_000_000 + i as i64,
        }),
        _ => LogEntry::Retention(Retention {
            cutoff_days: 18_000,
            records_removed: i as u32,
            time: 1_700_000_000 + i as i64,
        }),
    }
}

fn batch_id(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_be_bytes());
    id
}

fn entries(range: std::ops::Range<u64>) -> Vec<LogEntry> {
    range.map(entry).collect()
}

/// A log of `n` entries appended in groups of 7, with a checkpoint.
fn log_of(n: u64) -> TestLog {
    let mut log = TestLog::new();
    let mut next = 0;
    while next < n {
        let end = n.min(next + 7);
        log.append(&entries(next..end));
        next = end;
    }
    log.checkpoint();
    log
}

/// The failure a verification must end in.
fn failure(result: Result<VerifyReport, AuditError>) -> (u64, FailureReason) {
    match result {
        Err(AuditError::LogInvalid(f)) => (f.first_bad_index, f.reason),
        Err(other) => panic!("expected an invalid log, got the error {other}"),
        Ok(report) => panic!("expected an invalid log, but it verified: {report}"),
    }
}

/// Appends get consecutive indexes, survive a reopen, and the reopened head
/// (rebuilt from O(log n) stored nodes) equals an in-memory tree of the same
/// entries; proofs from sled equal the in-memory ones and verify.
#[test]
fn append_reopen_and_prove() {
    let mut log = TestLog::new();
    assert_eq!(log.append(&entries(0..5)), 0..5);
    assert_eq!(log.append(&entries(5..6)), 5..6);
    assert_eq!(log.append(&entries(6..40)), 6..40);
    let before = log.state.clone();
    let log = log.reopen();
    assert_eq!(log.state, before);

    let mut memory = MemoryTree::new();
    for i in 0..40 {
        let bytes = log.trees.entry(i).unwrap().unwrap();
        assert_eq!(LogEntry::decode(&bytes).unwrap(), entry(i));
        memory.push_entry(&bytes);
    }
    assert_eq!(log.state.root(), memory.root());
    assert_eq!(log.trees.head().unwrap(), (40, memory.root()));
    for size in [1, 17, 32, 40] {
        let root = log.trees.root_at(size).unwrap();
        for index in [0, size / 2, size - 1] {
            let proof = log.trees.inclusion_proof(index, size).unwrap();
            assert_eq!(proof, proof::inclusion_proof(&memory, index, size).unwrap());
            let leaf = leaf_hash(&log.trees.entry(index).unwrap().unwrap());
            verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
        }
        let proof = log.trees.consistency_proof(size, 40).unwrap();
        verify_consistency(size, 40, &root, &memory.root(), &proof).unwrap();
    }
    assert!(log.trees.inclusion_proof(3, 41).is_err());
}

/// Leaf hashes are stored in blocks of 16 and nodes only from level 4 up:
/// over appends of uneven sizes that start and end inside blocks, with a
/// reopen between them, each block holds exactly its entries' leaf hashes,
/// no node below level 4 is stored, every inclusion proof and every root
/// equals the in-memory tree's, and a damaged block is reported naming the
/// block or the entry whose hash is missing.
#[test]
fn leaf_blocks_and_upper_nodes_give_every_proof() {
    let mut log = TestLog::new();
    let mut next = 0;
    for (i, group) in [1u64, 3, 12, 16, 1, 30, 17, 2, 15].into_iter().enumerate() {
        assert_eq!(log.append(&entries(next..next + group)), next..next + group);
        next += group;
        if i % 3 == 2 {
            let before = log.state.clone();
            log = log.reopen();
            assert_eq!(log.state, before, "reopened after {next} entries");
        }
    }
    let size = next; // 97: six full blocks and one of one entry
    let mut memory = MemoryTree::new();
    for i in 0..size {
        memory.push_entry(&log.trees.entry(i).unwrap().unwrap());
    }
    for item in log.trees.nodes.iter() {
        let (key, value) = item.unwrap();
        let index = u64::from_be_bytes(key[1..].try_into().unwrap());
        if key[..] == leaf_block_key(index)[..] {
            let want: Vec<u8> = (index * LEAF_BLOCK..size.min((index + 1) * LEAF_BLOCK))
                .flat_map(|i| leaf_hash(&log.trees.entry(i).unwrap().unwrap()))
                .collect();
            assert_eq!(value.to_vec(), want, "leaf block {index}");
        } else {
            assert!(key[0] >= LOWEST_STORED_LEVEL, "node {key:?} below level 4");
        }
    }
    for tree_size in 1..=size {
        assert_eq!(log.trees.root_at(tree_size).unwrap(), {
            let mut prefix = MemoryTree::new();
            for i in 0..tree_size {
                prefix.push_entry(&log.trees.entry(i).unwrap().unwrap());
            }
            prefix.root()
        });
    }
    for index in 0..size {
        for tree_size in [index + 1, (index + 9).min(size), size] {
            assert_eq!(
                log.trees.inclusion_proof(index, tree_size).unwrap(),
                proof::inclusion_proof(&memory, index, tree_size).unwrap(),
                "entry {index} in a tree of {tree_size}"
            );
        }
    }
    for new in 1..=size {
        for old in 1..=new {
            assert_eq!(
                log.trees.consistency_proof(old, new).unwrap(),
                proof::consistency_proof(&memory, old, new).unwrap(),
                "consistency of {old} with {new}"
            );
        }
    }

    // The open block (entry 96) with a hash too many, or none: the state
    // cannot be rebuilt.
    let open = leaf_block_key(size / LEAF_BLOCK);
    let hashes = log.trees.nodes.get(open).unwrap().unwrap();
    log.trees
        .nodes
        .insert(open, [&hashes[..], &hashes[..]].concat())
        .unwrap();
    let err = LogState::open(&log.trees).unwrap_err().to_string();
    assert!(err.contains("leaf block 6 holds 2 hashes"), "{err}");
    log.trees.nodes.remove(open).unwrap();
    let err = LogState::open(&log.trees).unwrap_err().to_string();
    assert!(
        err.contains("the leaf hash of entry 96 is not stored"),
        "{err}"
    );
    // A full block missing its last hashes: a proof that needs them names
    // the first entry whose hash is gone.
    let block = log.trees.nodes.get(leaf_block_key(2)).unwrap().unwrap();
    log.trees
        .nodes
        .insert(leaf_block_key(2), &block[..32 * 5])
        .unwrap();
    let err = log.trees.inclusion_proof(38, 40).unwrap_err().to_string();
    assert!(
        err.contains("the leaf hash of entry 37 is not stored"),
        "{err}"
    );
    log.trees
        .nodes
        .insert(leaf_block_key(2), &block[..31])
        .unwrap();
    let err = log.trees.inclusion_proof(33, 64).unwrap_err().to_string();
    assert!(err.contains("leaf block 2 holds 31 bytes"), "{err}");
}

/// When the caller's transaction aborts after the staged writes, neither
/// the action nor the entry is stored, and the log state is unchanged.
#[test]
fn aborted_transaction_stores_nothing() {
    let mut log = log_of(10);
    let staged = stage_append(&log.state, &entries(10..12)).unwrap();
    let trees = &log.trees;
    let result: Result<(), TransactionError<AuditError>> =
        (&log.records, &trees.entries, &trees.nodes, &trees.meta).transaction(
            |(records, e, n, m)| {
                records.insert(b"half", b"done".as_slice())?;
                staged.write_into::<AuditError>(e, n, m)?;
                Err(ConflictableTransactionError::Abort(AuditError::Corrupt(
                    "the action failed".into(),
                )))
            },
        );
    assert!(result.is_err());
    assert_eq!(log.records.get(b"half").unwrap(), None);
    assert_eq!(log.trees.entry(10).unwrap(), None);
    assert_eq!(LogState::open(&log.trees).unwrap(), log.state);
    // The log goes on from where it was.
    assert_eq!(log.append(&entries(10..11)), 10..11);
}

/// A stage made on an out-of-date state aborts instead of overwriting
/// committed entries.
#[test]
fn stale_stage_is_refused() {
    let mut log = log_of(4);
    let old_state = log.state.clone();
    log.append(&entries(4..6));
    let stale = stage_append(&old_state, &entries(4..5)).unwrap();
    let trees = &log.trees;
    let result: Result<(), TransactionError<AuditError>> =
        (&trees.entries, &trees.nodes, &trees.meta)
            .transaction(|(e, n, m)| stale.write_into::<AuditError>(e, n, m));
    assert!(matches!(
        result,
        Err(TransactionError::Abort(AuditError::StaleState {
            staged: 4,
            stored: 6
        }))
    ));
    assert_eq!(
        LogEntry::decode(&log.trees.entry(4).unwrap().unwrap()).unwrap(),
        entry(4)
    );
}

/// `LogTrees::append` (for actions with no writes of their own) appends in
/// its own transaction, and refuses a stale state without changing it.
#[test]
fn standalone_append() {
    let mut log = log_of(5);
    let mut stale = log.state.clone();
    assert_eq!(
        log.trees.append(&mut log.state, &entries(5..8)).unwrap(),
        5..8
    );
    assert_eq!(LogState::open(&log.trees).unwrap(), log.state);
    let before = stale.clone();
    assert!(matches!(
        log.trees.append(&mut stale, &entries(5..6)),
        Err(AuditError::StaleState {
            staged: 5,
            stored: 8
        })
    ));
    assert_eq!(stale, before);
}

/// The log key is created once and survives a restart; the log refuses to
/// sign under another origin than the one it was created with.
#[test]
fn log_key_survives_restart() {
    let log = log_of(3);
    let verifier_key = log.key.verifier_key();
    assert!(verifier_key.starts_with("veilink.local/log+"));
    let log = log.reopen();
    assert_eq!(log.key.verifier_key(), verifier_key);
    assert!(matches!(
        log.trees.log_key("other.example/log"),
        Err(AuditError::Key(_))
    ));
}

/// A signed checkpoint verifies with the published verifier key and commits
/// to the head; checkpoints of uncommitted or older states are refused.
#[test]
fn checkpoints_commit_to_the_head() {
    let mut log = log_of(9);
    let note = log.trees.latest_checkpoint().unwrap().unwrap();
    let checkpoint = log.verifier().open_checkpoint(&note).unwrap();
    assert_eq!(
        (checkpoint.size, checkpoint.root),
        log.trees.head().unwrap()
    );
    assert_eq!(checkpoint.time, Some(1_700_000_000));

    let old_state = log.state.clone();
    let uncommitted = stage_append(&log.state, &entries(9..10))
        .unwrap()
        .into_state();
    assert!(
        log.trees
            .sign_checkpoint(&log.key, &uncommitted, 0)
            .is_err()
    );
    log.append(&entries(9..12));
    log.checkpoint();
    // The stored head moved on: the old state is stale.
    assert!(log.trees.sign_checkpoint(&log.key, &old_state, 0).is_err());
}

/// Counts node reads.
struct Counting<'a> {
    trees: &'a LogTrees,
    reads: Cell<usize>,
}

impl NodeReader for Counting<'_> {
    fn node(&self, id: NodeId) -> Result<Hash, AuditError> {
        self.reads.set(self.reads.get() + 1);
        self.trees.node(id)
    }
}

/// Proofs read O(log n) stored nodes: at most 2·⌈log2 n⌉ + 1 for any
/// index and any pair of sizes of a 3 000-entry log.
#[test]
fn proofs_read_logarithmically_many_nodes() {
    let n = 3_000u64;
    let mut log = TestLog::new();
    for start in (0..n).step_by(500) {
        log.append(&entries(start..start + 500));
    }
    let bound = 2 * (64 - (n - 1).leading_zeros()) as usize + 1;
    let counting = Counting {
        trees: &log.trees,
        reads: Cell::new(0),
    };
    for (a, b) in [
        (0, n),
        (1, n),
        (1_234, n),
        (n - 1, n),
        (7, 1_025),
        (1_024, 2_049),
        (2_999, n),
    ] {
        counting.reads.set(0);
        proof::inclusion_proof(&counting, a % b, b).unwrap();
        assert!(
            counting.reads.get() <= bound,
            "inclusion ({a}, {b}): {} reads",
            counting.reads.get()
        );
        counting.reads.set(0);
        proof::consistency_proof(&counting, a.max(1), b).unwrap();
        assert!(
            counting.reads.get() <= bound,
            "consistency ({a}, {b}): {} reads",
            counting.reads.get()
        );
    }
}

/// A clean log verifies in full; the saved state lets the next run fetch
/// only the new entries (and survives a round trip through its file).
#[test]
fn verifier_accepts_a_clean_log_incrementally() {
    let mut log = log_of(50);
    let first = log.verify(None, false).unwrap();
    assert_eq!(first.checkpoint.size, 50);
    assert_eq!(first.entries_checked, 50);
    assert!(first.full);

    let path = log.dir.path().join("auditor-state.json");
    first.state.save(&path).unwrap();
    let saved = VerifierState::load(&path).unwrap().unwrap();
    assert_eq!(saved, first.state);

    log.append(&entries(50..61));
    log.checkpoint();
    let second = log.verify(Some(&saved), false).unwrap();
    assert_eq!(second.checkpoint.size, 61);
    assert_eq!(second.entries_checked, 11);
    assert!(!second.full);
    assert!(second.proofs_checked >= 2);
}

/// An entry changed in place (same length, still decodable) is named.
#[test]
fn changed_entry_is_named() {
    let log = log_of(100);
    let saved = log.verify(None, false).unwrap().state;
    let mut changed = entry(37);
    if let LogEntry::Withdrawal(w) = &mut changed {
        w.count += 1;
    }
    assert_ne!(changed, entry(37));
    log.trees
        .entries
        .insert(37u64.to_be_bytes(), changed.encode().unwrap())
        .unwrap();
    assert_eq!(
        failure(log.verify(None, false)),
        (37, FailureReason::NotInSignedTree)
    );
    assert_eq!(
        failure(log.verify(Some(&saved), true)),
        (37, FailureReason::NotInSignedTree)
    );
}

/// An entry replaced by bytes that do not decode is named too.
#[test]
fn undecodable_entry_is_named() {
    let log = log_of(40);
    log.trees
        .entries
        .insert(12u64.to_be_bytes(), b"\x01\x09garbage".as_slice())
        .unwrap();
    assert_eq!(failure(log.verify(None, false)).0, 12);
}

/// An entry removed (a gap in the indexes) is named as missing.
#[test]
fn removed_entry_is_named() {
    let log = log_of(60);
    log.trees.entries.remove(23u64.to_be_bytes()).unwrap();
    assert_eq!(
        failure(log.verify(None, false)),
        (23, FailureReason::Missing { signed_size: 60 })
    );
}

/// An entry removed with the later ones moved down to close the gap is
/// named.
#[test]
fn removed_and_shifted_entry_is_named() {
    let log = log_of(60);
    for i in 23..59u64 {
        let next = log.trees.entry(i + 1).unwrap().unwrap();
        log.trees.entries.insert(i.to_be_bytes(), next).unwrap();
    }
    log.trees.entries.remove(59u64.to_be_bytes()).unwrap();
    assert_eq!(
        failure(log.verify(None, false)),
        (23, FailureReason::NotInSignedTree)
    );
}

/// A truncated tail: with only the entries removed, the first missing one
/// is named; with the log rolled back to an older valid checkpoint, an
/// auditor who saw more names the first entry that is gone.
#[test]
fn truncated_tail_is_named() {
    let mut log = log_of(30);
    let old_note = log.trees.latest_checkpoint().unwrap().unwrap();
    log.append(&entries(30..45));
    log.checkpoint();
    let saved = log.verify(None, false).unwrap().state;

    for i in 40..45u64 {
        log.trees.entries.remove(i.to_be_bytes()).unwrap();
    }
    assert_eq!(
        failure(log.verify(Some(&saved), false)),
        (40, FailureReason::Missing { signed_size: 45 })
    );

    // Roll everything back to size 30 and restore the old checkpoint.
    for i in 30..45u64 {
        log.trees.entries.remove(i.to_be_bytes()).unwrap();
    }
    log.trees
        .meta
        .insert("checkpoint", old_note.as_bytes())
        .unwrap();
    assert_eq!(
        failure(log.verify(Some(&saved), false)),
        (
            30,
            FailureReason::Truncated {
                saved_size: 45,
                signed_size: 30
            }
        )
    );
}

/// Rebuilds the stored nodes, head and checkpoint from the stored entries,
/// signing with `key`: what an operator with write access would do to
/// hide an edit.
fn rebuild_tree(log: &TestLog, key: &LogKey) {
    log.trees.nodes.clear().unwrap();
    let mut frontier = Frontier::new();
    let mut block = Vec::new();
    for item in log.trees.entries(0..u64::MAX) {
        let (index, bytes) = item.unwrap();
        let leaf = leaf_hash(&bytes);
        frontier.push(leaf, |id, hash| {
            if id.level >= LOWEST_STORED_LEVEL {
                log.trees
                    .nodes
                    .insert(id.to_key(), hash.as_slice())
                    .unwrap();
            }
        });
        block.extend_from_slice(&leaf);
        log.trees
            .nodes
            .insert(leaf_block_key(index / LEAF_BLOCK), block.as_slice())
            .unwrap();
        if (index + 1) % LEAF_BLOCK == 0 {
            block.clear();
        }
    }
    let mut head = frontier.size().to_be_bytes().to_vec();
    head.extend_from_slice(&frontier.root());
    log.trees.meta.insert("head", head).unwrap();
    let state = LogState::open(&log.trees).unwrap();
    log.trees.meta.remove("checkpoint").unwrap();
    log.trees
        .sign_checkpoint(key, &state, 1_800_000_000)
        .unwrap();
}

/// A checkpoint re-signed with another key is refused: nothing after the
/// auditor's saved state (or, without one, from entry 0) is trusted — also
/// when the operator edited an entry and rebuilt the tree to match.
#[test]
fn checkpoint_signed_by_another_key_is_refused() {
    let log = log_of(25);
    let saved = log.verify(None, false).unwrap().state;
    let other = LogKey::from_pkcs8(DEFAULT_ORIGIN, &LogKey::generate_pkcs8().unwrap()).unwrap();
    log.trees.meta.remove("checkpoint").unwrap();
    log.trees
        .sign_checkpoint(&other, &log.state, 1_800_000_000)
        .unwrap();
    let (index, reason) = failure(log.verify(Some(&saved), false));
    assert_eq!(index, 25);
    assert!(matches!(reason, FailureReason::UntrustedCheckpoint(_)));

    log.trees
        .entries
        .insert(3u64.to_be_bytes(), entry(4).encode().unwrap())
        .unwrap();
    rebuild_tree(&log, &other);
    let (index, reason) = failure(log.verify(None, false));
    assert_eq!(index, 0);
    assert!(matches!(reason, FailureReason::UntrustedCheckpoint(_)));
}

/// An edit hidden by rebuilding the stored hashes (but without the log key)
/// still fails verification, at or before the edited entry.
#[test]
fn rebuilt_hashes_do_not_hide_an_edit() {
    let log = log_of(64);
    let note = log.trees.latest_checkpoint().unwrap().unwrap();
    log.trees
        .entries
        .insert(40u64.to_be_bytes(), entry(41).encode().unwrap())
        .unwrap();
    rebuild_tree(&log, &log.key);
    log.trees
        .meta
        .insert("checkpoint", note.as_bytes())
        .unwrap();
    let (index, _) = failure(log.verify(None, false));
    assert!(index <= 40, "named entry {index}");
}

/// An old entry edited in place is not re-read by an incremental run, but
/// a sampled inclusion proof catches it, and the re-run in full names it.
#[test]
fn incremental_run_rechecks_in_full_when_a_sample_fails() {
    let mut log = log_of(40);
    let saved = log.verify(None, false).unwrap().state;
    log.trees
        .entries
        .insert(5u64.to_be_bytes(), entry(6).encode().unwrap())
        .unwrap();
    log.append(&entries(40..50));
    log.checkpoint();
    // Sample more proofs than there are entries, so entry 5 is among them.
    assert_eq!(
        failure(log.verify_with(Some(&saved), false, 200)),
        (5, FailureReason::NotInSignedTree)
    );
}

/// A log rewritten and re-signed by the key holder (two signed histories)
/// is named against the auditor's saved state: the first changed entry lies
/// in the named perfect subtree of the saved tree.
#[test]
fn rewritten_history_is_not_an_extension() {
    let log = log_of(37);
    let saved = log.verify(None, false).unwrap().state;
    log.trees
        .entries
        .insert(33u64.to_be_bytes(), entry(34).encode().unwrap())
        .unwrap();
    rebuild_tree(&log, &log.key);
    // The rewritten log verifies on its own ...
    log.verify(None, false).unwrap();
    // ... but not as an extension of what the auditor saw: 37 = 32 + 4 + 1,
    // and entry 33 lies in the subtree of entries 32..36.
    assert_eq!(
        failure(log.verify(Some(&saved), false)),
        (
            32,
            FailureReason::NotAnExtension {
                saved_size: 37,
                range_end: 36
            }
        )
    );
}

/// The verifier's future is `Send`, so the CLI can run it on any tokio
/// runtime (checked at compile time).
#[test]
fn verification_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let log = log_of(3);
    let mut source = log.trees.clone();
    let (key, options) = (log.verifier(), VerifyOptions::default());
    let future = verify(&mut source, &key, None, &options);
    assert_send(&future);
    assert_eq!(block_on(future).unwrap().checkpoint.size, 3);
}

/// A kept intake receipt is proven by the log; one with another digest, or
/// pointing at an entry of another kind, is not.
#[test]
fn receipts_are_proven() {
    let log = log_of(20);
    let report = log.verify(None, false).unwrap();
    let mut source = log.trees.clone();
    let proven = block_on(check_receipt(
        &mut source,
        &report.checkpoint,
        9,
        &batch_id(9),
        &[9; 32],
    ))
    .unwrap();
    assert_eq!(proven.accepted, 9);
    assert!(
        block_on(check_receipt(
            &mut source,
            &report.checkpoint,
            9,
            &batch_id(9),
            &[8; 32]
        ))
        .is_err()
    );
    assert!(
        block_on(check_receipt(
            &mut source,
            &report.checkpoint,
            10,
            &batch_id(10),
            &[10; 32]
        ))
        .is_err()
    );
    assert!(
        block_on(check_receipt(
            &mut source,
            &report.checkpoint,
            21,
            &batch_id(21),
            &[21; 32]
        ))
        .is_err()
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// For any log size and any one entry changed, or removed with the later
    /// entries moved down, the verifier names exactly that entry.
    #[test]
    fn the_first_bad_index_is_exact(
        n in 1u64..150,
        at in proptest::sample::select(vec![0.0, 0.3, 0.5, 0.99]),
        shift in proptest::bool::ANY,
    ) {
        let log = log_of(n);
        let bad = ((n as f64) * at) as u64;
        if shift {
            for i in bad..n - 1 {
                let next = log.trees.entry(i + 1).unwrap().unwrap();
                log.trees.entries.insert(i.to_be_bytes(), next).unwrap();
            }
            log.trees.entries.remove((n - 1).to_be_bytes()).unwrap();
        } else {
            log.trees.entries.insert(bad.to_be_bytes(), entry(n + 1).encode().unwrap()).unwrap();
        }
        let (index, _) = failure(log.verify(None, false));
        proptest::prop_assert_eq!(index, bad);
    }
}
