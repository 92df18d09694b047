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
//! The instructions are chosen at run time: on x86-64 the kernels are
//! compiled again with target features enabled through `#[target_feature]`,
//! and [`and_popcount`], [`dice`] and [`dice_many`] dispatch to the best
//! version the CPU reports, so no global `target-cpu` flag is needed. The
//! `unsafe` is the calls into those functions, each guarded by the feature
//! check, and the unaligned loads of the vector kernels (16 bytes in the
//! split kernel, 64 bytes in the AVX-512 kernel).
//!
//! With AVX-512 and its `VPOPCNTDQ` extension (AMD Zen 4 and later, Intel
//! Xeon from Ice Lake-SP, Ice Lake and Tiger Lake clients) the **AVX-512
//! kernel** holds an encoding in two 512-bit registers: two ANDs, two
//! `VPOPCNTQ` (a population count per 64-bit lane) and one sum of eight
//! lanes per comparison. On the AMD EPYC (Zen 4) this
//! project ran on from 2026-12-01 it compares 2.5–3 times as many pairs
//! per second as the POPCNT loop one against many (`cargo bench --bench
//! dice`, BENCHMARKS.md §6). Pair by pair, the shape the linkage's scoring
//! calls, the call per comparison dominates and it gains little: 150–156
//! million/s against 131–158 million/s for the split kernel, alternating
//! runs on the same machine; it is kept there too, as the steadier one.
//!
//! Without it, with AVX (for its three-operand SSE forms), SSSE3 and POPCNT,
//! the **split kernel** counts words 0..6 in SSE registers by the
//! nibble-lookup popcount (Muła, Kurz & Lemire 2018, "Faster population
//! counts using AVX2 instructions", here with 128-bit `pshufb`) and words
//! 6..16 by scalar POPCNT, so the otherwise idle vector pipes take a third
//! of the work off the integer pipes and load ports. On the AMD EPYC
//! (Zen 1) this project ran on until 2026-11-30 it compared 15–18 % more
//! pairs per second than POPCNT alone pair by pair, which is how the
//! linkage calls [`dice`]. One against many it was no faster, so that
//! kernel set keeps the POPCNT loop for [`dice_many`]: that loop is bound by
//! the number of instructions the core issues per cycle, and the conversion
//! to a Dice value costs as much as the vector pipes save. Six vector words
//! was the best split in a stand-alone measurement (2, 4, 6, 8 tried). A
//! pure AVX2 nibble-lookup kernel was slower (90 million/s against
//! 120 million/s): Zen 1 splits 256-bit operations in two.

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
    let kernel = kernels().pair;
    dice_from_common(kernel(&a.words, &b.words), a.ones, b.ones)
}

/// Dice coefficients of `query` against every encoding in `candidates`,
/// written to `out` (which must have the same length; extra entries of the
/// longer slice are ignored). One dispatch for the whole slice, so the inner
/// loop runs inside the feature-enabled kernel with the query held in
/// registers: this is the one-against-many shape that anonlink benchmarks.
pub fn dice_many(query: &BloomEncoding, candidates: &[BloomEncoding], out: &mut [f32]) {
    (kernels().many)(query, candidates, out)
}

/// Number of bits set in both encodings, by the fastest kernel this CPU has.
pub fn and_popcount(a: &BloomEncoding, b: &BloomEncoding) -> u32 {
    (kernels().pair)(&a.words, &b.words)
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

/// The kernels for one CPU: an intersection popcount of two word arrays,
/// and the one-against-many Dice loop.
#[derive(Clone, Copy)]
struct Kernels {
    /// `|A ∩ B|` of two encodings' words.
    pair: fn(&[u64; WORDS], &[u64; WORDS]) -> u32,
    /// [`dice_many`]'s loop.
    many: fn(&BloomEncoding, &[BloomEncoding], &mut [f32]),
}

/// The kernels that run without target features (any CPU).
const PORTABLE: Kernels = Kernels {
    pair: and_popcount_portable,
    many: dice_many_portable,
};

/// The kernels chosen once per process from the CPU's features.
fn kernels() -> Kernels {
    static CHOSEN: OnceLock<Kernels> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(chosen) = x86::detect() {
                return chosen;
            }
        }
        PORTABLE
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
    //! The same loops compiled with `popcnt`, the split SSE + POPCNT
    //! kernel compiled with `avx` and `popcnt`, and the AVX-512 kernels
    //! compiled with `avx512f` and `avx512vpopcntdq`.
    use std::arch::x86_64::{
        __m128i, __m512i, _mm_add_epi8, _mm_add_epi64, _mm_and_si128, _mm_cvtsi128_si64,
        _mm_loadu_si128, _mm_sad_epu8, _mm_set1_epi8, _mm_setr_epi8, _mm_setzero_si128,
        _mm_shuffle_epi8, _mm_srli_epi16, _mm_unpackhi_epi64, _mm512_add_epi64, _mm512_and_si512,
        _mm512_loadu_si512, _mm512_popcnt_epi64, _mm512_reduce_add_epi64,
    };

    use super::{BloomEncoding, Kernels, WORDS, and_popcount_portable, dice_many_portable};

    /// Words counted in SSE registers by the split kernel (three 128-bit
    /// chunks); the other ten go through POPCNT. Measured, see the module
    /// documentation.
    const VECTOR_WORDS: usize = 6;

    /// The POPCNT kernels; only for CPUs that report `popcnt`.
    const POPCNT: Kernels = Kernels {
        pair: and_popcount_popcnt_checked,
        many: dice_many_popcnt_checked,
    };

    /// The split kernel pair by pair; only for CPUs that report `avx`,
    /// `ssse3` and `popcnt`. One against many keeps the POPCNT loop, which
    /// is as fast there (see the module documentation).
    const SPLIT: Kernels = Kernels {
        pair: and_popcount_split_checked,
        many: dice_many_popcnt_checked,
    };

    /// The AVX-512 kernels; only for CPUs that report `avx512f` and
    /// `avx512vpopcntdq`.
    const AVX512: Kernels = Kernels {
        pair: and_popcount_avx512_checked,
        many: dice_many_avx512_checked,
    };

    /// Every feature-enabled kernel set this CPU can run, slowest first.
    pub(super) fn supported() -> Vec<(&'static str, Kernels)> {
        let mut found = Vec::new();
        if std::arch::is_x86_feature_detected!("popcnt") {
            found.push(("popcnt", POPCNT));
            // AVX implies SSSE3 on real processors, but a virtual machine
            // could report one and mask the other.
            if std::arch::is_x86_feature_detected!("avx")
                && std::arch::is_x86_feature_detected!("ssse3")
            {
                found.push(("split", SPLIT));
            }
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        {
            found.push(("avx512", AVX512));
        }
        found
    }

    /// `|A ∩ B|` by AVX-512: the encoding is two 512-bit registers, counted
    /// by `VPOPCNTQ` per 64-bit lane, then the eight lanes are summed.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn and_popcount_avx512(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        let (a_low, a_high) = load_halves(a);
        let (b_low, b_high) = load_halves(b);
        let lanes = _mm512_add_epi64(
            _mm512_popcnt_epi64(_mm512_and_si512(a_low, b_low)),
            _mm512_popcnt_epi64(_mm512_and_si512(a_high, b_high)),
        );
        _mm512_reduce_add_epi64(lanes) as u32
    }

    /// One-against-many by AVX-512, the query held in two registers.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn dice_many_avx512(query: &BloomEncoding, candidates: &[BloomEncoding], out: &mut [f32]) {
        let (q_low, q_high) = load_halves(&query.words);
        for (slot, candidate) in out.iter_mut().zip(candidates) {
            let (c_low, c_high) = load_halves(&candidate.words);
            let lanes = _mm512_add_epi64(
                _mm512_popcnt_epi64(_mm512_and_si512(q_low, c_low)),
                _mm512_popcnt_epi64(_mm512_and_si512(q_high, c_high)),
            );
            let common = _mm512_reduce_add_epi64(lanes) as u32;
            *slot = super::dice_from_common(common, query.ones, candidate.ones);
        }
    }

    /// Words 0..8 and 8..16 as two 512-bit registers.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load_halves(words: &[u64; WORDS]) -> (__m512i, __m512i) {
        // SAFETY: `words` is 128 readable bytes, two 64-byte halves;
        // `_mm512_loadu_si512` has no alignment requirement.
        unsafe {
            (
                _mm512_loadu_si512(words.as_ptr().cast::<__m512i>()),
                _mm512_loadu_si512(words.as_ptr().add(8).cast::<__m512i>()),
            )
        }
    }

    /// The best kernels this CPU supports, or `None` for the portable ones.
    pub(super) fn detect() -> Option<Kernels> {
        supported().pop().map(|(_, kernels)| kernels)
    }

    /// The portable kernel compiled with `popcnt`: sixteen AND + POPCNT pairs.
    #[target_feature(enable = "popcnt")]
    fn and_popcount_popcnt(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        and_popcount_portable(a, b)
    }

    /// One-against-many with `popcnt`.
    #[target_feature(enable = "popcnt")]
    fn dice_many_popcnt(query: &BloomEncoding, candidates: &[BloomEncoding], out: &mut [f32]) {
        dice_many_portable(query, candidates, out)
    }

    /// `|A ∩ B|` with words `0..VECTOR_WORDS` counted by nibble lookup in SSE
    /// registers and the rest by POPCNT.
    #[target_feature(enable = "avx,ssse3,popcnt")]
    fn and_popcount_split(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        // Bits set in each 4-bit value 0..16.
        let nibble_ones = _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        let low_nibbles = _mm_set1_epi8(0x0f);
        // Per byte at most 8 bits per chunk, 24 in all: no byte overflows.
        let mut byte_sums = _mm_setzero_si128();
        for chunk in 0..VECTOR_WORDS / 2 {
            let common = _mm_and_si128(load_chunk(a, chunk), load_chunk(b, chunk));
            let low = _mm_and_si128(common, low_nibbles);
            let high = _mm_and_si128(_mm_srli_epi16::<4>(common), low_nibbles);
            byte_sums = _mm_add_epi8(
                byte_sums,
                _mm_add_epi8(
                    _mm_shuffle_epi8(nibble_ones, low),
                    _mm_shuffle_epi8(nibble_ones, high),
                ),
            );
        }
        // Sum the sixteen byte counts into the two 64-bit halves, then those.
        let halves = _mm_sad_epu8(byte_sums, _mm_setzero_si128());
        let vector_ones =
            _mm_cvtsi128_si64(_mm_add_epi64(halves, _mm_unpackhi_epi64(halves, halves)));
        // Four independent sums, so the additions do not form one serial chain.
        let mut sums = [0u32; 4];
        for i in VECTOR_WORDS..WORDS {
            sums[i % 4] += (a[i] & b[i]).count_ones();
        }
        vector_ones as u32 + sums[0] + sums[1] + sums[2] + sums[3]
    }

    /// The 128-bit chunk `chunk` (words `2·chunk` and `2·chunk + 1`).
    #[target_feature(enable = "avx")]
    #[inline]
    fn load_chunk(words: &[u64; WORDS], chunk: usize) -> __m128i {
        let pair = &words[2 * chunk..2 * chunk + 2];
        // SAFETY: `pair` is 16 readable bytes (the slice above is bounds
        // checked, and the check folds away for constant `chunk`);
        // `_mm_loadu_si128` has no alignment requirement.
        unsafe { _mm_loadu_si128(pair.as_ptr().cast::<__m128i>()) }
    }

    // Entry points stored in the dispatch table; `supported()` hands each out
    // only after the CPU reported the features its target function was
    // compiled for.

    fn and_popcount_popcnt_checked(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        // SAFETY: handed out by `supported()` only when the CPU reports `popcnt`.
        unsafe { and_popcount_popcnt(a, b) }
    }

    fn dice_many_popcnt_checked(
        query: &BloomEncoding,
        candidates: &[BloomEncoding],
        out: &mut [f32],
    ) {
        // SAFETY: handed out by `supported()` only when the CPU reports `popcnt`.
        unsafe { dice_many_popcnt(query, candidates, out) }
    }

    fn and_popcount_split_checked(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        // SAFETY: handed out by `supported()` only when the CPU reports `avx`, `ssse3` and `popcnt`.
        unsafe { and_popcount_split(a, b) }
    }

    fn and_popcount_avx512_checked(a: &[u64; WORDS], b: &[u64; WORDS]) -> u32 {
        // SAFETY: handed out by `supported()` only when the CPU reports
        // `avx512f` and `avx512vpopcntdq`.
        unsafe { and_popcount_avx512(a, b) }
    }

    fn dice_many_avx512_checked(
        query: &BloomEncoding,
        candidates: &[BloomEncoding],
        out: &mut [f32],
    ) {
        // SAFETY: handed out by `supported()` only when the CPU reports
        // `avx512f` and `avx512vpopcntdq`.
        unsafe { dice_many_avx512(query, candidates, out) }
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

    /// Every kernel this CPU runs (the portable one, and on x86-64 the
    /// POPCNT, split and AVX-512 kernels) gives the same intersection counts and
    /// bit-identical Dice values as the portable loop, pair by pair and one
    /// against many, on random encodings and the extremes (empty, full).
    #[test]
    fn every_kernel_agrees_with_the_portable_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let mut encodings: Vec<BloomEncoding> = (0..300)
            .map(|i| {
                let mut bytes = [0u8; BLOOM_BYTES];
                // Densities from sparse to nearly full.
                let density = (i % 10) as f64 / 10.0;
                for byte in &mut bytes {
                    for bit in 0..8 {
                        if rng.random_bool(density) {
                            *byte |= 1 << bit;
                        }
                    }
                }
                BloomEncoding::from_bytes(&bytes)
            })
            .collect();
        encodings.push(BloomEncoding::from_bytes(&[0u8; BLOOM_BYTES]));
        encodings.push(BloomEncoding::from_bytes(&[0xffu8; BLOOM_BYTES]));
        let mut kernels = vec![("portable", PORTABLE)];
        #[cfg(target_arch = "x86_64")]
        kernels.extend(x86::supported());
        assert!(
            kernels.len() >= 2 || !cfg!(target_arch = "x86_64"),
            "no feature-enabled kernel on this x86-64 machine"
        );
        // Where the CPU has AVX-512 VPOPCNTDQ, its kernel is among those tested.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        {
            assert!(kernels.iter().any(|(name, _)| *name == "avx512"));
        }
        let mut expected = vec![0f32; encodings.len()];
        let mut got = vec![0f32; encodings.len()];
        for query in &encodings {
            dice_many_portable(query, &encodings, &mut expected);
            for (name, kernel) in &kernels {
                for (candidate, want) in encodings.iter().zip(&expected) {
                    let common = (kernel.pair)(&query.words, &candidate.words);
                    assert_eq!(
                        common,
                        and_popcount_portable(&query.words, &candidate.words),
                        "{name}"
                    );
                    assert_eq!(
                        dice_from_common(common, query.ones, candidate.ones),
                        *want,
                        "{name}"
                    );
                }
                (kernel.many)(query, &encodings, &mut got);
                assert_eq!(got, expected, "{name}");
            }
        }
        // The full encoding against itself: 1024 common bits.
        let full = &encodings[encodings.len() - 1];
        assert_eq!(and_popcount(full, full), 1024);
        assert_eq!(dice(full, full), 1.0);
    }
}
