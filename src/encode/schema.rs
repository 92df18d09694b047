//! The agency schema file (TOML, `docs/SCHEMA.md`): which CSV column holds which
//! field, how dates are written, how the agency's category codes map onto the
//! v1 vocabulary, the national-id check, the delimiter and the text encoding.
//!
//! Loading validates everything that can be checked without data: unknown keys
//! (at any level), vocabulary terms in maps, defaults and constants, date
//! formats, the agency id. A schema that loads can only fail later on data.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Deserialize;

use super::EncodeError;
use super::dates::DateFormat;
use crate::vocab::{EventType, Region, ResidenceStatus, Role, Sex, UnknownTerm};

/// The national-id check of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum NationalIdCheck {
    /// Dutch BSN: nine digits passing the 11-proef; tagged `bsn` in tokens.
    #[serde(rename = "bsn")]
    Bsn,
    /// Another register's id, not checked; tagged `none` in tokens.
    #[serde(rename = "none")]
    None,
}

/// The text encoding of the CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TextEncoding {
    /// UTF-8 (a leading byte-order mark is ignored); other bytes are an error.
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1, decoded as Windows-1252 as the WHATWG Encoding Standard
    /// does for the label `latin1` (so `š`, `ž`, `Œ`, `€` in 0x80–0x9F survive).
    #[serde(rename = "latin1")]
    Latin1,
}

/// Where a category field comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategorySource<T> {
    /// Not in the export: the field's `unknown` term.
    Absent,
    /// A column, with the agency's codes mapped onto terms.
    Column {
        /// The header name.
        column: String,
        /// Agency code → term; empty means the cell holds the term itself.
        map: BTreeMap<String, T>,
        /// The term for a non-empty code not in `map`.
        default: Option<T>,
    },
    /// The same term for every record.
    Constant(T),
}

/// Where the event date comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDateSource {
    /// A column with its format.
    Column(String, DateFormat),
    /// The same date for every record.
    Constant(NaiveDate),
}

/// A loaded and validated schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The agency id: scopes record refs and names the submitting principal.
    agency: String,
    /// The CSV field delimiter (one ASCII byte).
    pub(crate) delimiter: u8,
    /// How to decode cell bytes.
    pub(crate) encoding: TextEncoding,
    /// How the national id is checked and tagged.
    pub(crate) national_id_check: NationalIdCheck,
    /// Column of the agency's own record id (required).
    pub(crate) record_id: String,
    /// Columns of the text fields, by field (absent when the export lacks them).
    pub(crate) text: TextColumns,
    /// Column and format of the date of birth, and whether a cell that is
    /// not a date counts as missing (`invalid = "missing"`) instead of making
    /// the line malformed.
    pub(crate) date_of_birth: Option<(String, DateFormat, bool)>,
    /// Event date source (required).
    pub(crate) event_date: EventDateSource,
    /// Event type source (required; never `Absent`).
    pub(crate) event_type: CategorySource<EventType>,
    /// Role source (required; never `Absent`).
    pub(crate) role: CategorySource<Role>,
    /// Registered sex.
    pub(crate) sex: CategorySource<Sex>,
    /// Region of residence.
    pub(crate) region: CategorySource<Region>,
    /// Residence-status category.
    pub(crate) residence_status: CategorySource<ResidenceStatus>,
}

/// The optional free-text columns of a schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextColumns {
    /// All given names, or initials.
    pub given_names: Option<String>,
    /// The tussenvoegsel.
    pub surname_prefix: Option<String>,
    /// The surname in use (may hold a prefix or a double name).
    pub surname: Option<String>,
    /// The surname at birth (geslachtsnaam).
    pub birth_surname: Option<String>,
    /// BSN or another register's id.
    pub national_id: Option<String>,
    /// Postal code.
    pub postcode: Option<String>,
    /// House number with optional addition.
    pub house_number: Option<String>,
    /// Street: accepted so exports can declare it; no v1 rule uses it.
    pub street: Option<String>,
    /// Place of residence.
    pub place_of_residence: Option<String>,
    /// Place of birth.
    pub place_of_birth: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    version: u32,
    agency: String,
    delimiter: Option<String>,
    encoding: Option<TextEncoding>,
    national_id_check: Option<NationalIdCheck>,
    fields: FieldsFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsFile {
    record_id: Option<FieldFile>,
    given_names: Option<FieldFile>,
    surname_prefix: Option<FieldFile>,
    surname: Option<FieldFile>,
    birth_surname: Option<FieldFile>,
    date_of_birth: Option<FieldFile>,
    sex: Option<FieldFile>,
    national_id: Option<FieldFile>,
    postcode: Option<FieldFile>,
    house_number: Option<FieldFile>,
    street: Option<FieldFile>,
    place_of_residence: Option<FieldFile>,
    place_of_birth: Option<FieldFile>,
    event_date: Option<FieldFile>,
    event_type: Option<FieldFile>,
    role: Option<FieldFile>,
    region: Option<FieldFile>,
    residence_status: Option<FieldFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    column: Option<String>,
    value: Option<String>,
    format: Option<String>,
    map: Option<BTreeMap<String, String>>,
    default: Option<String>,
    /// `date_of_birth` only: `"error"` (default) or `"missing"`.
    invalid: Option<String>,
}

/// What a field may carry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Date,
    EventDate,
    Category,
}

impl FieldFile {
    /// Checks that only the keys allowed for the field's kind are present.
    fn check_keys(&self, field: &str, kind: Kind) -> Result<(), String> {
        let misplaced = |key: &str, allowed: &str| {
            Err(format!(
                "fields.{field}: `{key}` is only allowed for {allowed}"
            ))
        };
        match (&self.column, &self.value) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "fields.{field}: give either `column` or `value`, not both"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "fields.{field}: needs `column` (or `value` for a constant)"
                ));
            }
            (None, Some(_)) if !matches!(kind, Kind::Category | Kind::EventDate) => {
                return misplaced("value", "category fields and event_date");
            }
            _ => {}
        }
        if self.format.is_some() && !matches!(kind, Kind::Date | Kind::EventDate) {
            return misplaced("format", "date fields");
        }
        if self.value.is_some() && self.format.is_some() {
            return Err(format!(
                "fields.{field}: a constant `value` takes no `format`"
            ));
        }
        if (self.map.is_some() || self.default.is_some()) && kind != Kind::Category {
            return misplaced("map/default", "category fields");
        }
        if self.invalid.is_some() && kind != Kind::Date {
            return misplaced("invalid", "date_of_birth");
        }
        if self.value.is_some() && (self.map.is_some() || self.default.is_some()) {
            return Err(format!(
                "fields.{field}: a constant `value` takes no `map` or `default`"
            ));
        }
        Ok(())
    }
}

impl Schema {
    /// Reads and validates a schema file.
    ///
    /// # Errors
    /// [`EncodeError::SchemaIo`] if unreadable; [`EncodeError::Schema`] for TOML
    /// syntax, unknown keys, a wrong version, a bad agency id or delimiter, a
    /// date format or vocabulary term that is not allowed, a missing required field.
    pub fn load(path: &Path) -> Result<Schema, EncodeError> {
        let text = std::fs::read_to_string(path).map_err(|source| EncodeError::SchemaIo {
            path: path.to_path_buf(),
            source,
        })?;
        Schema::from_toml(&text).map_err(|message| EncodeError::Schema {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and validates schema text (what [`Schema::load`] does after reading).
    ///
    /// # Errors
    /// A message naming the offending key or term.
    pub fn from_toml(text: &str) -> Result<Schema, String> {
        let file: SchemaFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.version != 1 {
            return Err(format!(
                "version {} is not supported (only 1)",
                file.version
            ));
        }
        let agency_ok = (1..=32).contains(&file.agency.len())
            && file
                .agency
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !agency_ok {
            return Err(format!(
                "agency {:?} must match [a-z0-9-]{{1,32}}",
                file.agency
            ));
        }
        let delimiter = match file.delimiter.as_deref() {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() && !matches!(d, "\"" | "\n" | "\r") => {
                d.as_bytes()[0]
            }
            Some(d) => return Err(format!("delimiter {d:?} must be one ASCII character")),
        };
        let f = file.fields;
        let text = |field: &str, spec: Option<FieldFile>| -> Result<Option<String>, String> {
            spec.map(|s| {
                s.check_keys(field, Kind::Text)
                    .map(|()| s.column.unwrap_or_default())
            })
            .transpose()
        };
        let record_id = text("record_id", f.record_id)?
            .ok_or_else(|| "fields.record_id is required".to_string())?;
        let date_of_birth = f
            .date_of_birth
            .map(|s| -> Result<_, String> {
                s.check_keys("date_of_birth", Kind::Date)?;
                let invalid_is_missing = match s.invalid.as_deref() {
                    None | Some("error") => false,
                    Some("missing") => true,
                    Some(other) => {
                        return Err(format!(
                            "fields.date_of_birth: invalid = {other:?}; use \"error\" or \"missing\""
                        ));
                    }
                };
                Ok((
                    s.column.unwrap_or_default(),
                    date_format(s.format.as_deref())?,
                    invalid_is_missing,
                ))
            })
            .transpose()?;
        let event_date = match f.event_date {
            None => return Err("fields.event_date is required".to_string()),
            Some(s) => {
                s.check_keys("event_date", Kind::EventDate)?;
                match (s.column, s.value) {
                    (Some(column), _) => {
                        EventDateSource::Column(column, date_format(s.format.as_deref())?)
                    }
                    (None, Some(value)) => EventDateSource::Constant(
                        NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| {
                            format!("fields.event_date: value {value:?} is not a YYYY-MM-DD date")
                        })?,
                    ),
                    (None, None) => missing_source("event_date")?,
                }
            }
        };
        let event_type = category("event_type", f.event_type)?;
        let role = category("role", f.role)?;
        for (field, absent) in [
            ("event_type", event_type == CategorySource::Absent),
            ("role", role == CategorySource::Absent),
        ] {
            if absent {
                return Err(format!("fields.{field} is required"));
            }
        }
        Ok(Schema {
            agency: file.agency,
            delimiter,
            encoding: file.encoding.unwrap_or(TextEncoding::Utf8),
            national_id_check: file.national_id_check.unwrap_or(NationalIdCheck::Bsn),
            record_id,
            text: TextColumns {
                given_names: text("given_names", f.given_names)?,
                surname_prefix: text("surname_prefix", f.surname_prefix)?,
                surname: text("surname", f.surname)?,
                birth_surname: text("birth_surname", f.birth_surname)?,
                national_id: text("national_id", f.national_id)?,
                postcode: text("postcode", f.postcode)?,
                house_number: text("house_number", f.house_number)?,
                street: text("street", f.street)?,
                place_of_residence: text("place_of_residence", f.place_of_residence)?,
                place_of_birth: text("place_of_birth", f.place_of_birth)?,
            },
            date_of_birth,
            event_date,
            event_type,
            role,
            sex: category("sex", f.sex)?,
            region: category("region", f.region)?,
            residence_status: category("residence_status", f.residence_status)?,
        })
    }

    /// The agency id (`[a-z0-9-]{1,32}`).
    pub fn agency(&self) -> &str {
        &self.agency
    }

    /// The national-id check that applies to this export.
    pub fn national_id_check(&self) -> NationalIdCheck {
        self.national_id_check
    }

    /// Every (field, column) pair the schema reads, in schema field order; the
    /// header must contain each column.
    pub fn columns(&self) -> Vec<(&'static str, &str)> {
        let t = &self.text;
        let mut columns = vec![("record_id", self.record_id.as_str())];
        let optional = [
            ("given_names", &t.given_names),
            ("surname_prefix", &t.surname_prefix),
            ("surname", &t.surname),
            ("birth_surname", &t.birth_surname),
            ("national_id", &t.national_id),
            ("postcode", &t.postcode),
            ("house_number", &t.house_number),
            ("street", &t.street),
            ("place_of_residence", &t.place_of_residence),
            ("place_of_birth", &t.place_of_birth),
        ];
        columns.extend(
            optional
                .into_iter()
                .filter_map(|(field, column)| column.as_deref().map(|c| (field, c))),
        );
        if let Some((column, _, _)) = &self.date_of_birth {
            columns.push(("date_of_birth", column));
        }
        if let EventDateSource::Column(column, _) = &self.event_date {
            columns.push(("event_date", column));
        }
        let categories = [
            ("event_type", self.event_type.column()),
            ("role", self.role.column()),
            ("sex", self.sex.column()),
            ("region", self.region.column()),
            ("residence_status", self.residence_status.column()),
        ];
        columns.extend(
            categories
                .into_iter()
                .filter_map(|(field, column)| column.map(|c| (field, c))),
        );
        columns
    }
}

impl<T> CategorySource<T> {
    /// The column, when the field is read from one.
    pub fn column(&self) -> Option<&str> {
        match self {
            CategorySource::Column { column, .. } => Some(column),
            _ => None,
        }
    }
}

fn missing_source<T>(field: &str) -> Result<T, String> {
    Err(format!("fields.{field}: needs `column` or `value`"))
}

fn date_format(format: Option<&str>) -> Result<DateFormat, String> {
    format.map_or_else(|| Ok(DateFormat::default()), DateFormat::parse)
}

fn category<T>(field: &str, spec: Option<FieldFile>) -> Result<CategorySource<T>, String>
where
    T: FromStr<Err = UnknownTerm>,
{
    let Some(spec) = spec else {
        return Ok(CategorySource::Absent);
    };
    spec.check_keys(field, Kind::Category)?;
    let term = |text: &str, what: &str| {
        text.parse::<T>()
            .map_err(|e| format!("fields.{field}: {what}: {e}"))
    };
    match (spec.column, spec.value) {
        (Some(column), _) => {
            let map = spec
                .map
                .unwrap_or_default()
                .into_iter()
                .map(|(code, target)| {
                    Ok((
                        code.trim().to_string(),
                        term(&target, &format!("map[{code:?}]"))?,
                    ))
                })
                .collect::<Result<BTreeMap<_, _>, String>>()?;
            let default = spec.default.map(|d| term(&d, "default")).transpose()?;
            Ok(CategorySource::Column {
                column,
                map,
                default,
            })
        }
        (None, Some(value)) => Ok(CategorySource::Constant(term(&value, "value")?)),
        (None, None) => missing_source(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        version = 1
        agency = "police"
        [fields]
        record_id = { column = "id" }
        event_date = { column = "datum", format = "%d-%m-%Y" }
        event_type = { value = "assault" }
        role = { column = "rol", map = { SL = "victim" }, default = "suspect" }
    "#;

    /// A minimal schema loads with the documented defaults.
    #[test]
    fn minimal_schema_defaults() {
        let schema = Schema::from_toml(MINIMAL).unwrap();
        assert_eq!(schema.agency(), "police");
        assert_eq!(schema.delimiter, b',');
        assert_eq!(schema.encoding, TextEncoding::Utf8);
        assert_eq!(schema.national_id_check(), NationalIdCheck::Bsn);
        assert_eq!(schema.sex, CategorySource::Absent);
        assert_eq!(
            schema.columns(),
            [
                ("record_id", "id"),
                ("event_date", "datum"),
                ("role", "rol")
            ]
        );
    }

    /// Unknown keys at the top level and inside a field are refused by name.
    #[test]
    fn unknown_keys_are_named() {
        let top = format!("colour = \"red\"\n{MINIMAL}");
        assert!(Schema::from_toml(&top).unwrap_err().contains("colour"));
        let inner = MINIMAL.replace("{ column = \"id\" }", "{ column = \"id\", colum = \"x\" }");
        assert!(Schema::from_toml(&inner).unwrap_err().contains("colum"));
        let field = MINIMAL.replace("[fields]", "[fields]\nshoe_size = { column = \"s\" }");
        assert!(Schema::from_toml(&field).unwrap_err().contains("shoe_size"));
    }

    /// Vocabulary terms in maps, defaults and constants are checked at load.
    #[test]
    fn unknown_terms_are_refused() {
        let bad = MINIMAL.replace("\"victim\"", "\"victum\"");
        let err = Schema::from_toml(&bad).unwrap_err();
        assert!(err.contains("victum") && err.contains("role"), "{err}");
        let bad = MINIMAL.replace("\"assault\"", "\"burglary\"");
        assert!(Schema::from_toml(&bad).unwrap_err().contains("burglary"));
    }

    /// Misplaced keys, bad agency ids, delimiters and formats are refused.
    #[test]
    fn structural_errors() {
        let cases = [
            MINIMAL.replace(
                "{ column = \"id\" }",
                "{ column = \"id\", format = \"%Y\" }",
            ),
            MINIMAL.replace("\"police\"", "\"Police\""),
            MINIMAL.replace("version = 1", "version = 1\ndelimiter = \";;\""),
            MINIMAL.replace("%d-%m-%Y", "%d-%m"),
            MINIMAL.replace("version = 1", "version = 2"),
            MINIMAL.replace(
                "role = { column = \"rol\", map = { SL = \"victim\" }, default = \"suspect\" }",
                "",
            ),
        ];
        for case in cases {
            assert!(Schema::from_toml(&case).is_err(), "accepted:\n{case}");
        }
    }
}
