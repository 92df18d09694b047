//! One test per linkage guard, each showing the false merge it prevents:
//! the same records linked with the guard's trigger removed (or the guard
//! relaxed) do merge, with the guard in force they do not.

mod link_common;

use std::collections::BTreeMap;

use link_common::{Fields, encoder, encoder_bsn, record, seeded_ids};
use veilink::link::{Guard, LinkConfig, LinkIndex, LinkRecord, RuleClass, Setting};

/// Clusters of the given setting as sorted lists of record keys.
fn clusters(index: &LinkIndex, setting: Setting) -> Vec<Vec<u64>> {
    let mut by_label: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (record, label) in index.partition(setting) {
        by_label.entry(label).or_default().push(record);
    }
    by_label.into_values().collect()
}

fn linked(config: LinkConfig, records: Vec<LinkRecord>) -> LinkIndex {
    let mut index = LinkIndex::new(config, None, seeded_ids(3)).expect("index");
    index.insert(records).expect("insert");
    index
}

fn jan(national_id: &'static str) -> Fields {
    Fields {
        given: "Jan",
        surname: "Jansen",
        dob: (1980, 5, 17),
        male: true,
        national_id,
        postcode: "1234AB",
        house: "12",
        residence: "Utrecht",
        place_of_birth: "Utrecht",
        ..Fields::default()
    }
}

/// A placeholder national id that an agency failed to clean, shared by 60
/// different people, is quarantined: it joins nobody. With the limit raised
/// above 60 the same token chains them all into one person (up to the size
/// bound), because an identifier agreement alone passes the deterministic
/// stage once disagreement penalties are off (token union-find).
#[test]
fn quarantine_stops_a_placeholder_token_from_chaining_people() {
    let enc = encoder_bsn();
    let given = [
        "Anna", "Bram", "Carla", "Daan", "Eva", "Finn", "Gina", "Hugo", "Iris", "Joost",
    ];
    let surnames = ["Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder"];
    let records: Vec<LinkRecord> = (0..60u64)
        .map(|i| {
            let f = Fields {
                given: given[i as usize % 10],
                surname: surnames[i as usize / 10],
                dob: (1950 + i as i32, 1 + (i % 12) as u32, 1 + (i % 28) as u32),
                national_id: "999999990",
                ..Fields::default()
            };
            record(&enc, i, &f)
        })
        .collect();
    let mut union_find = LinkConfig::default();
    for rule in &mut union_find.rules {
        rule.penalty = 0.0;
    }
    let guarded = linked(union_find.clone(), records.clone());
    assert_eq!(
        clusters(&guarded, Setting::Default).len(),
        60,
        "quarantined token must join nobody"
    );
    let quarantined = guarded.quarantined();
    assert!(
        quarantined.iter().any(|q| q.rule == 1 && q.records == 60),
        "{quarantined:?}"
    );

    let mut unguarded = union_find;
    unguarded.quarantine_limit = 1_000;
    let merged = linked(unguarded, records);
    assert_eq!(
        clusters(&merged, Setting::Default).len(),
        1,
        "without the guard the token merges everyone"
    );
}

/// Two namesakes (same name, date of birth, birthplace) with different
/// national ids, and a third registration of the name without an id: without
/// the ids all three form one person; with them the id-less record joins one
/// of the two and the two ids never share a person.
#[test]
fn conflicting_national_ids_are_never_joined() {
    let enc = encoder_bsn();
    let with_ids = vec![
        record(&enc, 1, &jan("111222333")),
        record(
            &enc,
            2,
            &Fields {
                postcode: "",
                house: "",
                ..jan("")
            },
        ),
        record(
            &enc,
            3,
            &Fields {
                postcode: "9999ZZ",
                house: "1",
                residence: "Groningen",
                ..jan("123456782")
            },
        ),
    ];
    assert!(
        with_ids[0].tokens.iter().any(|(rule, _)| *rule == 1)
            && with_ids[2].tokens.iter().any(|(rule, _)| *rule == 1),
        "both BSNs pass the 11-proef"
    );
    let guarded = linked(LinkConfig::default(), with_ids.clone());
    for setting in Setting::ALL {
        let found = clusters(&guarded, setting);
        assert!(
            found.iter().all(|c| !(c.contains(&1) && c.contains(&3))),
            "{setting:?}: {found:?}"
        );
    }
    assert_eq!(
        clusters(&guarded, Setting::Default),
        vec![vec![1, 2], vec![3]]
    );

    let without_ids: Vec<LinkRecord> = with_ids
        .into_iter()
        .map(|mut r| {
            r.tokens.retain(|(rule, _)| *rule != 1);
            r
        })
        .collect();
    let merged = linked(LinkConfig::default(), without_ids);
    assert_eq!(clusters(&merged, Setting::Default), vec![vec![1, 2, 3]]);
}

/// The guard holds for checked ids only. Two registrations of one person
/// whose ids differ by a transposed digit: as BSNs both cannot pass the
/// 11-proef, so two valid BSNs that differ are two people and stay apart; as
/// another register's ids (no check digit, rule 13) the difference is a
/// likely typo, counted as evidence, and the agreeing name, date of birth
/// and address still link them.
#[test]
fn unchecked_register_ids_that_differ_do_not_forbid_a_link() {
    let register = encoder();
    let typo = vec![
        record(&register, 1, &jan("NL-4471902")),
        record(&register, 2, &jan("NL-4471920")),
    ];
    assert!(
        typo.iter()
            .all(|r| r.tokens.iter().any(|(rule, _)| *rule == 13)
                && r.tokens.iter().all(|(rule, _)| *rule != 1)),
        "an unchecked id is a rule-13 token"
    );
    let index = linked(LinkConfig::default(), typo);
    assert_eq!(clusters(&index, Setting::Default), vec![vec![1, 2]]);

    let bsn = encoder_bsn();
    let two_people = vec![
        record(&bsn, 1, &jan("111222333")),
        record(&bsn, 2, &jan("123456782")),
    ];
    let index = linked(LinkConfig::default(), two_people);
    for setting in Setting::ALL {
        assert_eq!(
            clusters(&index, setting),
            vec![vec![1], vec![2]],
            "{setting:?}"
        );
    }
}

/// 250 identical registrations (a test account reused for years, say) never
/// make a person of more than `max_cluster_size` records; the refused merges
/// are reported in the delta. With the bound raised they form one person.
#[test]
fn cluster_size_is_bounded_and_refusals_are_reported() {
    let enc = encoder();
    let records: Vec<LinkRecord> = (0..250).map(|i| record(&enc, i, &jan(""))).collect();
    let mut config = LinkConfig {
        quarantine_limit: 10_000,
        ..LinkConfig::default()
    };
    let mut index = LinkIndex::new(config.clone(), None, seeded_ids(3)).expect("index");
    let delta = index.insert(records.clone()).expect("insert");
    let sizes: Vec<usize> = clusters(&index, Setting::Default)
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, vec![200, 50]);
    assert!(delta.refusals.iter().any(|r| r.guard == Guard::ClusterSize));

    config.max_cluster_size = 1_000;
    let unbounded = linked(config, records);
    assert_eq!(clusters(&unbounded, Setting::Default).len(), 1);
}

/// Two siblings in one household agree only on the weak surname+address
/// rule. Even with that rule's weight raised far above the threshold, the
/// deterministic stage does not join them (a single weak rule never
/// suffices); raising the rule to the medium class does.
#[test]
fn a_weak_rule_alone_never_joins() {
    let enc = encoder();
    let household = |given: &'static str, dob| Fields {
        given,
        surname: "Visser",
        dob,
        postcode: "5611AB",
        house: "3",
        ..Fields::default()
    };
    let records = vec![
        record(&enc, 1, &household("Lotte", (2001, 3, 4))),
        record(&enc, 2, &household("Sem", (2004, 9, 30))),
    ];
    let mut heavy = LinkConfig::default();
    for rule in &mut heavy.rules {
        if rule.class == RuleClass::Weak {
            rule.weight = 50.0;
        }
        rule.penalty = 0.0;
    }
    let guarded = linked(heavy.clone(), records.clone());
    assert_eq!(clusters(&guarded, Setting::Strict).len(), 2);
    assert_eq!(clusters(&guarded, Setting::Default).len(), 2);

    for rule in &mut heavy.rules {
        if rule.class == RuleClass::Weak {
            rule.class = RuleClass::Medium;
        }
    }
    let merged = linked(heavy, records);
    assert_eq!(clusters(&merged, Setting::Strict).len(), 1);
}

/// Twins share surname, date of birth, sex and address but not their given
/// names: the disagreement penalties keep them apart in the strict and
/// default settings (the loose setting, an upper bound for sensitivity
/// analysis, may join them); with the penalties set to 0 the shared strong
/// rule (surname + dob + postcode) joins them.
#[test]
fn disagreement_penalties_keep_twins_apart() {
    let enc = encoder();
    let twin = |given: &'static str| Fields {
        given,
        surname: "de Vries",
        dob: (1995, 7, 1),
        male: true,
        postcode: "3511CD",
        house: "8",
        residence: "Utrecht",
        place_of_birth: "Utrecht",
        ..Fields::default()
    };
    let records = vec![
        record(&enc, 1, &twin("Thomas")),
        record(&enc, 2, &twin("Lucas")),
    ];
    let guarded = linked(LinkConfig::default(), records.clone());
    for setting in [Setting::Strict, Setting::Default] {
        assert_eq!(clusters(&guarded, setting).len(), 2, "{setting:?}");
    }
    let mut no_penalty = LinkConfig::default();
    for rule in &mut no_penalty.rules {
        rule.penalty = 0.0;
    }
    let merged = linked(no_penalty, records);
    assert_eq!(clusters(&merged, Setting::Strict).len(), 1);
}
