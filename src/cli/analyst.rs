//! The analyst's command: `veilink report` — the repeat-victimisation
//! report as a terminal table, JSON or CSV, and optionally its plot.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, ConnectArgs, Format};
use crate::client::{self, ClientError};
use crate::pb::v1 as pb;
use crate::vocab::EventType;

/// `veilink report` arguments (defaults in docs/ANALYSIS.md).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Server and identity (the analyst).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Index event types (comma-separated) [default: the four trafficking_* types].
    #[arg(long, value_delimiter = ',')]
    pub index_types: Vec<String>,
    /// Role at the index event: victim or suspect [default: victim].
    #[arg(long)]
    pub index_role: Option<String>,
    /// First day of the index period, YYYY-MM-DD [default: earliest event].
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of the index period, YYYY-MM-DD [default: latest event].
    #[arg(long)]
    pub to: Option<String>,
    /// Outcome event types (comma-separated) [default: every type].
    #[arg(long, value_delimiter = ',')]
    pub outcome_types: Vec<String>,
    /// End of follow-up, YYYY-MM-DD [default: the latest event date stored].
    #[arg(long)]
    pub follow_up_end: Option<String>,
    /// Horizons in years, each 1..=20 (comma-separated) [default: 1..7].
    #[arg(long, value_delimiter = ',')]
    pub horizons: Vec<u32>,
    /// Incident window in days [default: 14].
    #[arg(long)]
    pub incident_window: Option<u32>,
    /// Confidence level of the intervals, in (0, 1) [default: 0.95].
    #[arg(long)]
    pub confidence: Option<f64>,
    /// Breakdowns (comma-separated): repeat-type, age-band, sex, overlap,
    /// agency, residence-status, region; or `all`.
    #[arg(long, value_delimiter = ',')]
    pub breakdowns: Vec<String>,
    /// Also compute the headline figures under strict and loose linkage.
    #[arg(long)]
    pub sensitivity: bool,
    /// Draw the cumulative curve to FILE (.svg or .png).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

fn event_types(option: &str, values: &[String]) -> Result<Vec<i32>, CliError> {
    values
        .iter()
        .map(|v| {
            v.trim()
                .parse::<EventType>()
                .map(|t| crate::wire::event_type_to_proto(t) as i32)
                .map_err(|e| CliError::input(format!("--{option}: {e}")))
        })
        .collect()
}

/// The gRPC request of the arguments.
pub(super) fn request_of(args: &ReportArgs) -> Result<pb::ReportRequest, CliError> {
    let index_role = match &args.index_role {
        None => 0,
        Some(role) => {
            let role = crate::analysis::params::parse_role(role)
                .map_err(|e| CliError::input(format!("--index-role: {e}")))?;
            crate::wire::role_to_proto(role) as i32
        }
    };
    let breakdown_names: Vec<String> = if args.breakdowns.iter().any(|b| b == "all") {
        crate::analysis::Breakdown::ALL
            .iter()
            .map(|b| b.as_str().to_string())
            .collect()
    } else {
        args.breakdowns.clone()
    };
    let breakdowns = crate::analysis::params::parse_breakdowns(&breakdown_names)
        .map_err(|e| CliError::input(format!("--breakdowns: {e}")))?
        .into_iter()
        .map(|b| {
            use crate::analysis::Breakdown as B;
            (match b {
                B::RepeatType => pb::Breakdown::RepeatType,
                B::AgeBand => pb::Breakdown::AgeBand,
                B::Sex => pb::Breakdown::Sex,
                B::Overlap => pb::Breakdown::Overlap,
                B::Agency => pb::Breakdown::Agency,
                B::ResidenceStatus => pb::Breakdown::ResidenceStatus,
                B::Region => pb::Breakdown::Region,
            }) as i32
        })
        .collect();
    Ok(pb::ReportRequest {
        index_types: event_types("index-types", &args.index_types)?,
        index_role,
        from: args.from.clone().unwrap_or_default(),
        to: args.to.clone().unwrap_or_default(),
        outcome_types: event_types("outcome-types", &args.outcome_types)?,
        follow_up_end: args.follow_up_end.clone().unwrap_or_default(),
        horizons_years: args.horizons.clone(),
        incident_window_days: args.incident_window,
        confidence: args.confidence,
        breakdowns,
        sensitivity: args.sensitivity,
    })
}

/// Asks the server for a report and returns it (with its audit index).
///
/// # Errors
/// Connection errors; the server's INVALID_ARGUMENT / FAILED_PRECONDITION.
pub async fn fetch_report(
    connect: &ConnectArgs,
    request: pb::ReportRequest,
) -> Result<(crate::analysis::Report, u64), CliError> {
    let channel = client::connect(&connect.server, &connect.pki, &connect.name).await?;
    let reply = pb::analysis_client::AnalysisClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .repeat_victimisation(request)
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let report: crate::analysis::Report =
        serde_json::from_str(&reply.report_json).map_err(|e| CliError {
            bad_input: false,
            error: anyhow::anyhow!("the server's report does not parse: {e}"),
        })?;
    Ok((report, reply.audit_index))
}

/// `veilink report`.
pub(super) async fn report(
    args: ReportArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let request = request_of(&args)?;
    let (report, _) = fetch_report(&args.connect, request).await?;
    match format {
        Format::Table => report.render_table(out)?,
        Format::Json => report.render_json(out)?,
        Format::Csv => report.render_csv(out)?,
    }
    if let Some(path) = &args.plot {
        report.plot(path).map_err(|e| CliError {
            bad_input: false,
            error: e.into(),
        })?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}
