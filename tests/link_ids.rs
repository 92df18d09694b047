//! Stable person ids: over additions, merges, withdrawals (splits and
//! removals), a restart (rebuild from stored records, persons and model) and
//! a full job.

mod link_common;

use std::collections::HashMap;

use link_common::{Fields, encoder, record, seeded_ids};
use veilink::link::{ChangeKind, JobOptions, LinkConfig, LinkIndex, LinkRecord, PersonId};

fn person(given: &'static str, surname: &'static str, dob: (i32, u32, u32)) -> Fields {
    Fields {
        given,
        surname,
        dob,
        postcode: "1011AA",
        house: "5",
        residence: "Amsterdam",
        ..Fields::default()
    }
}

fn ids(index: &LinkIndex, keys: impl IntoIterator<Item = u64>) -> HashMap<u64, PersonId> {
    keys.into_iter()
        .map(|k| (k, index.person_of(k).expect("record in index")))
        .collect()
}

/// Adding records of other people changes no existing id; a record of an
/// existing person joins it under its id.
#[test]
fn ids_survive_additions() {
    let enc = encoder();
    let mut index = LinkIndex::new(LinkConfig::default(), None, seeded_ids(1)).expect("index");
    let anna = person("Anna", "Bakker", (1990, 1, 2));
    index
        .insert(vec![
            record(&enc, 1, &anna),
            record(&enc, 2, &person("Bram", "Smit", (1985, 6, 7))),
        ])
        .unwrap();
    let before = ids(&index, [1, 2]);
    let delta = index
        .insert(vec![record(
            &enc,
            3,
            &person("Carla", "Mulder", (1970, 3, 4)),
        )])
        .unwrap();
    assert_eq!(ids(&index, [1, 2]), before);
    assert_eq!(delta.changes.len(), 1);
    assert_eq!(delta.changes[0].kind, ChangeKind::New);

    let delta = index.insert(vec![record(&enc, 4, &anna)]).unwrap();
    assert_eq!(index.person_of(4), Some(before[&1]));
    assert_eq!(delta.changes[0].kind, ChangeKind::Join);
    assert_eq!(delta.changes[0].records, vec![1, 4]);
    let evidence = &delta.changes[0].evidence;
    assert_eq!(evidence.len(), 1);
    assert!(evidence[0].rules.contains(&2), "{evidence:?}");
}

/// When a new record bridges two persons, the older id survives and the
/// other is retired; when the bridge is withdrawn the person splits, the part
/// with the oldest record keeps the id, and withdrawing every record retires
/// the id. (Penalties are off and the probabilistic thresholds out of reach,
/// so exactly the token rules decide which pairs link.)
#[test]
fn merges_keep_the_oldest_id_and_withdrawals_split() {
    let enc = encoder();
    let mut config = LinkConfig {
        default_posterior: 0.999_999,
        loose_posterior: 0.999_999,
        ..LinkConfig::default()
    };
    for rule in &mut config.rules {
        rule.penalty = 0.0;
    }
    let mut index = LinkIndex::new(config, None, seeded_ids(2)).expect("index");
    // Eva registered under her birth surname, and later under her married
    // name at a new address: the two records share only given name and date
    // of birth, which no rule links on its own.
    let birth = person("Eva", "Jansen", (1988, 8, 8));
    let married = Fields {
        postcode: "2511BB",
        house: "9",
        residence: "Den Haag",
        ..person("Eva", "Vos", (1988, 8, 8))
    };
    index.insert(vec![record(&enc, 10, &birth)]).unwrap();
    index.insert(vec![record(&enc, 20, &married)]).unwrap();
    let (old_id, young_id) = (index.person_of(10).unwrap(), index.person_of(20).unwrap());
    assert_ne!(old_id, young_id);

    // A registration with both names at the new address links to both: to
    // the first on the birth surname, to the second on the married name part
    // (rule 6) and given name + dob + postcode (rule 4).
    let bridge = Fields {
        birth_surname: "Jansen",
        ..married.clone()
    };
    let delta = index.insert(vec![record(&enc, 30, &bridge)]).unwrap();
    assert_eq!(
        index.person_of(20),
        Some(old_id),
        "the older id survives the merge"
    );
    assert_eq!(index.person_of(30), Some(old_id));
    let merge = delta
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Merge)
        .expect("a merge");
    assert_eq!(merge.merged, vec![young_id]);
    assert_eq!(merge.evidence.len(), 2);
    assert!(delta.retired().contains(&young_id));

    let delta = index.remove(&[30]).unwrap();
    assert_eq!(
        index.person_of(10),
        Some(old_id),
        "the part with the oldest record keeps the id"
    );
    let split_off = index.person_of(20).unwrap();
    assert_ne!(split_off, old_id);
    let kept = delta.changes.iter().find(|c| c.person == old_id).unwrap();
    assert_eq!(
        (kept.kind, kept.split_off.clone()),
        (ChangeKind::Split, vec![split_off])
    );
    let part = delta
        .changes
        .iter()
        .find(|c| c.person == split_off)
        .unwrap();
    assert_eq!(part.split_from, vec![old_id]);

    let delta = index.remove(&[10]).unwrap();
    assert_eq!(delta.changes[0].kind, ChangeKind::Removed);
    assert_eq!(delta.retired(), vec![old_id]);
    assert_eq!(index.records_of(&old_id), None);
}

/// A rebuild from the stored records, persons and model gives back every id
/// and reports no change; a full job with the same model changes nothing; a
/// full job that re-estimates the model keeps the id of every person whose
/// records are unchanged.
#[test]
fn ids_survive_restart_and_full_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let population = link_common::population(dir.path(), 4_000, 31, 0.05);
    let records: Vec<LinkRecord> = population.records.clone();
    let mut index = LinkIndex::new(LinkConfig::default(), None, seeded_ids(3)).expect("index");
    for batch in records.chunks(300) {
        index.insert(batch.to_vec()).unwrap();
    }
    let keys: Vec<u64> = records.iter().map(|r| r.seq).collect();
    let before = ids(&index, keys.iter().copied());

    let stored = index.persons();
    let model = index.model().clone();
    let (restored, delta) = LinkIndex::restore(
        LinkConfig::default(),
        Some(model),
        records,
        stored.clone(),
        seeded_ids(4),
        &mut |_| {},
    )
    .unwrap();
    assert!(delta.changes.is_empty(), "{:?}", delta.changes.first());
    assert_eq!(ids(&restored, keys.iter().copied()), before);
    assert_eq!(restored.persons(), stored);

    let report = index
        .run_full_job(JobOptions { reestimate: false }, &mut |_| {})
        .unwrap();
    assert_eq!(report.persons_differ, 0);
    assert_eq!(ids(&index, keys.iter().copied()), before);

    let mut progress = Vec::new();
    let report = index
        .run_full_job(JobOptions { reestimate: true }, &mut |f| progress.push(f))
        .unwrap();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]) && progress.last() == Some(&1.0));
    let after = index.persons();
    let old_by_records: HashMap<Vec<u64>, PersonId> =
        stored.iter().map(|p| (p.records.clone(), p.id)).collect();
    let mut unchanged = 0;
    for p in &after {
        if let Some(id) = old_by_records.get(&p.records) {
            assert_eq!(*id, p.id, "an unchanged person keeps its id");
            unchanged += 1;
        }
    }
    assert_eq!(unchanged + report.persons_differ, after.len());
}
