//! Four keyed BLAKE3 hashes of short inputs at once.
//!
//! A record's match tokens are about a dozen keyed hashes of inputs of 20 to
//! 60 bytes, each under its own rule key: one BLAKE3 compression each, and
//! hashed one by one through `blake3::keyed_hash` (about 124 ns each on the
//! 2 GHz Zen 1 of `BENCHMARKS.md`, against about 80 ns here) they were a fifth
//! of the encoding time. BLAKE3 compresses independent inputs in SIMD lanes (its
//! `hash_many`), but the `blake3` crate offers that only for whole 1 KiB
//! chunks. This module runs the BLAKE3 compression function (BLAKE3
//! specification, O'Connor, Aumasson, Neves & Wilcox-O'Hearn 2020, §2.2) on
//! four single-block inputs side by side, one input per 32-bit lane of SSE2
//! registers (part of every x86-64 processor). When the processor reports
//! AVX (checked at run time), the same code runs compiled for AVX:
//! three-operand instructions, and the rotations by 16 and 8 bits become one
//! byte shuffle each (as in the BLAKE3 reference SIMD code); 2–3 % more
//! records/s for the whole encoder (`BENCHMARKS.md` §4). Built for other
//! processors, each input goes to [`blake3::keyed_hash`].
//!
//! Only what single-block keyed hashing needs is here: an input of at most
//! [`BLOCK_LEN`] bytes is one chunk of one block, so the compression runs
//! once with the flags `CHUNK_START | CHUNK_END | ROOT | KEYED_HASH`,
//! counter 0 and the input length as block length, and the hash is the first
//! eight words of its output. Longer inputs go to [`blake3::keyed_hash`].
//! Both versions are tested equal to the `blake3` crate for every length
//! from 0 to 130 bytes and on random keys and inputs, and against the
//! official test vectors of 0 and 1 byte (the official file has no other
//! input of one block).

/// Bytes in one BLAKE3 block: the longest input hashed here in lanes.
pub const BLOCK_LEN: usize = 64;

/// The keyed BLAKE3 hashes of four inputs, each under its own key: equal to
/// `blake3::keyed_hash(keys[i], inputs[i])` for every `i` (32 bytes each).
/// Inputs of up to [`BLOCK_LEN`] bytes are hashed side by side; a longer one
/// is handed to the `blake3` crate on its own.
pub(crate) fn keyed_hash_4(keys: [&[u8; 32]; 4], inputs: [&[u8]; 4]) -> [[u8; 32]; 4] {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        if std::arch::is_x86_feature_detected!("avx")
            && std::arch::is_x86_feature_detected!("ssse3")
        {
            // SAFETY: the processor reports AVX, which `keyed_hash_4_avx` is
            // compiled for; SSSE3 is checked as well because the compiler
            // may use its byte shuffle there (AVX implies it on real
            // processors, but a virtual machine could mask one and not the
            // other).
            return unsafe { sse2::keyed_hash_4_avx(keys, inputs) };
        }
        // SAFETY: this code is compiled only where SSE2 is enabled for the
        // whole build (the x86-64 baseline), so every processor it runs on
        // has it, which is all `sse2::keyed_hash_4` requires.
        unsafe { sse2::keyed_hash_4(keys, inputs) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        std::array::from_fn(|lane| *blake3::keyed_hash(keys[lane], inputs[lane]).as_bytes())
    }
}

/// The lanes on x86-64: one SSE2 register per BLAKE3 state word.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        _mm_add_epi32, _mm_cvtsi128_si32, _mm_or_si128, _mm_set_epi32, _mm_set1_epi32,
        _mm_shuffle_epi32, _mm_shufflehi_epi16, _mm_shufflelo_epi16, _mm_slli_epi32,
        _mm_srli_epi32, _mm_xor_si128,
    };

    use super::BLOCK_LEN;

    /// The BLAKE3 IV (the SHA-256 IV; specification §2.2).
    const IV: [u32; 4] = [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A];

    /// Domain flags of a single-block keyed hash: `CHUNK_START` (1),
    /// `CHUNK_END` (2), `ROOT` (8) and `KEYED_HASH` (16) (specification, Table 3).
    const FLAGS: u32 = 1 | 2 | 8 | 16;

    /// The message word order of each of the seven rounds: the identity, then
    /// the permutation of specification §2.2 applied once more per round.
    const SCHEDULE: [[usize; 16]; 7] = schedule();

    /// Builds [`SCHEDULE`] from the permutation at compile time.
    const fn schedule() -> [[usize; 16]; 7] {
        const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
        let mut out = [[0; 16]; 7];
        let mut i = 0;
        while i < 16 {
            out[0][i] = i;
            i += 1;
        }
        let mut round = 1;
        while round < 7 {
            let mut i = 0;
            while i < 16 {
                out[round][i] = out[round - 1][PERMUTATION[i]];
                i += 1;
            }
            round += 1;
        }
        out
    }

    /// Little-endian 32-bit word `index` (0–15) of a block.
    fn word(block: &[u8; BLOCK_LEN], index: usize) -> i32 {
        let bytes = [
            block[4 * index],
            block[4 * index + 1],
            block[4 * index + 2],
            block[4 * index + 3],
        ];
        u32::from_le_bytes(bytes) as i32
    }

    /// An input of at most one block, zero-padded to a whole block; a longer
    /// one (hashed by the crate instead) as an empty block.
    fn block(input: &[u8]) -> [u8; BLOCK_LEN] {
        let mut block = [0u8; BLOCK_LEN];
        if let Some(bytes) = block.get_mut(..input.len()) {
            bytes.copy_from_slice(input);
        }
        block
    }

    /// See [`super::keyed_hash_4`]; SSE2 only (rotations by shifts).
    #[target_feature(enable = "sse2")]
    pub(super) fn keyed_hash_4(keys: [&[u8; 32]; 4], inputs: [&[u8]; 4]) -> [[u8; 32]; 4] {
        compress_4::<false>(keys, inputs)
    }

    /// See [`super::keyed_hash_4`]; the same code compiled for AVX (three-
    /// operand instructions, fewer register copies), where the rotations by
    /// 16 and 8 bits become one byte shuffle each.
    #[target_feature(enable = "avx")]
    pub(super) fn keyed_hash_4_avx(keys: [&[u8; 32]; 4], inputs: [&[u8]; 4]) -> [[u8; 32]; 4] {
        compress_4::<true>(keys, inputs)
    }

    /// The four keyed hashes. `AVX` is true for the instance called from
    /// [`keyed_hash_4_avx`]: it is inlined there (one caller per instance)
    /// and so compiled for AVX, where plain shift pairs make the best
    /// rotations. Either instance is correct on any SSE2 processor.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn compress_4<const AVX: bool>(keys: [&[u8; 32]; 4], inputs: [&[u8]; 4]) -> [[u8; 32]; 4] {
        // One register per state word, lane i holding input i's word.
        macro_rules! lanes {
            ($f:expr) => {
                _mm_set_epi32($f(3), $f(2), $f(1), $f(0))
            };
        }
        let blocks = inputs.map(block);
        let mut m = [_mm_set1_epi32(0); 16];
        for (i, slot) in m.iter_mut().enumerate() {
            *slot = lanes!(|lane: usize| word(&blocks[lane], i));
        }
        let mut v = [_mm_set1_epi32(0); 16];
        for (i, slot) in v.iter_mut().take(8).enumerate() {
            *slot = lanes!(|lane: usize| {
                let key = keys[lane];
                i32::from_le_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
            });
        }
        for (i, iv) in IV.iter().enumerate() {
            v[8 + i] = _mm_set1_epi32(*iv as i32);
        }
        // Counter words (12, 13) stay 0: the first and only chunk.
        v[14] = lanes!(|lane: usize| inputs[lane].len().min(BLOCK_LEN) as i32);
        v[15] = _mm_set1_epi32(FLAGS as i32);

        // Rotations of each 32-bit lane. Under AVX, LLVM compiles the shift
        // pairs for 16 and 8 bits to one byte shuffle each (`vpshufb`);
        // under SSE2 alone, which has no byte shuffle, the rotation by 16 is
        // written as two word shuffles.
        macro_rules! rotate_right {
            ($x:expr, 16) => {
                if AVX {
                    _mm_or_si128(_mm_srli_epi32::<16>($x), _mm_slli_epi32::<16>($x))
                } else {
                    _mm_shufflehi_epi16::<0b10_11_00_01>(_mm_shufflelo_epi16::<0b10_11_00_01>($x))
                }
            };
            ($x:expr, $n:literal) => {
                _mm_or_si128(_mm_srli_epi32::<$n>($x), _mm_slli_epi32::<{ 32 - $n }>($x))
            };
        }
        // The quarter-round G on state words a, b, c, d with message words
        // x and y (specification §2.2).
        macro_rules! g {
            ($a:literal, $b:literal, $c:literal, $d:literal, $x:expr, $y:expr) => {
                v[$a] = _mm_add_epi32(_mm_add_epi32(v[$a], v[$b]), $x);
                v[$d] = rotate_right!(_mm_xor_si128(v[$d], v[$a]), 16);
                v[$c] = _mm_add_epi32(v[$c], v[$d]);
                v[$b] = rotate_right!(_mm_xor_si128(v[$b], v[$c]), 12);
                v[$a] = _mm_add_epi32(_mm_add_epi32(v[$a], v[$b]), $y);
                v[$d] = rotate_right!(_mm_xor_si128(v[$d], v[$a]), 8);
                v[$c] = _mm_add_epi32(v[$c], v[$d]);
                v[$b] = rotate_right!(_mm_xor_si128(v[$b], v[$c]), 7);
            };
        }
        // One round with the message words in the order of round `r`; the
        // rounds are written out so every index is a constant.
        macro_rules! round {
            ($r:literal) => {
                let o = &SCHEDULE[$r];
                g!(0, 4, 8, 12, m[o[0]], m[o[1]]);
                g!(1, 5, 9, 13, m[o[2]], m[o[3]]);
                g!(2, 6, 10, 14, m[o[4]], m[o[5]]);
                g!(3, 7, 11, 15, m[o[6]], m[o[7]]);
                g!(0, 5, 10, 15, m[o[8]], m[o[9]]);
                g!(1, 6, 11, 12, m[o[10]], m[o[11]]);
                g!(2, 7, 8, 13, m[o[12]], m[o[13]]);
                g!(3, 4, 9, 14, m[o[14]], m[o[15]]);
            };
        }
        round!(0);
        round!(1);
        round!(2);
        round!(3);
        round!(4);
        round!(5);
        round!(6);
        let mut out = [[0u8; 32]; 4];
        for i in 0..8 {
            let h = _mm_xor_si128(v[i], v[i + 8]);
            let words = [
                _mm_cvtsi128_si32(h),
                _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b01>(h)),
                _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b10>(h)),
                _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b11>(h)),
            ];
            for (hash, word) in out.iter_mut().zip(words) {
                hash[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes());
            }
        }
        for (lane, hash) in out.iter_mut().enumerate() {
            if inputs[lane].len() > BLOCK_LEN {
                *hash = *blake3::keyed_hash(keys[lane], inputs[lane]).as_bytes();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::array::from_fn;

    /// A four-lane keyed-hash implementation.
    type Lanes = fn([&[u8; 32]; 4], [&[u8]; 4]) -> [[u8; 32]; 4];

    /// Every implementation this processor can run, by name: the entry point
    /// (which dispatches), and on x86-64 the SSE2 lanes and, when the
    /// processor has AVX, the AVX lanes, so each is tested whichever the
    /// entry point picks here.
    fn implementations() -> Vec<(&'static str, Lanes)> {
        let mut found: Vec<(&'static str, Lanes)> = vec![("entry point", keyed_hash_4)];
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            // SAFETY: SSE2 is enabled for the whole build.
            found.push(("sse2", |keys, inputs| unsafe {
                sse2::keyed_hash_4(keys, inputs)
            }));
            if std::arch::is_x86_feature_detected!("avx")
                && std::arch::is_x86_feature_detected!("ssse3")
            {
                // SAFETY: the processor reports AVX (and SSSE3).
                found.push(("avx", |keys, inputs| unsafe {
                    sse2::keyed_hash_4_avx(keys, inputs)
                }));
            }
        }
        found
    }

    /// Equal to the `blake3` crate for every input length from 0 to 130
    /// bytes (one block, and longer inputs handed to the crate), with four
    /// different keys and inputs in the lanes.
    #[test]
    fn equals_blake3_for_every_short_length() {
        let keys: [[u8; 32]; 4] = from_fn(|lane| from_fn(|i| (lane * 37 + i * 11) as u8));
        for (name, lanes) in implementations() {
            for len in 0..=130 {
                let inputs: [Vec<u8>; 4] =
                    from_fn(|lane| (0..len + lane).map(|i| (i * 7 + lane) as u8).collect());
                let hashes = lanes(
                    [&keys[0], &keys[1], &keys[2], &keys[3]],
                    from_fn(|lane| inputs[lane].as_slice()),
                );
                for lane in 0..4 {
                    assert_eq!(
                        hashes[lane],
                        *blake3::keyed_hash(&keys[lane], &inputs[lane]).as_bytes(),
                        "{name}: length {}, lane {lane}",
                        len + lane
                    );
                }
            }
        }
    }

    /// The official BLAKE3 test vectors (`test_vectors/test_vectors.json` of
    /// the BLAKE3 reference repository): key `whats the Elvish word for
    /// friend`, input bytes `i mod 251`; the first 32 bytes of the keyed
    /// hashes of the 0- and 1-byte inputs (one block, in lanes) and of the
    /// 1023-byte input (handed to the crate).
    #[test]
    fn official_keyed_hash_vectors() {
        let key: &[u8; 32] = b"whats the Elvish word for friend";
        let input: Vec<u8> = (0..1023).map(|i| (i % 251) as u8).collect();
        let expected = [
            "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26",
            "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b",
            "c951ecdf03288d0fcc96ee3413563d8a6d3589547f2c2fb36d9786470f1b9d6e",
            "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b",
        ];
        for (name, lanes) in implementations() {
            let hashes = lanes(
                [key; 4],
                [&input[..0], &input[..1], &input[..1023], &input[..1]],
            );
            for (lane, hex) in expected.iter().enumerate() {
                let text: String = hashes[lane].iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(&text, hex, "{name}: lane {lane}");
            }
        }
    }

    proptest::proptest! {
        /// Equal to the `blake3` crate on random keys and inputs.
        #[test]
        fn equals_blake3(
            keys in proptest::array::uniform4(proptest::array::uniform32(proptest::num::u8::ANY)),
            inputs in proptest::array::uniform4(
                proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            ),
        ) {
            for (name, lanes) in implementations() {
                let hashes = lanes(
                    [&keys[0], &keys[1], &keys[2], &keys[3]],
                    from_fn(|lane| inputs[lane].as_slice()),
                );
                for lane in 0..4 {
                    proptest::prop_assert_eq!(
                        hashes[lane],
                        *blake3::keyed_hash(&keys[lane], &inputs[lane]).as_bytes(),
                        "{}", name
                    );
                }
            }
        }
    }
}
