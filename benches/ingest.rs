//! End-to-end ingest benchmark (issue 5): three agencies stream pre-encoded
//! synthetic registrations concurrently over mTLS on loopback to a real
//! `veilink serve` process (durable, linked receipts), next to raw sled
//! writing the same keys and values in the same batches with a flush per
//! batch, in the same run. Reports records/s for both, the server's peak
//! RSS (VmHWM from /proc), and where the CPU time went: the benchmark
//! process (raw sled; the three client streams), the server process and its
//! threads by name (user + system time from `/proc/PID/stat` and
//! `/proc/PID/task/TID/stat`, in µs of CPU per record), against the
//! machine's cores × wall time.
//!
//! Not a criterion bench: one run of each is the measurement.
//!
//! ```text
//! cargo bench --bench ingest -- [--persons N] [--error-rate R] [--batch B] [--seed S]
//! ```

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veilink::encode::{Encoder, LineFault, LinkageSecret, RecordReader, Schema};
use veilink::pb::v1 as pb;
use veilink::synth::{SynthConfig, generate};

const BIN: &str = env!("CARGO_BIN_EXE_veilink");
const AGENCIES: [&str; 3] = ["police", "care", "victim-support"];

struct Args {
    persons: u64,
    error_rate: f64,
    batch: usize,
    seed: u64,
}

fn args() -> Args {
    let mut args = Args {
        persons: 200_000,
        error_rate: 0.05,
        batch: 2_000,
        seed: 1,
    };
    let raw: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < raw.len() {
        let value = raw.get(i + 1).cloned().unwrap_or_default();
        match raw[i].as_str() {
            "--persons" => args.persons = value.parse().expect("--persons"),
            "--error-rate" => args.error_rate = value.parse().expect("--error-rate"),
            "--batch" => args.batch = value.parse().expect("--batch"),
            "--seed" => args.seed = value.parse().expect("--seed"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    args
}

/// One batch held in its protobuf encoding (about 600 bytes per record,
/// a quarter of the decoded message), so that 5 million records fit in the
/// benchmark's memory beside the server; decoded just before it is sent.
struct EncodedBatch {
    records: usize,
    bytes: Vec<u8>,
}

impl EncodedBatch {
    fn decode(&self) -> pb::RecordBatch {
        prost::Message::decode(self.bytes.as_slice()).expect("decode batch")
    }
}

/// Every agency's records, encoded, in batches ready to send.
fn prepare(dir: &Path, args: &Args, secret: &LinkageSecret) -> Vec<(String, Vec<EncodedBatch>)> {
    let config = SynthConfig {
        persons: args.persons,
        seed: args.seed,
        error_rate: args.error_rate,
        ..SynthConfig::default()
    };
    generate(&config, dir).expect("synth");
    AGENCIES
        .iter()
        .map(|agency| {
            let schema = Schema::load(&dir.join(format!("{agency}.schema.toml"))).expect("schema");
            let encoder = Encoder::new(secret, &schema);
            let encode = |chunk: &[pb::Record]| EncodedBatch {
                records: chunk.len(),
                bytes: prost::Message::encode_to_vec(&pb::RecordBatch {
                    batch_id: veilink::wire::batch_id(agency, chunk).to_vec(),
                    encoding_fingerprint: encoder.fingerprint().to_vec(),
                    records: chunk.to_vec(),
                }),
            };
            let mut batches = Vec::new();
            let mut chunk = Vec::with_capacity(args.batch);
            for record in
                RecordReader::open(&encoder, &dir.join(format!("{agency}.csv"))).expect("csv")
            {
                let record = match record {
                    Ok(record) => record,
                    // No identifying field: the agency skips it (`submit --on-error skip`).
                    Err(e) if e.fault == LineFault::NothingToLink => continue,
                    Err(e) => panic!("{e}"),
                };
                chunk.push(veilink::wire::record_to_proto(&record));
                if chunk.len() == args.batch {
                    batches.push(encode(&chunk));
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                batches.push(encode(&chunk));
            }
            (agency.to_string(), batches)
        })
        .collect()
}

/// Writes the same keys and values with raw sled: one `Batch` per intake
/// batch, each followed by a durable flush, with the server's default page
/// cache.
fn raw_sled(dir: &Path, work: &[(String, Vec<EncodedBatch>)]) -> (u64, Duration) {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(veilink::store::DEFAULT_CACHE_BYTES)
        .open()
        .expect("sled");
    let records = db.open_tree("records").expect("tree");
    let start = Instant::now();
    let mut count = 0u64;
    std::thread::scope(|scope| {
        for (code, (_, batches)) in work.iter().enumerate() {
            let (records, db) = (records.clone(), db.clone());
            scope.spawn(move || {
                for batch in batches {
                    let batch = batch.decode();
                    let mut writes = sled::Batch::default();
                    for record in &batch.records {
                        let mut key = (code as u16).to_be_bytes().to_vec();
                        key.extend_from_slice(&record.record_ref);
                        // The stored value is about as large as the wire record.
                        writes.insert(key, prost::Message::encode_to_vec(record));
                    }
                    records.apply_batch(writes).expect("apply");
                    db.flush().expect("flush");
                }
            });
            count += batches.iter().map(|b| b.records as u64).sum::<u64>();
        }
    });
    (count, start.elapsed())
}

/// `/proc` reports CPU times in USER_HZ ticks, 100 per second on Linux
/// (`man 5 proc`, `sysconf(_SC_CLK_TCK)`).
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of a process (all its threads) or of one
/// thread, from a `/proc/.../stat` file (fields 14 and 15, `man 5 proc`),
/// with the thread's name (field 2). `None` when the file is gone.
fn cpu_of(stat_path: &str) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    // The name is in parentheses and may hold spaces; fields follow the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / TICKS_PER_SECOND))
}

/// CPU seconds of process `pid` (all threads, also those that ended).
fn process_cpu(pid: &str) -> f64 {
    cpu_of(&format!("/proc/{pid}/stat")).map_or(0.0, |(_, s)| s)
}

/// CPU seconds of the live threads of `pid`, summed per thread name
/// (tokio's workers share one name), largest first.
fn thread_cpu(pid: u32) -> Vec<(String, f64)> {
    let mut by_name: std::collections::BTreeMap<String, f64> = Default::default();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let path = format!("{}/stat", task.path().display());
            if let Some((name, seconds)) = cpu_of(&path) {
                *by_name.entry(name).or_default() += seconds;
            }
        }
    }
    let mut out: Vec<_> = by_name.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("ingest: bench");
        return;
    }
    let args = args();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let secret = LinkageSecret::from_bytes([9; 32]);
    let prepared = Instant::now();
    let work = Arc::new(prepare(&dir.join("synth"), &args, &secret));
    let total: u64 = work
        .iter()
        .flat_map(|(_, b)| b)
        .map(|b| b.records as u64)
        .sum();
    eprintln!(
        "prepared {total} records of {} persons in {:.1}s",
        args.persons,
        prepared.elapsed().as_secs_f64()
    );

    let raw_cpu_before = process_cpu("self");
    let (raw_count, raw_time) = raw_sled(&dir.join("raw-sled"), &work);
    let raw_cpu = process_cpu("self") - raw_cpu_before;
    let raw_rate = raw_count as f64 / raw_time.as_secs_f64();

    let pki = dir.join("pki");
    veilink::pki::init(&pki, &AGENCIES.map(String::from), false).expect("pki");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.join("store"))
        .arg("--pki")
        .arg(&pki)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines.next().expect("server exited").expect("read");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && let Some(a) = v["fields"]["address"].as_str()
        {
            break a.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let url = format!("https://{addr}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server_pid = child.id();
    let server_cpu_before = process_cpu(&server_pid.to_string());
    let threads_before = thread_cpu(server_pid);
    let client_cpu_before = process_cpu("self");
    let started = Instant::now();
    let acknowledged: u64 = runtime.block_on(async {
        let mut tasks = Vec::new();
        for index in 0..work.len() {
            let (work, url, pki) = (work.clone(), url.clone(), pki.clone());
            tasks.push(tokio::spawn(async move {
                let (agency, batches) = &work[index];
                let channel = veilink::client::connect(&url, &pki, agency)
                    .await
                    .expect("connect");
                let mut client = pb::intake_client::IntakeClient::new(channel)
                    .max_encoding_message_size(64 << 20);
                // At most 4 unacknowledged batches: the stream is fed from a
                // bounded channel as receipts come back.
                let (tx, rx) = tokio::sync::mpsc::channel(4);
                let mut stream = client
                    .submit(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
                    .expect("submit")
                    .into_inner();
                let mut sent = 0;
                let mut accepted = 0u64;
                let mut received = 0;
                while sent < batches.len().min(4) {
                    tx.send(batches[sent].decode()).await.expect("send");
                    sent += 1;
                }
                while received < batches.len() {
                    let receipt = match stream.message().await {
                        Ok(Some(receipt)) => receipt,
                        Ok(None) => panic!("{agency}: the server ended the stream early"),
                        Err(status) => panic!("{agency}: batch {received}: {status}"),
                    };
                    accepted += u64::from(receipt.accepted);
                    received += 1;
                    // A closed request side shows up as the status above.
                    if sent < batches.len() && tx.send(batches[sent].decode()).await.is_ok() {
                        sent += 1;
                    }
                }
                accepted
            }));
        }
        let mut sum = 0;
        for task in tasks {
            sum += task.await.expect("task");
        }
        sum
    });
    let elapsed = started.elapsed();
    let client_cpu = process_cpu("self") - client_cpu_before;
    let server_cpu = process_cpu(&server_pid.to_string()) - server_cpu_before;
    let threads: Vec<(String, f64)> = thread_cpu(server_pid)
        .into_iter()
        .map(|(name, after)| {
            let before = threads_before
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0.0, |(_, s)| *s);
            (name, after - before)
        })
        .collect();
    let rate = acknowledged as f64 / elapsed.as_secs_f64();
    let rss = peak_rss_kib(child.id());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    println!(
        "ingest: {acknowledged} records ({} persons, error rate {}, batches of {}), 3 concurrent agency streams",
        args.persons, args.error_rate, args.batch
    );
    println!(
        "  end to end over mTLS (validated, re-keyed, linked, logged, fsynced): {:.2}s, {rate:.0} records/s",
        elapsed.as_secs_f64()
    );
    println!(
        "  raw sled, same keys and values and batches, flush per batch:       {:.2}s, {raw_rate:.0} records/s",
        raw_time.as_secs_f64()
    );
    println!("  end to end / raw sled: {:.0}%", 100.0 * rate / raw_rate);
    println!("  server peak RSS: {:.0} MiB", rss as f64 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_record = |seconds: f64, records: u64| 1e6 * seconds / records.max(1) as f64;
    println!(
        "  CPU, raw sled: {raw_cpu:.2}s = {:.1} µs per record ({:.2} of {cores} cores over its wall time)",
        per_record(raw_cpu, raw_count),
        raw_cpu / raw_time.as_secs_f64()
    );
    println!(
        "  CPU, end to end: server {server_cpu:.2}s = {:.1} µs per record, clients {client_cpu:.2}s = {:.1} µs per record; {:.2} of {cores} cores over its wall time",
        per_record(server_cpu, acknowledged),
        per_record(client_cpu, acknowledged),
        (server_cpu + client_cpu) / elapsed.as_secs_f64()
    );
    for (name, seconds) in threads.iter().filter(|(_, s)| *s >= 0.01) {
        println!(
            "    server thread {name:<16} {seconds:7.2}s = {:5.1} µs per record, busy {:3.0}% of the wall time",
            per_record(*seconds, acknowledged),
            100.0 * seconds / elapsed.as_secs_f64()
        );
    }
}
