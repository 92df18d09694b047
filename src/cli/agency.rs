//! The agency's commands: `keygen`, `encode`, `submit`, `withdraw`, and the
//! generator `synth`. Everything that reads raw data runs here, on the
//! agency's machine.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{CliError, ConnectArgs, Format, Rows};
use crate::client::submit::{self, SubmitOptions, SubmitProgress, SubmitSummary};
use crate::client::withdraw;
use crate::encode::{Encoder, LinkageSecret, OnError, Schema};

/// What to do with a CSV line that cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnErrorArg {
    /// Stop at the first bad line.
    #[default]
    Fail,
    /// Skip bad lines and count them by reason.
    Skip,
}

impl From<OnErrorArg> for OnError {
    fn from(arg: OnErrorArg) -> OnError {
        match arg {
            OnErrorArg::Fail => OnError::Fail,
            OnErrorArg::Skip => OnError::Skip,
        }
    }
}

/// The key, schema and input of an agency command.
#[derive(Debug, Clone, Args)]
pub struct EncodingArgs {
    /// The linkage secret (32 bytes, from `veilink keygen`).
    #[arg(long, env = "VEILINK_KEY")]
    pub key: PathBuf,
    /// The schema file describing the CSV (docs/SCHEMA.md).
    #[arg(long)]
    pub schema: PathBuf,
    /// The agency's CSV export.
    #[arg(long)]
    pub input: PathBuf,
    /// Stop at the first malformed line, or skip and count.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Fail)]
    pub on_error: OnErrorArg,
}

impl EncodingArgs {
    fn encoder(&self) -> Result<Encoder, CliError> {
        let secret = LinkageSecret::load(&self.key)?;
        let schema = Schema::load(&self.schema)?;
        Ok(Encoder::new(&secret, &schema))
    }
}

/// `veilink encode` arguments.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Key, schema, input.
    #[command(flatten)]
    pub encoding: EncodingArgs,
    /// Where to write exactly what would be sent (JSON lines, docs/ENCODING.md).
    #[arg(long)]
    pub output: PathBuf,
    /// Where to write local record id -> record ref (stays with the agency).
    #[arg(long)]
    pub refs_out: Option<PathBuf>,
}

/// `veilink submit` arguments.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Server and identity.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Key, schema, input.
    #[command(flatten)]
    pub encoding: EncodingArgs,
    /// Where to write local record id -> record ref (stays with the agency).
    #[arg(long)]
    pub refs_out: Option<PathBuf>,
    /// Where to keep the receipts (JSON lines; `audit verify --receipts` checks them).
    #[arg(long)]
    pub receipts_out: Option<PathBuf>,
    /// Records per batch.
    #[arg(long, default_value_t = submit::DEFAULT_BATCH_RECORDS)]
    pub batch_records: usize,
}

/// `veilink withdraw` arguments.
#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// Server and identity.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Key, schema, and the CSV of the records to withdraw.
    #[command(flatten)]
    pub encoding: EncodingArgs,
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(total_bytes: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    let template =
        format!("{what} [{{elapsed_precise}}] {{bar:40}} {{bytes}}/{{total_bytes}} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// `veilink keygen --out FILE`.
pub(super) fn keygen(
    out_file: PathBuf,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    LinkageSecret::generate_to_file(&out_file)?;
    let secret = LinkageSecret::load(&out_file)?;
    let mut rows = Rows::new(&["key_file", "key_id"]);
    rows.push(vec![
        out_file.display().to_string(),
        super::output::hex(&secret.key_id()),
    ]);
    rows.write(format, out)?;
    Ok(())
}

/// `veilink encode`: the summary goes to stderr, the records to `--output`.
pub(super) fn encode(args: EncodeArgs) -> Result<(), CliError> {
    let encoder = args.encoding.encoder()?;
    let total = std::fs::metadata(&args.encoding.input)
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = progress_bar(total, "encode");
    let mut tick = |p: crate::encode::Progress| {
        bar.set_position(p.bytes_read);
        bar.set_message(format!("{} records", p.records_read));
    };
    let summary = crate::encode::encode_file(
        &encoder,
        &args.encoding.input,
        &args.output,
        args.refs_out.as_deref(),
        args.encoding.on_error.into(),
        Some(&mut tick),
    )?;
    bar.finish_and_clear();
    eprint!("{summary}");
    Ok(())
}

fn submit_rows(summary: &SubmitSummary) -> Rows {
    let mut rows = Rows::new(&["item", "value"]);
    let mut put = |k: &str, v: String| rows.push(vec![k.to_string(), v]);
    put("records read", summary.records_read.to_string());
    put("accepted", summary.accepted.to_string());
    put("corrected", summary.corrected.to_string());
    let skipped: u64 = summary.skipped.values().sum();
    put("rejected (skipped lines)", skipped.to_string());
    for (reason, count) in &summary.skipped {
        put(&format!("  skipped: {reason}"), count.to_string());
    }
    put(
        "invalid national ids",
        summary.invalid_national_ids.to_string(),
    );
    put(
        "unreadable birth dates (sent as missing)",
        summary.unreadable_birth_dates.to_string(),
    );
    put("batches", summary.batches.to_string());
    put("replayed batches", summary.replayed_batches.to_string());
    put("reconnects", summary.reconnects.to_string());
    put("seconds", format!("{:.2}", summary.seconds));
    let rate = if summary.seconds > 0.0 {
        summary.accepted as f64 / summary.seconds
    } else {
        0.0
    };
    put("records/s", format!("{rate:.0}"));
    rows
}

/// `veilink submit`.
pub(super) fn submit(
    args: SubmitArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let encoder = args.encoding.encoder()?;
    if encoder.schema().agency() != args.connect.name {
        tracing::warn!(
            schema_agency = encoder.schema().agency(),
            principal = %args.connect.name,
            "the schema's agency differs from the principal; the server uses the certificate's agency"
        );
    }
    let options = SubmitOptions {
        batch_records: args.batch_records.max(1),
        refs_out: args.refs_out,
        receipts_out: args.receipts_out,
        on_error: args.encoding.on_error.into(),
        ..SubmitOptions::default()
    };
    let total = std::fs::metadata(&args.encoding.input)
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = progress_bar(total, "submit");
    let started = std::time::Instant::now();
    let mut tick = |p: SubmitProgress| {
        bar.set_position(p.bytes_read);
        let rate = p.records_acknowledged as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{} acknowledged, {rate:.0} records/s",
            p.records_acknowledged
        ));
    };
    let runtime = super::runtime()?;
    let summary = submit::submit_file(
        runtime.handle(),
        &args.connect.server,
        &args.connect.pki,
        &args.connect.name,
        &encoder,
        &args.encoding.input,
        &options,
        &mut tick,
    )?;
    bar.finish_and_clear();
    submit_rows(&summary).write(format, out)?;
    Ok(())
}

/// `veilink withdraw`.
pub(super) fn withdraw(
    args: WithdrawArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let encoder = args.encoding.encoder()?;
    let runtime = super::runtime()?;
    let summary = runtime.block_on(withdraw::withdraw_file(
        &args.connect.server,
        &args.connect.pki,
        &args.connect.name,
        &encoder,
        &args.encoding.input,
        args.encoding.on_error.into(),
    ))?;
    let mut rows = Rows::new(&["item", "value"]);
    rows.push(vec![
        "records read".into(),
        summary.records_read.to_string(),
    ]);
    rows.push(vec!["withdrawn".into(), summary.withdrawn.to_string()]);
    rows.push(vec!["not found".into(), summary.not_found.to_string()]);
    rows.push(vec!["skipped lines".into(), summary.skipped.to_string()]);
    rows.push(vec![
        "audit indexes".into(),
        summary
            .audit_indexes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    ]);
    rows.write(format, out)?;
    Ok(())
}

/// `veilink synth` arguments.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Persons in the population.
    #[arg(long, default_value_t = 20_000)]
    pub persons: u64,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (agency CSVs, schema files, truth).
    #[arg(long)]
    pub out: PathBuf,
    /// Agencies (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = crate::synth::DEFAULT_AGENCIES.map(String::from))]
    pub agencies: Vec<String>,
    /// Share of registrations with errors (docs/SYNTHETIC.md).
    #[arg(long, default_value_t = 0.05)]
    pub error_rate: f64,
    /// First year of events.
    #[arg(long, default_value_t = 2012)]
    pub start: i32,
    /// Last year of events.
    #[arg(long, default_value_t = 2022)]
    pub end: i32,
}

/// `veilink synth`.
pub(super) fn synth(args: SynthArgs, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    let config = crate::synth::SynthConfig {
        persons: args.persons,
        seed: args.seed,
        agencies: args.agencies,
        error_rate: args.error_rate,
        start_year: args.start,
        end_year: args.end,
    };
    let summary = crate::synth::generate(&config, &args.out)?;
    let mut rows = Rows::new(&["item", "value"]);
    rows.push(vec!["persons".into(), summary.persons.to_string()]);
    rows.push(vec![
        "persons registered".into(),
        summary.persons_registered.to_string(),
    ]);
    for (agency, records) in &summary.records_per_agency {
        rows.push(vec![format!("records {agency}"), records.to_string()]);
        rows.push(vec![
            format!("files {agency}"),
            format!(
                "{}, {}",
                args.out.join(format!("{agency}.csv")).display(),
                args.out.join(format!("{agency}.schema.toml")).display()
            ),
        ]);
    }
    rows.push(vec!["cohort size".into(), summary.cohort_size.to_string()]);
    rows.push(vec![
        "truth".into(),
        format!(
            "{}, {}",
            args.out.join("truth.csv").display(),
            args.out.join("truth-summary.json").display()
        ),
    ]);
    rows.write(format, out)?;
    Ok(())
}
