//! The synthetic generator and the encoder together: every agency CSV parses
//! with its own schema file, and records of one person, written the ways the
//! generator writes them, share a match token in the large majority of cases.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use veilink::encode::{EncodedRecord, Encoder, LinkageSecret, RecordReader, Schema};
use veilink::synth::{SynthConfig, generate};

/// Encodes every agency file of a generated data set; panics on any bad line.
fn encode_all(
    dir: &Path,
    agencies: &[String],
    secret: &LinkageSecret,
) -> Vec<(String, EncodedRecord)> {
    let mut out = Vec::new();
    for agency in agencies {
        let schema = Schema::load(&dir.join(format!("{agency}.schema.toml"))).unwrap();
        assert_eq!(schema.agency(), agency);
        let encoder = Encoder::new(secret, &schema);
        let reader = RecordReader::open(&encoder, &dir.join(format!("{agency}.csv"))).unwrap();
        for line in reader {
            let record = line.unwrap_or_else(|e| panic!("{agency}: {e}"));
            out.push((agency.clone(), record));
        }
    }
    out
}

/// Share of true same-person record pairs that share at least one token.
fn shared_token_share(dir: &Path, records: &[(String, EncodedRecord)]) -> (f64, usize) {
    let mut truth: HashMap<(String, String), String> = HashMap::new();
    let mut reader = csv::Reader::from_path(dir.join("truth.csv")).unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        truth.insert((row[0].to_string(), row[1].to_string()), row[2].to_string());
    }
    let mut by_person: HashMap<&str, Vec<&EncodedRecord>> = HashMap::new();
    for (agency, record) in records {
        let person = &truth[&(agency.clone(), record.local_id.clone())];
        by_person.entry(person).or_default().push(record);
    }
    let (mut pairs, mut sharing) = (0usize, 0usize);
    for members in by_person.values() {
        for (i, a) in members.iter().enumerate() {
            let tokens: HashSet<_> = a.tokens.iter().collect();
            for b in &members[i + 1..] {
                pairs += 1;
                if b.tokens.iter().any(|t| tokens.contains(t)) {
                    sharing += 1;
                }
            }
        }
    }
    (sharing as f64 / pairs.max(1) as f64, pairs)
}

/// Every agency's CSV parses with its own schema file at every error rate,
/// and same-person pairs share a token: all of them without errors, the
/// large majority with errors. Prints the measured shares.
#[test]
fn generated_registrations_encode_and_share_tokens() {
    let secret = LinkageSecret::from_bytes([42; 32]);
    for (error_rate, minimum) in [(0.0, 1.0), (0.05, 0.97), (0.2, 0.90)] {
        let dir = tempfile::tempdir().unwrap();
        let config = SynthConfig {
            persons: 20_000,
            seed: 3,
            error_rate,
            ..SynthConfig::default()
        };
        generate(&config, dir.path()).unwrap();
        let records = encode_all(dir.path(), &config.agencies, &secret);
        let (share, pairs) = shared_token_share(dir.path(), &records);
        println!(
            "error rate {error_rate}: {} records, {pairs} same-person pairs, {:.4} share a token",
            records.len(),
            share
        );
        assert!(pairs > 500, "too few pairs to measure ({pairs})");
        assert!(
            share >= minimum,
            "error rate {error_rate}: only {share:.4} of same-person pairs share a token"
        );
    }
}
