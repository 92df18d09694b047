//! From the cohort's exact figures to released ones: the headline, the curve
//! and the sensitivity table under disclosure control.
//!
//! The rules are those of `docs/ANALYSIS.md` ("Disclosure control"): the
//! cohort minimum, a shared-margin table protected once for all breakdowns,
//! Kaplan–Meier figures only where at least `min_cell` persons are at risk
//! and `min_cell` repeats were observed, and a curve that moves only in steps
//! of at least `min_cell` repeats. A [`Ledger`] counts what was released and
//! what was suppressed, for the reader and for the audit log.

use super::breakdown::breakdown_tables;
use super::cohort::{CohortSurvival, HorizonEstimate, cohort_survival};
use super::disclosure::{CountTable, DisclosureRules, ProtectedTable, percent, round1};
use super::km::{KaplanMeier, KmEstimate};
use super::params::{DAYS_PER_YEAR, ReportParams};
use super::report::{
    CrudeProportion, CurvePoint, DisclosureSummary, HorizonFigure, Incidence, Report,
    SensitivityColumn, SensitivityTable,
};
use super::{AnalysisError, Registration};

/// Computes the released report: the cohort from `regs`, Kaplan–Meier figures
/// at each horizon, the breakdowns asked for, all under disclosure control.
///
/// `agencies[a]` names agency index `a`; `rules` are the operator's.
/// Cost: linear in the registrations plus one Kaplan–Meier fit per group
/// (O(m log m) for m cohort members).
///
/// # Errors
/// [`AnalysisError::InvalidOption`] for bad parameters,
/// [`AnalysisError::InvalidRules`] for bad rules,
/// [`AnalysisError::CohortTooSmall`] when the cohort is under the minimum
/// (also for no registrations at all),
/// [`AnalysisError::UnknownAgency`] for an agency index outside `agencies`.
pub fn repeat_victimisation(
    regs: &[Registration],
    agencies: &[String],
    params: &ReportParams,
    rules: &DisclosureRules,
) -> Result<Report, AnalysisError> {
    let cohort = released_cohort(regs, agencies, params, rules)?;
    let mut ledger = Ledger::default();
    let headline = headline(&cohort, rules, &mut ledger);
    let breakdowns = breakdown_tables(&cohort, rules, &headline.margins, &mut ledger);
    let tables_withheld = breakdowns.iter().filter(|t| t.withheld).count() as u64;
    let curve = curve(&cohort.km, &headline.horizons, params, rules, &mut ledger);
    tracing::info!(
        cells_released = ledger.released,
        cells_suppressed = ledger.suppressed,
        "repeat-victimisation report computed"
    );
    Ok(Report {
        params: params.clone(),
        period_from: cohort.period_from,
        period_to: cohort.period_to,
        follow_up_end: cohort.follow_up_end,
        rules: *rules,
        cohort_size: headline.cohort_size,
        repeats: headline.repeats,
        horizons: headline.horizons,
        curve,
        breakdowns,
        sensitivity: None,
        disclosure: DisclosureSummary {
            cells_released: ledger.released,
            cells_suppressed: ledger.suppressed,
            tables_withheld,
            notes: notes(rules, &ledger, tables_withheld),
        },
    })
}

/// Computes the headline figures of the same report under each linkage
/// setting (`("strict", regs)`, `("default", regs)`, `("loose", regs)`),
/// side by side, under the same disclosure control.
///
/// A setting whose cohort is under the minimum is marked withheld.
///
/// # Errors
/// As [`repeat_victimisation`]; [`AnalysisError::CohortTooSmall`] only when
/// every setting's cohort is under the minimum.
pub fn sensitivity(
    partitions: &[(&str, &[Registration])],
    agencies: &[String],
    params: &ReportParams,
    rules: &DisclosureRules,
) -> Result<SensitivityTable, AnalysisError> {
    let mut ledger = Ledger::default();
    let mut linkages = Vec::with_capacity(partitions.len());
    for (name, regs) in partitions {
        let column = match released_cohort(regs, agencies, params, rules) {
            Ok(cohort) => {
                let h = headline(&cohort, rules, &mut ledger);
                SensitivityColumn {
                    linkage: (*name).to_string(),
                    withheld: false,
                    cohort_size: h.cohort_size,
                    repeats: h.repeats,
                    horizons: h.horizons,
                }
            }
            Err(AnalysisError::CohortTooSmall { .. }) => {
                ledger.suppressed += 1;
                SensitivityColumn {
                    linkage: (*name).to_string(),
                    withheld: true,
                    cohort_size: None,
                    repeats: None,
                    horizons: Vec::new(),
                }
            }
            Err(other) => return Err(other),
        };
        linkages.push(column);
    }
    if linkages.iter().all(|c| c.withheld) {
        return Err(AnalysisError::CohortTooSmall {
            minimum: rules.cohort_minimum,
        });
    }
    Ok(SensitivityTable {
        linkages,
        cells_released: ledger.released,
        cells_suppressed: ledger.suppressed,
    })
}

/// The cohort, once the rules, the parameters and the cohort minimum pass.
fn released_cohort(
    regs: &[Registration],
    agencies: &[String],
    params: &ReportParams,
    rules: &DisclosureRules,
) -> Result<CohortSurvival, AnalysisError> {
    rules.validate()?;
    params.validate()?;
    let too_small = AnalysisError::CohortTooSmall {
        minimum: rules.cohort_minimum,
    };
    let cohort = match cohort_survival(regs, agencies, params) {
        Err(AnalysisError::NoRegistrations) => return Err(too_small),
        other => other?,
    };
    if (cohort.members.len() as u64) < u64::from(rules.cohort_minimum) {
        return Err(too_small);
    }
    Ok(cohort)
}

/// Counts released and suppressed figures across a report.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Released figures.
    pub released: u64,
    /// Suppressed figures.
    pub suppressed: u64,
}

impl Ledger {
    /// Records one figure and passes it through.
    pub(crate) fn note<T>(&mut self, figure: Option<T>) -> Option<T> {
        if figure.is_some() {
            self.released += 1;
        } else {
            self.suppressed += 1;
        }
        figure
    }

    /// Records a protected table's cells.
    pub(crate) fn table(&mut self, table: &ProtectedTable) {
        let (released, suppressed) = table.cell_counts();
        self.released += released;
        self.suppressed += suppressed;
    }
}

/// The shared margins of every repeat breakdown: total repeats and total
/// without a repeat (column totals), cohort size (grand total), protected
/// once here so that every table releases or suppresses them alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedMargins {
    /// Whether the total of repeats is suppressed.
    pub repeats_suppressed: bool,
    /// Whether the total without a repeat is suppressed.
    pub no_repeats_suppressed: bool,
}

struct Headline {
    cohort_size: Option<u64>,
    repeats: Option<u64>,
    horizons: Vec<HorizonFigure>,
    margins: SharedMargins,
}

fn headline(cohort: &CohortSurvival, rules: &DisclosureRules, ledger: &mut Ledger) -> Headline {
    let persons = cohort.members.len() as u64;
    let repeats = cohort.members.iter().filter(|m| m.repeat).count() as u64;
    let mut margins = CountTable::frequency(&[repeats, persons - repeats]);
    margins.fix(2, 0, false); // the cohort passed the minimum: always released
    let margins = margins.protect(rules);
    ledger.table(&margins);
    let horizons = cohort
        .horizons
        .iter()
        .map(|h| horizon_figure(h, rules, ledger))
        .collect();
    Headline {
        cohort_size: margins.released(2, 0),
        repeats: margins.released(0, 0),
        horizons,
        margins: SharedMargins {
            repeats_suppressed: margins.released(0, 0).is_none(),
            no_repeats_suppressed: margins.released(1, 0).is_none(),
        },
    }
}

fn horizon_figure(
    h: &HorizonEstimate,
    rules: &DisclosureRules,
    ledger: &mut Ledger,
) -> HorizonFigure {
    let repeats = h.complete_follow_up_repeats;
    let crude = CountTable::frequency(&[repeats, h.complete_follow_up - repeats]).protect(rules);
    ledger.table(&crude);
    let (crude_persons, crude_repeats) = (crude.released(2, 0), crude.released(0, 0));
    HorizonFigure {
        years: h.years,
        cumulative_incidence: incidence(&h.estimate, h.at_risk, h.events, rules, ledger),
        at_risk: ledger.note(rules.release(h.at_risk)),
        repeats: ledger.note(rules.release(h.events)),
        crude: CrudeProportion {
            persons: crude_persons,
            repeats: crude_repeats,
            percent: ledger.note(percent(crude_repeats, crude_persons)),
        },
    }
}

/// The Kaplan–Meier figure at a horizon, released only when at least
/// `min_cell` persons are at risk there and at least `min_cell` repeats were
/// observed by then (fewer would let the estimate reveal a small count).
pub(crate) fn incidence(
    estimate: &KmEstimate,
    at_risk: u64,
    events: u64,
    rules: &DisclosureRules,
    ledger: &mut Ledger,
) -> Incidence {
    let min = u64::from(rules.min_cell);
    if at_risk < min || events < min {
        ledger.note::<()>(None);
        return Incidence::default();
    }
    ledger.note(Some(()));
    let (percent, ci_low, ci_high) = percentages(estimate);
    Incidence {
        percent: Some(percent),
        ci_low,
        ci_high,
    }
}

/// F and its interval in percent, to one decimal.
fn percentages(estimate: &KmEstimate) -> (f64, Option<f64>, Option<f64>) {
    let interval = estimate.incidence_interval();
    (
        round1(100.0 * estimate.cumulative_incidence()),
        interval.map(|i| round1(100.0 * i.0)),
        interval.map(|i| round1(100.0 * i.1)),
    )
}

/// The curve on a monthly grid up to the longest horizon. A point is released
/// while at least `min_cell` persons are at risk; the curve moves only after
/// at least `min_cell` further repeats (or at a released horizon), so no
/// released step reveals fewer than `min_cell` events or an exact event time.
fn curve(
    km: &KaplanMeier,
    horizons: &[HorizonFigure],
    params: &ReportParams,
    rules: &DisclosureRules,
    ledger: &mut Ledger,
) -> Vec<CurvePoint> {
    let min = u64::from(rules.min_cell);
    let z = params.z();
    let last_month = 12 * horizons.iter().map(|h| h.years).max().unwrap_or(0);
    let mut points = vec![CurvePoint {
        months: 0,
        percent: 0.0,
        ci_low: None,
        ci_high: None,
    }];
    let mut shown_events = 0_u64;
    for months in 1..=last_month {
        let t = DAYS_PER_YEAR * f64::from(months) / 12.0;
        if km.at_risk(t) < min {
            break;
        }
        let events = km.events_by(t);
        let at_released_horizon = months % 12 == 0
            && horizons
                .iter()
                .any(|h| h.years == months / 12 && h.cumulative_incidence.percent.is_some());
        let moves = events >= min && (events - shown_events >= min || at_released_horizon);
        let previous = points[points.len() - 1];
        let point = if moves {
            shown_events = events;
            ledger.released += 1;
            let (percent, ci_low, ci_high) = percentages(&km.estimate(t, z));
            CurvePoint {
                months,
                percent,
                ci_low,
                ci_high,
            }
        } else {
            CurvePoint { months, ..previous }
        };
        points.push(point);
    }
    points
}

fn notes(rules: &DisclosureRules, ledger: &Ledger, tables_withheld: u64) -> Vec<String> {
    let mut notes = vec![
        format!(
            "Counts are rounded to the nearest multiple of {}; percentages are computed from the rounded counts.",
            rules.rounding_base
        ),
        format!(
            "{} of {} figures are suppressed (*): counts under {}, cells that would let such a count be recomputed from the totals, and estimates resting on fewer than {} persons at risk or {} repeats.",
            ledger.suppressed,
            ledger.released + ledger.suppressed,
            rules.min_cell,
            rules.min_cell,
            rules.min_cell
        ),
        format!(
            "Breakdown curves are shown only for groups of at least {} persons.",
            rules.cohort_minimum
        ),
    ];
    if tables_withheld > 0 {
        notes.push(format!(
            "{tables_withheld} breakdown table(s) could not be protected and are withheld."
        ));
    }
    notes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::Breakdown;
    use super::*;
    use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};
    use chrono::NaiveDate;

    /// A deterministic cohort of `persons` trafficking victims, about half
    /// with a later victim incident, over 2012–2021 (for whole-report tests).
    pub(crate) fn sample_registrations(persons: u32) -> Vec<Registration> {
        let mut state = 0x5EED_u64;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let start = NaiveDate::from_ymd_opt(2012, 1, 1).unwrap();
        let mut regs = Vec::new();
        for person in 0..persons {
            let sex = Sex::ALL[next(3) as usize];
            let age_band = AgeBand::ALL[next(8) as usize];
            let d0 = next(8 * 365) as i64;
            let mut push = |day: i64, event_type: EventType, role: Role, agency: u64| {
                let order = regs.len() as u32;
                regs.push(Registration {
                    person,
                    date: start + chrono::Duration::days(day),
                    event_type,
                    role,
                    agency: agency as u16,
                    age_band,
                    sex,
                    region: Region::Utrecht,
                    residence_status: ResidenceStatus::Eu,
                    order,
                });
            };
            push(d0, EventType::TraffickingLabour, Role::Victim, next(2));
            if next(2) == 0 {
                let later = d0 + 15 + next(4 * 365) as i64;
                push(
                    later,
                    EventType::ALL[next(10) as usize],
                    Role::Victim,
                    next(2),
                );
            }
        }
        regs
    }

    fn agencies() -> Vec<String> {
        vec!["care".into(), "police".into()]
    }

    pub(crate) fn sample_report() -> Report {
        let params = ReportParams {
            breakdowns: vec![Breakdown::Sex, Breakdown::RepeatType],
            ..Default::default()
        };
        repeat_victimisation(
            &sample_registrations(600),
            &agencies(),
            &params,
            &DisclosureRules::default(),
        )
        .unwrap()
    }

    /// The released report survives a JSON round trip (the wire and the
    /// CLI's `--format json` carry it).
    #[test]
    fn report_round_trips_through_json() {
        let report = sample_report();
        let mut line = Vec::new();
        report.render_json(&mut line).unwrap();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Report = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, report);
        assert_eq!(report.cohort_size, Some(600));
    }

    /// The curve moves only after at least `min_cell` more repeats (or at a
    /// released horizon), and stops before fewer than `min_cell` are at risk.
    #[test]
    fn curve_steps_rest_on_enough_repeats() {
        let regs = sample_registrations(600);
        let report = sample_report();
        let exact = cohort_survival(&regs, &agencies(), &ReportParams::default()).unwrap();
        let min = u64::from(report.rules.min_cell);
        let t = |months: u32| DAYS_PER_YEAR * f64::from(months) / 12.0;
        let mut last_move = 0;
        for pair in report.curve.windows(2) {
            if pair[1].percent != pair[0].percent {
                let at_horizon = pair[1].months % 12 == 0;
                let events =
                    exact.km.events_by(t(pair[1].months)) - exact.km.events_by(t(last_move));
                assert!(events >= min || at_horizon, "{pair:?}: {events} events");
                last_move = pair[1].months;
            }
        }
        let end = report.curve.last().unwrap().months;
        assert!(exact.km.at_risk(t(end)) >= min);
        assert!(end == 84 || exact.km.at_risk(t(end + 1)) < min);
    }

    /// With few repeats the estimate is withheld (it would reveal the count),
    /// while the cohort size is still released.
    #[test]
    fn estimates_need_enough_repeats() {
        let mut regs = sample_registrations(60);
        regs.retain(|r| r.event_type == EventType::TraffickingLabour);
        let first = regs[0];
        regs.push(Registration {
            date: first.date + chrono::Duration::days(100),
            event_type: EventType::Assault,
            order: 99_999,
            ..first
        });
        let report = repeat_victimisation(
            &regs,
            &agencies(),
            &ReportParams::default(),
            &DisclosureRules::default(),
        )
        .unwrap();
        assert_eq!(report.cohort_size, Some(60));
        assert_eq!(report.repeats, None);
        assert!(
            report
                .horizons
                .iter()
                .all(|h| h.cumulative_incidence.percent.is_none())
        );
        assert!(report.curve.iter().all(|p| p.percent == 0.0));
    }

    /// A linkage setting with too small a cohort is withheld; when all are,
    /// the request fails.
    #[test]
    fn sensitivity_withholds_small_settings() {
        let (big, small) = (sample_registrations(300), sample_registrations(20));
        let rules = DisclosureRules::default();
        let params = ReportParams::default();
        let table = sensitivity(
            &[("strict", small.as_slice()), ("default", big.as_slice())],
            &agencies(),
            &params,
            &rules,
        )
        .unwrap();
        assert!(table.linkages[0].withheld);
        assert_eq!(table.linkages[1].cohort_size, Some(300));
        assert_eq!(table.linkages[1].horizons.len(), 7);
        let err = sensitivity(&[("loose", small.as_slice())], &agencies(), &params, &rules);
        assert_eq!(
            err.unwrap_err(),
            AnalysisError::CohortTooSmall { minimum: 50 }
        );
    }
}
