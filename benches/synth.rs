//! Throughput of the synthetic population generator.
//!
//! Generates small populations end to end (households, life courses,
//! registrations, errors, CSV, schema and truth files) into a temporary
//! directory and reports persons per second. The 1,000,000-person wall time
//! and peak RSS in `BENCHMARKS.md` come from a one-off run, not from here.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use veilink::synth::{SynthConfig, generate};

fn generator(c: &mut Criterion) {
    let mut group = c.benchmark_group("synth_generate");
    group.sample_size(10);
    for persons in [2_000u64, 20_000] {
        group.throughput(Throughput::Elements(persons));
        group.bench_with_input(
            BenchmarkId::from_parameter(persons),
            &persons,
            |b, &persons| {
                let dir = tempfile::tempdir().expect("temporary directory");
                let config = SynthConfig {
                    persons,
                    seed: 3,
                    ..SynthConfig::default()
                };
                b.iter(|| generate(&config, dir.path()).expect("generation succeeds"));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, generator);
criterion_main!(benches);
