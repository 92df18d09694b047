//! Shared helpers of the linkage tests: records from hand-made persons through
//! the real encoder, synthetic populations with a known truth (synth +
//! encode), and a seeded person-id source.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use veilink::encode::dates::BirthDate;
use veilink::encode::{Encoder, LineFault, LinkageSecret, RawPerson, RecordReader, Schema};
use veilink::link::{LinkRecord, PersonId};
use veilink::synth::{SynthConfig, generate};
use veilink::vocab::Sex;

/// A fixed test secret.
pub fn secret() -> LinkageSecret {
    LinkageSecret::from_bytes([7u8; 32])
}

/// A minimal schema naming every identity field.
const SCHEMA: &str = r#"
version = 1
agency = "police"
national_id_check = "none"
[fields]
record_id = { column = "id" }
given_names = { column = "given" }
surname = { column = "surname" }
birth_surname = { column = "birth_surname" }
date_of_birth = { column = "dob", format = "%Y-%m-%d" }
sex = { column = "sex", map = { M = "male", F = "female" } }
national_id = { column = "nid" }
postcode = { column = "postcode" }
house_number = { column = "house" }
place_of_residence = { column = "residence" }
place_of_birth = { column = "pob" }
event_date = { column = "event", format = "%Y-%m-%d" }
event_type = { column = "type", map = { A = "assault" } }
role = { column = "role", map = { V = "victim" } }
"#;

/// The encoder for hand-made persons; national ids are another register's
/// (`national_id_check = "none"`: rule 13, no check digit).
pub fn encoder() -> Encoder {
    let schema = Schema::from_toml(SCHEMA).expect("test schema");
    Encoder::new(&secret(), &schema)
}

/// The encoder for hand-made persons with Dutch BSNs (the 11-proef; rule 1).
#[allow(dead_code)] // not every test crate that shares this module uses it
pub fn encoder_bsn() -> Encoder {
    let schema = Schema::from_toml(&SCHEMA.replace(
        r#"national_id_check = "none""#,
        r#"national_id_check = "bsn""#,
    ))
    .expect("test schema");
    Encoder::new(&secret(), &schema)
}

/// A hand-made person; empty strings are missing fields.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub given: &'static str,
    pub surname: &'static str,
    pub birth_surname: &'static str,
    /// (year, month, day); year 0 = missing.
    pub dob: (i32, u32, u32),
    pub male: bool,
    pub national_id: &'static str,
    pub postcode: &'static str,
    pub house: &'static str,
    pub residence: &'static str,
    pub place_of_birth: &'static str,
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Encodes a hand-made person as a linkage record with key `seq`.
pub fn record(encoder: &Encoder, seq: u64, f: &Fields) -> LinkRecord {
    let raw = RawPerson {
        given_names: opt(f.given),
        surname_prefix: None,
        surname: opt(f.surname),
        birth_surname: opt(f.birth_surname),
        date_of_birth: (f.dob.0 != 0).then(|| {
            BirthDate::Full(NaiveDate::from_ymd_opt(f.dob.0, f.dob.1, f.dob.2).expect("date"))
        }),
        sex: if f.male { Sex::Male } else { Sex::Female },
        national_id: opt(f.national_id),
        postcode: opt(f.postcode),
        house_number: opt(f.house),
        place_of_residence: opt(f.residence),
        place_of_birth: opt(f.place_of_birth),
    };
    let person = encoder.normalise(&raw);
    LinkRecord {
        seq,
        tokens: encoder
            .tokens(&person)
            .into_iter()
            .map(|t| (t.rule.0, t.hash))
            .collect(),
        bloom: encoder.bloom(&person).map(|b| b.0),
    }
}

/// A seeded person-id source (the server uses a CSPRNG).
pub fn seeded_ids(seed: u64) -> Box<dyn FnMut() -> PersonId + Send + Sync> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Box::new(move || {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        PersonId(id)
    })
}

/// Synthetic records with their true entity.
pub struct Population {
    /// Records in a fixed order, keys 0..n.
    pub records: Vec<LinkRecord>,
    /// Record key -> true person id.
    pub truth: HashMap<u64, u64>,
    /// Record key -> (agency, local record id).
    pub local: HashMap<u64, (String, String)>,
}

/// Generates `persons` synthetic persons (three agencies) into `dir`,
/// encodes every agency file and joins `truth.csv`.
pub fn population(dir: &Path, persons: u64, seed: u64, error_rate: f64) -> Population {
    let config = SynthConfig {
        persons,
        seed,
        error_rate,
        ..SynthConfig::default()
    };
    generate(&config, dir).expect("synth");
    let mut truth_rows: HashMap<(String, String), u64> = HashMap::new();
    let mut reader = csv::Reader::from_path(dir.join("truth.csv")).expect("truth.csv");
    for row in reader.records() {
        let row = row.expect("truth row");
        truth_rows.insert(
            (row[0].to_string(), row[1].to_string()),
            row[2].parse().expect("person id"),
        );
    }
    let mut out = Population {
        records: Vec::new(),
        truth: HashMap::new(),
        local: HashMap::new(),
    };
    for agency in &config.agencies {
        let schema = Schema::load(&dir.join(format!("{agency}.schema.toml"))).expect("schema");
        let encoder = Encoder::new(&secret(), &schema);
        let reader = RecordReader::open(&encoder, &dir.join(format!("{agency}.csv"))).expect("csv");
        for encoded in reader {
            let encoded = match encoded {
                Ok(encoded) => encoded,
                // No identifying field: the agency skips it, as `submit --on-error skip` does.
                Err(e) if e.fault == LineFault::NothingToLink => continue,
                Err(e) => panic!("encoded record: {e}"),
            };
            let seq = out.records.len() as u64;
            let key = (agency.clone(), encoded.local_id.clone());
            let entity = truth_rows[&key];
            out.truth.insert(seq, entity);
            out.local.insert(seq, key);
            out.records.push(LinkRecord {
                seq,
                tokens: encoded.tokens.iter().map(|t| (t.rule.0, t.hash)).collect(),
                bloom: encoded.bloom.map(|b| b.0),
            });
        }
    }
    out
}
