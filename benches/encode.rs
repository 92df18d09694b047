//! Encoding throughput on one core (issue 4 targets: ≥ 200,000 records/s for
//! tokens only; tokens + Bloom ≥ 30× clkhash on the same records).
//!
//! Measures the real path on one core: CSV bytes in memory → [`RecordReader`]
//! (header check, decoding, schema mapping, normalisation, tokens, Bloom,
//! record ref); the same on every core in memory (the ordered parallel path of
//! `veilink encode` and `veilink submit`, which is how clkhash is timed: CSV
//! in, encodings in memory); and the whole of `veilink encode`
//! ([`encode_file`]: file in, JSON lines and refs out, fsynced) on every core.
//! Records come from a deterministic generator of Dutch-looking registrations,
//! or — for the side-by-side run in `benches/clkhash/run.sh` — from the CSV
//! file named by `VEILINK_BENCH_CSV` (same columns as generated here).
//! Criterion reports records/s as "elements/s".

use std::fmt::Write as _;
use std::hint::black_box;
use std::ops::ControlFlow;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veilink::encode::csv_input::LineEncoder;
use veilink::encode::parallel::{self, RawLine};
use veilink::encode::{
    BloomScheme, Encoder, LinkageSecret, OnError, RecordReader, Schema, encode_file,
};

/// The schema of the benchmark CSV (also written by `benches/clkhash/run.sh`).
const SCHEMA: &str = r#"
version = 1
agency = "bench"
delimiter = ","
national_id_check = "bsn"
[fields]
record_id          = { column = "id" }
given_names        = { column = "given_names" }
surname_prefix     = { column = "prefix" }
surname            = { column = "surname" }
birth_surname      = { column = "birth_surname" }
date_of_birth      = { column = "dob", format = "%Y-%m-%d" }
sex                = { column = "sex", map = { M = "male", V = "female" }, default = "unknown" }
national_id        = { column = "bsn" }
postcode           = { column = "postcode" }
house_number       = { column = "house_number" }
place_of_residence = { column = "residence" }
place_of_birth     = { column = "birthplace" }
event_date         = { column = "event_date" }
event_type         = { value = "assault" }
role               = { value = "victim" }
"#;

/// Records generated when no CSV is given.
const GENERATED_RECORDS: usize = 20_000;

const GIVEN: &[&str] = &[
    "Jan",
    "Pieter Jan",
    "Anna Maria",
    "Fatima",
    "Mohammed",
    "Sanne",
    "Daan",
    "Eva",
    "Lotte",
    "Johannes Cornelis",
    "Maria",
    "Sophie",
    "Noah",
    "Emma",
    "Ahmet",
    "J.P.",
    "Elif",
    "Kevin",
];
const SURNAMES: &[(&str, &str)] = &[
    ("de", "Vries"),
    ("van", "Dijk"),
    ("", "Jansen"),
    ("van den", "Berg"),
    ("", "Bakker"),
    ("", "Visser"),
    ("", "Smit"),
    ("", "Meijer"),
    ("de", "Boer"),
    ("", "Mulder"),
    ("", "Yılmaz"),
    ("", "El Amrani"),
    ("van der", "Linden"),
    ("", "Hendriks"),
    ("", "Öztürk"),
];
const PLACES: &[&str] = &[
    "Amsterdam",
    "Rotterdam",
    "'s-Gravenhage",
    "Utrecht",
    "Eindhoven",
    "Tilburg",
];

/// A tiny deterministic generator (splitmix64), so the benchmark needs no data file.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A valid BSN (11-proef) from 8 random digits, or an empty cell.
fn bsn(rng: &mut SplitMix) -> String {
    loop {
        let digits: Vec<u32> = (0..8).map(|_| rng.below(10) as u32).collect();
        let sum: u32 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
        let check = sum % 11;
        if check < 10 {
            return digits
                .iter()
                .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
                .chain(char::from_digit(check, 10))
                .collect();
        }
    }
}

fn generated_csv() -> Vec<u8> {
    let mut rng = SplitMix(0x5EED);
    let mut csv = String::from(
        "id,given_names,prefix,surname,birth_surname,dob,sex,bsn,postcode,house_number,residence,birthplace,event_date\n",
    );
    for i in 0..GENERATED_RECORDS {
        let (prefix, surname) = SURNAMES[rng.below(SURNAMES.len())];
        let birth = if rng.below(4) == 0 {
            SURNAMES[rng.below(SURNAMES.len())].1
        } else {
            ""
        };
        let bsn = if rng.below(3) == 0 {
            String::new()
        } else {
            bsn(&mut rng)
        };
        let _ = writeln!(
            csv,
            "R{i:07},{},{prefix},{surname},{birth},{:04}-{:02}-{:02},{},{bsn},{:04} {}{},{},{},{},2021-{:02}-{:02}",
            GIVEN[rng.below(GIVEN.len())],
            1950 + rng.below(60),
            1 + rng.below(12),
            1 + rng.below(28),
            ["M", "V"][rng.below(2)],
            1000 + rng.below(9000),
            char::from(b'A' + rng.below(26) as u8),
            char::from(b'A' + rng.below(26) as u8),
            1 + rng.below(200),
            PLACES[rng.below(PLACES.len())],
            PLACES[rng.below(PLACES.len())],
            1 + rng.below(12),
            1 + rng.below(28),
        );
    }
    csv.into_bytes()
}

fn bench_encode(c: &mut Criterion) {
    let (csv, origin) = match std::env::var_os("VEILINK_BENCH_CSV") {
        Some(path) => (
            std::fs::read(&path).expect("VEILINK_BENCH_CSV readable"),
            "file",
        ),
        None => (generated_csv(), "generated"),
    };
    let records = csv
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1);
    let schema = Schema::from_toml(SCHEMA).expect("benchmark schema");
    let secret = LinkageSecret::from_bytes([7; 32]);
    let variants = [
        ("tokens_only", None),
        ("tokens_and_bloom", Some(BloomScheme::DEFAULT)),
    ];
    let mut group = c.benchmark_group(format!("encode_{origin}_csv"));
    group.throughput(Throughput::Elements(records as u64));
    group.sample_size(20);
    for (name, bloom) in variants {
        let encoder = Encoder::new(&secret, &schema).with_bloom(bloom);
        group.bench_function(name, |b| {
            b.iter(|| {
                let reader = RecordReader::new(&encoder, csv.as_slice(), Path::new("bench.csv"))
                    .expect("benchmark header");
                let mut encoded = 0usize;
                for record in reader {
                    encoded += black_box(record.expect("benchmark line")).tokens.len();
                }
                encoded
            });
        });
    }
    // Every core, in memory, as clkhash's `generate_clk_from_csv` is timed:
    // CSV bytes in, encoded records out, through the ordered parallel path
    // `veilink encode` and `veilink submit` use (`encode::parallel`).
    let encoder = Encoder::new(&secret, &schema);
    let threads = parallel::default_threads();
    group.bench_function("all_cores_in_memory_tokens_and_bloom", |b| {
        let work = |lines: &LineEncoder<'_>, batch: &[RawLine]| {
            let mut tokens = 0;
            let outcome = parallel::encode_lines(lines, batch, OnError::Fail, |record| {
                tokens += black_box(record).tokens.len();
            });
            assert!(outcome.fatal.is_none(), "benchmark line");
            tokens
        };
        b.iter(|| {
            let mut reader = RecordReader::new(&encoder, csv.as_slice(), Path::new("bench.csv"))
                .expect("benchmark header");
            let mut encoded = 0usize;
            parallel::for_each_batch(
                &mut reader,
                512,
                threads,
                2 * threads,
                &work,
                |tokens, _| {
                    encoded += tokens;
                    Ok::<_, ()>(ControlFlow::Continue(()))
                },
            )
            .expect("benchmark run");
            encoded
        });
    });
    // The whole `veilink encode` path on every core (reading and encoding
    // threads, JSON and refs output), as clkhash uses every core too.
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("input.csv");
    std::fs::write(&input, &csv).expect("write benchmark CSV");
    let encoder = Encoder::new(&secret, &schema);
    group.bench_function("encode_file_all_cores_tokens_and_bloom", |b| {
        b.iter(|| {
            encode_file(
                &encoder,
                &input,
                &dir.path().join("out.jsonl"),
                Some(&dir.path().join("refs.csv")),
                OnError::Fail,
                None,
            )
            .expect("benchmark encode")
            .records_encoded
        });
    });
    group.finish();
}

criterion_group!(benches, bench_encode);
criterion_main!(benches);
