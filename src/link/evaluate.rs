//! Linkage quality against a known truth.
//!
//! Given the truth (record -> entity) and a linkage map (record -> person),
//! this computes the standard pairwise figures — precision, recall and F1
//! over the pairs of records placed together (Christen 2012, *Data
//! Matching*, ch. 7) — and cluster-level figures: the share of true entities
//! reconstructed exactly, the entities split over several persons, the
//! persons that merge several entities, and the worst errors with their
//! record ids so they can be inspected.
//!
//! Pairs are counted from cluster sizes (`Σ n(n-1)/2` over persons, entities
//! and their intersections), never by enumerating them, so a million records
//! evaluate in a second. The functions are generic over the record, entity
//! and person types: `veilink evaluate` uses agency-local ids from any CSV
//! source with a truth column, the tests use record keys.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// Number of worst errors reported.
pub const WORST_ERRORS: usize = 20;

/// Which way a group is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// One person holds records of several true entities (false links).
    Merged,
    /// One true entity is spread over several persons (missed links).
    Split,
}

/// A wrongly linked group, for inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup<R> {
    /// Merged person or split entity.
    pub kind: ErrorKind,
    /// The records, partitioned: for `Merged` by true entity, for `Split` by
    /// person; parts ordered largest first, records ascending.
    pub parts: Vec<Vec<R>>,
}

impl<R> ErrorGroup<R> {
    /// Records in the group.
    pub fn size(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }
}

/// Linkage quality figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation<R> {
    /// Records present in both the truth and the map (the ones evaluated).
    pub records: usize,
    /// Truth records missing from the map (not evaluated).
    pub missing_from_map: usize,
    /// Map records missing from the truth (not evaluated).
    pub missing_from_truth: usize,
    /// True entities among the evaluated records.
    pub entities: usize,
    /// Persons among the evaluated records.
    pub persons: usize,
    /// Pairs of records of one entity.
    pub true_pairs: u64,
    /// Pairs of records placed in one person.
    pub linked_pairs: u64,
    /// Pairs that are both.
    pub correct_pairs: u64,
    /// `correct / linked` (1 when nothing is linked).
    pub precision: f64,
    /// `correct / true` (1 when there are no true pairs).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Entities whose records form exactly one person.
    pub entities_exact: usize,
    /// `entities_exact / entities`.
    pub exact_share: f64,
    /// Entities spread over more than one person.
    pub split_entities: usize,
    /// Persons holding records of more than one entity.
    pub merged_persons: usize,
    /// The [`WORST_ERRORS`] largest merged and split groups.
    pub worst: Vec<ErrorGroup<R>>,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Evaluates `map` (record -> person) against `truth` (record -> entity) over
/// the records both contain.
pub fn evaluate<R, E, P>(truth: &HashMap<R, E>, map: &HashMap<R, P>) -> Evaluation<R>
where
    R: Clone + Ord + Hash,
    E: Clone + Eq + Hash,
    P: Clone + Eq + Hash,
{
    // Dense ids for entities and persons.
    let mut entity_ids: HashMap<&E, u32> = HashMap::new();
    let mut person_ids: HashMap<&P, u32> = HashMap::new();
    let mut rows: Vec<(u32, u32, &R)> = Vec::new();
    let mut missing_from_map = 0;
    for (record, entity) in truth {
        let Some(person) = map.get(record) else {
            missing_from_map += 1;
            continue;
        };
        let next = entity_ids.len() as u32;
        let e = *entity_ids.entry(entity).or_insert(next);
        let next = person_ids.len() as u32;
        let p = *person_ids.entry(person).or_insert(next);
        rows.push((e, p, record));
    }
    let missing_from_truth = map.keys().filter(|r| !truth.contains_key(*r)).count();
    let mut entity_size = vec![0u64; entity_ids.len()];
    let mut person_size = vec![0u64; person_ids.len()];
    let mut cell: HashMap<(u32, u32), u64> = HashMap::new();
    for &(e, p, _) in &rows {
        entity_size[e as usize] += 1;
        person_size[p as usize] += 1;
        *cell.entry((e, p)).or_default() += 1;
    }
    let true_pairs: u64 = entity_size.iter().map(|&n| pairs(n)).sum();
    let linked_pairs: u64 = person_size.iter().map(|&n| pairs(n)).sum();
    let correct_pairs: u64 = cell.values().map(|&n| pairs(n)).sum();
    let mut persons_of_entity = vec![0u32; entity_size.len()];
    let mut entities_of_person = vec![0u32; person_size.len()];
    for &(e, p) in cell.keys() {
        persons_of_entity[e as usize] += 1;
        entities_of_person[p as usize] += 1;
    }
    let entities_exact = cell
        .iter()
        .filter(|&(&(e, p), &n)| n == entity_size[e as usize] && n == person_size[p as usize])
        .count();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = ratio(correct_pairs, linked_pairs);
    let recall = ratio(correct_pairs, true_pairs);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let worst = worst_errors(&rows, &persons_of_entity, &entities_of_person);
    Evaluation {
        records: rows.len(),
        missing_from_map,
        missing_from_truth,
        entities: entity_size.len(),
        persons: person_size.len(),
        true_pairs,
        linked_pairs,
        correct_pairs,
        precision,
        recall,
        f1,
        entities_exact,
        exact_share: ratio(entities_exact as u64, entity_size.len() as u64),
        split_entities: persons_of_entity.iter().filter(|&&n| n > 1).count(),
        merged_persons: entities_of_person.iter().filter(|&&n| n > 1).count(),
        worst,
    }
}

/// The largest merged persons and split entities, largest first.
fn worst_errors<R: Clone + Ord>(
    rows: &[(u32, u32, &R)],
    persons_of_entity: &[u32],
    entities_of_person: &[u32],
) -> Vec<ErrorGroup<R>> {
    // group -> part -> records
    let mut merged: HashMap<u32, HashMap<u32, Vec<R>>> = HashMap::new();
    let mut split: HashMap<u32, HashMap<u32, Vec<R>>> = HashMap::new();
    for &(e, p, r) in rows {
        if entities_of_person[p as usize] > 1 {
            merged
                .entry(p)
                .or_default()
                .entry(e)
                .or_default()
                .push(r.clone());
        }
        if persons_of_entity[e as usize] > 1 {
            split
                .entry(e)
                .or_default()
                .entry(p)
                .or_default()
                .push(r.clone());
        }
    }
    let group = |kind: ErrorKind, parts: HashMap<u32, Vec<R>>| {
        let mut parts: Vec<Vec<R>> = parts
            .into_values()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        parts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        ErrorGroup { kind, parts }
    };
    let mut all: Vec<ErrorGroup<R>> = merged
        .into_values()
        .map(|p| group(ErrorKind::Merged, p))
        .chain(split.into_values().map(|p| group(ErrorKind::Split, p)))
        .collect();
    all.sort_by(|a, b| {
        b.size()
            .cmp(&a.size())
            .then_with(|| b.parts.len().cmp(&a.parts.len()))
            .then_with(|| a.parts.cmp(&b.parts))
    });
    all.truncate(WORST_ERRORS);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(u32, u32)]) -> HashMap<u32, u32> {
        pairs.iter().copied().collect()
    }

    /// Pairwise figures on a hand-computed example: truth {1,2,3} {4,5},
    /// linkage {1,2} {3,4,5}: true pairs 4, linked 4, correct 2.
    #[test]
    fn pairwise_figures_match_a_hand_count() {
        let truth = map(&[(1, 10), (2, 10), (3, 10), (4, 20), (5, 20)]);
        let linkage = map(&[(1, 7), (2, 7), (3, 8), (4, 8), (5, 8)]);
        let e = evaluate(&truth, &linkage);
        assert_eq!((e.true_pairs, e.linked_pairs, e.correct_pairs), (4, 4, 2));
        assert!((e.precision - 0.5).abs() < 1e-12 && (e.recall - 0.5).abs() < 1e-12);
        assert!((e.f1 - 0.5).abs() < 1e-12);
        assert_eq!(e.entities_exact, 0);
        assert_eq!((e.split_entities, e.merged_persons), (1, 1));
        assert_eq!(e.worst.len(), 2);
        let merged = e
            .worst
            .iter()
            .find(|g| g.kind == ErrorKind::Merged)
            .unwrap();
        assert_eq!(merged.parts, vec![vec![4, 5], vec![3]]);
        let split = e.worst.iter().find(|g| g.kind == ErrorKind::Split).unwrap();
        assert_eq!(split.parts, vec![vec![1, 2], vec![3]]);
    }

    /// A perfect linkage scores 1 everywhere and has no errors; records
    /// missing on either side are counted, not evaluated.
    #[test]
    fn perfect_linkage_scores_one() {
        let truth = map(&[(1, 10), (2, 10), (3, 20), (9, 30)]);
        let linkage = map(&[(1, 5), (2, 5), (3, 6), (8, 6)]);
        let e = evaluate(&truth, &linkage);
        assert_eq!(
            (e.precision, e.recall, e.f1, e.exact_share),
            (1.0, 1.0, 1.0, 1.0)
        );
        assert_eq!((e.missing_from_map, e.missing_from_truth), (1, 1));
        assert!(e.worst.is_empty());
    }
}
