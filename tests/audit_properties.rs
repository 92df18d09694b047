//! Property tests of the transparency log's tree, proofs and entry encoding,
//! against a naive transliteration of the recursive definitions of
//! RFC 9162 §2.1.1 (`MTH`), §2.1.3.1 (`PATH`) and §2.1.4.1 (`SUBPROOF`).

use proptest::prelude::*;
use veilink::audit::LogEntry;
use veilink::audit::entry::{
    BatchReceipt, JobCounts, JobOutcome, JobPhase, JobRecord, JobTrigger, LinkDecision, LinkKind,
    PairEvidence, RecordKey, ReportQuery, Retention, Withdrawal,
};
use veilink::audit::hash::{Hash, empty_root, leaf_hash, node_hash};
use veilink::audit::proof::{
    consistency_proof, inclusion_proof, root_at, verify_consistency, verify_inclusion,
};
use veilink::audit::tree::MemoryTree;

/// The largest power of two strictly below `n` (n ≥ 2).
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])`, RFC 9162 §2.1.1, by recursion over the entries.
fn mth(entries: &[Vec<u8>]) -> Hash {
    match entries.len() {
        0 => empty_root(),
        1 => leaf_hash(&entries[0]),
        n => {
            let k = k_of(n);
            node_hash(&mth(&entries[..k]), &mth(&entries[k..]))
        }
    }
}

/// `PATH(m, D[n])`, RFC 9162 §2.1.3.1.
fn path(m: usize, entries: &[Vec<u8>]) -> Vec<Hash> {
    let n = entries.len();
    if n == 1 {
        return Vec::new();
    }
    let k = k_of(n);
    if m < k {
        [path(m, &entries[..k]), vec![mth(&entries[k..])]].concat()
    } else {
        [path(m - k, &entries[k..]), vec![mth(&entries[..k])]].concat()
    }
}

/// `SUBPROOF(m, D[n], b)`, RFC 9162 §2.1.4.1.
fn subproof(m: usize, entries: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = entries.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(entries)] };
    }
    let k = k_of(n);
    if m <= k {
        [subproof(m, &entries[..k], b), vec![mth(&entries[k..])]].concat()
    } else {
        [
            subproof(m - k, &entries[k..], false),
            vec![mth(&entries[..k])],
        ]
        .concat()
    }
}

fn entries_strategy(max: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..max)
}

fn tree_of(entries: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for e in entries {
        tree.push_entry(e);
    }
    tree
}

/// Flips bit `bit` (0..256) of a hash.
fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The incremental tree head after every append, and the root of every
    /// past size from stored nodes, equal a full recomputation of MTH.
    #[test]
    fn incremental_head_equals_full_recomputation(entries in entries_strategy(150)) {
        let mut tree = MemoryTree::new();
        for (i, e) in entries.iter().enumerate() {
            tree.push_entry(e);
            prop_assert_eq!(tree.root(), mth(&entries[..=i]));
        }
        for size in 1..=entries.len() {
            prop_assert_eq!(root_at(&tree, size as u64).unwrap(), mth(&entries[..size]));
        }
    }

    /// Every inclusion proof of every leaf in every tree size equals the
    /// RFC's PATH and verifies against the recomputed root.
    #[test]
    fn every_inclusion_proof_verifies(entries in entries_strategy(48)) {
        let tree = tree_of(&entries);
        for size in 1..=entries.len() {
            let root = mth(&entries[..size]);
            for index in 0..size {
                let proof = inclusion_proof(&tree, index as u64, size as u64).unwrap();
                prop_assert_eq!(&proof, &path(index, &entries[..size]));
                let leaf = leaf_hash(&entries[index]);
                prop_assert!(verify_inclusion(index as u64, size as u64, &leaf, &proof, &root).is_ok());
            }
        }
    }

    /// Every consistency proof between any two sizes equals the RFC's
    /// SUBPROOF and verifies.
    #[test]
    fn every_consistency_proof_verifies(entries in entries_strategy(48)) {
        let tree = tree_of(&entries);
        for new in 1..=entries.len() {
            let new_root = mth(&entries[..new]);
            for old in 1..=new {
                let proof = consistency_proof(&tree, old as u64, new as u64).unwrap();
                prop_assert_eq!(&proof, &subproof(old, &entries[..new], true));
                let old_root = mth(&entries[..old]);
                prop_assert!(verify_consistency(old as u64, new as u64, &old_root, &new_root, &proof).is_ok());
            }
        }
    }

    /// Flipping any single bit of an inclusion proof, of the entry or of the
    /// root makes verification fail.
    #[test]
    fn any_flipped_bit_breaks_an_inclusion_proof(
        entries in entries_strategy(100),
        pick in any::<(prop::sample::Index, prop::sample::Index)>(),
    ) {
        let tree = tree_of(&entries);
        let size = pick.0.index(entries.len()) + 1;
        let index = pick.1.index(size);
        let proof = inclusion_proof(&tree, index as u64, size as u64).unwrap();
        let root = tree_of(&entries[..size]).root();
        let entry = &entries[index];
        let ok = |leaf: &Hash, proof: &[Hash], root: &Hash| {
            verify_inclusion(index as u64, size as u64, leaf, proof, root).is_ok()
        };
        prop_assert!(ok(&leaf_hash(entry), &proof, &root));
        for element in 0..proof.len() {
            for bit in 0..256 {
                let mut bad = proof.clone();
                bad[element] = flip(&bad[element], bit);
                prop_assert!(!ok(&leaf_hash(entry), &bad, &root), "proof[{}] bit {}", element, bit);
            }
        }
        for bit in 0..256 {
            prop_assert!(!ok(&leaf_hash(entry), &proof, &flip(&root, bit)), "root bit {}", bit);
        }
        for bit in 0..entry.len() * 8 {
            let mut bad = entry.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!ok(&leaf_hash(&bad), &proof, &root), "entry bit {}", bit);
        }
    }

    /// Flipping any single bit of a consistency proof or of either root
    /// makes verification fail.
    #[test]
    fn any_flipped_bit_breaks_a_consistency_proof(
        entries in entries_strategy(100),
        pick in any::<(prop::sample::Index, prop::sample::Index)>(),
    ) {
        let tree = tree_of(&entries);
        let new = pick.0.index(entries.len()) + 1;
        let old = pick.1.index(new) + 1;
        let proof = consistency_proof(&tree, old as u64, new as u64).unwrap();
        let (r1, r2) = (mth(&entries[..old]), mth(&entries[..new]));
        let ok = |r1: &Hash, r2: &Hash, proof: &[Hash]| {
            verify_consistency(old as u64, new as u64, r1, r2, proof).is_ok()
        };
        prop_assert!(ok(&r1, &r2, &proof));
        for element in 0..proof.len() {
            for bit in 0..256 {
                let mut bad = proof.clone();
                bad[element] = flip(&bad[element], bit);
                prop_assert!(!ok(&r1, &r2, &bad), "proof[{}] bit {}", element, bit);
            }
        }
        for bit in 0..256 {
            prop_assert!(!ok(&flip(&r1, bit), &r2, &proof), "old root bit {}", bit);
            prop_assert!(!ok(&r1, &flip(&r2, bit), &proof), "new root bit {}", bit);
        }
    }
}

fn text() -> impl Strategy<Value = String> {
    "[a-z:_ éß{}\"0-9-]{0,12}"
}

fn record_key() -> impl Strategy<Value = RecordKey> {
    (text(), any::<[u8; 32]>()).prop_map(|(agency, record_ref)| RecordKey { agency, record_ref })
}

fn link_decision() -> impl Strategy<Value = LinkDecision> {
    let pair = (
        record_key(),
        record_key(),
        prop::collection::vec(any::<u16>(), 0..4),
        prop::option::of(0u16..=10_000),
        prop::option::of(-60.0f64..60.0),
    )
        .prop_map(|(a, b, rules, dice, weight)| PairEvidence {
            a,
            b,
            rules,
            dice,
            weight,
        });
    (
        0u64..4,
        // No batch: a full job, or re-linking after a withdrawal (job 0).
        prop::option::of(any::<[u8; 32]>()),
        prop::sample::select(vec![
            LinkKind::Join,
            LinkKind::Merge,
            LinkKind::Split,
            LinkKind::New,
        ]),
        any::<[u8; 16]>(),
        prop::collection::vec(any::<[u8; 16]>(), 0..3),
        prop::collection::vec(record_key(), 0..4),
        prop::collection::vec(pair, 0..3),
        text(),
    )
        .prop_map(
            |(job_id, batch, decision, person, others, records, evidence, rule_set)| LinkDecision {
                job_id,
                batch_id: batch.filter(|_| job_id == 0),
                decision,
                person,
                others,
                records,
                evidence,
                rule_set,
            },
        )
}

fn job() -> impl Strategy<Value = JobRecord> {
    let counts = any::<[u64; 5]>().prop_map(|c| JobCounts {
        records: c[0],
        persons: c[1],
        merges: c[2],
        splits: c[3],
        differing_from_incremental: c[4],
    });
    let outcome = prop_oneof![
        Just(JobOutcome::Succeeded),
        text().prop_map(|reason| JobOutcome::Failed { reason }),
    ];
    let phase = prop_oneof![
        Just(JobPhase::Started),
        (outcome, counts).prop_map(|(outcome, counts)| JobPhase::Finished { outcome, counts }),
    ];
    (any::<u64>(), any::<bool>(), phase, any::<i64>()).prop_map(
        |(job_id, periodic, phase, time)| JobRecord {
            job_id,
            trigger: if periodic {
                JobTrigger::Periodic
            } else {
                JobTrigger::Manual
            },
            phase,
            time,
        },
    )
}

fn log_entry() -> impl Strategy<Value = LogEntry> {
    prop_oneof![
        (
            text(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<u32>(),
            any::<i64>()
        )
            .prop_map(|(agency, batch_id, digest, accepted, corrected, time)| {
                LogEntry::BatchReceipt(BatchReceipt {
                    agency,
                    batch_id,
                    digest,
                    accepted,
                    corrected,
                    time,
                })
            }),
        (text(), any::<u32>(), any::<[u8; 32]>(), any::<i64>()).prop_map(
            |(agency, count, refs_digest, time)| {
                LogEntry::Withdrawal(Withdrawal {
                    agency,
                    count,
                    refs_digest,
                    time,
                })
            }
        ),
        link_decision().prop_map(LogEntry::LinkDecision),
        job().prop_map(LogEntry::Job),
        (text(), text(), any::<u32>(), any::<u32>(), any::<i64>()).prop_map(
            |(principal, parameters, cells_released, cells_suppressed, time)| {
                LogEntry::ReportQuery(ReportQuery {
                    principal,
                    parameters,
                    cells_released,
                    cells_suppressed,
                    time,
                })
            }
        ),
        (any::<i32>(), any::<u32>(), any::<i64>()).prop_map(
            |(cutoff_days, records_removed, time)| {
                LogEntry::Retention(Retention {
                    cutoff_days,
                    records_removed,
                    time,
                })
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every entry decodes back to itself, through bytes and through JSON.
    #[test]
    fn entries_round_trip(entry in log_entry()) {
        let bytes = entry.encode().unwrap();
        prop_assert_eq!(&LogEntry::decode(&bytes).unwrap(), &entry);
        let json: LogEntry = serde_json::from_value(entry.to_json()).unwrap();
        prop_assert_eq!(json, entry);
    }

    /// The encoding is canonical: whatever a damaged encoding (one flipped
    /// bit, one byte cut or added) decodes to, if anything, encodes back to
    /// exactly those bytes, so no two byte strings decode to one entry.
    #[test]
    fn damaged_encodings_never_alias(entry in log_entry(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let bytes = entry.encode().unwrap();
        let i = at.index(bytes.len());
        let mut flipped = bytes.clone();
        flipped[i] ^= 1 << bit;
        let mut cut = bytes.clone();
        cut.remove(i);
        let mut longer = bytes.clone();
        longer.insert(i, bit);
        for damaged in [flipped, cut, longer] {
            if let Ok(decoded) = LogEntry::decode(&damaged) {
                prop_assert_eq!(decoded.encode().unwrap(), damaged);
            }
        }
    }
}
