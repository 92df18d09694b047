//! The writer's in-memory index of what the store names: which record ref of
//! an agency has which sequence number (and back), and which batch ids were
//! committed.
//!
//! The writer stages a batch while the committer thread runs the previous
//! batch's sled transaction (`server/writer.rs`). sled 0.34 lets no read
//! through while a transaction is being applied (a global
//! concurrency-control lock), so a writer that looked refs up in sled would
//! wait for every commit and the two threads would take turns instead of
//! working side by side. The writer therefore answers "is this ref a
//! correction?", "is this batch id a replay?" and "which ref has record
//! `seq`?" from this index, which it keeps in step with what it stages. It is
//! rebuilt from the `records` and `batches` trees at startup
//! ([`super::state::load`]), like the linkage index.
//!
//! Memory: about 100 bytes per stored record (a hash map entry of the
//! 34-byte key and its 8-byte sequence number, and a 36-byte slot per
//! sequence number), and about 50 bytes per committed batch.

use std::collections::{HashMap, HashSet};

use crate::store::codec::RecordKey;

/// Record keys ↔ sequence numbers, and the committed batch keys
/// (agency code ‖ batch id, [`crate::store::codec::batch_key`]).
#[derive(Debug, Default)]
pub(crate) struct RecordNames {
    /// (agency, ref) → seq.
    by_key: HashMap<RecordKey, u64>,
    /// seq → (agency, ref); `None` for sequence numbers of withdrawn records.
    by_seq: Vec<Option<RecordKey>>,
    /// Agency code ‖ batch id of every committed batch.
    batches: HashSet<[u8; 34]>,
}

impl RecordNames {
    /// The sequence number of the stored record `key`.
    pub(crate) fn seq_of(&self, key: &RecordKey) -> Option<u64> {
        self.by_key.get(key).copied()
    }

    /// The key of the stored record `seq`.
    pub(crate) fn key_of(&self, seq: u64) -> Option<RecordKey> {
        usize::try_from(seq)
            .ok()
            .and_then(|i| self.by_seq.get(i).copied().flatten())
    }

    /// Records that `key` is stored as `seq` (a new record, or a correction
    /// that keeps its sequence number).
    pub(crate) fn insert(&mut self, key: RecordKey, seq: u64) {
        self.by_key.insert(key, seq);
        // Sequence numbers are handed out one by one from 1, so the slots stay dense.
        let Ok(index) = usize::try_from(seq) else {
            return;
        };
        if self.by_seq.len() <= index {
            self.by_seq.resize(index + 1, None);
        }
        self.by_seq[index] = Some(key);
    }

    /// Forgets the withdrawn record `key`.
    pub(crate) fn remove(&mut self, key: &RecordKey) {
        if let Some(seq) = self.by_key.remove(key) {
            if let Some(slot) = usize::try_from(seq)
                .ok()
                .and_then(|i| self.by_seq.get_mut(i))
            {
                *slot = None;
            }
        }
    }

    /// Whether the batch key (agency code ‖ batch id) was committed (or staged).
    pub(crate) fn has_batch(&self, key: &[u8; 34]) -> bool {
        self.batches.contains(key)
    }

    /// Records the batch key as committed (or staged).
    pub(crate) fn add_batch(&mut self, key: [u8; 34]) {
        self.batches.insert(key);
    }

    /// Number of records named.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(agency: u16, byte: u8) -> RecordKey {
        RecordKey {
            agency,
            record_ref: [byte; 32],
        }
    }

    /// Both directions agree after inserts, a correction (same seq) and a
    /// withdrawal; the same ref at another agency is another record.
    #[test]
    fn names_follow_inserts_corrections_and_withdrawals() {
        let mut names = RecordNames::default();
        names.insert(key(1, 7), 1);
        names.insert(key(2, 7), 2);
        names.insert(key(1, 7), 1);
        assert_eq!(names.len(), 2);
        assert_eq!(names.seq_of(&key(1, 7)), Some(1));
        assert_eq!(names.seq_of(&key(2, 7)), Some(2));
        assert_eq!(names.key_of(2), Some(key(2, 7)));
        names.remove(&key(1, 7));
        assert_eq!(names.seq_of(&key(1, 7)), None);
        assert_eq!(names.key_of(1), None);
        assert_eq!(names.key_of(2), Some(key(2, 7)));
        assert_eq!(names.key_of(99), None);
        names.remove(&key(1, 7));
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn batch_keys_are_remembered() {
        let mut names = RecordNames::default();
        let batch = crate::store::codec::batch_key(3, &[1; 32]);
        assert!(!names.has_batch(&batch));
        names.add_batch(batch);
        assert!(names.has_batch(&batch));
        assert!(!names.has_batch(&crate::store::codec::batch_key(4, &[1; 32])));
    }
}
