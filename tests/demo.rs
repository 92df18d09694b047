//! The main job end to end through the real binary: `veilink demo` at a
//! small size succeeds, its figures hold against the generator's truth, and
//! its directory holds no raw personal data outside the agencies' own files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_veilink");

/// Runs `veilink demo` in `dir` with `--format json`; returns the summary.
fn run_demo(dir: &Path, persons: &str) -> serde_json::Value {
    let args = [
        "demo",
        "--persons",
        persons,
        "--seed",
        "2",
        "--dir",
        &dir.display().to_string(),
        "--format",
        "json",
    ];
    let output = Command::new(BIN).args(args).output().expect("run demo");
    assert!(
        output.status.success(),
        "veilink {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON summary")
}

/// The demo exits 0 with linkage F1 ≥ 0.98, a verified log with every
/// receipt proven, and every true cumulative share inside its reported 95%
/// interval (at least five horizons released).
#[test]
fn demo_figures_hold_against_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let summary = run_demo(&dir, "12000");
    let f1 = summary["f1"].as_f64().unwrap();
    println!("demo F1 {f1:.4}");
    assert!(f1 >= 0.98, "F1 {f1}");
    assert_eq!(summary["audit_verified"], true);
    assert!(summary["audit"].as_str().unwrap().contains("verified"));
    assert!(summary["receipts_proven"].as_u64().unwrap() >= 3);
    let horizons = summary["horizons"].as_array().unwrap();
    assert_eq!(horizons.len(), 7);
    let mut released = 0;
    for h in horizons {
        if h["ci_low"].is_null() {
            continue;
        }
        released += 1;
        assert_eq!(h["inside"], true, "true share outside the interval: {h}");
    }
    assert!(released >= 5, "only {released} horizons released");
    for file in [
        "analyst/report.png",
        "analyst/report.svg",
        "analyst/report.txt",
    ] {
        let size = std::fs::metadata(dir.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 0, "{file} missing");
    }
}

/// Every file under `dir` except those under `skip`.
fn files(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.starts_with(skip) {
            continue;
        }
        if path.is_dir() {
            files(&path, skip, out);
        } else {
            out.push(path);
        }
    }
}

/// The identifying values the agencies hold: names of six characters or
/// more, dates of birth as written, and national ids (BSN), read from each
/// agency CSV through the columns its schema file names.
fn identifying_values(data: &Path) -> BTreeSet<Vec<u8>> {
    let mut values = BTreeSet::new();
    for agency in ["police", "care", "victim-support"] {
        let schema: toml::Value = toml::from_str(
            &std::fs::read_to_string(data.join(format!("{agency}.schema.toml"))).unwrap(),
        )
        .unwrap();
        let delimiter = schema
            .get("delimiter")
            .and_then(|d| d.as_str())
            .unwrap_or(",")
            .as_bytes()[0];
        let fields = &schema["fields"];
        let column = |field: &str| {
            fields
                .get(field)
                .and_then(|f| f.get("column"))
                .and_then(|c| c.as_str())
                .map(str::to_string)
        };
        let wanted: Vec<(String, usize)> = [
            ("given_names", 6),
            ("surname", 6),
            ("birth_surname", 6),
            ("date_of_birth", 8),
            ("national_id", 9),
            ("street", 8),
        ]
        .iter()
        .filter_map(|(field, min)| column(field).map(|c| (c, *min)))
        .collect();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_path(data.join(format!("{agency}.csv")))
            .unwrap();
        let headers = reader.byte_headers().unwrap().clone();
        let positions: Vec<(usize, usize)> = wanted
            .iter()
            .filter_map(|(c, min)| {
                headers
                    .iter()
                    .position(|h| h == c.as_bytes())
                    .map(|p| (p, *min))
            })
            .collect();
        for record in reader.byte_records() {
            let record = record.unwrap();
            for &(p, min) in &positions {
                let cell = record.get(p).unwrap_or(b"").trim_ascii();
                // Whole cells and their single words (a name cell may hold several).
                let parts = std::iter::once(cell).chain(cell.split(|b| *b == b' '));
                for part in parts {
                    if part.len() >= min && part.iter().any(|b| b.is_ascii_alphanumeric()) {
                        values.insert(part.to_vec());
                        values.insert(part.to_ascii_lowercase());
                    }
                }
            }
        }
    }
    values
}

/// After a demo run, no name, date of birth or BSN from the agencies' files
/// appears anywhere else in the directory: not in the service's store or log,
/// not in the operator's, analyst's or auditor's files, not in the agencies'
/// refs and receipts. (A value of digits only is matched as a whole number.)
#[test]
fn demo_directory_holds_no_raw_personal_data_outside_the_agencies_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    run_demo(&dir, "6000");
    let data = dir.join("agencies/data");
    let values = identifying_values(&data);
    assert!(values.len() > 500, "too few identifying values to scan for");
    let mut scanned = Vec::new();
    files(&dir, &data, &mut scanned);
    assert!(
        scanned
            .iter()
            .any(|p| p.starts_with(dir.join("service/store")))
    );
    assert!(scanned.iter().any(|p| p.ends_with("service/veilink.log")));
    // Values by length, and the bytes a value can start with, so each file
    // is scanned once per length with a cheap first-byte filter.
    let mut by_length: std::collections::BTreeMap<usize, std::collections::HashSet<&[u8]>> =
        Default::default();
    let (mut first, mut sixth) = ([false; 256], [false; 256]);
    for value in &values {
        by_length
            .entry(value.len())
            .or_default()
            .insert(value.as_slice());
        first[usize::from(value[0])] = true;
        sixth[usize::from(value[5])] = true; // every value has at least 6 bytes
    }
    let found_in = |bytes: &[u8]| -> Vec<String> {
        let mut found = Vec::new();
        for start in 0..bytes.len().saturating_sub(5) {
            if !first[usize::from(bytes[start])] || !sixth[usize::from(bytes[start + 5])] {
                continue;
            }
            for (len, set) in &by_length {
                if let Some(window) = bytes.get(start..start + len) {
                    // A value of digits only (a date of birth, a BSN) counts as
                    // a whole number, not as digits inside a longer one (the
                    // stored model and job figures are long decimals).
                    let digits = window.iter().all(u8::is_ascii_digit);
                    let digit_at = |i: Option<usize>| {
                        i.and_then(|i| bytes.get(i)).is_some_and(u8::is_ascii_digit)
                    };
                    let embedded =
                        digits && (digit_at(start.checked_sub(1)) || digit_at(Some(start + len)));
                    if set.contains(window) && !embedded {
                        found.push(String::from_utf8_lossy(window).into_owned());
                    }
                }
            }
        }
        found
    };
    // Control: the scanner finds the values where they are, in the agencies' own file.
    let own = std::fs::read(data.join("police.csv")).unwrap();
    assert!(
        found_in(&own).len() > 100,
        "the scanner does not find values in their own file"
    );
    let mut leaks = Vec::new();
    for path in &scanned {
        let bytes = std::fs::read(path).unwrap();
        for value in found_in(&bytes) {
            leaks.push(format!("{}: {value:?}", path.display()));
        }
    }
    assert!(
        leaks.is_empty(),
        "raw personal data outside the agencies' files:\n{}",
        leaks.join("\n")
    );
}
