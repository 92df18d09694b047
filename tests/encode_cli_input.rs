//! Bad input to `veilink encode` (issue 4, "Bad input"), through the library
//! functions the command calls: a schema column the CSV lacks fails before any
//! data line; a malformed line names file, line and field but not the value;
//! `--on-error skip` counts by reason; non-UTF-8 bytes without
//! `encoding = "latin1"` are a clear error; wrong-length key files and unknown
//! schema keys are refused; and a failed run leaves no output behind.

use std::path::{Path, PathBuf};

use veilink::encode::{
    EncodeError, EncodeSummary, Encoder, LinkageSecret, OnError, Schema, encode_file,
};

const SCHEMA: &str = r#"
version = 1
agency = "police"
delimiter = ";"
[fields]
record_id = { column = "registratienummer" }
given_names = { column = "voornamen" }
surname = { column = "achternaam" }
date_of_birth = { column = "geboortedatum", format = "%d-%m-%Y" }
national_id = { column = "bsn" }
event_date = { column = "pleegdatum", format = "%Y%m%d" }
event_type = { column = "feitcode", map = { "MH-SEK" = "trafficking_sexual", "MI" = "assault" } }
role = { column = "rol", map = { SL = "victim", VD = "suspect" } }
"#;

const HEADER: &str =
    "registratienummer;voornamen;achternaam;geboortedatum;bsn;pleegdatum;feitcode;rol";

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn encoder(&self, schema: &str) -> Encoder {
        let schema = Schema::load(&self.write("schema.toml", schema)).unwrap();
        Encoder::new(&LinkageSecret::from_bytes([3; 32]), &schema)
    }

    fn run(
        &self,
        schema: &str,
        csv: impl AsRef<[u8]>,
        on_error: OnError,
    ) -> Result<EncodeSummary, EncodeError> {
        let encoder = self.encoder(schema);
        let input = self.write("input.csv", csv);
        encode_file(
            &encoder,
            &input,
            &self.path("out.jsonl"),
            Some(&self.path("refs.csv")),
            on_error,
            None,
        )
    }

    fn outputs_absent(&self) -> bool {
        [
            "out.jsonl",
            "refs.csv",
            "out.jsonl.partial",
            "refs.csv.partial",
        ]
        .iter()
        .all(|name| !self.path(name).exists())
    }
}

fn csv(lines: &[&str]) -> String {
    std::iter::once(HEADER)
        .chain(lines.iter().copied())
        .map(|l| format!("{l}\n"))
        .collect()
}

const GOOD: &str = "P-1;Anna;de Vries;03-07-1990;123456782;20210615;MH-SEK;SL";

/// A schema column the header lacks fails before any data line is read (the
/// data line here is malformed too, and is not what is reported), naming the
/// column and the schema field; nothing is written.
#[test]
fn missing_column_fails_before_data() {
    let ws = Workspace::new();
    let header_without_bsn = HEADER.replace(";bsn", "");
    let input = format!("{header_without_bsn}\nnot;enough\n");
    let err = ws.run(SCHEMA, input, OnError::Skip).unwrap_err();
    assert!(
        matches!(&err, EncodeError::MissingColumn { column, field: "national_id", .. } if column == "bsn"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("\"bsn\"") && text.contains("input.csv"),
        "{text}"
    );
    assert!(ws.outputs_absent());
}

/// A malformed date names the file, the 1-based line (header = line 1) and the
/// field, never the value; under `fail` nothing is written and an existing
/// output file is left as it was.
#[test]
fn malformed_line_names_file_line_and_field() {
    let ws = Workspace::new();
    ws.write("out.jsonl", "previous run\n");
    let bad = "P-2;Bram;Bakker;31-02-1985;;20210615;MI;VD";
    let err = ws
        .run(SCHEMA, csv(&[GOOD, bad]), OnError::Fail)
        .unwrap_err();
    let EncodeError::Line(line) = &err else {
        panic!("expected a line error, got {err}");
    };
    assert_eq!((line.line, line.field), (3, Some("date_of_birth")));
    let text = err.to_string();
    assert!(
        text.contains("input.csv:3") && text.contains("date_of_birth"),
        "{text}"
    );
    assert!(
        text.contains("%d-%m-%Y") && !text.contains("31-02-1985"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("out.jsonl")).unwrap(),
        "previous run\n"
    );
    assert!(!ws.path("refs.csv").exists() && !ws.path("out.jsonl.partial").exists());
}

/// `skip` goes on past bad lines and counts them by reason; good lines are
/// written, refs-out has one row per written record, invalid BSNs are counted.
#[test]
fn skip_mode_counts_by_reason() {
    let ws = Workspace::new();
    let lines = [
        GOOD,
        "P-2;Bram;Bakker;31-02-1985;;20210615;MI;VD", // impossible date
        "P-3;Cor;Smit;01-01-1970;;20210615;XX;SL",    // unmapped code
        "P-4;Dirk;Jansen",                            // too few fields
        ";Eva;Visser;02-02-1992;;20210615;MI;SL",     // empty record id
        "P-6;Fenna;Mulder;05-05-1995;123456789;20210615;MI;SL", // invalid BSN: encoded, counted
        "P-7;Gijs;de Boer;;;2021-06-15;MI;SL",        // event date in the wrong format
    ];
    let summary = ws.run(SCHEMA, csv(&lines), OnError::Skip).unwrap();
    assert_eq!(summary.records_read, 7);
    assert_eq!(summary.records_encoded, 2);
    assert_eq!(summary.invalid_national_ids, 1);
    let expected = [
        ("empty required value (record_id)", 1),
        ("not a valid date (date_of_birth)", 1),
        ("not a valid date (event_date)", 1),
        ("unmapped code (event_type)", 1),
        ("wrong number of fields", 1),
    ];
    let skipped: Vec<(&str, u64)> = summary
        .skipped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(skipped, expected);
    assert_eq!(
        summary.tokens_per_rule[&1], 1,
        "only the valid BSN gives a rule-1 token"
    );
    let out = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 2);
    assert!(
        !out.contains("P-1") && !out.contains("P-6"),
        "local ids must not be in the output"
    );
    let refs = std::fs::read_to_string(ws.path("refs.csv")).unwrap();
    let rows: Vec<&str> = refs.lines().collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], "local_id,record_ref");
    assert!(
        rows[1].starts_with("P-1,") && rows[2].starts_with("P-6,"),
        "{refs}"
    );
    let summary_text = summary.to_string();
    assert!(
        summary_text.contains("unmapped code (event_type): 1"),
        "{summary_text}"
    );
}

/// `invalid = "missing"` on the date of birth: a cell that is not a date is
/// encoded as a missing date of birth (exactly as an empty cell), counted,
/// and the line is kept; other dates stay strict, and a wrong `invalid`
/// value or one on another field is refused when the schema loads.
#[test]
fn an_unreadable_birth_date_can_count_as_missing() {
    let ws = Workspace::new();
    let lenient = SCHEMA.replace(
        r#"format = "%d-%m-%Y" }"#,
        r#"format = "%d-%m-%Y", invalid = "missing" }"#,
    );
    let lines = [
        "P-2;Bram;Bakker;31-02-1985;;20210615;MI;VD",
        "P-3;Bram;Bakker;;;20210615;MI;VD",
        "P-4;Bram;Bakker;01-01-1985;;2021-06-15;MI;VD", // event date: still strict
    ];
    let summary = ws.run(&lenient, csv(&lines), OnError::Skip).unwrap();
    assert_eq!(
        (summary.records_encoded, summary.unreadable_birth_dates),
        (2, 1)
    );
    let skipped: Vec<(&str, u64)> = summary
        .skipped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(skipped, [("not a valid date (event_date)", 1)]);
    assert!(
        summary.to_string().contains("unreadable birth dates: 1"),
        "{summary}"
    );
    let out = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    let without_ref: Vec<String> = out
        .lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v.as_object_mut().unwrap().remove("record_ref");
            v.to_string()
        })
        .collect();
    assert_eq!(without_ref[0], without_ref[1], "the same as an empty cell");

    let strict = ws.run(SCHEMA, csv(&lines[..1]), OnError::Skip).unwrap();
    assert_eq!(
        (strict.records_encoded, strict.unreadable_birth_dates),
        (0, 0)
    );

    for (schema, named) in [
        (
            SCHEMA.replace(
                r#"format = "%d-%m-%Y" }"#,
                r#"format = "%d-%m-%Y", invalid = "guess" }"#,
            ),
            "fields.date_of_birth",
        ),
        (
            SCHEMA.replace(
                r#"format = "%Y%m%d" }"#,
                r#"format = "%Y%m%d", invalid = "missing" }"#,
            ),
            "`invalid` is only allowed for date_of_birth",
        ),
    ] {
        let err = Schema::load(&ws.write("bad.toml", schema)).unwrap_err();
        assert!(err.to_string().contains(named), "{err}");
    }
}

/// A line whose identifying fields are all empty or invalid gives no token
/// and no Bloom encoding; the service would refuse it, so the encoder names
/// the line (`fail`) or counts it (`skip`) instead of sending it.
#[test]
fn a_record_with_nothing_to_link_is_a_line_error() {
    let ws = Workspace::new();
    // No names, no date of birth, an invalid BSN (dropped, not hashed).
    let empty = "P-9;;;;123456789;20210615;MI;SL";
    let err = ws
        .run(SCHEMA, csv(&[GOOD, empty]), OnError::Fail)
        .unwrap_err();
    let EncodeError::Line(line) = &err else {
        panic!("expected a line error, got {err}");
    };
    assert_eq!((line.line, line.field), (3, None));
    let text = err.to_string();
    assert!(
        text.contains("input.csv:3") && text.contains("no identifying field"),
        "{text}"
    );
    assert!(ws.outputs_absent());

    let summary = ws.run(SCHEMA, csv(&[GOOD, empty]), OnError::Skip).unwrap();
    assert_eq!((summary.records_read, summary.records_encoded), (2, 1));
    assert_eq!(summary.skipped.get("no identifying field"), Some(&1));
}

/// An unmapped category code is echoed (codes are not personal data) with the
/// field, so the agency can fix its schema.
#[test]
fn unmapped_code_is_named() {
    let ws = Workspace::new();
    let err = ws
        .run(
            SCHEMA,
            csv(&["P-3;Cor;Smit;01-01-1970;;20210615;XX;SL"]),
            OnError::Fail,
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(":2: field event_type") && text.contains("\"XX\""),
        "{text}"
    );
}

/// Latin-1 bytes in a file whose schema says UTF-8 are an error naming the line
/// and field and pointing at `encoding = "latin1"` — even under `skip`, which
/// would otherwise silently drop every accented name. With the setting, the
/// same bytes encode exactly like the UTF-8 spelling.
#[test]
fn latin1_needs_the_encoding_setting() {
    let ws = Workspace::new();
    let latin1 = format!("{HEADER}\nP-1;Ren\u{e9};M\u{fc}ller;03-07-1990;;20210615;MI;SL\n")
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect::<Vec<u8>>();
    let err = ws.run(SCHEMA, &latin1, OnError::Skip).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("input.csv:2") && text.contains("given_names"),
        "{text}"
    );
    assert!(text.contains("encoding = \"latin1\""), "{text}");
    assert!(ws.outputs_absent());

    let latin1_schema = SCHEMA.replace(
        "delimiter = \";\"",
        "delimiter = \";\"\nencoding = \"latin1\"",
    );
    ws.run(&latin1_schema, &latin1, OnError::Fail).unwrap();
    let from_latin1 = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    let utf8 = format!("\u{feff}{HEADER}\nP-1;René;Müller;03-07-1990;;20210615;MI;SL\n");
    ws.run(SCHEMA, utf8, OnError::Fail).unwrap();
    let from_utf8 = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    assert_eq!(from_latin1, from_utf8);
}

/// A character cut in two by a delimiter: each cell alone is invalid UTF-8
/// although the line's cell bytes taken together are valid. The encoder reads
/// valid lines whole, so this checks it still refuses the cell, naming it.
#[test]
fn a_character_split_across_cells_is_refused() {
    let ws = Workspace::new();
    let e_acute = "é".as_bytes();
    let mut line = format!("{HEADER}\nP-1;Ren").into_bytes();
    line.push(e_acute[0]);
    line.push(b';');
    line.push(e_acute[1]);
    line.extend_from_slice(b"ller;03-07-1990;;20210615;MI;SL\n");
    let err = ws.run(SCHEMA, &line, OnError::Fail).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("input.csv:2") && text.contains("given_names"),
        "{text}"
    );
    assert!(ws.outputs_absent());
}

/// A local record id holding the refs file's delimiter or a quote is quoted
/// there as CSV, so the file reads back to the same ids.
#[test]
fn refs_rows_quote_awkward_local_ids() {
    let ws = Workspace::new();
    let ids = ["P,1", "P\"2", "P 3"];
    let lines: Vec<String> = ids
        .iter()
        .map(|id| {
            let cell = format!("\"{}\"", id.replace('"', "\"\""));
            format!("{cell};Anna;de Vries;03-07-1990;;20210615;MI;SL")
        })
        .collect();
    let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    ws.run(SCHEMA, csv(&line_refs), OnError::Fail).unwrap();
    let mut reader = csv::Reader::from_path(ws.path("refs.csv")).unwrap();
    let read: Vec<String> = reader
        .records()
        .map(|row| row.unwrap()[0].to_string())
        .collect();
    assert_eq!(read, ids);
}

/// Key files of the wrong length, empty or missing are refused with the path.
#[test]
fn wrong_key_files_are_refused() {
    let ws = Workspace::new();
    for (name, contents) in [
        ("short.key", vec![1u8; 31]),
        ("long.key", vec![1u8; 33]),
        ("empty.key", vec![]),
    ] {
        let path = ws.write(name, contents);
        let err = LinkageSecret::load(&path).unwrap_err();
        assert!(
            matches!(err, EncodeError::KeyLength { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
    let err = LinkageSecret::load(&ws.path("absent.key")).unwrap_err();
    assert!(matches!(err, EncodeError::KeyIo { .. }), "{err}");
    let good = ws.write("good.key", [5u8; 32]);
    assert!(LinkageSecret::load(&good).is_ok());
}

/// An unknown key in the schema file is refused, naming the file and the key.
#[test]
fn unknown_schema_key_is_refused() {
    let ws = Workspace::new();
    let path = ws.write(
        "schema.toml",
        SCHEMA.replace("[fields]", "national_id_chek = \"bsn\"\n[fields]"),
    );
    let err = Schema::load(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("schema.toml") && text.contains("national_id_chek"),
        "{text}"
    );
}

/// A quoted cell spanning two physical lines does not throw off the line
/// numbers of later errors.
#[test]
fn line_numbers_count_physical_lines() {
    let ws = Workspace::new();
    let multi = "P-1;\"Anna\nMaria\";de Vries;03-07-1990;;20210615;MI;SL";
    let bad = "P-2;Bram;Bakker;03-07-1990;;20210615;MI;??";
    let err = ws
        .run(SCHEMA, csv(&[multi, bad]), OnError::Fail)
        .unwrap_err();
    assert!(err.to_string().contains("input.csv:4: field role"), "{err}");
}

/// The output is written only by a successful run, with mode 0600.
#[cfg(unix)]
#[test]
fn outputs_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    ws.run(SCHEMA, csv(&[GOOD]), OnError::Fail).unwrap();
    for name in ["out.jsonl", "refs.csv"] {
        let mode = std::fs::metadata(ws.path(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert!(!Path::new(&ws.path("out.jsonl.partial")).exists());
}

/// The example schema in `docs/SCHEMA.md` loads, with the documented meaning.
#[test]
fn documented_example_schema_loads() {
    let doc = include_str!("../docs/SCHEMA.md");
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let schema = Schema::from_toml(&doc[start..end]).unwrap();
    assert_eq!(schema.agency(), "police");
    assert_eq!(
        schema.national_id_check(),
        veilink::encode::NationalIdCheck::Bsn
    );
    let columns = schema.columns();
    assert!(columns.contains(&("record_id", "registratienummer")));
    assert!(
        !columns
            .iter()
            .any(|(field, _)| *field == "residence_status")
    );
}

/// Several thousand lines (many batches, encoded on several threads) come out
/// in input order, with bad lines skipped and counted wherever they are; under
/// `fail` the first bad line in input order is the one reported.
#[test]
fn many_batches_keep_input_order() {
    let ws = Workspace::new();
    let lines: Vec<String> = (0..3000)
        .map(|i| {
            let date = if i % 997 == 5 {
                "31-02-1990"
            } else {
                "03-07-1990"
            };
            format!("P-{i};Anna;de Vries;{date};;20210615;MI;SL")
        })
        .collect();
    let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let summary = ws.run(SCHEMA, csv(&line_refs), OnError::Skip).unwrap();
    let bad: Vec<usize> = (0..3000).filter(|i| i % 997 == 5).collect();
    assert_eq!(summary.records_read, 3000);
    assert_eq!(summary.records_encoded, 3000 - bad.len() as u64);
    let refs = std::fs::read_to_string(ws.path("refs.csv")).unwrap();
    let ids: Vec<&str> = refs
        .lines()
        .skip(1)
        .map(|row| row.split(',').next().unwrap())
        .collect();
    let expected: Vec<String> = (0..3000)
        .filter(|i| !bad.contains(i))
        .map(|i| format!("P-{i}"))
        .collect();
    assert_eq!(ids, expected);
    let out = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), expected.len());

    let err = ws.run(SCHEMA, csv(&line_refs), OnError::Fail).unwrap_err();
    let EncodeError::Line(line) = err else {
        panic!("{err}")
    };
    assert_eq!(line.line, 5 + 2, "data line 5 is file line 7");
}

/// A file with a header and no data writes an empty output and a refs file
/// with only its header.
#[test]
fn header_only_input() {
    let ws = Workspace::new();
    let summary = ws
        .run(SCHEMA, format!("{HEADER}\n"), OnError::Fail)
        .unwrap();
    assert_eq!(summary.records_read, 0);
    assert_eq!(std::fs::read_to_string(ws.path("out.jsonl")).unwrap(), "");
    assert_eq!(
        std::fs::read_to_string(ws.path("refs.csv")).unwrap(),
        "local_id,record_ref\n"
    );
}
