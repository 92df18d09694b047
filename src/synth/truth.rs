//! The true figures: what a perfect linkage and analysis would report.
//!
//! For every person the generator knows all registrations — those written to
//! the agency files and those that fall after the end of the period. This
//! module applies the definitions of `docs/ANALYSIS.md` to each person's
//! written registrations (incidents with a 14-day start-anchored window, the
//! trafficking index incident, the first later victim incident, censoring at
//! the follow-up end E) and computes the Kaplan–Meier cumulative incidence,
//! the numbers at risk and the crude proportions exactly as that document
//! defines them, so that `veilink report` on perfectly linked data equals the
//! `censored` figures. The `uncensored` figures use every registration,
//! including those after E: they are the quantity the Kaplan–Meier estimate
//! estimates. Only a few numbers per cohort member are kept in memory.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::events::{REPEAT_FRACTION, REPEAT_RATE_PER_YEAR, model_cumulative};
use super::{YEAR_DAYS, date_of};
use crate::vocab::{EventType, Role};

/// The incident window of `docs/ANALYSIS.md`, in days.
pub const INCIDENT_WINDOW_DAYS: i32 = 14;
/// Horizons of the summary, in years.
pub const HORIZONS_YEARS: [u32; 7] = [1, 2, 3, 4, 5, 6, 7];

/// The default index event types: the four `trafficking_*` types.
fn index_types() -> Vec<EventType> {
    EventType::ALL
        .iter()
        .copied()
        .filter(|t| t.is_trafficking())
        .collect()
}

/// The true cohort figures of one synthetic data set (`truth-summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthSummary {
    /// Seed of the run.
    pub seed: u64,
    /// Persons in the population (registered or not).
    pub persons: u64,
    /// Error rate R: probability that a record is corrupted.
    pub error_rate: f64,
    /// First year of the period.
    pub start_year: i32,
    /// Last year of the period.
    pub end_year: i32,
    /// Agencies, in the configured order.
    pub agencies: Vec<String>,
    /// Earliest written event date: the default cohort period start.
    #[serde(with = "iso_date")]
    pub period_from: Option<NaiveDate>,
    /// Latest written event date: the default cohort period end.
    #[serde(with = "iso_date")]
    pub period_to: Option<NaiveDate>,
    /// Follow-up end E: the latest written event date (`None` without records).
    #[serde(with = "iso_date")]
    pub follow_up_end: Option<NaiveDate>,
    /// Incident window in days (14).
    pub incident_window_days: i32,
    /// Index event types (the four `trafficking_*`).
    pub index_types: Vec<EventType>,
    /// Index role (`victim`).
    pub index_role: Role,
    /// Outcome event types (every type).
    pub outcome_types: Vec<EventType>,
    /// Persons with an index incident in the written data.
    pub cohort_size: u64,
    /// Horizons in years, 1..=7.
    pub horizons_years: Vec<u32>,
    /// Figures with censoring at E, per horizon (what a report on perfectly
    /// linked data gives).
    pub censored: Vec<CensoredHorizon>,
    /// Figures without censoring, per horizon.
    pub uncensored: Vec<UncensoredHorizon>,
    /// Cohort members with an observed repeat (δ = 1).
    pub repeats_observed: u64,
    /// Event type of the first repeat among those with δ = 1; every type is
    /// present, with zero counts.
    pub first_repeat_types: BTreeMap<EventType, u64>,
    /// Cohort members also registered as a suspect.
    pub victim_offender_overlap: Overlap,
    /// Records written per agency.
    pub records_per_agency: BTreeMap<String, u64>,
    /// Persons with at least one written record.
    pub persons_registered: u64,
    /// Pairs of written records that belong to the same person (Σ n·(n−1)/2
    /// over persons, all agencies together): the true matches for linkage
    /// precision and recall.
    pub true_record_pairs: u64,
    /// The hazard model that generated the repeats.
    pub model: RepeatModel,
}

/// Censored figures at one horizon (`docs/ANALYSIS.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CensoredHorizon {
    /// Horizon h in years (τ_h = 365.25·h days).
    pub years: u32,
    /// Kaplan–Meier cumulative incidence F(h) = 1 − S(τ_h).
    pub cumulative_incidence: f64,
    /// Number at risk #{i : T_i ≥ τ_h}.
    pub at_risk: u64,
    /// Crude proportion among members with complete potential follow-up.
    pub crude: CrudeProportion,
}

/// A crude proportion with its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrudeProportion {
    /// Members with E − d₀ ≥ τ_h, δ = 1 and T ≤ τ_h.
    pub numerator: u64,
    /// Members with E − d₀ ≥ τ_h.
    pub denominator: u64,
    /// numerator / denominator; `None` when the denominator is 0.
    pub proportion: Option<f64>,
}

/// Uncensored figures at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UncensoredHorizon {
    /// Horizon h in years.
    pub years: u32,
    /// Cohort members whose first repeat starts within τ_h days of d₀,
    /// counting registrations after E.
    pub repeated: u64,
    /// repeated / cohort size; `None` for an empty cohort.
    pub share: Option<f64>,
}

/// Victim–offender overlap in the cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlap {
    /// Members with any written registration as a suspect.
    pub count: u64,
    /// count / cohort size; `None` for an empty cohort.
    pub share: Option<f64>,
}

/// Parameters of the cure-fraction model F(t) = π·(1 − e^(−λt)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatModel {
    /// π: share ever re-victimised.
    pub repeat_fraction: f64,
    /// λ: rate per year.
    pub rate_per_year: f64,
    /// F(h) of the model at each horizon (before registration delays).
    pub cumulative: Vec<f64>,
}

/// Serialises `Option<NaiveDate>` as an ISO date string or `null`.
mod iso_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        date: &Option<NaiveDate>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match date {
            Some(d) => serializer.serialize_str(&d.format("%Y-%m-%d").to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NaiveDate>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// One registration of a person, as the analysis sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PersonRegistration {
    /// Registered date (day number).
    pub(crate) day: i32,
    pub(crate) event_type: EventType,
    pub(crate) role: Role,
    /// Rank of the agency id in sorted order (ties are broken by agency id).
    pub(crate) agency_rank: usize,
    /// Whether the record is in the files (registered on or before the end
    /// of the period).
    pub(crate) written: bool,
}

/// What the truth keeps of one cohort member.
#[derive(Debug, Clone, Copy)]
struct CohortMember {
    /// d₀: start of the index incident.
    index_day: i32,
    /// d₁ and type of the first repeat in the written data.
    outcome: Option<(i32, EventType)>,
    /// d₁ of the first repeat counting registrations after the end.
    outcome_uncensored: Option<i32>,
    /// Any written suspect registration.
    suspect: bool,
}

/// Start day, type and role of an incident.
type IncidentStart = (i32, EventType, Role);

/// Incidents per `docs/ANALYSIS.md`: registrations with the same type and
/// role ordered by (date, agency id); a registration more than the window
/// after the current incident's start starts a new incident.
fn incidents(registrations: &mut [PersonRegistration]) -> Vec<IncidentStart> {
    registrations.sort_by_key(|r| (r.event_type, r.role, r.day, r.agency_rank));
    let mut starts: Vec<IncidentStart> = Vec::new();
    let mut current: Option<IncidentStart> = None;
    for r in registrations.iter() {
        let continues = current.is_some_and(|(start, t, role)| {
            t == r.event_type && role == r.role && r.day <= start + INCIDENT_WINDOW_DAYS
        });
        if !continues {
            let start = (r.day, r.event_type, r.role);
            starts.push(start);
            current = Some(start);
        }
    }
    starts
}

/// The index incident's start: the earliest victim incident of an index
/// type (ties: the type listed first in the vocabulary).
fn index_day(incidents: &[IncidentStart]) -> Option<i32> {
    incidents
        .iter()
        .filter(|(_, t, role)| t.is_trafficking() && *role == Role::Victim)
        .min_by_key(|(day, t, _)| (*day, *t))
        .map(|(day, _, _)| *day)
}

/// The first victim incident (any type) starting more than the window after d₀.
fn outcome(incidents: &[IncidentStart], index_day: i32) -> Option<(i32, EventType)> {
    incidents
        .iter()
        .filter(|(day, _, role)| *role == Role::Victim && *day > index_day + INCIDENT_WINDOW_DAYS)
        .min_by_key(|(day, t, _)| (*day, *t))
        .map(|(day, t, _)| (*day, *t))
}

/// Collects per-person figures while the population streams past.
#[derive(Debug, Default)]
pub(crate) struct TruthAccumulator {
    members: Vec<CohortMember>,
    first_day: Option<i32>,
    last_day: Option<i32>,
    persons_registered: u64,
    true_record_pairs: u64,
    scratch: Vec<PersonRegistration>,
}

impl TruthAccumulator {
    /// Adds one person's registrations (written and after the end).
    pub(crate) fn add_person(&mut self, registrations: &[PersonRegistration]) {
        self.scratch.clear();
        self.scratch
            .extend(registrations.iter().filter(|r| r.written).copied());
        let written = self.scratch.len() as u64;
        if written == 0 {
            return;
        }
        self.persons_registered += 1;
        self.true_record_pairs += written * (written - 1) / 2;
        for r in &self.scratch {
            self.first_day = Some(self.first_day.map_or(r.day, |d| d.min(r.day)));
            self.last_day = Some(self.last_day.map_or(r.day, |d| d.max(r.day)));
        }
        let suspect = self.scratch.iter().any(|r| r.role == Role::Suspect);
        let written_incidents = incidents(&mut self.scratch);
        let Some(index_day) = index_day(&written_incidents) else {
            return;
        };
        let outcome = outcome(&written_incidents, index_day);
        self.scratch.clear();
        self.scratch.extend_from_slice(registrations);
        let all_incidents = incidents(&mut self.scratch);
        let outcome_uncensored = self::outcome(&all_incidents, index_day).map(|(day, _)| day);
        self.members.push(CohortMember {
            index_day,
            outcome,
            outcome_uncensored,
            suspect,
        });
    }

    /// Cohort members so far.
    pub(crate) fn cohort_size(&self) -> u64 {
        self.members.len() as u64
    }

    /// Persons with at least one written record so far.
    pub(crate) fn persons_registered(&self) -> u64 {
        self.persons_registered
    }

    /// The latest written event date E, if any record was written.
    pub(crate) fn follow_up_end(&self) -> Option<NaiveDate> {
        self.last_day.map(date_of)
    }

    /// The summary; `run` carries the configuration and the record counts.
    pub(crate) fn finish(&self, run: RunFacts) -> TruthSummary {
        let cohort = self.members.len() as u64;
        let share = |count: u64| (cohort > 0).then(|| count as f64 / cohort as f64);
        let end = self.last_day.unwrap_or(0);
        // (T, δ) per member, per docs/ANALYSIS.md.
        let follow_up: Vec<(i32, bool)> = self
            .members
            .iter()
            .map(|m| match m.outcome {
                Some((day, _)) => (day - m.index_day, true),
                None => (end - m.index_day, false),
            })
            .collect();
        let curve = KaplanMeier::new(&follow_up);
        let censored = HORIZONS_YEARS
            .iter()
            .map(|&h| {
                let tau = f64::from(h) * YEAR_DAYS;
                let complete: Vec<(i32, bool)> = self
                    .members
                    .iter()
                    .zip(&follow_up)
                    .filter(|(m, _)| f64::from(end - m.index_day) >= tau)
                    .map(|(_, f)| *f)
                    .collect();
                let numerator = complete
                    .iter()
                    .filter(|(t, event)| *event && f64::from(*t) <= tau)
                    .count() as u64;
                let denominator = complete.len() as u64;
                CensoredHorizon {
                    years: h,
                    cumulative_incidence: 1.0 - curve.survival(tau),
                    at_risk: follow_up
                        .iter()
                        .filter(|(t, _)| f64::from(*t) >= tau)
                        .count() as u64,
                    crude: CrudeProportion {
                        numerator,
                        denominator,
                        proportion: (denominator > 0)
                            .then(|| numerator as f64 / denominator as f64),
                    },
                }
            })
            .collect();
        let uncensored = HORIZONS_YEARS
            .iter()
            .map(|&h| {
                let tau = f64::from(h) * YEAR_DAYS;
                let repeated = self
                    .members
                    .iter()
                    .filter(|m| {
                        m.outcome_uncensored
                            .is_some_and(|d| f64::from(d - m.index_day) <= tau)
                    })
                    .count() as u64;
                UncensoredHorizon {
                    years: h,
                    repeated,
                    share: share(repeated),
                }
            })
            .collect();
        let mut first_repeat_types: BTreeMap<EventType, u64> =
            EventType::ALL.iter().map(|t| (*t, 0)).collect();
        for (_, event_type) in self.members.iter().filter_map(|m| m.outcome) {
            *first_repeat_types.entry(event_type).or_default() += 1;
        }
        let overlap = self.members.iter().filter(|m| m.suspect).count() as u64;
        TruthSummary {
            seed: run.seed,
            persons: run.persons,
            error_rate: run.error_rate,
            start_year: run.start_year,
            end_year: run.end_year,
            agencies: run.agencies,
            period_from: self.first_day.map(date_of),
            period_to: self.last_day.map(date_of),
            follow_up_end: self.follow_up_end(),
            incident_window_days: INCIDENT_WINDOW_DAYS,
            index_types: index_types(),
            index_role: Role::Victim,
            outcome_types: EventType::ALL.to_vec(),
            cohort_size: cohort,
            horizons_years: HORIZONS_YEARS.to_vec(),
            censored,
            uncensored,
            repeats_observed: follow_up.iter().filter(|(_, e)| *e).count() as u64,
            first_repeat_types,
            victim_offender_overlap: Overlap {
                count: overlap,
                share: share(overlap),
            },
            records_per_agency: run.records_per_agency,
            persons_registered: self.persons_registered,
            true_record_pairs: self.true_record_pairs,
            model: RepeatModel {
                repeat_fraction: REPEAT_FRACTION,
                rate_per_year: REPEAT_RATE_PER_YEAR,
                cumulative: HORIZONS_YEARS
                    .iter()
                    .map(|&h| model_cumulative(f64::from(h)))
                    .collect(),
            },
        }
    }
}

/// Facts of the run that the summary repeats.
#[derive(Debug, Clone)]
pub(crate) struct RunFacts {
    pub(crate) seed: u64,
    pub(crate) persons: u64,
    pub(crate) error_rate: f64,
    pub(crate) start_year: i32,
    pub(crate) end_year: i32,
    pub(crate) agencies: Vec<String>,
    pub(crate) records_per_agency: BTreeMap<String, u64>,
}

/// The Kaplan–Meier survival curve (Kaplan & Meier, JASA 53:457–481, 1958)
/// as a step function over the distinct event times.
struct KaplanMeier {
    /// (t_j, S(t_j)) in increasing t_j.
    steps: Vec<(i32, f64)>,
}

impl KaplanMeier {
    /// From (T_i, δ_i). At a tied time, events come before censorings: a
    /// person censored at t_j is still at risk at t_j. S is the product, in
    /// increasing t_j, of `1.0 - d_j as f64 / n_j as f64`.
    fn new(follow_up: &[(i32, bool)]) -> KaplanMeier {
        let mut sorted = follow_up.to_vec();
        sorted.sort_unstable();
        let total = sorted.len();
        let mut steps = Vec::new();
        let mut survival = 1.0;
        let mut i = 0;
        while i < total {
            let t = sorted[i].0;
            let at_risk = total - i;
            let mut events = 0usize;
            let mut j = i;
            while j < total && sorted[j].0 == t {
                events += usize::from(sorted[j].1);
                j += 1;
            }
            if events > 0 {
                survival *= 1.0 - events as f64 / at_risk as f64;
                steps.push((t, survival));
            }
            i = j;
        }
        KaplanMeier { steps }
    }

    /// S(t): the product over event times t_j ≤ t.
    fn survival(&self, t: f64) -> f64 {
        let index = self.steps.partition_point(|(tj, _)| f64::from(*tj) <= t);
        if index == 0 {
            1.0
        } else {
            self.steps[index - 1].1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 6-MP arm of Freireich et al. (1963), the textbook Kaplan–Meier
    /// example (Kleinbaum & Klein, *Survival Analysis*, ch. 2): remission
    /// times in weeks, `*` censored: 6,6,6,6*,7,9*,10,10*,11*,13,16,17*,19*,
    /// 20*,22,23,25*,32*,32*,34*,35*. Published S: 0.857, 0.807, 0.753,
    /// 0.690, 0.627, 0.538, 0.448.
    #[test]
    fn kaplan_meier_matches_the_textbook_example() {
        let data = [
            (6, true),
            (6, true),
            (6, true),
            (6, false),
            (7, true),
            (9, false),
            (10, true),
            (10, false),
            (11, false),
            (13, true),
            (16, true),
            (17, false),
            (19, false),
            (20, false),
            (22, true),
            (23, true),
            (25, false),
            (32, false),
            (32, false),
            (34, false),
            (35, false),
        ];
        let km = KaplanMeier::new(&data);
        let expected = [
            (6.0, 0.857),
            (7.0, 0.807),
            (10.0, 0.753),
            (13.0, 0.690),
            (16.0, 0.627),
            (22.0, 0.538),
            (23.0, 0.448),
        ];
        for (t, s) in expected {
            assert!(
                (km.survival(t) - s).abs() < 0.0006,
                "S({t}) = {}",
                km.survival(t)
            );
        }
        assert_eq!(km.survival(5.9), 1.0);
        assert_eq!(km.survival(100.0), km.survival(23.0));
    }

    fn reg(day: i32, event_type: EventType, role: Role, agency_rank: usize) -> PersonRegistration {
        PersonRegistration {
            day,
            event_type,
            role,
            agency_rank,
            written: true,
        }
    }

    /// Incidents are start-anchored: a registration 15 days after the start
    /// opens a new incident even if it is 7 days after the previous one.
    #[test]
    fn incidents_are_start_anchored() {
        let t = EventType::Assault;
        let mut regs = vec![
            reg(100, t, Role::Victim, 0),
            reg(108, t, Role::Victim, 1),
            reg(115, t, Role::Victim, 2),
            reg(110, EventType::Threat, Role::Victim, 0),
        ];
        let found = incidents(&mut regs);
        assert_eq!(
            found,
            vec![
                (100, t, Role::Victim),
                (115, t, Role::Victim),
                (110, EventType::Threat, Role::Victim)
            ]
        );
    }

    /// The outcome skips victim incidents within the index window and suspect incidents.
    #[test]
    fn outcome_skips_the_index_window() {
        let starts = vec![
            (100, EventType::TraffickingSexual, Role::Victim),
            (110, EventType::Assault, Role::Victim),
            (150, EventType::Property, Role::Suspect),
            (200, EventType::Threat, Role::Victim),
        ];
        assert_eq!(index_day(&starts), Some(100));
        assert_eq!(outcome(&starts, 100), Some((200, EventType::Threat)));
    }
}
