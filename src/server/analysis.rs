//! `Analysis`: the repeat-victimisation report for the analyst.
//!
//! The request becomes [`ReportParams`] (bad options are INVALID_ARGUMENT
//! naming the option); the registrations of every live record are read from
//! the in-memory state under the current linkage (and, for the sensitivity
//! table, under the strict and loose settings too); the analysis module
//! computes the released report under the operator's disclosure rules; the
//! query is logged (who, parameters, cells released) before the answer goes
//! out. Nothing record-level ever leaves through this service.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::ServiceState;
use super::auth::principal;
use super::error::ServiceError;
use super::state::{Linkage, read_lock};
use super::writer::WriteRequest;
use crate::analysis::{AnalysisError, Breakdown, Registration, ReportParams};
use crate::audit::entry::{LogEntry, ReportQuery};
use crate::link::Setting;
use crate::pb::v1 as pb;
use crate::wire;

/// The `veilink.v1.Analysis` service.
pub(crate) struct AnalysisService {
    state: Arc<ServiceState>,
}

impl AnalysisService {
    pub(crate) fn new(state: Arc<ServiceState>) -> AnalysisService {
        AnalysisService { state }
    }
}

impl From<AnalysisError> for ServiceError {
    fn from(error: AnalysisError) -> ServiceError {
        match error {
            AnalysisError::InvalidOption { .. } => ServiceError::InvalidArgument(error.to_string()),
            AnalysisError::CohortTooSmall { .. } | AnalysisError::NoRegistrations => {
                ServiceError::FailedPrecondition(error.to_string())
            }
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

fn invalid(option: &str, reason: impl std::fmt::Display) -> ServiceError {
    ServiceError::InvalidArgument(format!("invalid {option}: {reason}"))
}

fn event_types(option: &str, values: &[i32]) -> Result<Vec<crate::vocab::EventType>, ServiceError> {
    values
        .iter()
        .map(|v| {
            wire::event_type_from_proto(*v)
                .ok_or_else(|| invalid(option, format!("{v} is not an event type")))
        })
        .collect()
}

fn date(option: &'static str, text: &str) -> Result<Option<chrono::NaiveDate>, ServiceError> {
    if text.is_empty() {
        return Ok(None);
    }
    crate::analysis::params::parse_date(option, text)
        .map(Some)
        .map_err(ServiceError::from)
}

/// The analysis parameters of a request, validated.
///
/// # Errors
/// INVALID_ARGUMENT naming the option.
pub(crate) fn params_of(request: &pb::ReportRequest) -> Result<ReportParams, ServiceError> {
    let defaults = ReportParams::default();
    let index_types = if request.index_types.is_empty() {
        defaults.index_types.clone()
    } else {
        event_types("index-types", &request.index_types)?
    };
    let index_role = match request.index_role {
        0 => defaults.index_role,
        v => wire::role_from_proto(v)
            .ok_or_else(|| invalid("index-role", format!("{v} is not a role")))?,
    };
    let breakdowns = request
        .breakdowns
        .iter()
        .map(|b| match pb::Breakdown::try_from(*b) {
            Ok(pb::Breakdown::RepeatType) => Ok(Breakdown::RepeatType),
            Ok(pb::Breakdown::AgeBand) => Ok(Breakdown::AgeBand),
            Ok(pb::Breakdown::Sex) => Ok(Breakdown::Sex),
            Ok(pb::Breakdown::Overlap) => Ok(Breakdown::Overlap),
            Ok(pb::Breakdown::Agency) => Ok(Breakdown::Agency),
            Ok(pb::Breakdown::ResidenceStatus) => Ok(Breakdown::ResidenceStatus),
            Ok(pb::Breakdown::Region) => Ok(Breakdown::Region),
            _ => Err(invalid("breakdown", format!("{b} is not a breakdown"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let params = ReportParams {
        index_types,
        index_role,
        from: date("from", &request.from)?,
        to: date("to", &request.to)?,
        outcome_types: event_types("outcome-types", &request.outcome_types)?,
        follow_up_end: date("follow-up-end", &request.follow_up_end)?,
        horizons_years: if request.horizons_years.is_empty() {
            defaults.horizons_years.clone()
        } else {
            request.horizons_years.clone()
        },
        incident_window_days: request
            .incident_window_days
            .unwrap_or(defaults.incident_window_days),
        confidence: request.confidence.unwrap_or(defaults.confidence),
        breakdowns,
    };
    params.validate()?;
    Ok(params)
}

/// The registrations of every live record, with persons numbered densely
/// under the partition `person_of` gives (record seq → cluster label; a
/// record without a label is a person of its own).
fn registrations<K: std::hash::Hash + Eq>(
    linkage: &Linkage,
    mut person_of: impl FnMut(u64) -> Option<K>,
) -> Vec<Registration> {
    let mut dense: HashMap<Result<K, u64>, u32> = HashMap::with_capacity(linkage.events.len());
    let mut seqs: Vec<u64> = linkage.events.keys().copied().collect();
    seqs.sort_unstable();
    let mut out = Vec::with_capacity(seqs.len());
    for (order, seq) in seqs.into_iter().enumerate() {
        let Some(row) = linkage.events.get(&seq) else {
            continue;
        };
        let label = person_of(seq).ok_or(seq);
        let next = dense.len() as u32;
        let person = *dense.entry(label).or_insert(next);
        out.push(Registration {
            person,
            date: row.date,
            event_type: row.event_type,
            role: row.role,
            agency: row.agency,
            age_band: row.age_band,
            sex: row.sex,
            region: row.region,
            residence_status: row.residence_status,
            order: order as u32,
        });
    }
    out
}

/// Registrations under one linkage setting.
fn registrations_under(linkage: &Linkage, setting: Setting) -> Vec<Registration> {
    let labels: HashMap<u64, u64> = linkage.index.partition(setting).into_iter().collect();
    registrations(linkage, |seq| labels.get(&seq).copied())
}

fn incidence(i: &crate::analysis::report::Incidence) -> pb::Incidence {
    pb::Incidence {
        percent: i.percent,
        ci_low: i.ci_low,
        ci_high: i.ci_high,
    }
}

fn horizon(h: &crate::analysis::report::HorizonFigure) -> pb::HorizonFigure {
    pb::HorizonFigure {
        years: h.years,
        cumulative_incidence: Some(incidence(&h.cumulative_incidence)),
        at_risk: h.at_risk,
        repeats: h.repeats,
        crude: Some(pb::CrudeProportion {
            persons: h.crude.persons,
            repeats: h.crude.repeats,
            percent: h.crude.percent,
        }),
    }
}

/// The wire form of a released report.
fn report_message(
    report: &crate::analysis::Report,
    audit_index: u64,
) -> Result<pb::Report, ServiceError> {
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    Ok(pb::Report {
        period_from: day(report.period_from),
        period_to: day(report.period_to),
        follow_up_end: day(report.follow_up_end),
        cohort_size: report.cohort_size,
        repeats: report.repeats,
        horizons: report.horizons.iter().map(horizon).collect(),
        curve: report
            .curve
            .iter()
            .map(|p| pb::CurvePoint {
                months: p.months,
                percent: p.percent,
                ci_low: p.ci_low,
                ci_high: p.ci_high,
            })
            .collect(),
        sensitivity: report
            .sensitivity
            .iter()
            .flat_map(|t| &t.linkages)
            .map(|c| pb::SensitivityColumn {
                linkage: c.linkage.clone(),
                withheld: c.withheld,
                cohort_size: c.cohort_size,
                repeats: c.repeats,
                horizons: c.horizons.iter().map(horizon).collect(),
            })
            .collect(),
        cells_released: report.cells_released(),
        cells_suppressed: report.cells_suppressed(),
        audit_index,
        report_json: serde_json::to_string(report)
            .map_err(|e| ServiceError::Internal(format!("report JSON: {e}")))?,
    })
}

impl AnalysisService {
    /// Appends a `report_query` entry (durable before it returns); returns its index.
    async fn log_query(
        &self,
        principal: &str,
        parameters: serde_json::Value,
        released: u64,
        suppressed: u64,
    ) -> Result<u64, ServiceError> {
        let entry = LogEntry::ReportQuery(ReportQuery {
            principal: principal.to_string(),
            parameters: parameters.to_string(),
            cells_released: released.min(u64::from(u32::MAX)) as u32,
            cells_suppressed: suppressed.min(u64::from(u32::MAX)) as u32,
            time: chrono::Utc::now().timestamp(),
        });
        let (reply, answer) = oneshot::channel();
        self.state
            .writer
            .send(WriteRequest::Log(vec![entry], reply))
            .await?;
        answer
            .await
            .map_err(|_| ServiceError::Unavailable("the writer stopped".into()))?
    }
}

#[tonic::async_trait]
impl pb::analysis_server::Analysis for AnalysisService {
    async fn repeat_victimisation(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::Report>, Status> {
        let caller = principal(&request)?;
        let request = request.into_inner();
        let params = match params_of(&request) {
            Ok(params) => params,
            Err(refused) => {
                // A refused request is logged too: who asked, and that nothing
                // was released.
                let parameters = serde_json::json!({ "refused": refused.to_string() });
                self.log_query(&caller.name, parameters, 0, 0).await?;
                return Err(refused.into());
            }
        };
        let rules = self.state.disclosure;
        let state = self.state.clone();
        let wants_sensitivity = request.sensitivity;
        let params_for_task = params.clone();
        let computed = tokio::task::spawn_blocking(move || {
            let (agencies, default, others) = {
                let linkage = state.linkage.read()?;
                let agencies = read_lock(&state.agencies, "agency")?.names().to_vec();
                let default = registrations(&linkage, |seq| linkage.index.person_of(seq));
                let others = if wants_sensitivity {
                    Some((
                        registrations_under(&linkage, Setting::Strict),
                        registrations_under(&linkage, Setting::Loose),
                    ))
                } else {
                    None
                };
                (agencies, default, others)
            };
            let mut report = crate::analysis::repeat_victimisation(
                &default,
                &agencies,
                &params_for_task,
                &rules,
            );
            if let (Ok(report), Some((strict, loose))) = (&mut report, &others) {
                let partitions: [(&str, &[Registration]); 3] = [
                    ("strict", strict.as_slice()),
                    ("default", default.as_slice()),
                    ("loose", loose.as_slice()),
                ];
                report.sensitivity = Some(crate::analysis::sensitivity(
                    &partitions,
                    &agencies,
                    &params_for_task,
                    &rules,
                )?);
            }
            Ok::<_, ServiceError>(report)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("report task: {e}")))??;

        // Every query is logged, also one that released nothing.
        let (released, suppressed) = match &computed {
            Ok(report) => (report.cells_released(), report.cells_suppressed()),
            Err(_) => (0, 0),
        };
        let mut logged = serde_json::to_value(&params)
            .map_err(|e| ServiceError::Internal(format!("parameters: {e}")))?;
        if let Some(object) = logged.as_object_mut() {
            object.insert("sensitivity".into(), wants_sensitivity.into());
        }
        let audit_index = self
            .log_query(&caller.name, logged, released, suppressed)
            .await?;
        let report = computed.map_err(ServiceError::from)?;
        Ok(Response::new(report_message(&report, audit_index)?))
    }
}
