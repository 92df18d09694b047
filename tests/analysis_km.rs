//! Kaplan–Meier, Greenwood and log–log intervals against published tables.
//!
//! References (each figure below is compared at the precision it was printed):
//!
//! - Klein, J. P. & Moeschberger, M. L. (2003), *Survival Analysis: Techniques
//!   for Censored and Truncated Data*, 2nd ed., Springer: Example 4.1,
//!   Table 4.1A, product-limit estimates and Greenwood standard errors for
//!   the 6-MP group of the leukaemia remission trial (Freireich et al. 1963,
//!   Blood 21:699–716; data as in Gehan 1965, Biometrika 52:203–233). The same
//!   figures are what R's `survfit` prints for `KMsurv::drug6mp`.
//! - Stata's survival example session (stata.com, "Survival analysis example
//!   session", `webuse cancer`, `sts list, by(dose)`): the control arm's
//!   first four rows, whose intervals are Stata's default log–log intervals.
//! - Rodríguez, G., "The Gehan Survival Data" (Princeton, WWS 509/POP 509),
//!   `sts list, by(group)`: first row of the control arm.

use proptest::prelude::*;
use veilink::analysis::km::{KaplanMeier, log_log_interval, normal_quantile};

fn z95() -> f64 {
    normal_quantile(0.975)
}

/// Remission times in weeks of the 21 patients on 6-MP; `false` = censored
/// ("6+" in the book).
fn six_mp() -> Vec<(u32, bool)> {
    let events = [6, 6, 6, 7, 10, 13, 16, 22, 23];
    let censored = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35];
    events
        .iter()
        .map(|&t| (t, true))
        .chain(censored.iter().map(|&t| (t, false)))
        .collect()
}

fn fixed(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

/// The 6-MP product-limit table (times, at risk, events, S to 3 decimals,
/// Greenwood SE to 4 decimals) matches Klein & Moeschberger Table 4.1A.
#[test]
fn six_mp_matches_klein_moeschberger_table_4_1a() {
    // (t_i, n_i, d_i, S(t_i), SE)
    let printed = [
        (6, 21, 3, "0.857", "0.0764"),
        (7, 17, 1, "0.807", "0.0869"),
        (10, 15, 1, "0.753", "0.0963"),
        (13, 12, 1, "0.690", "0.1068"),
        (16, 11, 1, "0.627", "0.1141"),
        (22, 7, 1, "0.538", "0.1282"),
        (23, 6, 1, "0.448", "0.1346"),
    ];
    let km = KaplanMeier::fit(six_mp());
    let rows: Vec<_> = km.event_steps().collect();
    assert_eq!(rows.len(), printed.len());
    for (row, &(t, n, d, s, se)) in rows.iter().zip(&printed) {
        assert_eq!((row.time, row.at_risk, row.events), (t, n, d));
        let estimate = km.estimate(f64::from(t), z95());
        assert_eq!(fixed(estimate.survival, 3), s, "S({t})");
        assert_eq!(fixed(estimate.std_err, 4), se, "SE({t})");
    }
    // Between event times the estimate is flat; after the last event it stays.
    assert_eq!(km.survival(9.0), km.survival(7.0));
    assert_eq!(km.survival(35.0), km.survival(23.0));
}

/// Stata's `sts list` for the control arm of `webuse cancer`: S, Greenwood SE
/// and the log–log 95% interval to 4 decimals.
#[test]
fn log_log_interval_matches_stata_cancer_example() {
    // Control arm: 20 patients; 2, 1, 1, 2 deaths at months 1..4 and no
    // censoring before month 5. The remaining 14 times are all later than 4,
    // so they do not enter these rows; they are given as censored at 5.
    let mut arm: Vec<(u32, bool)> = [(1, 2), (2, 1), (3, 1), (4, 2)]
        .iter()
        .flat_map(|&(t, d)| std::iter::repeat_n((t, true), d))
        .collect();
    arm.extend(std::iter::repeat_n((5, false), 14));
    let printed = [
        (1, 20, 2, "0.9000", "0.0671", "0.6560", "0.9740"),
        (2, 18, 1, "0.8500", "0.0798", "0.6038", "0.9490"),
        (3, 17, 1, "0.8000", "0.0894", "0.5511", "0.9198"),
        (4, 16, 2, "0.7000", "0.1025", "0.4505", "0.8525"),
    ];
    let km = KaplanMeier::fit(arm);
    for &(t, n, d, s, se, lo, hi) in &printed {
        let e = km.estimate(f64::from(t), z95());
        assert_eq!(km.at_risk(f64::from(t)), n);
        assert_eq!(
            km.events_by(f64::from(t)) - km.events_by(f64::from(t) - 1.0),
            d
        );
        assert_eq!(fixed(e.survival, 4), s);
        assert_eq!(fixed(e.std_err, 4), se);
        assert_eq!(fixed(e.lower.unwrap(), 4), lo, "lower at {t}");
        assert_eq!(fixed(e.upper.unwrap(), 4), hi, "upper at {t}");
        // The interval of the cumulative incidence mirrors it.
        let (f_lo, f_hi) = e.incidence_interval().unwrap();
        assert!((f_lo - (1.0 - e.upper.unwrap())).abs() < 1e-15);
        assert!((f_hi - (1.0 - e.lower.unwrap())).abs() < 1e-15);
    }
}

/// The control arm of the Gehan data (no censoring): first row of Stata's
/// `sts list` as printed by Rodríguez.
#[test]
fn gehan_control_first_row_matches_rodriguez() {
    let weeks = [
        1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23,
    ];
    let km = KaplanMeier::fit(weeks.iter().map(|&t| (t, true)));
    let e = km.estimate(1.0, z95());
    assert_eq!(fixed(e.survival, 4), "0.9048");
    assert_eq!(fixed(e.std_err, 4), "0.0641");
    assert_eq!(fixed(e.lower.unwrap(), 4), "0.6700");
    // Without censoring, S is the empirical survivor function: 8/21 after week 10.
    assert_eq!(fixed(km.survival(10.0), 6), fixed(8.0 / 21.0, 6));
    assert_eq!(km.survival(23.0), 0.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any data, the log–log interval lies inside (0, 1), contains the
    /// estimate, and widens with the confidence level.
    #[test]
    fn log_log_interval_is_proper(
        obs in prop::collection::vec((1_u32..200, any::<bool>()), 1..200),
        t in 1.0_f64..200.0,
    ) {
        let km = KaplanMeier::fit(obs);
        let s = km.survival(t);
        let g = km.steps().iter().rev().find(|x| f64::from(x.time) <= t).map_or(0.0, |x| x.greenwood);
        if let Some((lo, hi)) = log_log_interval(s, g, normal_quantile(0.975)) {
            prop_assert!(0.0 < lo && lo <= s && s <= hi && hi < 1.0, "{lo} {s} {hi}");
            let (lo99, hi99) = log_log_interval(s, g, normal_quantile(0.995)).unwrap();
            prop_assert!(lo99 <= lo && hi <= hi99);
        } else {
            prop_assert!(s == 0.0 || s == 1.0 || !g.is_finite());
        }
    }
}
