//! Benchmarks of the transparency log (figures in `BENCHMARKS.md`):
//! - `audit_append_durable/{1,100}`: appends per second when every commit is
//!   one sled transaction (`LogTrees::append`) followed by a flush, with one
//!   entry per commit and with groups of 100;
//! - `audit_proofs_10m/{inclusion,consistency}`: proof generation from
//!   stored nodes in a log of 10 million entries (built once, in a temporary
//!   directory, then reopened, before measuring;
//!   `VEILINK_AUDIT_BENCH_ENTRIES` overrides the size) at random indexes and
//!   sizes; the build time, the process's resident memory and the number of
//!   node reads per proof are printed;
//! - `audit_verify_full/100000`: the auditor's full verification rate
//!   (fetch, decode, hash, recompute the root, bisect nothing, sample 32
//!   proofs) over a 100 000-entry log read straight from sled.

use std::cell::Cell;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use veilink::audit::entry::{BatchReceipt, Retention};
use veilink::audit::hash::Hash;
use veilink::audit::proof::{self, NodeReader};
use veilink::audit::tree::NodeId;
use veilink::audit::{
    AuditError, DEFAULT_ORIGIN, LogEntry, LogState, LogTree, LogTrees, VerifyOptions, stage_append,
    verify,
};

/// A representative entry: an intake receipt (~100 bytes).
fn receipt(i: u64) -> LogEntry {
    let mut batch_id = [0u8; 32];
    batch_id[..8].copy_from_slice(&i.to_be_bytes());
    LogEntry::BatchReceipt(BatchReceipt {
        agency: "victim-support".into(),
        batch_id,
        digest: [0x42; 32],
        accepted: 1_000,
        corrected: 3,
        time: 1_700_000_000 + i as i64,
    })
}

/// A small entry for the large tree (~20 bytes), to keep its disk use down;
/// proof generation never reads entries.
fn small(i: u64) -> LogEntry {
    LogEntry::Retention(Retention {
        cutoff_days: 18_000,
        records_removed: i as u32,
        time: i as i64,
    })
}

/// An open log in a temporary directory, with the same 256 MiB sled cache
/// as the server's store.
struct BenchLog {
    dir: tempfile::TempDir,
    db: sled::Db,
    trees: LogTrees,
    state: LogState,
}

impl BenchLog {
    fn new() -> BenchLog {
        BenchLog::open_in(tempfile::tempdir().expect("temporary directory"))
    }

    fn open_in(dir: tempfile::TempDir) -> BenchLog {
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(256 * 1024 * 1024)
            .open()
            .expect("open sled");
        let trees = LogTrees::open(&db).expect("open trees");
        let state = LogState::open(&trees).expect("open state");
        BenchLog {
            dir,
            db,
            trees,
            state,
        }
    }

    /// Closes and reopens the database (as after a server restart).
    fn reopen(self) -> BenchLog {
        self.db.flush().expect("flush");
        let dir = self.dir;
        drop((self.db, self.trees));
        BenchLog::open_in(dir)
    }

    /// Appends `n` entries made by `entry` as a fixture: staged in groups
    /// of 1 000, applied as one `sled::Batch` per tree (no transaction:
    /// building the fixture is not what is measured) and flushed, which
    /// keeps sled's memory down. Stops the benchmark rather than let sled
    /// grow past 12 GiB.
    fn fill(&mut self, n: u64, entry: fn(u64) -> LogEntry) {
        const GROUP: u64 = 1_000;
        let mut next = self.state.size();
        while next < n {
            let end = n.min(next + GROUP);
            let entries: Vec<LogEntry> = (next..end).map(entry).collect();
            let staged = stage_append(&self.state, &entries).expect("stage");
            let (mut to_entries, mut to_nodes, mut to_meta) = Default::default();
            for (tree, key, value) in staged.writes() {
                let batch: &mut sled::Batch = match tree {
                    LogTree::Entries => &mut to_entries,
                    LogTree::Nodes => &mut to_nodes,
                    LogTree::Meta => &mut to_meta,
                };
                batch.insert(key, value);
            }
            self.trees.entries.apply_batch(to_entries).expect("entries");
            self.trees.nodes.apply_batch(to_nodes).expect("nodes");
            self.trees.meta.apply_batch(to_meta).expect("meta");
            self.db.flush().expect("flush");
            self.state = staged.into_state();
            next = end;
            if next.is_multiple_of(1_000_000) {
                let rss = rss_mib();
                assert!(rss < 12 * 1024, "sled grew to {rss} MiB at {next} entries");
            }
        }
    }
}

/// Resident memory of this process, MiB (Linux; 0 elsewhere).
fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_append_durable");
    group.sample_size(20);
    for size in [1u64, 100] {
        let mut log = BenchLog::new();
        let mut next = 0u64;
        group.throughput(Throughput::Elements(size));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter(|| {
                let entries: Vec<LogEntry> = (next..next + size).map(receipt).collect();
                log.trees.append(&mut log.state, &entries).expect("commit");
                log.db.flush().expect("flush");
                next += size;
            });
        });
    }
    group.finish();
}

/// Counts node reads of proof generation: the log's trees and the count.
struct Counting<'a>(&'a LogTrees, Cell<usize>);

impl NodeReader for Counting<'_> {
    fn node(&self, id: NodeId) -> Result<Hash, AuditError> {
        self.1.set(self.1.get() + 1);
        self.0.node(id)
    }
}

/// A deterministic stream of pseudo-random numbers (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn proofs_at_10m(c: &mut Criterion) {
    let n: u64 = std::env::var("VEILINK_AUDIT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let mut log = BenchLog::new();
    let started = Instant::now();
    log.fill(n, small);
    eprintln!(
        "audit bench: built a {n}-entry log in {:.0} s (RSS {} MiB)",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    let log = log.reopen();
    eprintln!("audit bench: reopened it (RSS {} MiB)", rss_mib());

    let counting = Counting(&log.trees, Cell::new(0));
    let mut rng = SplitMix(1);
    let (mut max_inclusion, mut max_consistency) = (0, 0);
    for _ in 0..1_000 {
        counting.1.set(0);
        proof::inclusion_proof(&counting, rng.next() % n, n).expect("proof");
        max_inclusion = max_inclusion.max(counting.1.get());
        counting.1.set(0);
        proof::consistency_proof(&counting, 1 + rng.next() % n, n).expect("proof");
        max_consistency = max_consistency.max(counting.1.get());
    }
    eprintln!(
        "audit bench: node reads per proof at {n} entries: inclusion <= {max_inclusion}, \
         consistency <= {max_consistency}"
    );

    let mut group = c.benchmark_group("audit_proofs_10m");
    group.bench_function("inclusion", |b| {
        b.iter(|| log.trees.inclusion_proof(rng.next() % n, n).expect("proof"));
    });
    group.bench_function("consistency", |b| {
        b.iter(|| {
            log.trees
                .consistency_proof(1 + rng.next() % n, n)
                .expect("proof")
        });
    });
    group.finish();
    eprintln!("audit bench: after the proofs, RSS {} MiB", rss_mib());
}

fn verification(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut log = BenchLog::new();
    log.fill(N, receipt);
    let key = log.trees.log_key(DEFAULT_ORIGIN).expect("log key");
    log.trees
        .sign_checkpoint(&key, &log.state, 1_700_000_000)
        .expect("checkpoint");
    let pinned = key.verifier_key().parse().expect("verifier key");
    let options = VerifyOptions {
        full: true,
        seed: Some(1),
        ..VerifyOptions::default()
    };
    let mut group = c.benchmark_group("audit_verify_full");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N));
    group.bench_function(BenchmarkId::from_parameter(N), |b| {
        b.iter(|| {
            let mut source = log.trees.clone();
            futures::executor::block_on(verify(&mut source, &pinned, None, &options))
                .expect("the log verifies")
        });
    });
    group.finish();
}

criterion_group!(benches, appends, proofs_at_10m, verification);
criterion_main!(benches);
