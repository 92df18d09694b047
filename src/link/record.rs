//! The record as the linkage sees it, and its compact in-memory form.
//!
//! The server hands the linkage a [`LinkRecord`]: its ingest sequence number,
//! its (server-re-keyed) match-key tokens and its optional Bloom encoding.
//! The index keeps a compact form ([`CompactRecord`]): every token shrinks to
//! one `u64` *blocking key* — the rule id in the top byte and the first 56
//! bits of the 32-byte keyed hash below it — and the Bloom LSH band keys are
//! stored in the same sorted list (rule byte 0). Sorting the list groups it
//! by rule, so comparing two records is one merge walk.
//!
//! Truncating a keyed (uniformly random) hash to 56 bits makes two different
//! tokens of one rule look equal with probability 2^-56 per pair of distinct
//! tokens; with `N` distinct tokens of a rule the chance of any collision is
//! at most `N² / 2^57` (N = 10 million: 7·10^-4 over the whole store), and a
//! collision only adds one agreeing rule to one pair.

use serde::{Deserialize, Serialize};

use super::LinkError;
use super::blocking::Lsh;
use super::config::{MAX_KEYS_PER_RECORD, RuleTable};
use super::dice::{BLOOM_BYTES, BloomEncoding};

/// The caller's key of a record: its ingest sequence number. Keys are unique
/// within an index, and a lower key means an older record (the "oldest
/// record" of the person-id rules is the one with the lowest key).
pub type RecordKey = u64;

/// A person id: 16 random-looking bytes from the caller's generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PersonId(pub [u8; 16]);

impl std::fmt::Display for PersonId {
    /// Lower-case hex, 32 characters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A stored record, as the server passes it to the linkage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    /// Ingest order and identity of the record in the index (see [`RecordKey`]).
    pub seq: RecordKey,
    /// Match-key tokens: (rule id, 32-byte keyed hash). Several tokens of one
    /// rule are allowed (rule 6); rule [`LinkConfig::national_id_rule`]
    /// tokens are the national-id evidence of the guard.
    ///
    /// [`LinkConfig::national_id_rule`]: super::LinkConfig::national_id_rule
    pub tokens: Vec<(u16, [u8; 32])>,
    /// Keyed Bloom encoding of name and date-of-birth q-grams, if the agency
    /// had the fields.
    pub bloom: Option<[u8; BLOOM_BYTES]>,
}

/// Rule byte of LSH band keys in a [`CompactRecord`]'s key list.
pub(crate) const LSH_RULE: u8 = 0;

/// The rule id held in the top byte of a blocking key (0 for LSH band keys).
pub(crate) fn key_rule(key: u64) -> u8 {
    (key >> 56) as u8
}

/// The blocking key of a token: rule id in the top byte, the first 56 bits
/// of the keyed hash below it.
pub(crate) fn token_key(rule: u8, hash: &[u8; 32]) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash[..8]);
    (u64::from(rule) << 56) | (u64::from_be_bytes(prefix) >> 8)
}

/// A record in the index: about 8 bytes per token and band key plus the
/// Bloom encoding.
#[derive(Debug, Clone)]
pub(crate) struct CompactRecord {
    /// The caller's key.
    pub seq: RecordKey,
    /// Blocking keys, sorted ascending and without duplicates: LSH band keys
    /// (rule byte 0) first, then tokens grouped by rule id.
    pub keys: Box<[u64]>,
    /// Bit `i` set when `keys[i]` is quarantined: it then creates no
    /// candidates and counts as missing in comparisons.
    pub quarantined: u64,
    /// The Bloom encoding, if any.
    pub bloom: Option<Box<BloomEncoding>>,
}

impl CompactRecord {
    /// Compacts and checks a record: every token's rule must be configured,
    /// and tokens plus band keys must not exceed [`MAX_KEYS_PER_RECORD`].
    ///
    /// # Errors
    /// [`LinkError::UnknownRule`] or [`LinkError::TooManyKeys`] (naming the
    /// record key, never a token).
    pub fn compile(record: &LinkRecord, rules: &RuleTable, lsh: &Lsh) -> Result<Self, LinkError> {
        let bloom = record
            .bloom
            .as_ref()
            .map(|b| Box::new(BloomEncoding::from_bytes(b)));
        let mut keys = Vec::with_capacity(record.tokens.len() + lsh.bands());
        for (rule, hash) in &record.tokens {
            let Some(_) = rules.index(*rule) else {
                return Err(LinkError::UnknownRule {
                    record: record.seq,
                    rule: *rule,
                });
            };
            // `index` only accepts configured ids, which are 1..=255.
            keys.push(token_key(*rule as u8, hash));
        }
        if let Some(bloom) = &bloom {
            lsh.band_keys(bloom, &mut keys);
        }
        keys.sort_unstable();
        keys.dedup();
        if keys.len() > MAX_KEYS_PER_RECORD {
            return Err(LinkError::TooManyKeys {
                record: record.seq,
                keys: keys.len(),
            });
        }
        Ok(CompactRecord {
            seq: record.seq,
            keys: keys.into_boxed_slice(),
            quarantined: 0,
            bloom,
        })
    }

    /// Approximate heap and inline bytes of this record.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.keys.len() * 8
            + self
                .bloom
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<BloomEncoding>())
    }

    /// Whether `keys[i]` is quarantined.
    pub fn is_quarantined(&self, i: usize) -> bool {
        (self.quarantined >> i) & 1 == 1
    }

    /// The non-quarantined national-id keys, sorted.
    pub fn national_ids(&self, rule: u8) -> impl Iterator<Item = u64> + '_ {
        self.keys
            .iter()
            .enumerate()
            .filter(move |&(i, &k)| key_rule(k) == rule && !self.is_quarantined(i))
            .map(|(_, &k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token key keeps the rule id in the top byte and the hash prefix below.
    #[test]
    fn token_key_layout() {
        let mut hash = [0u8; 32];
        hash[0] = 0xab;
        hash[6] = 0xcd;
        hash[7] = 0xef; // the 8th byte is dropped
        let key = token_key(9, &hash);
        assert_eq!(key_rule(key), 9);
        assert_eq!(key, 0x09ab_0000_0000_00cd);
    }
}
