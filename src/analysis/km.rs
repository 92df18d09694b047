//! Kaplan–Meier product-limit estimation with Greenwood's variance and
//! log–log confidence intervals.
//!
//! Times are whole units (the analysis uses days; the textbook test uses
//! weeks). At a tied time, events precede censorings: a person censored at t
//! is still at risk at t (Kaplan & Meier 1958). The formulas, as in Klein &
//! Moeschberger, *Survival Analysis* (2nd ed., 2003), §4.2–4.3:
//!
//! - S(t) = Π_{t_j ≤ t} (1 − d_j / n_j)
//! - Greenwood: Var S(t) = S(t)² · Σ_{t_j ≤ t} d_j / (n_j (n_j − d_j))
//! - log–log interval (Kalbfleisch & Prentice 1980; K&M eq. 4.3.2):
//!   θ = exp(z · σ(t) / ln S(t)) with σ(t)² the Greenwood sum, and the
//!   interval [S(t)^{1/θ}, S(t)^θ], which always lies inside (0, 1).

/// One distinct observed time: an event time, a censoring time, or both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmStep {
    /// The time (whole units, e.g. days).
    pub time: u32,
    /// n_j: persons with T ≥ time (censored-at-time persons included).
    pub at_risk: u64,
    /// d_j: events at this time.
    pub events: u64,
    /// Censorings at this time (they leave after the events).
    pub censored: u64,
    /// S(time), including this time's events.
    pub survival: f64,
    /// Greenwood sum Σ_{t_j ≤ time} d_j / (n_j (n_j − d_j)); +∞ once every
    /// person at risk has had the event (S = 0).
    pub greenwood: f64,
    /// Events at or before this time.
    pub cumulative_events: u64,
}

/// A fitted Kaplan–Meier curve over all distinct observed times.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KaplanMeier {
    /// Number of observations (persons).
    persons: u64,
    /// Distinct observed times in ascending order.
    steps: Vec<KmStep>,
}

/// The Kaplan–Meier estimate at one time point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmEstimate {
    /// S(t): the share without the event through t.
    pub survival: f64,
    /// Greenwood standard error of S(t).
    pub std_err: f64,
    /// Lower log–log confidence limit of S(t); `None` when S(t) is 0 or 1
    /// (the interval is not defined there).
    pub lower: Option<f64>,
    /// Upper log–log confidence limit of S(t); `None` as for `lower`.
    pub upper: Option<f64>,
}

impl KmEstimate {
    /// The cumulative incidence F(t) = 1 − S(t).
    pub fn cumulative_incidence(&self) -> f64 {
        1.0 - self.survival
    }

    /// The confidence interval of F(t): (1 − upper, 1 − lower) of S(t).
    pub fn incidence_interval(&self) -> Option<(f64, f64)> {
        match (self.lower, self.upper) {
            (Some(lower), Some(upper)) => Some((1.0 - upper, 1.0 - lower)),
            _ => None,
        }
    }
}

impl KaplanMeier {
    /// Fits the curve to `(time, event)` pairs: `event` is true when the
    /// outcome was observed at `time` (δ = 1), false when the person was
    /// censored then.
    ///
    /// Cost: one sort of the observations (O(n log n)), then one pass.
    pub fn fit<I: IntoIterator<Item = (u32, bool)>>(observations: I) -> Self {
        // Sort key: time, then events before censorings (low bit 0 = event).
        let mut keys: Vec<u64> = observations
            .into_iter()
            .map(|(time, event)| (u64::from(time) << 1) | u64::from(!event))
            .collect();
        keys.sort_unstable();
        let persons = keys.len() as u64;
        let mut steps = Vec::new();
        let mut at_risk = persons;
        let mut survival = 1.0_f64;
        let mut greenwood = 0.0_f64;
        let mut cumulative_events = 0_u64;
        let mut i = 0;
        while i < keys.len() {
            let time = keys[i] >> 1;
            let mut events = 0_u64;
            let mut censored = 0_u64;
            while i < keys.len() && keys[i] >> 1 == time {
                if keys[i] & 1 == 0 {
                    events += 1;
                } else {
                    censored += 1;
                }
                i += 1;
            }
            if events > 0 {
                let (n, d) = (at_risk as f64, events as f64);
                survival *= 1.0 - d / n;
                greenwood += if events == at_risk {
                    f64::INFINITY
                } else {
                    d / (n * (n - d))
                };
                cumulative_events += events;
            }
            steps.push(KmStep {
                // `time` came from a u32 shifted left by one.
                time: time as u32,
                at_risk,
                events,
                censored,
                survival,
                greenwood,
                cumulative_events,
            });
            at_risk -= events + censored;
        }
        KaplanMeier { persons, steps }
    }

    /// Number of observations the curve was fitted to.
    pub fn persons(&self) -> u64 {
        self.persons
    }

    /// Every distinct observed time, ascending.
    pub fn steps(&self) -> &[KmStep] {
        &self.steps
    }

    /// The distinct event times (d_j > 0), ascending: the rows of a
    /// textbook product-limit table.
    pub fn event_steps(&self) -> impl Iterator<Item = &KmStep> + '_ {
        self.steps.iter().filter(|s| s.events > 0)
    }

    /// The last distinct time ≤ t, if any.
    fn last_step_at(&self, t: f64) -> Option<&KmStep> {
        let after = self.steps.partition_point(|s| f64::from(s.time) <= t);
        after.checked_sub(1).map(|i| &self.steps[i])
    }

    /// S(t) (1 before the first event).
    pub fn survival(&self, t: f64) -> f64 {
        self.last_step_at(t).map_or(1.0, |s| s.survival)
    }

    /// Persons at risk at t: #{T_i ≥ t}.
    pub fn at_risk(&self, t: f64) -> u64 {
        let first = self.steps.partition_point(|s| f64::from(s.time) < t);
        self.steps.get(first).map_or(0, |s| s.at_risk)
    }

    /// Observed events at or before t: #{T_i ≤ t, δ_i = 1}.
    pub fn events_by(&self, t: f64) -> u64 {
        self.last_step_at(t).map_or(0, |s| s.cumulative_events)
    }

    /// The estimate at t with Greenwood standard error and the log–log
    /// interval for the normal quantile `z` (1.96 for 95%).
    pub fn estimate(&self, t: f64, z: f64) -> KmEstimate {
        let (survival, greenwood) = self
            .last_step_at(t)
            .map_or((1.0, 0.0), |s| (s.survival, s.greenwood));
        let std_err = if survival > 0.0 {
            survival * greenwood.sqrt()
        } else {
            0.0
        };
        let interval = log_log_interval(survival, greenwood, z);
        KmEstimate {
            survival,
            std_err,
            lower: interval.map(|i| i.0),
            upper: interval.map(|i| i.1),
        }
    }
}

/// The log–log confidence interval [S^{1/θ}, S^θ], θ = exp(z·√g / ln S), for a
/// survival estimate `survival` with Greenwood sum `greenwood` (the variance
/// of log S). `None` when S is 0 or 1 or the sum is not finite.
pub fn log_log_interval(survival: f64, greenwood: f64, z: f64) -> Option<(f64, f64)> {
    if !(survival > 0.0 && survival < 1.0 && greenwood.is_finite()) {
        return None;
    }
    let theta = (z * greenwood.sqrt() / survival.ln()).exp();
    Some((survival.powf(1.0 / theta), survival.powf(theta)))
}

/// The standard-normal quantile Φ⁻¹(p) for p in (0, 1) (±∞ at 0 and 1, NaN
/// outside).
///
/// Wichura, M. J. (1988), "Algorithm AS 241: The percentage points of the
/// normal distribution", *Applied Statistics* 37(3), 477–484 (PPND16,
/// relative accuracy about 1e-16).
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    // The published coefficients, digit for digit (lowest order first).
    const A: [f64; 8] = [
        3.3871328727963666080e0,
        1.3314166789178437745e+2,
        1.9715909503065514427e+3,
        1.3731693765509461125e+4,
        4.5921953931549871457e+4,
        6.7265770927008700853e+4,
        3.3430575583588128105e+4,
        2.5090809287301226727e+3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.2313330701600911252e+1,
        6.8718700749205790830e+2,
        5.3941960214247511077e+3,
        2.1213794301586595867e+4,
        3.9307895800092710610e+4,
        2.8729085735721942674e+4,
        5.2264952788528545610e+3,
    ];
    const C: [f64; 8] = [
        1.42343711074968357734e0,
        4.63033784615654529590e0,
        5.76949722146069140550e0,
        3.64784832476320460504e0,
        1.27045825245236838258e0,
        2.41780725177450611770e-1,
        2.27238449892691845833e-2,
        7.74545014278341407640e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.05319162663775882187e0,
        1.67638483018380384940e0,
        6.89767334985100004550e-1,
        1.48103976427480074590e-1,
        1.51986665636164571966e-2,
        5.47593808499534494600e-4,
        1.05075007164441684324e-9,
    ];
    const E: [f64; 8] = [
        6.65790464350110377720e0,
        5.46378491116411436990e0,
        1.78482653991729133580e0,
        2.96560571828504891230e-1,
        2.65321895265761230930e-2,
        1.24266094738807843860e-3,
        2.71155556874348757815e-5,
        2.01033439929228813265e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.99832206555887937690e-1,
        1.36929880922735805310e-1,
        1.48753612908506148525e-2,
        7.86869131145613259100e-4,
        1.84631831751005468180e-5,
        1.42151175831644588870e-7,
        2.04426310338993978564e-15,
    ];
    fn ratio(num: &[f64; 8], den: &[f64; 8], x: f64) -> f64 {
        let horner = |c: &[f64; 8]| c.iter().rev().fold(0.0, |acc, &k| acc * x + k);
        horner(num) / horner(den)
    }

    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        return q * ratio(&A, &B, 0.180_625 - q * q);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    if tail <= 0.0 {
        return if q < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let r = (-tail.ln()).sqrt();
    let value = if r <= 5.0 {
        ratio(&C, &D, r - 1.6)
    } else {
        ratio(&E, &F, r - 5.0)
    };
    if q < 0.0 { -value } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Φ⁻¹ matches known quantiles in all three regions of AS 241.
    #[test]
    fn normal_quantiles_match_known_values() {
        // Reference values: R's qnorm (itself AS 241), printed to 15 digits.
        let cases = [
            (0.975, 1.959_963_984_540_054),
            (0.95, 1.644_853_626_951_472_2),
            (0.995, 2.575_829_303_548_900_4),
            (0.5, 0.0),
            (0.025, -1.959_963_984_540_054),
            (1e-10, -6.361_340_902_404_056),
        ];
        for (p, z) in cases {
            let got = normal_quantile(p);
            assert!(
                (got - z).abs() <= 1e-12 * z.abs().max(1.0),
                "p={p}: {got} vs {z}"
            );
        }
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(1.5).is_nan());
    }

    /// Without censoring, S(t) is the empirical survivor function and the
    /// at-risk and event counts follow the tie rule.
    #[test]
    fn uncensored_curve_is_empirical() {
        let km = KaplanMeier::fit([(1, true), (2, true), (2, true), (3, false), (5, true)]);
        assert_eq!(km.persons(), 5);
        assert!((km.survival(1.0) - 0.8).abs() < 1e-15);
        assert!((km.survival(2.5) - 0.4).abs() < 1e-15);
        // The censoring at 3 does not move S; the last event takes S to 0.
        assert!((km.survival(4.0) - 0.4).abs() < 1e-15);
        assert_eq!(km.survival(5.0), 0.0);
        assert_eq!(km.at_risk(3.0), 2);
        assert_eq!(km.at_risk(3.5), 1);
        assert_eq!(km.at_risk(6.0), 0);
        assert_eq!(km.events_by(2.0), 3);
        let at_end = km.estimate(5.0, 1.96);
        assert_eq!(at_end.std_err, 0.0);
        assert_eq!(at_end.lower, None);
        let before = km.estimate(0.5, 1.96);
        assert_eq!((before.survival, before.lower), (1.0, None));
    }
}
