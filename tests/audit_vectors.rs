//! Known-answer tests of the transparency log against public reference data
//! (`tests/vectors/audit_rfc6962.json`, whose `sources` field cites each
//! value's origin):
//! - the Certificate Transparency RFC 6962 test data as kept in
//!   transparency-dev/merkle (`testonly/constants.go`,
//!   `proof/verify_test.go`): leaf and node hashes, roots of sizes 0..=8,
//!   inclusion and consistency proofs, and the corrupted-proof probes its
//!   `cmd/proofgen` derives from them (`testdata/`);
//! - the accumulated vectors of draft-ietf-plants-merkle-tree-certs-05
//!   Appendix C: every subtree hash and inclusion proof of trees up to 130
//!   leaves, folded into one SHA-256;
//! - the golang.org/x/mod/sumdb/note signed-note example (Ed25519 is
//!   deterministic, so signing must reproduce it byte for byte);
//! - the c2sp.org/tlog-checkpoint example body.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use veilink::audit::hash::{Hash, from_hex, leaf_hash, to_hex};
use veilink::audit::proof::{
    NodeReader, consistency_proof, inclusion_proof, root_at, verify_consistency, verify_inclusion,
};
use veilink::audit::tree::{MemoryTree, NodeId};
use veilink::audit::{Checkpoint, LogKey, NoteVerifier};

#[derive(Deserialize)]
struct Vectors {
    leaves: Vec<String>,
    roots: Vec<String>,
    nodes: Vec<Vec<String>>,
    inclusion: Vec<InclusionVector>,
    consistency: Vec<ConsistencyVector>,
    accumulated: Accumulated,
    signed_note: SignedNote,
    checkpoint: CheckpointVector,
}

#[derive(Deserialize)]
struct InclusionVector {
    index: u64,
    size: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct ConsistencyVector {
    old: u64,
    new: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct Accumulated {
    max_size: u64,
    subtree_hashes: String,
    subtree_inclusion_proofs: String,
}

#[derive(Deserialize)]
struct SignedNote {
    verifier_key: String,
    signer_key: String,
    text: String,
    note: String,
}

#[derive(Deserialize)]
struct CheckpointVector {
    text: String,
    origin: String,
    size: u64,
    root_base64: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("vectors/audit_rfc6962.json")).expect("parse the vector file")
}

fn hash(hex: &str) -> Hash {
    from_hex(hex).unwrap_or_else(|| panic!("bad hash {hex:?} in the vector file"))
}

fn hashes(hexes: &[String]) -> Vec<Hash> {
    hexes.iter().map(|h| hash(h)).collect()
}

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// The reference tree of the first `size` leaf inputs.
fn tree_of(v: &Vectors, size: usize) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in &v.leaves[..size] {
        tree.push_entry(&bytes(leaf));
    }
    tree
}

/// A hash with one bit flipped (the probes of transparency-dev/merkle flip
/// bit 3 of byte 0 for inclusion and bit 4 for consistency proofs).
fn flipped(h: &Hash, mask: u8) -> Hash {
    let mut out = *h;
    out[0] ^= mask;
    out
}

/// One corrupted variant of a proof check (after transparency-dev/merkle
/// `cmd/proofgen`): what was changed, and the arguments of the
/// verification — `(index, size, leaf, root)` for inclusion,
/// `(old, new, old root, new root)` for consistency.
struct Probe {
    what: &'static str,
    a: u64,
    b: u64,
    x: Hash,
    y: Hash,
    proof: Vec<Hash>,
}

fn probe(what: &'static str, a: u64, b: u64, x: Hash, y: Hash, proof: Vec<Hash>) -> Probe {
    Probe {
        what,
        a,
        b,
        x,
        y,
        proof,
    }
}

const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";
const EMPTY_TREE: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Leaf hashes and every perfect-subtree hash of the 8-leaf reference tree
/// match `testonly.NodeHashes()`.
#[test]
fn leaf_and_node_hashes_match_the_reference() {
    let v = vectors();
    for (leaf, want) in v.leaves.iter().zip(&v.nodes[0]) {
        assert_eq!(to_hex(&leaf_hash(&bytes(leaf))), *want, "leaf {leaf:?}");
    }
    let tree = tree_of(&v, 8);
    for (level, row) in v.nodes.iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            let id = NodeId {
                level: level as u8,
                index: index as u64,
            };
            assert_eq!(to_hex(&tree.node(id).unwrap()), *want, "node {id:?}");
        }
    }
}

/// The incremental tree head after each append, and the root of every past
/// size rebuilt from stored nodes, equal the reference roots of sizes 0..=8.
#[test]
fn roots_of_sizes_0_to_8_match_the_reference() {
    let v = vectors();
    let mut tree = MemoryTree::new();
    assert_eq!(to_hex(&tree.root()), v.roots[0]);
    for (size, leaf) in (1..).zip(&v.leaves) {
        tree.push_entry(&bytes(leaf));
        assert_eq!(
            to_hex(&tree.root()),
            v.roots[size],
            "incremental root of size {size}"
        );
    }
    for size in 1..=8u64 {
        assert_eq!(
            to_hex(&root_at(&tree, size).unwrap()),
            v.roots[size as usize],
            "stored-node root of size {size}"
        );
    }
}

/// Inclusion proofs generated from stored nodes equal the reference proofs,
/// verify, and every corrupted probe of transparency-dev/merkle
/// `cmd/proofgen` is refused (probes with hashes of another length cannot
/// be expressed with 32-byte hashes and are left out).
#[test]
fn inclusion_proofs_match_and_corruptions_fail() {
    let v = vectors();
    let tree = tree_of(&v, 8);
    for vector in &v.inclusion {
        let (index, size) = (vector.index, vector.size);
        let proof = hashes(&vector.proof);
        let root = hash(&v.roots[size as usize]);
        let leaf = leaf_hash(&bytes(&v.leaves[index as usize]));
        let generated = inclusion_proof(&tree, index, size).unwrap();
        assert_eq!(generated, proof, "proof of {index} in {size}");
        verify_inclusion(index, size, &leaf, &proof, &root).unwrap();

        let mut probes: Vec<Probe> = vec![
            probe(
                "index - 1",
                index.wrapping_sub(1),
                size,
                leaf,
                root,
                proof.clone(),
            ),
            probe("index + 1", index + 1, size, leaf, root, proof.clone()),
            probe("index ^ 2", index ^ 2, size, leaf, root, proof.clone()),
            probe("size * 2", index, size * 2, leaf, root, proof.clone()),
            probe("size / 2", index, size / 2, leaf, root, proof.clone()),
            probe(
                "wrong leaf",
                index,
                size,
                leaf_hash(b"WrongLeaf"),
                root,
                proof.clone(),
            ),
            probe(
                "empty root",
                index,
                size,
                leaf,
                hash(EMPTY_TREE),
                proof.clone(),
            ),
            probe(
                "random root",
                index,
                size,
                leaf,
                hash(SOME_HASH),
                proof.clone(),
            ),
            probe(
                "trailing root",
                index,
                size,
                leaf,
                root,
                [proof.clone(), vec![root]].concat(),
            ),
            probe(
                "preceding root",
                index,
                size,
                leaf,
                root,
                [vec![root], proof.clone()].concat(),
            ),
        ];
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flipped(&bad[i], 8);
            probes.push(probe("modified proof bit 3", index, size, leaf, root, bad));
        }
        if !proof.is_empty() {
            probes.push(probe(
                "removed component",
                index,
                size,
                leaf,
                root,
                proof[..proof.len() - 1].to_vec(),
            ));
        }
        if proof.len() > 1 {
            let inserted = [vec![proof[0], hash(SOME_HASH)], proof[1..].to_vec()].concat();
            probes.push(probe(
                "inserted component",
                index,
                size,
                leaf,
                root,
                inserted,
            ));
        }
        for p in probes {
            assert!(
                verify_inclusion(p.a, p.b, &p.x, &p.proof, &p.y).is_err(),
                "probe {:?} of proof ({index}, {size}) verified",
                p.what
            );
        }
    }
}

/// Consistency proofs generated from stored nodes equal the reference
/// proofs, verify, and the corrupted probes of `cmd/proofgen` are refused.
#[test]
fn consistency_proofs_match_and_corruptions_fail() {
    let v = vectors();
    let tree = tree_of(&v, 8);
    for vector in &v.consistency {
        let (old, new) = (vector.old, vector.new);
        let proof = hashes(&vector.proof);
        let (r1, r2) = (hash(&v.roots[old as usize]), hash(&v.roots[new as usize]));
        assert_eq!(
            consistency_proof(&tree, old, new).unwrap(),
            proof,
            "proof {old}..{new}"
        );
        verify_consistency(old, new, &r1, &r2, &proof).unwrap();
        if proof.is_empty() {
            continue; // the probes apply to non-trivial proofs only
        }
        let wrong = leaf_hash(b"WrongRoot");
        let mut probes: Vec<Probe> = vec![
            probe("old - 1", old - 1, new, r1, r2, proof.clone()),
            probe("old + 1", old + 1, new, r1, r2, proof.clone()),
            probe("old ^ 2", old ^ 2, new, r1, r2, proof.clone()),
            probe("new * 2", old, new * 2, r1, r2, proof.clone()),
            probe("new / 2", old, new / 2, r1, r2, proof.clone()),
            probe("wrong root1", old, new, wrong, r2, proof.clone()),
            probe("wrong root2", old, new, r1, wrong, proof.clone()),
            probe("swapped roots", old, new, r2, r1, proof.clone()),
            probe("empty proof", old, new, r1, r2, Vec::new()),
            probe(
                "trailing root1",
                old,
                new,
                r1,
                r2,
                [proof.clone(), vec![r1]].concat(),
            ),
            probe(
                "trailing root2",
                old,
                new,
                r1,
                r2,
                [proof.clone(), vec![r2]].concat(),
            ),
            probe(
                "preceding root1",
                old,
                new,
                r1,
                r2,
                [vec![r1], proof.clone()].concat(),
            ),
            probe(
                "preceding root2",
                old,
                new,
                r1,
                r2,
                [vec![r2], proof.clone()].concat(),
            ),
            probe(
                "preceding proof[0]",
                old,
                new,
                r1,
                r2,
                [vec![proof[0]], proof.clone()].concat(),
            ),
            probe(
                "truncated proof",
                old,
                new,
                r1,
                r2,
                proof[..proof.len() - 1].to_vec(),
            ),
        ];
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flipped(&bad[i], 16);
            probes.push(probe("modified proof bit 4", old, new, r1, r2, bad));
        }
        for p in probes {
            assert!(
                verify_consistency(p.a, p.b, &p.x, &p.y, &p.proof).is_err(),
                "probe {:?} of proof {old}..{new} verified",
                p.what
            );
        }
    }
}

/// The edge cases of transparency-dev/merkle `TestVerifyConsistency`: equal
/// sizes need equal roots and an empty proof, the empty tree is a prefix of
/// any tree, a tree never shrinks.
#[test]
fn consistency_edge_cases() {
    let (a, b) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let empty = hash(EMPTY_TREE);
    assert!(verify_consistency(0, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 0, &a, &a, &[]).is_ok());
    assert!(verify_consistency(0, 1, &a, &b, &[]).is_ok());
    assert!(verify_consistency(1, 1, &b, &b, &[]).is_ok());
    assert!(verify_consistency(1, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 0, &empty, &empty, &[empty]).is_err());
    assert!(verify_consistency(0, 1, &empty, &empty, &[empty]).is_err());
    assert!(verify_consistency(1, 1, &empty, &empty, &[empty]).is_err());
}

/// Whether `[start, end)` is a subtree in the sense of
/// draft-ietf-plants-merkle-tree-certs §4.1: `start` is a multiple of the
/// smallest power of two at least `end - start`.
fn is_subtree(start: u64, end: u64) -> bool {
    start < end && start.is_multiple_of((end - start).next_power_of_two())
}

/// Appendix C.1 and C.2 of draft-ietf-plants-merkle-tree-certs-05: every
/// subtree hash and every inclusion proof inside every subtree of the tree
/// whose leaf i is the byte i, up to 130 leaves, fold to the published
/// SHA-256 values (larger trees than the RFC 6962 data, with every shape of
/// right edge up to 130).
#[test]
fn accumulated_vectors_up_to_130_leaves() {
    let v = vectors();
    let max = v.accumulated.max_size;
    let mut hashes_acc = ring::digest::Context::new(&ring::digest::SHA256);
    let mut proofs_acc = ring::digest::Context::new(&ring::digest::SHA256);
    for end in 1..=max {
        for start in (0..end).filter(|&s| is_subtree(s, end)) {
            let mut subtree = MemoryTree::new();
            for i in start..end {
                subtree.push_entry(&[i as u8]);
            }
            let line = format!("[{start}, {end}) {}\n", to_hex(&subtree.root()));
            hashes_acc.update(line.as_bytes());
            for index in start..end {
                let proof = inclusion_proof(&subtree, index - start, end - start).unwrap();
                let mut line = format!("{index} [{start}, {end})");
                for h in &proof {
                    line.push(' ');
                    line.push_str(&to_hex(h));
                }
                line.push('\n');
                proofs_acc.update(line.as_bytes());
            }
        }
    }
    assert_eq!(
        to_hex(hashes_acc.finish().as_ref()),
        v.accumulated.subtree_hashes
    );
    assert_eq!(
        to_hex(proofs_acc.finish().as_ref()),
        v.accumulated.subtree_inclusion_proofs
    );
}

/// An Ed25519 PKCS#8 v1 document (RFC 8410 §7) holding `seed`.
fn pkcs8_v1(seed: &[u8]) -> Vec<u8> {
    let mut doc = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    doc.extend_from_slice(seed);
    doc
}

/// Signing the sumdb/note example text with its published private key gives
/// the published note byte for byte, the verifier key string matches, and
/// the published verifier key opens the note but not an altered one.
#[test]
fn signed_note_reproduces_the_go_example() {
    let v = vectors().signed_note;
    let seed_b64 = v.signer_key.splitn(5, '+').nth(4).unwrap();
    let typed_seed = BASE64.decode(seed_b64).unwrap();
    assert_eq!(typed_seed[0], 1, "an Ed25519 signer key");
    let key = LogKey::from_pkcs8("PeterNeumann", &pkcs8_v1(&typed_seed[1..])).unwrap();
    assert_eq!(key.verifier_key(), v.verifier_key);
    assert_eq!(key.sign_note(&v.text).unwrap(), v.note);

    let verifier = NoteVerifier::from_str(&v.verifier_key).unwrap();
    assert_eq!(verifier.open(&v.note).unwrap(), v.text);
    let altered = v.note.replace("cryptography", "cryptographY");
    assert!(verifier.open(&altered).is_err());
}

/// A verifier key whose key id does not match its name and key is refused,
/// as is one for another algorithm (sumdb/note `TestNewVerifier`).
#[test]
fn mangled_verifier_keys_are_refused() {
    let v = vectors().signed_note;
    let good = v.verifier_key;
    assert!(NoteVerifier::from_str(&good.replace("c74f20a3", "c74f20a4")).is_err());
    assert!(NoteVerifier::from_str(&good.replace("PeterNeumann", "PeterNeumanm")).is_err());
    assert!(NoteVerifier::from_str(&good.replace("+ARpc", "+ARpd")).is_err());
    assert!(NoteVerifier::from_str(&good.replace("+ARpc", "+Apc")).is_err());
}

/// The c2sp.org/tlog-checkpoint example body parses to its origin, size and
/// root, and prints back identically.
#[test]
fn checkpoint_example_parses() {
    let v = vectors().checkpoint;
    let checkpoint = Checkpoint::parse(&v.text).unwrap();
    assert_eq!(checkpoint.origin, v.origin);
    assert_eq!(checkpoint.size, v.size);
    assert_eq!(BASE64.encode(checkpoint.root), v.root_base64);
    assert_eq!(checkpoint.time, None);
    assert_eq!(checkpoint.to_text(), v.text);
}
