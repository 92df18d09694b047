//! Stable person ids and the delta of a linkage step.
//!
//! A person id must outlive re-linking: analysts join content data on it and
//! the audit log names it. After every step the new clusters inherit ids from
//! the old persons by two rules:
//!
//! 1. an old person's *heir* is the new cluster holding its oldest surviving
//!    record (lowest [`RecordKey`]): so when a withdrawal splits a person, the
//!    part with the oldest record keeps the id;
//! 2. a cluster that is heir to several old persons keeps the id of the one
//!    created first (persons carry a creation sequence): when persons merge,
//!    the oldest id survives and the others are retired.
//!
//! A cluster that is nobody's heir gets a fresh id. Because the rules read
//! only record keys, creation sequences and the partition, rebuilding the
//! index from the same records and stored persons gives back the same ids.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::record::{PersonId, RecordKey};

/// What happened to a person in one linkage step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new person made of new records only.
    New,
    /// The person gained records (new ones, or records taken from a person
    /// that itself keeps its id).
    Join,
    /// Two or more persons merged; `merged` lists the retired ids.
    Merge,
    /// The person was split: either it kept its id and lost records to
    /// `split_off`, or it is a new part taken from `split_from`.
    Split,
    /// The person lost withdrawn records and is otherwise unchanged.
    Reduced,
    /// All the person's records were withdrawn; the id is retired.
    Removed,
}

/// Evidence for one accepted merge inside a person: the linked pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairEvidence {
    /// One record.
    pub a: RecordKey,
    /// The other record.
    pub b: RecordKey,
    /// Rule ids the two records agree on (ascending).
    pub rules: Vec<u16>,
    /// Dice coefficient of the Bloom encodings, if both have one.
    pub dice: Option<f32>,
    /// Fellegi–Sunter match weight (bits).
    pub match_weight: f32,
    /// Whether the deterministic stage passed (else the probabilistic one did).
    pub deterministic: bool,
}

/// One changed person in a [`LinkDelta`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonChange {
    /// The person's id after the step (for `Removed`: the retired id).
    pub person: PersonId,
    /// What happened.
    pub kind: ChangeKind,
    /// All the person's records after the step, ascending (empty for `Removed`).
    pub records: Vec<RecordKey>,
    /// Ids merged into this person and retired.
    pub merged: Vec<PersonId>,
    /// Ids of the persons that received records this person lost to a split.
    pub split_off: Vec<PersonId>,
    /// For a part split off another person: the persons its records came from.
    pub split_from: Vec<PersonId>,
    /// The linked pairs that hold the person together (a spanning tree).
    pub evidence: Vec<PairEvidence>,
}

/// Everything a linkage step changed: what the server persists and logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkDelta {
    /// Changed persons, ordered by their oldest record (removed persons last).
    pub changes: Vec<PersonChange>,
    /// Merges the guards refused in the re-clustered part of the index.
    pub refusals: Vec<super::GuardRefusal>,
}

impl LinkDelta {
    /// Ids that no longer exist after the step (merged away or removed).
    pub fn retired(&self) -> Vec<PersonId> {
        let mut out: Vec<PersonId> = self
            .changes
            .iter()
            .flat_map(|c| {
                let own = (c.kind == ChangeKind::Removed).then_some(c.person);
                c.merged.iter().copied().chain(own)
            })
            .collect();
        out.sort_unstable();
        out
    }
}

/// A person before the step, restricted to the re-linked region.
#[derive(Debug, Clone)]
pub(crate) struct OldPerson {
    /// Its id.
    pub id: PersonId,
    /// Its creation sequence.
    pub created: u64,
    /// Surviving records, ascending.
    pub records: Vec<RecordKey>,
    /// Whether some of its records were withdrawn in this step.
    pub lost_records: bool,
}

/// A cluster after the step, with its inherited or fresh id.
#[derive(Debug, Clone)]
pub(crate) struct NewPerson {
    /// Inherited or fresh id.
    pub id: PersonId,
    /// Creation sequence that goes with the id.
    pub created: u64,
    /// `None` when the person is unchanged.
    pub change: Option<PersonChange>,
}

/// Assigns ids to `clusters` (each ascending, non-empty) given the old
/// persons of the same region. `fresh` draws a new (unique) id and creation
/// sequence. Returns the new persons and the `Removed` changes.
pub(crate) fn assign(
    old: &[OldPerson],
    clusters: Vec<Vec<RecordKey>>,
    fresh: &mut dyn FnMut() -> (PersonId, u64),
) -> (Vec<NewPerson>, Vec<PersonChange>) {
    let mut cluster_of: HashMap<RecordKey, usize> = HashMap::new();
    for (c, records) in clusters.iter().enumerate() {
        for &r in records {
            cluster_of.insert(r, c);
        }
    }
    let mut heirs: Vec<Vec<usize>> = vec![Vec::new(); clusters.len()];
    let mut removed = Vec::new();
    for (p, person) in old.iter().enumerate() {
        match person.records.first().and_then(|r| cluster_of.get(r)) {
            Some(&c) => heirs[c].push(p),
            None => removed.push(change(person.id, ChangeKind::Removed, Vec::new())),
        }
    }
    let mut old_of: HashMap<RecordKey, usize> = HashMap::new();
    for (p, person) in old.iter().enumerate() {
        for &r in &person.records {
            old_of.insert(r, p);
        }
    }
    // Ids first (oldest creation wins), so splits can name the receiving ids.
    let mut ids: Vec<(PersonId, u64)> = Vec::with_capacity(clusters.len());
    for h in heirs.iter_mut() {
        h.sort_unstable_by_key(|&p| old[p].created);
        ids.push(match h.first() {
            Some(&p) => (old[p].id, old[p].created),
            None => fresh(),
        });
    }
    let mut out = Vec::with_capacity(clusters.len());
    for (c, records) in clusters.into_iter().enumerate() {
        let (id, created) = ids[c];
        let sources: BTreeSet<usize> = records
            .iter()
            .filter_map(|r| old_of.get(r).copied())
            .collect();
        // Where the records of this cluster's old persons went, besides here.
        let elsewhere = |persons: &mut dyn Iterator<Item = usize>| -> Vec<PersonId> {
            let set: BTreeSet<PersonId> = persons
                .flat_map(|p| old[p].records.iter())
                .filter_map(|r| cluster_of.get(r).copied())
                .filter(|&other| other != c)
                .map(|other| ids[other].0)
                .collect();
            set.into_iter().collect()
        };
        let kind = match heirs[c].as_slice() {
            [] if sources.is_empty() => Some(ChangeKind::New),
            [] => Some(ChangeKind::Split),
            [_, _, ..] => Some(ChangeKind::Merge),
            [p] => {
                let person = &old[*p];
                let lost = person.records.iter().any(|r| cluster_of.get(r) != Some(&c));
                if lost {
                    Some(ChangeKind::Split)
                } else if records.len() > person.records.len() {
                    Some(ChangeKind::Join)
                } else if person.lost_records {
                    Some(ChangeKind::Reduced)
                } else {
                    None
                }
            }
        };
        let change = kind.map(|kind| {
            let mut ch = change(id, kind, records.clone());
            ch.merged = heirs[c].iter().skip(1).map(|&p| old[p].id).collect();
            ch.split_off = elsewhere(&mut heirs[c].iter().copied());
            if heirs[c].is_empty() {
                ch.split_from = sources.iter().map(|&p| old[p].id).collect();
            }
            ch
        });
        out.push(NewPerson {
            id,
            created,
            change,
        });
    }
    (out, removed)
}

fn change(person: PersonId, kind: ChangeKind, records: Vec<RecordKey>) -> PersonChange {
    PersonChange {
        person,
        kind,
        records,
        merged: Vec::new(),
        split_off: Vec::new(),
        split_from: Vec::new(),
        evidence: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_ids() -> impl FnMut() -> (PersonId, u64) {
        let mut n = 100u8;
        move || {
            n += 1;
            (PersonId([n; 16]), u64::from(n))
        }
    }

    fn person(id: u8, created: u64, records: &[u64]) -> OldPerson {
        OldPerson {
            id: PersonId([id; 16]),
            created,
            records: records.to_vec(),
            lost_records: false,
        }
    }

    /// When two persons merge, the one created first keeps its id.
    #[test]
    fn merge_keeps_the_oldest_id() {
        let old = [person(1, 5, &[10, 11]), person(2, 3, &[12])];
        let (new, removed) = assign(&old, vec![vec![10, 11, 12]], &mut fresh_ids());
        assert!(removed.is_empty());
        let change = new[0].change.as_ref().unwrap();
        assert_eq!(change.kind, ChangeKind::Merge);
        assert_eq!(new[0].id, PersonId([2; 16]));
        assert_eq!(change.merged, vec![PersonId([1; 16])]);
    }

    /// When a person splits, the part with its oldest record keeps the id and
    /// the other part gets a fresh one.
    #[test]
    fn split_keeps_id_with_oldest_record() {
        let old = [person(1, 5, &[10, 11, 12])];
        let (new, _) = assign(&old, vec![vec![10], vec![11, 12]], &mut fresh_ids());
        assert_eq!(new[0].id, PersonId([1; 16]));
        assert_eq!(new[0].change.as_ref().unwrap().kind, ChangeKind::Split);
        assert_eq!(
            new[1].change.as_ref().unwrap().split_from,
            vec![PersonId([1; 16])]
        );
        assert_eq!(new[0].change.as_ref().unwrap().split_off, vec![new[1].id]);
        // Withdrawing the oldest record moves the id to the next-oldest part.
        let old = [person(1, 5, &[11, 12])];
        let (new, _) = assign(&old, vec![vec![11, 12]], &mut fresh_ids());
        assert_eq!(new[0].id, PersonId([1; 16]));
        assert!(new[0].change.is_none());
    }
}
