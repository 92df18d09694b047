//! Disclosure control, checked independently of how it is implemented.
//!
//! Recoverability is checked with linear algebra, not with the graph argument
//! the implementation uses: a table with its margins satisfies one linear
//! equation per row and per column (interior cells sum to the margin); a
//! suppressed cell is exactly recoverable from the released values when the
//! equations restricted to the unknown cells fix it, i.e. when dropping its
//! column lowers the rank of that system. The graph criterion (a cell is
//! determined iff its edge is a bridge of the bipartite row/column graph of
//! unknown cells) is tested against this, and every protected table is
//! tested with it.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use veilink::analysis::disclosure::{CellStatus, CountTable, DisclosureRules, determined_unknowns};
use veilink::analysis::{
    Breakdown, Registration, Report, ReportParams, cohort_survival, repeat_victimisation,
};
use veilink::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

/// Rank of a small dense matrix (Gaussian elimination with partial pivoting;
/// entries are 0 and ±1, so a tolerance of 1e-9 is safe).
fn rank(mut m: Vec<Vec<f64>>) -> usize {
    let Some(width) = m.first().map(Vec::len) else {
        return 0;
    };
    let mut rank = 0;
    for col in 0..width {
        if rank == m.len() {
            break;
        }
        let pivot = (rank..m.len())
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .unwrap();
        if m[pivot][col].abs() < 1e-9 {
            continue;
        }
        m.swap(rank, pivot);
        let pivot_row = m[rank].clone();
        for (r, row) in m.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            if r != rank && f != 0.0 {
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
        rank += 1;
    }
    rank
}

/// The margin equations of an extended `(rows+1) × (cols+1)` grid restricted
/// to the `unknown` cells: one equation per extended row and column.
fn equations(rows: usize, cols: usize, unknown: &[(usize, usize)]) -> Vec<Vec<f64>> {
    let mut eqs = Vec::new();
    for r in 0..=rows {
        eqs.push(
            unknown
                .iter()
                .map(|&(ur, uc)| match (ur == r, uc == cols) {
                    (true, false) => 1.0,
                    (true, true) => -1.0,
                    _ => 0.0,
                })
                .collect(),
        );
    }
    for c in 0..=cols {
        eqs.push(
            unknown
                .iter()
                .map(|&(ur, uc)| match (uc == c, ur == rows) {
                    (true, false) => 1.0,
                    (true, true) => -1.0,
                    _ => 0.0,
                })
                .collect(),
        );
    }
    eqs
}

/// Unknown cells that the known ones determine exactly (linear algebra).
fn determined_by_algebra(
    rows: usize,
    cols: usize,
    unknown: &[(usize, usize)],
) -> BTreeSet<(usize, usize)> {
    let full = rank(equations(rows, cols, unknown));
    unknown
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            let mut without = unknown.to_vec();
            without.remove(i);
            rank(equations(rows, cols, &without)) < full
        })
        .map(|(_, &cell)| cell)
        .collect()
}

fn grid(rows: usize, cols: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..=rows).flat_map(move |r| (0..=cols).map(move |c| (r, c)))
}

/// Tables with many small counts, as breakdowns of a small cohort have.
fn tables() -> impl Strategy<Value = (usize, usize, Vec<u64>)> {
    (1_usize..7, 1_usize..4).prop_flat_map(|(rows, cols)| {
        let cell = prop_oneof![0_u64..10, 0_u64..40, 0_u64..400];
        prop::collection::vec(cell, rows * cols).prop_map(move |v| (rows, cols, v))
    })
}

fn rules() -> impl Strategy<Value = DisclosureRules> {
    (1_u32..15, 1_u32..8).prop_map(|(min_cell, rounding_base)| DisclosureRules {
        cohort_minimum: 50,
        min_cell,
        rounding_base,
    })
}

/// Checks a protected table: released cells are at least the threshold and
/// rounded; no suppressed cell is recoverable (linear algebra).
fn check_protected(
    rows: usize,
    cols: usize,
    table: &CountTable,
    rules: &DisclosureRules,
) -> Result<bool, TestCaseError> {
    let protected = table.clone().protect(rules);
    let unknown: Vec<(usize, usize)> = grid(rows, cols)
        .filter(|&(r, c)| protected.status(r, c) != CellStatus::Released)
        .collect();
    if protected.withheld() {
        for (r, c) in grid(rows, cols) {
            prop_assert_eq!(protected.released(r, c), None);
        }
        return Ok(true);
    }
    for (r, c) in grid(rows, cols) {
        let truth = table.value(r, c);
        match protected.released(r, c) {
            Some(v) => {
                prop_assert!(
                    truth >= u64::from(rules.min_cell),
                    "released {truth} at {r},{c}"
                );
                prop_assert_eq!(v % u64::from(rules.rounding_base), 0);
                prop_assert!(v.abs_diff(truth) * 2 <= u64::from(rules.rounding_base));
            }
            None => prop_assert!(protected.status(r, c) != CellStatus::Released),
        }
    }
    let determined = determined_by_algebra(rows, cols, &unknown);
    let exposed: Vec<_> = determined
        .iter()
        .filter(|&&(r, c)| protected.status(r, c).is_suppressed())
        .collect();
    prop_assert!(
        exposed.is_empty(),
        "recoverable suppressed cells {:?}",
        exposed
    );
    Ok(false)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The bridge criterion agrees with linear algebra on arbitrary patterns
    /// of unknown cells, margins included.
    #[test]
    fn bridges_are_exactly_the_determined_cells(
        rows in 1_usize..6,
        cols in 1_usize..5,
        seed in prop::collection::vec(any::<bool>(), 42),
    ) {
        let unknown: Vec<(usize, usize)> = grid(rows, cols)
            .enumerate()
            .filter(|&(i, _)| seed[i % seed.len()] ^ (i % 3 == 0))
            .map(|(_, cell)| cell)
            .collect();
        let by_graph: BTreeSet<_> =
            determined_unknowns(rows, cols, |r, c| unknown.contains(&(r, c))).into_iter().collect();
        prop_assert_eq!(by_graph, determined_by_algebra(rows, cols, &unknown));
    }

    /// Any two-way table: no released cell under the threshold, released
    /// counts rounded, no suppressed cell recoverable from the released
    /// cells and margins; without shared margins a table is never withheld.
    #[test]
    fn two_way_tables_are_protected((rows, cols, interior) in tables(), rules in rules()) {
        let table = CountTable::new(rows, cols, &interior);
        let withheld = check_protected(rows, cols, &table, &rules)?;
        prop_assert!(!withheld);
    }

    /// The same with the column totals and grand total fixed as released
    /// elsewhere (as in the report's breakdowns): protected or withheld.
    #[test]
    fn tables_with_shared_margins_are_protected((rows, cols, interior) in tables(), rules in rules()) {
        let mut table = CountTable::new(rows, cols, &interior);
        prop_assume!(table.value(rows, cols) >= u64::from(rules.min_cell));
        // The shared margins are protected once, as a frequency table whose
        // total (the cohort) is released, exactly as the report does.
        let column_totals: Vec<u64> = (0..cols).map(|c| table.value(rows, c)).collect();
        let mut shared = CountTable::frequency(&column_totals);
        shared.fix(cols, 0, false);
        let shared = shared.protect(&rules);
        for c in 0..cols {
            table.fix(rows, c, shared.released(c, 0).is_none());
        }
        table.fix(rows, cols, false);
        check_protected(rows, cols, &table, &rules)?;
    }

    /// One-way frequency tables (categories with their total).
    #[test]
    fn frequency_tables_are_protected(
        counts in prop::collection::vec(prop_oneof![0_u64..10, 0_u64..200], 1..12),
        rules in rules(),
    ) {
        let table = CountTable::frequency(&counts);
        check_protected(counts.len(), 1, &table, &rules)?;
    }
}

// ---- Whole reports on random cohorts ----

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2016, 1, 1).unwrap()
}

/// A random cohort: each person has one trafficking index registration and
/// up to three later victim registrations; one extra registration fixes E.
fn cohorts() -> impl Strategy<Value = Vec<Registration>> {
    let person = (
        0_i64..1000,
        prop::collection::vec((1_i64..2500, 0_usize..10), 0..3),
        0_usize..4,
        0_usize..9,
        0_usize..14,
        any::<bool>(),
    );
    prop::collection::vec(person, 50..260).prop_map(|people| {
        let mut regs = Vec::new();
        let mut push = |person: u32,
                        date: NaiveDate,
                        event_type: EventType,
                        role: Role,
                        attrs: (usize, usize, usize)| {
            let order = regs.len() as u32;
            regs.push(Registration {
                person,
                date,
                event_type,
                role,
                agency: (order % 3) as u16,
                age_band: AgeBand::ALL[attrs.1],
                sex: Sex::ALL[attrs.0],
                region: Region::ALL[attrs.2],
                residence_status: ResidenceStatus::ALL[order as usize % ResidenceStatus::ALL.len()],
                order,
            });
        };
        for (p, (start, later, sex, age, region, suspect)) in people.into_iter().enumerate() {
            let p = p as u32;
            let attrs = (sex, age, region);
            let d0 = day0() + Duration::days(start);
            push(p, d0, EventType::TraffickingSexual, Role::Victim, attrs);
            for (offset, t) in later {
                push(
                    p,
                    d0 + Duration::days(offset),
                    EventType::ALL[t],
                    Role::Victim,
                    attrs,
                );
            }
            if suspect {
                push(
                    p,
                    d0 + Duration::days(40),
                    EventType::Assault,
                    Role::Suspect,
                    attrs,
                );
            }
        }
        push(
            u32::MAX,
            day0() + Duration::days(3650),
            EventType::Other,
            Role::Victim,
            (0, 0, 0),
        );
        regs
    })
}

fn agencies() -> Vec<String> {
    ["care", "police", "victim-support"]
        .map(String::from)
        .to_vec()
}

fn all_breakdowns() -> ReportParams {
    ReportParams {
        breakdowns: Breakdown::ALL.to_vec(),
        ..Default::default()
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// In a whole report every percentage is computed from the released
    /// (rounded) counts, every released count is a multiple of the base, and
    /// the shared totals are the same in every table and the headline.
    #[test]
    fn report_percentages_come_from_rounded_counts(regs in cohorts()) {
        let rules = DisclosureRules::default();
        let report: Report = repeat_victimisation(&regs, &agencies(), &all_breakdowns(), &rules).unwrap();
        let base = u64::from(rules.rounding_base);
        let multiple = |v: Option<u64>| v.is_none_or(|v| v % base == 0);
        let from_counts = |n: Option<u64>, d: Option<u64>| match (n, d) {
            (Some(n), Some(d)) if d > 0 => Some(round1(100.0 * n as f64 / d as f64)),
            _ => None,
        };
        for h in &report.horizons {
            prop_assert!(multiple(h.at_risk) && multiple(h.repeats));
            prop_assert_eq!(h.crude.percent, from_counts(h.crude.repeats, h.crude.persons));
        }
        for t in &report.breakdowns {
            for row in t.rows.iter().chain(std::iter::once(&t.total)) {
                prop_assert!(row.counts.iter().all(|c| multiple(*c)));
                let expected = if t.breakdown == Breakdown::RepeatType {
                    from_counts(row.counts[0], t.total.counts[0])
                } else {
                    from_counts(row.counts[1], row.counts[0])
                };
                prop_assert_eq!(row.percent, expected, "{} {}", t.title, row.label);
            }
            if t.breakdown != Breakdown::RepeatType {
                prop_assert_eq!(t.total.counts[0], report.cohort_size);
                prop_assert_eq!(t.total.counts[1], report.repeats);
            } else {
                prop_assert_eq!(t.total.counts[0], report.repeats);
            }
        }
    }

    /// A breakdown never releases a small group: the released persons of each
    /// sex come from a true count of at least the threshold, and group curves
    /// appear only for groups of at least the cohort minimum.
    #[test]
    fn breakdowns_release_no_small_group(regs in cohorts()) {
        let rules = DisclosureRules::default();
        let params = ReportParams { breakdowns: vec![Breakdown::Sex], ..Default::default() };
        let report = repeat_victimisation(&regs, &agencies(), &params, &rules).unwrap();
        let truth = cohort_survival(&regs, &agencies(), &params).unwrap();
        let table = &report.breakdowns[0];
        for (sex, row) in Sex::ALL.iter().zip(&table.rows) {
            let members: Vec<_> = truth.members.iter().filter(|m| m.sex == *sex).collect();
            let persons = members.len() as u64;
            let repeats = members.iter().filter(|m| m.repeat).count() as u64;
            for (released, true_count) in row.counts.iter().zip([persons, repeats, persons - repeats]) {
                if let Some(v) = released {
                    prop_assert!(true_count >= u64::from(rules.min_cell));
                    prop_assert!(v.abs_diff(true_count) <= 2);
                }
            }
            let has_curve = table.curves.iter().any(|c| c.label == sex.as_str());
            prop_assert_eq!(has_curve, persons >= u64::from(rules.cohort_minimum));
        }
    }
}
