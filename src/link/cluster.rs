//! Constrained clustering: from linked pairs to persons, with the guards.
//!
//! Linked pairs are not yet persons: linking is transitive, and a chain of
//! individually plausible links can join two people (twin A – shared address –
//! twin B). The clustering therefore merges records greedily, strongest
//! evidence first, with a union-find (Tarjan 1975) whose roots carry the guard
//! state, and refuses any merge that a guard forbids:
//!
//! - **national id**: every record in a cluster that carries a national id
//!   shares at least one national id with all the others (the cluster keeps
//!   the intersection of its records' id sets; an empty intersection is a
//!   conflict);
//! - **cluster size**: no cluster grows beyond `max_cluster_size` records.
//!
//! The edge order is canonical — match weight descending, then the record
//! keys — so the result is a deterministic function of the edge set, whatever
//! order the records arrived in. That is what makes incremental linkage equal
//! to a full run (see `docs/LINKAGE.md`).

use serde::{Deserialize, Serialize};

use super::record::RecordKey;

/// A linked pair between two records (dense indexes), with what the
/// clustering needs to order and filter it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Edge {
    /// One record (dense index).
    pub a: u32,
    /// The other record.
    pub b: u32,
    /// Fellegi–Sunter match weight (bits).
    pub weight: f32,
    /// Whether the deterministic stage passed.
    pub deterministic: bool,
}

/// The guard that refused a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The two clusters' national ids differ.
    NationalIdConflict,
    /// The merged cluster would exceed `max_cluster_size`.
    ClusterSize,
}

/// A merge a guard refused: the linked pair whose merge was refused and the
/// sizes of the two clusters at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRefusal {
    /// One record of the pair.
    pub a: RecordKey,
    /// The other record.
    pub b: RecordKey,
    /// Which guard refused it.
    pub guard: Guard,
    /// Records in `a`'s cluster and in `b`'s cluster.
    pub sizes: (u32, u32),
}

/// Per-record input of the clustering.
pub(crate) trait ClusterInput {
    /// The record's key (for the canonical order).
    fn seq(&self, rec: u32) -> RecordKey;
    /// The record's national-id keys, sorted (usually none or one).
    fn national_ids(&self, rec: u32) -> Vec<u64>;
}

/// Result of clustering one component.
#[derive(Debug, Default)]
pub(crate) struct Clustering {
    /// Clusters as record indexes, each sorted by key, ordered by first key.
    pub clusters: Vec<Vec<u32>>,
    /// The accepted merges (a spanning forest of the clusters).
    pub merges: Vec<Edge>,
    /// Refused merges.
    pub refusals: Vec<GuardRefusal>,
}

/// Clusters the records `members` (one connected component) over `edges`
/// (only edges between members; the caller has filtered them by setting).
pub(crate) fn cluster(
    members: &[u32],
    mut edges: Vec<Edge>,
    input: &impl ClusterInput,
    max_cluster_size: u32,
) -> Clustering {
    let mut members: Vec<u32> = members.to_vec();
    members.sort_unstable_by_key(|&r| input.seq(r));
    let local = |r: u32| -> usize {
        let key = input.seq(r);
        members
            .binary_search_by_key(&key, |&m| input.seq(m))
            .unwrap_or_else(|_| unreachable!("edge outside component"))
    };
    // Canonical order: weight descending, then the smaller and larger key.
    let ordered = |e: &Edge| {
        let (x, y) = (input.seq(e.a), input.seq(e.b));
        (
            std::cmp::Reverse(OrderedWeight(e.weight)),
            x.min(y),
            x.max(y),
        )
    };
    edges.sort_unstable_by_key(|e| ordered(e));
    let mut parent: Vec<usize> = (0..members.len()).collect();
    let mut size: Vec<u32> = vec![1; members.len()];
    let mut ids: Vec<Option<Vec<u64>>> = members
        .iter()
        .map(|&r| Some(input.national_ids(r)).filter(|v| !v.is_empty()))
        .collect();
    let mut out = Clustering::default();
    for edge in edges {
        let (ra, rb) = (
            find(&mut parent, local(edge.a)),
            find(&mut parent, local(edge.b)),
        );
        if ra == rb {
            continue;
        }
        let merged_ids = match (&ids[ra], &ids[rb]) {
            (Some(x), Some(y)) => {
                let common: Vec<u64> = x
                    .iter()
                    .copied()
                    .filter(|k| y.binary_search(k).is_ok())
                    .collect();
                if common.is_empty() {
                    out.refusals.push(refusal(
                        input,
                        &edge,
                        Guard::NationalIdConflict,
                        (size[ra], size[rb]),
                    ));
                    continue;
                }
                Some(common)
            }
            (x, y) => x.clone().or_else(|| y.clone()),
        };
        if size[ra] + size[rb] > max_cluster_size {
            out.refusals.push(refusal(
                input,
                &edge,
                Guard::ClusterSize,
                (size[ra], size[rb]),
            ));
            continue;
        }
        // Union by size; ties to the lower local index for determinism.
        let (root, child) = if (size[ra], rb) >= (size[rb], ra) {
            (ra, rb)
        } else {
            (rb, ra)
        };
        parent[child] = root;
        size[root] += size[child];
        ids[root] = merged_ids;
        ids[child] = None;
        out.merges.push(edge);
    }
    let mut by_root: Vec<Vec<u32>> = vec![Vec::new(); members.len()];
    for (i, &r) in members.iter().enumerate() {
        by_root[find(&mut parent, i)].push(r);
    }
    // Members are in key order, so each cluster is too, and the roots' first
    // members come out in key order when collected by first member.
    let mut clusters: Vec<Vec<u32>> = by_root.into_iter().filter(|c| !c.is_empty()).collect();
    clusters.sort_unstable_by_key(|c| input.seq(c[0]));
    out.clusters = clusters;
    out
}

fn refusal(
    input: &impl ClusterInput,
    edge: &Edge,
    guard: Guard,
    sizes: (u32, u32),
) -> GuardRefusal {
    GuardRefusal {
        a: input.seq(edge.a),
        b: input.seq(edge.b),
        guard,
        sizes,
    }
}

/// Union-find root with path halving.
pub(crate) fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Total order on weights (no NaN reaches the clustering; `total_cmp` keeps
/// the order total anyway).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedWeight(f32);

impl Eq for OrderedWeight {}

impl PartialOrd for OrderedWeight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedWeight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Input(Vec<Vec<u64>>);
    impl ClusterInput for Input {
        fn seq(&self, rec: u32) -> RecordKey {
            u64::from(rec) + 100
        }
        fn national_ids(&self, rec: u32) -> Vec<u64> {
            self.0[rec as usize].clone()
        }
    }

    fn edge(a: u32, b: u32, weight: f32) -> Edge {
        Edge {
            a,
            b,
            weight,
            deterministic: false,
        }
    }

    /// The result does not depend on the order the edges are given in.
    #[test]
    fn clustering_ignores_edge_order() {
        let input = Input(vec![vec![1], vec![], vec![2], vec![]]);
        let edges = vec![
            edge(0, 1, 9.0),
            edge(1, 2, 5.0),
            edge(2, 3, 7.0),
            edge(0, 3, 5.0),
        ];
        let first = cluster(&[0, 1, 2, 3], edges.clone(), &input, 200);
        let mut reversed = edges;
        reversed.reverse();
        let second = cluster(&[3, 2, 1, 0], reversed, &input, 200);
        assert_eq!(first.clusters, second.clusters);
        assert_eq!(first.clusters, vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(first.refusals.len(), 2);
    }
}
