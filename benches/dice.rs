//! Dice comparisons of 1024-bit Bloom encodings per second on one core.
//!
//! Target (issue 6): at least 150 million comparisons/s per core; anonlink,
//! the reference PPRL matcher, reports about 130 million/s. Measured in the
//! one-against-many shape anonlink uses (`dice_many`) and pair by pair
//! (`dice`), on random encodings with about 30 % of the bits set.
//! Run: `cargo bench --bench dice`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use veilink::link::dice::{BLOOM_BYTES, BloomEncoding, dice, dice_many};

/// Encodings compared per iteration: 1,000 fit in the L2 cache (136 kB,
/// compute-bound, as anonlink's chunked comparisons), 10,000 do not (1.4 MB,
/// closer to memory bandwidth).
const SIZES: [usize; 2] = [1_000, 10_000];

fn encodings(n: usize, seed: u64) -> Vec<BloomEncoding> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut bytes = [0u8; BLOOM_BYTES];
            for byte in &mut bytes {
                for bit in 0..8 {
                    if rng.random_bool(0.3) {
                        *byte |= 1 << bit;
                    }
                }
            }
            BloomEncoding::from_bytes(&bytes)
        })
        .collect()
}

fn bench_dice(c: &mut Criterion) {
    let query = encodings(1, 1).remove(0);
    let mut group = c.benchmark_group("dice_1024_bits");
    for n in SIZES {
        let candidates = encodings(n, 2);
        let mut out = vec![0f32; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("one_against_many_{n}"), |b| {
            b.iter(|| {
                dice_many(black_box(&query), black_box(&candidates), &mut out);
                black_box(&out);
            })
        });
        group.bench_function(format!("pair_by_pair_{n}"), |b| {
            b.iter(|| {
                let mut sum = 0f32;
                for candidate in &candidates {
                    sum += dice(black_box(&query), candidate);
                }
                black_box(sum)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dice);
criterion_main!(benches);
