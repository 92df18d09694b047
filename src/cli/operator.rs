//! The operator's commands: `link` (a full job, with `--explain`), `jobs`,
//! `persons` (the linkage map), and `evaluate` (linkage quality against a
//! known truth, run wherever truth and refs files are).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::output::hex;
use super::{CliError, ConnectArgs, Format, Rows};
use crate::client::{self, ClientError};
use crate::pb::v1 as pb;

/// `veilink link` arguments.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Server and identity (the operator).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print the learned model (m- and u-probabilities, match weights,
    /// thresholds, estimated precision and recall) instead of running a job.
    #[arg(long)]
    pub explain: bool,
}

fn job_rows(jobs: &[pb::Job]) -> Rows {
    let mut rows = Rows::new(&[
        "job",
        "state",
        "trigger",
        "started",
        "seconds",
        "records",
        "persons",
        "merges",
        "splits",
        "persons_differing",
        "est_precision",
        "est_recall",
        "error",
    ]);
    for job in jobs {
        let state = pb::JobState::try_from(job.state)
            .map_or("unknown", |s| s.as_str_name())
            .trim_start_matches("JOB_STATE_")
            .to_lowercase();
        let trigger = pb::JobTrigger::try_from(job.trigger)
            .map_or("unknown", |t| t.as_str_name())
            .trim_start_matches("JOB_TRIGGER_")
            .to_lowercase();
        let started = job
            .started_at
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let seconds = match (&job.started_at, &job.finished_at) {
            (Some(a), Some(b)) => format!(
                "{:.1}",
                (b.seconds - a.seconds) as f64 + f64::from(b.nanos - a.nanos) / 1e9
            ),
            _ => String::new(),
        };
        let ratio = |x: f64| {
            if x.is_finite() {
                format!("{x:.4}")
            } else {
                String::new()
            }
        };
        rows.push(vec![
            job.job_id.to_string(),
            state,
            trigger,
            started,
            seconds,
            job.records.to_string(),
            job.persons.to_string(),
            job.merges.to_string(),
            job.splits.to_string(),
            job.persons_differing.to_string(),
            ratio(job.estimated_precision),
            ratio(job.estimated_recall),
            job.error.clone(),
        ]);
    }
    rows
}

/// `veilink link`: runs a full job and waits for it, or prints the model.
pub(super) async fn link(
    args: LinkArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let channel =
        client::connect(&args.connect.server, &args.connect.pki, &args.connect.name).await?;
    let mut linkage = pb::linkage_client::LinkageClient::new(channel);
    if args.explain {
        let json = linkage
            .explain_model(pb::ExplainModelRequest {})
            .await
            .map_err(ClientError::from)?
            .into_inner()
            .json;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| CliError::input(format!("model JSON: {e}")))?;
        match format {
            Format::Json => writeln!(out, "{value}")?,
            _ => writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            )?,
        }
        return Ok(());
    }
    let mut job = linkage
        .run_job(pb::RunJobRequest {})
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(1000);
        if let Ok(style) =
            ProgressStyle::with_template("link [{elapsed_precise}] {bar:40} {percent}%")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    while job.state == pb::JobState::Running as i32 {
        bar.set_position((job.progress * 1000.0) as u64);
        tokio::time::sleep(Duration::from_millis(200)).await;
        job = linkage
            .get_job(pb::GetJobRequest { job_id: job.job_id })
            .await
            .map_err(ClientError::from)?
            .into_inner();
    }
    bar.finish_and_clear();
    job_rows(std::slice::from_ref(&job)).write(format, out)?;
    if job.state != pb::JobState::Succeeded as i32 {
        return Err(CliError {
            bad_input: false,
            error: anyhow::anyhow!("linkage job {} failed: {}", job.job_id, job.error),
        });
    }
    Ok(())
}

/// `veilink jobs`: the job history, newest first.
pub(super) async fn jobs(
    args: ConnectArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let channel = client::connect(&args.server, &args.pki, &args.name).await?;
    let jobs = pb::linkage_client::LinkageClient::new(channel)
        .list_jobs(pb::ListJobsRequest { limit: 0 })
        .await
        .map_err(ClientError::from)?
        .into_inner()
        .jobs;
    job_rows(&jobs).write(format, out)?;
    Ok(())
}

/// `veilink persons` arguments.
#[derive(Debug, Args)]
pub struct PersonsArgs {
    /// Server, PKI and principal.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Only the records of this person (32 hex digits, as printed in the
    /// `person_id` column and the audit log); repeatable, at most 10,000.
    /// The operator gets an error for an id that does not exist; an agency
    /// gets its own records of the person, or none.
    #[arg(long = "person", value_name = "HEX")]
    pub persons: Vec<String>,
}

/// A 16-byte person id from its 32 hex digits.
///
/// # Errors
/// A bad-input [`CliError`] naming the `--person` value otherwise.
fn person_id(text: &str) -> Result<Vec<u8>, CliError> {
    let bad = || {
        CliError::input(format!(
            "--person {text:?}: a person id is 32 hex digits (16 bytes)"
        ))
    };
    // `from_str_radix` alone would also take a sign ("+f").
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    (0..16)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad()))
        .collect()
}

/// `veilink persons`: record ref → person id (operator: all; agency: its
/// own), optionally only for the persons named by `--person`.
pub(super) async fn persons(
    args: PersonsArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let persons = args
        .persons
        .iter()
        .map(|p| person_id(p))
        .collect::<Result<Vec<_>, _>>()?;
    let args = args.connect;
    let channel = client::connect(&args.server, &args.pki, &args.name).await?;
    let mut stream = client::linkage_map(channel, persons).await?;
    let mut rows = Rows::new(&["agency", "record_ref", "person_id"]);
    while let Some(chunk) = stream.message().await.map_err(ClientError::from)? {
        for entry in chunk.entries {
            rows.push(vec![
                entry.agency,
                hex(&entry.record_ref),
                hex(&entry.person_id),
            ]);
        }
    }
    rows.write(format, out)?;
    Ok(())
}

/// `veilink evaluate` arguments.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The truth: a CSV with an agency column, a local record id column and
    /// an entity column (names below).
    #[arg(long)]
    pub truth: PathBuf,
    /// The linkage map: `veilink persons --format csv` output
    /// (agency, record_ref, person_id).
    #[arg(long)]
    pub map: PathBuf,
    /// Per agency, its refs file from `encode/submit --refs-out`
    /// (local_id, record_ref), as AGENCY=FILE; repeatable.
    #[arg(long = "refs", value_name = "AGENCY=CSV", required = true)]
    pub refs: Vec<String>,
    /// Truth column with the agency id.
    #[arg(long, default_value = "agency")]
    pub truth_agency_column: String,
    /// Truth column with the agency's local record id.
    #[arg(long, default_value = "record_id")]
    pub truth_id_column: String,
    /// Truth column with the true entity.
    #[arg(long, default_value = "person_id")]
    pub truth_entity_column: String,
}

/// Reads a CSV file with a header; yields rows as maps of the wanted columns.
fn read_columns(path: &PathBuf, columns: &[&str]) -> Result<Vec<Vec<String>>, CliError> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let headers = reader
        .headers()
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?
        .clone();
    let positions = columns
        .iter()
        .map(|c| {
            headers
                .iter()
                .position(|h| h.trim() == *c)
                .ok_or_else(|| CliError::input(format!("{}: no column {c:?}", path.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record =
            record.map_err(|e| CliError::input(format!("{}:{}: {e}", path.display(), line + 2)))?;
        rows.push(
            positions
                .iter()
                .map(|&p| record.get(p).unwrap_or("").trim().to_string())
                .collect(),
        );
    }
    Ok(rows)
}

/// `veilink evaluate`: pairwise and cluster-level quality of a linkage map.
pub(super) fn evaluate(
    args: EvaluateArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // (agency, record_ref hex) -> local id, from the agencies' refs files.
    let mut local_of: HashMap<(String, String), String> = HashMap::new();
    for spec in &args.refs {
        let (agency, file) = spec
            .split_once('=')
            .ok_or_else(|| CliError::input(format!("--refs {spec:?}: expected AGENCY=FILE")))?;
        for row in read_columns(&PathBuf::from(file), &["local_id", "record_ref"])? {
            local_of.insert((agency.to_string(), row[1].to_lowercase()), row[0].clone());
        }
    }
    // (agency, local id) -> person id.
    let mut map: HashMap<(String, String), String> = HashMap::new();
    let mut unknown_refs = 0usize;
    for row in read_columns(&args.map, &["agency", "record_ref", "person_id"])? {
        match local_of.get(&(row[0].clone(), row[1].to_lowercase())) {
            Some(local) => {
                map.insert((row[0].clone(), local.clone()), row[2].clone());
            }
            None => unknown_refs += 1,
        }
    }
    let truth: HashMap<(String, String), String> = read_columns(
        &args.truth,
        &[
            &args.truth_agency_column,
            &args.truth_id_column,
            &args.truth_entity_column,
        ],
    )?
    .into_iter()
    .map(|row| ((row[0].clone(), row[1].clone()), row[2].clone()))
    .collect();
    let result = crate::link::evaluate::evaluate(&truth, &map);

    let mut rows = Rows::new(&["measure", "value"]);
    let mut put = |k: &str, v: String| rows.push(vec![k.to_string(), v]);
    put("records evaluated", result.records.to_string());
    put(
        "truth records not in the map",
        result.missing_from_map.to_string(),
    );
    put(
        "map records not in the truth",
        result.missing_from_truth.to_string(),
    );
    put("map refs without a local id", unknown_refs.to_string());
    put("true entities", result.entities.to_string());
    put("persons", result.persons.to_string());
    put("true pairs", result.true_pairs.to_string());
    put("linked pairs", result.linked_pairs.to_string());
    put("correct pairs", result.correct_pairs.to_string());
    put("precision", format!("{:.4}", result.precision));
    put("recall", format!("{:.4}", result.recall));
    put("f1", format!("{:.4}", result.f1));
    put(
        "entities reconstructed exactly",
        format!("{:.4}", result.exact_share),
    );
    put("split entities", result.split_entities.to_string());
    put("merged persons", result.merged_persons.to_string());
    for (i, group) in result.worst.iter().enumerate() {
        let parts: Vec<String> = group
            .parts
            .iter()
            .map(|part| {
                part.iter()
                    .map(|(agency, id)| format!("{agency}:{id}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        put(
            &format!("worst error {} ({:?})", i + 1, group.kind).to_lowercase(),
            parts.join(" | "),
        );
    }
    rows.write(format, out)?;
    Ok(())
}
