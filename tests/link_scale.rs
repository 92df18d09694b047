//! One-off scale measurement (ignored in the default run): a synthetic
//! population encoded by the real encoder, linked by a full job; prints wall
//! time per phase, records, persons, bytes per record and the peak RSS.
//!
//! Run: `VEILINK_SCALE_PERSONS=6600000 cargo test --release --test link_scale -- --ignored --nocapture`
//! (the synthetic population includes unregistered persons: 6.6 million
//! give about one million registered persons with 1.5 million records).

mod link_common;

use std::time::Instant;

use veilink::link::{JobOptions, LinkConfig, LinkIndex, StoredPerson};

/// Peak resident set size of this process in kB (Linux `VmHWM`).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Full linkage of a large synthetic population, measured (not asserted).
#[test]
#[ignore]
fn full_linkage_at_scale() {
    let persons: u64 = std::env::var("VEILINK_SCALE_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    let population = link_common::population(dir.path(), persons, 5, 0.05);
    let records = population.records.len();
    println!(
        "synth + encode: {persons} persons -> {records} records in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    drop(population.local);
    let rss_before = peak_rss_kb();
    let start = Instant::now();
    let (mut index, delta) = LinkIndex::restore(
        LinkConfig::default(),
        None,
        population.records,
        Vec::<StoredPerson>::new(),
        link_common::seeded_ids(1),
        &mut |_| {},
    )
    .expect("restore");
    println!(
        "bulk load + link with the prior model: {:.1} s, {} persons created",
        start.elapsed().as_secs_f64(),
        delta.changes.len()
    );
    let start = Instant::now();
    let report = index
        .run_full_job(JobOptions { reestimate: true }, &mut |_| {})
        .expect("job");
    println!(
        "full job (EM + rescore + cluster): {:.1} s; timings {:?}; {} candidate pairs, {} links, {} persons, {} differ",
        start.elapsed().as_secs_f64(),
        report.timings,
        report.candidate_pairs,
        report.links,
        report.persons_after,
        report.persons_differ
    );
    let stats = index.stats();
    println!(
        "index: {stats:?}; {:.0} bytes/record; peak RSS {:?} kB (before linking {:?} kB)",
        stats.bytes as f64 / records as f64,
        peak_rss_kb(),
        rss_before
    );
    let map: std::collections::HashMap<u64, u64> = index
        .partition(veilink::link::Setting::Default)
        .into_iter()
        .collect();
    let e = veilink::link::evaluate::evaluate(&population.truth, &map);
    println!(
        "quality: precision {:.4} recall {:.4} F1 {:.4}",
        e.precision, e.recall, e.f1
    );
}
