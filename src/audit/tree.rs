//! The incremental tree head: the right edge ("frontier", or compact range
//! `[0, size)`) of an RFC 9162 Merkle tree.
//!
//! A tree of `size` leaves is the concatenation of one perfect subtree per set
//! bit of `size`, largest first (size 6 = a subtree of 4 leaves, then one of
//! 2). Keeping only those `popcount(size)` hashes is enough to append a leaf
//! in amortised O(1) hashing and to compute the root in O(log n), without
//! ever recomputing the tree. Appending reports every perfect subtree it
//! completes (the leaf itself, then each parent it closes), so a log can
//! store each node it keeps exactly once and later build any proof from
//! them (`audit::log` keeps the leaf hashes in blocks of 16 and the nodes
//! of level 4 and up).
//!
//! Nodes are named by [`NodeId`] `(level, index)`: the perfect subtree of
//! `2^level` leaves starting at leaf `index * 2^level` (the numbering of
//! transparency-dev/merkle `compact.NodeID`).

use super::AuditError;
use super::hash::{Hash, empty_root, leaf_hash, node_hash};
use super::proof::NodeReader;

/// A perfect subtree: `2^level` leaves starting at leaf `index << level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves: 0 is a leaf hash, 1 covers two leaves, …
    pub level: u8,
    /// Position among the nodes of this level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// Length of a node's storage key: level (1 byte) then index (8 bytes,
    /// big-endian), so keys sort by level and then left to right.
    pub const KEY_LEN: usize = 9;

    /// The node's storage key: `level || index as u64 big-endian` (9 bytes).
    pub fn to_key(self) -> [u8; Self::KEY_LEN] {
        let mut key = [0u8; Self::KEY_LEN];
        key[0] = self.level;
        key[1..].copy_from_slice(&self.index.to_be_bytes());
        key
    }

    /// The nodes of the frontier of a tree of `size` leaves, largest (left)
    /// subtree first: for each set bit `k` of `size`, node
    /// `(k, (size >> k) - 1)`. Exactly `size.count_ones()` nodes.
    pub fn frontier_of(size: u64) -> impl Iterator<Item = NodeId> {
        (0..64u8)
            .rev()
            .filter(move |k| (size >> k) & 1 == 1)
            .map(move |k| NodeId {
                level: k,
                index: (size >> k) - 1,
            })
    }
}

/// The hashes of the perfect subtrees on the right edge of a tree: enough to
/// append and to compute the root (the incremental tree head).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Number of leaves in the tree.
    size: u64,
    /// One hash per set bit of `size`, largest subtree first; the nodes named
    /// by [`NodeId::frontier_of`].
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from its size and subtree hashes (largest first),
    /// e.g. from storage or a verifier's state file.
    ///
    /// # Errors
    /// [`AuditError::Corrupt`] when the number of hashes is not
    /// `size.count_ones()`.
    pub fn from_parts(size: u64, subtrees: Vec<Hash>) -> Result<Frontier, AuditError> {
        if subtrees.len() != size.count_ones() as usize {
            return Err(AuditError::Corrupt(format!(
                "a tree of {size} leaves has {} frontier subtrees, got {}",
                size.count_ones(),
                subtrees.len()
            )));
        }
        Ok(Frontier { size, subtrees })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier subtree hashes, largest (left) first.
    pub fn subtrees(&self) -> &[Hash] {
        &self.subtrees
    }

    /// Appends a leaf given its leaf hash, calling `completed` for every
    /// perfect subtree this closes: the leaf (level 0) first, then each
    /// parent up the right edge. O(1) amortised hashing.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, &Hash)) {
        let index = self.size;
        let mut hash = leaf;
        let mut level = 0u8;
        completed(NodeId { level, index }, &hash);
        while (index >> level) & 1 == 1 {
            let Some(left) = self.subtrees.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
            completed(
                NodeId {
                    level,
                    index: index >> level,
                },
                &hash,
            );
        }
        self.subtrees.push(hash);
        self.size += 1;
    }

    /// The root hash (RFC 9162 §2.1.1 MTH of all leaves): the frontier
    /// subtrees folded from the right; [`empty_root`] for the empty tree.
    pub fn root(&self) -> Hash {
        let mut from_right = self.subtrees.iter().rev();
        let Some(last) = from_right.next() else {
            return empty_root();
        };
        from_right.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// A whole Merkle tree in memory: every perfect subtree hash by level.
///
/// Used where a log is small or transient: tests, the reference vectors, and
/// anyone who wants proofs over a list of entries without a database. Costs
/// about 64 bytes of memory per leaf.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// The right edge, for the root and for appending.
    frontier: Frontier,
    /// `levels[l][i]` is the hash of node `(l, i)`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Appends one entry (its leaf hash is `SHA-256(0x00 || entry)`).
    pub fn push_entry(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    /// Appends one leaf given its leaf hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.frontier.push(leaf, |id, hash| {
            let level = usize::from(id.level);
            if levels.len() <= level {
                levels.resize_with(level + 1, Vec::new);
            }
            levels[level].push(*hash);
        });
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root hash.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The current frontier (what a verifier keeps between runs).
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

impl NodeReader for MemoryTree {
    /// # Errors
    /// [`AuditError::OutOfRange`] for a node the tree does not (yet) have.
    fn node(&self, id: NodeId) -> Result<Hash, AuditError> {
        usize::try_from(id.index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(id.level))?.get(i))
            .copied()
            .ok_or_else(|| {
                AuditError::OutOfRange(format!(
                    "node (level {}, index {}) in a tree of {} leaves",
                    id.level,
                    id.index,
                    self.size()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appending reports each perfect subtree exactly once: 2n - popcount(n)
    /// nodes for n leaves, and each frontier node is among them.
    #[test]
    fn push_reports_each_completed_subtree_once() {
        let mut frontier = Frontier::new();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..37u64 {
            frontier.push(leaf_hash(&i.to_be_bytes()), |id, _| {
                assert!(seen.insert(id), "node {id:?} reported twice");
            });
        }
        assert_eq!(seen.len() as u64, 2 * 37 - u64::from(37u64.count_ones()));
        assert!(NodeId::frontier_of(37).all(|id| seen.contains(&id)));
    }

    /// A frontier rebuilt from its parts has the same root, and a wrong
    /// number of parts is rejected.
    #[test]
    fn from_parts_checks_the_subtree_count() {
        let mut tree = MemoryTree::new();
        for i in 0..11u8 {
            tree.push_entry(&[i]);
        }
        let parts = tree.frontier().subtrees().to_vec();
        let rebuilt = Frontier::from_parts(11, parts.clone()).unwrap();
        assert_eq!(rebuilt.root(), tree.root());
        assert!(Frontier::from_parts(12, parts).is_err());
    }

    /// The frontier nodes of size 6 are (2, 0) and (1, 2).
    #[test]
    fn frontier_of_six() {
        let ids: Vec<NodeId> = NodeId::frontier_of(6).collect();
        assert_eq!(
            ids,
            vec![NodeId { level: 2, index: 0 }, NodeId { level: 1, index: 2 }]
        );
    }
}
