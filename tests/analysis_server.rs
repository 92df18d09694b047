//! The repeat-victimisation report through the real server and the real
//! binary, on synthetic registrations submitted by three agencies and
//! linked by a full job.
//!
//! At error rate 0 the released report equals the generator's true censored
//! figures (`truth-summary.json`) as disclosure control releases them; at
//! the default error rate the true share lies inside the reported interval.
//! Bad cohort options are INVALID_ARGUMENT naming the option; the analyst
//! reads nothing record-level through any RPC; no breakdown releases a small
//! cell; `veilink report` writes plots, JSON and CSV; every query is logged.
//!
//! A noisy data set (20,000 persons, error rate 0.05) is built once per test
//! process under the target's temporary directory and served for the
//! process's lifetime; the error-rate-0 comparison builds its own.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::RunningServer;
use tokio::runtime::Runtime;
use tokio_stream::StreamExt;
use tonic::Code;
use veilink::analysis::{DisclosureRules, Report};
use veilink::audit::entry::LogEntry;
use veilink::client::audit::GrpcLogSource;
use veilink::client::submit::{SubmitOptions, submit_file};
use veilink::encode::{Encoder, LinkageSecret, Schema};
use veilink::pb::v1 as pb;
use veilink::server::ServerConfig;
use veilink::synth::{SynthConfig, TruthSummary, generate};

const BIN: &str = env!("CARGO_BIN_EXE_veilink");
const AGENCIES: [&str; 3] = ["police", "care", "victim-support"];
const PERSONS: u64 = 20_000;
const SEED: u64 = 2_024;

// ---------------------------------------------------------------------------
// Building a linked synthetic store

/// A directory under the target's temporary directory, emptied first.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("analysis_server")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A served store of synthetic registrations, linked by a full job.
struct Linked {
    runtime: Runtime,
    server: RunningServer,
    dir: PathBuf,
    pki: PathBuf,
    data: PathBuf,
    truth: TruthSummary,
}

impl Linked {
    /// Generates `PERSONS` persons at `error_rate`, submits every agency's
    /// file through the real client, and runs a full linkage job.
    fn build(name: &str, error_rate: f64, rules: DisclosureRules) -> Linked {
        let dir = scratch_dir(name);
        let pki = dir.join("pki");
        let agencies: Vec<String> = AGENCIES.map(String::from).to_vec();
        veilink::pki::init(&pki, &agencies, false).expect("pki init");
        let data = dir.join("synth");
        let config = SynthConfig {
            persons: PERSONS,
            seed: SEED,
            error_rate,
            ..SynthConfig::default()
        };
        generate(&config, &data).expect("synth");
        let truth: TruthSummary = serde_json::from_str(
            &std::fs::read_to_string(data.join("truth-summary.json")).expect("truth"),
        )
        .expect("truth JSON");
        let runtime = Runtime::new().expect("runtime");
        let server = runtime.block_on(RunningServer::start(Linked::config(&dir, &pki, rules)));
        let secret = LinkageSecret::from_bytes([0x2f; 32]);
        for agency in AGENCIES {
            let schema = Schema::load(&data.join(format!("{agency}.schema.toml"))).unwrap();
            let encoder = Encoder::new(&secret, &schema);
            let options = SubmitOptions {
                batch_records: 500,
                ..SubmitOptions::default()
            };
            let summary = submit_file(
                runtime.handle(),
                &server.url,
                &pki,
                agency,
                &encoder,
                &data.join(format!("{agency}.csv")),
                &options,
                &mut |_| {},
            )
            .expect("submit");
            assert_eq!(summary.accepted, summary.records_read, "{agency}");
        }
        let linked = Linked {
            runtime,
            server,
            dir,
            pki,
            data,
            truth,
        };
        linked.run_job();
        linked
    }

    fn config(dir: &Path, pki: &Path, rules: DisclosureRules) -> ServerConfig {
        let mut config = ServerConfig::new(dir.join("store"), pki);
        config.disclosure = rules;
        config
    }

    /// Stops the server and serves the same store under other rules.
    fn restart(self, rules: DisclosureRules) -> Linked {
        let Linked {
            runtime,
            server,
            dir,
            pki,
            data,
            truth,
        } = self;
        runtime.block_on(server.stop());
        let server = runtime.block_on(RunningServer::start(Linked::config(&dir, &pki, rules)));
        Linked {
            runtime,
            server,
            dir,
            pki,
            data,
            truth,
        }
    }

    fn run_job(&self) -> pb::Job {
        self.runtime.block_on(async {
            common::run_job_to_success(self.server.channel(&self.pki, "operator").await).await
        })
    }

    /// `Analysis.RepeatVictimisation` as the analyst.
    fn report(&self, request: pb::ReportRequest) -> Result<pb::Report, tonic::Status> {
        self.runtime.block_on(async {
            let channel = self.server.channel(&self.pki, "analyst").await;
            pb::analysis_client::AnalysisClient::new(channel)
                .max_decoding_message_size(64 * 1024 * 1024)
                .repeat_victimisation(request)
                .await
                .map(tonic::Response::into_inner)
        })
    }

    /// The released report, parsed from the reply's JSON.
    fn released(&self, request: pb::ReportRequest) -> (pb::Report, Report) {
        let reply = self.report(request).expect("report");
        let report: Report = serde_json::from_str(&reply.report_json).expect("report JSON");
        (reply, report)
    }

    /// Every log entry, read as the auditor.
    fn log(&self) -> Vec<(u64, LogEntry)> {
        self.runtime.block_on(async {
            let size = pb::admin_client::AdminClient::new(
                self.server.channel(&self.pki, "operator").await,
            )
            .status(pb::StatusRequest {})
            .await
            .expect("status")
            .into_inner()
            .log_size;
            let mut source = GrpcLogSource::new(self.server.channel(&self.pki, "auditor").await);
            source
                .indexed_entries(0, size)
                .await
                .expect("entries")
                .into_iter()
                .map(|(i, bytes)| (i, LogEntry::decode(&bytes).expect("entry decodes")))
                .collect()
        })
    }
}

/// The noisy data set (error rate 0.05) under the default disclosure rules.
fn noisy() -> &'static Linked {
    static NOISY: OnceLock<Linked> = OnceLock::new();
    NOISY.get_or_init(|| Linked::build("noisy", 0.05, DisclosureRules::default()))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

// ---------------------------------------------------------------------------
// Figures against the truth

/// At error rate 0 the linked persons are the true persons, so the released
/// default report equals the generator's censored truth as disclosure
/// control releases it. Under the default rules (cohort minimum 50, cells
/// under 10 suppressed, counts rounded to base 5) every released figure is
/// compared: the Kaplan–Meier percent equals round(100 × truth, 1), the
/// number at risk and the crude persons/repeats equal the true counts
/// rounded to base 5, the crude percent is computed from those rounded
/// counts, and the cohort size is the true size rounded. Then the same store
/// is served with rounding base 1, minimum cell 1 and cohort minimum 1, and
/// the report's counts equal the true counts exactly (and its percents the
/// true ones to one decimal).
#[test]
fn report_at_error_rate_zero_equals_the_censored_truth() {
    let base = DisclosureRules::default();
    let linked = Linked::build("exact", 0.0, base);
    let truth = linked.truth.clone();
    let day = |d: Option<chrono::NaiveDate>| d.expect("date").format("%Y-%m-%d").to_string();
    assert!(truth.cohort_size >= 200, "cohort {}", truth.cohort_size);

    let (_, report) = linked.released(pb::ReportRequest::default());
    assert_eq!(report.period_from.to_string(), day(truth.period_from));
    assert_eq!(report.period_to.to_string(), day(truth.period_to));
    assert_eq!(report.follow_up_end.to_string(), day(truth.follow_up_end));
    assert_eq!(report.cohort_size, Some(base.round(truth.cohort_size)));
    assert_eq!(report.repeats, base.release(truth.repeats_observed));
    assert_eq!(report.horizons.len(), truth.censored.len());
    println!(
        "error rate 0, {PERSONS} persons, seed {SEED}, default disclosure rules: cohort {} \
         (released {:?}), repeats {} (released {:?})",
        truth.cohort_size, report.cohort_size, truth.repeats_observed, report.repeats
    );
    println!("years  truth KM %  released %  truth at risk  released  crude truth  released");
    for (figure, exact) in report.horizons.iter().zip(&truth.censored) {
        assert_eq!(figure.years, exact.years);
        let km = 100.0 * exact.cumulative_incidence;
        println!(
            "{:>5}  {:>10.3}  {:>10}  {:>13}  {:>8}  {:>5}/{:<5}  {:?}/{:?}",
            exact.years,
            km,
            format!("{:?}", figure.cumulative_incidence.percent),
            exact.at_risk,
            format!("{:?}", figure.at_risk),
            exact.crude.numerator,
            exact.crude.denominator,
            figure.crude.repeats,
            figure.crude.persons,
        );
        // At 20,000 persons every horizon passes the release rules.
        assert_eq!(
            figure.cumulative_incidence.percent,
            Some(round1(km)),
            "KM at {} years",
            exact.years
        );
        assert_eq!(figure.at_risk, Some(base.round(exact.at_risk)));
        assert_eq!(
            figure.crude.persons,
            Some(base.round(exact.crude.denominator))
        );
        assert_eq!(
            figure.crude.repeats,
            Some(base.round(exact.crude.numerator))
        );
        let (r, p) = (
            base.round(exact.crude.numerator) as f64,
            base.round(exact.crude.denominator) as f64,
        );
        assert_eq!(figure.crude.percent, Some(round1(100.0 * r / p)));
    }

    let exact_rules = DisclosureRules {
        cohort_minimum: 1,
        min_cell: 1,
        rounding_base: 1,
    };
    let linked = linked.restart(exact_rules);
    let (_, report) = linked.released(pb::ReportRequest::default());
    assert_eq!(report.rules, exact_rules);
    assert_eq!(report.cohort_size, Some(truth.cohort_size));
    assert_eq!(report.repeats, Some(truth.repeats_observed));
    println!("same store, rounding base 1, minimum cell 1:");
    println!("years  truth KM %  released %  95% CI  at risk (truth = released)  crude");
    for (figure, exact) in report.horizons.iter().zip(&truth.censored) {
        let km = 100.0 * exact.cumulative_incidence;
        let i = figure.cumulative_incidence;
        println!(
            "{:>5}  {:>10.3}  {:>10?}  {:?}..{:?}  {:>6}  {}/{} = {:?}",
            exact.years,
            km,
            i.percent,
            i.ci_low,
            i.ci_high,
            exact.at_risk,
            exact.crude.numerator,
            exact.crude.denominator,
            figure.crude.percent
        );
        assert_eq!(i.percent, Some(round1(km)), "KM at {} years", exact.years);
        assert_eq!(figure.at_risk, Some(exact.at_risk));
        assert_eq!(figure.crude.persons, Some(exact.crude.denominator));
        assert_eq!(figure.crude.repeats, Some(exact.crude.numerator));
        assert_eq!(
            figure.crude.percent,
            exact.crude.proportion.map(|p| round1(100.0 * p))
        );
    }
    linked.runtime.block_on(linked.server.stop());
}

/// At the default error rate (0.05, imperfect linkage) the true uncensored
/// cumulative share at each horizon lies inside the released 95% interval.
/// The limits are released to one decimal, so the comparison allows their
/// rounding (0.05 percentage points).
#[test]
fn true_share_lies_inside_the_reported_interval() {
    let linked = noisy();
    let (_, report) = linked.released(pb::ReportRequest::default());
    println!(
        "error rate 0.05, {PERSONS} persons, seed {SEED}, default rules: true cohort {}, \
         released {:?}",
        linked.truth.cohort_size, report.cohort_size
    );
    println!("years  true share %  released %  95% CI");
    for (figure, truth) in report.horizons.iter().zip(&linked.truth.uncensored) {
        assert_eq!(figure.years, truth.years);
        let share = 100.0 * truth.share.expect("a cohort");
        let i = figure.cumulative_incidence;
        println!(
            "{:>5}  {:>12.3}  {:>10?}  {:?}..{:?}",
            truth.years, share, i.percent, i.ci_low, i.ci_high
        );
        let (Some(low), Some(high)) = (i.ci_low, i.ci_high) else {
            panic!("no interval released at {} years: {figure:?}", truth.years);
        };
        assert!(
            low - 0.05 <= share && share <= high + 0.05,
            "{} years: true {share:.3}% outside {low}..{high}",
            truth.years
        );
    }
}

// ---------------------------------------------------------------------------
// Bad input

/// Every bad cohort option is INVALID_ARGUMENT naming the option: unknown
/// event type or role, reversed period, bad date text, follow-up end before
/// the period, horizon 0 or 21, confidence 0 or 1, an over-long incident
/// window, an unknown breakdown. A cohort under the minimum is
/// FAILED_PRECONDITION, without its size.
#[test]
fn bad_cohort_options_are_refused_naming_the_option() {
    let linked = noisy();
    let base = pb::ReportRequest::default;
    let cases: Vec<(&str, pb::ReportRequest)> = vec![
        (
            "index-types",
            pb::ReportRequest {
                index_types: vec![42],
                ..base()
            },
        ),
        (
            "outcome-types",
            pb::ReportRequest {
                outcome_types: vec![1, 99],
                ..base()
            },
        ),
        (
            "index-role",
            pb::ReportRequest {
                index_role: 9,
                ..base()
            },
        ),
        (
            "to",
            pb::ReportRequest {
                from: "2020-01-01".into(),
                to: "2019-12-31".into(),
                ..base()
            },
        ),
        (
            "from",
            pb::ReportRequest {
                from: "2019-02-30".into(),
                ..base()
            },
        ),
        (
            "to",
            pb::ReportRequest {
                to: "last year".into(),
                ..base()
            },
        ),
        (
            "follow-up-end",
            pb::ReportRequest {
                follow_up_end: "2019/06/01".into(),
                ..base()
            },
        ),
        (
            "follow-up-end",
            pb::ReportRequest {
                from: "2018-01-01".into(),
                follow_up_end: "2017-12-31".into(),
                ..base()
            },
        ),
        (
            "horizons",
            pb::ReportRequest {
                horizons_years: vec![0],
                ..base()
            },
        ),
        (
            "horizons",
            pb::ReportRequest {
                horizons_years: vec![1, 21],
                ..base()
            },
        ),
        (
            "confidence",
            pb::ReportRequest {
                confidence: Some(0.0),
                ..base()
            },
        ),
        (
            "confidence",
            pb::ReportRequest {
                confidence: Some(1.0),
                ..base()
            },
        ),
        (
            "incident-window",
            pb::ReportRequest {
                incident_window_days: Some(366),
                ..base()
            },
        ),
        (
            "breakdown",
            pb::ReportRequest {
                breakdowns: vec![0],
                ..base()
            },
        ),
    ];
    for (option, request) in cases {
        let status = linked
            .report(request.clone())
            .expect_err(&format!("{option}: {request:?}"));
        assert_eq!(status.code(), Code::InvalidArgument, "{option}: {status:?}");
        assert!(
            status.message().contains(&format!("invalid {option}:")),
            "{option}: {}",
            status.message()
        );
    }

    // A one-day period holds far fewer than 50 index victims.
    let status = linked
        .report(pb::ReportRequest {
            from: "2016-03-01".into(),
            to: "2016-03-01".into(),
            ..base()
        })
        .expect_err("a tiny cohort");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let digits: String = status
        .message()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    assert_eq!(digits, "50", "{}", status.message());
}

// ---------------------------------------------------------------------------
// What the analyst can see

fn denied<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>) {
    match result {
        Err(status) => assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}"),
        Ok(answer) => panic!("{what} answered the analyst: {answer:?}"),
    }
}

/// Every hex run of at least 32 digits in `text`.
fn hex_runs(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|run| run.len() >= 32)
        .map(str::to_lowercase)
        .collect()
}

/// Every `YYYY-MM-DD` in `text`.
fn iso_dates(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(9))
        .filter(|&i| {
            let s = &bytes[i..i + 10];
            s.iter().enumerate().all(|(j, b)| {
                if j == 4 || j == 7 {
                    *b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
        })
        .map(|i| text[i..i + 10].to_string())
        .collect()
}

/// Every event date of the agencies' files, as `YYYY-MM-DD`.
fn event_dates(data: &Path) -> HashSet<String> {
    let mut dates = HashSet::new();
    for agency in AGENCIES {
        let schema_path = data.join(format!("{agency}.schema.toml"));
        let toml: toml::Value =
            toml::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
        let delimiter = toml
            .get("delimiter")
            .and_then(|d| d.as_str())
            .unwrap_or(",")
            .as_bytes()[0];
        let event = &toml["fields"]["event_date"];
        let (column, format) = (
            event["column"].as_str().unwrap(),
            event["format"].as_str().unwrap(),
        );
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_path(data.join(format!("{agency}.csv")))
            .unwrap();
        let at = csv
            .byte_headers()
            .unwrap()
            .iter()
            .position(|h| h == column.as_bytes())
            .expect("event date column");
        for line in csv.byte_records() {
            let cell = String::from_utf8_lossy(&line.unwrap()[at]).into_owned();
            let date = chrono::NaiveDate::parse_from_str(cell.trim(), format).expect("event date");
            dates.insert(date.format("%Y-%m-%d").to_string());
        }
    }
    dates
}

/// With the analyst's certificate every RPC that touches records, persons,
/// jobs, the log or the service's state is PERMISSION_DENIED; WhoAmI works.
/// The report itself (every breakdown and the sensitivity table) holds no
/// record ref and no person id of the operator's linkage map, and no event
/// date except the resolved period bounds (which are, by their documented
/// defaults, the earliest and latest event date in the store).
#[test]
fn analyst_cannot_read_record_level_data() {
    let linked = noisy();
    let (pki, server) = (&linked.pki, &linked.server);
    linked.runtime.block_on(async {
        let channel = server.channel(pki, "analyst").await;
        let me = pb::admin_client::AdminClient::new(channel.clone())
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .expect("whoami")
            .into_inner();
        assert_eq!(
            (me.principal.as_str(), me.role.as_str()),
            ("analyst", "analyst")
        );

        let mut admin = pb::admin_client::AdminClient::new(channel.clone());
        denied("Admin.Status", admin.status(pb::StatusRequest {}).await);

        let mut intake = pb::intake_client::IntakeClient::new(channel.clone());
        let batch = pb::RecordBatch {
            batch_id: vec![1; 32],
            encoding_fingerprint: vec![2; 32],
            records: Vec::new(),
        };
        let submitted = match intake.submit(tokio_stream::iter(vec![batch])).await {
            Ok(response) => response.into_inner().next().await.transpose(),
            Err(status) => Err(status),
        };
        denied("Intake.Submit", submitted);
        denied(
            "Intake.Withdraw",
            intake
                .withdraw(pb::WithdrawRequest {
                    record_refs: vec![vec![3; 32]],
                })
                .await,
        );

        let mut linkage = pb::linkage_client::LinkageClient::new(channel.clone());
        denied(
            "Linkage.RunJob",
            linkage.run_job(pb::RunJobRequest {}).await,
        );
        denied(
            "Linkage.GetJob",
            linkage.get_job(pb::GetJobRequest { job_id: 1 }).await,
        );
        denied(
            "Linkage.ListJobs",
            linkage.list_jobs(pb::ListJobsRequest { limit: 0 }).await,
        );
        denied(
            "Linkage.ExplainModel",
            linkage.explain_model(pb::ExplainModelRequest {}).await,
        );
        let exported = match linkage
            .export_linkage_map(pb::ExportLinkageMapRequest::default())
            .await
        {
            Ok(response) => response.into_inner().next().await.transpose(),
            Err(status) => Err(status),
        };
        denied("Linkage.ExportLinkageMap", exported);

        let mut audit = pb::audit_client::AuditClient::new(channel);
        denied(
            "Audit.GetCheckpoint",
            audit.get_checkpoint(pb::GetCheckpointRequest {}).await,
        );
        let entries = match audit
            .get_entries(pb::GetEntriesRequest { start: 0, end: 1 })
            .await
        {
            Ok(response) => response.into_inner().next().await.transpose(),
            Err(status) => Err(status),
        };
        denied("Audit.GetEntries", entries);
        denied(
            "Audit.GetInclusionProof",
            audit
                .get_inclusion_proof(pb::GetInclusionProofRequest {
                    index: 0,
                    tree_size: 1,
                })
                .await,
        );
        denied(
            "Audit.GetConsistencyProof",
            audit
                .get_consistency_proof(pb::GetConsistencyProofRequest {
                    old_size: 1,
                    new_size: 1,
                })
                .await,
        );
    });

    // The operator's linkage map: every record ref and person id.
    let ids: HashSet<String> = linked.runtime.block_on(async {
        let channel = server.channel(pki, "operator").await;
        let mut stream = pb::linkage_client::LinkageClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024)
            .export_linkage_map(pb::ExportLinkageMapRequest::default())
            .await
            .expect("export")
            .into_inner();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut ids = HashSet::new();
        while let Some(chunk) = stream.next().await {
            for entry in chunk.expect("chunk").entries {
                ids.insert(hex(&entry.record_ref));
                ids.insert(hex(&entry.person_id));
            }
        }
        ids
    });
    assert!(ids.len() > 5_000, "{} ids", ids.len());
    let (reply, report) = linked.released(pb::ReportRequest {
        breakdowns: (1..=7).collect(),
        sensitivity: true,
        ..Default::default()
    });
    let json = reply.report_json.to_lowercase();
    let runs = hex_runs(&json);
    assert!(
        runs.iter().all(|run| !ids.contains(run)),
        "the report holds a ref or person id: {runs:?}"
    );
    assert!(
        runs.is_empty(),
        "the report holds long hex strings: {runs:?}"
    );
    let events = event_dates(&linked.data);
    let bounds: BTreeSet<String> = [report.period_from, report.period_to, report.follow_up_end]
        .iter()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    for date in iso_dates(&reply.report_json) {
        assert!(
            !events.contains(&date) || bounds.contains(&date),
            "the report holds the event date {date}"
        );
    }
}

/// Every released count of a report (headline, crude, breakdown rows and
/// totals, sensitivity columns) is at least the server's minimum cell and a
/// multiple of its rounding base; no row or column of a breakdown has
/// exactly one suppressed cell (it would follow from the others); an
/// estimate is released only with its number at risk and repeats. Returns
/// the number of suppressed breakdown cells.
fn check_released_cells(report: &Report) -> usize {
    let rules = report.rules;
    let (min, base) = (u64::from(rules.min_cell), u64::from(rules.rounding_base));
    let check = |what: &str, count: Option<u64>| {
        if let Some(count) = count {
            assert!(
                count >= min && count % base == 0,
                "{what}: released {count} (min cell {min}, base {base})"
            );
        }
    };
    check("cohort size", report.cohort_size);
    check("repeats", report.repeats);
    let horizon = |what: &str, h: &veilink::analysis::report::HorizonFigure| {
        check(&format!("{what} at risk {}y", h.years), h.at_risk);
        check(&format!("{what} repeats {}y", h.years), h.repeats);
        check(
            &format!("{what} crude persons {}y", h.years),
            h.crude.persons,
        );
        check(
            &format!("{what} crude repeats {}y", h.years),
            h.crude.repeats,
        );
        if h.cumulative_incidence.percent.is_some() {
            assert!(h.at_risk.is_some() && h.repeats.is_some(), "{what}: {h:?}");
        }
    };
    for h in &report.horizons {
        horizon("headline", h);
    }
    if let Some(table) = &report.sensitivity {
        for column in &table.linkages {
            check(&format!("{} cohort", column.linkage), column.cohort_size);
            check(&format!("{} repeats", column.linkage), column.repeats);
            for h in &column.horizons {
                horizon(&column.linkage, h);
            }
        }
    }
    let mut suppressed = 0;
    for table in &report.breakdowns {
        if table.withheld {
            assert!(table.rows.is_empty(), "{}", table.title);
            continue;
        }
        let lines: Vec<_> = table.rows.iter().chain(Some(&table.total)).collect();
        for row in &lines {
            for (column, count) in table.columns.iter().zip(&row.counts) {
                check(
                    &format!("{} / {} / {column}", table.title, row.label),
                    *count,
                );
            }
            let blanks = row.counts.iter().filter(|c| c.is_none()).count();
            suppressed += blanks;
            if row.counts.len() > 1 {
                assert_ne!(
                    blanks, 1,
                    "{} / {}: {:?}",
                    table.title, row.label, row.counts
                );
            }
        }
        for column in 0..table.columns.len() {
            let blanks = lines.iter().filter(|r| r.counts[column].is_none()).count();
            assert_ne!(blanks, 1, "{} / column {column}", table.title);
        }
    }
    suppressed
}

/// Every breakdown, asked for on the whole (small: a few hundred persons)
/// cohort and on smaller cohorts, comes back with small cells suppressed:
/// no released count is under the server's minimum cell, no suppressed
/// cell follows from its row or column, and the suppressed tables are what
/// is released (never the small cell).
#[test]
fn breakdowns_never_release_a_small_cell() {
    let linked = noisy();
    let all = || (1..=7).collect::<Vec<i32>>();
    let requests = [
        pb::ReportRequest {
            breakdowns: all(),
            sensitivity: true,
            ..Default::default()
        },
        pb::ReportRequest {
            breakdowns: all(),
            from: "2015-01-01".into(),
            to: "2018-12-31".into(),
            ..Default::default()
        },
        pb::ReportRequest {
            breakdowns: all(),
            index_types: vec![pb::EventType::TraffickingSexual as i32],
            ..Default::default()
        },
    ];
    let mut suppressed = 0;
    let mut answered = 0;
    for request in requests {
        match linked.report(request.clone()) {
            Ok(reply) => {
                let report: Report = serde_json::from_str(&reply.report_json).unwrap();
                assert_eq!(report.rules, DisclosureRules::default());
                assert_eq!(report.breakdowns.len(), 7, "{request:?}");
                suppressed += check_released_cells(&report);
                answered += 1;
            }
            Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
        }
    }
    assert!(answered >= 2, "only {answered} cohorts were large enough");
    assert!(suppressed > 0, "no small cell was asked for");
}

// ---------------------------------------------------------------------------
// The binary and the log

fn veilink(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().expect("run veilink")
}

/// Runs the binary; returns stdout, panicking with the output on failure.
fn succeed(args: &[String]) -> String {
    let output = veilink(args);
    assert!(
        output.status.success(),
        "veilink {} ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn report_args(linked: &Linked, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "report".into(),
        "--server".into(),
        linked.server.url.clone(),
        "--pki".into(),
        linked.pki.display().to_string(),
        "--as".into(),
        "analyst".into(),
    ];
    args.extend(extra.iter().map(|e| e.to_string()));
    args
}

/// `veilink report --plot FILE.png` writes a PNG (signature checked) and
/// `.svg` an SVG document; `--format json` prints one JSON object on one
/// line; `--format csv` starts with the documented header.
#[test]
fn report_command_writes_plots_json_and_csv() {
    let linked = noisy();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("curve.png");
    let table = succeed(&report_args(
        linked,
        &["--plot", png.to_str().unwrap(), "--breakdowns", "sex"],
    ));
    assert!(!table.trim().is_empty());
    let bytes = std::fs::read(&png).expect("PNG written");
    assert!(bytes.len() > 1_000, "{} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");

    let svg = dir.path().join("curve.svg");
    succeed(&report_args(linked, &["--plot", svg.to_str().unwrap()]));
    let text = std::fs::read_to_string(&svg).expect("SVG written");
    assert!(
        text.contains("<svg") && text.trim_end().ends_with("</svg>"),
        "{text:.200}"
    );
    assert!(text.contains("<path") || text.contains("<polyline") || text.contains("<line"));

    let json = succeed(&report_args(linked, &["--format", "json"]));
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{json:.300}");
    let object: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON");
    assert!(
        object.is_object() && object["horizons"].is_array(),
        "{object:.300}"
    );

    let csv = succeed(&report_args(linked, &["--format", "csv"]));
    assert_eq!(
        csv.lines().next(),
        Some("section,group,label,years,measure,value")
    );
    assert!(csv.lines().count() > 10);
}

/// Every answered query, through the RPC or the binary, is a `report_query`
/// entry at the index the reply names (principal `analyst`, the cells
/// released and suppressed of the reply, the parameters); a query refused
/// for a small cohort is logged with nothing released.
#[test]
fn every_report_query_is_logged() {
    let linked = noisy();
    let (plain, _) = linked.released(pb::ReportRequest::default());
    let (broken_down, _) = linked.released(pb::ReportRequest {
        breakdowns: vec![pb::Breakdown::AgeBand as i32, pb::Breakdown::Region as i32],
        sensitivity: true,
        horizons_years: vec![2, 4],
        ..Default::default()
    });
    let refused = linked.report(pb::ReportRequest {
        from: "2013-07-09".into(),
        to: "2013-07-09".into(),
        ..Default::default()
    });
    assert_eq!(refused.unwrap_err().code(), Code::FailedPrecondition);
    succeed(&report_args(
        linked,
        &[
            "--format",
            "json",
            "--confidence",
            "0.8",
            "--horizons",
            "3,6",
        ],
    ));

    let log = linked.log();
    let query = |index: u64| match &log[index as usize] {
        (i, LogEntry::ReportQuery(q)) if *i == index => q.clone(),
        other => panic!("entry {index} is not a report query: {other:?}"),
    };
    for reply in [&plain, &broken_down] {
        let logged = query(reply.audit_index);
        assert_eq!(logged.principal, "analyst");
        assert_eq!(u64::from(logged.cells_released), reply.cells_released);
        assert_eq!(u64::from(logged.cells_suppressed), reply.cells_suppressed);
        assert!(reply.cells_released > 0);
    }
    let parameters: serde_json::Value =
        serde_json::from_str(&query(broken_down.audit_index).parameters).unwrap();
    assert_eq!(parameters["horizons_years"], serde_json::json!([2, 4]));
    assert_eq!(parameters["sensitivity"], true);

    let queries: Vec<serde_json::Value> = log
        .iter()
        .filter_map(|(_, e)| match e {
            LogEntry::ReportQuery(q) => {
                assert_eq!(q.principal, "analyst");
                let mut p: serde_json::Value = serde_json::from_str(&q.parameters).unwrap();
                p["cells_released"] = q.cells_released.into();
                Some(p)
            }
            _ => None,
        })
        .collect();
    assert!(
        queries
            .iter()
            .any(|p| p["from"] == "2013-07-09" && p["cells_released"] == 0),
        "the refused query is not logged"
    );
    assert!(
        queries.iter().any(|p| p["confidence"] == 0.8
            && p["horizons_years"] == serde_json::json!([3, 6])
            && p["cells_released"].as_u64() > Some(0)),
        "the binary's query is not logged"
    );
}
