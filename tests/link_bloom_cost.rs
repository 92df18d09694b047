//! The cost of the Bloom hardening on linkage quality, for `BENCHMARKS.md`:
//! the same synthetic populations (20,000 persons, fixed seeds, error rates
//! 0, 0.05 and 0.2) encoded with the default scheme
//! (`BloomScheme::SaltedByBirthYear`) and with `BloomScheme::Unsalted`,
//! linked incrementally in batches of 1,000 and then by a full job, and
//! evaluated pairwise against `truth.csv` (default setting). Measurement
//! only, ignored by default:
//!
//! `cargo test --release --test link_bloom_cost -- --ignored --nocapture`

mod link_common;

use std::collections::HashMap;
use std::path::Path;

use veilink::encode::{BloomScheme, Encoder, RecordReader, Schema};
use veilink::link::evaluate::evaluate;
use veilink::link::{JobOptions, LinkConfig, LinkIndex, LinkRecord, Setting};
use veilink::synth::{SynthConfig, generate};

/// Persons per population (as in `tests/link_known_truth.rs`).
const PERSONS: u64 = 20_000;

/// Error rates with the seeds `tests/link_known_truth.rs` uses for them.
const RUNS: [(f64, u64); 3] = [(0.0, 11), (0.05, 12), (0.2, 13)];

/// Encoded records of a synthetic population and their true entities.
struct Encoded {
    records: Vec<LinkRecord>,
    truth: HashMap<u64, u64>,
}

/// Encodes every agency file of the population in `dir` with `scheme`.
fn encode(dir: &Path, scheme: BloomScheme) -> Encoded {
    let mut truth_rows: HashMap<(String, String), u64> = HashMap::new();
    for row in csv::Reader::from_path(dir.join("truth.csv"))
        .expect("truth.csv")
        .records()
    {
        let row = row.expect("truth row");
        truth_rows.insert(
            (row[0].to_string(), row[1].to_string()),
            row[2].parse().expect("person id"),
        );
    }
    let mut out = Encoded {
        records: Vec::new(),
        truth: HashMap::new(),
    };
    for agency in veilink::synth::DEFAULT_AGENCIES {
        let schema = Schema::load(&dir.join(format!("{agency}.schema.toml"))).expect("schema");
        let encoder = Encoder::new(&link_common::secret(), &schema).with_bloom(Some(scheme));
        let input = dir.join(format!("{agency}.csv"));
        for encoded in RecordReader::open(&encoder, &input).expect("csv") {
            let encoded = encoded.expect("encoded record");
            let seq = out.records.len() as u64;
            out.truth
                .insert(seq, truth_rows[&(agency.to_string(), encoded.local_id)]);
            out.records.push(LinkRecord {
                seq,
                tokens: encoded.tokens.iter().map(|t| (t.rule.0, t.hash)).collect(),
                bloom: encoded.bloom.map(|b| b.0),
            });
        }
    }
    out
}

/// Pairwise figures of the default setting after incremental linking and a
/// full job: (precision, recall, F1, candidate pairs).
fn link(encoded: &Encoded) -> (f64, f64, f64, u64) {
    let mut index =
        LinkIndex::new(LinkConfig::default(), None, link_common::seeded_ids(1)).expect("index");
    for batch in encoded.records.chunks(1_000) {
        index.insert(batch.to_vec()).expect("insert");
    }
    let report = index
        .run_full_job(JobOptions { reestimate: true }, &mut |_| {})
        .expect("full job");
    let map: HashMap<u64, u64> = index.partition(Setting::Default).into_iter().collect();
    let e = evaluate(&encoded.truth, &map);
    (e.precision, e.recall, e.f1, report.candidate_pairs)
}

/// Prints pairwise precision, recall and F1 with the salted (default) and
/// the unsalted Bloom scheme at error rates 0, 0.05 and 0.2; the default
/// scheme must still meet the targets (0.99 / 0.98 / 0.95).
#[test]
#[ignore = "measurement for BENCHMARKS.md: cargo test --release --test link_bloom_cost -- --ignored --nocapture"]
fn bloom_hardening_cost_on_linkage_quality() {
    println!("| error rate | scheme | records | candidate pairs | precision | recall | F1 |");
    println!("|---|---|---|---|---|---|---|");
    for (error_rate, seed) in RUNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SynthConfig {
            persons: PERSONS,
            seed,
            error_rate,
            ..SynthConfig::default()
        };
        generate(&config, dir.path()).expect("synth");
        let salted = encode(dir.path(), BloomScheme::SaltedByBirthYear);
        let unsalted = encode(dir.path(), BloomScheme::Unsalted);
        assert_eq!(salted.records.len(), unsalted.records.len());
        assert!(
            salted
                .records
                .iter()
                .zip(&unsalted.records)
                .any(|(a, b)| a.bloom.is_some() && a.bloom != b.bloom),
            "the two schemes give the same Bloom encodings"
        );
        let mut f1 = HashMap::new();
        for (name, encoded) in [("salted (default)", &salted), ("unsalted", &unsalted)] {
            let (precision, recall, f, pairs) = link(encoded);
            assert!((0.0..=1.0).contains(&f), "{name}: F1 {f}");
            println!(
                "| {error_rate} | {name} | {} | {pairs} | {precision:.4} | {recall:.4} | {f:.4} |",
                encoded.records.len()
            );
            f1.insert(name, f);
        }
        println!(
            "error rate {error_rate}: F1 salted - unsalted = {:+.4}",
            f1["salted (default)"] - f1["unsalted"]
        );
        let target = [0.99, 0.98, 0.95][RUNS.iter().position(|r| r.1 == seed).unwrap_or(0)];
        assert!(
            f1["salted (default)"] >= target,
            "default scheme F1 {:.4} < {target} at error rate {error_rate}",
            f1["salted (default)"]
        );
    }
}
