//! `veilink demo`: the whole story in one command.
//!
//! In a fresh directory it plays every party with the real parts and the
//! production code paths: a development PKI; the agencies' shared linkage
//! secret; a synthetic population registered at three agencies (with the
//! truth kept beside it); the linkage service on `127.0.0.1:0` over mTLS, in
//! this process; the three agencies encoding and submitting concurrently
//! through the real client; the operator's full linkage job; the linkage map
//! held against the truth (precision, recall, F1); the analyst's report and
//! its plot; and the auditor verifying the log and every agency's receipts.
//! It ends with a summary that puts every reported figure next to the
//! generator's true one, and exits non-zero if any step fails.
//!
//! The directory is laid out by party, so it is plain who holds what:
//!
//! ```text
//! DIR/pki/                         certificates and keys of every principal
//! DIR/agencies/secret.key          the linkage secret (agencies only)
//! DIR/agencies/data/               the agencies' own registrations + the truth
//! DIR/agencies/<agency>.refs.csv   local record id -> record ref (agency side)
//! DIR/agencies/<agency>.receipts.jsonl
//! DIR/service/store/               the service's sled store
//! DIR/service/veilink.log          the service's log (JSON lines)
//! DIR/operator/linkage-map.csv     record ref -> person id
//! DIR/analyst/report.{txt,json,csv,png,svg}
//! DIR/auditor/state.json, DIR/auditor/log.pub
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{CliError, Format};
use crate::analysis::Report;
use crate::audit::checkpoint::NoteVerifier;
use crate::audit::verify::{self, VerifierState, VerifyOptions};
use crate::client::audit::GrpcLogSource;
use crate::client::submit::{KeptReceipt, SubmitOptions, SubmitProgress, submit_file};
use crate::client::{self, ClientError};
use crate::encode::{Encoder, LineFault, LinkageSecret, OnError, Schema};
use crate::pb::v1 as pb;
use crate::server::{Server, ServerConfig};
use crate::synth::{SynthConfig, TruthSummary};

/// `veilink demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Persons in the synthetic population.
    #[arg(long, default_value_t = 20_000)]
    pub persons: u64,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of registrations with errors (docs/SYNTHETIC.md).
    #[arg(long, default_value_t = 0.05)]
    pub error_rate: f64,
    /// Directory to work in (must be new or empty) [default: a new directory
    /// under the system's temporary directory]. It is kept: it holds the plot,
    /// the report and all data.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// After the summary, keep the service running on its port for trying the
    /// other commands (printed), until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
}

/// The agencies of the demo.
const AGENCIES: [&str; 3] = ["police", "care", "victim-support"];

/// One step's name and wall time.
#[derive(Debug, Clone, Serialize)]
struct Step {
    step: &'static str,
    seconds: f64,
}

/// A reported figure next to the truth, at one horizon.
#[derive(Debug, Clone, Serialize)]
struct HorizonComparison {
    years: u32,
    /// Reported Kaplan–Meier cumulative incidence, percent (None: withheld).
    reported: Option<f64>,
    /// Reported 95% interval, percent.
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    /// The generator's censored Kaplan–Meier figure (perfect linkage), percent.
    true_censored: Option<f64>,
    /// The generator's uncensored share (events after the data end counted), percent.
    true_uncensored: Option<f64>,
    /// Whether the uncensored true share lies inside the reported interval.
    inside: Option<bool>,
}

/// The demo's summary (also its `--format json` output).
#[derive(Debug, Clone, Serialize)]
struct Summary {
    directory: PathBuf,
    persons: u64,
    seed: u64,
    error_rate: f64,
    records_submitted: BTreeMap<String, u64>,
    /// Lines the agencies' encoders skipped because they give nothing to
    /// link on (no identifying field); they count as unlinked in the F1.
    records_unlinkable: u64,
    persons_found: u64,
    persons_true: u64,
    precision: f64,
    recall: f64,
    f1: f64,
    cohort_reported: Option<u64>,
    cohort_true: u64,
    horizons: Vec<HorizonComparison>,
    audit: String,
    audit_verified: bool,
    receipts_proven: u64,
    steps: Vec<Step>,
    plot: PathBuf,
    report: PathBuf,
    data: PathBuf,
    store: PathBuf,
}

/// Times steps and reports them on stderr as they finish.
struct Stopwatch {
    steps: Vec<Step>,
    quiet: bool,
}

impl Stopwatch {
    fn run<T>(
        &mut self,
        step: &'static str,
        work: impl FnOnce() -> Result<T, CliError>,
    ) -> Result<T, CliError> {
        let started = Instant::now();
        let result = work();
        let seconds = started.elapsed().as_secs_f64();
        if !self.quiet {
            let mark = if result.is_ok() { "ok" } else { "FAILED" };
            eprintln!("  {step:<24} {seconds:>6.1}s  {mark}");
        }
        self.steps.push(Step { step, seconds });
        result.map_err(|mut e| {
            e.error = e.error.context(format!("demo step {step:?} failed"));
            e
        })
    }
}

fn failure(message: impl std::fmt::Display) -> CliError {
    CliError {
        bad_input: false,
        error: anyhow::anyhow!("{message}"),
    }
}

/// A fresh working directory: the one given (new or empty), or a new one
/// under the system's temporary directory.
fn working_directory(dir: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let dir = match dir {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                return Err(CliError::input(format!(
                    "--dir {}: the directory is not empty (the demo needs a fresh one)",
                    dir.display()
                )));
            }
            dir
        }
        None => {
            let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
            std::env::temp_dir().join(format!("veilink-demo-{stamp}-{}", std::process::id()))
        }
    };
    for part in ["agencies", "service", "operator", "analyst", "auditor"] {
        std::fs::create_dir_all(dir.join(part))?;
    }
    Ok(dir)
}

/// The service's log goes to a file in the demo directory (JSON lines).
fn log_to_file(path: &Path) -> Result<(), CliError> {
    let file = std::fs::File::create(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("VEILINK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .json()
        .try_init();
    Ok(())
}

fn percent(x: Option<f64>) -> String {
    x.map_or("   -  ".to_string(), |v| format!("{v:5.1}%"))
}

/// `veilink demo`.
pub(super) fn demo(args: DemoArgs, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    if !(0.0..=1.0).contains(&args.error_rate) {
        return Err(CliError::input("--error-rate must be between 0 and 1"));
    }
    let started = Instant::now();
    let dir = working_directory(args.dir.clone())?;
    let quiet = format != Format::Table;
    if !quiet {
        eprintln!(
            "veilink demo: {} synthetic persons, seed {}, error rate {}, in {}",
            args.persons,
            args.seed,
            args.error_rate,
            dir.display()
        );
    }
    log_to_file(&dir.join("service/veilink.log"))?;
    let mut clock = Stopwatch {
        steps: Vec::new(),
        quiet,
    };
    let pki = dir.join("pki");
    let agencies_dir = dir.join("agencies");
    let data = agencies_dir.join("data");
    let key_file = agencies_dir.join("secret.key");

    clock.run("development PKI", || {
        let names: Vec<String> = AGENCIES.map(String::from).to_vec();
        crate::pki::init(&pki, &names, false)?;
        Ok(())
    })?;
    let secret = clock.run("linkage secret", || {
        LinkageSecret::generate_to_file(&key_file)?;
        Ok(LinkageSecret::load(&key_file)?)
    })?;
    let truth = clock.run("synthetic population", || {
        let config = SynthConfig {
            persons: args.persons,
            seed: args.seed,
            error_rate: args.error_rate,
            agencies: AGENCIES.map(String::from).to_vec(),
            ..SynthConfig::default()
        };
        crate::synth::generate(&config, &data)?;
        let text = std::fs::read_to_string(data.join("truth-summary.json"))?;
        serde_json::from_str::<TruthSummary>(&text)
            .map_err(|e| failure(format!("truth-summary.json: {e}")))
    })?;

    let runtime = super::runtime()?;
    let (server, url) = clock.run("service on 127.0.0.1:0", || {
        let config = ServerConfig::new(dir.join("service/store"), &pki);
        let server = Server::open(config)?;
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let handle = tokio::spawn(server.serve(listener, async move {
                let _ = stopped.await;
            }));
            Ok::<_, CliError>(((stop, handle), url))
        })
    })?;

    let submitted = clock.run("three agencies submit", || {
        submit_all(
            runtime.handle(),
            &url,
            &pki,
            &agencies_dir,
            &data,
            &secret,
            quiet,
        )
    })?;
    let records_submitted: BTreeMap<String, u64> = submitted
        .iter()
        .map(|(a, (n, _))| (a.clone(), *n))
        .collect();
    let unlinkable: u64 = submitted.values().map(|(_, u)| u).sum();
    let job = clock.run("full linkage job", || {
        runtime.block_on(link_job(&url, &pki))
    })?;
    let map = dir.join("operator/linkage-map.csv");
    let quality = clock.run("linkage vs truth", || {
        runtime.block_on(export_map(&url, &pki, &map))?;
        evaluate_map(&map, &agencies_dir, &data, unlinkable)
    })?;
    let report = clock.run("analyst report + plot", || {
        runtime.block_on(analyst_report(&url, &pki, &dir.join("analyst")))
    })?;
    let (audit, receipts_proven) = clock.run("auditor verifies log", || {
        runtime.block_on(audit_verify(
            &url,
            &pki,
            &dir.join("auditor"),
            &agencies_dir,
        ))
    })?;

    let horizons = compare(&report, &truth);
    let summary = Summary {
        directory: dir.clone(),
        persons: args.persons,
        seed: args.seed,
        error_rate: args.error_rate,
        records_submitted,
        records_unlinkable: unlinkable,
        persons_found: job.persons,
        persons_true: truth.persons_registered,
        precision: quality.0,
        recall: quality.1,
        f1: quality.2,
        cohort_reported: report.cohort_size,
        cohort_true: truth.cohort_size,
        horizons,
        audit,
        audit_verified: true,
        receipts_proven,
        steps: {
            let mut steps = clock.steps.clone();
            steps.push(Step {
                step: "total",
                seconds: started.elapsed().as_secs_f64(),
            });
            steps
        },
        plot: dir.join("analyst/report.png"),
        report: dir.join("analyst/report.txt"),
        data: data.clone(),
        store: dir.join("service/store"),
    };
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string(&summary).map_err(|e| failure(e.to_string()))?
        )?,
        _ => write_summary(&summary, out)?,
    }
    out.flush()?;

    let ((stop, handle), url) = (server, url);
    if args.keep {
        eprintln!(
            "\nThe service keeps running at {url} (Ctrl-C to stop). Try, for example:\n  \
             veilink status --server {url} --pki {p} --as operator\n  \
             veilink report --server {url} --pki {p} --as analyst --breakdowns all --sensitivity\n  \
             veilink audit entries --server {url} --pki {p} --as auditor --kind link_decision\n  \
             veilink persons --server {url} --pki {p} --as police",
            p = pki.display()
        );
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
    let _ = stop.send(());
    runtime
        .block_on(handle)
        .map_err(|e| failure(format!("service task: {e}")))??;
    Ok(())
}

/// Per agency: records acknowledged, and lines skipped for having no
/// identifying field.
type Submitted = (u64, u64);

/// The three agencies encode and submit their registrations concurrently
/// through the real client, each with a progress bar.
fn submit_all(
    runtime: &tokio::runtime::Handle,
    url: &str,
    pki: &Path,
    agencies_dir: &Path,
    data: &Path,
    secret: &LinkageSecret,
    quiet: bool,
) -> Result<BTreeMap<String, Submitted>, CliError> {
    let bars = MultiProgress::new();
    if quiet || !std::io::stderr().is_terminal() {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let results: Vec<Result<(String, Submitted), CliError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = AGENCIES
            .iter()
            .map(|agency| {
                let csv = data.join(format!("{agency}.csv"));
                let total = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
                let bar = bars.add(ProgressBar::new(total));
                let template = format!("  {agency:<16} {{bar:30}} {{msg}}");
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    bar.set_style(style);
                }
                scope.spawn(move || {
                    let schema = Schema::load(&data.join(format!("{agency}.schema.toml")))?;
                    let encoder = Encoder::new(secret, &schema);
                    let options = SubmitOptions {
                        refs_out: Some(agencies_dir.join(format!("{agency}.refs.csv"))),
                        receipts_out: Some(agencies_dir.join(format!("{agency}.receipts.jsonl"))),
                        // A record with no identifying field cannot be linked
                        // (the service refuses it); the agency skips and counts it.
                        on_error: OnError::Skip,
                        ..SubmitOptions::default()
                    };
                    let mut tick = |p: SubmitProgress| {
                        bar.set_position(p.bytes_read);
                        bar.set_message(format!("{} records acknowledged", p.records_acknowledged));
                    };
                    let summary = submit_file(
                        runtime, url, pki, agency, &encoder, &csv, &options, &mut tick,
                    )?;
                    bar.finish();
                    let unlinkable = summary.skipped.get(LineFault::NothingToLink.label());
                    let unlinkable = unlinkable.copied().unwrap_or(0);
                    let skipped: u64 = summary.skipped.values().sum();
                    if skipped != unlinkable
                        || summary.accepted + unlinkable != summary.records_read
                    {
                        return Err(failure(format!(
                            "{agency}: {} of {} records accepted, skipped: {:?}",
                            summary.accepted, summary.records_read, summary.skipped
                        )));
                    }
                    Ok((agency.to_string(), (summary.accepted, unlinkable)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(failure("a submitting thread panicked")))
            })
            .collect()
    });
    let _ = bars.clear();
    results.into_iter().collect()
}

/// The operator runs a full linkage job and waits for it.
async fn link_job(url: &str, pki: &Path) -> Result<pb::Job, CliError> {
    let channel = client::connect(url, pki, "operator").await?;
    let mut linkage = pb::linkage_client::LinkageClient::new(channel);
    let mut job = linkage
        .run_job(pb::RunJobRequest {})
        .await
        .map_err(ClientError::from)?
        .into_inner();
    while job.state == pb::JobState::Running as i32 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        job = linkage
            .get_job(pb::GetJobRequest { job_id: job.job_id })
            .await
            .map_err(ClientError::from)?
            .into_inner();
    }
    if job.state != pb::JobState::Succeeded as i32 {
        return Err(failure(format!("linkage job failed: {}", job.error)));
    }
    Ok(job)
}

/// The operator exports the linkage map (record ref -> person id) to a CSV.
async fn export_map(url: &str, pki: &Path, path: &Path) -> Result<(), CliError> {
    let channel = client::connect(url, pki, "operator").await?;
    let mut stream = client::linkage_map(channel, Vec::new()).await?;
    let mut writer = csv::Writer::from_path(path).map_err(|e| failure(e.to_string()))?;
    writer
        .write_record(["agency", "record_ref", "person_id"])
        .map_err(|e| failure(e.to_string()))?;
    while let Some(chunk) = stream.message().await.map_err(ClientError::from)? {
        for entry in chunk.entries {
            writer
                .write_record([
                    entry.agency,
                    super::output::hex(&entry.record_ref),
                    super::output::hex(&entry.person_id),
                ])
                .map_err(|e| failure(e.to_string()))?;
        }
    }
    writer.flush()?;
    Ok(())
}

/// Pairwise precision, recall and F1 of the map against the generator's truth
/// (joined through the agencies' refs files, as `veilink evaluate` does). The
/// `unlinkable` records the agencies could not encode are absent from the
/// map; they count as persons of their own (missed links), and any other
/// absence is an error.
fn evaluate_map(
    map: &Path,
    agencies_dir: &Path,
    data: &Path,
    unlinkable: u64,
) -> Result<(f64, f64, f64), CliError> {
    let read = |path: &Path| -> Result<Vec<csv::StringRecord>, CliError> {
        let mut reader = csv::Reader::from_path(path)
            .map_err(|e| failure(format!("{}: {e}", path.display())))?;
        reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failure(format!("{}: {e}", path.display())))
    };
    let mut local_of: HashMap<(String, String), String> = HashMap::new();
    for agency in AGENCIES {
        for row in read(&agencies_dir.join(format!("{agency}.refs.csv")))? {
            local_of.insert((agency.to_string(), row[1].to_string()), row[0].to_string());
        }
    }
    let mut linked: HashMap<(String, String), String> = HashMap::new();
    for row in read(map)? {
        if let Some(local) = local_of.get(&(row[0].to_string(), row[1].to_string())) {
            linked.insert((row[0].to_string(), local.clone()), row[2].to_string());
        }
    }
    let truth: HashMap<(String, String), String> = read(&data.join("truth.csv"))?
        .into_iter()
        .map(|row| ((row[0].to_string(), row[1].to_string()), row[2].to_string()))
        .collect();
    let mut missing = 0u64;
    for record in truth.keys() {
        if !linked.contains_key(record) {
            missing += 1;
            linked.insert(record.clone(), format!("unlinkable {missing}"));
        }
    }
    if missing != unlinkable {
        return Err(failure(format!(
            "{missing} records of the truth are missing from the linkage map \
             ({unlinkable} were unlinkable)"
        )));
    }
    let result = crate::link::evaluate::evaluate(&truth, &linked);
    Ok((result.precision, result.recall, result.f1))
}

/// The analyst's default report with every breakdown and the sensitivity
/// table, written as text, JSON and CSV, and plotted as PNG and SVG.
async fn analyst_report(url: &str, pki: &Path, dir: &Path) -> Result<Report, CliError> {
    let connect = super::ConnectArgs {
        server: url.to_string(),
        pki: pki.to_path_buf(),
        name: "analyst".into(),
    };
    let request = pb::ReportRequest {
        breakdowns: (1..=7).collect(),
        sensitivity: true,
        ..pb::ReportRequest::default()
    };
    let (report, _) = super::analyst::fetch_report(&connect, request).await?;
    let mut text = Vec::new();
    report.render_table(&mut text)?;
    std::fs::write(dir.join("report.txt"), &text)?;
    let mut json = Vec::new();
    report.render_json(&mut json)?;
    std::fs::write(dir.join("report.json"), &json)?;
    let mut csv = Vec::new();
    report.render_csv(&mut csv)?;
    std::fs::write(dir.join("report.csv"), &csv)?;
    for name in ["report.png", "report.svg"] {
        report.plot(&dir.join(name)).map_err(|e| CliError {
            bad_input: false,
            error: e.into(),
        })?;
    }
    Ok(report)
}

/// The auditor pins the log's key, verifies the whole log, and proves every
/// receipt the agencies kept.
async fn audit_verify(
    url: &str,
    pki: &Path,
    dir: &Path,
    agencies_dir: &Path,
) -> Result<(String, u64), CliError> {
    let channel = client::connect(url, pki, "auditor").await?;
    let mut source = GrpcLogSource::new(channel);
    // Wait for the checkpoint that covers everything so far (signed at most
    // a second after the last append).
    let deadline = Instant::now() + Duration::from_secs(10);
    let head = {
        let channel = client::connect(url, pki, "operator").await?;
        pb::admin_client::AdminClient::new(channel)
            .status(pb::StatusRequest {})
            .await
            .map_err(ClientError::from)?
            .into_inner()
            .log_size
    };
    let key_text = loop {
        let checkpoint = source
            .checkpoint_message()
            .await
            .map_err(ClientError::from)?;
        if checkpoint.size >= head || Instant::now() > deadline {
            break checkpoint.verifier_key;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    std::fs::write(dir.join("log.pub"), format!("{key_text}\n"))?;
    let key: NoteVerifier = key_text
        .parse()
        .map_err(|e| failure(format!("verifier key: {e}")))?;
    let saved = VerifierState::load(&dir.join("state.json")).map_err(|e| failure(e.to_string()))?;
    let report = verify::verify(&mut source, &key, saved.as_ref(), &VerifyOptions::default())
        .await
        .map_err(|e| failure(e.to_string()))?;
    report
        .state
        .save(&dir.join("state.json"))
        .map_err(|e| failure(e.to_string()))?;
    let mut proven = 0;
    for agency in AGENCIES {
        let path = agencies_dir.join(format!("{agency}.receipts.jsonl"));
        for line in std::fs::read_to_string(&path)?
            .lines()
            .filter(|l| !l.is_empty())
        {
            let receipt: KeptReceipt = serde_json::from_str(line)
                .map_err(|e| failure(format!("{}: {e}", path.display())))?;
            let hex32 = |text: &str| {
                crate::server::config::parse_hex32(text)
                    .ok_or_else(|| failure(format!("{}: not a 32-byte hex value", path.display())))
            };
            verify::check_receipt(
                &mut source,
                &report.checkpoint,
                receipt.audit_index,
                &hex32(&receipt.batch_id)?,
                &hex32(&receipt.digest)?,
            )
            .await
            .map_err(|e| failure(e.to_string()))?;
            proven += 1;
        }
    }
    Ok((report.to_string(), proven))
}

/// The reported figures next to the generator's truth, per horizon.
fn compare(report: &Report, truth: &TruthSummary) -> Vec<HorizonComparison> {
    report
        .horizons
        .iter()
        .map(|h| {
            let censored = truth.censored.iter().find(|c| c.years == h.years);
            let uncensored = truth.uncensored.iter().find(|u| u.years == h.years);
            let true_uncensored = uncensored.and_then(|u| u.share).map(|s| 100.0 * s);
            let ci = &h.cumulative_incidence;
            HorizonComparison {
                years: h.years,
                reported: ci.percent,
                ci_low: ci.ci_low,
                ci_high: ci.ci_high,
                true_censored: censored.map(|c| 100.0 * c.cumulative_incidence),
                true_uncensored,
                inside: match (ci.ci_low, ci.ci_high, true_uncensored) {
                    // The interval is released to one decimal: compare at that precision.
                    (Some(lo), Some(hi), Some(t)) => {
                        let t = (t * 10.0).round() / 10.0;
                        Some(lo <= t && t <= hi)
                    }
                    _ => None,
                },
            }
        })
        .collect()
}

fn write_summary(s: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "veilink demo — {} synthetic persons (seed {}, error rate {})",
        s.persons, s.seed, s.error_rate
    )?;
    writeln!(out)?;
    let records: Vec<String> = s
        .records_submitted
        .iter()
        .map(|(a, n)| format!("{a} {n}"))
        .collect();
    writeln!(
        out,
        "records submitted   {}  (every batch acknowledged after fsync)",
        records.join(", ")
    )?;
    if s.records_unlinkable > 0 {
        writeln!(
            out,
            "records skipped     {} with no identifying field (kept by the agencies, unlinked)",
            s.records_unlinkable
        )?;
    }
    writeln!(
        out,
        "persons found       {} (true: {})",
        s.persons_found, s.persons_true
    )?;
    writeln!(
        out,
        "linkage vs truth    precision {:.4}  recall {:.4}  F1 {:.4}  (pairwise)",
        s.precision, s.recall, s.f1
    )?;
    writeln!(
        out,
        "cohort              trafficking victims: {} reported (rounded), {} true",
        s.cohort_reported
            .map_or("suppressed".to_string(), |c| c.to_string()),
        s.cohort_true
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "re-victimised within   reported   95% interval      true (KM, perfect linkage)   true (no censoring)"
    )?;
    for h in &s.horizons {
        let interval = match (h.ci_low, h.ci_high) {
            (Some(lo), Some(hi)) => format!("{lo:5.1} – {hi:5.1}%"),
            _ => "     withheld   ".to_string(),
        };
        let verdict = match h.inside {
            Some(true) => "  inside the interval",
            Some(false) => "  OUTSIDE the interval",
            None => "",
        };
        writeln!(
            out,
            "  {} year{}           {}   {}   {}                       {}{}",
            h.years,
            if h.years == 1 { " " } else { "s" },
            percent(h.reported),
            interval,
            percent(h.true_censored),
            percent(h.true_uncensored),
            verdict
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "audit               {}; {} receipts proven",
        s.audit, s.receipts_proven
    )?;
    let steps: Vec<String> = s
        .steps
        .iter()
        .map(|st| format!("{} {:.1}s", st.step, st.seconds))
        .collect();
    writeln!(out, "wall time           {}", steps.join(", "))?;
    writeln!(out, "plot                {}", s.plot.display())?;
    writeln!(out, "report              {}", s.report.display())?;
    writeln!(out, "agencies' data      {}", s.data.display())?;
    writeln!(out, "service store       {}", s.store.display())?;
    Ok(())
}
