//! Breakdown tables: the cohort split by an attribute at the index incident
//! (or by the type of the first repeat), with counts under disclosure control
//! and a Kaplan–Meier curve per sufficiently large group.
//!
//! Attribute breakdowns are two-way tables (category × repeat / no repeat by
//! the end of follow-up) whose column totals and grand total are the
//! headline's, protected once for all tables (see
//! `release::SharedMargins`). The type of first repeat is a one-way
//! table of shares among the repeats. A group's curve is released only when
//! the group has at least the cohort minimum of persons: a group is treated
//! as a cohort in its own right.

use serde::{Deserialize, Serialize};

use super::cohort::{CohortMember, CohortSurvival};
use super::disclosure::{CountTable, DisclosureRules, ProtectedTable, percent};
use super::km::KaplanMeier;
use super::params::{Breakdown, DAYS_PER_YEAR};
use super::release::{Ledger, SharedMargins, incidence};
use super::report::Incidence;
use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Sex};

/// Label of the pooled row of agency combinations that are each too small.
const OTHER_AGENCIES: &str = "other combinations";

/// A released breakdown table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownTable {
    /// Which breakdown this is.
    pub breakdown: Breakdown,
    /// Heading.
    pub title: String,
    /// Names of the count columns, e.g. `persons`, `repeat`, `no repeat`.
    pub columns: Vec<String>,
    /// What the percentage column is, e.g. `% repeat`.
    pub percent_label: String,
    /// One row per category (empty when withheld).
    pub rows: Vec<BreakdownRow>,
    /// The totals row.
    pub total: BreakdownRow,
    /// True when the table could not be protected and is not released.
    pub withheld: bool,
    /// Kaplan–Meier cumulative incidence per group of at least the cohort
    /// minimum, aligned with the report's horizons.
    pub curves: Vec<GroupCurve>,
}

/// One row of a breakdown table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    /// Category label, e.g. `12-17 (minor)`.
    pub label: String,
    /// Counts in the order of [`BreakdownTable::columns`] (rounded; `None`
    /// suppressed).
    pub counts: Vec<Option<u64>>,
    /// The percentage from rounded counts.
    pub percent: Option<f64>,
}

/// Kaplan–Meier figures of one group at the report's horizons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCurve {
    /// Group label.
    pub label: String,
    /// Cumulative incidence per horizon (same order as the report's horizons).
    pub cumulative_incidence: Vec<Incidence>,
}

/// Builds the breakdown tables the parameters ask for.
pub(crate) fn breakdown_tables(
    cohort: &CohortSurvival,
    rules: &DisclosureRules,
    margins: &SharedMargins,
    ledger: &mut Ledger,
) -> Vec<BreakdownTable> {
    let mut seen = Vec::new();
    let mut tables = Vec::new();
    for &breakdown in &cohort.params.breakdowns {
        if seen.contains(&breakdown) {
            continue;
        }
        seen.push(breakdown);
        tables.push(match breakdown {
            Breakdown::RepeatType => repeat_type_table(cohort, rules, margins, ledger),
            _ => attribute_table(breakdown, cohort, rules, margins, ledger),
        });
    }
    tables
}

/// Members split into labelled groups.
struct Grouping {
    /// Row labels.
    labels: Vec<String>,
    /// Group (row) of each member, aligned with `cohort.members`.
    group_of: Vec<usize>,
}

fn grouping(breakdown: Breakdown, cohort: &CohortSurvival, min_cell: u64) -> Grouping {
    fn by<T: Copy>(
        all: &[T],
        members: &[CohortMember],
        code: impl Fn(&CohortMember) -> u8,
        label: impl Fn(T) -> String,
    ) -> Grouping {
        Grouping {
            labels: all.iter().map(|&t| label(t)).collect(),
            group_of: members.iter().map(|m| usize::from(code(m))).collect(),
        }
    }
    let members = &cohort.members;
    match breakdown {
        Breakdown::AgeBand => by(
            AgeBand::ALL,
            members,
            |m| m.age_band.code(),
            |b| {
                if b.is_minor() {
                    format!("{b} (minor)")
                } else {
                    b.to_string()
                }
            },
        ),
        Breakdown::Sex => by(Sex::ALL, members, |m| m.sex.code(), |s| s.to_string()),
        Breakdown::Region => by(Region::ALL, members, |m| m.region.code(), |r| r.to_string()),
        Breakdown::ResidenceStatus => by(
            ResidenceStatus::ALL,
            members,
            |m| m.residence_status.code(),
            |r| r.to_string(),
        ),
        Breakdown::Overlap => Grouping {
            labels: vec![
                "also registered as suspect".into(),
                "never registered as suspect".into(),
            ],
            group_of: members.iter().map(|m| usize::from(!m.overlap)).collect(),
        },
        Breakdown::Agency => agency_grouping(cohort, min_cell),
        // Only members with a repeat have a group; the others are out of range.
        Breakdown::RepeatType => Grouping {
            labels: EventType::ALL.iter().map(|t| t.to_string()).collect(),
            group_of: members
                .iter()
                .map(|m| m.repeat_type.map_or(usize::MAX, |t| usize::from(t.code())))
                .collect(),
        },
    }
}

/// Agency combinations with at least `min_cell` members get their own row
/// (sorted by label); the others are pooled, so no label of a rare
/// combination is ever shown.
fn agency_grouping(cohort: &CohortSurvival, min_cell: u64) -> Grouping {
    let mut sizes = vec![0_u64; cohort.agency_sets.len()];
    for m in &cohort.members {
        sizes[m.index_agencies as usize] += 1;
    }
    let mut shown: Vec<usize> = (0..sizes.len()).filter(|&s| sizes[s] >= min_cell).collect();
    shown.sort_by(|&a, &b| cohort.agency_sets[a].cmp(&cohort.agency_sets[b]));
    let other = shown.len();
    let mut row_of = vec![other; sizes.len()];
    for (row, &set) in shown.iter().enumerate() {
        row_of[set] = row;
    }
    let mut labels: Vec<String> = shown
        .iter()
        .map(|&s| cohort.agency_sets[s].clone())
        .collect();
    labels.push(OTHER_AGENCIES.into());
    Grouping {
        labels,
        group_of: cohort
            .members
            .iter()
            .map(|m| row_of[m.index_agencies as usize])
            .collect(),
    }
}

fn attribute_table(
    breakdown: Breakdown,
    cohort: &CohortSurvival,
    rules: &DisclosureRules,
    margins: &SharedMargins,
    ledger: &mut Ledger,
) -> BreakdownTable {
    let grouping = grouping(breakdown, cohort, u64::from(rules.min_cell));
    let rows = grouping.labels.len();
    let mut interior = vec![0_u64; rows * 2];
    for (m, &g) in cohort.members.iter().zip(&grouping.group_of) {
        interior[g * 2 + usize::from(!m.repeat)] += 1;
    }
    let mut table = CountTable::new(rows, 2, &interior);
    table.fix(rows, 0, margins.repeats_suppressed);
    table.fix(rows, 1, margins.no_repeats_suppressed);
    table.fix(rows, 2, false);
    let protected = table.protect(rules);
    ledger.table(&protected);
    let row = |r: usize, label: &str| {
        let persons = protected.released(r, 2);
        let repeats = protected.released(r, 0);
        BreakdownRow {
            label: label.to_string(),
            counts: vec![persons, repeats, protected.released(r, 1)],
            percent: percent(repeats, persons),
        }
    };
    let mut curves = group_curves(cohort, &grouping, rules, ledger);
    if breakdown == Breakdown::AgeBand {
        let minors = Grouping {
            labels: vec!["minors (under 18)".into(), "adults (18 and over)".into()],
            group_of: cohort
                .members
                .iter()
                .map(|m| match m.age_band {
                    AgeBand::Unknown => 2,
                    band => usize::from(!band.is_minor()),
                })
                .collect(),
        };
        curves.extend(group_curves(cohort, &minors, rules, ledger));
    }
    finish(
        breakdown,
        &protected,
        &grouping.labels,
        row,
        ["persons", "repeat", "no repeat"].as_slice(),
        "% repeat",
        curves,
    )
}

fn repeat_type_table(
    cohort: &CohortSurvival,
    rules: &DisclosureRules,
    margins: &SharedMargins,
    ledger: &mut Ledger,
) -> BreakdownTable {
    let grouping = grouping(Breakdown::RepeatType, cohort, u64::from(rules.min_cell));
    let rows = grouping.labels.len();
    let mut counts = vec![0_u64; rows];
    for &g in grouping.group_of.iter().filter(|&&g| g < rows) {
        counts[g] += 1;
    }
    let mut table = CountTable::frequency(&counts);
    table.fix(rows, 0, margins.repeats_suppressed);
    let protected = table.protect(rules);
    ledger.table(&protected);
    let total = protected.released(rows, 0);
    let row = |r: usize, label: &str| {
        let count = protected.released(r, 0);
        BreakdownRow {
            label: label.to_string(),
            counts: vec![count],
            percent: percent(count, total),
        }
    };
    finish(
        Breakdown::RepeatType,
        &protected,
        &grouping.labels,
        row,
        ["repeats"].as_slice(),
        "% of repeats",
        Vec::new(),
    )
}

fn finish(
    breakdown: Breakdown,
    protected: &ProtectedTable,
    labels: &[String],
    row: impl Fn(usize, &str) -> BreakdownRow,
    columns: &[&str],
    percent_label: &str,
    curves: Vec<GroupCurve>,
) -> BreakdownTable {
    let withheld = protected.withheld();
    let rows = if withheld {
        Vec::new()
    } else {
        labels.iter().enumerate().map(|(r, l)| row(r, l)).collect()
    };
    BreakdownTable {
        breakdown,
        title: breakdown.title().to_string(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        percent_label: percent_label.to_string(),
        rows,
        total: row(protected.table().rows(), "total"),
        withheld,
        curves,
    }
}

/// Kaplan–Meier figures for every group with at least the cohort minimum of
/// members (groups numbered beyond `labels` are ignored).
fn group_curves(
    cohort: &CohortSurvival,
    grouping: &Grouping,
    rules: &DisclosureRules,
    ledger: &mut Ledger,
) -> Vec<GroupCurve> {
    let mut observations: Vec<Vec<(u32, bool)>> = vec![Vec::new(); grouping.labels.len()];
    for (m, &g) in cohort.members.iter().zip(&grouping.group_of) {
        if let Some(group) = observations.get_mut(g) {
            group.push((m.time_days, m.repeat));
        }
    }
    let z = cohort.params.z();
    let horizons = cohort.params.horizons();
    observations
        .into_iter()
        .zip(&grouping.labels)
        .filter(|(obs, _)| obs.len() as u64 >= u64::from(rules.cohort_minimum))
        .map(|(obs, label)| {
            let km = KaplanMeier::fit(obs);
            GroupCurve {
                label: label.clone(),
                cumulative_incidence: horizons
                    .iter()
                    .map(|&years| {
                        let tau = DAYS_PER_YEAR * f64::from(years);
                        incidence(
                            &km.estimate(tau, z),
                            km.at_risk(tau),
                            km.events_by(tau),
                            rules,
                            ledger,
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}
