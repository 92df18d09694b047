//! The in-memory index of what the store names: which record ref of an
//! agency has which sequence number (and back), and which batch ids were
//! committed or are staged for commit. It is the only ref index: the store keeps each record's ref in
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
//! The linkage-map export lists only records below the committer's
//! high-water mark ([`super::writer::WriterHandle::committed_below`]), so it
//! never shows a record whose batch is not committed.
//!
//! Memory: 100–180 bytes per stored record (a 48-byte hash map entry of
//! the 34-byte key and its 8-byte sequence number, in a table 1.1–2.3 times
//! the entries; a 36-byte slot per sequence number, in a vector up to twice
//! as long), and 40–80 bytes per committed batch.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::store::codec::RecordKey;

/// The names, shared by the writer (which changes them) and the handlers
/// that export the linkage map (which read them).
pub(crate) type SharedNames = Arc<RwLock<RecordNames>>;

/// Record keys ↔ sequence numbers, and the batch keys (agency code ‖ batch
/// id, [`crate::store::codec::batch_key`]) with the writer's staging id of
/// each (0 for batches committed before the server started).
#[derive(Debug, Default)]
pub(crate) struct RecordNames {
    /// (agency, ref) → seq.
    by_key: HashMap<RecordKey, u64>,
    /// seq → (agency, ref); `None` for sequence numbers of withdrawn records.
    by_seq: Vec<Option<RecordKey>>,
    /// Agency code ‖ batch id of every committed or staged batch → its
    /// staging id (0: committed before this start).
    batches: HashMap<[u8; 34], u64>,
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
        if let Some(seq) = self.by_key.remove(key)
            && let Some(slot) = usize::try_from(seq)
                .ok()
                .and_then(|i| self.by_seq.get_mut(i))
        {
            *slot = None;
        }
    }

    /// The staging id of the batch key (agency code ‖ batch id) when it was
    /// committed or staged: 0 for a batch committed before this start.
    pub(crate) fn batch(&self, key: &[u8; 34]) -> Option<u64> {
        self.batches.get(key).copied()
    }

    /// Records the batch key as staged with id `staged` (0: committed at start).
    pub(crate) fn add_batch(&mut self, key: [u8; 34], staged: u64) {
        self.batches.insert(key, staged);
    }

    /// The records of `agency` (of every agency for `None`) with sequence
    /// numbers below `seq_below`, unordered (sort them after releasing the
    /// lock). A copy: 48 bytes per record.
    pub(crate) fn records_of(&self, agency: Option<u16>, seq_below: u64) -> Vec<(RecordKey, u64)> {
        self.by_key
            .iter()
            .filter(|(key, seq)| agency.is_none_or(|a| key.agency == a) && **seq < seq_below)
            .map(|(key, seq)| (*key, *seq))
            .collect()
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

    /// An agency gets only its own records, and only those below the
    /// high-water mark; sorted, they are in key order (agency code, then ref
    /// bytes), the order of the 34-byte keys.
    #[test]
    fn records_of_an_agency_are_its_own_below_the_mark() {
        let mut names = RecordNames::default();
        names.insert(key(2, 9), 1);
        names.insert(key(1, 8), 2);
        names.insert(key(2, 3), 3);
        names.insert(key(2, 1), 4);
        let sorted = |mut v: Vec<(RecordKey, u64)>| {
            v.sort_unstable();
            v
        };
        assert_eq!(
            sorted(names.records_of(Some(2), 4)),
            vec![(key(2, 3), 3), (key(2, 9), 1)]
        );
        let all = sorted(names.records_of(None, u64::MAX));
        assert_eq!(all.len(), 4);
        let bytes: Vec<_> = all.iter().map(|(k, _)| k.to_bytes()).collect();
        assert!(bytes.windows(2).all(|w| w[0] < w[1]));
        assert!(names.records_of(Some(5), u64::MAX).is_empty());
    }

    #[test]
    fn batch_keys_are_remembered() {
        let mut names = RecordNames::default();
        let batch = crate::store::codec::batch_key(3, &[1; 32]);
        assert_eq!(names.batch(&batch), None);
        names.add_batch(batch, 7);
        assert_eq!(names.batch(&batch), Some(7));
        assert_eq!(
            names.batch(&crate::store::codec::batch_key(4, &[1; 32])),
            None
        );
    }
}
