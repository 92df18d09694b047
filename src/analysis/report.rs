//! The released report: the only analysis output that may leave the server.
//!
//! Every number here has passed disclosure control (`disclosure`): counts
//! are rounded or suppressed (`None`, shown as `*`), percentages come from
//! rounded counts, and Kaplan–Meier figures are released only where enough
//! persons are at risk and enough repeats were observed. The structs are plain
//! serde data so the server can send them and the CLI can render them.

use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::AnalysisError;
pub use super::breakdown::{BreakdownRow, BreakdownTable, GroupCurve};
use super::disclosure::DisclosureRules;
use super::params::ReportParams;
pub use super::release::{repeat_victimisation, sensitivity};

/// A cumulative incidence F(t) = 1 − S(t) in percent with its confidence
/// interval, each to one decimal; `None` where not released.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Incidence {
    /// Kaplan–Meier cumulative incidence, percent.
    pub percent: Option<f64>,
    /// Lower confidence limit, percent.
    pub ci_low: Option<f64>,
    /// Upper confidence limit, percent.
    pub ci_high: Option<f64>,
}

/// The crude proportion at a horizon among members with complete follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CrudeProportion {
    /// Members whose potential follow-up reaches the horizon (rounded).
    pub persons: Option<u64>,
    /// Of those, members with a repeat by the horizon (rounded).
    pub repeats: Option<u64>,
    /// `repeats / persons` from the rounded counts, percent.
    pub percent: Option<f64>,
}

/// The headline figures at one horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HorizonFigure {
    /// The horizon in years.
    pub years: u32,
    /// Kaplan–Meier cumulative incidence with its interval.
    pub cumulative_incidence: Incidence,
    /// Persons still at risk at the horizon (rounded).
    pub at_risk: Option<u64>,
    /// Observed repeats by the horizon (rounded).
    pub repeats: Option<u64>,
    /// Crude proportion among members with complete follow-up.
    pub crude: CrudeProportion,
}

/// One released point of the cumulative-incidence curve (monthly grid).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Months since the index date (a month is 365.25/12 days).
    pub months: u32,
    /// Cumulative incidence, percent.
    pub percent: f64,
    /// Lower confidence limit, percent (absent while F = 0).
    pub ci_low: Option<f64>,
    /// Upper confidence limit, percent.
    pub ci_high: Option<f64>,
}

/// How much disclosure control withheld, for the reader and the audit log.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DisclosureSummary {
    /// Released figures (counts and estimates).
    pub cells_released: u64,
    /// Suppressed figures (primary, secondary and withheld).
    pub cells_suppressed: u64,
    /// Breakdown tables that could not be released at all.
    pub tables_withheld: u64,
    /// Plain-language notes for the reader.
    pub notes: Vec<String>,
}

/// The released repeat-victimisation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The analyst's parameters, echoed.
    pub params: ReportParams,
    /// Resolved first day of the index period.
    #[serde(with = "iso_day")]
    pub period_from: NaiveDate,
    /// Resolved last day of the index period.
    #[serde(with = "iso_day")]
    pub period_to: NaiveDate,
    /// Resolved end of follow-up.
    #[serde(with = "iso_day")]
    pub follow_up_end: NaiveDate,
    /// The operator's rules that were applied.
    pub rules: DisclosureRules,
    /// Cohort size (rounded).
    pub cohort_size: Option<u64>,
    /// Repeats observed by the end of follow-up (rounded).
    pub repeats: Option<u64>,
    /// Headline figures per horizon, ascending.
    pub horizons: Vec<HorizonFigure>,
    /// The cumulative-incidence curve on a monthly grid, for plotting.
    pub curve: Vec<CurvePoint>,
    /// Breakdown tables, in the order asked for.
    pub breakdowns: Vec<BreakdownTable>,
    /// The linkage-sensitivity table, when computed (see [`sensitivity`]);
    /// the server sets it when the analyst asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<SensitivityTable>,
    /// What disclosure control did (excluding the sensitivity table's own).
    pub disclosure: DisclosureSummary,
}

impl Report {
    /// Released figures in the report and its sensitivity table (audit log).
    pub fn cells_released(&self) -> u64 {
        self.disclosure.cells_released + self.sensitivity.as_ref().map_or(0, |s| s.cells_released)
    }

    /// Suppressed figures in the report and its sensitivity table (audit log).
    pub fn cells_suppressed(&self) -> u64 {
        self.disclosure.cells_suppressed
            + self.sensitivity.as_ref().map_or(0, |s| s.cells_suppressed)
    }

    /// Writes the report as a terminal table (see `render`).
    ///
    /// # Errors
    /// Any error of `out`.
    pub fn render_table(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        super::render::table(self, out)
    }

    /// Writes the report as tidy CSV: `section,group,label,years,measure,value`.
    ///
    /// # Errors
    /// Any error of `out`.
    pub fn render_csv(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        super::render::csv(self, out)
    }

    /// Writes the report as one JSON object on one line.
    ///
    /// # Errors
    /// Any error of `out`.
    pub fn render_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    }

    /// Draws the curve to `path` (`.svg` or `.png`); see [`super::plot()`].
    ///
    /// # Errors
    /// [`AnalysisError::Plot`].
    pub fn plot(&self, path: &Path) -> Result<(), AnalysisError> {
        super::plot(self, path)
    }
}

/// One linkage setting's headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityColumn {
    /// The linkage setting: `strict`, `default` or `loose`.
    pub linkage: String,
    /// True when this setting's cohort is under the minimum (no figures).
    pub withheld: bool,
    /// Cohort size (rounded).
    pub cohort_size: Option<u64>,
    /// Repeats observed by the end of follow-up (rounded).
    pub repeats: Option<u64>,
    /// Headline figures per horizon.
    pub horizons: Vec<HorizonFigure>,
}

/// The same headline figures under each linkage setting, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityTable {
    /// One column per linkage setting, in the order given.
    pub linkages: Vec<SensitivityColumn>,
    /// Released figures (audit log).
    pub cells_released: u64,
    /// Suppressed figures (audit log).
    pub cells_suppressed: u64,
}

/// Serde for a `NaiveDate` as `YYYY-MM-DD`.
mod iso_day {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&date.format("%Y-%m-%d"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(d)?;
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(serde::de::Error::custom)
    }
}
