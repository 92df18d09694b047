//! The `veilink submit` summary through the real client and a real server
//! over mTLS: lines skipped by reason, invalid BSNs dropped, and dates of
//! birth that are not dates sent as missing under `invalid = "missing"` —
//! each counted on the agency's side, every kept line accepted.

mod common;

use common::{RunningServer, TestPki};
use tokio::runtime::Runtime;
use veilink::client::submit::{SubmitOptions, submit_file};
use veilink::encode::{Encoder, LinkageSecret, OnError, Schema};

const SCHEMA: &str = r#"
version = 1
agency = "police"
[fields]
record_id = { column = "id" }
given_names = { column = "given" }
surname = { column = "surname" }
date_of_birth = { column = "dob", format = "%Y%m%d", invalid = "missing" }
national_id = { column = "bsn" }
event_date = { column = "event", format = "%Y-%m-%d" }
event_type = { value = "assault" }
role = { value = "victim" }
"#;

const CSV: &str = "id,given,surname,dob,bsn,event\n\
P-1,Anna,Jansen,19900703,123456782,2021-06-15\n\
P-2,Bram,Bakker,19854593,,2021-06-15\n\
P-3,Cor,Smit,19700101,123456789,2021-06-15\n\
P-4,Dirk,Visser,19700101,,15-06-2021\n\
P-5,Eva,de Boer,19920231,,2021-06-15\n";

#[test]
fn submit_counts_skipped_lines_invalid_ids_and_unreadable_birth_dates() {
    let pki = TestPki::new();
    let runtime = Runtime::new().expect("runtime");
    let server = runtime.block_on(RunningServer::start(pki.config()));
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("police.csv");
    std::fs::write(&input, CSV).expect("csv");
    let schema = Schema::from_toml(SCHEMA).expect("schema");
    let encoder = Encoder::new(&LinkageSecret::from_bytes([5; 32]), &schema);
    let options = SubmitOptions {
        on_error: OnError::Skip,
        ..SubmitOptions::default()
    };
    let summary = submit_file(
        runtime.handle(),
        &server.url,
        &pki.pki(),
        "police",
        &encoder,
        &input,
        &options,
        &mut |_| {},
    )
    .expect("submit");
    runtime.block_on(server.stop());
    assert_eq!(summary.records_read, 5);
    assert_eq!(summary.accepted, 4, "{summary:?}");
    assert_eq!(summary.invalid_national_ids, 1, "{summary:?}");
    assert_eq!(summary.unreadable_birth_dates, 2, "{summary:?}");
    let skipped: Vec<(&str, u64)> = summary
        .skipped
        .iter()
        .map(|(reason, n)| (reason.as_str(), *n))
        .collect();
    assert_eq!(skipped, [("not a valid date (event_date)", 1)]);
}
