//! Crash safety with the real binaries: the `veilink serve` process is killed
//! with SIGKILL at several points while a `veilink submit` streams a large
//! submission; after restarts and a re-run of the submit, every record is
//! stored exactly once and every receipt handed out before a kill is still
//! valid (same receipt on replay, included in the transparency log), and the
//! transparency log after each restart extends every checkpoint an auditor
//! verified before the kill.

mod common;

use common::{ServeProcess, run_veilink as run};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_veilink");

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn submit_args<'a>(url: &'a str, dir: &'a Path, receipts: &'a Path) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    vec![
        "submit".into(),
        "--server".into(),
        url.into(),
        "--pki".into(),
        path(&dir.join("pki")),
        "--as".into(),
        "police".into(),
        "--key".into(),
        path(&dir.join("secret.key")),
        "--schema".into(),
        path(&dir.join("data/police.schema.toml")),
        "--input".into(),
        path(&dir.join("data/police.csv")),
        "--batch-records".into(),
        "50".into(),
        "--receipts-out".into(),
        path(receipts),
        "--format".into(),
        "json".into(),
    ]
}

fn csv_records(path: &Path) -> u64 {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b',')
        .from_path(path)
        .expect("csv");
    reader.byte_records().count() as u64
}

/// `audit verify` with a saved state: the log must extend the checkpoint
/// the auditor verified last time (consistency proof), and verify.
fn audit_verify(url: &str, pki: &Path, state: &Path) {
    let output = run(&[
        "audit",
        "verify",
        "--server",
        url,
        "--pki",
        &pki.display().to_string(),
        "--as",
        "auditor",
        "--state",
        &state.display().to_string(),
    ]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("verified"));
}

fn police_records(url: &str, pki: &Path) -> u64 {
    let output = run(&[
        "status",
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
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["item"] == "agency police records")
        .and_then(|v| v["value"].as_u64())
        .expect("police records in status")
}

/// Kills the server three times during a submission; the re-run completes
/// it with every record stored once and every earlier receipt still valid.
#[test]
fn acknowledged_batches_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = dir.join("pki");
    let data = dir.join("store");
    run(&["pki", "init", "--dir", &pki.display().to_string()]);
    run(&[
        "keygen",
        "--out",
        &dir.join("secret.key").display().to_string(),
    ]);
    run(&[
        "synth",
        "--persons",
        "25000",
        "--seed",
        "5",
        "--out",
        &dir.join("data").display().to_string(),
    ]);
    let expected = csv_records(&dir.join("data/police.csv"));
    assert!(
        expected > 1_000,
        "the submission should be large ({expected})"
    );

    let first_receipts: PathBuf = dir.join("receipts-1.jsonl");
    let state = dir.join("auditor-state.json");
    let server = ServeProcess::start(&data, &pki, "127.0.0.1:0");
    let url = server.url();
    let listen = server.addr.clone();
    let mut submit = Command::new(BIN)
        .args(submit_args(&url, dir, &first_receipts))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut server = Some(server);
    for kill_after in [5usize, 20, 45] {
        let deadline = Instant::now() + Duration::from_secs(120);
        while lines(&first_receipts).len() < kill_after {
            if submit.try_wait().unwrap().is_some() {
                break; // finished before this kill point
            }
            assert!(
                Instant::now() < deadline,
                "no progress before kill point {kill_after}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // An auditor verifies the log just before the kill and keeps the
        // checkpoint: after the restart the log must extend it.
        audit_verify(&url, &pki, &state);
        if let Some(s) = server.take() {
            s.kill();
        }
        std::thread::sleep(Duration::from_millis(100));
        server = Some(ServeProcess::start(&data, &pki, &listen));
        audit_verify(&url, &pki, &state);
    }
    // Whatever the interrupted submit did, it ends (done, or gave up).
    let _ = submit.wait();
    let kept = lines(&first_receipts);
    assert!(kept.len() >= 5, "receipts were handed out before the kills");

    // Re-running the submission completes it without duplicates.
    let second_receipts = dir.join("receipts-2.jsonl");
    run(&submit_args(&url, dir, &second_receipts)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_eq!(
        police_records(&url, &pki),
        expected,
        "every record exactly once"
    );

    // Every receipt received before a kill is still valid: the re-run got
    // the same receipt for that batch, and the log proves its inclusion.
    let replayed: std::collections::HashMap<String, serde_json::Value> = lines(&second_receipts)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["batch_id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    for line in &kept {
        let original: serde_json::Value = serde_json::from_str(line).unwrap();
        let again = &replayed[original["batch_id"].as_str().unwrap()];
        for field in ["digest", "audit_index", "accepted", "committed_at"] {
            assert_eq!(
                original[field], again[field],
                "{field} of a kept receipt changed"
            );
        }
    }
    let verify = run(&[
        "audit",
        "verify",
        "--server",
        &url,
        "--pki",
        &pki.display().to_string(),
        "--as",
        "auditor",
        "--receipts",
        &first_receipts.display().to_string(),
    ]);
    let summary = String::from_utf8_lossy(&verify.stdout);
    assert!(summary.contains("verified"), "{summary}");
    server.take().unwrap().stop();
}
