//! The transparency log through the real server and the real binary.
//!
//! An auditor's `veilink audit verify` (pinned key, saved state) names the
//! first bad entry after the store was edited offline while the server was
//! stopped: an entry changed, an entry removed, the tail truncated, the
//! checkpoint re-signed with another key. Over a whole synthetic run (intake
//! by three agencies, a full linkage job, a report and a withdrawal) no entry
//! holds a token, a Bloom byte, a name, a date of birth or a BSN.
//! `veilink audit entries` filters by kind, job and agency, and
//! `audit verify --receipts` proves an agency's kept receipts.
//!
//! Two data sets are built once per test process under the target's
//! temporary directory: a stopped store for the tamper tests (each case
//! edits a fresh copy of it) and a running server after a whole run.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::RunningServer;
use tokio::runtime::Runtime;
use veilink::audit::LogTrees;
use veilink::audit::checkpoint::{Checkpoint, DEFAULT_ORIGIN, LogKey};
use veilink::audit::entry::{BatchReceipt, LogEntry, ReportQuery};
use veilink::audit::log::{LEAF_BLOCK, leaf_block_key};
use veilink::client::audit::GrpcLogSource;
use veilink::client::submit::{SubmitOptions, submit_file};
use veilink::encode::dates::BirthDate;
use veilink::encode::{Encoder, LinkageSecret, RawPerson, RecordReader, Schema};
use veilink::pb::v1 as pb;
use veilink::server::ServerConfig;
use veilink::synth::{SynthConfig, generate};

const BIN: &str = env!("CARGO_BIN_EXE_veilink");
const AGENCIES: [&str; 3] = ["police", "care", "victim-support"];

// ---------------------------------------------------------------------------
// Running the binary

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// Runs `veilink ARGS` to completion.
fn veilink(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().expect("run veilink")
}

fn describe(args: &[String], output: &Output) -> String {
    format!(
        "veilink {} ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs the binary and returns its stdout; panics with the output on failure.
fn succeed(args: &[String]) -> String {
    let output = veilink(args);
    assert!(output.status.success(), "{}", describe(args, &output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs the binary, which must fail with exit status 1 (a failure that is
/// not bad usage); returns its stderr.
fn fail(args: &[String]) -> String {
    let output = veilink(args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected a failure: {}",
        describe(args, &output)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `COMMAND... --server URL --pki DIR --as NAME`.
fn command(words: &[&str], url: &str, pki: &Path, name: &str) -> Vec<String> {
    let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    args.extend([
        "--server".into(),
        url.into(),
        "--pki".into(),
        text(pki),
        "--as".into(),
        name.into(),
    ]);
    args
}

// ---------------------------------------------------------------------------
// The server side

/// A directory under the target's temporary directory, emptied first.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("audit_server")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn init_pki(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    let agencies: Vec<String> = AGENCIES.map(String::from).to_vec();
    veilink::pki::init(&pki, &agencies, false).expect("pki init");
    pki
}

/// Submits one agency's synthetic CSV through the real client.
fn submit_agency(
    runtime: &Runtime,
    server: &RunningServer,
    pki: &Path,
    data: &Path,
    agency: &str,
    secret: &LinkageSecret,
    batch_records: usize,
) {
    let schema = Schema::load(&data.join(format!("{agency}.schema.toml"))).expect("schema");
    let encoder = Encoder::new(secret, &schema);
    let options = SubmitOptions {
        batch_records,
        ..SubmitOptions::default()
    };
    let summary = submit_file(
        runtime.handle(),
        &server.url,
        pki,
        agency,
        &encoder,
        &data.join(format!("{agency}.csv")),
        &options,
        &mut |_| {},
    )
    .expect("submit");
    assert_eq!(summary.accepted, summary.records_read, "{agency}");
}

/// Waits until the server has signed a checkpoint of its whole log; returns it.
fn settled_checkpoint(runtime: &Runtime, server: &RunningServer, pki: &Path) -> pb::Checkpoint {
    runtime.block_on(async {
        let mut audit = pb::audit_client::AuditClient::new(server.channel(pki, "auditor").await);
        let mut admin = pb::admin_client::AdminClient::new(server.channel(pki, "operator").await);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let size = admin
                .status(pb::StatusRequest {})
                .await
                .expect("status")
                .into_inner()
                .log_size;
            if let Ok(checkpoint) = audit.get_checkpoint(pb::GetCheckpointRequest {}).await {
                let checkpoint = checkpoint.into_inner();
                if checkpoint.size == size {
                    return checkpoint;
                }
            }
            assert!(Instant::now() < deadline, "no checkpoint of the whole log");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Waits until the server serves a checkpoint at all (after a restart that
/// removed the stored one, it signs a new one first).
fn any_checkpoint(runtime: &Runtime, server: &RunningServer, pki: &Path) -> pb::Checkpoint {
    runtime.block_on(async {
        let mut audit = pb::audit_client::AuditClient::new(server.channel(pki, "auditor").await);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(checkpoint) = audit.get_checkpoint(pb::GetCheckpointRequest {}).await {
                return checkpoint.into_inner();
            }
            assert!(Instant::now() < deadline, "no checkpoint served");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Runs a full linkage job as the operator and waits for its end.
fn run_job(runtime: &Runtime, server: &RunningServer, pki: &Path) -> pb::Job {
    runtime
        .block_on(async { common::run_job_to_success(server.channel(pki, "operator").await).await })
}

/// Every entry of the first `size` as (index, bytes), read as the auditor.
fn log_entries(
    runtime: &Runtime,
    server: &RunningServer,
    pki: &Path,
    size: u64,
) -> Vec<(u64, Vec<u8>)> {
    runtime.block_on(async {
        let mut source = GrpcLogSource::new(server.channel(pki, "auditor").await);
        let entries = source.indexed_entries(0, size).await.expect("entries");
        assert_eq!(entries.len() as u64, size);
        entries
    })
}

fn state_size(path: &Path) -> u64 {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("state")).expect("state JSON");
    state["size"].as_u64().expect("state size")
}

// ---------------------------------------------------------------------------
// Tamper tests

/// A stopped store with a log, and what an auditor kept of it.
struct LogFixture {
    pki: PathBuf,
    /// The store, never started again (every case edits a copy).
    store: PathBuf,
    /// The pinned verifier key (`audit public-key --out`).
    public_key: PathBuf,
    /// State saved by `audit verify --state` after the police intake.
    early_state: PathBuf,
    /// The checkpoint note the early state was verified against.
    early_note: String,
    /// State saved after every agency's intake.
    late_state: PathBuf,
    /// Entries covered by the early and the late state.
    early_size: u64,
    late_size: u64,
}

fn log_fixture() -> &'static LogFixture {
    static FIXTURE: OnceLock<LogFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = scratch_dir("tamper");
        let pki = init_pki(&dir);
        let data = dir.join("synth");
        let config = SynthConfig {
            persons: 1_500,
            seed: 21,
            ..SynthConfig::default()
        };
        generate(&config, &data).expect("synth");
        let secret = LinkageSecret::from_bytes([0x5a; 32]);
        let store = dir.join("store");
        let runtime = Runtime::new().expect("runtime");
        let server = runtime.block_on(RunningServer::start(ServerConfig::new(&store, &pki)));

        submit_agency(&runtime, &server, &pki, &data, "police", &secret, 10);
        let early = settled_checkpoint(&runtime, &server, &pki);
        let public_key = dir.join("log.pub");
        let mut args = command(&["audit", "public-key"], &server.url, &pki, "auditor");
        args.extend(["--out".into(), text(&public_key)]);
        succeed(&args);
        let early_state = dir.join("early-state.json");
        let mut args = command(&["audit", "verify"], &server.url, &pki, "auditor");
        args.extend([
            "--state".into(),
            text(&early_state),
            "--public-key".into(),
            text(&public_key),
        ]);
        succeed(&args);
        assert_eq!(state_size(&early_state), early.size);

        submit_agency(&runtime, &server, &pki, &data, "care", &secret, 10);
        submit_agency(
            &runtime,
            &server,
            &pki,
            &data,
            "victim-support",
            &secret,
            10,
        );
        let late = settled_checkpoint(&runtime, &server, &pki);
        let late_state = dir.join("late-state.json");
        let mut args = command(&["audit", "verify"], &server.url, &pki, "auditor");
        args.extend([
            "--state".into(),
            text(&late_state),
            "--public-key".into(),
            text(&public_key),
        ]);
        succeed(&args);
        assert_eq!(state_size(&late_state), late.size);
        runtime.block_on(server.stop());
        assert!(
            early.size >= 20 && late.size >= early.size + 20,
            "the log should be large: {} then {}",
            early.size,
            late.size
        );
        LogFixture {
            pki,
            store,
            public_key,
            early_state,
            early_note: early.note,
            late_state,
            early_size: early.size,
            late_size: late.size,
        }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for item in std::fs::read_dir(from).expect("read dir") {
        let item = item.expect("dir entry");
        let target = to.join(item.file_name());
        if item.file_type().expect("file type").is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).expect("copy");
        }
    }
}

/// A fresh copy of the fixture's store, edited offline by `edit`, served again.
struct TamperedLog {
    runtime: Runtime,
    server: RunningServer,
    early_state: PathBuf,
    late_state: PathBuf,
    _dir: tempfile::TempDir,
}

impl TamperedLog {
    fn new(edit: impl FnOnce(&sled::Db, &LogTrees)) -> TamperedLog {
        let fx = log_fixture();
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("store");
        copy_dir(&fx.store, &store);
        {
            // No background flusher: its thread would keep the store locked for
            // up to half a second after the drop, and the server below could
            // not open it (seen once in CI).
            let db = sled::Config::new()
                .path(&store)
                .flush_every_ms(None)
                .open()
                .expect("open the stopped store");
            let trees = LogTrees::open(&db).expect("log trees");
            edit(&db, &trees);
            db.flush().expect("flush the edit");
        }
        let early_state = dir.path().join("early-state.json");
        let late_state = dir.path().join("late-state.json");
        std::fs::copy(&fx.early_state, &early_state).expect("copy state");
        std::fs::copy(&fx.late_state, &late_state).expect("copy state");
        let runtime = Runtime::new().expect("runtime");
        let server = runtime.block_on(RunningServer::start(ServerConfig::new(&store, &fx.pki)));
        TamperedLog {
            runtime,
            server,
            early_state,
            late_state,
            _dir: dir,
        }
    }

    /// `audit verify --state STATE --public-key PINNED [EXTRA]`.
    fn verify_args(&self, state: &Path, extra: &[&str]) -> Vec<String> {
        let fx = log_fixture();
        let mut args = command(&["audit", "verify"], &self.server.url, &fx.pki, "auditor");
        args.extend([
            "--state".into(),
            text(state),
            "--public-key".into(),
            text(&fx.public_key),
        ]);
        args.extend(extra.iter().map(|e| e.to_string()));
        args
    }

    fn stop(self) {
        self.runtime.block_on(self.server.stop());
    }
}

fn entry_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The failure must name `index` as the first bad entry.
fn assert_names(stderr: &str, index: u64) {
    assert!(
        stderr.contains(&format!("first bad entry {index}:")),
        "expected first bad entry {index}: {stderr}"
    );
}

/// Control: the untouched store, restarted, verifies incrementally from
/// either saved state and in full.
#[test]
fn untouched_log_verifies_after_restart() {
    let fx = log_fixture();
    let log = TamperedLog::new(|_, _| {});
    let summary = succeed(&log.verify_args(&log.early_state, &[]));
    assert!(
        summary.contains(&format!("verified: {} entries", fx.late_size)),
        "{summary}"
    );
    let summary = succeed(&log.verify_args(&log.late_state, &["--full"]));
    assert!(summary.contains("(full)"), "{summary}");
    log.stop();
}

/// One entry after the early state with one byte changed: the incremental
/// run from the early state names exactly that entry.
#[test]
fn changed_entry_is_named() {
    let fx = log_fixture();
    let target = fx.early_size + (fx.late_size - fx.early_size) / 2;
    let log = TamperedLog::new(|_, trees| {
        let mut bytes = trees.entry(target).unwrap().expect("the entry exists");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        trees.entries.insert(entry_key(target), bytes).unwrap();
    });
    let stderr = fail(&log.verify_args(&log.early_state, &[]));
    assert_names(&stderr, target);
    log.stop();
}

/// An old entry (verified before) changed in place: a full run from the
/// late state names exactly that entry. (An incremental run re-reads only
/// new entries and catches an old edit only if it samples it:
/// docs/AUDIT.md, "Limits".)
#[test]
fn changed_old_entry_is_named_by_a_full_run() {
    let fx = log_fixture();
    let target = fx.early_size / 3;
    let log = TamperedLog::new(|_, trees| {
        let mut bytes = trees.entry(target).unwrap().expect("the entry exists");
        bytes[2] ^= 0x40;
        trees.entries.insert(entry_key(target), bytes).unwrap();
    });
    let stderr = fail(&log.verify_args(&log.late_state, &["--full"]));
    assert_names(&stderr, target);
    log.stop();
}

/// One entry deleted, leaving a gap: the verifier names the gap's index.
#[test]
fn removed_entry_is_named() {
    let fx = log_fixture();
    let target = fx.early_size + (fx.late_size - fx.early_size) / 3;
    let log = TamperedLog::new(|_, trees| {
        trees
            .entries
            .remove(entry_key(target))
            .unwrap()
            .expect("removed");
    });
    let stderr = fail(&log.verify_args(&log.early_state, &[]));
    assert_names(&stderr, target);
    log.stop();
}

/// One entry deleted and every later entry moved down one index (no gap):
/// the verifier names the deleted entry's index.
#[test]
fn removed_entry_with_later_entries_shifted_is_named() {
    let fx = log_fixture();
    let target = fx.early_size + (fx.late_size - fx.early_size) / 4;
    let size = fx.late_size;
    let log = TamperedLog::new(|_, trees| {
        for index in target..size - 1 {
            let next = trees.entry(index + 1).unwrap().expect("entry");
            trees.entries.insert(entry_key(index), next).unwrap();
        }
        trees.entries.remove(entry_key(size - 1)).unwrap();
    });
    let stderr = fail(&log.verify_args(&log.early_state, &["--full"]));
    assert_names(&stderr, target);
    log.stop();
}

/// Rolls the log back to `size` entries: removes the later entries and the
/// subtree hashes that cover them, and stores the head of `size`.
fn roll_back(trees: &LogTrees, size: u64, total: u64) {
    let root = trees.root_at(size).expect("root of the prefix");
    for index in size..total {
        trees.entries.remove(entry_key(index)).unwrap();
    }
    let mut stale = Vec::new();
    let mut cut_block = None;
    for item in trees.nodes.iter() {
        let (key, value) = item.unwrap();
        let index = u64::from_be_bytes(key[1..9].try_into().unwrap());
        if key[..] == leaf_block_key(index)[..] {
            // A block of leaf hashes: keep those of the entries below `size`.
            let first = index * LEAF_BLOCK;
            if first >= size {
                stale.push(key);
            } else if first + LEAF_BLOCK > size {
                cut_block = Some((key, value[..32 * (size - first) as usize].to_vec()));
            }
        } else if (index + 1) << u32::from(key[0]) > size {
            stale.push(key);
        }
    }
    for key in stale {
        trees.nodes.remove(key).unwrap();
    }
    if let Some((key, hashes)) = cut_block {
        trees.nodes.insert(key, hashes).unwrap();
    }
    let mut head = size.to_be_bytes().to_vec();
    head.extend_from_slice(&root);
    trees.meta.insert("head", head).unwrap();
}

/// The tail truncated back to the early size, the head rolled back and the
/// checkpoint replaced by the older, validly signed one: the auditor's late
/// state catches the rollback and names the first missing index (the
/// message also gives the saved size).
#[test]
fn truncated_tail_with_older_checkpoint_is_named() {
    let fx = log_fixture();
    let log = TamperedLog::new(|_, trees| {
        roll_back(trees, fx.early_size, fx.late_size);
        trees
            .meta
            .insert("checkpoint", fx.early_note.as_bytes())
            .unwrap();
    });
    let served = any_checkpoint(&log.runtime, &log.server, &fx.pki);
    assert_eq!(served.size, fx.early_size, "the old checkpoint is served");
    let stderr = fail(&log.verify_args(&log.late_state, &[]));
    assert_names(&stderr, fx.early_size);
    assert!(
        stderr.contains(&format!("{} were verified before", fx.late_size)),
        "{stderr}"
    );
    log.stop();
}

/// The tail truncated and the head rolled back, but the newer checkpoint
/// kept: the log serves fewer entries than it signed; a full run names the
/// first missing index.
#[test]
fn truncated_tail_behind_newer_checkpoint_is_named() {
    let fx = log_fixture();
    let log = TamperedLog::new(|_, trees| roll_back(trees, fx.early_size, fx.late_size));
    let served = any_checkpoint(&log.runtime, &log.server, &fx.pki);
    assert_eq!(served.size, fx.late_size, "the newer checkpoint is served");
    let stderr = fail(&log.verify_args(&log.late_state, &["--full"]));
    assert_names(&stderr, fx.early_size);
    assert!(stderr.contains("missing"), "{stderr}");
    log.stop();
}

/// A checkpoint of the real head signed with another Ed25519 key under the
/// same origin: the pinned key refuses it, and the failure names the saved
/// size as the first entry no trusted checkpoint covers.
#[test]
fn checkpoint_signed_with_another_key_is_not_trusted() {
    let fx = log_fixture();
    let log = TamperedLog::new(|_, trees| {
        let (size, root) = trees.head().unwrap();
        let pkcs8 = LogKey::generate_pkcs8().unwrap();
        let key = LogKey::from_pkcs8(DEFAULT_ORIGIN, &pkcs8).unwrap();
        let note = key
            .sign_checkpoint(&Checkpoint {
                origin: DEFAULT_ORIGIN.to_string(),
                size,
                root,
                time: Some(chrono::Utc::now().timestamp()),
            })
            .unwrap();
        trees.meta.insert("checkpoint", note.as_bytes()).unwrap();
    });
    let stderr = fail(&log.verify_args(&log.late_state, &[]));
    assert_names(&stderr, fx.late_size);
    assert!(
        stderr.contains("no checkpoint signed by the pinned key"),
        "{stderr}"
    );
    log.stop();
}

/// The log key itself replaced (and the stored checkpoint dropped), so the
/// server signs a fresh checkpoint with the new key: still not trusted.
#[test]
fn replaced_log_key_is_not_trusted() {
    let fx = log_fixture();
    let log = TamperedLog::new(|_, trees| {
        let pkcs8 = LogKey::generate_pkcs8().unwrap();
        trees.meta.insert("log_key", pkcs8).unwrap();
        trees.meta.remove("checkpoint").unwrap();
    });
    let served = any_checkpoint(&log.runtime, &log.server, &fx.pki);
    assert_eq!(served.size, fx.late_size);
    let pinned = std::fs::read_to_string(&fx.public_key).unwrap();
    assert_ne!(
        served.verifier_key,
        pinned.trim(),
        "the server has a new key"
    );
    let stderr = fail(&log.verify_args(&log.late_state, &[]));
    assert_names(&stderr, fx.late_size);
    assert!(
        stderr.contains("no checkpoint signed by the pinned key"),
        "{stderr}"
    );
    log.stop();
}

// ---------------------------------------------------------------------------
// A whole synthetic run on a running server

/// A running server after intake by three agencies, a full job, a report
/// and a withdrawal.
struct RunFixture {
    runtime: Runtime,
    server: RunningServer,
    pki: PathBuf,
    data: PathBuf,
    secret: LinkageSecret,
    job_id: u64,
    /// victim-support's receipts from `veilink submit --receipts-out`.
    receipts: PathBuf,
    /// Log size once everything was done.
    size: u64,
}

fn run_fixture() -> &'static RunFixture {
    static FIXTURE: OnceLock<RunFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = scratch_dir("run");
        let pki = init_pki(&dir);
        let data = dir.join("synth");
        let config = SynthConfig {
            persons: 8_000,
            seed: 77,
            ..SynthConfig::default()
        };
        generate(&config, &data).expect("synth");
        // A fixed secret, so the scan below sees the same tokens every run.
        let key = dir.join("secret.key");
        std::fs::write(&key, [0x6b; 32]).expect("key file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let secret = LinkageSecret::load(&key).expect("key");
        let runtime = Runtime::new().expect("runtime");
        let server = runtime.block_on(RunningServer::start(ServerConfig::new(
            dir.join("store"),
            &pki,
        )));
        submit_agency(&runtime, &server, &pki, &data, "police", &secret, 200);
        submit_agency(&runtime, &server, &pki, &data, "care", &secret, 50);
        let receipts = dir.join("victim-support.receipts.jsonl");
        let mut args = command(&["submit"], &server.url, &pki, "victim-support");
        args.extend([
            "--key".into(),
            text(&key),
            "--schema".into(),
            text(&data.join("victim-support.schema.toml")),
            "--input".into(),
            text(&data.join("victim-support.csv")),
            "--batch-records".into(),
            "40".into(),
            "--receipts-out".into(),
            text(&receipts),
        ]);
        succeed(&args);
        let job = run_job(&runtime, &server, &pki);

        runtime.block_on(async {
            let analyst = server.channel(&pki, "analyst").await;
            let report = pb::analysis_client::AnalysisClient::new(analyst)
                .repeat_victimisation(pb::ReportRequest {
                    breakdowns: (1..=7).collect(),
                    sensitivity: true,
                    ..Default::default()
                })
                .await
                .expect("report")
                .into_inner();
            assert!(report.cells_released > 0);

            let schema = Schema::load(&data.join("police.schema.toml")).unwrap();
            let encoder = Encoder::new(&secret, &schema);
            let refs = police_record_ids(&data)
                .iter()
                .take(5)
                .map(|id| encoder.record_ref(id).to_vec())
                .collect();
            let police = server.channel(&pki, "police").await;
            let reply = pb::intake_client::IntakeClient::new(police)
                .withdraw(pb::WithdrawRequest { record_refs: refs })
                .await
                .expect("withdraw")
                .into_inner();
            assert_eq!(reply.withdrawn, 5);
        });
        let size = settled_checkpoint(&runtime, &server, &pki).size;
        RunFixture {
            runtime,
            server,
            pki,
            data,
            secret,
            job_id: job.job_id,
            receipts,
            size,
        }
    })
}

fn police_record_ids(data: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(data.join("police.csv")).expect("police.csv");
    reader
        .records()
        .map(|r| r.expect("csv line")[0].to_string())
        .collect()
}

/// What an agency sent that must never reach the log: every 8-byte window
/// of its tokens and Bloom encodings (as big-endian u64) with at least 5
/// non-zero bytes, and its persons' names, dates of birth and BSNs (lower
/// case, at least 4 characters).
#[derive(Default)]
struct Secrets {
    windows: HashSet<u64>,
    tokens: u64,
    blooms: u64,
    /// Words of names and whole identifiers, matched as whole words.
    words: HashSet<String>,
    /// Longer values (at least 7 characters, or with a separator), matched
    /// anywhere inside a text.
    phrases: HashSet<String>,
    /// One surname word and one token, for the scan's positive control.
    sample_word: Option<String>,
    sample_token: Option<[u8; 32]>,
}

impl Secrets {
    fn add_bytes(&mut self, bytes: &[u8]) {
        for window in bytes.windows(8) {
            // Only windows with at least 5 non-zero bytes: sparse Bloom
            // windows (e.g. 40 00 00 00 00 00 00 00) also spell small
            // numbers, times and weights (2.0 is 0x4000000000000000) that
            // every entry holds; a token's windows are all dense.
            if window.iter().filter(|&&b| b != 0).count() >= 5 {
                self.windows
                    .insert(u64::from_be_bytes(window.try_into().unwrap()));
            }
        }
    }

    fn add_text(&mut self, value: &str) {
        let value = value.trim().to_lowercase();
        if value.chars().count() < 4 {
            return;
        }
        if value.chars().count() >= 7 || value.contains(['-', '/', ' ', ',']) {
            self.phrases.insert(value.clone());
        }
        for word in value.split(|c: char| !c.is_alphanumeric()) {
            if word.chars().count() >= 4 {
                self.words.insert(word.to_string());
            }
        }
    }
}

/// Decodes a cell in the schema's text encoding (UTF-8 or Latin-1).
fn decode(bytes: &[u8], latin1: bool) -> String {
    if latin1 {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Re-encodes each agency's CSV with the same secret and collects what it sent.
fn sent_secrets(data: &Path, secret: &LinkageSecret) -> Secrets {
    let mut secrets = Secrets::default();
    for agency in AGENCIES {
        let schema_path = data.join(format!("{agency}.schema.toml"));
        let schema = Schema::load(&schema_path).expect("schema");
        let encoder = Encoder::new(secret, &schema);
        let mut reader =
            RecordReader::open(&encoder, &data.join(format!("{agency}.csv"))).expect("csv");
        let lines = reader.line_encoder().clone();
        while let Some(line) = reader.read_line() {
            let Ok(record) = lines.encode(&line.expect("line")) else {
                continue;
            };
            for token in &record.tokens {
                secrets.sample_token.get_or_insert(token.hash);
                secrets.add_bytes(&token.hash);
                secrets.tokens += 1;
            }
            if let Some(bloom) = &record.bloom {
                secrets.add_bytes(&bloom.0);
                secrets.blooms += 1;
            }
        }

        // Identity cells, read straight from the file.
        let toml: toml::Value =
            toml::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
        let delimiter = toml
            .get("delimiter")
            .and_then(|d| d.as_str())
            .unwrap_or(",")
            .as_bytes()[0];
        let latin1 = toml.get("encoding").and_then(|e| e.as_str()) == Some("latin1");
        let dob_format = toml["fields"]
            .get("date_of_birth")
            .and_then(|d| d.get("format"))
            .and_then(|f| f.as_str())
            .map(str::to_string);
        let columns: BTreeMap<&str, String> = schema
            .columns()
            .into_iter()
            .map(|(field, column)| (field, column.to_string()))
            .collect();
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_path(data.join(format!("{agency}.csv")))
            .expect("csv");
        let header: Vec<String> = csv
            .byte_headers()
            .unwrap()
            .iter()
            .map(|h| decode(h, latin1))
            .collect();
        let at = |field: &str| {
            columns
                .get(field)
                .and_then(|c| header.iter().position(|h| h == c))
        };
        let (given, prefix, surname, birth, nid, dob) = (
            at("given_names"),
            at("surname_prefix"),
            at("surname"),
            at("birth_surname"),
            at("national_id"),
            at("date_of_birth"),
        );
        for line in csv.byte_records() {
            let line = line.expect("csv line");
            let cell = |i: Option<usize>| i.and_then(|i| line.get(i)).map(|b| decode(b, latin1));
            let (g, p, s, b) = (cell(given), cell(prefix), cell(surname), cell(birth));
            for value in [&g, &s, &b].into_iter().flatten() {
                secrets.add_text(value);
            }
            if secrets.sample_word.is_none() {
                let word = s.as_deref().unwrap_or_default().trim().to_lowercase();
                if word.len() >= 5 && word.bytes().all(|b| b.is_ascii_lowercase()) {
                    secrets.sample_word = Some(word);
                }
            }
            if let Some(id) = cell(nid) {
                secrets.add_text(&id);
            }
            let mut birth_date = None;
            if let Some(d) = cell(dob) {
                secrets.add_text(&d);
                secrets.add_text(&d.replace(['-', '/'], ""));
                if let Some(format) = &dob_format
                    && let Ok(date) = chrono::NaiveDate::parse_from_str(d.trim(), format)
                {
                    secrets.add_text(&date.format("%Y%m%d").to_string());
                    secrets.add_text(&date.format("%Y-%m-%d").to_string());
                    birth_date = Some(BirthDate::Full(date));
                }
            }
            // The normalised forms the encoder hashes.
            let raw = RawPerson {
                given_names: g.as_deref(),
                surname_prefix: p.as_deref(),
                surname: s.as_deref(),
                birth_surname: b.as_deref(),
                date_of_birth: birth_date,
                ..RawPerson::default()
            };
            let person = encoder.normalise(&raw);
            for value in person
                .given_name
                .iter()
                .chain(person.surname.iter())
                .chain(person.surname_parts.iter())
            {
                secrets.add_text(value);
            }
        }
    }
    secrets
}

/// What an entry's JSON shows as text: keys, string values other than the
/// hex of byte fields (refs, ids, digests: checked as bytes), and numbers.
fn json_texts(value: &serde_json::Value, strings: &mut Vec<String>, numbers: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => {
            let hex = s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                strings.push(s.to_lowercase());
            }
        }
        serde_json::Value::Number(n) => numbers.push(n.to_string()),
        serde_json::Value::Array(items) => {
            for item in items {
                json_texts(item, strings, numbers);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                strings.push(key.to_lowercase());
                json_texts(item, strings, numbers);
            }
        }
        _ => {}
    }
}

/// Every 8-byte window of `bytes` that is a window of a sent token or Bloom
/// encoding.
fn leaked_windows(bytes: &[u8], secrets: &Secrets) -> Vec<String> {
    bytes
        .windows(8)
        .filter(|w| {
            secrets
                .windows
                .contains(&u64::from_be_bytes((*w).try_into().unwrap()))
        })
        .map(|w| w.iter().map(|b| format!("{b:02x}")).collect())
        .collect()
}

fn hex_decode(run: &str) -> Vec<u8> {
    (0..run.len() / 2)
        .map(|i| u8::from_str_radix(&run[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The leaks of one entry: windows of sent tokens or Bloom encodings in its
/// bytes or in the hex of its JSON, and names, dates of birth or BSNs as a
/// word of its JSON or inside one of its text values.
/// Text values already checked (most repeat across entries) are in `seen`.
fn leaks_of(
    index: u64,
    bytes: &[u8],
    secrets: &Secrets,
    seen: &mut HashSet<String>,
) -> Vec<String> {
    let mut leaks = Vec::new();
    for window in leaked_windows(bytes, secrets) {
        leaks.push(format!("entry {index}: token/Bloom bytes {window}"));
    }
    let Ok(entry) = LogEntry::decode(bytes) else {
        leaks.push(format!("entry {index} does not decode"));
        return leaks;
    };
    let json = entry.to_json();
    for s in json.to_string().split('"') {
        if s.len() >= 16 && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            for window in leaked_windows(&hex_decode(s), secrets) {
                leaks.push(format!("entry {index}: token/Bloom hex {window}"));
            }
        }
    }
    let (mut strings, mut numbers) = (Vec::new(), Vec::new());
    json_texts(&json, &mut strings, &mut numbers);
    for text in strings.iter().chain(&numbers) {
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if secrets.words.contains(word) {
                leaks.push(format!("entry {index}: word {word:?} in {text:?}"));
            }
        }
    }
    for text in strings {
        if !seen.insert(text.clone()) {
            continue;
        }
        for phrase in &secrets.phrases {
            if text.contains(phrase.as_str()) {
                leaks.push(format!("entry {index}: {phrase:?} in {text:?}"));
            }
        }
    }
    leaks
}

/// Over a whole run (intake by three agencies, a full job, a report with
/// every breakdown and the sensitivity table, a withdrawal), no log entry
/// holds any 8-byte window of a token or Bloom encoding an agency sent (as
/// bytes, or as hex in the JSON), nor a name, date of birth or BSN from the
/// agencies' files (as a word of the entry's JSON, or inside a text value).
/// Entries planted with a surname or a token window are caught by the same
/// scan (so the scan can fail).
#[test]
fn no_entry_holds_a_token_bloom_or_name() {
    let fx = run_fixture();
    let secrets = sent_secrets(&fx.data, &fx.secret);
    assert!(secrets.tokens > 5_000 && secrets.blooms > 1_000);
    assert!(secrets.words.len() > 1_000 && !secrets.phrases.is_empty());
    let entries = log_entries(&fx.runtime, &fx.server, &fx.pki, fx.size);
    let mut kinds = BTreeSet::new();
    let mut leaks = Vec::new();
    let mut seen = HashSet::new();
    for (index, bytes) in &entries {
        let entry = LogEntry::decode(bytes).expect("entry decodes");
        kinds.insert(format!(
            "{}:{}",
            entry.kind(),
            entry.job_id().is_some_and(|j| j > 0)
        ));
        leaks.extend(leaks_of(*index, bytes, &secrets, &mut seen));
    }
    assert!(
        leaks.is_empty(),
        "{} leaks: {:#?}",
        leaks.len(),
        &leaks[..leaks.len().min(20)]
    );
    // The scan covered every kind of action of the run.
    for kind in [
        "batch_receipt:false",
        "link_decision:false",
        "link_decision:true",
        "job:true",
        "report_query:false",
        "withdrawal:false",
    ] {
        assert!(kinds.contains(kind), "no {kind} entry among {kinds:?}");
    }

    // Positive controls: the scan finds a planted surname and token window.
    let (word, token) = (
        secrets.sample_word.clone().expect("a surname"),
        secrets.sample_token.expect("a token"),
    );
    let planted_name = LogEntry::ReportQuery(ReportQuery {
        principal: "analyst".into(),
        parameters: format!("{{\"note\":\"about {word}\"}}"),
        cells_released: 0,
        cells_suppressed: 0,
        time: 0,
    });
    let mut batch_id = [0x33; 32];
    batch_id[5..13].copy_from_slice(&token[10..18]);
    let planted_token = LogEntry::BatchReceipt(BatchReceipt {
        agency: "police".into(),
        batch_id,
        digest: [0x44; 32],
        accepted: 1,
        corrected: 0,
        time: 0,
    });
    for planted in [planted_name, planted_token] {
        let bytes = planted.encode().unwrap();
        assert!(
            !leaks_of(0, &bytes, &secrets, &mut HashSet::new()).is_empty(),
            "{planted:?}"
        );
    }
}

/// `audit entries --kind link_decision --job N` lists exactly the job's
/// link decisions (as the log holds them), each with record refs and the
/// rules or weight that joined them in the fields of docs/AUDIT.md;
/// `--agency police` lists exactly the entries that involve police.
#[test]
fn entries_filter_by_kind_job_and_agency() {
    let fx = run_fixture();
    let entries: Vec<(u64, LogEntry)> = log_entries(&fx.runtime, &fx.server, &fx.pki, fx.size)
        .into_iter()
        .map(|(i, b)| (i, LogEntry::decode(&b).expect("decodes")))
        .collect();

    let mut args = command(
        &["audit", "entries", "--format", "json"],
        &fx.server.url,
        &fx.pki,
        "auditor",
    );
    let job = fx.job_id.to_string();
    args.extend([
        "--kind".into(),
        "link_decision".into(),
        "--job".into(),
        job.clone(),
        "--end".into(),
        fx.size.to_string(),
    ]);
    let stdout = succeed(&args);
    let listed: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let expected: Vec<u64> = entries
        .iter()
        .filter(|(_, e)| matches!(e, LogEntry::LinkDecision(d) if d.job_id == fx.job_id))
        .map(|(i, _)| *i)
        .collect();
    assert!(!expected.is_empty(), "the job logged no decisions");
    let indexes: Vec<u64> = listed
        .iter()
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, expected);
    let hex_of = |v: &serde_json::Value, len: usize| {
        v.as_str()
            .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut with_evidence = 0;
    for decision in &listed {
        assert_eq!(decision["kind"], "link_decision", "{decision}");
        assert_eq!(decision["job_id"].as_u64(), Some(fx.job_id), "{decision}");
        assert!(decision["batch_id"].is_null(), "{decision}");
        assert!(
            ["join", "merge", "split", "new"].contains(&decision["decision"].as_str().unwrap()),
            "{decision}"
        );
        assert!(hex_of(&decision["person"], 32), "{decision}");
        assert!(
            decision["others"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| hex_of(o, 32))
        );
        assert_eq!(
            decision["rule_set"],
            format!("v{}", veilink::encode::RULE_SET_VERSION),
            "{decision}"
        );
        let records = decision["records"].as_array().unwrap();
        assert!(!records.is_empty(), "{decision}");
        for record in records {
            assert!(AGENCIES.contains(&record["agency"].as_str().unwrap()));
            assert!(hex_of(&record["record_ref"], 64), "{record}");
        }
        for pair in decision["evidence"].as_array().unwrap() {
            with_evidence += 1;
            for side in ["a", "b"] {
                assert!(hex_of(&pair[side]["record_ref"], 64), "{pair}");
                assert!(pair[side]["agency"].is_string(), "{pair}");
            }
            let rules = pair["rules"].as_array().unwrap();
            assert!(
                rules
                    .iter()
                    .all(|r| (1..=veilink::encode::RULES.len() as u64)
                        .contains(&r.as_u64().unwrap()))
            );
            assert!(pair["dice"].is_null() || pair["dice"].as_u64().unwrap() <= 10_000);
            assert!(pair["weight"].is_null() || pair["weight"].is_f64() || pair["weight"].is_i64());
            assert!(
                !rules.is_empty() || !pair["weight"].is_null(),
                "a pair joined by neither rules nor weight: {pair}"
            );
        }
    }
    assert!(with_evidence > 0, "no decision shows its evidence");

    let mut args = command(
        &["audit", "entries", "--format", "json"],
        &fx.server.url,
        &fx.pki,
        "auditor",
    );
    args.extend([
        "--agency".into(),
        "police".into(),
        "--end".into(),
        fx.size.to_string(),
    ]);
    let stdout = succeed(&args);
    let listed: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let expected: Vec<u64> = entries
        .iter()
        .filter(|(_, e)| e.involves_agency("police"))
        .map(|(i, _)| *i)
        .collect();
    let indexes: Vec<u64> = listed
        .iter()
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, expected);
    let mut kinds = BTreeSet::new();
    for entry in &listed {
        let kind = entry["kind"].as_str().unwrap();
        kinds.insert(kind.to_string());
        let police = match kind {
            "batch_receipt" | "withdrawal" => entry["agency"] == "police",
            "link_decision" => entry["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["agency"] == "police"),
            _ => false,
        };
        assert!(police, "not about police: {entry}");
    }
    for kind in ["batch_receipt", "withdrawal", "link_decision"] {
        assert!(kinds.contains(kind), "no police {kind} listed");
    }
    // Entries of the other agencies exist and were left out.
    assert!(
        entries
            .iter()
            .any(|(_, e)| e.involves_agency("care") && !e.involves_agency("police"))
    );
}

/// `audit verify --receipts FILE` proves every receipt victim-support kept;
/// the same file with one digest altered fails naming that receipt's entry.
#[test]
fn kept_receipts_are_proven_and_an_altered_one_is_named() {
    let fx = run_fixture();
    let kept = std::fs::read_to_string(&fx.receipts).expect("receipts");
    let lines: Vec<&str> = kept.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{} receipts", lines.len());
    let mut args = command(&["audit", "verify"], &fx.server.url, &fx.pki, "auditor");
    args.extend(["--receipts".into(), text(&fx.receipts)]);
    let summary = succeed(&args);
    assert!(
        summary.contains(&format!("{} receipts proven", lines.len())),
        "{summary}"
    );

    let victim = lines.len() / 2;
    let mut receipt: serde_json::Value = serde_json::from_str(lines[victim]).unwrap();
    let index = receipt["audit_index"].as_u64().unwrap();
    let digest = receipt["digest"].as_str().unwrap().to_string();
    let flipped = if digest.starts_with('0') { "1" } else { "0" };
    receipt["digest"] = format!("{flipped}{}", &digest[1..]).into();
    let mut altered: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    altered[victim] = receipt.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("altered.jsonl");
    std::fs::write(&file, altered.join("\n") + "\n").unwrap();
    let mut args = command(&["audit", "verify"], &fx.server.url, &fx.pki, "auditor");
    args.extend(["--receipts".into(), text(&file)]);
    let stderr = fail(&args);
    assert!(
        stderr.contains(&format!("receipt for entry {index}:")),
        "expected receipt {index} to be named: {stderr}"
    );

    // A receipt beyond every checkpoint (no such entry was ever written): the
    // verifier waits a few seconds for a newer checkpoint, then names it.
    let mut beyond: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    beyond["audit_index"] = (1u64 << 40).into();
    std::fs::write(&file, beyond.to_string() + "\n").unwrap();
    let mut args = command(&["audit", "verify"], &fx.server.url, &fx.pki, "auditor");
    args.extend(["--receipts".into(), text(&file)]);
    let stderr = fail(&args);
    assert!(
        stderr.contains(&format!("receipt for entry {}:", 1u64 << 40))
            && stderr.contains("the verified checkpoint covers only"),
        "{stderr}"
    );
}
