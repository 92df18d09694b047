//! Report time on a store of one million persons (issue 7 targets: under 2 s
//! for the default report, under 10 s with every breakdown and the
//! three-partition sensitivity table).
//!
//! The registrations (about 3 million) are built here, deterministically,
//! with the shape of the real data: most persons have a trafficking index
//! incident, often registered by two agencies a few days apart; about half
//! have later victim incidents; some are also registered as suspects. The
//! strict and loose partitions split and merge a few per cent of persons, as
//! stricter and looser linkage would.
//!
//! Run: `cargo bench --bench analysis`.

use std::hint::black_box;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use veilink::analysis::{
    Breakdown, DisclosureRules, Registration, ReportParams, repeat_victimisation, sensitivity,
};
use veilink::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

const PERSONS: u32 = 1_000_000;

/// SplitMix64 (Steele, Lea & Flood 2014): a small deterministic generator.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn registrations() -> Vec<Registration> {
    let mut rng = SplitMix(2016);
    let start = NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
    let mut regs = Vec::with_capacity(3 * PERSONS as usize);
    for person in 0..PERSONS {
        let age_band = AgeBand::ALL[rng.below(AgeBand::ALL.len() as u64) as usize];
        let sex = Sex::ALL[rng.below(3) as usize];
        let region = Region::ALL[rng.below(Region::ALL.len() as u64) as usize];
        let residence_status = ResidenceStatus::ALL[rng.below(6) as usize];
        let mut push = |days: u64, event_type: EventType, role: Role, agency: u16| {
            let order = regs.len() as u32;
            regs.push(Registration {
                person,
                date: start + chrono::Duration::days(days as i64),
                event_type,
                role,
                agency,
                age_band,
                sex,
                region,
                residence_status,
                order,
            });
        };
        let index_type = if rng.chance(0.9) {
            EventType::ALL[rng.below(4) as usize]
        } else {
            EventType::ALL[4 + rng.below(6) as usize]
        };
        let d0 = rng.below(11 * 365);
        push(d0, index_type, Role::Victim, rng.below(3) as u16);
        if rng.chance(0.7) {
            push(
                d0 + rng.below(10),
                index_type,
                Role::Victim,
                rng.below(3) as u16,
            );
        }
        let later = match rng.below(10) {
            0..=4 => 0,
            5..=7 => 1,
            _ => 2,
        };
        let mut t = d0;
        for _ in 0..later {
            t += 15 + rng.below(3 * 365);
            let event_type = EventType::ALL[rng.below(10) as usize];
            push(t, event_type, Role::Victim, rng.below(3) as u16);
            if rng.chance(0.5) {
                push(
                    t + rng.below(14),
                    event_type,
                    Role::Victim,
                    rng.below(3) as u16,
                );
            }
        }
        if rng.chance(0.15) {
            push(rng.below(12 * 365), EventType::Assault, Role::Suspect, 0);
        }
    }
    regs
}

/// Stricter linkage: 3% of persons fall apart into two (their odd-numbered
/// records become a new person).
fn strict(regs: &[Registration]) -> Vec<Registration> {
    regs.iter()
        .map(|r| {
            let split = r.person % 33 == 0 && r.order % 2 == 1;
            Registration {
                person: if split { PERSONS + r.person } else { r.person },
                ..*r
            }
        })
        .collect()
}

/// Looser linkage: 2% of persons are merged with their neighbour.
fn loose(regs: &[Registration]) -> Vec<Registration> {
    regs.iter()
        .map(|r| Registration {
            person: if r.person % 50 == 1 {
                r.person - 1
            } else {
                r.person
            },
            ..*r
        })
        .collect()
}

fn report(c: &mut Criterion) {
    let regs = registrations();
    let (strict, loose) = (strict(&regs), loose(&regs));
    let agencies: Vec<String> = ["care", "police", "victim-support"]
        .map(String::from)
        .to_vec();
    let rules = DisclosureRules::default();
    let default = ReportParams::default();
    let everything = ReportParams {
        breakdowns: Breakdown::ALL.to_vec(),
        ..Default::default()
    };
    eprintln!(
        "{} registrations of {PERSONS} persons; cohort of the default report: {:?}",
        regs.len(),
        repeat_victimisation(&regs, &agencies, &default, &rules)
            .map(|r| r.cohort_size)
            .unwrap_or_default()
    );

    let mut group = c.benchmark_group("report_1m_persons");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("default", |b| {
        b.iter(|| repeat_victimisation(black_box(&regs), &agencies, &default, &rules).unwrap())
    });
    group.bench_function("all_breakdowns_and_sensitivity", |b| {
        b.iter(|| {
            let mut report =
                repeat_victimisation(black_box(&regs), &agencies, &everything, &rules).unwrap();
            let partitions: [(&str, &[Registration]); 3] =
                [("strict", &strict), ("default", &regs), ("loose", &loose)];
            report.sensitivity =
                Some(sensitivity(&partitions, &agencies, &default, &rules).unwrap());
            report
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Criterion's HTML plots need a font registered with plotters' ab_glyph
    // backend (which this crate enables); the figures are what matter here.
    config = Criterion::default().without_plots();
    targets = report
}
criterion_main!(benches);
