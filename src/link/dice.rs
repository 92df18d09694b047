//! The Dice coefficient on 1024-bit Bloom-filter encodings.
//!
//! Fuzzy matching compares the keyed Bloom encodings of two records (name and
//! date-of-birth q-grams, `docs/ENCODING.md`) by the Dice coefficient
//! `2·|A ∩ B| / (|A| + |B|)`, the similarity used throughout the PPRL
//! literature (Schnell, Bachteler & Reiher 2009, "Privacy-preserving record
//! linkage using Bloom filters"; anonlink). The linkage compares millions of
//! candidate pairs, so this is the innermost loop of a full job: the encoding
//! is held as sixteen 64-bit words with its population count precomputed, and
//! a comparison is one AND and one popcount per word, with no allocation.
//!
//! The instruction is chosen at run time: on x86-64 the kernels are compiled
//! a second time with `popcnt` enabled through `#[target_feature]`, and
//! [`and_popcount`] and [`dice_many`] dispatch to that version when the CPU
//! reports the feature, so no global `target-cpu` flag is needed. The only
//! `unsafe` is the call into those functions, guarded by the feature check.
//!
//! An AVX2 nibble-lookup popcount (Muła, Kurz & Lemire 2018) was measured
//! and dropped: on the AMD EPYC (Zen 1) this project runs on, 256-bit
//! operations are split in two and it compared 90 million pairs/s against
//! 120 million/s for POPCNT; the loop is bound by loads, and four
//! independent sums keep the additions off one serial chain.

use std::sync::OnceLock;

/// Length of a Bloom encoding in bytes (1024 bits, `docs/ENCODING.md`).
pub const BLOOM_BYTES: usize = 128;

/// Number of 64-bit words in a Bloom encoding.
const WORDS: usize = BLOOM_BYTES / 8;

/// A 1024-bit Bloom encoding as sixteen little-endian 64-bit words, with its
/// population count (number of set bits) computed once at construction.
///
/// Bit `i` of the encoding is bit `i % 8` of byte `i / 8` of the wire form, so
/// word `w` holds bytes `8w..8w+8` in little-endian order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BloomEncoding {
    /// The bits.
    words: [u64; WORDS],
    /// `|A|`, so a comparison needs only the popcount of the intersection.
    ones: u32,
}

impl BloomEncoding {
    /// Builds the word form of a 128-byte wire encoding.
    pub fn from_bytes(bytes: &[u8; BLOOM_BYTES]) -> Self {
        let mut words = [0u64; WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *word = u64::from_le_bytes(le);
        }
        let ones = words.iter().map(|w| w.count_ones()).sum();
        BloomEncoding { words, ones }
    }

    /// Number of set bits (0..=1024).
    pub fn ones(&self) -> u32 {
        self.ones
    }

    /// Bit `i` (0..1024) of the encoding.
    pub fn bit(&self, i: usize) -> bool {
        (self.words[i / 64] >> (i % 64)) & 1 == 1
    }
}

/// Dice coefficient of two encodings, in `[0, 1]`; two empty encodings
/// have Dice 0 (nothing to agree on).
pub fn dice(a: &BloomEncoding, b: &BloomEncoding) -> f32 {
    let kernel = kernel();
    dice_from_common(kernel(&a.words, &b.words), a.ones, b.ones)
}

/// Dice coefficients of `query` against every encoding in `candidates`,
/// written to `out` (which must have the same length; extra entries of the
/// longer slice are ignored). One dispatch for the whole slice, so the inner
/// loop runs inside the feature-enabled kernel: this is the one-against-many
/// shape that anonlink benchmarks.
pub fn dice_many(query: &BloomEncoding, candidates: &[BloomEncoding], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU reports the `popcnt` feature the function was compiled for.
            unsafe { x86::dice_many_popcnt(query, candidates, out) };
            return;
        }
    }
    dice_many_portable(query, candidates, out);
}

/// Number of bits set in both encodings, by the fastest kernel this CPU has.
pub fn and_popcount(a: &BloomEncoding, b: &BloomEncoding) -> u32 {
    kernel()(&a.words, &b.words)
}

/// `2c / (|A| + |B|)` with the empty/empty case defined as 0, by a table of
/// reciprocals (a division per comparison would cost more than the popcount).
#[inline(always)]
fn dice_from_common(common: u32, ones_a: u32, ones_b: u32) -> f32 {
    // ones_a + ones_b <= 2048 by construction (1024 bits each).
    (2 * common) as f32 * RECIPROCALS[(ones_a + ones_b) as usize]
}

/// `1 / t` for `t` in 1..=2048, and 0 for `t = 0`.
static RECIPROCALS: [f32; 2 * 1024 + 1] = reciprocals();

const fn reciprocals() -> [f32; 2 * 1024 + 1] {
    let mut table = [0f32; 2 * 1024 + 1];
    let mut t = 1;
    while t < table.len() {
        table[t] = 1.0 / t as f32;
        t += 1;
    }
    table
}

/// The signature of an intersection-popcount kernel.
type Kernel = fn(&[u64; WORDS], &[u64; WORDS]) -> u32;

/// The kernel chosen once per process from the CPU's features.
fn kernel() -> Kernel {
    static CHOSEN: OnceLock<Kernel> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("popcnt") {
                return x86::and_popcount_checked;
            }
        }
        and_popcount_portable
    })
}

/// The portable kernel: what the compiler makes of `count_ones` without
/// target features (a bit-twiddling popcount on baseline x86-64).
#[inline(always)]
fn and_popcount_portable(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
    // Four independent sums, so the additions do not form one serial chain.
    let mut sums = [0u32; 4];
    for i in (0..WORDS).step_by(4) {
        for (lane, sum) in sums.iter_mut().enumerate() {
            *sum += (a[i + lane] & b[i + lane]).count_ones();
        }
    }
    sums[0] + sums[1] + sums[2] + sums[3]
}

/// The portable one-against-many loop.
#[inline(always)]
fn dice_many_portable(query: &BloomEncoding, candidates: &[BloomEncoding], out: &mut [f32]) {
    for (slot, candidate) in out.iter_mut().zip(candidates) {
        let common = and_popcount_portable(&query.words, &candidate.words);
        *slot = dice_from_common(common, query.ones, candidate.ones);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The same loops compiled with the `popcnt` instruction enabled.
    use super::{BloomEncoding, WORDS, and_popcount_portable, dice_many_portable};

    /// The portable kernel compiled with `popcnt`: sixteen AND + POPCNT pairs.
    #[target_feature(enable = "popcnt")]
    fn and_popcount_popcnt(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        and_popcount_portable(a, b)
    }

    /// Entry point stored in the dispatch table; only selected after the
    /// `popcnt` feature was detected (see `kernel()`).
    pub(super) fn and_popcount_checked(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        // SAFETY: `kernel()` stores this function only when the CPU reports `popcnt`.
        unsafe { and_popcount_popcnt(a, b) }
    }

    /// One-against-many with `popcnt`; callers must have detected the feature.
    #[target_feature(enable = "popcnt")]
    pub(super) fn dice_many_popcnt(
        query: &BloomEncoding,
        candidates: &[BloomEncoding],
        out: &mut [f32],
    ) {
        dice_many_portable(query, candidates, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding(bits: &[usize]) -> BloomEncoding {
        let mut bytes = [0u8; BLOOM_BYTES];
        for &i in bits {
            bytes[i / 8] |= 1 << (i % 8);
        }
        BloomEncoding::from_bytes(&bytes)
    }

    /// Dice matches the set definition 2|A∩B|/(|A|+|B|) on a hand-made example.
    #[test]
    fn dice_follows_the_set_definition() {
        let a = encoding(&[0, 1, 2, 63, 64, 1023]);
        let b = encoding(&[1, 2, 64, 500]);
        // |A| = 6, |B| = 4, |A∩B| = 3 -> 6/10.
        assert_eq!(a.ones(), 6);
        assert_eq!(and_popcount(&a, &b), 3);
        assert!((dice(&a, &b) - 0.6).abs() < 1e-6);
        assert!((dice(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(dice(&encoding(&[]), &encoding(&[])), 0.0);
    }

    /// The byte-to-bit layout is bit i%8 of byte i/8.
    #[test]
    fn bit_layout_is_little_endian_within_bytes() {
        let mut bytes = [0u8; BLOOM_BYTES];
        bytes[1] = 0b0000_0100; // bit 10
        let e = BloomEncoding::from_bytes(&bytes);
        assert!(e.bit(10));
        assert_eq!(e.ones(), 1);
    }

    /// The dispatched one-against-many loop agrees with the single comparison.
    #[test]
    fn dice_many_agrees_with_dice() {
        let q = encoding(&[3, 9, 700, 701]);
        let cands = vec![
            encoding(&[3, 9]),
            encoding(&[]),
            encoding(&[700, 701, 702, 3]),
        ];
        let mut out = vec![0.0; 3];
        dice_many(&q, &cands, &mut out);
        for (c, d) in cands.iter().zip(&out) {
            assert_eq!(*d, dice(&q, c));
        }
    }
}
