//! Inclusion and consistency proofs: generation from stored nodes and
//! verification, exactly as RFC 9162 §2.1.3 and §2.1.4 define them.
//!
//! Generation follows the recursive definitions `PATH(m, D[n])` (§2.1.3.1)
//! and `SUBPROOF(m, D[n], b)` (§2.1.4.1), walked top-down without recursion.
//! Every hash they need is the hash `MTH(D[lo:hi])` of a range whose start is
//! aligned to a power of two at least its length; such a range is either one
//! stored perfect subtree, or (only on the right edge of the tree) a short
//! chain of them. At most one right-edge range occurs per proof, so a proof
//! reads O(log n) nodes and never an entry.
//!
//! Verification follows the iterative algorithms of §2.1.3.2 and §2.1.4.2
//! step by step; the step numbers are in the comments.

use super::AuditError;
use super::hash::{Hash, node_hash};
use super::tree::NodeId;

/// Where proof generation reads perfect-subtree hashes from: the sled node
/// tree of the log, or a [`MemoryTree`](super::tree::MemoryTree).
pub trait NodeReader {
    /// The hash of the perfect subtree `id`.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] or [`AuditError::Corrupt`] when the node is
    /// not stored; [`AuditError::Storage`] when reading fails.
    fn node(&self, id: NodeId) -> Result<Hash, AuditError>;
}

impl<T: NodeReader + ?Sized> NodeReader for &T {
    fn node(&self, id: NodeId) -> Result<Hash, AuditError> {
        (**self).node(id)
    }
}

/// The largest power of two strictly smaller than `n` (RFC 9162 §2.1.1's
/// `k`); `n` must be at least 2.
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])` for a range whose start is a multiple of the largest
/// power of two not above its length: one stored node per set bit of the
/// length, folded from the right. O(log n) reads.
fn range_hash(nodes: &impl NodeReader, lo: u64, hi: u64) -> Result<Hash, AuditError> {
    let len = hi - lo;
    let mut pos = lo;
    let mut parts = Vec::with_capacity(len.count_ones() as usize);
    for id in NodeId::frontier_of(len) {
        let size = 1u64 << id.level;
        parts.push(nodes.node(NodeId {
            level: id.level,
            index: pos >> id.level,
        })?);
        pos += size;
    }
    let mut from_right = parts.iter().rev();
    let Some(last) = from_right.next() else {
        return Err(AuditError::OutOfRange("the hash of an empty range".into()));
    };
    Ok(from_right.fold(*last, |acc, left| node_hash(left, &acc)))
}

/// The root hash of the tree's first `size` leaves (`MTH(D[0:size])`), from
/// stored nodes in O(log n) reads; `size` must be at least 1 (the empty
/// root is [`empty_root`](super::hash::empty_root)).
///
/// # Errors
/// [`AuditError::OutOfRange`] for size 0; errors of the [`NodeReader`] when
/// the tree is smaller than `size`.
pub fn root_at(nodes: &impl NodeReader, size: u64) -> Result<Hash, AuditError> {
    range_hash(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves
/// (RFC 9162 §2.1.3.1 `PATH(index, D[size])`): sibling hashes from the leaf
/// up, at most 64 of them.
///
/// # Errors
/// [`AuditError::OutOfRange`] unless `index < size`; errors of the
/// [`NodeReader`] when the tree is smaller than `size`.
pub fn inclusion_proof(
    nodes: &impl NodeReader,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, AuditError> {
    if index >= size {
        return Err(AuditError::OutOfRange(format!(
            "inclusion proof for index {index} in a tree of {size} leaves"
        )));
    }
    let (mut lo, mut hi) = (0u64, size);
    let mut top_down = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index - lo < k {
            // PATH(m, D[0:k]) : MTH(D[k:n])
            top_down.push(range_hash(nodes, lo + k, hi)?);
            hi = lo + k;
        } else {
            // PATH(m - k, D[k:n]) : MTH(D[0:k])
            top_down.push(range_hash(nodes, lo, lo + k)?);
            lo += k;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// The consistency proof between the trees of `old` and `new` leaves
/// (RFC 9162 §2.1.4.1 `PROOF(old, D[new]) = SUBPROOF(old, D[new], true)`).
/// Empty when `old` is 0 or equal to `new` (nothing to prove).
///
/// # Errors
/// [`AuditError::OutOfRange`] when `old > new`; errors of the
/// [`NodeReader`] when the tree is smaller than `new`.
pub fn consistency_proof(
    nodes: &impl NodeReader,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, AuditError> {
    if old > new {
        return Err(AuditError::OutOfRange(format!(
            "consistency proof from size {old} to the smaller size {new}"
        )));
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let (mut m, mut lo, mut hi) = (old, 0u64, new);
    let mut complete_subtree = true; // the `b` of SUBPROOF
    let mut top_down = Vec::new();
    loop {
        if m == hi - lo {
            // SUBPROOF(m, D[m], b) = {} if b, else {MTH(D[m])}
            if !complete_subtree {
                top_down.push(range_hash(nodes, lo, hi)?);
            }
            break;
        }
        let k = split_point(hi - lo);
        if m <= k {
            // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            top_down.push(range_hash(nodes, lo + k, hi)?);
            hi = lo + k;
        } else {
            // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            top_down.push(range_hash(nodes, lo, lo + k)?);
            m -= k;
            lo += k;
            complete_subtree = false;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// Shifts `fn_` and `sn` right together until the lowest bit of `fn_` is set
/// or `fn_` is 0 (the "right-shift equally" steps of RFC 9162 §2.1.3.2 and
/// §2.1.4.2).
fn shift_while_even(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Verifies that `leaf` (a leaf hash) is leaf `index` of the tree of `size`
/// leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`AuditError::ProofInvalid`] naming the failed step.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), AuditError> {
    // 1. The index must lie in the tree.
    if index >= size {
        return Err(AuditError::ProofInvalid("leaf index beyond the tree size"));
    }
    // 2.–3.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    // 4.
    for p in proof {
        if sn == 0 {
            return Err(AuditError::ProofInvalid("inclusion proof too long"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    if sn != 0 {
        return Err(AuditError::ProofInvalid("inclusion proof too short"));
    }
    if r != *root {
        return Err(AuditError::ProofInvalid(
            "inclusion proof does not lead to the root",
        ));
    }
    Ok(())
}

/// Verifies that the tree of `old` leaves with root `old_root` is a prefix of
/// the tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// The RFC algorithm covers `0 < old < new`; the edge cases follow
/// transparency-dev/merkle `proof.VerifyConsistency`: `old == new` needs
/// equal roots and an empty proof, `old == 0` (the empty tree is a prefix of
/// every tree) needs an empty proof.
///
/// # Errors
/// [`AuditError::ProofInvalid`] naming the failed step.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), AuditError> {
    if old > new {
        return Err(AuditError::ProofInvalid("old size is larger than new size"));
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(AuditError::ProofInvalid(
                "consistency proof must be empty for these sizes",
            ));
        }
        if old == new && old_root != new_root {
            return Err(AuditError::ProofInvalid("equal sizes with different roots"));
        }
        return Ok(());
    }
    // 1.
    let Some((first, rest)) = proof.split_first() else {
        return Err(AuditError::ProofInvalid("empty consistency proof"));
    };
    // 2. If `old` is an exact power of 2, the old root is the proof's first
    //    node (prepended); otherwise the proof starts with it.
    let (start, path) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    // 3.
    let (mut fn_, mut sn) = (old - 1, new - 1);
    // 4.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (*start, *start);
    // 6.
    for c in path {
        if sn == 0 {
            return Err(AuditError::ProofInvalid("consistency proof too long"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7.
    if sn != 0 {
        return Err(AuditError::ProofInvalid("consistency proof too short"));
    }
    if fr != *old_root {
        return Err(AuditError::ProofInvalid(
            "consistency proof does not lead to the old root",
        ));
    }
    if sr != *new_root {
        return Err(AuditError::ProofInvalid(
            "consistency proof does not lead to the new root",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tree::MemoryTree;

    /// `k` is the largest power of two strictly below `n` (RFC 9162 §2.1.1).
    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
        assert_eq!(split_point((1 << 40) + 1), 1 << 40);
    }

    /// Proofs for sizes beyond the stored tree are refused, not invented.
    #[test]
    fn proofs_beyond_the_tree_are_errors() {
        let mut tree = MemoryTree::new();
        for i in 0..5u8 {
            tree.push_entry(&[i]);
        }
        assert!(inclusion_proof(&tree, 5, 5).is_err());
        assert!(inclusion_proof(&tree, 2, 9).is_err());
        assert!(consistency_proof(&tree, 3, 9).is_err());
        assert!(consistency_proof(&tree, 4, 3).is_err());
        assert!(root_at(&tree, 6).is_err());
    }
}
