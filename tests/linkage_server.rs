//! Linkage through the real server with real TLS: full jobs (start, poll,
//! history, no overlap, roles), periodic jobs, a `kill -9` during a job with
//! the real binary, the linkage map export per role, stable person ids over
//! restarts, jobs, new records and withdrawals, the quarantine guard as the
//! operator sees it, `veilink evaluate` against the library, and a full job
//! after batches and corrections differing only in the persons it reports.
//!
//! The link engine has its own tests (`tests/link_*.rs`); these go through
//! `Intake`, `Linkage` and `Admin` as the agencies and the operator do.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{RunningServer, ServeProcess, TestPki, run_veilink as run, wait_for_job};
use prost::Message;
use tokio::runtime::Runtime;
use tonic::Code;
use tonic::transport::Channel;
use veilink::client::submit::{SubmitOptions, SubmitSummary, submit_file};
use veilink::encode::{Encoder, LinkageSecret, Schema};
use veilink::pb::v1 as pb;
use veilink::synth::{SynthConfig, generate};

const BIN: &str = env!("CARGO_BIN_EXE_veilink");

/// The agencies of the development PKI, in submission order.
const AGENCIES: [&str; 3] = ["police", "care", "victim-support"];

/// A record as the map names it: (agency, record ref).
type RecordId = (String, Vec<u8>);

/// The linkage map: record -> person id.
type LinkageMap = BTreeMap<RecordId, Vec<u8>>;

/// Longest wait for anything the server does on its own.
const DEADLINE: Duration = Duration::from_secs(120);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

// ---------------------------------------------------------------------------
// Hand-built records: exact control over which records share which token.

fn hashed(label: &str) -> Vec<u8> {
    blake3::hash(label.as_bytes()).as_bytes().to_vec()
}

/// The 32-byte ref of hand-built record `name`.
fn record_ref(name: &str) -> Vec<u8> {
    hashed(&format!("ref {name}"))
}

/// A hand-built record `name` whose tokens are (rule, label): records with
/// the same (rule, label) share that token.
fn record(name: &str, tokens: &[(u32, &str)]) -> pb::Record {
    pb::Record {
        record_ref: record_ref(name),
        tokens: tokens
            .iter()
            .map(|(rule, label)| pb::MatchToken {
                rule: *rule,
                hash: hashed(&format!("token {rule} {label}")),
            })
            .collect(),
        bloom: Vec::new(),
        event: Some(pb::Event {
            date: "2019-05-04".into(),
            r#type: pb::EventType::TraffickingSexual as i32,
            role: pb::Role::Victim as i32,
        }),
        attributes: Some(pb::Attributes {
            age_band: pb::AgeBand::AgeBand1822 as i32,
            sex: pb::Sex::Female as i32,
            region: "NL-ZH".into(),
            residence_status: pb::ResidenceStatus::Eu as i32,
        }),
    }
}

fn batch(label: &str, records: Vec<pb::Record>) -> pb::RecordBatch {
    pb::RecordBatch {
        batch_id: hashed(&format!("batch {label}")),
        encoding_fingerprint: vec![7; 32],
        records,
    }
}

/// Submits batches on one stream as `agency`; every batch must be accepted.
async fn submit(
    channel: Channel,
    agency: &str,
    batches: Vec<pb::RecordBatch>,
) -> Vec<pb::BatchReceipt> {
    let expected = batches.len();
    let mut stream = pb::intake_client::IntakeClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .submit(tokio_stream::iter(batches))
        .await
        .unwrap_or_else(|s| panic!("{agency} submit: {s:?}"))
        .into_inner();
    let mut receipts = Vec::new();
    while let Some(receipt) = stream
        .message()
        .await
        .unwrap_or_else(|s| panic!("{agency} submit: {s:?}"))
    {
        receipts.push(receipt);
    }
    assert_eq!(receipts.len(), expected, "{agency}: a receipt is missing");
    receipts
}

// ---------------------------------------------------------------------------
// Synthetic data through the real encoder and the real submit client.

/// A synthetic population with the agencies' shared linkage secret.
struct Synthetic {
    dir: PathBuf,
    secret: LinkageSecret,
    /// The PKI the agencies connect with.
    pki: PathBuf,
}

impl Synthetic {
    fn generate(pki: &TestPki, persons: u64, seed: u64, error_rate: f64) -> Synthetic {
        let dir = pki.dir.path().join("synth");
        let config = SynthConfig {
            persons,
            seed,
            error_rate,
            ..SynthConfig::default()
        };
        generate(&config, &dir).expect("synth");
        let key = pki.dir.path().join("secret.key");
        LinkageSecret::generate_to_file(&key).expect("keygen");
        Synthetic {
            dir,
            secret: LinkageSecret::load(&key).expect("secret"),
            pki: pki.pki(),
        }
    }

    fn key(&self) -> PathBuf {
        self.dir.parent().expect("parent").join("secret.key")
    }

    fn schema(&self, agency: &str) -> PathBuf {
        self.dir.join(format!("{agency}.schema.toml"))
    }

    fn csv(&self, agency: &str) -> PathBuf {
        self.dir.join(format!("{agency}.csv"))
    }

    /// Where the agency keeps its local id -> record ref file.
    fn refs(&self, agency: &str) -> PathBuf {
        self.dir.join(format!("refs-{agency}.csv"))
    }

    fn encoder(&self, agency: &str) -> Encoder {
        let schema = Schema::load(&self.schema(agency)).expect("schema");
        Encoder::new(&self.secret, &schema)
    }

    /// Submits `input` as `agency` with the real client.
    fn submit(
        &self,
        rt: &Runtime,
        server: &RunningServer,
        agency: &str,
        input: &Path,
        batch_records: usize,
        refs_out: Option<PathBuf>,
    ) -> SubmitSummary {
        let options = SubmitOptions {
            batch_records,
            refs_out,
            ..SubmitOptions::default()
        };
        let summary = submit_file(
            rt.handle(),
            &server.url,
            &self.pki,
            agency,
            &self.encoder(agency),
            input,
            &options,
            &mut |_| {},
        )
        .unwrap_or_else(|e| panic!("{agency} submit: {e}"));
        assert_eq!(summary.accepted, summary.records_read, "{agency}");
        summary
    }

    /// Submits an agency's whole file, keeping its refs file.
    fn submit_agency(&self, rt: &Runtime, server: &RunningServer, agency: &str) {
        self.submit(
            rt,
            server,
            agency,
            &self.csv(agency),
            500,
            Some(self.refs(agency)),
        );
    }

    /// The refs of an agency's records, in the order they were submitted.
    fn refs_in_order(&self, agency: &str) -> Vec<Vec<u8>> {
        let mut reader = csv::Reader::from_path(self.refs(agency)).expect("refs file");
        reader
            .records()
            .map(|row| unhex(&row.expect("refs row")[1]))
            .collect()
    }
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// gRPC helpers.

async fn linkage(server: &RunningServer, pki: &Path, who: &str) -> LinkageClient {
    pb::linkage_client::LinkageClient::new(server.channel(pki, who).await)
        .max_decoding_message_size(64 << 20)
}

type LinkageClient = pb::linkage_client::LinkageClient<Channel>;

/// `ExportLinkageMap` as `who` with `filter`.
async fn export(
    server: &RunningServer,
    pki: &Path,
    who: &str,
    filter: Vec<pb::AgencyRecordRef>,
) -> Result<LinkageMap, tonic::Status> {
    export_filtered(server, pki, who, filter, Vec::new()).await
}

/// `ExportLinkageMap` as `who` with a record filter and a person filter.
async fn export_filtered(
    server: &RunningServer,
    pki: &Path,
    who: &str,
    records: Vec<pb::AgencyRecordRef>,
    persons: Vec<Vec<u8>>,
) -> Result<LinkageMap, tonic::Status> {
    let mut stream = linkage(server, pki, who)
        .await
        .export_linkage_map(pb::ExportLinkageMapRequest { records, persons })
        .await?
        .into_inner();
    let mut map = LinkageMap::new();
    while let Some(chunk) = stream.message().await? {
        for entry in chunk.entries {
            let previous = map.insert((entry.agency, entry.record_ref), entry.person_id);
            assert!(previous.is_none(), "a record appears twice in the map");
        }
    }
    Ok(map)
}

/// The operator's full linkage map.
async fn full_map(server: &RunningServer, pki: &Path) -> LinkageMap {
    export(server, pki, "operator", Vec::new())
        .await
        .expect("operator export")
}

async fn status(server: &RunningServer, pki: &Path) -> pb::StatusResponse {
    pb::admin_client::AdminClient::new(server.channel(pki, "operator").await)
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner()
}

fn agency_counts<'a>(status: &'a pb::StatusResponse, agency: &str) -> &'a pb::AgencyCounts {
    status
        .agencies
        .iter()
        .find(|a| a.agency == agency)
        .unwrap_or_else(|| panic!("no counts for {agency}"))
}

/// Runs a full job as the operator and waits for its success.
async fn run_job(server: &RunningServer, pki: &Path) -> pb::Job {
    common::run_job_to_success(server.channel(pki, "operator").await).await
}

// ---------------------------------------------------------------------------
// Partitions.

/// Person id -> its records.
fn persons_of(map: &LinkageMap) -> BTreeMap<Vec<u8>, BTreeSet<RecordId>> {
    let mut persons: BTreeMap<Vec<u8>, BTreeSet<RecordId>> = BTreeMap::new();
    for (record, person) in map {
        persons
            .entry(person.clone())
            .or_default()
            .insert(record.clone());
    }
    persons
}

/// The persons of `after` that are not exactly a person of `before`;
/// asserts that every person that is keeps its id.
fn differing_persons(before: &LinkageMap, after: &LinkageMap) -> usize {
    let before_sets: HashMap<BTreeSet<RecordId>, Vec<u8>> = persons_of(before)
        .into_iter()
        .map(|(id, records)| (records, id))
        .collect();
    let mut differing = 0;
    for (id, records) in persons_of(after) {
        match before_sets.get(&records) {
            Some(old) => assert_eq!(
                hex(old),
                hex(&id),
                "a person whose records did not change got another id"
            ),
            None => differing += 1,
        }
    }
    differing
}

fn rpc_code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match result {
        Ok(response) => panic!("expected an error, got {response:?}"),
        Err(status) => status.code(),
    }
}

// ---------------------------------------------------------------------------
// Jobs.

/// The operator starts a full job (RUNNING at once), polls it to SUCCEEDED
/// with its record and person counts, timings and quality estimate, and finds
/// it in the history; a second job while one runs gets FAILED_PRECONDITION
/// and creates nothing; an unknown job id gets NOT_FOUND; agencies, the
/// analyst and the auditor get PERMISSION_DENIED and start nothing.
#[test]
fn jobs_run_to_success_are_listed_and_never_overlap() {
    let pki = TestPki::new();
    let rt = runtime();
    let server = rt.block_on(RunningServer::start(pki.config()));
    let synth = Synthetic::generate(&pki, 8_000, 21, 0.05);
    for agency in AGENCIES {
        synth.submit_agency(&rt, &server, agency);
    }
    rt.block_on(async {
        let stored = status(&server, &pki.pki()).await;
        let mut op = linkage(&server, &pki.pki(), "operator").await;
        let started = op.run_job(pb::RunJobRequest {}).await.unwrap().into_inner();
        assert_eq!(started.job_id, 1);
        assert_eq!(started.state, pb::JobState::Running as i32);
        assert_eq!(started.trigger, pb::JobTrigger::Manual as i32);
        assert!(started.finished_at.is_none());

        let job = wait_for_job(&mut op, 1).await;
        assert_eq!(job.state, pb::JobState::Succeeded as i32, "{job:?}");
        assert!(job.error.is_empty());
        assert_eq!(job.progress, 1.0);
        assert_eq!(job.records, stored.records);
        assert!(job.records > 1_000, "the population is too small");
        let after = status(&server, &pki.pki()).await;
        assert_eq!(job.persons, after.persons);
        assert!(job.persons > 0 && job.persons < job.records);
        assert!(job.candidate_pairs > 0);
        let (start, end) = (job.started_at.unwrap(), job.finished_at.unwrap());
        assert!((end.seconds, end.nanos) >= (start.seconds, start.nanos));
        for phase in [
            "blocking_and_patterns",
            "em",
            "scoring",
            "clustering",
            "total",
        ] {
            assert!(job.phase_millis.contains_key(phase), "no timing {phase}");
        }
        for estimate in [job.estimated_precision, job.estimated_recall] {
            assert!(estimate > 0.0 && estimate <= 1.0, "{job:?}");
        }
        let listed = op.list_jobs(pb::ListJobsRequest { limit: 0 }).await;
        assert_eq!(listed.unwrap().into_inner().jobs, vec![job.clone()]);
        assert_eq!(after.jobs, 1);
        assert_eq!(after.last_job_state, "succeeded");

        // A second job while one runs is refused. The first may end before
        // the second request arrives: then try again.
        let mut jobs_started = 1u64;
        let mut refused = None;
        for _ in 0..10 {
            let first = op.run_job(pb::RunJobRequest {}).await;
            let first = first.expect("no job is running").into_inner();
            jobs_started += 1;
            match op.run_job(pb::RunJobRequest {}).await {
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    assert!(
                        status.message().contains(&format!("job {}", first.job_id)),
                        "{status:?}"
                    );
                    let done = wait_for_job(&mut op, first.job_id).await;
                    assert_eq!(done.state, pb::JobState::Succeeded as i32);
                    refused = Some(first.job_id);
                    break;
                }
                Ok(second) => {
                    jobs_started += 1;
                    wait_for_job(&mut op, second.into_inner().job_id).await;
                }
            }
        }
        assert!(refused.is_some(), "no second job was ever refused");
        let history = op
            .list_jobs(pb::ListJobsRequest { limit: 0 })
            .await
            .unwrap()
            .into_inner()
            .jobs;
        let ids: Vec<u64> = history.iter().map(|j| j.job_id).collect();
        let expected: Vec<u64> = (1..=jobs_started).rev().collect();
        assert_eq!(ids, expected, "newest first, no job for a refusal");
        assert!(
            history
                .iter()
                .all(|j| j.state == pb::JobState::Succeeded as i32)
        );
        let limited = op.list_jobs(pb::ListJobsRequest { limit: 1 }).await;
        assert_eq!(limited.unwrap().into_inner().jobs, history[..1].to_vec());

        for unknown in [0, jobs_started + 1, 9_999] {
            let code = rpc_code(op.get_job(pb::GetJobRequest { job_id: unknown }).await);
            assert_eq!(code, Code::NotFound, "job {unknown}");
        }

        for who in ["police", "care", "analyst", "auditor"] {
            let mut client = linkage(&server, &pki.pki(), who).await;
            let code = rpc_code(client.run_job(pb::RunJobRequest {}).await);
            assert_eq!(code, Code::PermissionDenied, "{who} RunJob");
            let code = rpc_code(client.get_job(pb::GetJobRequest { job_id: 1 }).await);
            assert_eq!(code, Code::PermissionDenied, "{who} GetJob");
            let code = rpc_code(client.list_jobs(pb::ListJobsRequest { limit: 0 }).await);
            assert_eq!(code, Code::PermissionDenied, "{who} ListJobs");
        }
        assert_eq!(status(&server, &pki.pki()).await.jobs, jobs_started);
    });
    rt.block_on(server.stop());
}

/// With `link_every = 1s` the server runs full jobs on its own, marked
/// periodic and successful; their history survives a restart.
#[test]
fn periodic_jobs_run_on_their_own_and_keep_their_history() {
    let pki = TestPki::new();
    let rt = runtime();
    let mut config = pki.config();
    config.link_every = Some(Duration::from_secs(1));
    let server = rt.block_on(RunningServer::start(config));
    let finished = rt.block_on(async {
        let records = vec![
            record("a1", &[(1, "a"), (2, "a")]),
            record("a2", &[(1, "a"), (2, "a")]),
            record("b1", &[(1, "b")]),
        ];
        submit(
            server.channel(&pki.pki(), "police").await,
            "police",
            vec![batch("periodic", records)],
        )
        .await;
        let mut op = linkage(&server, &pki.pki(), "operator").await;
        let list = pb::ListJobsRequest { limit: 0 };
        // Jobs that may have started before the records arrived.
        let early = op.list_jobs(list).await.unwrap().into_inner().jobs;
        let early = early.first().map_or(0, |j| j.job_id);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let jobs = op.list_jobs(list).await.unwrap().into_inner().jobs;
            for job in &jobs {
                assert_eq!(job.trigger, pb::JobTrigger::Periodic as i32, "{job:?}");
                assert_ne!(job.state, pb::JobState::Failed as i32, "{job:?}");
            }
            let done: Vec<pb::Job> = jobs
                .into_iter()
                .filter(|j| j.job_id > early && j.state == pb::JobState::Succeeded as i32)
                .collect();
            if done.len() >= 2 {
                for job in &done {
                    assert_eq!(job.records, 3, "{job:?}");
                    assert_eq!(job.persons, 2, "{job:?}");
                    assert!(job.finished_at.is_some());
                }
                break done;
            }
            assert!(
                Instant::now() < deadline,
                "fewer than two periodic jobs within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    rt.block_on(server.stop());

    // The history is stored: a server without the schedule lists the same jobs.
    let server = rt.block_on(RunningServer::start(pki.config()));
    rt.block_on(async {
        let listed: HashMap<u64, pb::Job> = linkage(&server, &pki.pki(), "operator")
            .await
            .list_jobs(pb::ListJobsRequest { limit: 0 })
            .await
            .unwrap()
            .into_inner()
            .jobs
            .into_iter()
            .map(|j| (j.job_id, j))
            .collect();
        for job in &finished {
            let stored = listed.get(&job.job_id).expect("a finished job is kept");
            assert_eq!(stored, job, "a finished job reads back exactly");
        }
    });
    rt.block_on(server.stop());
}

/// The job history and the learned model read back after a restart are
/// exactly what was stored: the same job figures and the same model, bit for
/// bit (a model that changes in its last bits over a restart can move a pair
/// across the threshold, so a restart would no longer keep the map).
#[test]
fn job_history_and_model_survive_a_restart_bit_for_bit() {
    let pki = TestPki::new();
    let rt = runtime();
    let server = rt.block_on(RunningServer::start(pki.config()));
    let synth = Synthetic::generate(&pki, 4_000, 26, 0.05);
    for agency in AGENCIES {
        synth.submit_agency(&rt, &server, agency);
    }
    let read = |server: &RunningServer| {
        rt.block_on(async {
            let mut op = linkage(server, &pki.pki(), "operator").await;
            let jobs = op.list_jobs(pb::ListJobsRequest { limit: 0 }).await;
            let model = op.explain_model(pb::ExplainModelRequest {}).await;
            (
                jobs.unwrap().into_inner().jobs,
                model.unwrap().into_inner().json,
            )
        })
    };
    for _ in 0..3 {
        rt.block_on(run_job(&server, &pki.pki()));
    }
    let (jobs, model) = read(&server);
    rt.block_on(server.stop());
    let server = rt.block_on(RunningServer::start(pki.config()));
    let (jobs_again, model_again) = read(&server);
    rt.block_on(server.stop());
    assert_eq!(jobs_again, jobs, "the job history changed over a restart");
    let (model, model_again): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&model).unwrap(),
        serde_json::from_str(&model_again).unwrap(),
    );
    assert_eq!(
        model_again["model"], model["model"],
        "the model changed over a restart"
    );
}

// ---------------------------------------------------------------------------
// kill -9 during a job, with the real binary.

/// `veilink persons --format csv` as the operator, parsed.
fn persons_csv(url: &str, pki: &Path) -> BTreeMap<(String, String), String> {
    let output = run(&[
        "persons",
        "--server",
        url,
        "--pki",
        &pki.display().to_string(),
        "--as",
        "operator",
        "--format",
        "csv",
    ]);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["agency", "record_ref", "person_id"]
    );
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            ((row[0].to_string(), row[1].to_string()), row[2].to_string())
        })
        .collect()
}

/// `veilink jobs --format json` as the operator: the history, newest first.
fn jobs_json(url: &str, pki: &Path) -> Vec<serde_json::Value> {
    let output = run(&[
        "jobs",
        "--server",
        url,
        "--pki",
        &pki.display().to_string(),
        "--as",
        "operator",
        "--format",
        "json",
    ]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Enough records for a full job to take a while: pairs of records share a
/// national id (one person each), and every record shares a weak token with
/// 39 others in two different groupings, so there are many candidate pairs
/// that never link.
fn slow_job_batches() -> Vec<pb::RecordBatch> {
    const RECORDS: usize = 16_000;
    let records: Vec<pb::Record> = (0..RECORDS)
        .map(|i| {
            let person = format!("p{}", i / 2);
            let street = format!("s{}", i / 40);
            let town = format!("t{}", i % (RECORDS / 40));
            record(&format!("r{i}"), &[(1, &person), (9, &street), (12, &town)])
        })
        .collect();
    records
        .chunks(2_000)
        .enumerate()
        .map(|(i, chunk)| batch(&format!("slow {i}"), chunk.to_vec()))
        .collect()
}

/// `kill -9` of the real server while a full job runs: after the restart the
/// job is marked failed as interrupted, the linkage map is exactly the one
/// before the job (same record ref -> person id), and a new job succeeds. A
/// kill that lands after the job ended (or before its start was stored) is
/// detected and tried again.
#[test]
fn kill_9_during_a_job_leaves_the_linkage_map_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let data = tmp.path().join("store");
    run(&["pki", "init", "--dir", &pki.display().to_string()]);
    let rt = runtime();
    let mut server = ServeProcess::start(&data, &pki, "127.0.0.1:0");
    let url = server.url();
    let listen = server.addr.clone();
    rt.block_on(async {
        let channel = veilink::client::connect(&url, &pki, "police")
            .await
            .expect("connect");
        submit(channel, "police", slow_job_batches()).await;
    });
    let mut before = persons_csv(&url, &pki);
    assert_eq!(before.len(), 16_000);
    let pki_arg = pki.display().to_string();
    let link_args = [
        "link", "--server", &url, "--pki", &pki_arg, "--as", "operator",
    ];

    let mut interrupted = None;
    for attempt in 1..=5u64 {
        let newest_before = jobs_json(&url, &pki).len() as u64;
        let mut link = Command::new(BIN)
            .args(link_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn link");
        let job_id = newest_before + 1;
        // Kill as soon as the job is seen running; `veilink link` exits when
        // its job ends, so a job that ended unseen is not waited for.
        let deadline = Instant::now() + DEADLINE;
        let seen_running = loop {
            let jobs = jobs_json(&url, &pki);
            let newest = jobs.first().filter(|j| j["job"] == job_id);
            if newest.is_some_and(|j| j["state"] == "running") {
                break true;
            }
            if link.try_wait().unwrap().is_some() {
                break false;
            }
            assert!(Instant::now() < deadline, "job {job_id} never ran");
            std::thread::sleep(Duration::from_millis(10));
        };
        server.kill();
        let _ = link.wait();
        server = ServeProcess::start(&data, &pki, &listen);
        let jobs = jobs_json(&url, &pki);
        let job = jobs.iter().find(|j| j["job"] == job_id);
        let map = persons_csv(&url, &pki);
        match job.map(|j| (j["state"].as_str().unwrap_or(""), j)) {
            Some(("failed", j)) => {
                let error = j["error"].as_str().unwrap_or("");
                assert!(error.contains("interrupted"), "{j}");
                assert!(seen_running, "a failed job that was never seen running");
                assert_eq!(map, before, "the kill during job {job_id} changed the map");
                interrupted = Some(job_id);
                println!("attempt {attempt}: killed during job {job_id}");
                break;
            }
            Some(("succeeded", _)) => {
                println!("attempt {attempt}: job {job_id} ended before the kill");
                before = map;
            }
            None => {
                println!("attempt {attempt}: killed before job {job_id} was stored");
                assert_eq!(map, before, "a job that never started changed the map");
            }
            Some((state, j)) => panic!("job {job_id} in state {state} after a restart: {j}"),
        }
    }
    let interrupted = interrupted.expect("no kill landed during a job in 5 attempts");

    // A new job then succeeds, and the history keeps the interrupted one.
    let output = run(&[&link_args[..], &["--format", "json"]].concat());
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("link summary");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["records"], 16_000);
    let jobs = jobs_json(&url, &pki);
    assert_eq!(jobs[0]["job"], summary["job"]);
    let old = jobs.iter().find(|j| j["job"] == interrupted).unwrap();
    assert_eq!(old["state"], "failed");
    println!(
        "the job after the restart took {} s",
        summary["seconds"].as_f64().unwrap_or(f64::NAN)
    );
    assert_eq!(persons_csv(&url, &pki).len(), 16_000);
    server.stop();
}

// ---------------------------------------------------------------------------
// Export.

/// An agency's export holds exactly its own entries of the operator's full
/// map; an agency naming other agencies' refs, unknown refs or an unknown
/// agency gets them silently left out, without an error; the operator naming
/// an unknown ref gets NOT_FOUND; the analyst and the auditor are refused.
#[test]
fn agencies_export_only_their_own_refs() {
    let pki = TestPki::new();
    let rt = runtime();
    let server = rt.block_on(RunningServer::start(pki.config()));
    let synth = Synthetic::generate(&pki, 4_000, 22, 0.05);
    for agency in AGENCIES {
        synth.submit_agency(&rt, &server, agency);
    }
    rt.block_on(async {
        let full = full_map(&server, &pki.pki()).await;
        let stored = status(&server, &pki.pki()).await;
        assert_eq!(full.len() as u64, stored.records);
        for agency in AGENCIES {
            let own = export(&server, &pki.pki(), agency, Vec::new())
                .await
                .unwrap();
            let expected: LinkageMap = full
                .iter()
                .filter(|((a, _), _)| a == agency)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(own, expected, "{agency}");
            assert_eq!(own.len() as u64, agency_counts(&stored, agency).records);
        }

        let wanted = |agency: &str, record_ref: Vec<u8>| pb::AgencyRecordRef {
            agency: agency.into(),
            record_ref,
        };
        let police_ref = synth.refs_in_order("police")[0].clone();
        let care_ref = synth.refs_in_order("care")[0].clone();
        let filter = vec![
            wanted("police", police_ref.clone()),
            wanted("care", care_ref.clone()),
            wanted("police", vec![0xab; 32]),
            wanted("nobody", vec![0xcd; 32]),
            wanted("victim-support", care_ref.clone()),
        ];
        let got = export(&server, &pki.pki(), "police", filter.clone())
            .await
            .expect("an agency's filter is never an error");
        let key = ("police".to_string(), police_ref.clone());
        assert_eq!(got.keys().collect::<Vec<_>>(), vec![&key]);
        assert_eq!(got[&key], full[&key]);
        let got = export(
            &server,
            &pki.pki(),
            "victim-support",
            vec![wanted("police", police_ref.clone()), filter[2].clone()],
        )
        .await
        .expect("an agency's filter is never an error");
        assert!(got.is_empty(), "other agencies' refs leaked: {got:?}");

        // The operator: named refs, and NOT_FOUND for one that does not exist.
        let got = export(
            &server,
            &pki.pki(),
            "operator",
            vec![
                wanted("police", police_ref.clone()),
                wanted("care", care_ref.clone()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&key], full[&key]);
        for missing in [
            wanted("police", vec![0xab; 32]),
            wanted("care", police_ref.clone()),
            wanted("nobody", police_ref.clone()),
        ] {
            let result = export(
                &server,
                &pki.pki(),
                "operator",
                vec![wanted("police", police_ref.clone()), missing],
            )
            .await;
            assert_eq!(result.unwrap_err().code(), Code::NotFound);
        }
        for who in ["analyst", "auditor"] {
            let result = export(&server, &pki.pki(), who, Vec::new()).await;
            assert_eq!(result.unwrap_err().code(), Code::PermissionDenied, "{who}");
        }
    });
    rt.block_on(server.stop());
}

/// A person-id filter: the operator gets exactly that person's records
/// (NOT_FOUND for an id that does not exist); an agency gets only its own
/// records of the person, and the same empty answer for an id that does not
/// exist as for a person without records of its own; an id that is not 16
/// bytes is INVALID_ARGUMENT naming the field; with a record filter too, the
/// answer is the union, each record once.
#[test]
fn person_filters_show_an_agency_only_its_own_records_of_a_person() {
    let pki = TestPki::new();
    let rt = runtime();
    let server = rt.block_on(RunningServer::start(pki.config()));
    // Before any agency submitted: a malformed id is still refused, a
    // well-formed one is an empty answer for an agency.
    rt.block_on(async {
        let status = export_filtered(&server, &pki.pki(), "police", vec![], vec![vec![1u8; 17]])
            .await
            .expect_err("17-byte person id");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let got = export_filtered(&server, &pki.pki(), "police", vec![], vec![vec![1u8; 16]])
            .await
            .expect("an agency without records");
        assert!(got.is_empty());
    });
    let synth = Synthetic::generate(&pki, 4_000, 23, 0.05);
    for agency in AGENCIES {
        synth.submit_agency(&rt, &server, agency);
    }
    rt.block_on(async {
        let full = full_map(&server, &pki.pki()).await;
        let persons = persons_of(&full);
        // A person registered at police and at another agency, and a person
        // with no police record.
        let agencies_of = |records: &BTreeSet<RecordId>| -> BTreeSet<String> {
            records.iter().map(|(a, _)| a.clone()).collect()
        };
        let (shared, shared_records) = persons
            .iter()
            .find(|(_, r)| agencies_of(r).len() >= 2 && agencies_of(r).contains("police"))
            .expect("a person known to police and another agency");
        let (elsewhere, _) = persons
            .iter()
            .find(|(_, r)| !agencies_of(r).contains("police"))
            .expect("a person police does not know");
        let entries = |records: &BTreeSet<RecordId>, agency: Option<&str>| -> LinkageMap {
            records
                .iter()
                .filter(|(a, _)| agency.is_none_or(|agency| a == agency))
                .map(|k| (k.clone(), full[k].clone()))
                .collect()
        };

        let got = export_filtered(
            &server,
            &pki.pki(),
            "operator",
            vec![],
            vec![shared.clone()],
        )
        .await
        .expect("operator, existing person");
        assert_eq!(got, entries(shared_records, None));
        let got = export_filtered(&server, &pki.pki(), "police", vec![], vec![shared.clone()])
            .await
            .expect("police, shared person");
        assert_eq!(got, entries(shared_records, Some("police")));
        assert!(
            got.len() < shared_records.len(),
            "other agencies' records leaked"
        );

        // Unknown and foreign: NOT_FOUND to the operator, nothing to police.
        let unknown = vec![0x77u8; 16];
        assert!(!persons.contains_key(&unknown));
        let result = export_filtered(
            &server,
            &pki.pki(),
            "operator",
            vec![],
            vec![shared.clone(), unknown.clone()],
        )
        .await;
        let status = result.expect_err("unknown person id");
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(status.message().contains("persons[1]"), "{status:?}");
        for asked in [vec![unknown.clone()], vec![elsewhere.clone()]] {
            let got = export_filtered(&server, &pki.pki(), "police", vec![], asked)
                .await
                .expect("an agency's person filter is never NOT_FOUND");
            assert!(got.is_empty(), "{got:?}");
        }

        // A malformed id names its field, for everyone, also behind an id
        // that does not exist; too many ids are refused as well.
        for who in ["operator", "police"] {
            let asked = vec![unknown.clone(), vec![1u8; 15]];
            let status = export_filtered(&server, &pki.pki(), who, vec![], asked)
                .await
                .expect_err("15-byte person id");
            assert_eq!(status.code(), Code::InvalidArgument, "{who}: {status:?}");
            assert!(status.message().contains("persons[1]"), "{who}: {status:?}");
            let asked = vec![unknown.clone(); 10_001];
            let status = export_filtered(&server, &pki.pki(), who, vec![], asked)
                .await
                .expect_err("too many person ids");
            assert_eq!(status.code(), Code::InvalidArgument, "{who}: {status:?}");
        }
        // The same id twice: its records once.
        let got = export_filtered(
            &server,
            &pki.pki(),
            "operator",
            vec![],
            vec![shared.clone(), shared.clone()],
        )
        .await
        .expect("a repeated person id");
        assert_eq!(got, entries(shared_records, None));

        // Both filters: the union, each record once (one of the person's
        // own records is named by ref as well).
        let (agency, record_ref) = shared_records
            .iter()
            .find(|(a, _)| a == "police")
            .expect("a police record")
            .clone();
        let other_ref = synth
            .refs_in_order("police")
            .into_iter()
            .find(|r| !shared_records.contains(&("police".to_string(), r.clone())))
            .expect("another police record");
        let by_ref = |record_ref: Vec<u8>| pb::AgencyRecordRef {
            agency: "police".into(),
            record_ref,
        };
        let got = export_filtered(
            &server,
            &pki.pki(),
            "operator",
            vec![by_ref(record_ref.clone()), by_ref(other_ref.clone())],
            vec![shared.clone()],
        )
        .await
        .expect("both filters");
        let mut expected = entries(shared_records, None);
        let other = (agency, other_ref);
        expected.insert(other.clone(), full[&other].clone());
        assert_eq!(got, expected);

        // The same through `veilink persons --person`.
        let url = server.url.clone();
        let pki_dir = pki.pki().display().to_string();
        let cli = |who: &str, person: &str| {
            Command::new(env!("CARGO_BIN_EXE_veilink"))
                .args(["persons", "--server", &url, "--pki", &pki_dir, "--as", who])
                .args(["--format", "csv", "--person", person])
                .output()
                .expect("run veilink")
        };
        let output = cli("police", &hex(shared));
        assert!(output.status.success(), "{output:?}");
        let rows: Vec<(String, String, String)> =
            csv::Reader::from_reader(output.stdout.as_slice())
                .records()
                .map(|row| {
                    let row = row.expect("csv row");
                    (row[0].to_string(), row[1].to_string(), row[2].to_string())
                })
                .collect();
        // One agency's records: the whole map's order is the refs' order.
        let expected: Vec<(String, String, String)> = entries(shared_records, Some("police"))
            .into_iter()
            .map(|((a, r), p)| (a, hex(&r), hex(&p)))
            .collect();
        assert_eq!(rows, expected);
        let output = cli("operator", &hex(&unknown));
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("persons[0]: no person with that id"),
            "{stderr}"
        );
        for bad in ["not-a-person-id".to_string(), "+f".repeat(16)] {
            let output = cli("operator", &bad);
            assert_eq!(output.status.code(), Some(2), "{output:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(&format!("--person {bad:?}")), "{stderr}");
        }
    });
    rt.block_on(server.stop());
}

// ---------------------------------------------------------------------------
// Stable person ids.

/// Person ids through the server: the same map after a restart; a full job
/// changes ids only of persons whose records changed, and a second job on
/// unchanged data gives the same map; new records leave every existing
/// person together under one of its old ids (its own when nothing merged
/// into it); withdrawing them again leaves every remaining person's id with
/// the part holding its oldest record.
#[test]
fn person_ids_are_stable_over_restarts_jobs_new_records_and_withdrawals() {
    let pki = TestPki::new();
    let rt = runtime();
    let mut server = rt.block_on(RunningServer::start(pki.config()));
    let synth = Synthetic::generate(&pki, 6_000, 23, 0.05);
    for agency in ["police", "care"] {
        synth.submit_agency(&rt, &server, agency);
    }
    let restart = |server: RunningServer| {
        rt.block_on(server.stop());
        rt.block_on(RunningServer::start(pki.config()))
    };

    let incremental = rt.block_on(full_map(&server, &pki.pki()));
    server = restart(server);
    assert_eq!(
        rt.block_on(full_map(&server, &pki.pki())),
        incremental,
        "restart"
    );

    let job = rt.block_on(run_job(&server, &pki.pki()));
    let linked = rt.block_on(full_map(&server, &pki.pki()));
    assert_eq!(linked.len(), incremental.len());
    assert_eq!(
        differing_persons(&incremental, &linked) as u64,
        job.persons_differing
    );
    let again = rt.block_on(run_job(&server, &pki.pki()));
    assert_eq!(again.persons_differing, 0, "{again:?}");
    assert_eq!(
        rt.block_on(full_map(&server, &pki.pki())),
        linked,
        "a job on unchanged data"
    );
    server = restart(server);
    assert_eq!(
        rt.block_on(full_map(&server, &pki.pki())),
        linked,
        "restart after jobs"
    );

    // New records: every existing person stays together under one of the
    // old ids of the persons it now holds; its own unless others merged in.
    synth.submit_agency(&rt, &server, "victim-support");
    let grown = rt.block_on(full_map(&server, &pki.pki()));
    let old_ids: BTreeSet<&Vec<u8>> = linked.values().collect();
    let grown_persons = persons_of(&grown);
    let mut joined = 0;
    for (id, records) in persons_of(&linked) {
        let now: BTreeSet<&Vec<u8>> = records.iter().map(|r| &grown[r]).collect();
        assert_eq!(now.len(), 1, "new records split a person");
        let now = now.into_iter().next().unwrap();
        let holds_old: BTreeSet<&Vec<u8>> = grown_persons[now]
            .iter()
            .filter_map(|r| linked.get(r))
            .collect();
        assert!(old_ids.contains(now), "an existing person got a fresh id");
        assert!(holds_old.contains(now), "a person took a stranger's id");
        if holds_old.len() == 1 {
            assert_eq!(hex(now), hex(&id), "a person that only grew lost its id");
        }
        if grown_persons[now].len() > records.len() {
            joined += 1;
        }
    }
    assert!(joined > 0, "no new record joined an existing person");

    // Withdrawal: the part of each person holding its oldest remaining record
    // (records are numbered in submission order) keeps the id.
    let quarantined = rt.block_on(status(&server, &pki.pki())).quarantined;
    assert!(
        quarantined.is_empty(),
        "premise: no quarantined key can be released"
    );
    let order: HashMap<RecordId, usize> = ["police", "care"]
        .iter()
        .flat_map(|a| {
            synth
                .refs_in_order(a)
                .into_iter()
                .map(|r| (a.to_string(), r))
        })
        .enumerate()
        .map(|(i, r)| (r, i))
        .collect();
    let vs_refs = synth.refs_in_order("victim-support");
    let reply = rt.block_on(async {
        pb::intake_client::IntakeClient::new(server.channel(&pki.pki(), "victim-support").await)
            .withdraw(pb::WithdrawRequest {
                record_refs: vs_refs.clone(),
            })
            .await
            .expect("withdraw")
            .into_inner()
    });
    assert_eq!(reply.withdrawn as usize, vs_refs.len());
    let shrunk = rt.block_on(full_map(&server, &pki.pki()));
    assert_eq!(shrunk.len(), linked.len());
    for (id, records) in grown_persons {
        let oldest = records
            .iter()
            .filter(|r| order.contains_key(*r))
            .min_by_key(|r| order[*r]);
        if let Some(oldest) = oldest {
            assert_eq!(
                hex(&shrunk[oldest]),
                hex(&id),
                "the oldest part lost its id"
            );
        }
    }
    rt.block_on(server.stop());
}

/// Withdrawn records leave the map and the counts: a person keeps its id
/// when one of its records goes, a person whose bridging record goes splits
/// and the part with the oldest record keeps the id, a person made only of
/// withdrawn records is gone, and untouched persons keep theirs.
#[test]
fn withdrawn_records_leave_the_map_counts_and_persons() {
    let pki = TestPki::new();
    let rt = runtime();
    let server = rt.block_on(RunningServer::start(pki.config()));
    rt.block_on(async {
        let send = |agency: &'static str, records: Vec<pb::Record>| {
            let (server, pki) = (&server, pki.pki());
            async move {
                let channel = server.channel(&pki, agency).await;
                submit(channel, agency, vec![batch(agency, records)]).await;
            }
        };
        // x: two records; y: y1 -(national id)- y2 -(two strong rules)- y3;
        // z: only care records; w: untouched.
        send(
            "police",
            vec![
                record("x1", &[(1, "x"), (2, "x")]),
                record("y1", &[(1, "y")]),
                record("w1", &[(1, "w"), (2, "w")]),
            ],
        )
        .await;
        send(
            "care",
            vec![
                record("x2", &[(1, "x"), (2, "x")]),
                record("y2", &[(1, "y"), (2, "y"), (3, "y")]),
                record("z1", &[(1, "z"), (2, "z")]),
                record("z2", &[(1, "z"), (2, "z")]),
            ],
        )
        .await;
        send(
            "victim-support",
            vec![
                record("y3", &[(2, "y"), (3, "y")]),
                record("w2", &[(1, "w"), (2, "w")]),
            ],
        )
        .await;
        let key = |agency: &str, name: &str| (agency.to_string(), record_ref(name));
        let before = full_map(&server, &pki.pki()).await;
        let person = |map: &LinkageMap, agency: &str, name: &str| map[&key(agency, name)].clone();
        let groups: BTreeSet<BTreeSet<RecordId>> = persons_of(&before).into_values().collect();
        let expected: BTreeSet<BTreeSet<RecordId>> = [
            vec![key("police", "x1"), key("care", "x2")],
            vec![
                key("police", "y1"),
                key("care", "y2"),
                key("victim-support", "y3"),
            ],
            vec![key("care", "z1"), key("care", "z2")],
            vec![key("police", "w1"), key("victim-support", "w2")],
        ]
        .into_iter()
        .map(|v| v.into_iter().collect())
        .collect();
        assert_eq!(groups, expected, "premise: the hand-built persons");
        let counts = status(&server, &pki.pki()).await;
        assert_eq!((counts.records, counts.persons), (9, 4));

        let reply = pb::intake_client::IntakeClient::new(server.channel(&pki.pki(), "care").await)
            .withdraw(pb::WithdrawRequest {
                record_refs: ["x2", "y2", "z1", "z2"].map(record_ref).to_vec(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((reply.withdrawn, reply.not_found), (4, 0));

        let after = full_map(&server, &pki.pki()).await;
        let remaining: BTreeSet<RecordId> = after.keys().cloned().collect();
        let expected: BTreeSet<RecordId> = [
            key("police", "x1"),
            key("police", "y1"),
            key("police", "w1"),
            key("victim-support", "y3"),
            key("victim-support", "w2"),
        ]
        .into();
        assert_eq!(remaining, expected);
        for (agency, name) in [
            ("police", "x1"),
            ("police", "y1"),
            ("police", "w1"),
            ("victim-support", "w2"),
        ] {
            assert_eq!(
                person(&after, agency, name),
                person(&before, agency, name),
                "{name} lost its person id"
            );
        }
        let split_off = person(&after, "victim-support", "y3");
        assert_ne!(split_off, person(&after, "police", "y1"), "y1 and y3 split");
        assert!(
            !before.values().any(|id| *id == split_off),
            "the split-off part must get a fresh id"
        );
        let z = person(&before, "care", "z1");
        assert!(!after.values().any(|id| *id == z), "person z is gone");

        let counts = status(&server, &pki.pki()).await;
        assert_eq!(counts.records, 5);
        assert_eq!(agency_counts(&counts, "care").records, 0);
        assert_eq!(agency_counts(&counts, "care").withdrawn, 4);
        assert_eq!(agency_counts(&counts, "police").records, 3);
        assert_eq!(counts.persons, persons_of(&after).len() as u64);
        assert_eq!(counts.persons, 4, "x, y, the split-off y3, w");
        let care = export(&server, &pki.pki(), "care", Vec::new()).await;
        assert!(care.unwrap().is_empty());
    });
    rt.block_on(server.stop());
}

// ---------------------------------------------------------------------------
// Guards.

/// Seven records share one national-id token: with `quarantine_limit = 5`
/// `Admin.Status` lists the key as (rule 1, 7 records) without the token
/// (neither as sent nor as re-keyed), and the records are not linked through
/// it (a pair that shares two strong rules still links); a server with the
/// default limit joins all seven into one person, the false merge prevented.
#[test]
fn quarantined_keys_are_listed_without_tokens_and_join_nothing() {
    let records: Vec<pb::Record> = (1..=7)
        .map(|i| {
            let own = format!("q{i}");
            let mut tokens = vec![(1, "placeholder"), (7, own.as_str())];
            if i <= 2 {
                tokens.extend([(2, "q12"), (3, "q12")]);
            }
            record(&own, &tokens)
        })
        .collect();
    let run = |limit: Option<u32>| {
        let pki = TestPki::new();
        let rt = runtime();
        let mut config = pki.config();
        if let Some(limit) = limit {
            config.linkage.quarantine_limit = limit;
        }
        let server = rt.block_on(RunningServer::start(config));
        let (map, stored, explained) = rt.block_on(async {
            let channel = server.channel(&pki.pki(), "police").await;
            submit(channel, "police", vec![batch("q", records.clone())]).await;
            let explained = linkage(&server, &pki.pki(), "operator")
                .await
                .explain_model(pb::ExplainModelRequest {})
                .await
                .unwrap()
                .into_inner()
                .json;
            (
                full_map(&server, &pki.pki()).await,
                status(&server, &pki.pki()).await,
                explained,
            )
        });
        rt.block_on(server.stop());
        let store = veilink::store::Store::open(&pki.data()).expect("store");
        let rekey = veilink::server::validate::rekey_hasher(&store.server_secret().unwrap());
        let raw: [u8; 32] = records[0].tokens[0].hash.clone().try_into().unwrap();
        let rekeyed = veilink::server::validate::rekey_token(&rekey, 1, &raw);
        (map, stored, explained, [raw, rekeyed])
    };

    let (map, stored, explained, tokens) = run(Some(5));
    assert_eq!(
        stored.quarantined,
        vec![pb::QuarantinedKey {
            rule: 1,
            records: 7
        }]
    );
    let status_bytes = stored.encode_to_vec();
    for token in tokens {
        let text = hex(&token);
        assert!(
            !status_bytes.windows(7).any(|w| w == &token[..7]),
            "Status holds a token"
        );
        assert!(!explained.contains(&text), "ExplainModel holds a token");
        assert!(!explained.contains(&text.to_uppercase()));
    }
    let persons: BTreeSet<BTreeSet<RecordId>> = persons_of(&map).into_values().collect();
    assert_eq!(
        persons.len(),
        6,
        "only q1 and q2 are one person: {persons:?}"
    );
    assert!(
        persons.contains(
            &[
                ("police".to_string(), record_ref("q1")),
                ("police".to_string(), record_ref("q2"))
            ]
            .into()
        )
    );
    assert_eq!(stored.persons, 6);

    let (map, stored, _, _) = run(None);
    assert!(stored.quarantined.is_empty());
    assert_eq!(
        persons_of(&map).len(),
        1,
        "without the guard the placeholder joins all seven"
    );
}

// ---------------------------------------------------------------------------
// Evaluation.

/// `veilink evaluate` over the map from `veilink persons --format csv` and
/// the refs from `veilink submit --refs-out` prints pairwise precision,
/// recall and F1; at error rate 0 F1 is at least 0.99, and every figure
/// equals what `veilink::link::evaluate::evaluate` computes on the same files.
#[test]
fn evaluate_cli_agrees_with_the_library() {
    let pki = TestPki::new();
    let rt = runtime();
    let server = rt.block_on(RunningServer::start(pki.config()));
    let synth = Synthetic::generate(&pki, 8_000, 24, 0.0);
    let pki_arg = pki.pki().display().to_string();
    let connect = |who: &str| -> Vec<String> {
        ["--server", &server.url, "--pki", &pki_arg, "--as", who]
            .map(String::from)
            .to_vec()
    };
    let path = |p: PathBuf| p.display().to_string();
    for agency in AGENCIES {
        let mut args = vec!["submit".to_string()];
        args.extend(connect(agency));
        args.extend([
            "--key".into(),
            path(synth.key()),
            "--schema".into(),
            path(synth.schema(agency)),
            "--input".into(),
            path(synth.csv(agency)),
            "--refs-out".into(),
            path(synth.refs(agency)),
        ]);
        run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let mut link = vec!["link".to_string()];
    link.extend(connect("operator"));
    run(&link.iter().map(String::as_str).collect::<Vec<_>>());
    let mut persons = vec!["persons".to_string()];
    persons.extend(connect("operator"));
    persons.extend(["--format".into(), "csv".into()]);
    let map_file = synth.dir.join("map.csv");
    let output = run(&persons.iter().map(String::as_str).collect::<Vec<_>>());
    std::fs::write(&map_file, &output.stdout).unwrap();

    let truth_file = synth.dir.join("truth.csv");
    let mut evaluate = vec![
        "evaluate".to_string(),
        "--truth".into(),
        path(truth_file.clone()),
        "--map".into(),
        path(map_file.clone()),
        "--format".into(),
        "csv".into(),
    ];
    for agency in AGENCIES {
        evaluate.extend([
            "--refs".into(),
            format!("{agency}={}", synth.refs(agency).display()),
        ]);
    }
    let output = run(&evaluate.iter().map(String::as_str).collect::<Vec<_>>());
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let printed: HashMap<String, String> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    println!("veilink evaluate: {printed:?}");

    // The same join in the test: truth and map by (agency, local id).
    let mut local_of: HashMap<(String, String), String> = HashMap::new();
    for agency in AGENCIES {
        let mut reader = csv::Reader::from_path(synth.refs(agency)).unwrap();
        for row in reader.records() {
            let row = row.unwrap();
            local_of.insert((agency.to_string(), row[1].to_string()), row[0].to_string());
        }
    }
    let mut map: HashMap<(String, String), String> = HashMap::new();
    for row in csv::Reader::from_path(&map_file).unwrap().records() {
        let row = row.unwrap();
        let local = &local_of[&(row[0].to_string(), row[1].to_string())];
        map.insert((row[0].to_string(), local.clone()), row[2].to_string());
    }
    let truth: HashMap<(String, String), String> = csv::Reader::from_path(&truth_file)
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            ((r[0].to_string(), r[1].to_string()), r[2].to_string())
        })
        .collect();
    let library = veilink::link::evaluate::evaluate(&truth, &map);
    assert_eq!(library.missing_from_map, 0, "every true record is linked");
    assert_eq!(printed["truth records not in the map"], "0");
    assert_eq!(printed["map refs without a local id"], "0");
    for (measure, value) in [
        ("precision", library.precision),
        ("recall", library.recall),
        ("f1", library.f1),
        ("entities reconstructed exactly", library.exact_share),
    ] {
        assert_eq!(printed[measure], format!("{value:.4}"), "{measure}");
    }
    for (measure, value) in [
        ("records evaluated", library.records as u64),
        ("true pairs", library.true_pairs),
        ("linked pairs", library.linked_pairs),
        ("correct pairs", library.correct_pairs),
        ("persons", library.persons as u64),
    ] {
        assert_eq!(printed[measure], value.to_string(), "{measure}");
    }
    let f1: f64 = printed["f1"].parse().unwrap();
    println!(
        "error rate 0, {} records: precision {:.4} recall {:.4} F1 {f1:.4}",
        library.records, library.precision, library.recall
    );
    assert!(f1 >= 0.99, "pairwise F1 {f1} < 0.99 at error rate 0");
    rt.block_on(server.stop());
}

// ---------------------------------------------------------------------------
// Incremental against full.

/// After submissions in many batches and corrections (refs re-sent with a
/// changed surname), a full job reports `persons_differing`, and the maps
/// before and after it differ in exactly that many persons: every other
/// person has the same records under the same id.
#[test]
fn a_full_job_differs_from_incremental_linkage_only_in_the_persons_it_reports() {
    let pki = TestPki::new();
    let rt = runtime();
    let server = rt.block_on(RunningServer::start(pki.config()));
    let synth = Synthetic::generate(&pki, 6_000, 25, 0.05);
    for agency in AGENCIES {
        let summary = synth.submit(&rt, &server, agency, &synth.csv(agency), 50, None);
        assert!(summary.batches >= 2, "{agency}: {summary:?}");
    }

    // Corrections: every 40th police registration again, with another surname.
    let mut reader = csv::Reader::from_path(synth.csv("police")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let surname = headers.iter().position(|h| h == "achternaam").unwrap();
    let corrections = synth.dir.join("police-corrections.csv");
    let mut writer = csv::Writer::from_path(&corrections).unwrap();
    writer.write_record(&headers).unwrap();
    let mut corrected = 0;
    for (i, row) in reader.records().enumerate() {
        let row = row.unwrap();
        if i % 40 != 0 {
            continue;
        }
        let changed: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == surname {
                    format!("{cell}sma")
                } else {
                    cell.to_string()
                }
            })
            .collect();
        writer.write_record(&changed).unwrap();
        corrected += 1;
    }
    writer.flush().unwrap();
    drop(writer);
    let summary = synth.submit(&rt, &server, "police", &corrections, 20, None);
    assert_eq!(summary.corrected, corrected, "{summary:?}");

    rt.block_on(async {
        let stored = status(&server, &pki.pki()).await;
        let before = full_map(&server, &pki.pki()).await;
        assert_eq!(
            before.len() as u64,
            stored.records,
            "corrections added records"
        );
        let job = run_job(&server, &pki.pki()).await;
        assert_eq!(job.records, stored.records);
        let after = full_map(&server, &pki.pki()).await;
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>()
        );
        let differing = differing_persons(&before, &after);
        println!(
            "{} records, {} persons before, {} after, {} differing",
            job.records,
            persons_of(&before).len(),
            job.persons,
            job.persons_differing
        );
        assert_eq!(differing as u64, job.persons_differing);
        assert_eq!(persons_of(&after).len() as u64, job.persons);
    });
    rt.block_on(server.stop());
}
