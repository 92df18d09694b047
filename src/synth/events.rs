//! Life courses: the true incidents of each person, with the repeat hazard.
//!
//! Most persons never meet an agency. Some are victims of ordinary crime or
//! registered suspects now and then (age-dependent Poisson processes). A share
//! of the population becomes an *index victim* of trafficking; after the index
//! incident, the first later victimisation follows a cure-fraction model
//!
//! ```text
//! F(t) = π · (1 − e^(−λ t)),   π = 0.55,   λ = 0.341 per year,
//! ```
//!
//! so 45% are re-victimised within 5 years and 50% within 7, the shape of the
//! Dutch victim monitor on human trafficking (2016–2020). The first repeat is
//! drawn even when it falls after the end of the period (it is then not
//! written), so the uncensored truth exists. Index victims have no background
//! victimisation after their index incident: every later victim incident is a
//! repeat of the model, and repeats are always registered by some agency.
//!
//! True incidents of one person are at least [`MIN_GAP_DAYS`] apart, so the
//! analysis' 14-day incident window recovers them exactly from registrations
//! made 0–7 days after the true date.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use rand::seq::IndexedRandom;

use super::population::Person;
use super::{Period, YEAR_DAYS, date_of, day_number, weighted};
use crate::vocab::{EventType, Role, Sex};

/// π: share of the cohort that is ever re-victimised.
pub(crate) const REPEAT_FRACTION: f64 = 0.55;
/// λ: rate of the first repeat among those who will repeat, per year;
/// λ = −ln(1 − 0.45/0.55)/5 makes F(5 years) = 0.45.
pub(crate) const REPEAT_RATE_PER_YEAR: f64 = 0.341;
/// Minimum distance in days between two true incidents of one person.
pub(crate) const MIN_GAP_DAYS: i32 = 30;
/// Probability of becoming an index victim during the period for a person of
/// Dutch origin with age factor 1 (tuned so that about 1.5% of the population
/// is an index victim).
const INDEX_BASE: f64 = 0.0069;
/// Rate of further repeats after the first one, per year.
const LATER_REPEAT_RATE: f64 = 0.3;
/// Upper bounds of the age-dependent rates (for thinning), per year.
const MAX_VICTIM_RATE: f64 = 0.02;
const MAX_SUSPECT_RATE: f64 = 0.02;

/// One true incident in a person's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incident {
    /// True date as a day number (common era); may lie after the period for
    /// the first repeat of an index victim.
    pub(crate) day: i32,
    pub(crate) event_type: EventType,
    pub(crate) role: Role,
    /// Must be registered by at least one agency (index incidents, repeats and
    /// the doppelgangers' registration), so that the truth is visible.
    pub(crate) forced: bool,
}

impl Incident {
    /// A victim incident.
    fn victim(day: i32, event_type: EventType, forced: bool) -> Incident {
        Incident {
            day,
            event_type,
            role: Role::Victim,
            forced,
        }
    }

    /// A suspect incident (never forced: only its registration by chance
    /// makes the overlap visible).
    fn suspect(day: i32, event_type: EventType) -> Incident {
        Incident {
            day,
            event_type,
            role: Role::Suspect,
            forced: false,
        }
    }
}

/// The model's true cumulative share re-victimised within `years`.
pub(crate) fn model_cumulative(years: f64) -> f64 {
    REPEAT_FRACTION * (1.0 - (-REPEAT_RATE_PER_YEAR * years).exp())
}

/// Whole years completed on `day`.
pub(crate) fn age_on(birth: NaiveDate, day: i32) -> i32 {
    let date = date_of(day);
    let mut age = date.year() - birth.year();
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// The day `years` whole years after the birth date (approximately; only used
/// to bound windows).
fn years_after(birth: NaiveDate, years: i32) -> i32 {
    day_number(birth) + (f64::from(years) * YEAR_DAYS) as i32
}

/// Event types of background victimisation (never trafficking).
const BACKGROUND_VICTIM_TYPES: [(EventType, u32); 6] = [
    (EventType::Property, 40),
    (EventType::Assault, 20),
    (EventType::Threat, 15),
    (EventType::DomesticViolence, 10),
    (EventType::SexualViolence, 5),
    (EventType::Other, 10),
];

/// Event types of suspect registrations.
const SUSPECT_TYPES: [(EventType, u32); 5] = [
    (EventType::Property, 35),
    (EventType::Assault, 25),
    (EventType::Threat, 15),
    (EventType::DomesticViolence, 5),
    (EventType::Other, 20),
];

/// What a repeat is: the same form of trafficking again, another form, or
/// another crime.
#[derive(Debug, Clone, Copy)]
enum RepeatKind {
    SameTrafficking,
    OtherTrafficking,
    Crime(EventType),
}

const REPEAT_TYPES: [(RepeatKind, u32); 8] = [
    (RepeatKind::SameTrafficking, 10),
    (RepeatKind::OtherTrafficking, 5),
    (RepeatKind::Crime(EventType::SexualViolence), 12),
    (RepeatKind::Crime(EventType::Assault), 22),
    (RepeatKind::Crime(EventType::Threat), 18),
    (RepeatKind::Crime(EventType::DomesticViolence), 10),
    (RepeatKind::Crime(EventType::Property), 17),
    (RepeatKind::Crime(EventType::Other), 6),
];

const TRAFFICKING: [EventType; 4] = [
    EventType::TraffickingSexual,
    EventType::TraffickingLabour,
    EventType::TraffickingCriminal,
    EventType::TraffickingOther,
];

/// Registered victimisation per year by age (ordinary crime).
fn victim_rate(age: i32) -> f64 {
    match age {
        ..4 => 0.0,
        4..=11 => 0.004,
        12..=17 => 0.015,
        18..=29 => 0.02,
        30..=49 => 0.012,
        50..=64 => 0.008,
        _ => 0.006,
    }
}

/// Registered suspects per year by age and sex; none under 12 (the Dutch age
/// of criminal responsibility).
fn suspect_rate(age: i32, sex: Sex) -> f64 {
    let male = match age {
        ..12 => 0.0,
        12..=17 => 0.02,
        18..=29 => 0.018,
        30..=49 => 0.008,
        _ => 0.003,
    };
    if sex == Sex::Male { male } else { male * 0.3 }
}

/// Relative risk of trafficking victimisation by age (minors and young adults
/// are registered most).
fn index_age_factor(age: i32) -> f64 {
    match age {
        12..=29 => 3.0,
        30..=39 => 1.5,
        40..=49 => 0.7,
        50..=64 => 0.25,
        _ => 0.0,
    }
}

/// Form of trafficking of an index incident, by sex and minority.
fn index_type<R: Rng>(sex: Sex, minor: bool, rng: &mut R) -> EventType {
    let table: [(EventType, u32); 4] = match (sex == Sex::Male, minor) {
        (false, false) => [
            (TRAFFICKING[0], 72),
            (TRAFFICKING[1], 13),
            (TRAFFICKING[2], 10),
            (TRAFFICKING[3], 5),
        ],
        (true, false) => [
            (TRAFFICKING[0], 8),
            (TRAFFICKING[1], 52),
            (TRAFFICKING[2], 33),
            (TRAFFICKING[3], 7),
        ],
        (false, true) => [
            (TRAFFICKING[0], 80),
            (TRAFFICKING[1], 2),
            (TRAFFICKING[2], 15),
            (TRAFFICKING[3], 3),
        ],
        (true, true) => [
            (TRAFFICKING[0], 15),
            (TRAFFICKING[1], 5),
            (TRAFFICKING[2], 75),
            (TRAFFICKING[3], 5),
        ],
    };
    weighted(&table, rng)
}

fn repeat_type<R: Rng>(index: EventType, rng: &mut R) -> EventType {
    match weighted(&REPEAT_TYPES, rng) {
        RepeatKind::SameTrafficking => index,
        RepeatKind::OtherTrafficking => {
            let others: Vec<EventType> = TRAFFICKING.into_iter().filter(|t| *t != index).collect();
            *others.choose(rng).unwrap_or(&EventType::TraffickingOther)
        }
        RepeatKind::Crime(event_type) => event_type,
    }
}

/// Days of a homogeneous Poisson process on [from, to] with the rate per year.
fn poisson_days<R: Rng>(from: i32, to: i32, rate_per_year: f64, rng: &mut R) -> Vec<i32> {
    let mut days = Vec::new();
    if from > to || rate_per_year <= 0.0 {
        return days;
    }
    let mut t = f64::from(from);
    loop {
        t += -(1.0 - rng.random::<f64>()).ln() / rate_per_year * YEAR_DAYS;
        if t > f64::from(to) {
            return days;
        }
        days.push(t as i32);
    }
}

/// Gap in days from the index incident to the first repeat, or `None` for the
/// share 1 − π that is never re-victimised: inverse-transform sampling of
/// F(t)/π, at least [`MIN_GAP_DAYS`].
fn first_repeat_gap<R: Rng>(rng: &mut R) -> Option<i32> {
    let u: f64 = rng.random();
    if u >= REPEAT_FRACTION {
        return None;
    }
    let years = -(1.0 - u / REPEAT_FRACTION).ln() / REPEAT_RATE_PER_YEAR;
    Some(((years * YEAR_DAYS).round() as i32).max(MIN_GAP_DAYS))
}

/// The true incidents of one person, sorted by day.
pub(crate) fn life_course<R: Rng>(person: &Person, period: &Period, rng: &mut R) -> Vec<Incident> {
    let birth = person.date_of_birth;
    let victim_from = period.start.max(years_after(birth, 4));
    let suspect_from = period.start.max(years_after(birth, 12));
    // Index incidents, repeats and forced registrations always survive the
    // minimum-gap filter; other incidents give way to them.
    let mut kept: Vec<Incident> = Vec::new();
    let mut others: Vec<Incident> = Vec::new();

    let index = if person.doppelganger {
        None
    } else {
        let day = rng.random_range(period.start..=period.end);
        let age = age_on(birth, day);
        let risk = INDEX_BASE
            * index_age_factor(age)
            * person.origin.trafficking_factor()
            * if person.sex == Sex::Male { 0.8 } else { 1.2 };
        rng.random_bool(risk.min(1.0)).then_some((day, age))
    };

    let victim_until = index.map_or(period.end, |(day, _)| day - 1);
    for day in poisson_days(victim_from, victim_until, MAX_VICTIM_RATE, rng) {
        if rng.random::<f64>() * MAX_VICTIM_RATE < victim_rate(age_on(birth, day)) {
            let event_type = weighted(&BACKGROUND_VICTIM_TYPES, rng);
            others.push(Incident::victim(day, event_type, false));
        }
    }
    for day in poisson_days(suspect_from, period.end, MAX_SUSPECT_RATE, rng) {
        if rng.random::<f64>() * MAX_SUSPECT_RATE < suspect_rate(age_on(birth, day), person.sex) {
            others.push(Incident::suspect(day, weighted(&SUSPECT_TYPES, rng)));
        }
    }

    if let Some((day, age)) = index {
        let minor = age < 18;
        let event_type = index_type(person.sex, minor, rng);
        kept.push(Incident::victim(day, event_type, true));
        if let Some(gap) = first_repeat_gap(rng) {
            let first = day + gap;
            kept.push(Incident::victim(first, repeat_type(event_type, rng), true));
            for later in poisson_days(first + 1, period.end, LATER_REPEAT_RATE, rng) {
                others.push(Incident::victim(later, repeat_type(event_type, rng), true));
            }
        }
        // Victim–offender overlap, more among minors (criminal exploitation).
        if rng.random_bool(if minor { 0.35 } else { 0.15 }) && suspect_from <= period.end {
            for _ in 0..rng.random_range(1..=3) {
                let day = rng.random_range(suspect_from..=period.end);
                others.push(Incident::suspect(day, weighted(&SUSPECT_TYPES, rng)));
            }
        }
    }
    if person.doppelganger && victim_from <= period.end {
        let day = rng.random_range(victim_from..=period.end);
        kept.push(Incident::victim(
            day,
            weighted(&BACKGROUND_VICTIM_TYPES, rng),
            true,
        ));
    }

    others.sort_by_key(|i| i.day);
    for incident in others {
        if kept
            .iter()
            .all(|k| (k.day - incident.day).abs() >= MIN_GAP_DAYS)
        {
            kept.push(incident);
        }
    }
    kept.sort_by_key(|i| i.day);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// The model gives 45% at 5 years and 50% at 7 years (to 0.5 percentage point).
    #[test]
    fn model_matches_the_monitor_shape() {
        assert!((model_cumulative(5.0) - 0.45).abs() < 0.005);
        assert!((model_cumulative(7.0) - 0.50).abs() < 0.005);
    }

    /// Sampled first-repeat gaps follow the model's cumulative distribution.
    #[test]
    fn sampled_gaps_follow_the_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 100_000;
        let gaps: Vec<Option<i32>> = (0..n).map(|_| first_repeat_gap(&mut rng)).collect();
        for years in [1.0, 3.0, 5.0, 7.0] {
            let within = gaps
                .iter()
                .filter(|g| g.is_some_and(|d| f64::from(d) <= years * YEAR_DAYS))
                .count();
            let share = within as f64 / f64::from(n);
            assert!(
                (share - model_cumulative(years)).abs() < 0.01,
                "{years}: {share}"
            );
        }
    }

    /// Ages count completed years.
    #[test]
    fn age_counts_completed_years() {
        let birth = NaiveDate::from_ymd_opt(2000, 6, 15).unwrap();
        let day = |y, m, d| day_number(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert_eq!(age_on(birth, day(2018, 6, 14)), 17);
        assert_eq!(age_on(birth, day(2018, 6, 15)), 18);
    }
}
