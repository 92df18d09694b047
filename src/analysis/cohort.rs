//! The cohort: each member's index incident, outcome, follow-up time and
//! censoring indicator, and the exact (unrounded) survival figures.
//!
//! This is the internal computation behind a report, implementing the
//! Definitions of `docs/ANALYSIS.md` exactly. Its output is record-level
//! (one row per cohort member) and unrounded: it serves the tests and the
//! comparison with the synthetic generator's truth, and must never be
//! released. Released figures come only from [`super::repeat_victimisation`].

use std::collections::HashMap;

use chrono::{Days, NaiveDate};

use super::incidents::{ByPerson, Incident, form_incidents};
use super::km::{KaplanMeier, KmEstimate};
use super::params::{DAYS_PER_YEAR, ReportParams};
use super::{AnalysisError, Registration};
use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

/// One cohort member: the index incident, the outcome and the attributes the
/// breakdowns need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortMember {
    /// The person (as in the registrations).
    pub person: u32,
    /// d₀: start date of the index incident.
    pub index_date: NaiveDate,
    /// Event type of the index incident.
    pub index_type: EventType,
    /// T in days: d₁ − d₀ for a repeat, E − d₀ when censored.
    pub time_days: u32,
    /// δ: true when a repeat (outcome) was observed at or before E.
    pub repeat: bool,
    /// Event type of the repeat incident (δ = 1 only).
    pub repeat_type: Option<EventType>,
    /// Potential follow-up E − d₀ in days (complete follow-up to a horizon
    /// means this is at least τ_h).
    pub follow_up_days: u32,
    /// Age band at the index (earliest registration of the index incident).
    pub age_band: AgeBand,
    /// Sex at the index.
    pub sex: Sex,
    /// Region at the index.
    pub region: Region,
    /// Residence status at the index.
    pub residence_status: ResidenceStatus,
    /// Any registration as a suspect, before or after the index, any type.
    pub overlap: bool,
    /// The agencies of the index incident: index into
    /// [`CohortSurvival::agency_sets`].
    pub index_agencies: u32,
}

/// The exact figures at one horizon (unrounded, not disclosure-controlled).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizonEstimate {
    /// The horizon h in years.
    pub years: u32,
    /// τ_h = 365.25·h days.
    pub tau_days: f64,
    /// Kaplan–Meier S(τ_h), Greenwood SE and the log–log interval;
    /// cumulative incidence F = 1 − S.
    pub estimate: KmEstimate,
    /// Persons at risk at τ_h: #{T ≥ τ_h}.
    pub at_risk: u64,
    /// Observed repeats by τ_h: #{δ = 1, T ≤ τ_h}.
    pub events: u64,
    /// Members with complete potential follow-up: #{E − d₀ ≥ τ_h}.
    pub complete_follow_up: u64,
    /// Of those, members with a repeat by τ_h (crude numerator).
    pub complete_follow_up_repeats: u64,
}

impl HorizonEstimate {
    /// The crude proportion among members with complete follow-up (`None`
    /// when no member has complete follow-up).
    pub fn crude_proportion(&self) -> Option<f64> {
        (self.complete_follow_up > 0)
            .then(|| self.complete_follow_up_repeats as f64 / self.complete_follow_up as f64)
    }
}

/// The cohort and its exact survival figures (internal; never released).
#[derive(Debug, Clone)]
pub struct CohortSurvival {
    /// The parameters as given.
    pub params: ReportParams,
    /// Resolved start of the index period.
    pub period_from: NaiveDate,
    /// Resolved end of the index period.
    pub period_to: NaiveDate,
    /// Resolved end of follow-up E.
    pub follow_up_end: NaiveDate,
    /// One row per cohort member, in person order.
    pub members: Vec<CohortMember>,
    /// Labels of the index-agency combinations (`care+police`), indexed by
    /// [`CohortMember::index_agencies`].
    pub agency_sets: Vec<String>,
    /// Kaplan–Meier fit over all members (time in days).
    pub km: KaplanMeier,
    /// The exact figures at each horizon, ascending.
    pub horizons: Vec<HorizonEstimate>,
}

/// Computes the cohort and its exact survival figures from linked
/// registrations, following `docs/ANALYSIS.md` (Definitions).
///
/// `agencies[a]` names agency index `a`. No disclosure control is applied and
/// no cohort minimum is enforced: this is for tests and for the comparison
/// with the synthetic truth. Cost: O(n) grouping plus O(m log m) for the
/// Kaplan–Meier fit over m members.
///
/// # Errors
/// [`AnalysisError::InvalidOption`] for bad parameters,
/// [`AnalysisError::NoRegistrations`] for an empty slice,
/// [`AnalysisError::UnknownAgency`] for an agency index outside `agencies`.
pub fn cohort_survival(
    regs: &[Registration],
    agencies: &[String],
    params: &ReportParams,
) -> Result<CohortSurvival, AnalysisError> {
    params.validate()?;
    let mut earliest = NaiveDate::MAX;
    let mut latest = NaiveDate::MIN;
    for (index, r) in regs.iter().enumerate() {
        if usize::from(r.agency) >= agencies.len() {
            return Err(AnalysisError::UnknownAgency {
                index,
                agency: r.agency,
                known: agencies.len(),
            });
        }
        earliest = earliest.min(r.date);
        latest = latest.max(r.date);
    }
    if regs.is_empty() {
        return Err(AnalysisError::NoRegistrations);
    }
    let rules = CohortRules {
        index_mask: type_mask(&params.index_types),
        index_role: params.index_role,
        outcome_mask: if params.outcome_types.is_empty() {
            u16::MAX
        } else {
            type_mask(&params.outcome_types)
        },
        from: params.from.unwrap_or(earliest),
        to: params.to.unwrap_or(latest),
        end: params.follow_up_end.unwrap_or(latest),
        window: u64::from(params.incident_window_days),
    };
    let mut agency_index = AgencySets::new(agencies);
    let members = build_members(regs, &rules, &mut agency_index);
    let km = KaplanMeier::fit(members.iter().map(|m| (m.time_days, m.repeat)));
    let horizons = horizon_estimates(&members, &km, &params.horizons(), params.z());
    tracing::debug!(
        registrations = regs.len(),
        members = members.len(),
        "cohort computed"
    );
    Ok(CohortSurvival {
        params: params.clone(),
        period_from: rules.from,
        period_to: rules.to,
        follow_up_end: rules.end,
        members,
        agency_sets: agency_index.labels,
        km,
        horizons,
    })
}

/// The exact figures at each horizon for a set of members and their fit.
pub(crate) fn horizon_estimates(
    members: &[CohortMember],
    km: &KaplanMeier,
    horizons: &[u32],
    z: f64,
) -> Vec<HorizonEstimate> {
    horizons
        .iter()
        .map(|&years| {
            let tau = DAYS_PER_YEAR * f64::from(years);
            let (complete, repeats) = members
                .iter()
                .filter(|m| f64::from(m.follow_up_days) >= tau)
                .fold((0_u64, 0_u64), |(c, r), m| {
                    (
                        c + 1,
                        r + u64::from(m.repeat && f64::from(m.time_days) <= tau),
                    )
                });
            HorizonEstimate {
                years,
                tau_days: tau,
                estimate: km.estimate(tau, z),
                at_risk: km.at_risk(tau),
                events: km.events_by(tau),
                complete_follow_up: complete,
                complete_follow_up_repeats: repeats,
            }
        })
        .collect()
}

/// The resolved cohort definition.
struct CohortRules {
    /// Bit `code` set for each index event type.
    index_mask: u16,
    index_role: Role,
    /// Bit `code` set for each outcome event type (all bits: every type).
    outcome_mask: u16,
    from: NaiveDate,
    to: NaiveDate,
    /// Follow-up end E.
    end: NaiveDate,
    /// Incident window in days.
    window: u64,
}

fn type_mask(types: &[EventType]) -> u16 {
    types.iter().fold(0, |mask, t| mask | (1 << t.code()))
}

fn in_mask(mask: u16, t: EventType) -> bool {
    mask & (1 << t.code()) != 0
}

/// The earliest incident satisfying `keep` (ties: vocabulary order of type).
fn earliest(incidents: &[Incident], keep: impl Fn(&Incident) -> bool) -> Option<&Incident> {
    incidents
        .iter()
        .filter(|i| keep(i))
        .min_by_key(|i| (i.start, i.event_type))
}

fn build_members(
    regs: &[Registration],
    rules: &CohortRules,
    agency_index: &mut AgencySets<'_>,
) -> Vec<CohortMember> {
    let by_person = ByPerson::new(regs);
    let mut members = Vec::new();
    let mut incidents = Vec::new();
    for group in by_person.groups() {
        incidents.clear();
        form_incidents(regs, group, rules.window, &mut incidents);
        let Some(index) = earliest(&incidents, |i| {
            i.role == rules.index_role
                && in_mask(rules.index_mask, i.event_type)
                && (rules.from..=rules.to).contains(&i.start)
        }) else {
            continue;
        };
        let d0 = index.start;
        if d0 > rules.end {
            continue;
        }
        let repeat_after = d0
            .checked_add_days(Days::new(rules.window))
            .unwrap_or(NaiveDate::MAX);
        let outcome = earliest(&incidents, |i| {
            i.role == Role::Victim
                && in_mask(rules.outcome_mask, i.event_type)
                && i.start > repeat_after
        })
        .filter(|o| o.start <= rules.end);
        let follow_up_days = days_between(d0, rules.end);
        let (time_days, repeat_type) = match outcome {
            Some(o) => (days_between(d0, o.start), Some(o.event_type)),
            None => (follow_up_days, None),
        };
        let first = &regs[group[index.begin] as usize];
        members.push(CohortMember {
            person: first.person,
            index_date: d0,
            index_type: index.event_type,
            time_days,
            repeat: repeat_type.is_some(),
            repeat_type,
            follow_up_days,
            age_band: first.age_band,
            sex: first.sex,
            region: first.region,
            residence_status: first.residence_status,
            overlap: group
                .iter()
                .any(|&k| regs[k as usize].role == Role::Suspect),
            index_agencies: agency_index.id(group[index.begin..index.end]
                .iter()
                .map(|&k| regs[k as usize].agency)),
        });
    }
    members
}

/// Whole days from `a` to `b` (b ≥ a), saturating at the u32 range.
fn days_between(a: NaiveDate, b: NaiveDate) -> u32 {
    u32::try_from((b - a).num_days()).unwrap_or(u32::MAX)
}

/// Interns the agency combinations of index incidents, so each member stores
/// a small id instead of a list.
struct AgencySets<'a> {
    /// Agency names by index.
    names: &'a [String],
    /// With at most [`MASK_AGENCIES`] agencies: id by bit mask of the agency
    /// indices (`u32::MAX` = not seen yet); avoids hashing per member.
    by_mask: Vec<u32>,
    /// With more agencies: sorted, deduplicated agency indices → id.
    by_list: HashMap<Vec<u16>, u32>,
    /// Label per id: names joined with `+` in agency-index order.
    labels: Vec<String>,
    /// Reused buffer for one incident's agencies.
    scratch: Vec<u16>,
}

/// Up to this many agencies, combinations are looked up by bit mask.
const MASK_AGENCIES: usize = 12;

impl<'a> AgencySets<'a> {
    fn new(names: &'a [String]) -> Self {
        let masks = if names.len() <= MASK_AGENCIES {
            1 << names.len()
        } else {
            0
        };
        AgencySets {
            names,
            by_mask: vec![u32::MAX; masks],
            by_list: HashMap::new(),
            labels: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn id(&mut self, agencies: impl Iterator<Item = u16>) -> u32 {
        self.scratch.clear();
        self.scratch.extend(agencies);
        if !self.by_mask.is_empty() {
            let mask = self
                .scratch
                .iter()
                .fold(0_usize, |m, &a| m | (1 << usize::from(a)));
            if self.by_mask[mask] == u32::MAX {
                self.by_mask[mask] = self.new_label();
            }
            return self.by_mask[mask];
        }
        self.sorted_scratch();
        if let Some(&id) = self.by_list.get(self.scratch.as_slice()) {
            return id;
        }
        let id = self.new_label();
        self.by_list.insert(self.scratch.clone(), id);
        id
    }

    fn sorted_scratch(&mut self) {
        self.scratch.sort_unstable();
        self.scratch.dedup();
    }

    /// Adds the label of the combination in `scratch` and returns its id.
    fn new_label(&mut self) -> u32 {
        self.sorted_scratch();
        let label: Vec<&str> = self
            .scratch
            .iter()
            .map(|&a| self.names[usize::from(a)].as_str())
            .collect();
        self.labels.push(label.join("+"));
        (self.labels.len() - 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both lookup paths (bit mask for few agencies, hash map for many) name
    /// a combination by its agencies in index order, whatever the input order.
    #[test]
    fn agency_combinations_are_interned_alike() {
        for count in [3_usize, 20] {
            let names: Vec<String> = (0..count).map(|i| format!("a{i}")).collect();
            let mut sets = AgencySets::new(&names);
            let first = sets.id([2_u16, 0, 2].into_iter());
            let second = sets.id([0_u16, 2].into_iter());
            let other = sets.id([1_u16].into_iter());
            assert_eq!(first, second, "{count} agencies");
            assert_ne!(first, other);
            assert_eq!(sets.labels, vec!["a0+a2".to_string(), "a1".to_string()]);
        }
    }
}
