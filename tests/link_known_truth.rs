//! Known-truth linkage quality: synthetic populations (synth + the real
//! encoder) at error rates 0, 0.05 and 0.2, linked incrementally with the
//! prior model and then by a full job (EM), evaluated pairwise against
//! `truth.csv`. The measured figures are printed (`--nocapture`) and asserted.

mod link_common;

use std::collections::HashMap;

use veilink::link::evaluate::evaluate;
use veilink::link::{JobOptions, LinkConfig, LinkIndex, Setting};

/// Persons per run: small enough for the default test run.
const PERSONS: u64 = 20_000;

/// Links a population incrementally (batches of 1,000), runs a full job and
/// returns the pairwise F1 of the default partition.
fn measured_f1(error_rate: f64, seed: u64) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let population = link_common::population(dir.path(), PERSONS, seed, error_rate);
    let mut index =
        LinkIndex::new(LinkConfig::default(), None, link_common::seeded_ids(1)).expect("index");
    for batch in population.records.chunks(1_000) {
        index.insert(batch.to_vec()).expect("insert");
    }
    let prior_map: HashMap<u64, u64> = index.partition(Setting::Default).into_iter().collect();
    let prior = evaluate(&population.truth, &prior_map);
    let report = index
        .run_full_job(JobOptions { reestimate: true }, &mut |_| {})
        .expect("full job");
    let mut f1 = 0.0;
    for setting in Setting::ALL {
        let map: HashMap<u64, u64> = index.partition(setting).into_iter().collect();
        let e = evaluate(&population.truth, &map);
        println!(
            "error rate {error_rate}: {} records, {} entities, {setting:?}: precision {:.4} recall {:.4} F1 {:.4} exact {:.3} (prior model F1 {:.4})",
            e.records, e.entities, e.precision, e.recall, e.f1, e.exact_share, prior.f1
        );
        if setting == Setting::Default {
            f1 = e.f1;
            for group in e.worst.iter().take(5) {
                let parts: Vec<Vec<(String, String)>> = group
                    .parts
                    .iter()
                    .map(|p| p.iter().map(|r| population.local[r].clone()).collect())
                    .collect();
                println!("  worst {:?}: {:?}", group.kind, parts);
            }
        }
    }
    let quality = &report.model.quality;
    println!(
        "  model: lambda {:.3}, threshold {:.2} bits, expected {:?}; {} candidate pairs, {} links, stats {:?}",
        report.model.lambda,
        report.model.default_threshold,
        quality
            .iter()
            .map(|q| (q.setting, q.precision, q.recall))
            .collect::<Vec<_>>(),
        report.candidate_pairs,
        report.links,
        index.stats()
    );
    f1
}

/// Without errors, pairwise F1 is at least 0.99.
#[test]
fn f1_without_errors() {
    let f1 = measured_f1(0.0, 11);
    assert!(f1 >= 0.99, "pairwise F1 {f1:.4} < 0.99 at error rate 0");
}

/// At error rate 0.05, pairwise F1 is at least 0.98.
#[test]
fn f1_at_five_percent_errors() {
    let f1 = measured_f1(0.05, 12);
    assert!(f1 >= 0.98, "pairwise F1 {f1:.4} < 0.98 at error rate 0.05");
}

/// At error rate 0.2, pairwise F1 is at least 0.95.
#[test]
fn f1_at_twenty_percent_errors() {
    let f1 = measured_f1(0.2, 13);
    assert!(f1 >= 0.95, "pairwise F1 {f1:.4} < 0.95 at error rate 0.2");
}

/// Diagnostic (ignored; run with `--ignored --nocapture`): the fitted model
/// at error rate 0.2 as `--explain` JSON, and the true pairs the default
/// setting misses, with the evidence about each and whether blocking proposed
/// it at all.
#[test]
#[ignore]
fn missed_pairs_at_twenty_percent_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let population = link_common::population(dir.path(), PERSONS, 13, 0.2);
    let mut index =
        LinkIndex::new(LinkConfig::default(), None, link_common::seeded_ids(1)).expect("index");
    index.insert(population.records.clone()).expect("insert");
    let report = index
        .run_full_job(JobOptions { reestimate: true }, &mut |_| {})
        .expect("job");
    println!(
        "{}",
        serde_json::to_string_pretty(&report.model.explain()).expect("json")
    );
    let map: HashMap<u64, u64> = index.partition(Setting::Default).into_iter().collect();
    let mut by_entity: HashMap<u64, Vec<u64>> = HashMap::new();
    for (&r, &e) in &population.truth {
        by_entity.entry(e).or_default().push(r);
    }
    let (mut missed, mut not_candidate) = (0, 0);
    for records in by_entity.values() {
        for (i, &a) in records.iter().enumerate() {
            for &b in &records[i + 1..] {
                if map[&a] != map[&b] {
                    missed += 1;
                    let x = index.explain_pair(a, b).expect("both in the index");
                    not_candidate += usize::from(!x.candidate);
                    println!(
                        "{:?} {:?} {x:?}",
                        population.local[&a], population.local[&b]
                    );
                }
            }
        }
    }
    println!("missed {missed} true pairs, {not_candidate} of them never candidates");
}
