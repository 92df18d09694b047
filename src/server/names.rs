//! The in-memory index of what the store names: which record ref of an
//! agency has which sequence number (and back), and which batch ids were
//! committed. It is the only ref index: the store keeps each record's ref in
//! its `records` row and nowhere else (layout 4, `docs/STORAGE.md`).
//!
//! The writer stages a batch while the committer thread runs the previous
//! batch's sled transaction (`server/writer.rs`). sled 0.34 lets no read
//! through while a transaction is being applied (a global
//! concurrency-control lock), so a writer that looked refs up in sled would
//! wait for every commit and the two threads would take turns instead of
//! working side by side. The writer therefore answers "is this ref a
//! correction?", "is this batch id a replay?" and "which ref has record
//! `seq`?" from this index, which it keeps in step with what it stages; the
//! linkage map export reads it too. It is rebuilt from the `records` and
//! `batches` trees at startup ([`super::state::load`]), like the linkage
//! index, and shared as [`SharedNames`]. Like the linkage index it runs
//! ahead of the store by the batches the committer has not committed yet.
//!
//! Memory: 100–180 bytes per stored record (a 48-byte hash map entry of
//! the 34-byte key and its 8-byte sequence number, in a table 1.1–2.3 times
//! the entries; a 36-byte slot per sequence number, in a vector up to twice
//! as long), and 40–80 bytes per committed batch.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::store::codec::RecordKey;

/// The names, shared by the writer (which changes them) and the handlers
/// that export the linkage map (which read them).
pub(crate) type SharedNames = Arc<RwLock<RecordNames>>;

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

    /// The records of `agency` (of every agency for `None`) with their
    /// sequence numbers, ordered by agency code and then ref bytes (the
    /// order of the 34-byte keys). A copy: 48 bytes per record.
    pub(crate) fn records_of(&self, agency: Option<u16>) -> Vec<(RecordKey, u64)> {
        let mut out: Vec<(RecordKey, u64)> = self
            .by_key
            .iter()
            .filter(|(key, _)| agency.is_none_or(|a| key.agency == a))
            .map(|(key, seq)| (*key, *seq))
            .collect();
        out.sort_unstable();
        out
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

    /// An agency's records come in key order (agency code, then ref bytes),
    /// and only its own.
    #[test]
    fn records_of_an_agency_are_its_own_in_key_order() {
        let mut names = RecordNames::default();
        names.insert(key(2, 9), 1);
        names.insert(key(1, 8), 2);
        names.insert(key(2, 3), 3);
        assert_eq!(
            names.records_of(Some(2)),
            vec![(key(2, 3), 3), (key(2, 9), 1)]
        );
        assert_eq!(
            names.records_of(None),
            vec![(key(1, 8), 2), (key(2, 3), 3), (key(2, 9), 1)]
        );
        assert!(names.records_of(Some(5)).is_empty());
        let bytes: Vec<_> = names
            .records_of(None)
            .iter()
            .map(|(k, _)| k.to_bytes())
            .collect();
        assert!(bytes.windows(2).all(|w| w[0] < w[1]));
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
