//! Tests of the synthetic population generator (`veilink::synth`).
//!
//! The generator is the ground truth for every linkage and analysis test, so
//! these tests check it from the outside: they read the files it writes with
//! the `csv` and `toml` crates, using only the schema files and the column
//! contract of `docs/SCHEMA.md`, and recompute the truth summary with their
//! own implementation of the definitions in `docs/ANALYSIS.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::NaiveDate;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use veilink::synth::errors::{
    self, ErrorContext, ErrorKind, FieldSet, Identity, PrefixStyle, corrupt,
};
use veilink::synth::{SynthConfig, SynthError, TruthSummary, generate};
use veilink::vocab::{EventType, Region, ResidenceStatus, Role, Sex};

const WINDOW: i64 = 14;
const FIELDS: [&str; 18] = [
    "record_id",
    "given_names",
    "surname_prefix",
    "surname",
    "birth_surname",
    "date_of_birth",
    "sex",
    "national_id",
    "postcode",
    "house_number",
    "street",
    "place_of_residence",
    "place_of_birth",
    "event_date",
    "event_type",
    "role",
    "region",
    "residence_status",
];

/// A directory under the target's temporary directory, emptied first.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("synth")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// A data set generated once per test process and shared by the tests.
fn dataset(name: &'static str, config: SynthConfig) -> &'static Path {
    static SETS: OnceLock<std::sync::Mutex<HashMap<&'static str, &'static Path>>> = OnceLock::new();
    let sets = SETS.get_or_init(Default::default);
    let mut sets = sets.lock().unwrap();
    sets.entry(name).or_insert_with(|| {
        let dir = scratch_dir(name);
        generate(&config, &dir).unwrap();
        Box::leak(dir.into_boxed_path())
    })
}

/// 30,000 persons at the default error rate.
fn noisy() -> &'static Path {
    dataset(
        "noisy",
        SynthConfig {
            persons: 30_000,
            seed: 42,
            ..SynthConfig::default()
        },
    )
}

/// 20,000 persons without errors, with an unknown agency beside the built-ins.
fn clean() -> &'static Path {
    dataset(
        "clean",
        SynthConfig {
            persons: 20_000,
            seed: 9,
            error_rate: 0.0,
            agencies: vec![
                "police".into(),
                "care".into(),
                "victim-support".into(),
                "shelter-7".into(),
            ],
            ..SynthConfig::default()
        },
    )
}

fn summary(dir: &Path) -> TruthSummary {
    serde_json::from_str(&fs::read_to_string(dir.join("truth-summary.json")).unwrap()).unwrap()
}

/// One agency export read through its schema file.
struct Export {
    agency: String,
    schema: toml::Table,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Export {
    fn load(dir: &Path, agency: &str) -> Export {
        let schema: toml::Table = fs::read_to_string(dir.join(format!("{agency}.schema.toml")))
            .unwrap()
            .parse()
            .unwrap();
        let delimiter = schema
            .get("delimiter")
            .and_then(|d| d.as_str())
            .unwrap_or(",")
            .as_bytes()[0];
        let latin1 = schema.get("encoding").and_then(|e| e.as_str()) == Some("latin1");
        let decode = |bytes: &[u8]| -> String {
            if latin1 {
                bytes.iter().map(|b| char::from(*b)).collect()
            } else {
                String::from_utf8(bytes.to_vec()).expect("utf-8 export")
            }
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_path(dir.join(format!("{agency}.csv")))
            .unwrap();
        let header = reader.byte_headers().unwrap().iter().map(decode).collect();
        let rows = reader
            .byte_records()
            .map(|r| r.unwrap().iter().map(decode).collect())
            .collect();
        Export {
            agency: agency.to_string(),
            schema,
            header,
            rows,
        }
    }

    fn fields(&self) -> &toml::Table {
        self.schema["fields"].as_table().unwrap()
    }

    fn spec(&self, field: &str) -> Option<&toml::Table> {
        self.fields().get(field).map(|s| s.as_table().unwrap())
    }

    fn column_index(&self, field: &str) -> Option<usize> {
        let column = self.spec(field)?.get("column")?.as_str()?;
        Some(self.header.iter().position(|h| h.trim() == column).unwrap())
    }

    fn cell<'a>(&self, row: &'a [String], field: &str) -> Option<&'a str> {
        self.column_index(field).map(|i| row[i].trim())
    }

    fn date(&self, row: &[String], field: &str) -> Option<NaiveDate> {
        let spec = self.spec(field)?;
        if let Some(value) = spec.get("value") {
            return NaiveDate::parse_from_str(value.as_str().unwrap(), "%Y-%m-%d").ok();
        }
        let text = self.cell(row, field)?;
        let format = spec
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or("%Y-%m-%d");
        if text.is_empty() {
            return None;
        }
        Some(NaiveDate::parse_from_str(text, format).unwrap_or_else(|e| {
            panic!(
                "{}: {field} {text:?} does not match {format}: {e}",
                self.agency
            )
        }))
    }

    /// The vocabulary term of a category field (map, default, or constant).
    fn term<T: FromStr>(&self, row: &[String], field: &str) -> Option<T>
    where
        T::Err: std::fmt::Debug,
    {
        let spec = self.spec(field)?;
        let term = if let Some(value) = spec.get("value") {
            value.as_str().unwrap().to_string()
        } else {
            let code = self.cell(row, field)?;
            if code.is_empty() {
                return None;
            }
            match spec.get("map").and_then(|m| m.as_table()) {
                None => code.to_string(),
                Some(map) => map
                    .get(code)
                    .or_else(|| spec.get("default"))
                    .unwrap_or_else(|| panic!("{}: unmapped {field} code {code:?}", self.agency))
                    .as_str()
                    .unwrap()
                    .to_string(),
            }
        };
        Some(term.parse().unwrap())
    }
}

/// `agency → record id → person id` from truth.csv.
fn truth_map(dir: &Path) -> HashMap<(String, String), u64> {
    let mut reader = csv::Reader::from_path(dir.join("truth.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["agency", "record_id", "person_id"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            ((r[0].to_string(), r[1].to_string()), r[2].parse().unwrap())
        })
        .collect()
}

/// One registration as the analysis sees it.
#[derive(Debug, Clone)]
struct Registration {
    day: NaiveDate,
    event_type: EventType,
    role: Role,
    agency: String,
}

fn registrations(dir: &Path, agencies: &[String]) -> BTreeMap<u64, Vec<Registration>> {
    let truth = truth_map(dir);
    let mut by_person: BTreeMap<u64, Vec<Registration>> = BTreeMap::new();
    let mut rows = 0;
    for agency in agencies {
        let export = Export::load(dir, agency);
        for row in &export.rows {
            rows += 1;
            let record_id = export.cell(row, "record_id").unwrap().to_string();
            let person = truth[&(agency.clone(), record_id)];
            by_person.entry(person).or_default().push(Registration {
                day: export.date(row, "event_date").unwrap(),
                event_type: export.term(row, "event_type").unwrap(),
                role: export.term(row, "role").unwrap(),
                agency: agency.clone(),
            });
        }
    }
    assert_eq!(rows, truth.len(), "truth.csv has one line per record");
    by_person
}

/// (start, type, role) of the incidents of one person, per docs/ANALYSIS.md.
fn incidents(registrations: &[Registration]) -> Vec<(NaiveDate, EventType, Role)> {
    let mut groups: BTreeMap<(EventType, Role), Vec<&Registration>> = BTreeMap::new();
    for r in registrations {
        groups.entry((r.event_type, r.role)).or_default().push(r);
    }
    let mut out = Vec::new();
    for ((event_type, role), mut regs) in groups {
        regs.sort_by(|a, b| a.day.cmp(&b.day).then(a.agency.cmp(&b.agency)));
        let mut start: Option<NaiveDate> = None;
        for r in regs {
            if start.is_none_or(|s| (r.day - s).num_days() > WINDOW) {
                start = Some(r.day);
                out.push((r.day, event_type, role));
            }
        }
    }
    out
}

/// The generated truth summary equals an independent recomputation from
/// truth.csv and the agency files.
#[test]
fn truth_summary_matches_the_files() {
    let dir = noisy();
    let truth = summary(dir);
    let by_person = registrations(dir, &truth.agencies);

    let all_days = by_person.values().flatten().map(|r| r.day);
    let end = all_days.clone().max().unwrap();
    assert_eq!(truth.follow_up_end, Some(end));
    assert_eq!(truth.period_to, Some(end));
    assert_eq!(truth.period_from, all_days.min());
    assert!(end <= NaiveDate::from_ymd_opt(truth.end_year, 12, 31).unwrap());

    let mut per_agency: BTreeMap<String, u64> = BTreeMap::new();
    for r in by_person.values().flatten() {
        *per_agency.entry(r.agency.clone()).or_default() += 1;
    }
    assert_eq!(truth.records_per_agency, per_agency);
    assert_eq!(truth.persons_registered, by_person.len() as u64);
    let pairs: u64 = by_person
        .values()
        .map(|r| r.len() as u64 * (r.len() as u64 - 1) / 2)
        .sum();
    assert_eq!(truth.true_record_pairs, pairs);

    // (T, δ, type of first repeat, suspect) per cohort member.
    let mut cohort: Vec<(i64, bool, Option<EventType>, bool, i64)> = Vec::new();
    for regs in by_person.values() {
        let found = incidents(regs);
        let index = found
            .iter()
            .filter(|(_, t, role)| t.is_trafficking() && *role == Role::Victim)
            .min_by_key(|(d, t, _)| (*d, *t));
        let Some(&(d0, _, _)) = index else { continue };
        let outcome = found
            .iter()
            .filter(|(d, _, role)| *role == Role::Victim && (*d - d0).num_days() > WINDOW)
            .min_by_key(|(d, t, _)| (*d, *t));
        let suspect = regs.iter().any(|r| r.role == Role::Suspect);
        let potential = (end - d0).num_days();
        cohort.push(match outcome {
            Some(&(d1, t, _)) => ((d1 - d0).num_days(), true, Some(t), suspect, potential),
            None => (potential, false, None, suspect, potential),
        });
    }
    assert_eq!(truth.cohort_size, cohort.len() as u64);
    assert!(truth.cohort_size > 200, "cohort of {}", truth.cohort_size);
    let events = cohort.iter().filter(|c| c.1).count() as u64;
    assert_eq!(truth.repeats_observed, events);
    let overlap = cohort.iter().filter(|c| c.3).count() as u64;
    assert_eq!(truth.victim_offender_overlap.count, overlap);

    let mut types: BTreeMap<EventType, u64> = EventType::ALL.iter().map(|t| (*t, 0)).collect();
    for t in cohort.iter().filter_map(|c| c.2) {
        *types.get_mut(&t).unwrap() += 1;
    }
    assert_eq!(truth.first_repeat_types, types);

    let event_times: BTreeSet<i64> = cohort.iter().filter(|c| c.1).map(|c| c.0).collect();
    assert_eq!(truth.horizons_years, (1..=7).collect::<Vec<u32>>());
    for (i, h) in (1..=7u32).enumerate() {
        let tau = 365.25 * f64::from(h);
        let mut survival = 1.0;
        for &t in event_times.iter().filter(|t| (**t as f64) <= tau) {
            let at_risk = cohort.iter().filter(|c| c.0 >= t).count();
            let deaths = cohort.iter().filter(|c| c.1 && c.0 == t).count();
            survival *= 1.0 - deaths as f64 / at_risk as f64;
        }
        let censored = &truth.censored[i];
        assert_eq!(censored.years, h);
        assert!(
            (censored.cumulative_incidence - (1.0 - survival)).abs() < 1e-12,
            "F({h}) = {} vs {}",
            censored.cumulative_incidence,
            1.0 - survival
        );
        let at_risk = cohort.iter().filter(|c| c.0 as f64 >= tau).count() as u64;
        assert_eq!(censored.at_risk, at_risk);
        let complete: Vec<_> = cohort.iter().filter(|c| c.4 as f64 >= tau).collect();
        let numerator = complete.iter().filter(|c| c.1 && c.0 as f64 <= tau).count() as u64;
        assert_eq!(censored.crude.denominator, complete.len() as u64);
        assert_eq!(censored.crude.numerator, numerator);
        // Repeats after E only add to the uncensored count.
        let observed = cohort.iter().filter(|c| c.1 && c.0 as f64 <= tau).count() as u64;
        assert!(truth.uncensored[i].repeated >= observed);
        if i > 0 {
            assert!(truth.uncensored[i].repeated >= truth.uncensored[i - 1].repeated);
        }
    }
}

/// The true repeat curve has the configured shape (45% within 5 years, 50%
/// within 7) and the censored Kaplan–Meier estimate recovers it.
#[test]
fn repeat_curve_follows_the_hazard_model() {
    let truth = summary(noisy());
    let n = truth.cohort_size as f64;
    for (years, target) in [(5usize, 0.45), (7, 0.50)] {
        let se = (target * (1.0 - target) / n).sqrt();
        let uncensored = truth.uncensored[years - 1].share.unwrap();
        assert!(
            (uncensored - target).abs() < 4.0 * se,
            "{years}y: {uncensored}"
        );
        let km = truth.censored[years - 1].cumulative_incidence;
        assert!((km - target).abs() < 5.0 * se, "{years}y KM: {km}");
        assert!((truth.model.cumulative[years - 1] - target).abs() < 0.005);
    }
}

/// Generating twice with one seed gives identical bytes; another seed differs.
#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let config = SynthConfig {
        persons: 3_000,
        seed: 5,
        ..SynthConfig::default()
    };
    let (a, b, c) = (
        scratch_dir("seed-a"),
        scratch_dir("seed-b"),
        scratch_dir("seed-c"),
    );
    generate(&config, &a).unwrap();
    generate(&config, &b).unwrap();
    generate(
        &SynthConfig {
            seed: 6,
            ..config.clone()
        },
        &c,
    )
    .unwrap();
    let files = [
        "police.csv",
        "care.csv",
        "victim-support.csv",
        "police.schema.toml",
        "care.schema.toml",
        "victim-support.schema.toml",
        "truth.csv",
        "truth-summary.json",
    ];
    for file in files {
        assert_eq!(
            fs::read(a.join(file)).unwrap(),
            fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }
    for file in ["police.csv", "care.csv", "victim-support.csv", "truth.csv"] {
        assert_ne!(
            fs::read(a.join(file)).unwrap(),
            fs::read(c.join(file)).unwrap(),
            "{file}"
        );
    }
}

/// The error rate changes only identifying cells: the persons, their events,
/// the record order and the truth are the same at R = 0 and R = 0.3.
#[test]
fn error_rate_leaves_population_and_events_alone() {
    let base = SynthConfig {
        persons: 4_000,
        seed: 77,
        error_rate: 0.0,
        ..SynthConfig::default()
    };
    let (clean_dir, dirty_dir) = (scratch_dir("rate-0"), scratch_dir("rate-30"));
    generate(&base, &clean_dir).unwrap();
    generate(
        &SynthConfig {
            error_rate: 0.3,
            ..base.clone()
        },
        &dirty_dir,
    )
    .unwrap();
    assert_eq!(
        fs::read(clean_dir.join("truth.csv")).unwrap(),
        fs::read(dirty_dir.join("truth.csv")).unwrap()
    );
    let mut dirty_summary = summary(&dirty_dir);
    dirty_summary.error_rate = 0.0;
    assert_eq!(summary(&clean_dir), dirty_summary);
    let mut changed_cells = 0;
    for agency in &base.agencies {
        let (clean_export, dirty_export) = (
            Export::load(&clean_dir, agency),
            Export::load(&dirty_dir, agency),
        );
        assert_eq!(clean_export.rows.len(), dirty_export.rows.len());
        for (c, d) in clean_export.rows.iter().zip(&dirty_export.rows) {
            for field in ["record_id", "event_date", "event_type", "role"] {
                assert_eq!(clean_export.cell(c, field), dirty_export.cell(d, field));
            }
            changed_cells += c.iter().zip(d).filter(|(x, y)| x != y).count();
        }
    }
    assert!(changed_cells > 100, "{changed_cells} cells changed");
}

fn passes_elfproef(bsn: &str) -> bool {
    let digits: Vec<i64> = bsn.bytes().map(|b| i64::from(b - b'0')).collect();
    digits.len() == 9
        && bsn.bytes().all(|b| b.is_ascii_digit())
        && (0..8).map(|i| digits[i] * (9 - i as i64)).sum::<i64>() % 11 == digits[8] % 11
}

/// Every BSN in every export passes the 11-proef (placeholders aside), and at
/// R = 0 one BSN belongs to exactly one person.
#[test]
fn bsns_pass_the_elfproef_and_are_unique() {
    assert!(passes_elfproef("111222333") && !passes_elfproef("111222334"));
    for (dir, clean_data) in [(noisy(), false), (clean(), true)] {
        let truth = truth_map(dir);
        let mut owner: HashMap<String, u64> = HashMap::new();
        let mut checked = 0;
        for agency in &summary(dir).agencies {
            let export = Export::load(dir, agency);
            for row in &export.rows {
                let Some(bsn) = export.cell(row, "national_id") else {
                    break;
                };
                if bsn.is_empty() || (!clean_data && bsn == errors::PLACEHOLDER_NATIONAL_ID) {
                    continue;
                }
                assert!(passes_elfproef(bsn), "{agency}: {bsn}");
                checked += 1;
                if clean_data {
                    let id = export.cell(row, "record_id").unwrap().to_string();
                    let person = truth[&(agency.clone(), id)];
                    assert_eq!(*owner.entry(bsn.to_string()).or_insert(person), person);
                }
            }
        }
        assert!(checked > 1000, "{checked} BSNs checked");
    }
}

const IDENTITY_FIELDS: [&str; 7] = [
    "given_names",
    "surname_prefix",
    "surname",
    "date_of_birth",
    "sex",
    "national_id",
    "place_of_birth",
];

/// At R = 0 all registrations of a person at one agency carry the same
/// identifying values, dates of birth and BSNs agree across agencies, and no
/// placeholder appears.
#[test]
fn clean_registrations_agree() {
    let dir = clean();
    let truth = truth_map(dir);
    let mut dob_of: HashMap<u64, NaiveDate> = HashMap::new();
    let mut bsn_of: HashMap<u64, String> = HashMap::new();
    for agency in &summary(dir).agencies {
        let export = Export::load(dir, agency);
        let mut seen: HashMap<u64, Vec<String>> = HashMap::new();
        for row in &export.rows {
            let id = export.cell(row, "record_id").unwrap().to_string();
            let person = truth[&(agency.clone(), id)];
            let values: Vec<String> = IDENTITY_FIELDS
                .iter()
                .filter(|f| **f != "place_of_birth" || agency != "victim-support")
                .map(|f| export.cell(row, f).unwrap_or("-").to_string())
                .collect();
            assert!(!values.iter().any(|v| v == "onbekend" || v == "NN"));
            assert_eq!(
                seen.entry(person).or_insert_with(|| values.clone()),
                &values
            );
            let dob = export.date(row, "date_of_birth").unwrap();
            assert_ne!(dob, errors::placeholder_date());
            assert_eq!(*dob_of.entry(person).or_insert(dob), dob);
            if let Some(bsn) = export.cell(row, "national_id").filter(|b| !b.is_empty()) {
                assert_eq!(bsn_of.entry(person).or_insert_with(|| bsn.to_string()), bsn);
            }
        }
    }
}

/// Every schema file is valid TOML of the v1 contract: known keys, columns
/// present in the CSV header, maps and constants that name vocabulary terms,
/// dates in the declared formats, and every category code mapped.
#[test]
fn schema_files_follow_the_contract() {
    for dir in [noisy(), clean()] {
        for agency in &summary(dir).agencies {
            let export = Export::load(dir, agency);
            let schema = &export.schema;
            for key in schema.keys() {
                assert!(
                    [
                        "version",
                        "agency",
                        "delimiter",
                        "encoding",
                        "national_id_check",
                        "fields"
                    ]
                    .contains(&key.as_str()),
                    "{agency}: unknown key {key}"
                );
            }
            assert_eq!(schema["version"].as_integer(), Some(1));
            assert_eq!(schema["agency"].as_str(), Some(agency.as_str()));
            let delimiter = schema.get("delimiter").map_or(",", |d| d.as_str().unwrap());
            assert!(delimiter.len() == 1 && delimiter.is_ascii());
            let encoding = schema
                .get("encoding")
                .map_or("utf-8", |e| e.as_str().unwrap());
            assert!(["utf-8", "latin1"].contains(&encoding));
            if let Some(check) = schema.get("national_id_check") {
                assert!(["bsn", "none"].contains(&check.as_str().unwrap()));
            }
            for required in ["record_id", "event_date", "event_type", "role"] {
                assert!(export.spec(required).is_some(), "{agency}: no {required}");
            }
            for (field, spec) in export.fields() {
                assert!(FIELDS.contains(&field.as_str()), "{agency}: field {field}");
                let spec = spec.as_table().unwrap();
                for key in spec.keys() {
                    assert!(
                        ["column", "format", "map", "default", "value"].contains(&key.as_str())
                    );
                }
                assert!(spec.contains_key("column") ^ spec.contains_key("value"));
                if let Some(column) = spec.get("column") {
                    let column = column.as_str().unwrap();
                    assert!(
                        export.header.iter().any(|h| h == column),
                        "{agency}: {column}"
                    );
                }
                if let Some(format) = spec.get("format") {
                    let format = format.as_str().unwrap();
                    let stripped = format.replace("%Y", "").replace("%m", "").replace("%d", "");
                    assert!(!stripped.contains('%'), "{agency}: format {format}");
                }
                let mut terms: Vec<&str> = Vec::new();
                if let Some(map) = spec.get("map") {
                    terms.extend(
                        map.as_table()
                            .unwrap()
                            .values()
                            .map(|v| v.as_str().unwrap()),
                    );
                }
                for key in ["default", "value"] {
                    terms.extend(spec.get(key).map(|v| v.as_str().unwrap()));
                }
                for term in terms {
                    let known = match field.as_str() {
                        "sex" => term.parse::<Sex>().is_ok(),
                        "region" => term.parse::<Region>().is_ok(),
                        "residence_status" => term.parse::<ResidenceStatus>().is_ok(),
                        "event_type" => term.parse::<EventType>().is_ok(),
                        "role" => term.parse::<Role>().is_ok(),
                        "event_date" => NaiveDate::parse_from_str(term, "%Y-%m-%d").is_ok(),
                        _ => false,
                    };
                    assert!(known, "{agency}: {field} term {term:?}");
                }
            }
            // Every line parses: dates in their formats, codes in their maps.
            for row in &export.rows {
                assert_eq!(row.len(), export.header.len());
                export.date(row, "event_date").unwrap();
                export.date(row, "date_of_birth");
                export.term::<EventType>(row, "event_type").unwrap();
                export.term::<Role>(row, "role").unwrap();
                export.term::<Sex>(row, "sex");
                export.term::<Region>(row, "region");
                export.term::<ResidenceStatus>(row, "residence_status");
            }
        }
    }
}

/// An agency without a built-in profile gets the generic one, and victim
/// support registers victims only.
#[test]
fn unknown_agencies_and_victim_only_agencies() {
    let dir = clean();
    let shelter = Export::load(dir, "shelter-7");
    assert!(!shelter.rows.is_empty());
    assert!(shelter.spec("national_id").is_some());
    let support = Export::load(dir, "victim-support");
    assert!(support.spec("national_id").is_none());
    for row in &support.rows {
        assert_eq!(support.term::<Role>(row, "role"), Some(Role::Victim));
        let given = support.cell(row, "given_names").unwrap();
        assert!(!given.contains(' '), "call name only: {given:?}");
    }
}

/// Invalid configurations are refused with a clear message and write nothing.
#[test]
fn invalid_configurations_are_refused() {
    let good = SynthConfig::default();
    let cases: Vec<(SynthConfig, &str)> = vec![
        (
            SynthConfig {
                persons: 0,
                ..good.clone()
            },
            "at least 1",
        ),
        (
            SynthConfig {
                error_rate: 1.5,
                ..good.clone()
            },
            "error rate",
        ),
        (
            SynthConfig {
                error_rate: -0.1,
                ..good.clone()
            },
            "error rate",
        ),
        (
            SynthConfig {
                error_rate: f64::NAN,
                ..good.clone()
            },
            "error rate",
        ),
        (
            SynthConfig {
                start_year: 2022,
                end_year: 2022,
                ..good.clone()
            },
            "before",
        ),
        (
            SynthConfig {
                start_year: 1800,
                ..good.clone()
            },
            "within",
        ),
        (
            SynthConfig {
                agencies: vec![],
                ..good.clone()
            },
            "at least one agency",
        ),
        (
            SynthConfig {
                agencies: vec!["Police".into()],
                ..good.clone()
            },
            "[a-z0-9-]",
        ),
        (
            SynthConfig {
                agencies: vec!["../x".into()],
                ..good.clone()
            },
            "[a-z0-9-]",
        ),
        (
            SynthConfig {
                agencies: vec!["care".into(), "care".into()],
                ..good.clone()
            },
            "twice",
        ),
    ];
    let dir = scratch_dir("invalid");
    for (config, message) in cases {
        let error = generate(&config, &dir).unwrap_err();
        assert!(matches!(error, SynthError::Config(_)));
        assert!(error.to_string().contains(message), "{error}");
        assert!(!dir.exists());
    }
}

/// A population of one person (most likely never registered) still gives
/// complete files: headers, schema files and a summary with an empty cohort.
#[test]
fn tiny_population_gives_complete_files() {
    let dir = scratch_dir("tiny");
    let config = SynthConfig {
        persons: 1,
        agencies: vec!["care".into()],
        ..SynthConfig::default()
    };
    let result = generate(&config, &dir).unwrap();
    assert_eq!(result.persons, 1);
    let truth = summary(&dir);
    assert_eq!(truth.persons, 1);
    assert_eq!(truth.censored.len(), 7);
    if truth.cohort_size == 0 {
        assert!(truth.censored.iter().all(|c| c.cumulative_incidence == 0.0));
        assert!(truth.uncensored.iter().all(|u| u.share.is_none()));
    }
    let export = Export::load(&dir, "care");
    assert_eq!(export.rows.len() as u64, truth.records_per_agency["care"]);
    assert!(dir.join("truth.csv").exists());
}

fn full_identity() -> Identity {
    Identity {
        given_names: "Marijke Cornelia".into(),
        surname_prefix: "van den".into(),
        surname: "Bergh".into(),
        prefix_style: PrefixStyle::Separate,
        date_of_birth: NaiveDate::from_ymd_opt(1988, 3, 9),
        sex: Sex::Female,
        national_id: "111222333".into(),
        postcode: "1234 AB".into(),
        house_number: "12".into(),
        street: "Kerkstraat".into(),
        place_of_residence: "Amsterdam".into(),
        place_of_birth: "Leiden".into(),
    }
}

fn full_context() -> ErrorContext<'static> {
    ErrorContext {
        fields: FieldSet::all(),
        native_prefix_style: PrefixStyle::Separate,
        married_name: Some("Jansen-van den Bergh"),
    }
}

/// On a record where every kind applies, each error kind occurs R × 1.5 ×
/// weight times per record (within 10%), corrupted records are a share R of
/// all, and they carry 1, 2 or 3 errors with probabilities 0.6, 0.3, 0.1.
#[test]
fn error_kinds_occur_at_their_configured_rates() {
    let rate = 0.3;
    let records = 200_000;
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let context = full_context();
    let mut kinds: BTreeMap<ErrorKind, u64> = BTreeMap::new();
    let mut sizes = [0u64; 4];
    for _ in 0..records {
        let mut identity = full_identity();
        let applied = corrupt(&mut identity, &context, rate, &mut rng);
        sizes[applied.len()] += 1;
        for kind in applied {
            *kinds.entry(kind).or_default() += 1;
        }
    }
    let n = records as f64;
    let corrupted = n - sizes[0] as f64;
    assert!(
        (corrupted / n - rate).abs() < 0.005,
        "corrupted share {}",
        corrupted / n
    );
    for (size, p) in [(1, 0.6), (2, 0.3), (3, 0.1)] {
        let share = sizes[size] as f64 / corrupted;
        assert!((share - p).abs() < 0.01, "{size} errors: {share}");
    }
    let mean = errors::mean_errors_per_corrupted_record();
    for kind in ErrorKind::ALL {
        let expected = rate * mean * kind.weight();
        let observed = kinds.get(&kind).copied().unwrap_or(0) as f64 / n;
        assert!(
            (observed / expected - 1.0).abs() < 0.10,
            "{}: {observed} per record, configured {expected}",
            kind.as_str()
        );
    }
}

/// Each kind of error, applied alone, changes the record.
#[test]
fn every_error_kind_changes_the_record() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let context = full_context();
    let mut seen: BTreeMap<ErrorKind, u32> = BTreeMap::new();
    for _ in 0..50_000 {
        let mut identity = full_identity();
        let applied = corrupt(&mut identity, &context, 1.0, &mut rng);
        if let [kind] = applied[..] {
            assert_ne!(identity, full_identity(), "{}", kind.as_str());
            *seen.entry(kind).or_default() += 1;
        }
    }
    for kind in ErrorKind::ALL {
        assert!(
            seen.get(&kind).copied().unwrap_or(0) >= 20,
            "{}",
            kind.as_str()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On any record the error model applies at most three errors, touches
    /// only fields the agency has, and leaves the record alone at R = 0.
    #[test]
    fn error_model_respects_fields_and_bounds(
        given in "\\PC{0,20}",
        prefix in prop::sample::select(vec!["", "de", "van der", "in 't"]),
        surname in "\\PC{0,20}",
        day in 1u32..=28,
        month in 1u32..=12,
        has_street in any::<bool>(),
        rate in 0.0f64..=1.0,
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fields: Vec<errors::IdentityField> = errors::IdentityField::ALL
            .into_iter()
            .filter(|f| has_street || *f != errors::IdentityField::Street)
            .collect();
        let context = ErrorContext {
            fields: FieldSet::of(&fields),
            native_prefix_style: PrefixStyle::After,
            married_name: None,
        };
        let original = Identity {
            given_names: given,
            surname_prefix: prefix.to_string(),
            surname,
            prefix_style: PrefixStyle::After,
            date_of_birth: NaiveDate::from_ymd_opt(1990, month, day),
            ..full_identity()
        };
        let mut clean = original.clone();
        prop_assert!(corrupt(&mut clean, &context, 0.0, &mut rng).is_empty());
        prop_assert_eq!(&clean, &original);
        let mut record = original.clone();
        let applied = corrupt(&mut record, &context, rate, &mut rng);
        prop_assert!(applied.len() <= 3);
        prop_assert!(!applied.contains(&ErrorKind::MarriedName));
        if !has_street {
            prop_assert_eq!(&record.street, &original.street);
        }
    }
}
