//! [`RecordReader`]: streams an agency CSV through its schema and the
//! [`Encoder`], one line at a time, in memory bounded by the longest line.
//!
//! The header is checked against the schema before any data line is read, so
//! a schema naming a column the export lacks fails at once. Each data line
//! yields an [`EncodedRecord`] or a [`LineError`] naming the file, the line
//! and the field — never the value (except a category code).

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::dates::{self, BirthDate, DateCell, DateFormat};
use super::encoder::{EncodeBuffers, Encoder, RegisteredEvent};
use super::normalise::RawPerson;
use super::record::EncodedRecord;
use super::schema::{CategorySource, EventDateSource, Schema, TextEncoding};
use super::{EncodeError, LineError, LineFault};
use crate::vocab::{Region, ResidenceStatus, Sex, UnknownTerm};

/// Column indices of the schema's fields in this file's header.
#[derive(Debug, Clone, Default)]
struct Columns {
    record_id: usize,
    given_names: Option<usize>,
    surname_prefix: Option<usize>,
    surname: Option<usize>,
    birth_surname: Option<usize>,
    national_id: Option<usize>,
    postcode: Option<usize>,
    house_number: Option<usize>,
    place_of_residence: Option<usize>,
    place_of_birth: Option<usize>,
    date_of_birth: Option<usize>,
    event_date: Option<usize>,
    event_type: Option<usize>,
    role: Option<usize>,
    sex: Option<usize>,
    region: Option<usize>,
    residence_status: Option<usize>,
}

/// A streaming reader of one agency CSV that yields encoded records.
///
/// Iterating yields, per data line, `Ok(EncodedRecord)` or `Err(LineError)`.
/// After an error that is not [skippable](LineError::is_skippable) (wrong text
/// encoding, I/O) the iterator ends.
pub struct RecordReader<'e, R: Read> {
    /// The CSV reader, positioned after the header.
    csv: csv::Reader<R>,
    /// Turns a raw line into a record; shared with worker threads.
    lines: LineEncoder<'e>,
    /// Reused line buffer (no allocation per line for the raw bytes).
    line: csv::ByteRecord,
    /// Reused encoding buffers.
    buffers: EncodeBuffers,
    /// Set after the end of input or a fatal error.
    done: bool,
}

/// Encodes raw CSV lines of one file: the schema's column positions and the
/// encoder. `Sync`, so several threads can encode lines read by one reader
/// ([`super::pipeline`]).
#[derive(Debug, Clone)]
pub struct LineEncoder<'e> {
    /// The encoder (keys, schema).
    encoder: &'e Encoder,
    /// The input's name for error messages.
    file: PathBuf,
    /// Where each field is.
    columns: Columns,
}

impl<'e> RecordReader<'e, File> {
    /// Opens a CSV file and checks its header.
    ///
    /// # Errors
    /// [`EncodeError::InputIo`] if it cannot be opened; otherwise as [`RecordReader::new`].
    pub fn open(encoder: &'e Encoder, path: &Path) -> Result<Self, EncodeError> {
        let file = File::open(path).map_err(|source| EncodeError::InputIo {
            path: path.to_path_buf(),
            source,
        })?;
        RecordReader::new(encoder, file, path)
    }
}

impl<'e, R: Read> RecordReader<'e, R> {
    /// Reads and checks the header of `input` (`name` is used in errors only).
    ///
    /// # Errors
    /// [`EncodeError::MissingColumn`] naming the first schema column the header
    /// lacks; [`EncodeError::Header`] for an empty input, a header that is not in
    /// the schema's text encoding, or a schema column that appears twice.
    pub fn new(encoder: &'e Encoder, input: R, name: &Path) -> Result<Self, EncodeError> {
        let schema = encoder.schema();
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(schema.delimiter)
            .has_headers(true)
            .flexible(false)
            .buffer_capacity(1 << 16)
            .from_reader(input);
        let header_error = |message: String| EncodeError::Header {
            path: name.to_path_buf(),
            message,
        };
        let raw_header = csv
            .byte_headers()
            .map_err(|e| header_error(e.to_string()))?
            .clone();
        if raw_header.is_empty() {
            return Err(header_error(
                "the file is empty; a header line is required".into(),
            ));
        }
        let mut names = Vec::with_capacity(raw_header.len());
        for (i, bytes) in raw_header.iter().enumerate() {
            let bytes = if i == 0 {
                bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
            } else {
                bytes
            };
            let text = decode(bytes, schema.encoding)
                .ok_or_else(|| header_error(format!("column {} {}", i + 1, LineFault::NotUtf8)))?;
            names.push(text.trim().to_string());
        }
        let columns = resolve_columns(schema, &names, name)?;
        Ok(RecordReader {
            csv,
            lines: LineEncoder {
                encoder,
                file: name.to_path_buf(),
                columns,
            },
            line: csv::ByteRecord::new(),
            buffers: EncodeBuffers::default(),
            done: false,
        })
    }

    /// Bytes of input consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.csv.position().byte()
    }

    /// The line encoder, to encode lines from [`RecordReader::read_line`] elsewhere.
    pub fn line_encoder(&self) -> &LineEncoder<'e> {
        &self.lines
    }

    /// Reads the next raw data line without encoding it: `None` at the end of
    /// input or after a fatal error; an `Err` for a line with the wrong number
    /// of fields (skippable) or a CSV read failure (fatal).
    pub fn read_line(&mut self) -> Option<Result<csv::ByteRecord, LineError>> {
        let mut line = csv::ByteRecord::new();
        self.read_line_into(&mut line)
            .map(|read| read.map(|()| line))
    }

    /// [`RecordReader::read_line`] into a caller's buffer, whose allocation
    /// is reused (what it held before is replaced).
    pub fn read_line_into(&mut self, line: &mut csv::ByteRecord) -> Option<Result<(), LineError>> {
        if self.done {
            return None;
        }
        match self.csv.read_byte_record(line) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => Some(Ok(())),
            Err(error) => Some(Err(self.read_error(&error))),
        }
    }

    /// Converts a CSV reader error; marks the reader done when it is fatal.
    fn read_error(&mut self, error: &csv::Error) -> LineError {
        let line = error
            .position()
            .map_or_else(|| self.csv.position().line(), |p| p.line());
        let fault = match error.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => LineFault::FieldCount {
                expected: *expected_len,
                found: *len,
            },
            _ => {
                self.done = true;
                LineFault::Csv(error.to_string())
            }
        };
        self.lines.line_error(line, None, fault)
    }
}

impl LineEncoder<'_> {
    fn line_error(&self, line: u64, field: Option<&'static str>, fault: LineFault) -> LineError {
        LineError {
            file: self.file.clone(),
            line,
            field,
            fault,
        }
    }

    /// Decodes one cell of the current line; `None` when the schema has no
    /// column for the field.
    fn cell<'r>(
        &self,
        record: &'r csv::ByteRecord,
        text: Option<&'r str>,
        field: &'static str,
        index: Option<usize>,
    ) -> Result<Option<Cow<'r, str>>, LineError> {
        let Some((i, bytes)) = index.and_then(|i| Some((i, record.get(i)?))) else {
            return Ok(None);
        };
        // A line whose bytes are valid text as a whole (`text`, checked once
        // by `line_text`) lends its cells without a check per cell; a cell
        // that does not fall on character boundaries is decoded on its own.
        if let Some(cell) = text.and_then(|line| line.get(record.range(i)?)) {
            return Ok(Some(Cow::Borrowed(cell)));
        }
        let line = record.position().map_or(0, |p| p.line());
        decode(bytes, self.encoder.schema().encoding)
            .map(Some)
            .ok_or_else(|| self.line_error(line, Some(field), LineFault::NotUtf8))
    }

    /// Resolves one category field of the current line through its source.
    fn category<T>(
        &self,
        (record, text): (&csv::ByteRecord, Option<&str>),
        field: &'static str,
        (source, index): (&CategorySource<T>, Option<usize>),
        when_empty: Option<T>,
    ) -> Result<T, LineError>
    where
        T: Copy + FromStr<Err = UnknownTerm>,
    {
        let cell = self.cell(record, text, field, index)?;
        resolve(source, cell, when_empty).map_err(|fault| {
            let line = record.position().map_or(0, |p| p.line());
            self.line_error(line, Some(field), fault)
        })
    }

    /// Encodes one raw data line (as read by [`RecordReader::read_line`]).
    ///
    /// # Errors
    /// A [`LineError`] naming the line and field.
    pub fn encode(&self, record: &csv::ByteRecord) -> Result<EncodedRecord, LineError> {
        self.encode_reusing(record, &mut EncodeBuffers::default())
    }

    /// [`LineEncoder::encode`] with one thread's working buffers, reused
    /// from line to line ([`Encoder::encode_reusing`]).
    ///
    /// # Errors
    /// A [`LineError`] naming the line and field.
    pub fn encode_reusing(
        &self,
        record: &csv::ByteRecord,
        buffers: &mut EncodeBuffers,
    ) -> Result<EncodedRecord, LineError> {
        let line = record.position().map_or(0, |p| p.line());
        let schema = self.encoder.schema();
        let fail = |field, fault| self.line_error(line, Some(field), fault);
        let text = line_text(record, schema.encoding);
        let cell = |field, index| self.cell(record, text, field, index);
        let c = &self.columns;
        let record_id = cell("record_id", Some(c.record_id))?.unwrap_or_default();
        let record_id = record_id.trim();
        if record_id.is_empty() {
            return Err(fail("record_id", LineFault::EmptyRequired));
        }
        let given_names = cell("given_names", c.given_names)?;
        let surname_prefix = cell("surname_prefix", c.surname_prefix)?;
        let surname = cell("surname", c.surname)?;
        let birth_surname = cell("birth_surname", c.birth_surname)?;
        let national_id = cell("national_id", c.national_id)?;
        let postcode = cell("postcode", c.postcode)?;
        let house_number = cell("house_number", c.house_number)?;
        let place_of_residence = cell("place_of_residence", c.place_of_residence)?;
        let place_of_birth = cell("place_of_birth", c.place_of_birth)?;
        let mut date_of_birth_unreadable = false;
        let date_of_birth = match (
            &schema.date_of_birth,
            cell("date_of_birth", c.date_of_birth)?,
        ) {
            (Some((_, format, invalid_is_missing)), Some(text)) => {
                match birth_date_cell(text.trim(), format) {
                    Ok(date) => date,
                    // `invalid = "missing"`: counted, and encoded without it.
                    Err(_) if *invalid_is_missing => {
                        date_of_birth_unreadable = true;
                        None
                    }
                    Err(fault) => return Err(fail("date_of_birth", fault)),
                }
            }
            _ => None,
        };
        let event_date = match &schema.event_date {
            EventDateSource::Constant(date) => *date,
            EventDateSource::Column(_, format) => {
                let text = cell("event_date", c.event_date)?.unwrap_or_default();
                event_date_cell(text.trim(), format).map_err(|fault| fail("event_date", fault))?
            }
        };
        let event = RegisteredEvent {
            date: event_date,
            event_type: self.category(
                (record, text),
                "event_type",
                (&schema.event_type, c.event_type),
                None,
            )?,
            role: self.category((record, text), "role", (&schema.role, c.role), None)?,
            region: self.category(
                (record, text),
                "region",
                (&schema.region, c.region),
                Some(Region::Unknown),
            )?,
            residence_status: self.category(
                (record, text),
                "residence_status",
                (&schema.residence_status, c.residence_status),
                Some(ResidenceStatus::Unknown),
            )?,
        };
        let raw = RawPerson {
            given_names: given_names.as_deref(),
            surname_prefix: surname_prefix.as_deref(),
            surname: surname.as_deref(),
            birth_surname: birth_surname.as_deref(),
            date_of_birth,
            sex: self.category(
                (record, text),
                "sex",
                (&schema.sex, c.sex),
                Some(Sex::Unknown),
            )?,
            national_id: national_id.as_deref(),
            postcode: postcode.as_deref(),
            house_number: house_number.as_deref(),
            place_of_residence: place_of_residence.as_deref(),
            place_of_birth: place_of_birth.as_deref(),
        };
        let mut encoded = self
            .encoder
            .encode_reusing(buffers, record_id, &raw, &event);
        encoded.date_of_birth_unreadable = date_of_birth_unreadable;
        // The service refuses such a record (`docs/ENCODING.md`): say so here,
        // on the agency's side, with the line, instead of failing a batch.
        if encoded.tokens.is_empty() && encoded.bloom.is_none() {
            return Err(self.line_error(line, None, LineFault::NothingToLink));
        }
        Ok(encoded)
    }
}

impl<R: Read> Iterator for RecordReader<'_, R> {
    type Item = Result<EncodedRecord, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.csv.read_byte_record(&mut self.line) {
            Ok(false) => {
                self.done = true;
                return None;
            }
            Ok(true) => self.lines.encode_reusing(&self.line, &mut self.buffers),
            Err(error) => Err(self.read_error(&error)),
        };
        if result.as_ref().is_err_and(|e| !e.is_skippable()) {
            self.done = true;
        }
        Some(result)
    }
}

/// Finds every schema column in the header.
fn resolve_columns(schema: &Schema, names: &[String], file: &Path) -> Result<Columns, EncodeError> {
    let mut columns = Columns::default();
    for (field, column) in schema.columns() {
        let mut found = names.iter().enumerate().filter(|(_, n)| *n == column);
        let Some((index, _)) = found.next() else {
            return Err(EncodeError::MissingColumn {
                path: file.to_path_buf(),
                column: column.to_string(),
                field,
            });
        };
        if found.next().is_some() {
            return Err(EncodeError::Header {
                path: file.to_path_buf(),
                message: format!("column {column:?} (schema field {field}) appears more than once"),
            });
        }
        let slot = match field {
            "record_id" => {
                columns.record_id = index;
                continue;
            }
            "given_names" => &mut columns.given_names,
            "surname_prefix" => &mut columns.surname_prefix,
            "surname" => &mut columns.surname,
            "birth_surname" => &mut columns.birth_surname,
            "national_id" => &mut columns.national_id,
            "postcode" => &mut columns.postcode,
            "house_number" => &mut columns.house_number,
            "place_of_residence" => &mut columns.place_of_residence,
            "place_of_birth" => &mut columns.place_of_birth,
            "date_of_birth" => &mut columns.date_of_birth,
            "event_date" => &mut columns.event_date,
            "event_type" => &mut columns.event_type,
            "role" => &mut columns.role,
            "sex" => &mut columns.sex,
            "region" => &mut columns.region,
            "residence_status" => &mut columns.residence_status,
            // `street` is declared but not used by rule set 2.
            _ => continue,
        };
        *slot = Some(index);
    }
    Ok(columns)
}

/// A date-of-birth cell: empty or placeholder → `None`.
fn birth_date_cell(text: &str, format: &DateFormat) -> Result<Option<BirthDate>, LineFault> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || LineFault::BadDate {
        format: format.as_str().to_string(),
    };
    match dates::birth_date(format.split(text).ok_or_else(bad)?) {
        DateCell::Missing => Ok(None),
        DateCell::Known(date) => Ok(Some(date)),
        DateCell::Invalid => Err(bad()),
    }
}

/// An event-date cell: required and full.
fn event_date_cell(text: &str, format: &DateFormat) -> Result<chrono::NaiveDate, LineFault> {
    if text.is_empty() {
        return Err(LineFault::EmptyRequired);
    }
    let bad = || LineFault::BadDate {
        format: format.as_str().to_string(),
    };
    match dates::event_date(format.split(text).ok_or_else(bad)?) {
        DateCell::Known(date) => date.full().ok_or_else(bad),
        DateCell::Missing => Err(LineFault::EmptyRequired),
        DateCell::Invalid => Err(bad()),
    }
}

/// Category codes longer than this are not echoed in errors (a mis-mapped
/// column could hold names).
const MAX_ECHOED_CODE: usize = 32;

/// Resolves a category cell through its source (`docs/SCHEMA.md`, "Category
/// fields"). `when_empty` is the term for an empty cell, `None` if required.
fn resolve<T>(
    source: &CategorySource<T>,
    cell: Option<Cow<'_, str>>,
    when_empty: Option<T>,
) -> Result<T, LineFault>
where
    T: Copy + FromStr<Err = UnknownTerm>,
{
    let (map, default) = match source {
        CategorySource::Constant(term) => return Ok(*term),
        CategorySource::Absent => return when_empty.ok_or(LineFault::EmptyRequired),
        CategorySource::Column { map, default, .. } => (map, default),
    };
    let code = cell.as_deref().unwrap_or_default().trim();
    if code.is_empty() {
        return when_empty.ok_or(LineFault::EmptyRequired);
    }
    let mapped = if map.is_empty() {
        code.parse().ok()
    } else {
        map.get(code).copied()
    };
    mapped.or(*default).ok_or_else(|| LineFault::UnmappedCode {
        code: if code.chars().count() <= MAX_ECHOED_CODE {
            code.to_string()
        } else {
            format!("({} characters, not shown)", code.chars().count())
        },
    })
}

/// The whole line as text when its bytes need no decoding: valid UTF-8 under
/// `encoding = "utf8"`, plain ASCII under `latin1` (where every other byte
/// maps to a different code point). `None` otherwise: cells are then decoded
/// one by one, so an error can name the field.
fn line_text(record: &csv::ByteRecord, encoding: TextEncoding) -> Option<&str> {
    let bytes = record.as_slice();
    match encoding {
        TextEncoding::Utf8 => std::str::from_utf8(bytes).ok(),
        TextEncoding::Latin1 => bytes
            .is_ascii()
            .then(|| std::str::from_utf8(bytes).ok())
            .flatten(),
    }
}

/// Decodes cell bytes: UTF-8 (borrowed; `None` if invalid) or Windows-1252.
fn decode(bytes: &[u8], encoding: TextEncoding) -> Option<Cow<'_, str>> {
    match encoding {
        TextEncoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        TextEncoding::Latin1 if bytes.is_ascii() => {
            std::str::from_utf8(bytes).ok().map(Cow::Borrowed)
        }
        TextEncoding::Latin1 => Some(Cow::Owned(bytes.iter().map(|b| windows_1252(*b)).collect())),
    }
}

/// Windows-1252 code points of bytes 0x80–0x9F (WHATWG Encoding Standard,
/// index-windows-1252); undefined bytes map to the C1 control of the same value.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn windows_1252(byte: u8) -> char {
    match byte {
        0x80..=0x9F => CP1252_HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Latin-1 bytes decode as Windows-1252, including š and é.
    #[test]
    fn latin1_is_windows_1252() {
        let decoded = decode(b"Jos\xe9 Ko\x9aer", TextEncoding::Latin1).unwrap();
        assert_eq!(decoded, "José Košer");
        assert!(decode(b"Jos\xe9", TextEncoding::Utf8).is_none());
    }
}
