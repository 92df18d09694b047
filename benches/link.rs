//! Linkage cost on synthetic data (synth + the real encoder, error rate 0.05):
//! a full job (EM, re-scoring, clustering, person ids) over about 46,000
//! records, and the incremental cost of linking one batch of 10,000 records
//! into an index that already holds about 36,000.
//! Run: `cargo bench --bench link`. The one-off measurement at a million
//! persons is `tests/link_scale.rs` (ignored by default).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use veilink::encode::{Encoder, LinkageSecret, RecordReader, Schema};
use veilink::link::{IdSource, JobOptions, LinkConfig, LinkIndex, LinkRecord, PersonId};
use veilink::synth::{SynthConfig, generate};

/// Synthetic population (registered and unregistered persons).
const POPULATION: u64 = 200_000;

/// Records per incremental batch.
const BATCH: usize = 10_000;

fn ids() -> IdSource {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    Box::new(move || {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        PersonId(id)
    })
}

/// Every record of a synthetic population, encoded.
fn records() -> Vec<LinkRecord> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SynthConfig {
        persons: POPULATION,
        seed: 3,
        error_rate: 0.05,
        ..SynthConfig::default()
    };
    generate(&config, dir.path()).expect("synth");
    let secret = LinkageSecret::from_bytes([7u8; 32]);
    let mut out = Vec::new();
    for agency in &config.agencies {
        let schema =
            Schema::load(&dir.path().join(format!("{agency}.schema.toml"))).expect("schema");
        let encoder = Encoder::new(&secret, &schema);
        let path = dir.path().join(format!("{agency}.csv"));
        for encoded in RecordReader::open(&encoder, &path).expect("csv") {
            let encoded = match encoded {
                Ok(encoded) => encoded,
                // No identifying field: the agency skips it (`submit --on-error skip`).
                Err(e) if e.fault == veilink::encode::LineFault::NothingToLink => continue,
                Err(e) => panic!("{e}"),
            };
            out.push(LinkRecord {
                seq: out.len() as u64,
                tokens: encoded.tokens.iter().map(|t| (t.rule.0, t.hash)).collect(),
                bloom: encoded.bloom.map(|b| b.0),
            });
        }
    }
    out
}

fn build(records: Vec<LinkRecord>) -> LinkIndex {
    LinkIndex::restore(
        LinkConfig::default(),
        None,
        records,
        Vec::new(),
        ids(),
        &mut |_| {},
    )
    .expect("build")
    .0
}

fn bench_link(c: &mut Criterion) {
    let records = records();
    let mut group = c.benchmark_group("linkage");
    group.sample_size(10);

    let mut index = build(records.clone());
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function(format!("full_job_{}_records", records.len()), |b| {
        b.iter(|| {
            black_box(
                index
                    .run_full_job(JobOptions { reestimate: true }, &mut |_| {})
                    .expect("job"),
            )
        })
    });

    let split = records.len().saturating_sub(BATCH);
    let (base, batch) = records.split_at(split);
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function(
        format!("incremental_batch_{}_into_{}", batch.len(), base.len()),
        |b| {
            b.iter_batched(
                || (build(base.to_vec()), batch.to_vec()),
                |(mut index, batch)| black_box(index.insert(batch).expect("insert")),
                BatchSize::LargeInput,
            )
        },
    );
    group.finish();
}

criterion_group!(benches, bench_link);
criterion_main!(benches);
