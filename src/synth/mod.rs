//! Synthetic agency registrations with a known truth (`veilink synth`).
//!
//! veilink can only be trusted if its linkage and its repeat-victimisation
//! figures are checked against a truth, and real registrations cannot be used
//! for that. This module generates a Dutch population household by household
//! (`population`), gives each person a life course of incidents with a known
//! repeat hazard (`events`), lets agencies register the incidents with their
//! own coverage, formats and codes (`agencies`), corrupts records with a
//! documented error model ([`errors`]), and writes:
//!
//! - `DIR/<agency>.csv` and `DIR/<agency>.schema.toml` for every agency,
//! - `DIR/truth.csv`: `agency,record_id,person_id` for every record,
//! - `DIR/truth-summary.json`: the [`TruthSummary`], the figures a perfect
//!   linkage and analysis would report.
//!
//! Output is a pure function of the configuration: every household draws from
//! its own ChaCha8 streams, keyed by BLAKE3 `derive_key` from the seed, and
//! nothing iterates a hash map. The population and its incidents do not
//! depend on the error rate, so runs that differ only in `error_rate` hold
//! the same persons and events. Persons are streamed to disk; memory holds one
//! household, a shuffle window per agency and a few numbers per cohort member.
//! `docs/SYNTHETIC.md` describes the data model, the error model and the
//! sources of the name lists.

mod agencies;
mod csv_out;
pub mod errors;
mod events;
mod names;
mod places;
mod population;
mod truth;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use truth::{
    CensoredHorizon, CrudeProportion, HORIZONS_YEARS, INCIDENT_WINDOW_DAYS, Overlap, RepeatModel,
    TruthSummary, UncensoredHorizon,
};

use agencies::{AgencyProfile, RegisteredEvent};
use errors::ErrorContext;
use truth::{PersonRegistration, RunFacts, TruthAccumulator};

/// The agencies generated when none are named.
pub const DEFAULT_AGENCIES: [&str; 3] = ["police", "care", "victim-support"];
/// Largest population a run accepts (the BSN sequence holds about 82 million).
pub const MAX_PERSONS: u64 = 50_000_000;
/// Earliest start year accepted.
pub const MIN_YEAR: i32 = 1950;
/// Latest end year accepted.
pub const MAX_YEAR: i32 = 2100;
/// Days per year in horizons and rates (`docs/ANALYSIS.md`).
pub(crate) const YEAR_DAYS: f64 = 365.25;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Persons in the population (registered or not), 1..=[`MAX_PERSONS`].
    pub persons: u64,
    /// Seed: the same configuration gives the same bytes.
    pub seed: u64,
    /// Agency ids (`[a-z0-9-]{1,32}`, distinct); `police`, `care` and
    /// `victim-support` have built-in profiles, others a generic one.
    pub agencies: Vec<String>,
    /// Probability that a record is corrupted, 0..=1 (see [`errors`]).
    pub error_rate: f64,
    /// First calendar year of the registrations.
    pub start_year: i32,
    /// Last calendar year of the registrations (after `start_year`).
    pub end_year: i32,
}

impl Default for SynthConfig {
    /// 10,000 persons, seed 1, the three default agencies, error rate 0.05,
    /// 2012–2022.
    fn default() -> Self {
        SynthConfig {
            persons: 10_000,
            seed: 1,
            agencies: DEFAULT_AGENCIES.iter().map(|a| (*a).to_string()).collect(),
            error_rate: 0.05,
            start_year: 2012,
            end_year: 2022,
        }
    }
}

impl SynthConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`SynthError::Config`] saying what is wrong.
    pub fn validate(&self) -> Result<(), SynthError> {
        let fail = |reason: String| Err(SynthError::Config(reason));
        if self.persons == 0 {
            return fail("the number of persons must be at least 1".into());
        }
        if self.persons > MAX_PERSONS {
            return fail(format!(
                "the number of persons must be at most {MAX_PERSONS}, got {}",
                self.persons
            ));
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return fail(format!(
                "the error rate must lie between 0 and 1, got {}",
                self.error_rate
            ));
        }
        if self.start_year >= self.end_year {
            return fail(format!(
                "the start year ({}) must be before the end year ({})",
                self.start_year, self.end_year
            ));
        }
        if self.start_year < MIN_YEAR || self.end_year > MAX_YEAR {
            return fail(format!(
                "the years must lie within {MIN_YEAR}..={MAX_YEAR}, got {}..={}",
                self.start_year, self.end_year
            ));
        }
        if self.agencies.is_empty() {
            return fail("at least one agency is needed".into());
        }
        for (i, agency) in self.agencies.iter().enumerate() {
            let valid = (1..=32).contains(&agency.len())
                && agency
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return fail(format!(
                    "agency name {agency:?} must match [a-z0-9-]{{1,32}}"
                ));
            }
            if self.agencies[..i].contains(agency) {
                return fail(format!("agency {agency:?} is listed twice"));
            }
        }
        Ok(())
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    /// Households generated.
    pub households: u64,
    /// Persons generated.
    pub persons: u64,
    /// Persons with at least one written record.
    pub persons_registered: u64,
    /// Records written per agency.
    pub records_per_agency: BTreeMap<String, u64>,
    /// Persons in the true cohort (index victims of trafficking in the data).
    pub cohort_size: u64,
    /// The follow-up end E: the latest written event date.
    pub follow_up_end: Option<NaiveDate>,
    /// Twin pairs in the population (same surname, birth date and address).
    pub twin_pairs: u64,
    /// Doppelgangers: persons who share given names, surname and birth date
    /// with an earlier registered person (and are registered themselves).
    pub doppelgangers: u64,
}

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The configuration is invalid; the message says why.
    #[error("invalid synth configuration: {0}")]
    Config(String),
    /// A file could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A CSV file could not be written.
    #[error("cannot write {path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// The truth summary could not be serialised.
    #[error("cannot serialise the truth summary: {0}")]
    Json(#[from] serde_json::Error),
}

impl SynthError {
    /// True when the configuration was at fault (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, SynthError::Config(_))
    }
}

/// The calendar period of a run, as day numbers (days since 1 January of
/// year 1, `NaiveDate::num_days_from_ce`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Period {
    /// 1 January of the start year.
    pub(crate) start: i32,
    /// 31 December of the end year.
    pub(crate) end: i32,
}

impl Period {
    fn new(start_year: i32, end_year: i32) -> Period {
        let first = NaiveDate::from_ymd_opt(start_year, 1, 1).unwrap_or(NaiveDate::MIN);
        let last = NaiveDate::from_ymd_opt(end_year, 12, 31).unwrap_or(NaiveDate::MAX);
        Period {
            start: day_number(first),
            end: day_number(last),
        }
    }

    /// The year in the middle of the period: ages of household members are
    /// drawn for this year.
    pub(crate) fn reference_year(&self) -> i32 {
        (date_of(self.start).year() + date_of(self.end).year()) / 2
    }

    /// The last day of the period as a date.
    pub(crate) fn end_date(&self) -> NaiveDate {
        date_of(self.end)
    }
}

/// The day number of a date.
pub(crate) fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

/// The date of a day number (clamped to chrono's range).
pub(crate) fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).unwrap_or(if day < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

/// A 32-byte ChaCha key for one purpose, derived from the seed with BLAKE3's
/// key derivation (domain separation by context string).
fn stream_key(seed: u64, purpose: &str) -> [u8; 32] {
    blake3::derive_key(&format!("veilink synth v1 {purpose}"), &seed.to_le_bytes())
}

/// A ChaCha8 generator for one household and purpose.
fn household_rng(key: &[u8; 32], household: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(*key);
    rng.set_stream(household);
    rng
}

/// Draws a value from a constant table of (value, weight); the first value
/// if the weights are unusable (they never are for our constant tables).
pub(crate) fn weighted<T: Copy, R: rand::Rng>(table: &[(T, u32)], rng: &mut R) -> T {
    use rand::seq::IndexedRandom;
    table
        .choose_weighted(rng, |(_, w)| *w)
        .map_or(table[0].0, |(t, _)| *t)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SynthError + '_ {
    move |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The per-run state that turns a person's incidents into written records.
struct Registrar<'a> {
    config: &'a SynthConfig,
    profiles: Vec<AgencyProfile>,
    /// Rank of each configured agency's id in sorted order (analysis tie-break).
    agency_rank: Vec<usize>,
    period: Period,
    outputs: csv_out::Outputs,
    truth: TruthAccumulator,
    /// Reused buffer: the current person's registrations for the truth.
    scratch: Vec<PersonRegistration>,
}

/// The three random streams of one household.
struct HouseholdStreams {
    events: ChaCha8Rng,
    registrations: ChaCha8Rng,
    errors: ChaCha8Rng,
}

impl Registrar<'_> {
    /// Generates one person's life course, registers it, writes the records
    /// and feeds the truth; returns how many records were written.
    fn person(
        &mut self,
        household: &population::Household,
        person: &population::Person,
        streams: &mut HouseholdStreams,
    ) -> Result<usize, SynthError> {
        let incidents = events::life_course(person, &self.period, &mut streams.events);
        if incidents.is_empty() {
            return Ok(0);
        }
        let registrations =
            agencies::register(&incidents, &self.profiles, &mut streams.registrations);
        self.scratch.clear();
        let mut written = 0;
        for registration in &registrations {
            let incident = &incidents[registration.incident];
            let is_written = registration.day <= self.period.end;
            self.scratch.push(PersonRegistration {
                day: registration.day,
                event_type: incident.event_type,
                role: incident.role,
                agency_rank: self.agency_rank[registration.agency],
                written: is_written,
            });
            if !is_written {
                continue;
            }
            written += 1;
            let profile = &self.profiles[registration.agency];
            let address = household.address_on(incident.day);
            let mut identity = profile.project(person, address, &mut streams.registrations);
            let context = ErrorContext {
                fields: profile.identity_fields(),
                native_prefix_style: profile.native_prefix_style(),
                married_name: person.married_name.as_deref(),
            };
            errors::corrupt(
                &mut identity,
                &context,
                self.config.error_rate,
                &mut streams.errors,
            );
            let event = RegisteredEvent {
                day: registration.day,
                event_type: incident.event_type,
                role: incident.role,
                region: address.region,
                residence_status: person.residence_status,
            };
            let row = profile.row(&identity, &event);
            self.outputs.push(registration.agency, person.id, row)?;
        }
        self.truth.add_person(&self.scratch);
        Ok(written)
    }
}

/// Generates the population, writes the agency files, their schema files,
/// `truth.csv` and `truth-summary.json` into `out_dir` (created if needed;
/// existing files of the same names are replaced).
///
/// # Errors
/// [`SynthError::Config`] for an invalid configuration (nothing is written),
/// [`SynthError::Io`] / [`SynthError::Csv`] naming the file that could not be
/// written, [`SynthError::Json`] if the summary cannot be serialised.
pub fn generate(config: &SynthConfig, out_dir: &Path) -> Result<SynthSummary, SynthError> {
    config.validate()?;
    fs::create_dir_all(out_dir).map_err(io_error(out_dir))?;
    let profiles: Vec<AgencyProfile> = config
        .agencies
        .iter()
        .map(|id| AgencyProfile::for_agency(id))
        .collect();
    for profile in &profiles {
        let path = out_dir.join(format!("{}.schema.toml", profile.id));
        fs::write(&path, profile.schema_toml()).map_err(io_error(&path))?;
    }
    let mut sorted_ids: Vec<&str> = config.agencies.iter().map(String::as_str).collect();
    sorted_ids.sort_unstable();
    let agency_rank = config
        .agencies
        .iter()
        .map(|a| sorted_ids.iter().position(|s| s == a).unwrap_or(0))
        .collect();

    let seed = config.seed;
    let period = Period::new(config.start_year, config.end_year);
    let names = names::NameBook::new();
    let places = places::Gazetteer::new();
    let mut population = population::PopulationStream::new(
        &names,
        &places,
        period,
        config.persons,
        stream_key(seed, "population"),
        stream_key(seed, "bsn"),
    );
    let outputs = csv_out::Outputs::create(out_dir, &profiles, stream_key(seed, "shuffle"))?;
    let mut registrar = Registrar {
        config,
        profiles,
        agency_rank,
        period,
        outputs,
        truth: TruthAccumulator::default(),
        scratch: Vec::new(),
    };
    let (event_key, registration_key, error_key) = (
        stream_key(seed, "events"),
        stream_key(seed, "registrations"),
        stream_key(seed, "errors"),
    );
    while let Some(household) = population.next_household() {
        let stream = population.households() - 1;
        let mut streams = HouseholdStreams {
            events: household_rng(&event_key, stream),
            registrations: household_rng(&registration_key, stream),
            errors: household_rng(&error_key, stream),
        };
        for person in &household.members {
            if registrar.person(&household, person, &mut streams)? > 0 {
                population.remember(person);
            }
        }
    }

    let Registrar { outputs, truth, .. } = registrar;
    let counts = outputs.finish()?;
    let records_per_agency: BTreeMap<String, u64> =
        config.agencies.iter().cloned().zip(counts).collect();
    let summary = truth.finish(RunFacts {
        seed,
        persons: config.persons,
        error_rate: config.error_rate,
        start_year: config.start_year,
        end_year: config.end_year,
        agencies: config.agencies.clone(),
        records_per_agency: records_per_agency.clone(),
    });
    let summary_path = out_dir.join("truth-summary.json");
    let mut json = serde_json::to_string_pretty(&summary)?;
    json.push('\n');
    fs::write(&summary_path, json).map_err(io_error(&summary_path))?;
    tracing::info!(
        persons = config.persons,
        households = population.households(),
        cohort = truth.cohort_size(),
        "synthetic registrations written"
    );
    Ok(SynthSummary {
        households: population.households(),
        persons: config.persons,
        persons_registered: truth.persons_registered(),
        records_per_agency,
        cohort_size: truth.cohort_size(),
        follow_up_end: truth.follow_up_end(),
        twin_pairs: population.twin_pairs,
        doppelgangers: population.doppelgangers,
    })
}
