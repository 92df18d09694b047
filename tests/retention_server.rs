//! Retention through the real server with real TLS: records are submitted to
//! a server without retention, which is stopped; a server started on the same
//! store with `retention_years = N` removes, at start, every record whose
//! event is more than N years old, logs it as `retention` in the transparency
//! log, keeps the younger records, and the removed records leave the linkage
//! map, the persons and the counts — durably.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Months, NaiveDate};
use common::{RunningServer, TestPki};
use tokio::runtime::Runtime;
use veilink::audit::entry::LogEntry;
use veilink::client::submit::{SubmitOptions, submit_file};
use veilink::encode::{Encoder, LinkageSecret, RecordReader, Schema};
use veilink::pb::v1 as pb;
use veilink::synth::{SynthConfig, generate};

/// A record as the map names it: (agency, record ref).
type RecordId = (String, Vec<u8>);

/// The linkage map: record -> person id.
type LinkageMap = BTreeMap<RecordId, Vec<u8>>;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The retention cutoff the server computes for `years` today: events
/// before it are removed.
fn cutoff(years: u32) -> NaiveDate {
    chrono::Utc::now()
        .date_naive()
        .checked_sub_months(Months::new(12 * years))
        .expect("cutoff")
}

fn hashed(label: &str) -> Vec<u8> {
    blake3::hash(label.as_bytes()).as_bytes().to_vec()
}

fn record_ref(name: &str) -> Vec<u8> {
    hashed(&format!("ref {name}"))
}

/// A hand-built record `name` carrying national-id token `person` (records
/// of one person share it), with an event on `date`.
fn record(name: &str, person: &str, date: NaiveDate) -> pb::Record {
    pb::Record {
        record_ref: record_ref(name),
        tokens: vec![
            pb::MatchToken {
                rule: 1,
                hash: hashed(&format!("national id {person}")),
            },
            pb::MatchToken {
                rule: 2,
                hash: hashed(&format!("name and date of birth {person}")),
            },
        ],
        bloom: Vec::new(),
        event: Some(pb::Event {
            date: date.format("%Y-%m-%d").to_string(),
            r#type: pb::EventType::Assault as i32,
            role: pb::Role::Victim as i32,
        }),
        attributes: Some(pb::Attributes {
            age_band: pb::AgeBand::AgeBand3039 as i32,
            sex: pb::Sex::Male as i32,
            region: "NL-UT".into(),
            residence_status: pb::ResidenceStatus::Dutch as i32,
        }),
    }
}

async fn submit(server: &RunningServer, pki: &Path, agency: &str, records: Vec<pb::Record>) {
    let batch = pb::RecordBatch {
        batch_id: hashed(&format!("batch {agency}")),
        encoding_fingerprint: vec![7; 32],
        records,
    };
    let mut stream = pb::intake_client::IntakeClient::new(server.channel(pki, agency).await)
        .submit(tokio_stream::iter([batch]))
        .await
        .expect("submit")
        .into_inner();
    let receipt = stream.message().await.expect("receipt").expect("a receipt");
    assert!(!receipt.replayed);
}

async fn status(server: &RunningServer, pki: &Path) -> pb::StatusResponse {
    pb::admin_client::AdminClient::new(server.channel(pki, "operator").await)
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner()
}

fn counts(status: &pb::StatusResponse, agency: &str) -> (u64, u64) {
    status
        .agencies
        .iter()
        .find(|a| a.agency == agency)
        .map_or((0, 0), |a| (a.records, a.withdrawn))
}

async fn full_map(server: &RunningServer, pki: &Path) -> LinkageMap {
    let mut stream = pb::linkage_client::LinkageClient::new(server.channel(pki, "operator").await)
        .max_decoding_message_size(64 << 20)
        .export_linkage_map(pb::ExportLinkageMapRequest::default())
        .await
        .expect("export")
        .into_inner();
    let mut map = LinkageMap::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        for entry in chunk.entries {
            map.insert((entry.agency, entry.record_ref), entry.person_id);
        }
    }
    map
}

/// Log entries `[from, to)`, decoded.
async fn log_entries(server: &RunningServer, pki: &Path, from: u64, to: u64) -> Vec<LogEntry> {
    if from == to {
        return Vec::new();
    }
    let mut stream = pb::audit_client::AuditClient::new(server.channel(pki, "auditor").await)
        .max_decoding_message_size(64 << 20)
        .get_entries(pb::GetEntriesRequest {
            start: from,
            end: to,
        })
        .await
        .expect("entries")
        .into_inner();
    let mut entries = Vec::new();
    while let Some(entry) = stream.message().await.expect("entry") {
        entries.push(LogEntry::decode(&entry.entry).expect("a canonical entry"));
    }
    assert_eq!(entries.len() as u64, to - from);
    entries
}

/// Polls `Admin.Status` until the live records number `records` (retention
/// runs in the background right after the start).
async fn wait_for_records(server: &RunningServer, pki: &Path, records: u64) -> pb::StatusResponse {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = status(server, pki).await;
        if now.records == records {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not bring the records to {records}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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

/// Days since 1970-01-01, as the retention entry states its cutoff.
fn days(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// Retention at start over hand-built records: the old records (events 40
/// and 400 days before the cutoff) are removed and logged as `retention`
/// entries (cutoff, count; no withdrawal entry); the young ones (40 and 400
/// days after it) stay; a person with one old and one young record keeps
/// its id, persons of old records only are gone; the per-agency counts move
/// from records to withdrawn; a restart without retention shows the same.
#[test]
fn retention_at_start_removes_old_records_and_logs_it() {
    const YEARS: u32 = 5;
    let pki = TestPki::new();
    let rt = runtime();
    let cut = cutoff(YEARS);
    let old = cut - chrono::Duration::days(400);
    let just_old = cut - chrono::Duration::days(40);
    let just_young = cut + chrono::Duration::days(40);
    let young = cut + chrono::Duration::days(400);
    // Persons: a (old police + young care), b (old police + old victim
    // support), c (young care + young police), d (old police).
    let key = |agency: &str, name: &str| (agency.to_string(), record_ref(name));

    let server = rt.block_on(RunningServer::start(pki.config()));
    let (before, log_size) = rt.block_on(async {
        submit(
            &server,
            &pki.pki(),
            "police",
            vec![
                record("a1", "a", old),
                record("b1", "b", just_old),
                record("c2", "c", young),
                record("d1", "d", old),
            ],
        )
        .await;
        submit(
            &server,
            &pki.pki(),
            "care",
            vec![record("a2", "a", young), record("c1", "c", just_young)],
        )
        .await;
        submit(
            &server,
            &pki.pki(),
            "victim-support",
            vec![record("b2", "b", old)],
        )
        .await;
        let map = full_map(&server, &pki.pki()).await;
        let stored = status(&server, &pki.pki()).await;
        assert_eq!((stored.records, stored.persons), (7, 4));
        assert_eq!(persons_of(&map).len(), 4, "premise: four persons");
        (map, stored.log_size)
    });
    rt.block_on(server.stop());

    let mut config = pki.config();
    config.retention_years = Some(YEARS);
    let server = rt.block_on(RunningServer::start(config));
    let after = rt.block_on(async {
        let now = wait_for_records(&server, &pki.pki(), 3).await;
        assert_eq!(counts(&now, "police"), (1, 3));
        assert_eq!(counts(&now, "care"), (2, 0));
        assert_eq!(counts(&now, "victim-support"), (0, 1));
        assert_eq!(now.persons, 2, "a and c remain");

        let map = full_map(&server, &pki.pki()).await;
        let kept: BTreeSet<RecordId> = map.keys().cloned().collect();
        let expected: BTreeSet<RecordId> =
            [key("care", "a2"), key("care", "c1"), key("police", "c2")].into();
        assert_eq!(kept, expected);
        for name in ["a2", "c1"] {
            assert_eq!(
                map[&key("care", name)],
                before[&key("care", name)],
                "{name}"
            );
        }
        assert_eq!(map[&key("police", "c2")], before[&key("police", "c2")]);
        for (agency, gone) in [("police", "b1"), ("police", "d1")] {
            let id = &before[&key(agency, gone)];
            assert!(
                !map.values().any(|p| p == id),
                "the person of {gone} is gone"
            );
        }

        // The transparency log: retention entries (cutoff and count only),
        // removing the four old records; nothing logged as a withdrawal.
        let entries = log_entries(&server, &pki.pki(), log_size, now.log_size).await;
        let mut removed = 0;
        for entry in &entries {
            match entry {
                LogEntry::Retention(r) => {
                    assert_eq!(r.cutoff_days, days(cut), "{r:?}");
                    removed += r.records_removed;
                }
                LogEntry::Withdrawal(w) => panic!("retention logged as a withdrawal: {w:?}"),
                _ => {}
            }
        }
        assert_eq!(removed, 4, "{entries:?}");
        map
    });
    rt.block_on(server.stop());

    // Durable: a server without retention sees the same.
    let server = rt.block_on(RunningServer::start(pki.config()));
    rt.block_on(async {
        let now = status(&server, &pki.pki()).await;
        assert_eq!((now.records, now.persons), (3, 2));
        assert_eq!(full_map(&server, &pki.pki()).await, after);
    });
    rt.block_on(server.stop());
}

/// Retention over a synthetic population (events 2012–2022): with N = 10
/// exactly the records whose event is before the cutoff leave the store,
/// per agency, and exactly the others remain in the linkage map.
#[test]
fn retention_over_synthetic_data_keeps_exactly_the_younger_records() {
    const YEARS: u32 = 10;
    let pki = TestPki::new();
    let rt = runtime();
    let dir = pki.dir.path().join("synth");
    let config = SynthConfig {
        persons: 6_000,
        seed: 51,
        ..SynthConfig::default()
    };
    generate(&config, &dir).expect("synth");
    let key = pki.dir.path().join("secret.key");
    LinkageSecret::generate_to_file(&key).expect("keygen");
    let secret = LinkageSecret::load(&key).expect("secret");
    let cut = cutoff(YEARS);

    let server = rt.block_on(RunningServer::start(pki.config()));
    // Per agency: (refs of records to keep, records to remove).
    let mut expected: HashMap<String, (BTreeSet<Vec<u8>>, u64)> = HashMap::new();
    for agency in ["police", "care", "victim-support"] {
        let schema = Schema::load(&dir.join(format!("{agency}.schema.toml"))).expect("schema");
        let encoder = Encoder::new(&secret, &schema);
        let input = dir.join(format!("{agency}.csv"));
        let (mut keep, mut remove) = (BTreeSet::new(), 0);
        for encoded in RecordReader::open(&encoder, &input).expect("csv") {
            let encoded = encoded.expect("record");
            if encoded.event_date < cut {
                remove += 1;
            } else {
                keep.insert(encoded.record_ref.to_vec());
            }
        }
        assert!(
            keep.len() > 10 && remove > 10,
            "{agency}: the cutoff splits the data"
        );
        expected.insert(agency.to_string(), (keep, remove));
        let summary = submit_file(
            rt.handle(),
            &server.url,
            &pki.pki(),
            agency,
            &encoder,
            &input,
            &SubmitOptions::default(),
            &mut |_| {},
        )
        .expect("submit");
        assert_eq!(summary.accepted, summary.records_read);
    }
    rt.block_on(server.stop());

    let mut config = pki.config();
    config.retention_years = Some(YEARS);
    let server = rt.block_on(RunningServer::start(config));
    rt.block_on(async {
        let young: u64 = expected.values().map(|(keep, _)| keep.len() as u64).sum();
        let now = wait_for_records(&server, &pki.pki(), young).await;
        for (agency, (keep, remove)) in &expected {
            assert_eq!(
                counts(&now, agency),
                (keep.len() as u64, *remove),
                "{agency}"
            );
        }
        let map = full_map(&server, &pki.pki()).await;
        for (agency, (keep, _)) in &expected {
            let mapped: BTreeSet<Vec<u8>> = map
                .keys()
                .filter(|(a, _)| a == agency)
                .map(|(_, r)| r.clone())
                .collect();
            assert_eq!(
                &mapped, keep,
                "{agency}: the map holds exactly the young records"
            );
        }
        assert_eq!(now.persons, persons_of(&map).len() as u64);
        println!(
            "cutoff {cut}: kept {young} records in {} persons, removed {}",
            now.persons,
            expected.values().map(|(_, r)| r).sum::<u64>()
        );
    });
    rt.block_on(server.stop());
}
