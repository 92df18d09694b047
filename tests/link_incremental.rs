//! Incremental linkage equals a full run: after any order of insert batches
//! (and withdrawals), the partition under every setting is the one a full
//! linkage of the remaining records with the same model gives.

mod link_common;

use std::sync::OnceLock;

use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use veilink::link::{JobOptions, LinkConfig, LinkIndex, LinkRecord, Setting};

/// A small synthetic population with many errors (fuzzy links), shared by
/// all cases.
fn records() -> &'static [LinkRecord] {
    static RECORDS: OnceLock<Vec<LinkRecord>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        link_common::population(dir.path(), 4_000, 21, 0.2).records
    })
}

/// A low quarantine limit so that keys cross it, in both directions, while
/// batches arrive and leave.
fn config() -> LinkConfig {
    LinkConfig {
        quarantine_limit: 4,
        ..LinkConfig::default()
    }
}

/// A partition as (record, cluster label) pairs, ascending by record.
type Partition = Vec<(u64, u64)>;

/// The partitions of a full run under every setting, and its (components,
/// largest component).
fn full_partitions(remaining: Vec<LinkRecord>) -> (Vec<Partition>, (usize, usize)) {
    let (index, _) = LinkIndex::restore(
        config(),
        None,
        remaining,
        Vec::new(),
        link_common::seeded_ids(9),
        &mut |_| {},
    )
    .expect("full build");
    let stats = index.stats();
    (
        Setting::ALL.iter().map(|&s| index.partition(s)).collect(),
        (stats.components, stats.largest_component),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    /// Any batch order, batch sizes and interleaved withdrawals give the
    /// partition of a full run over the records that remain, and the same
    /// components; a full job with the same model then finds no person that
    /// differs.
    #[test]
    fn incremental_equals_full(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<LinkRecord> = records().to_vec();
        order.shuffle(&mut rng);
        let mut index = LinkIndex::new(config(), None, link_common::seeded_ids(seed)).expect("index");
        let mut present: Vec<u64> = Vec::new();
        let mut withdrawn = std::collections::HashSet::new();
        let mut rest = order.as_slice();
        while !rest.is_empty() {
            let size = rng.random_range(1..=rest.len().min(400));
            let (batch, tail) = rest.split_at(size);
            rest = tail;
            index.insert(batch.to_vec()).expect("insert");
            present.extend(batch.iter().map(|r| r.seq));
            if rng.random_bool(0.3) {
                present.shuffle(&mut rng);
                let n = rng.random_range(0..=present.len().min(40));
                let gone: Vec<u64> = present.drain(..n).collect();
                index.remove(&gone).expect("remove");
                withdrawn.extend(gone);
            }
        }
        let remaining: Vec<LinkRecord> =
            records().iter().filter(|r| !withdrawn.contains(&r.seq)).cloned().collect();
        let (full, components) = full_partitions(remaining);
        for (setting, expected) in Setting::ALL.iter().zip(&full) {
            prop_assert!(index.partition(*setting) == *expected, "{:?} partition differs", setting);
        }
        let stats = index.stats();
        prop_assert_eq!((stats.components, stats.largest_component), components);
        let report = index.run_full_job(JobOptions { reestimate: false }, &mut |_| {}).expect("job");
        prop_assert_eq!(report.persons_differ, 0);
        prop_assert!(report.delta.changes.is_empty());
    }
}

/// Quarantine crossings really happen in this test's data (otherwise the
/// property above would not exercise them).
#[test]
fn the_data_crosses_the_quarantine_limit() {
    let mut index = LinkIndex::new(config(), None, link_common::seeded_ids(1)).expect("index");
    index.insert(records().to_vec()).expect("insert");
    assert!(!index.quarantined().is_empty());
}

/// The components an insertion re-clusters are those of the default links,
/// not of every stored (loose) link: in this data, with many fuzzy links,
/// there are more of them than loose clusters. Components of the loose links
/// could not outnumber the loose clusters, since each holds at least one.
#[test]
fn components_follow_default_links_only() {
    let mut index = LinkIndex::new(config(), None, link_common::seeded_ids(2)).expect("index");
    for batch in records().chunks(500) {
        index.insert(batch.to_vec()).expect("insert");
    }
    let clusters = |setting| {
        let mut labels: Vec<u64> = index
            .partition(setting)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        labels.sort_unstable();
        labels.dedup();
        labels.len()
    };
    let (loose, default) = (clusters(Setting::Loose), clusters(Setting::Default));
    let stats = index.stats();
    println!(
        "{} components (largest {}), {default} default clusters, {loose} loose clusters",
        stats.components, stats.largest_component
    );
    assert!(stats.components <= default);
    assert!(
        stats.components > loose,
        "{} components, {loose} loose clusters",
        stats.components
    );
}
