//! Durable intake over a real server with real TLS: exact counts under
//! concurrency, all-or-nothing validation naming the field, idempotent
//! replays across restarts, and withdrawal limited to the agency's own records.

mod common;

use std::path::Path;

use common::{RunningServer, TestPki};
use tokio_stream::StreamExt;
use tonic::Code;
use veilink::client::submit::{SubmitOptions, submit_file};
use veilink::encode::{Encoder, LinkageSecret, Schema};
use veilink::pb::v1 as pb;
use veilink::synth::{SynthConfig, generate};

/// A valid record with two tokens, distinct per `n`.
fn record(n: u8) -> pb::Record {
    pb::Record {
        record_ref: vec![n; 32],
        tokens: vec![
            pb::MatchToken {
                rule: 2,
                hash: vec![n.wrapping_add(100); 32],
            },
            pb::MatchToken {
                rule: 3,
                hash: vec![n.wrapping_add(150); 32],
            },
        ],
        bloom: vec![0x0f; 128],
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

fn batch(id: u8, records: Vec<pb::Record>) -> pb::RecordBatch {
    pb::RecordBatch {
        batch_id: vec![id; 32],
        encoding_fingerprint: vec![7; 32],
        records,
    }
}

/// Sends batches on one Submit stream; returns the receipts and the final
/// status (Ok(()) when the stream ended cleanly).
async fn submit(
    server: &RunningServer,
    pki: &Path,
    agency: &str,
    batches: Vec<pb::RecordBatch>,
) -> (Vec<pb::BatchReceipt>, Result<(), tonic::Status>) {
    let channel = server.channel(pki, agency).await;
    let mut client = pb::intake_client::IntakeClient::new(channel);
    let mut receipts = Vec::new();
    let response = match client.submit(tokio_stream::iter(batches)).await {
        Ok(r) => r,
        Err(status) => return (receipts, Err(status)),
    };
    let mut stream = response.into_inner();
    loop {
        match stream.next().await {
            Some(Ok(receipt)) => receipts.push(receipt),
            Some(Err(status)) => return (receipts, Err(status)),
            None => return (receipts, Ok(())),
        }
    }
}

async fn service_status(server: &RunningServer, pki: &Path) -> pb::StatusResponse {
    let channel = server.channel(pki, "operator").await;
    pb::admin_client::AdminClient::new(channel)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

fn records_of(status: &pb::StatusResponse, agency: &str) -> u64 {
    status
        .agencies
        .iter()
        .find(|a| a.agency == agency)
        .map_or(0, |a| a.records)
}

/// Three agencies submit synthetic data concurrently through the real
/// client; the stored counts equal the input line counts exactly.
#[test]
fn concurrent_agencies_are_counted_exactly() {
    let pki = TestPki::new();
    let data = pki.dir.path().join("synth");
    let config = SynthConfig {
        persons: 4_000,
        seed: 11,
        ..SynthConfig::default()
    };
    let summary = generate(&config, &data).unwrap();
    let key = pki.dir.path().join("secret.key");
    LinkageSecret::generate_to_file(&key).unwrap();
    let secret = LinkageSecret::load(&key).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(RunningServer::start(pki.config()));
    let url = server.url.clone();
    let pki_dir = pki.pki();
    std::thread::scope(|scope| {
        for agency in ["police", "care", "victim-support"] {
            let (url, pki_dir, data, secret, handle) = (
                url.clone(),
                pki_dir.clone(),
                data.clone(),
                &secret,
                runtime.handle().clone(),
            );
            scope.spawn(move || {
                let schema = Schema::load(&data.join(format!("{agency}.schema.toml"))).unwrap();
                let encoder = Encoder::new(secret, &schema);
                let options = SubmitOptions {
                    batch_records: 150,
                    ..SubmitOptions::default()
                };
                let summary = submit_file(
                    &handle,
                    &url,
                    &pki_dir,
                    agency,
                    &encoder,
                    &data.join(format!("{agency}.csv")),
                    &options,
                    &mut |_| {},
                )
                .unwrap();
                assert_eq!(summary.accepted, summary.records_read, "{agency}");
            });
        }
    });
    let stored = runtime.block_on(service_status(&server, &pki.pki()));
    for (agency, expected) in &summary.records_per_agency {
        assert_eq!(records_of(&stored, agency), *expected, "{agency}");
    }
    let total: u64 = summary.records_per_agency.values().sum();
    assert_eq!(stored.records, total);
    runtime.block_on(server.stop());
}

/// Every validation rule rejects the whole batch with INVALID_ARGUMENT (or
/// the documented code) naming the field, and nothing is stored.
#[tokio::test]
async fn each_validation_rule_names_its_field_and_stores_nothing() {
    let pki = TestPki::new();
    let mut config = pki.config();
    config.max_batch_records = 3;
    let server = RunningServer::start(config).await;
    let tomorrow_plus = (chrono::Utc::now().date_naive() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    type Mutation = Box<dyn Fn(&mut pb::Record)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("record_ref", Box::new(|r| r.record_ref.truncate(31))),
        ("tokens[0].hash", Box::new(|r| r.tokens[0].hash.push(1))),
        ("tokens[1].rule", Box::new(|r| r.tokens[1].rule = 99)),
        // A second token of rule 2 (one per rule, except rule 6).
        (
            "tokens[2].rule",
            Box::new(|r| {
                let mut second = r.tokens[0].clone();
                second.hash[0] ^= 1;
                r.tokens.push(second);
            }),
        ),
        // A checked national id and a register id in one record.
        (
            "tokens",
            Box::new(|r| {
                for rule in [1, 13] {
                    let mut id = r.tokens[0].clone();
                    id.rule = rule;
                    r.tokens.push(id);
                }
            }),
        ),
        ("bloom", Box::new(|r| r.bloom.truncate(100))),
        (
            "tokens",
            Box::new(|r| {
                r.tokens.clear();
                r.bloom.clear();
            }),
        ),
        ("event", Box::new(|r| r.event = None)),
        (
            "event.date",
            Box::new(|r| r.event.as_mut().unwrap().date = "2019-13-01".into()),
        ),
        (
            "event.date",
            Box::new(|r| r.event.as_mut().unwrap().date = "1899-12-31".into()),
        ),
        ("event.date", {
            let future = tomorrow_plus.clone();
            Box::new(move |r| r.event.as_mut().unwrap().date = future.clone())
        }),
        (
            "event.type",
            Box::new(|r| r.event.as_mut().unwrap().r#type = 0),
        ),
        (
            "event.role",
            Box::new(|r| r.event.as_mut().unwrap().role = 7),
        ),
        ("attributes", Box::new(|r| r.attributes = None)),
        (
            "attributes.age_band",
            Box::new(|r| r.attributes.as_mut().unwrap().age_band = 0),
        ),
        (
            "attributes.sex",
            Box::new(|r| r.attributes.as_mut().unwrap().sex = 9),
        ),
        (
            "attributes.region",
            Box::new(|r| r.attributes.as_mut().unwrap().region = "NL-XX".into()),
        ),
        (
            "attributes.residence_status",
            Box::new(|r| r.attributes.as_mut().unwrap().residence_status = 42),
        ),
    ];
    for (i, (field, mutate)) in cases.iter().enumerate() {
        let mut bad = record(50);
        mutate(&mut bad);
        let (receipts, result) = submit(
            &server,
            &pki.pki(),
            "police",
            vec![batch(i as u8, vec![record(1), bad, record(2)])],
        )
        .await;
        let status = result.expect_err(field);
        assert!(receipts.is_empty());
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().contains("record 1")
                && status.message().contains(&format!("field {field}")),
            "{field}: {}",
            status.message()
        );
    }

    // Duplicate ref inside the batch.
    let (_, result) = submit(
        &server,
        &pki.pki(),
        "police",
        vec![batch(60, vec![record(1), record(1)])],
    )
    .await;
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("record 1: field record_ref: duplicate"),
        "{}",
        status.message()
    );

    // Batch-level fields and limits.
    let mut short_id = batch(61, vec![record(1)]);
    short_id.batch_id.truncate(8);
    let (_, result) = submit(&server, &pki.pki(), "police", vec![short_id]).await;
    assert!(result.unwrap_err().message().contains("field batch_id"));
    let mut short_fp = batch(62, vec![record(1)]);
    short_fp.encoding_fingerprint.clear();
    let (_, result) = submit(&server, &pki.pki(), "police", vec![short_fp]).await;
    assert!(
        result
            .unwrap_err()
            .message()
            .contains("field encoding_fingerprint")
    );
    let (_, result) = submit(
        &server,
        &pki.pki(),
        "police",
        vec![batch(63, (1..=4).map(record).collect())],
    )
    .await;
    assert_eq!(result.unwrap_err().code(), Code::ResourceExhausted);

    let stored = service_status(&server, &pki.pki()).await;
    assert_eq!(stored.records, 0, "a rejected batch stored something");
    assert_eq!(stored.log_size, 0, "a rejected batch was logged");

    // A good batch fixes the fingerprint; a different one is refused.
    let (receipts, result) = submit(
        &server,
        &pki.pki(),
        "police",
        vec![batch(64, vec![record(1)])],
    )
    .await;
    result.unwrap();
    assert_eq!(receipts.len(), 1);
    let mut other = batch(65, vec![record(2)]);
    other.encoding_fingerprint = vec![8; 32];
    let (_, result) = submit(&server, &pki.pki(), "care", vec![other]).await;
    assert_eq!(result.unwrap_err().code(), Code::FailedPrecondition);
    assert_eq!(service_status(&server, &pki.pki()).await.records, 1);
    server.stop().await;
}

/// A committed batch sent again, before and after a restart, returns the
/// original receipt (marked replayed) and stores nothing new; a batch after
/// a bad one in the same stream is not committed.
#[tokio::test]
async fn replays_return_the_original_receipt_across_restarts() {
    let pki = TestPki::new();
    let server = RunningServer::start(pki.config()).await;
    let first = batch(1, vec![record(1), record(2)]);
    let (receipts, result) = submit(&server, &pki.pki(), "care", vec![first.clone()]).await;
    result.unwrap();
    let original = receipts[0].clone();
    assert!(!original.replayed);
    assert_eq!(original.accepted, 2);
    assert_eq!(
        original.digest,
        veilink::wire::batch_digest(&first.records).to_vec()
    );

    let (again, result) = submit(&server, &pki.pki(), "care", vec![first.clone()]).await;
    result.unwrap();
    assert!(again[0].replayed);
    assert_eq!(again[0].audit_index, original.audit_index);
    assert_eq!(again[0].committed_at, original.committed_at);
    let before = service_status(&server, &pki.pki()).await;
    assert_eq!(before.records, 2);
    server.stop().await;

    let server = RunningServer::start(pki.config()).await;
    let (after, result) = submit(&server, &pki.pki(), "care", vec![first]).await;
    result.unwrap();
    assert!(after[0].replayed);
    assert_eq!(after[0].audit_index, original.audit_index);
    assert_eq!(after[0].digest, original.digest);
    let now = service_status(&server, &pki.pki()).await;
    assert_eq!(now.records, 2);
    assert_eq!(now.log_size, before.log_size, "a replay was logged as new");
    server.stop().await;
}

/// The batches of one stream reach the writer while the ones before them
/// are still being committed (the committer runs a batch's transaction while
/// the writer links the next): a batch id sent twice in a row is answered as
/// a replay of the first, and refs sent again in the next batch are
/// corrections, not second records. After a restart the names are rebuilt
/// from the store and a ref is still recognised.
#[tokio::test]
async fn batches_still_being_committed_are_recognised() {
    let pki = TestPki::new();
    let server = RunningServer::start(pki.config()).await;
    let first = batch(1, (0..200).map(record).collect());
    let second = batch(2, (150..250).map(record).collect());
    let (receipts, result) = submit(
        &server,
        &pki.pki(),
        "care",
        vec![first.clone(), first, second.clone(), second],
    )
    .await;
    result.unwrap();
    assert_eq!(receipts.len(), 4);
    assert!(!receipts[0].replayed);
    assert_eq!((receipts[0].accepted, receipts[0].corrected), (200, 0));
    assert!(
        receipts[1].replayed,
        "a batch id sent twice was stored twice"
    );
    assert_eq!(receipts[1].audit_index, receipts[0].audit_index);
    assert_eq!(receipts[1].committed_at, receipts[0].committed_at);
    assert!(!receipts[2].replayed);
    assert_eq!((receipts[2].accepted, receipts[2].corrected), (100, 50));
    assert!(receipts[3].replayed);
    assert_eq!(receipts[3].audit_index, receipts[2].audit_index);
    let status = service_status(&server, &pki.pki()).await;
    assert_eq!(status.records, 250);
    server.stop().await;

    let server = RunningServer::start(pki.config()).await;
    let (receipts, result) = submit(
        &server,
        &pki.pki(),
        "care",
        vec![batch(3, vec![record(0), record(250)])],
    )
    .await;
    result.unwrap();
    assert_eq!((receipts[0].accepted, receipts[0].corrected), (2, 1));
    assert_eq!(service_status(&server, &pki.pki()).await.records, 251);
    server.stop().await;
}

/// One agency cannot withdraw another's records: its refs count as not
/// found, and the other agency's records and persons are unchanged; the
/// owner can withdraw them.
#[tokio::test]
async fn agencies_withdraw_only_their_own_records() {
    let pki = TestPki::new();
    let server = RunningServer::start(pki.config()).await;
    let (_, result) = submit(
        &server,
        &pki.pki(),
        "police",
        vec![batch(1, vec![record(1), record(2)])],
    )
    .await;
    result.unwrap();
    let before = service_status(&server, &pki.pki()).await;

    let care = server.channel(&pki.pki(), "care").await;
    let reply = pb::intake_client::IntakeClient::new(care)
        .withdraw(pb::WithdrawRequest {
            record_refs: vec![vec![1; 32], vec![2; 32]],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.withdrawn, 0);
    assert_eq!(reply.not_found, 2);
    let after = service_status(&server, &pki.pki()).await;
    assert_eq!(records_of(&after, "police"), 2);
    assert_eq!(after.persons, before.persons);
    assert_eq!(after.log_size, before.log_size);

    let police = server.channel(&pki.pki(), "police").await;
    let reply = pb::intake_client::IntakeClient::new(police)
        .withdraw(pb::WithdrawRequest {
            record_refs: vec![vec![1; 32], vec![9; 32]],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.withdrawn, reply.not_found), (1, 1));
    let last = service_status(&server, &pki.pki()).await;
    assert_eq!(records_of(&last, "police"), 1);
    assert_eq!(
        last.agencies
            .iter()
            .find(|a| a.agency == "police")
            .unwrap()
            .withdrawn,
        1
    );
    server.stop().await;
}
