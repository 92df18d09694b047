//! Agency-side encoding: the only place where raw personal data is read.
//!
//! An agency's CSV export is read through its schema file (`docs/SCHEMA.md`),
//! each registration is normalised (Dutch-aware: diacritics, `ij`,
//! tussenvoegsels, double names, initials, placeholders, partial dates, the BSN
//! 11-proef), and turned into what may leave the agency: keyed match tokens, an
//! optional keyed Bloom encoding, a keyed record ref, the event and coarse
//! attributes. Nothing else leaves; `docs/ENCODING.md` specifies every byte so
//! that another team can build a compatible encoder in another language, and
//! `tests/vectors/encoding-v1.json` pins it down.
//!
//! # Layout
//! - [`secret`]: the 32-byte linkage secret (keygen, load, key id).
//! - [`keys`]: every key derived from the secret (BLAKE3 `derive_key` contexts).
//! - [`schema`]: the TOML schema file and its validation.
//! - [`text`]: Unicode folding shared by all text fields.
//! - [`normalise`]: fields of one registration → [`NormalisedPerson`].
//! - [`dates`]: date formats, partial dates of birth, age band at the event.
//! - [`phonetic`]: the Dutch phonetic key used by rules 5 and 11.
//! - [`rules`]: match-key rule set 2, canonical byte strings, tokens.
//! - `blake3x4`: four keyed BLAKE3 hashes of short inputs at once (tokens).
//! - [`bloom`]: the keyed record-level Bloom encoding (1024 bits).
//! - [`encoder`]: [`Encoder`], the prepared keys plus the fingerprint.
//! - [`record`]: [`EncodedRecord`] and its JSON-lines wire form.
//! - [`csv_input`]: [`RecordReader`], the streaming CSV reader, and the `Sync`
//!   line encoder that `encode_file` runs on several threads.
//! - [`parallel`]: ordered parallel encoding of batches of lines, shared by
//!   `encode_file`, `veilink submit` and the benchmark.
//! - [`pipeline`]: [`encode_file`], the body of `veilink encode`.

pub(crate) mod blake3x4;
pub mod bloom;
pub mod csv_input;
pub mod dates;
pub mod encoder;
pub mod keys;
pub mod normalise;
pub mod parallel;
pub mod phonetic;
pub mod pipeline;
pub mod record;
pub mod rules;
pub mod schema;
pub mod secret;
pub mod text;

use std::fmt;
use std::path::PathBuf;

pub use bloom::{BLOOM_BITS, Bloom, BloomScheme};
pub use csv_input::RecordReader;
pub use encoder::{EncodeBuffers, Encoder};
pub use normalise::{NationalId, NormalisedPerson, RawPerson};
pub use pipeline::{EncodeSummary, OnError, Progress, encode_file};
pub use record::{EncodedRecord, MatchToken};
pub use rules::{MAX_TOKENS_PER_RULE, MatchRule, RULES, RuleClass, RuleId};
pub use schema::{NationalIdCheck, Schema};
pub use secret::LinkageSecret;

/// Version of the match-key rule set (`docs/ENCODING.md`, "Rules").
/// Part of the encoding fingerprint: agencies on different rule sets are refused.
pub const RULE_SET_VERSION: u32 = 2;

/// Version of the normalisation (`docs/ENCODING.md`, "Normalisation").
/// Part of the encoding fingerprint; any change to a normalised value bumps it.
pub const NORMALISATION_VERSION: u32 = 1;

/// Everything that can go wrong in the encoding layer.
///
/// No variant ever carries a raw personal value: data-line problems are
/// [`LineError`]s, which name the file, line and field only.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A key file could not be read or created.
    #[error("key file {path}: {source}")]
    KeyIo {
        /// The key file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// `keygen` refuses to overwrite an existing key file.
    #[error("key file {path} already exists; refusing to overwrite a linkage secret")]
    KeyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A key file that is neither 32 raw bytes nor 64 hex digits.
    #[error(
        "key file {path} holds {found} bytes; a linkage secret is exactly 32 raw bytes or 64 hex digits"
    )]
    KeyLength {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes (after removing one trailing newline).
        found: usize,
    },
    /// The operating system's random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// The schema file could not be read.
    #[error("schema {path}: {source}")]
    SchemaIo {
        /// The schema file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The schema file is not valid TOML for the schema format, or violates a rule
    /// of `docs/SCHEMA.md` (unknown key, unknown vocabulary term, bad format, ...).
    #[error("schema {path}: {message}")]
    Schema {
        /// The schema file.
        path: PathBuf,
        /// What is wrong (names keys and terms, never data values).
        message: String,
    },
    /// The CSV header lacks a column the schema names (checked before any data line).
    #[error("{path}: the header has no column {column:?} (schema field {field})")]
    MissingColumn {
        /// The input file.
        path: PathBuf,
        /// The column name from the schema.
        column: String,
        /// The schema field that names it.
        field: &'static str,
    },
    /// The CSV header itself is unusable (empty file, duplicate column, bad bytes).
    #[error("{path}: header: {message}")]
    Header {
        /// The input file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A data line that could not be encoded, under `--on-error fail` or when the
    /// fault is not skippable (bytes in the wrong text encoding, I/O).
    #[error(transparent)]
    Line(#[from] LineError),
    /// The input file could not be opened or read.
    #[error("{path}: {source}")]
    InputIo {
        /// The input file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// An output file could not be written.
    #[error("{path}: {source}")]
    OutputIo {
        /// The output file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
}

impl EncodeError {
    /// True when the user's input caused the error (exit status 2): a bad key
    /// file, schema, header or data line; false for I/O and system failures.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            EncodeError::Random | EncodeError::OutputIo { .. } | EncodeError::InputIo { .. }
        )
    }
}

/// One data line that could not be encoded: file, 1-based line number (the header
/// is line 1), the schema field, and what was wrong — never the value itself,
/// unless it is a category code (codes are not personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LineError {
    /// The input file as given on the command line.
    pub file: PathBuf,
    /// 1-based line number of the start of the record; the header is line 1.
    pub line: u64,
    /// The schema field at fault, when one is (`None` for a wrong field count).
    pub field: Option<&'static str>,
    /// What was wrong.
    pub fault: LineFault,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(field) = self.field {
            write!(f, "field {field}: ")?;
        }
        write!(f, "{}", self.fault)
    }
}

impl LineError {
    /// True when `--on-error skip` may skip the line and go on; false for faults
    /// that would silently damage every later line (wrong text encoding, I/O).
    pub fn is_skippable(&self) -> bool {
        !matches!(self.fault, LineFault::NotUtf8 | LineFault::Csv(_))
    }

    /// A short label without the file and line, used to count skipped lines by
    /// reason in [`EncodeSummary::skipped`], e.g. `"empty required value (role)"`.
    pub fn reason(&self) -> String {
        let kind = self.fault.label();
        match self.field {
            Some(field) => format!("{kind} ({field})"),
            None => kind.to_string(),
        }
    }
}

/// What was wrong with a data line (see [`LineError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFault {
    /// A required field (`record_id`, `event_date`, `event_type`, `role`) is
    /// empty, or (`event_date`) holds a placeholder date.
    EmptyRequired,
    /// A date that does not match the column's format or is not a calendar date.
    BadDate {
        /// The format from the schema, e.g. `%d-%m-%Y`.
        format: String,
    },
    /// A category code that the schema's `map` lacks and no `default` covers.
    UnmappedCode {
        /// The code as found (category codes are not personal data).
        code: String,
    },
    /// The line has a different number of fields than the header.
    FieldCount {
        /// Fields in the header.
        expected: u64,
        /// Fields on this line.
        found: u64,
    },
    /// Every identifying field (names, date of birth, national id, address)
    /// is missing, invalid or a placeholder: the record gives no match token
    /// and no Bloom encoding, so it cannot be linked and the service would
    /// refuse it.
    NothingToLink,
    /// Bytes that are not UTF-8 in a file whose schema says UTF-8.
    NotUtf8,
    /// Any other CSV reader failure (I/O while reading); not skippable.
    Csv(String),
}

impl LineFault {
    /// The fault's short label, the start of [`LineError::reason`] (a fault
    /// with no field, such as [`LineFault::NothingToLink`], is counted under
    /// its label alone).
    pub fn label(&self) -> &'static str {
        match self {
            LineFault::EmptyRequired => "empty required value",
            LineFault::BadDate { .. } => "not a valid date",
            LineFault::UnmappedCode { .. } => "unmapped code",
            LineFault::FieldCount { .. } => "wrong number of fields",
            LineFault::NothingToLink => "no identifying field",
            LineFault::NotUtf8 => "not UTF-8",
            LineFault::Csv(_) => "CSV syntax",
        }
    }
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineFault::EmptyRequired => f.write_str("required value is empty or a placeholder"),
            LineFault::BadDate { format } => {
                write!(f, "not a valid date in the format {format:?}")
            }
            LineFault::UnmappedCode { code } => write!(
                f,
                "code {code:?} is not in the schema's map and the field has no default"
            ),
            LineFault::FieldCount { expected, found } => {
                write!(
                    f,
                    "expected {expected} fields as in the header, found {found}"
                )
            }
            LineFault::NothingToLink => f.write_str(
                "no identifying field: names, date of birth, national id and address \
                 are all missing, invalid or placeholders, so the record gives no match \
                 token and no Bloom encoding and cannot be linked",
            ),
            LineFault::NotUtf8 => f.write_str(
                "bytes that are not UTF-8; if the export is Latin-1 or Windows-1252, \
                 set encoding = \"latin1\" in the schema",
            ),
            LineFault::Csv(message) => write!(f, "CSV: {message}"),
        }
    }
}
