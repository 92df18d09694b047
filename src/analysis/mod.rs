//! Repeat-victimisation analysis: from linked registrations to a released,
//! disclosure-controlled report.
//!
//! This is the figure the service exists for: of the persons registered as a
//! victim of (say) human trafficking in a period, what share is registered as a
//! victim again within 1..7 years, how soon, and of what. The definitions are
//! fixed in `docs/ANALYSIS.md`; the synthetic generator computes its true
//! figures from the same text, so every rule here follows that document to the
//! letter.
//!
//! The pipeline, one module per step:
//!
//! - [`params`]: the analyst's cohort options and their validation;
//! - `incidents`: registrations grouped by person and merged into incidents
//!   (same person, type and role within the incident window);
//! - [`cohort`]: each cohort member's index incident, outcome, follow-up time
//!   and censoring indicator, and the exact (unrounded) survival figures;
//! - [`km`]: Kaplan–Meier with Greenwood variance and log–log intervals;
//! - `breakdown`: counts and Kaplan–Meier figures per category;
//! - [`disclosure`]: cohort minimum, small-cell suppression, rounding and
//!   secondary suppression;
//! - `release`: the headline, curve and sensitivity table under disclosure
//!   control;
//! - [`report`]: the released report (what may leave the server);
//! - `render` and `plot`: terminal table, CSV, JSON lines, SVG/PNG.
//!
//! Only [`repeat_victimisation`] and [`sensitivity`] produce figures that may be
//! released; [`cohort_survival`] gives the exact internal figures for tests and
//! for the comparison with the generator's truth, and must never be sent to an
//! analyst.

mod breakdown;
pub mod cohort;
pub mod disclosure;
mod incidents;
pub mod km;
pub mod params;
mod plot;
mod release;
mod render;
pub mod report;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

pub use cohort::{CohortMember, CohortSurvival, HorizonEstimate, cohort_survival};
pub use disclosure::DisclosureRules;
pub use params::{Breakdown, ReportParams};
pub use report::{Report, SensitivityTable, repeat_victimisation, sensitivity};

/// One live registration after linkage: the unit the analysis counts from.
///
/// The integrator builds these from the store (withdrawn records already
/// removed) for one linkage partition; `person` is a dense index under that
/// partition, `agency` an index into the agency-name list passed alongside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// The linked person (dense index `0..persons` under one partition).
    pub person: u32,
    /// Event date (calendar day).
    pub date: NaiveDate,
    /// What happened; incidents are formed per event type.
    pub event_type: EventType,
    /// Victim or suspect; incidents are formed per role, and a suspect
    /// registration marks victim–offender overlap.
    pub role: Role,
    /// Registering agency: index into the agency-name list (also the agency-id
    /// order used to break ties and to name agency combinations).
    pub agency: u16,
    /// Age band at the event (breakdown "age band at index").
    pub age_band: AgeBand,
    /// Registered sex (breakdown "sex").
    pub sex: Sex,
    /// Region of residence (breakdown "region").
    pub region: Region,
    /// Residence-status category (breakdown "residence status").
    pub residence_status: ResidenceStatus,
    /// Stable record order, the last tie-break when two registrations of one
    /// person share type, role, date and agency.
    pub order: u32,
}

/// Everything that can go wrong between registrations and a released report.
///
/// Messages name an option or a count, never a person: nothing here carries
/// personal data. The server maps [`AnalysisError::InvalidOption`] to
/// `INVALID_ARGUMENT` and [`AnalysisError::CohortTooSmall`] to
/// `FAILED_PRECONDITION`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    /// A cohort option is unusable; `option` is its name as on the command line
    /// (`from`, `horizons`, `confidence`, ...).
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option's name, e.g. `"confidence"`.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The cohort has fewer persons than the operator's minimum. The actual
    /// size is deliberately not reported: it would itself be a small cell.
    #[error("the cohort has fewer than {minimum} persons, so no figures can be released")]
    CohortTooSmall {
        /// The operator's cohort minimum.
        minimum: u32,
    },
    /// The operator's disclosure rules are inconsistent (server configuration).
    #[error("invalid disclosure rules: {0}")]
    InvalidRules(String),
    /// There are no registrations, so the default period and follow-up end
    /// (earliest and latest event date) are undefined.
    #[error("there are no registrations to analyse")]
    NoRegistrations,
    /// A registration names an agency index outside the agency list
    /// (an integration error, not an analyst's).
    #[error(
        "registration {index} names agency index {agency}, but only {known} agencies are known"
    )]
    UnknownAgency {
        /// Position of the registration in the input slice.
        index: usize,
        /// The agency index it carries.
        agency: u16,
        /// Length of the agency-name list.
        known: usize,
    },
    /// The plot could not be drawn or written.
    #[error("cannot draw the plot {}: {reason}", path.display())]
    Plot {
        /// The requested output file.
        path: PathBuf,
        /// What failed (unsupported extension, font, I/O).
        reason: String,
    },
}

/// Draws the released cumulative-incidence curve of `report` to `path`: a step
/// curve with its shaded confidence band, the horizon estimates marked, and the
/// number at risk under the x axis.
///
/// The format follows the extension: `.svg` or `.png` (1200×800 pixels).
/// Only released (disclosure-controlled) values are drawn.
///
/// # Errors
/// [`AnalysisError::Plot`] for another extension or a drawing/writing
/// failure.
pub fn plot(report: &Report, path: &Path) -> Result<(), AnalysisError> {
    plot::draw(report, path)
}
