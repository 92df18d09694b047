//! Blocking: which pairs of records are compared at all.
//!
//! Two records become a *candidate pair* when they share a blocking key: a
//! match-key token, or an LSH band key of their Bloom encodings (so that two
//! registrations with a typo in every field still meet). The keys of all
//! records live in [`Postings`], a multimap from key to records that grows
//! with the number of records, never with the number of pairs.
//!
//! A pair that shares several keys is scored once, in the block of its
//! *first* shared key (in the sorted key order), so no global set of seen
//! pairs is needed. A key shared by more than `quarantine_limit` distinct
//! records is *quarantined*: such a key is almost always a default value
//! someone failed to clean (a placeholder date of birth, a shelter's address),
//! and joining on it would chain unrelated people. A quarantined key creates
//! no candidates and counts as missing in comparisons; it is released again
//! when withdrawals bring it back under the limit.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::LshSpec;
use super::dice::BloomEncoding;
use super::record::{CompactRecord, LSH_RULE, key_rule};

/// Hamming LSH by bit sampling (Indyk & Motwani 1998; used for Bloom-filter
/// PPRL by Durham 2012): band `j` takes the bits of the encoding at a fixed
/// list of positions; records whose Dice is high agree on all sampled bits of
/// at least one band with high probability.
#[derive(Debug, Clone)]
pub(crate) struct Lsh {
    /// Per band, the sampled bit positions (0..1024).
    positions: Vec<Vec<u16>>,
}

impl Lsh {
    /// Draws the positions from the configured seed (ChaCha8).
    pub fn new(spec: &LshSpec) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let positions = (0..spec.bands)
            .map(|_| {
                (0..spec.bits_per_band)
                    .map(|_| rng.random_range(0..1024u16))
                    .collect()
            })
            .collect();
        Lsh { positions }
    }

    /// Number of band keys per record.
    pub fn bands(&self) -> usize {
        self.positions.len()
    }

    /// Appends the band keys of an encoding: rule byte 0, band number in
    /// bits 48..56, the sampled bits below (exact, no hashing).
    pub fn band_keys(&self, bloom: &BloomEncoding, out: &mut Vec<u64>) {
        for (band, positions) in self.positions.iter().enumerate() {
            let bits = positions.iter().fold(0u64, |acc, &p| {
                (acc << 1) | u64::from(bloom.bit(p as usize))
            });
            out.push((u64::from(LSH_RULE) << 56) | ((band as u64) << 48) | bits);
        }
    }
}

/// What an insertion or removal did to a key's quarantine status.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// No change.
    None,
    /// The key crossed the limit upwards; these records hold it.
    Quarantined(Vec<u32>),
    /// The key fell back to the limit; these records hold it.
    Released(Vec<u32>),
}

/// Marker for an empty slot.
const EMPTY: u32 = u32::MAX;

/// Multimap blocking key -> record indexes.
///
/// Keys under the limit live in an open-addressing table with linear probing
/// and backward-shift deletion (Knuth, TAOCP vol. 3, 6.4, Algorithm R): two
/// parallel arrays of 8-byte keys and 4-byte record indexes, about 17 bytes
/// per (record, key) at the 70 % load bound. Quarantined keys move to a side
/// map so their long lists do not slow the table down.
#[derive(Debug, Clone)]
pub(crate) struct Postings {
    /// Slot keys (meaningless where `recs` is `EMPTY`).
    keys: Vec<u64>,
    /// Slot record indexes.
    recs: Vec<u32>,
    /// Occupied slots.
    len: usize,
    /// log2 of the slot count.
    bits: u32,
    /// Quarantine limit (distinct records).
    limit: u32,
    /// Quarantined keys with the records that hold them.
    quarantined: HashMap<u64, Vec<u32>>,
}

impl Postings {
    /// An empty multimap with the given quarantine limit.
    pub fn new(limit: u32) -> Self {
        let bits = 10;
        Postings {
            keys: vec![0; 1 << bits],
            recs: vec![EMPTY; 1 << bits],
            len: 0,
            bits,
            limit,
            quarantined: HashMap::new(),
        }
    }

    /// Home slot of a key (Fibonacci hashing, Knuth 6.4).
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }

    fn mask(&self) -> usize {
        (1 << self.bits) - 1
    }

    /// Calls `f` for every record holding a non-quarantined `key`.
    pub fn for_each(&self, key: u64, mut f: impl FnMut(u32)) {
        let mask = self.mask();
        let mut i = self.home(key);
        while self.recs[i] != EMPTY {
            if self.keys[i] == key {
                f(self.recs[i]);
            }
            i = (i + 1) & mask;
        }
    }

    /// Number of records holding `key` (quarantined or not).
    pub fn count(&self, key: u64) -> usize {
        if let Some(list) = self.quarantined.get(&key) {
            return list.len();
        }
        let mut n = 0;
        self.for_each(key, |_| n += 1);
        n
    }

    /// Whether `key` is quarantined.
    pub fn is_quarantined(&self, key: u64) -> bool {
        !self.quarantined.is_empty() && self.quarantined.contains_key(&key)
    }

    /// Adds `(key, rec)`; the caller guarantees the pair is not present.
    pub fn insert(&mut self, key: u64, rec: u32) -> Transition {
        if let Some(list) = self.quarantined.get_mut(&key) {
            list.push(rec);
            return Transition::None;
        }
        if self.count(key) as u32 >= self.limit {
            let mut list = Vec::new();
            self.for_each(key, |r| list.push(r));
            for &r in &list {
                self.remove_slot(key, r);
            }
            list.push(rec);
            self.quarantined.insert(key, list.clone());
            return Transition::Quarantined(list);
        }
        self.insert_slot(key, rec);
        Transition::None
    }

    /// Removes `(key, rec)` if present.
    pub fn remove(&mut self, key: u64, rec: u32) -> Transition {
        if let Some(list) = self.quarantined.get_mut(&key) {
            list.retain(|&r| r != rec);
            if list.len() as u32 <= self.limit {
                let list = self.quarantined.remove(&key).unwrap_or_default();
                for &r in &list {
                    self.insert_slot(key, r);
                }
                return Transition::Released(list);
            }
            return Transition::None;
        }
        self.remove_slot(key, rec);
        Transition::None
    }

    fn insert_slot(&mut self, key: u64, rec: u32) {
        if (self.len + 1) * 10 > self.recs.len() * 7 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(key);
        while self.recs[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.keys[i] = key;
        self.recs[i] = rec;
        self.len += 1;
    }

    fn remove_slot(&mut self, key: u64, rec: u32) {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            if self.recs[i] == EMPTY {
                return;
            }
            if self.keys[i] == key && self.recs[i] == rec {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: pull later entries of the run into the hole
        // unless their home lies cyclically in (hole, entry].
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.recs[j] != EMPTY {
            let home = self.home(self.keys[j]);
            let dist_entry = j.wrapping_sub(home) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_entry >= dist_hole {
                self.keys[hole] = self.keys[j];
                self.recs[hole] = self.recs[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.recs[hole] = EMPTY;
        self.len -= 1;
    }

    fn grow(&mut self) {
        let keys = std::mem::take(&mut self.keys);
        let recs = std::mem::take(&mut self.recs);
        self.bits += 1;
        self.keys = vec![0; 1 << self.bits];
        self.recs = vec![EMPTY; 1 << self.bits];
        self.len = 0;
        for (key, rec) in keys.into_iter().zip(recs) {
            if rec != EMPTY {
                self.insert_slot(key, rec);
            }
        }
    }

    /// Pre-sizes the table for `entries` (record, key) pairs.
    pub fn reserve(&mut self, entries: usize) {
        while (self.len + entries) * 10 > self.recs.len() * 7 {
            self.grow();
        }
    }

    /// Quarantined keys as (rule byte, number of records), sorted; never the
    /// key itself.
    pub fn quarantine_counts(&self) -> Vec<(u8, usize)> {
        let mut out: Vec<(u8, usize)> = self
            .quarantined
            .iter()
            .map(|(&k, list)| (key_rule(k), list.len()))
            .collect();
        out.sort_unstable();
        out
    }

    /// Bytes held by the table and the side map.
    pub fn bytes(&self) -> usize {
        self.keys.len() * 12
            + self
                .quarantined
                .values()
                .map(|l| 32 + l.len() * 4)
                .sum::<usize>()
    }
}

/// The first blocking key (in sorted order) that both records hold and that
/// is not quarantined, if any.
pub(crate) fn first_shared_key(a: &CompactRecord, b: &CompactRecord) -> Option<u64> {
    let (mut i, mut j) = (0, 0);
    while i < a.keys.len() && j < b.keys.len() {
        let (ka, kb) = (a.keys[i], b.keys[j]);
        if ka < kb {
            i += 1;
        } else if kb < ka {
            j += 1;
        } else {
            if !a.is_quarantined(i) {
                return Some(ka);
            }
            i += 1;
            j += 1;
        }
    }
    None
}

/// Calls `f(b)` once for every candidate partner `b` of record `a` (every
/// record sharing a non-quarantined key with `a`), each partner once.
pub(crate) fn for_each_candidate(
    records: &[Option<CompactRecord>],
    postings: &Postings,
    a: u32,
    mut f: impl FnMut(u32),
) {
    let Some(rec_a) = records[a as usize].as_ref() else {
        return;
    };
    for (i, &key) in rec_a.keys.iter().enumerate() {
        if rec_a.is_quarantined(i) {
            continue;
        }
        postings.for_each(key, |b| {
            if b == a {
                return;
            }
            if let Some(rec_b) = records[b as usize].as_ref()
                && first_shared_key(rec_a, rec_b) == Some(key)
            {
                f(b);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The multimap agrees with a naive map of lists under random
        /// inserts and removals, including quarantine transitions.
        #[test]
        fn postings_agree_with_a_naive_map(ops in proptest::collection::vec((0u64..6, 0u32..40, any::<bool>()), 1..400)) {
            let mut postings = Postings::new(5);
            let mut naive: HashMap<u64, Vec<u32>> = HashMap::new();
            for (key, rec, insert) in ops {
                // Spread the small key space so homes collide and wrap.
                let key = key.wrapping_mul(0x1234_5678_9abc_def1);
                let list = naive.entry(key).or_default();
                if insert && !list.contains(&rec) {
                    list.push(rec);
                    postings.insert(key, rec);
                } else if !insert && list.contains(&rec) {
                    list.retain(|&r| r != rec);
                    postings.remove(key, rec);
                }
                let mut got = Vec::new();
                postings.for_each(key, |r| got.push(r));
                got.sort_unstable();
                let mut want = naive[&key].clone();
                want.sort_unstable();
                prop_assert_eq!(postings.count(key), want.len());
                prop_assert_eq!(postings.is_quarantined(key), want.len() > 5);
                if want.len() <= 5 {
                    prop_assert_eq!(got, want);
                } else {
                    prop_assert!(got.is_empty());
                }
            }
        }
    }

    /// Crossing the limit upwards and back reports both transitions.
    #[test]
    fn quarantine_transitions_are_reported() {
        let mut postings = Postings::new(2);
        assert_eq!(postings.insert(7, 1), Transition::None);
        assert_eq!(postings.insert(7, 2), Transition::None);
        assert_eq!(
            postings.insert(7, 3),
            Transition::Quarantined(vec![1, 2, 3])
        );
        assert_eq!(postings.quarantine_counts(), vec![(0, 3)]);
        assert!(matches!(postings.remove(7, 2), Transition::Released(_)));
        assert!(postings.quarantine_counts().is_empty());
    }
}
