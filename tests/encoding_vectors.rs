//! Checks the encoder against `tests/vectors/encoding-v1.json`, the test vectors
//! of `docs/ENCODING.md` produced by an independent Python implementation of
//! that document (`benches/clkhash/reference_encoder.py`): key id, fingerprints,
//! phonetic keys, and for every registration the normalised values, age band,
//! record ref, every token's field values, canonical bytes and hash, and Bloom
//! encodings — both through the field-level API and through the CSV reader.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::NaiveDate;
use serde_json::{Value, json};
use veilink::encode::dates::{self, DateCell, DateFormat};
use veilink::encode::normalise::{NormalisedPerson, RawPerson};
use veilink::encode::phonetic::phonetic_key;
use veilink::encode::rules::{canonical_bytes, token_inputs};
use veilink::encode::{BloomScheme, Encoder, LineFault, LinkageSecret, RecordReader, Schema};
use veilink::vocab::Sex;

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/encoding-v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secret(v: &Value) -> LinkageSecret {
    let text = v["secret"].as_str().unwrap();
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    LinkageSecret::from_bytes(bytes.try_into().unwrap())
}

/// A schema whose columns are the vector input field names.
fn schema(agency: &str, check: &str) -> Schema {
    Schema::from_toml(&format!(
        r#"
        version = 1
        agency = "{agency}"
        national_id_check = "{check}"
        [fields]
        record_id = {{ column = "record_id" }}
        given_names = {{ column = "given_names" }}
        surname_prefix = {{ column = "surname_prefix" }}
        surname = {{ column = "surname" }}
        birth_surname = {{ column = "birth_surname" }}
        date_of_birth = {{ column = "date_of_birth" }}
        sex = {{ column = "sex" }}
        national_id = {{ column = "national_id" }}
        postcode = {{ column = "postcode" }}
        house_number = {{ column = "house_number" }}
        place_of_residence = {{ column = "place_of_residence" }}
        place_of_birth = {{ column = "place_of_birth" }}
        event_date = {{ column = "event_date" }}
        event_type = {{ value = "assault" }}
        role = {{ value = "victim" }}
        "#
    ))
    .unwrap()
}

const COLUMNS: [&str; 13] = [
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
    "place_of_residence",
    "place_of_birth",
    "event_date",
];

fn text<'a>(input: &'a Value, field: &str) -> Option<&'a str> {
    input.get(field).and_then(Value::as_str)
}

fn raw_person(input: &Value) -> RawPerson<'_> {
    let date_of_birth = text(input, "date_of_birth").and_then(|d| {
        match dates::birth_date(DateFormat::default().split(d).unwrap()) {
            DateCell::Known(date) => Some(date),
            DateCell::Missing => None,
            DateCell::Invalid => panic!("vector date {d} invalid"),
        }
    });
    RawPerson {
        given_names: text(input, "given_names"),
        surname_prefix: text(input, "surname_prefix"),
        surname: text(input, "surname"),
        birth_surname: text(input, "birth_surname"),
        date_of_birth,
        sex: text(input, "sex")
            .unwrap_or("unknown")
            .parse::<Sex>()
            .unwrap(),
        national_id: text(input, "national_id"),
        postcode: text(input, "postcode"),
        house_number: text(input, "house_number"),
        place_of_residence: text(input, "place_of_residence"),
        place_of_birth: text(input, "place_of_birth"),
    }
}

/// The normalised person in the vector file's shape.
fn describe(p: &NormalisedPerson) -> Value {
    let dob = p.date_of_birth.map(|d| {
        let (month, day) = match d {
            dates::BirthDate::Full(date) => {
                use chrono::Datelike;
                (date.month(), date.day())
            }
            dates::BirthDate::YearMonth(_, month) => (month, 0),
            dates::BirthDate::Year(_) => (0, 0),
        };
        format!("{:04}-{month:02}-{day:02}", d.year())
    });
    let phonetic =
        |name: &Option<String>| name.as_deref().map(phonetic_key).filter(|k| !k.is_empty());
    json!({
        "given_name": p.given_name,
        "initial": p.initial,
        "surname": p.surname,
        "surname_parts": p.surname_parts,
        "date_of_birth": dob,
        "sex": p.sex.map(|s| s.as_str()),
        "national_id": p.national_id.as_ref().map(|n| json!({"scheme": n.scheme_tag(), "value": n.value})),
        "national_id_invalid": p.national_id_invalid,
        "postcode": p.postcode,
        "house_number": p.house_number,
        "place_of_residence": p.place_of_residence,
        "place_of_birth": p.place_of_birth,
        "phonetic_given_name": phonetic(&p.given_name),
        "phonetic_surname": phonetic(&p.surname),
    })
}

/// The file has the documented size: at least 40 registrations.
#[test]
fn at_least_forty_vectors() {
    let v = vectors();
    assert!(v["records"].as_array().unwrap().len() >= 40);
    assert_eq!(v["rule_set_version"], veilink::encode::RULE_SET_VERSION);
    assert_eq!(
        v["normalisation_version"],
        veilink::encode::NORMALISATION_VERSION
    );
}

/// Key id and the fingerprint of every Bloom scheme match the vectors.
#[test]
fn key_id_and_fingerprints() {
    let v = vectors();
    let secret = secret(&v);
    assert_eq!(hex(&secret.key_id()), v["key_id"]);
    let encoder = Encoder::new(&secret, &schema("police", "bsn"));
    for (name, scheme) in [
        ("none", None),
        ("unsalted", Some(BloomScheme::Unsalted)),
        ("salted_by_birth_year", Some(BloomScheme::SaltedByBirthYear)),
    ] {
        let fingerprint = encoder.clone().with_bloom(scheme).fingerprint();
        assert_eq!(hex(&fingerprint), v["fingerprint"][name], "{name}");
    }
    // The fingerprint does not depend on the schema or the agency.
    let other = Encoder::new(&secret, &schema("care", "none"));
    assert_eq!(other.fingerprint(), encoder.fingerprint());
}

/// Every phonetic vector matches.
#[test]
fn phonetic_keys() {
    for pair in vectors()["phonetic"].as_array().unwrap() {
        let name = pair["name"].as_str().unwrap();
        assert_eq!(phonetic_key(name), pair["key"].as_str().unwrap(), "{name}");
    }
}

/// Normalised values, age band, record ref, token inputs, canonical bytes,
/// token hashes and Bloom encodings match every registration's vector.
#[test]
fn registrations_match_field_by_field() {
    let v = vectors();
    let secret = secret(&v);
    let agency = v["agency"].as_str().unwrap();
    for record in v["records"].as_array().unwrap() {
        let name = record["name"].as_str().unwrap();
        let input = &record["input"];
        let encoder = Encoder::new(
            &secret,
            &schema(agency, record["national_id_check"].as_str().unwrap()),
        );
        let person = encoder.normalise(&raw_person(input));
        assert_eq!(
            describe(&person),
            record["normalised"],
            "{name}: normalised"
        );

        let event =
            NaiveDate::parse_from_str(text(input, "event_date").unwrap(), "%Y-%m-%d").unwrap();
        assert_eq!(
            dates::age_band(person.date_of_birth, event).as_str(),
            record["age_band"],
            "{name}: age band"
        );
        let local_id = text(input, "record_id").unwrap();
        assert_eq!(
            hex(&encoder.record_ref(local_id)),
            record["record_ref"],
            "{name}: ref"
        );

        let expected_inputs: BTreeSet<(u64, Vec<String>, String)> = record["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let values = t["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string());
                (
                    t["rule"].as_u64().unwrap(),
                    values.collect(),
                    t["canonical"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let actual_inputs: BTreeSet<(u64, Vec<String>, String)> = token_inputs(&person)
            .into_iter()
            .map(|(rule, values)| {
                let mut bytes = Vec::new();
                canonical_bytes(
                    &values.iter().map(String::as_str).collect::<Vec<_>>(),
                    &mut bytes,
                );
                (u64::from(rule.0), values, hex(&bytes))
            })
            .collect();
        assert_eq!(actual_inputs, expected_inputs, "{name}: token inputs");

        let expected_tokens: Vec<(u64, String)> = record["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["rule"].as_u64().unwrap(),
                    t["hash"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let actual_tokens: Vec<(u64, String)> = encoder
            .tokens(&person)
            .iter()
            .map(|t| (u64::from(t.rule.0), hex(&t.hash)))
            .collect();
        assert_eq!(actual_tokens, expected_tokens, "{name}: tokens");

        if let Some(bloom) = record.get("bloom") {
            let elements = veilink::encode::bloom::elements(&person);
            for (i, field) in ["given_name", "surname", "date_of_birth"]
                .iter()
                .enumerate()
            {
                assert_eq!(
                    json!(elements[i]),
                    bloom["elements"][field],
                    "{name}: {field} elements"
                );
            }
            let encoded = encoder.bloom(&person).map(|b| hex(&b.0));
            assert_eq!(json!(encoded), bloom["hex"], "{name}: bloom");
        }
        if let Some(unsalted) = record.get("bloom_unsalted_hex") {
            let encoded = encoder
                .clone()
                .with_bloom(Some(BloomScheme::Unsalted))
                .bloom(&person)
                .map(|b| hex(&b.0));
            assert_eq!(&json!(encoded), unsalted, "{name}: unsalted bloom");
        }
    }
}

/// Quotes a CSV cell.
fn cell(value: Option<&str>) -> String {
    format!("\"{}\"", value.unwrap_or("").replace('"', "\"\""))
}

/// The same registrations written as a CSV and read through the schema and
/// [`RecordReader`] give the vectors' refs, tokens, Bloom encodings and age bands.
#[test]
fn registrations_match_through_the_csv_reader() {
    let v = vectors();
    let secret = secret(&v);
    let records: Vec<&Value> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["national_id_check"] == "bsn")
        .collect();
    let mut csv = COLUMNS.join(",") + "\n";
    for record in &records {
        let row: Vec<String> = COLUMNS
            .iter()
            .map(|c| cell(text(&record["input"], c)))
            .collect();
        csv += &(row.join(",") + "\n");
    }
    let encoder = Encoder::new(&secret, &schema(v["agency"].as_str().unwrap(), "bsn"));
    let reader = RecordReader::new(&encoder, csv.as_bytes(), Path::new("vectors.csv")).unwrap();
    let encoded: Vec<_> = reader.collect();
    assert_eq!(encoded.len(), records.len());
    for (record, out) in records.iter().zip(&encoded) {
        let name = record["name"].as_str().unwrap();
        if let Err(err) = out {
            // No token and no Bloom encoding: the reader refuses the line, as
            // the service would refuse the record.
            assert_eq!(err.fault, LineFault::NothingToLink, "{name}: {err}");
            assert!(
                record["tokens"].as_array().unwrap().is_empty()
                    && record.get("bloom").is_none_or(|b| b["hex"].is_null()),
                "{name}: refused although the vector has a token or a Bloom encoding"
            );
            continue;
        }
        let out = out.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex(&out.record_ref), record["record_ref"], "{name}");
        assert_eq!(out.age_band.as_str(), record["age_band"], "{name}");
        let hashes: Vec<String> = out.tokens.iter().map(|t| hex(&t.hash)).collect();
        let expected: Vec<&str> = record["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["hash"].as_str().unwrap())
            .collect();
        assert_eq!(hashes, expected, "{name}");
        if let Some(bloom) = record.get("bloom") {
            assert_eq!(
                json!(out.bloom.as_ref().map(|b| hex(&b.0))),
                bloom["hex"],
                "{name}"
            );
        }
    }
}
