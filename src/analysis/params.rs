//! The analyst's cohort options (`veilink report` flags, the `ReportRequest`
//! message) and their validation.
//!
//! Options are chosen by the analyst; the disclosure rules are not (they are
//! the operator's, see [`super::disclosure::DisclosureRules`]). Every error
//! names the option as it is spelled on the command line, so the server can
//! answer `INVALID_ARGUMENT` with a message the analyst can act on.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::AnalysisError;
use super::km::normal_quantile;
use crate::vocab::{EventType, Role};

/// Longest horizon an analyst may ask for, in years (issue 7: 1..20).
pub const MAX_HORIZON_YEARS: u32 = 20;

/// Longest incident window, in days. A window of a year or more would merge
/// genuinely separate incidents; the limit keeps a typo from doing so.
pub const MAX_INCIDENT_WINDOW_DAYS: u32 = 365;

/// Days in a year for horizons: τ_h = 365.25·h days (`docs/ANALYSIS.md`).
pub const DAYS_PER_YEAR: f64 = 365.25;

/// What the analyst asks for: the cohort, the outcome, the horizons and the
/// breakdowns. `Default` gives the defaults of issue 7.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportParams {
    /// Event types that qualify as an index incident (default: the four
    /// `trafficking_*` types).
    pub index_types: Vec<EventType>,
    /// Role the person has in the index incident (default `victim`).
    pub index_role: Role,
    /// First day of the index period, inclusive (default: earliest event date).
    #[serde(with = "iso_date")]
    pub from: Option<NaiveDate>,
    /// Last day of the index period, inclusive (default: latest event date).
    #[serde(with = "iso_date")]
    pub to: Option<NaiveDate>,
    /// Event types that count as a repeat (empty: every type).
    pub outcome_types: Vec<EventType>,
    /// End of follow-up E, inclusive (default: latest event date in the data).
    #[serde(with = "iso_date")]
    pub follow_up_end: Option<NaiveDate>,
    /// Horizons in whole years, each in `1..=20` (default 1..=7). Reported in
    /// ascending order without duplicates.
    pub horizons_years: Vec<u32>,
    /// Registrations of one person, type and role at most this many days after
    /// an incident's start belong to that incident (default 14).
    pub incident_window_days: u32,
    /// Confidence level of the intervals, in (0, 1) (default 0.95).
    pub confidence: f64,
    /// Breakdown tables to add to the report (default none).
    pub breakdowns: Vec<Breakdown>,
}

impl Default for ReportParams {
    fn default() -> Self {
        ReportParams {
            index_types: EventType::ALL
                .iter()
                .copied()
                .filter(|t| t.is_trafficking())
                .collect(),
            index_role: Role::Victim,
            from: None,
            to: None,
            outcome_types: Vec::new(),
            follow_up_end: None,
            horizons_years: (1..=7).collect(),
            incident_window_days: 14,
            confidence: 0.95,
            breakdowns: Vec::new(),
        }
    }
}

impl ReportParams {
    /// Checks every option.
    ///
    /// # Errors
    /// [`AnalysisError::InvalidOption`] naming the first bad option:
    /// `index-types` (empty), `to` (period reversed: `from` after `to`),
    /// `follow-up-end` (before `from`), `horizons` (empty or outside 1..=20),
    /// `incident-window` (over 365 days), `confidence` (not in (0, 1)).
    pub fn validate(&self) -> Result<(), AnalysisError> {
        if self.index_types.is_empty() {
            return Err(invalid("index-types", "at least one event type is needed"));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(invalid(
                "to",
                format!("the index period is empty: {from} is after {to}"),
            ));
        }
        if let (Some(from), Some(end)) = (self.from, self.follow_up_end)
            && end < from
        {
            return Err(invalid(
                "follow-up-end",
                format!("{end} is before the start of the index period {from}"),
            ));
        }
        if self.horizons_years.is_empty() {
            return Err(invalid("horizons", "at least one horizon is needed"));
        }
        if let Some(bad) = self
            .horizons_years
            .iter()
            .find(|h| !(1..=MAX_HORIZON_YEARS).contains(*h))
        {
            return Err(invalid(
                "horizons",
                format!("{bad} years is outside 1..{MAX_HORIZON_YEARS}"),
            ));
        }
        if self.incident_window_days > MAX_INCIDENT_WINDOW_DAYS {
            return Err(invalid(
                "incident-window",
                format!(
                    "{} days is longer than the maximum of {MAX_INCIDENT_WINDOW_DAYS}",
                    self.incident_window_days
                ),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(invalid(
                "confidence",
                format!("{} is not strictly between 0 and 1", self.confidence),
            ));
        }
        Ok(())
    }

    /// The horizons in ascending order without duplicates.
    pub fn horizons(&self) -> Vec<u32> {
        let mut horizons = self.horizons_years.clone();
        horizons.sort_unstable();
        horizons.dedup();
        horizons
    }

    /// The standard-normal quantile z for the two-sided interval at
    /// [`Self::confidence`]: Φ⁻¹(1 − (1 − c)/2), e.g. 1.95996 for 0.95.
    pub fn z(&self) -> f64 {
        normal_quantile(1.0 - (1.0 - self.confidence) / 2.0)
    }
}

/// Parses event-type names for the option `option` (e.g. `index-types`).
///
/// # Errors
/// [`AnalysisError::InvalidOption`] naming the option and the unknown term.
pub fn parse_event_types<S: AsRef<str>>(
    option: &'static str,
    values: &[S],
) -> Result<Vec<EventType>, AnalysisError> {
    values
        .iter()
        .map(|v| {
            v.as_ref()
                .trim()
                .parse::<EventType>()
                .map_err(|e| invalid(option, e.to_string()))
        })
        .collect()
}

/// Parses the index role (`victim` or `suspect`) for the option `index-role`.
///
/// # Errors
/// [`AnalysisError::InvalidOption`] naming `index-role`.
pub fn parse_role(value: &str) -> Result<Role, AnalysisError> {
    value
        .trim()
        .parse::<Role>()
        .map_err(|e| invalid("index-role", e.to_string()))
}

/// Parses breakdown names (see [`Breakdown::as_str`]) for the option `breakdowns`.
///
/// # Errors
/// [`AnalysisError::InvalidOption`] naming `breakdowns` and the unknown name.
pub fn parse_breakdowns<S: AsRef<str>>(values: &[S]) -> Result<Vec<Breakdown>, AnalysisError> {
    values
        .iter()
        .map(|v| v.as_ref().trim().parse::<Breakdown>())
        .collect()
}

/// Parses an ISO date (`YYYY-MM-DD`) for the option `option` (`from`, `to`,
/// `follow-up-end`).
///
/// # Errors
/// [`AnalysisError::InvalidOption`] naming the option.
pub fn parse_date(option: &'static str, value: &str) -> Result<NaiveDate, AnalysisError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        invalid(
            option,
            format!("{value:?} is not a date of the form YYYY-MM-DD"),
        )
    })
}

fn invalid(option: &'static str, reason: impl Into<String>) -> AnalysisError {
    AnalysisError::InvalidOption {
        option,
        reason: reason.into(),
    }
}

/// A breakdown table the analyst can ask for (issue 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Breakdown {
    /// Event type of the first repeat incident (shares among the repeats).
    RepeatType,
    /// Age band at the index incident, minors (under 18) apart.
    AgeBand,
    /// Registered sex at the index incident.
    Sex,
    /// Victim–offender overlap: any suspect registration, before or after the index.
    Overlap,
    /// Agencies that registered the index incident (e.g. `care+police`).
    Agency,
    /// Residence status at the index incident.
    ResidenceStatus,
    /// Region at the index incident.
    Region,
}

impl Breakdown {
    /// Every breakdown, in report order.
    pub const ALL: &'static [Breakdown] = &[
        Breakdown::RepeatType,
        Breakdown::AgeBand,
        Breakdown::Sex,
        Breakdown::Overlap,
        Breakdown::Agency,
        Breakdown::ResidenceStatus,
        Breakdown::Region,
    ];

    /// The name on the command line and in JSON (`repeat-type`, `age-band`,
    /// `sex`, `overlap`, `agency`, `residence-status`, `region`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Breakdown::RepeatType => "repeat-type",
            Breakdown::AgeBand => "age-band",
            Breakdown::Sex => "sex",
            Breakdown::Overlap => "overlap",
            Breakdown::Agency => "agency",
            Breakdown::ResidenceStatus => "residence-status",
            Breakdown::Region => "region",
        }
    }

    /// A heading for tables and plots.
    pub const fn title(self) -> &'static str {
        match self {
            Breakdown::RepeatType => "Type of first repeat incident",
            Breakdown::AgeBand => "Age band at index incident",
            Breakdown::Sex => "Sex",
            Breakdown::Overlap => "Victim-offender overlap",
            Breakdown::Agency => "Agencies registering the index incident",
            Breakdown::ResidenceStatus => "Residence status at index incident",
            Breakdown::Region => "Region at index incident",
        }
    }
}

impl fmt::Display for Breakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Breakdown {
    type Err = AnalysisError;

    /// Parses a breakdown name (see [`Breakdown::as_str`]).
    ///
    /// # Errors
    /// [`AnalysisError::InvalidOption`] naming `breakdowns`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Breakdown::ALL
            .iter()
            .copied()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                let expected: Vec<&str> = Breakdown::ALL.iter().map(|b| b.as_str()).collect();
                invalid(
                    "breakdowns",
                    format!(
                        "unknown breakdown {s:?} (expected one of: {})",
                        expected.join(", ")
                    ),
                )
            })
    }
}

/// Serde for `Option<NaiveDate>` as an ISO `YYYY-MM-DD` string or null (the
/// crate's chrono is built without its serde feature).
pub(crate) mod iso_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(d) => s.collect_str(&d.format("%Y-%m-%d")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_of(err: AnalysisError) -> &'static str {
        match err {
            AnalysisError::InvalidOption { option, .. } => option,
            other => panic!("expected InvalidOption, got {other:?}"),
        }
    }

    /// The defaults are valid and are those of issue 7.
    #[test]
    fn defaults_are_valid() {
        let p = ReportParams::default();
        p.validate().unwrap();
        assert_eq!(p.index_types.len(), 4);
        assert_eq!(p.horizons(), (1..=7).collect::<Vec<_>>());
        assert!((p.z() - 1.959_963_984_540_054).abs() < 1e-12);
    }

    /// Each kind of bad input is rejected with the option it concerns.
    #[test]
    fn bad_options_are_named() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let cases: Vec<(ReportParams, &str)> = vec![
            (
                ReportParams {
                    index_types: vec![],
                    ..Default::default()
                },
                "index-types",
            ),
            (
                ReportParams {
                    from: Some(d("2020-02-01")),
                    to: Some(d("2020-01-01")),
                    ..Default::default()
                },
                "to",
            ),
            (
                ReportParams {
                    from: Some(d("2020-02-01")),
                    follow_up_end: Some(d("2020-01-01")),
                    ..Default::default()
                },
                "follow-up-end",
            ),
            (
                ReportParams {
                    horizons_years: vec![0],
                    ..Default::default()
                },
                "horizons",
            ),
            (
                ReportParams {
                    horizons_years: vec![21],
                    ..Default::default()
                },
                "horizons",
            ),
            (
                ReportParams {
                    confidence: 1.0,
                    ..Default::default()
                },
                "confidence",
            ),
            (
                ReportParams {
                    confidence: f64::NAN,
                    ..Default::default()
                },
                "confidence",
            ),
            (
                ReportParams {
                    incident_window_days: 366,
                    ..Default::default()
                },
                "incident-window",
            ),
        ];
        for (params, option) in cases {
            assert_eq!(option_of(params.validate().unwrap_err()), option);
        }
    }

    /// Unknown terms in string options name the option and the term.
    #[test]
    fn unknown_terms_name_the_option() {
        let err = parse_event_types("outcome-types", &["assault", "asault"]).unwrap_err();
        assert!(err.to_string().contains("outcome-types"), "{err}");
        assert!(err.to_string().contains("asault"), "{err}");
        assert_eq!(
            option_of(parse_breakdowns(&["sexx"]).unwrap_err()),
            "breakdowns"
        );
        assert_eq!(option_of(parse_role("witness").unwrap_err()), "index-role");
        assert_eq!(
            option_of(parse_date("from", "2020-13-01").unwrap_err()),
            "from"
        );
        assert_eq!(
            parse_breakdowns(&["age-band"]).unwrap(),
            vec![Breakdown::AgeBand]
        );
    }

    /// Parameters survive a JSON round trip (the audit log stores them).
    #[test]
    fn params_round_trip_through_json() {
        let p = ReportParams {
            from: Some(NaiveDate::from_ymd_opt(2016, 1, 1).unwrap()),
            breakdowns: vec![Breakdown::Sex, Breakdown::RepeatType],
            ..Default::default()
        };
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains("\"from\":\"2016-01-01\""), "{text}");
        let back: ReportParams = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }
}
