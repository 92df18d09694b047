//! Agency profiles: who registers what, and how each agency writes it down.
//!
//! Each agency has its own export: Dutch column names, date formats,
//! delimiter, encoding, category codes, and its own set of identifying fields.
//! These structural differences are what an encoder must absorb with a schema
//! file, so the generator writes the matching `<agency>.schema.toml`
//! (`docs/SCHEMA.md`) next to each CSV. Each agency also has a *coverage*: the
//! probability that it registers an incident of a given type and role. An
//! agency that registers an incident records a date 0–7 days after the true
//! date, independently of the other agencies.
//!
//! Three built-in profiles exist — `police`, `care` and `victim-support` — and
//! every other agency name gets the generic profile (all fields, ISO-like
//! dates, vocabulary terms as codes).

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use rand::seq::IndexedRandom;

use super::errors::{FieldSet, Identity, IdentityField, PrefixStyle};
use super::events::Incident;
use super::places::Address;
use super::population::Person;
use crate::vocab::{EventType, Region, ResidenceStatus, Role, Sex};

/// Registration delay in days after the true date (0..=7) and its weight.
const DELAY_WEIGHTS: [(i32, u32); 8] = [
    (0, 35),
    (1, 20),
    (2, 12),
    (3, 10),
    (4, 8),
    (5, 6),
    (6, 5),
    (7, 4),
];

/// Attempts to find a registering agency for an incident that must be
/// registered before falling back to the agency with the highest coverage.
const FORCED_ATTEMPTS: usize = 64;

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    RecordId,
    NationalId,
    GivenNames,
    /// Only the first given name (the call name).
    FirstGivenName,
    SurnamePrefix,
    Surname,
    DateOfBirth,
    Sex,
    Street,
    HouseNumber,
    Postcode,
    PlaceOfResidence,
    PlaceOfBirth,
    Region,
    ResidenceStatus,
    EventDate,
    EventType,
    Role,
}

impl Column {
    /// The schema field this column maps to.
    fn field(self) -> &'static str {
        match self {
            Column::RecordId => "record_id",
            Column::NationalId => "national_id",
            Column::GivenNames | Column::FirstGivenName => "given_names",
            Column::SurnamePrefix => "surname_prefix",
            Column::Surname => "surname",
            Column::DateOfBirth => "date_of_birth",
            Column::Sex => "sex",
            Column::Street => "street",
            Column::HouseNumber => "house_number",
            Column::Postcode => "postcode",
            Column::PlaceOfResidence => "place_of_residence",
            Column::PlaceOfBirth => "place_of_birth",
            Column::Region => "region",
            Column::ResidenceStatus => "residence_status",
            Column::EventDate => "event_date",
            Column::EventType => "event_type",
            Column::Role => "role",
        }
    }

    fn identity_field(self) -> Option<IdentityField> {
        Some(match self {
            Column::NationalId => IdentityField::NationalId,
            Column::GivenNames | Column::FirstGivenName => IdentityField::GivenNames,
            Column::SurnamePrefix => IdentityField::SurnamePrefix,
            Column::Surname => IdentityField::Surname,
            Column::DateOfBirth => IdentityField::DateOfBirth,
            Column::Sex => IdentityField::Sex,
            Column::Street => IdentityField::Street,
            Column::HouseNumber => IdentityField::HouseNumber,
            Column::Postcode => IdentityField::Postcode,
            Column::PlaceOfResidence => IdentityField::PlaceOfResidence,
            Column::PlaceOfBirth => IdentityField::PlaceOfBirth,
            _ => return None,
        })
    }
}

/// An agency's own codes for one category; `None` in a profile means the
/// agency writes the vocabulary terms themselves.
type Codes<T> = &'static [(&'static str, T)];

/// Everything about one agency's registrations and export.
#[derive(Debug, Clone)]
pub(crate) struct AgencyProfile {
    /// Agency id: file names, schema `agency`, truth rows.
    pub(crate) id: String,
    /// Field delimiter of the CSV.
    pub(crate) delimiter: u8,
    /// Whether the CSV is written in ISO-8859-1 (characters outside it are
    /// transliterated, as legacy exports do).
    pub(crate) latin1: bool,
    columns: Vec<(&'static str, Column)>,
    date_of_birth_format: &'static str,
    event_date_format: &'static str,
    sex_codes: Option<Codes<Sex>>,
    region_codes: Option<Codes<Region>>,
    residence_codes: Option<Codes<ResidenceStatus>>,
    event_codes: Option<Codes<EventType>>,
    role_codes: Option<Codes<Role>>,
    /// Default term for unmapped event codes in the schema, if any.
    event_default: Option<EventType>,
    /// The role of every registration when the export has no role column.
    role_constant: Option<Role>,
    /// How the agency writes the tussenvoegsel.
    native_prefix_style: PrefixStyle,
    /// Share of records that state the place of birth.
    place_of_birth_share: f64,
    /// Registration probability per event type (vocabulary order) for victims
    /// and suspects.
    coverage: [[f64; 2]; 10],
    /// Record ids: prefix and zero-padded width of the sequence number.
    record_id_prefix: String,
    record_id_width: usize,
}

static POLICE_SEX: Codes<Sex> = &[
    ("M", Sex::Male),
    ("V", Sex::Female),
    ("X", Sex::Other),
    ("O", Sex::Unknown),
];
static CARE_SEX: Codes<Sex> = &[
    ("man", Sex::Male),
    ("vrouw", Sex::Female),
    ("anders", Sex::Other),
    ("onbekend", Sex::Unknown),
];
static VICTIM_SUPPORT_SEX: Codes<Sex> = &[
    ("Dhr.", Sex::Male),
    ("Mevr.", Sex::Female),
    ("Mx.", Sex::Other),
];
static POLICE_REGION: Codes<Region> = &[
    ("Drenthe", Region::Drenthe),
    ("Flevoland", Region::Flevoland),
    ("Fryslân", Region::Friesland),
    ("Gelderland", Region::Gelderland),
    ("Groningen", Region::Groningen),
    ("Limburg", Region::Limburg),
    ("Noord-Brabant", Region::NoordBrabant),
    ("Noord-Holland", Region::NoordHolland),
    ("Overijssel", Region::Overijssel),
    ("Utrecht", Region::Utrecht),
    ("Zeeland", Region::Zeeland),
    ("Zuid-Holland", Region::ZuidHolland),
    ("Buitenland", Region::Abroad),
    ("Onbekend", Region::Unknown),
];
static POLICE_RESIDENCE: Codes<ResidenceStatus> = &[
    ("NL", ResidenceStatus::Dutch),
    ("EU", ResidenceStatus::Eu),
    ("VVR", ResidenceStatus::NonEuResident),
    ("ASIEL", ResidenceStatus::Asylum),
    ("ZVV", ResidenceStatus::Undocumented),
    ("ONB", ResidenceStatus::Unknown),
];
static POLICE_EVENTS: Codes<EventType> = &[
    ("MH-SEKS", EventType::TraffickingSexual),
    ("MH-ARBEID", EventType::TraffickingLabour),
    ("MH-CRIMINEEL", EventType::TraffickingCriminal),
    ("MH-OVERIG", EventType::TraffickingOther),
    ("ZEDEN", EventType::SexualViolence),
    ("MISHANDELING", EventType::Assault),
    ("BEDREIGING", EventType::Threat),
    ("HUISELIJK", EventType::DomesticViolence),
    ("VERMOGEN", EventType::Property),
    ("OVERIG", EventType::Other),
];
static POLICE_ROLES: Codes<Role> = &[("SL", Role::Victim), ("VD", Role::Suspect)];
static CARE_EVENTS: Codes<EventType> = &[
    ("MH-S", EventType::TraffickingSexual),
    ("MH-A", EventType::TraffickingLabour),
    ("MH-C", EventType::TraffickingCriminal),
    ("MH-O", EventType::TraffickingOther),
    ("SG", EventType::SexualViolence),
    ("MISH", EventType::Assault),
    ("BEDR", EventType::Threat),
    ("HG", EventType::DomesticViolence),
    ("VERM", EventType::Property),
    ("OV", EventType::Other),
];
static VICTIM_SUPPORT_EVENTS: Codes<EventType> = &[
    (
        "mensenhandel - seksuele uitbuiting",
        EventType::TraffickingSexual,
    ),
    (
        "mensenhandel - arbeidsuitbuiting",
        EventType::TraffickingLabour,
    ),
    (
        "mensenhandel - criminele uitbuiting",
        EventType::TraffickingCriminal,
    ),
    ("mensenhandel - overig", EventType::TraffickingOther),
    ("zedendelict", EventType::SexualViolence),
    ("mishandeling", EventType::Assault),
    ("bedreiging", EventType::Threat),
    ("huiselijk geweld", EventType::DomesticViolence),
    ("vermogensdelict", EventType::Property),
    ("overig", EventType::Other),
];

/// Coverage rows: victim probability per event type (vocabulary order), and
/// one suspect probability for all types.
const fn coverage(victims: [f64; 10], suspects: f64) -> [[f64; 2]; 10] {
    let mut table = [[0.0; 2]; 10];
    let mut i = 0;
    while i < 10 {
        table[i] = [victims[i], suspects];
        i += 1;
    }
    table
}

impl AgencyProfile {
    /// The profile for an agency id: a built-in one for `police`, `care` and
    /// `victim-support`, the generic one for any other id.
    pub(crate) fn for_agency(id: &str) -> AgencyProfile {
        match id {
            "police" => AgencyProfile::police(),
            "care" => AgencyProfile::care(),
            "victim-support" => AgencyProfile::victim_support(),
            other => AgencyProfile::generic(other),
        }
    }

    /// Police: every type, victims and suspects; BSN, all name fields with a
    /// separate tussenvoegsel column, address, region and residence status.
    fn police() -> AgencyProfile {
        AgencyProfile {
            id: "police".into(),
            delimiter: b',',
            latin1: false,
            columns: vec![
                ("registratienummer", Column::RecordId),
                ("bsn", Column::NationalId),
                ("voornamen", Column::GivenNames),
                ("voorvoegsel", Column::SurnamePrefix),
                ("achternaam", Column::Surname),
                ("geboortedatum", Column::DateOfBirth),
                ("geslacht", Column::Sex),
                ("straatnaam", Column::Street),
                ("huisnummer", Column::HouseNumber),
                ("postcode", Column::Postcode),
                ("woonplaats", Column::PlaceOfResidence),
                ("geboorteplaats", Column::PlaceOfBirth),
                ("provincie", Column::Region),
                ("verblijfsstatus", Column::ResidenceStatus),
                ("pleegdatum", Column::EventDate),
                ("feitcode", Column::EventType),
                ("rol", Column::Role),
            ],
            date_of_birth_format: "%Y%m%d",
            event_date_format: "%Y%m%d",
            sex_codes: Some(POLICE_SEX),
            region_codes: Some(POLICE_REGION),
            residence_codes: Some(POLICE_RESIDENCE),
            event_codes: Some(POLICE_EVENTS),
            role_codes: Some(POLICE_ROLES),
            event_default: Some(EventType::Other),
            role_constant: None,
            native_prefix_style: PrefixStyle::Separate,
            place_of_birth_share: 1.0,
            coverage: coverage(
                [0.70, 0.55, 0.65, 0.60, 0.55, 0.75, 0.65, 0.60, 0.85, 0.50],
                0.90,
            ),
            record_id_prefix: "BVH".into(),
            record_id_width: 9,
        }
    }

    /// Care: victims, mainly of trafficking, domestic and sexual violence; a
    /// Latin-1 export with `;`, the prefix written after the surname.
    fn care() -> AgencyProfile {
        AgencyProfile {
            id: "care".into(),
            delimiter: b';',
            latin1: true,
            columns: vec![
                ("dossiernummer", Column::RecordId),
                ("bsn", Column::NationalId),
                ("voornamen", Column::GivenNames),
                ("achternaam", Column::Surname),
                ("geboortedatum", Column::DateOfBirth),
                ("geslacht", Column::Sex),
                ("postcode", Column::Postcode),
                ("huisnummer", Column::HouseNumber),
                ("woonplaats", Column::PlaceOfResidence),
                ("aanmelddatum", Column::EventDate),
                ("problematiek", Column::EventType),
            ],
            date_of_birth_format: "%Y-%m-%d",
            event_date_format: "%d/%m/%Y",
            sex_codes: Some(CARE_SEX),
            region_codes: None,
            residence_codes: None,
            event_codes: Some(CARE_EVENTS),
            role_codes: None,
            event_default: None,
            role_constant: Some(Role::Victim),
            native_prefix_style: PrefixStyle::After,
            place_of_birth_share: 0.0,
            coverage: coverage(
                [0.60, 0.50, 0.55, 0.50, 0.35, 0.06, 0.05, 0.45, 0.02, 0.05],
                0.0,
            ),
            record_id_prefix: "ZD-".into(),
            record_id_width: 8,
        }
    }

    /// Victim support: victims only, no BSN, the first given name only, the
    /// place of birth on some records.
    fn victim_support() -> AgencyProfile {
        AgencyProfile {
            id: "victim-support".into(),
            delimiter: b',',
            latin1: false,
            columns: vec![
                ("clientnummer", Column::RecordId),
                ("roepnaam", Column::FirstGivenName),
                ("tussenvoegsel", Column::SurnamePrefix),
                ("achternaam", Column::Surname),
                ("geboortedatum", Column::DateOfBirth),
                ("aanhef", Column::Sex),
                ("postcode", Column::Postcode),
                ("woonplaats", Column::PlaceOfResidence),
                ("geboorteplaats", Column::PlaceOfBirth),
                ("datum_delict", Column::EventDate),
                ("soort_delict", Column::EventType),
            ],
            date_of_birth_format: "%d-%m-%Y",
            event_date_format: "%d-%m-%Y",
            sex_codes: Some(VICTIM_SUPPORT_SEX),
            region_codes: None,
            residence_codes: None,
            event_codes: Some(VICTIM_SUPPORT_EVENTS),
            role_codes: None,
            event_default: None,
            role_constant: Some(Role::Victim),
            native_prefix_style: PrefixStyle::Separate,
            place_of_birth_share: 0.4,
            coverage: coverage(
                [0.45, 0.40, 0.40, 0.40, 0.40, 0.35, 0.25, 0.30, 0.20, 0.10],
                0.0,
            ),
            record_id_prefix: "SHN".into(),
            record_id_width: 7,
        }
    }

    /// Any other agency: all fields, vocabulary terms as codes, victims and
    /// suspects of every type at coverage 0.3.
    fn generic(id: &str) -> AgencyProfile {
        AgencyProfile {
            id: id.to_string(),
            delimiter: b',',
            latin1: false,
            columns: vec![
                ("registratie", Column::RecordId),
                ("bsn", Column::NationalId),
                ("voornamen", Column::GivenNames),
                ("tussenvoegsel", Column::SurnamePrefix),
                ("achternaam", Column::Surname),
                ("geboortedatum", Column::DateOfBirth),
                ("geslacht", Column::Sex),
                ("postcode", Column::Postcode),
                ("huisnummer", Column::HouseNumber),
                ("woonplaats", Column::PlaceOfResidence),
                ("geboorteplaats", Column::PlaceOfBirth),
                ("datum", Column::EventDate),
                ("soort", Column::EventType),
                ("rol", Column::Role),
            ],
            date_of_birth_format: "%d/%m/%Y",
            event_date_format: "%Y-%m-%d",
            sex_codes: None,
            region_codes: None,
            residence_codes: None,
            event_codes: None,
            role_codes: None,
            event_default: None,
            role_constant: None,
            native_prefix_style: PrefixStyle::Separate,
            place_of_birth_share: 1.0,
            coverage: coverage([0.3; 10], 0.3),
            record_id_prefix: format!("{}-", id.to_uppercase()),
            record_id_width: 8,
        }
    }

    /// Probability that the agency registers an incident of this type and role.
    fn coverage_of(&self, event_type: EventType, role: Role) -> f64 {
        self.coverage[usize::from(event_type.code())][usize::from(role.code())]
    }

    /// The CSV header.
    pub(crate) fn header(&self) -> Vec<&'static str> {
        self.columns.iter().map(|(h, _)| *h).collect()
    }

    /// Index of the record-id column (filled in when the row is written).
    pub(crate) fn record_id_column(&self) -> usize {
        self.columns
            .iter()
            .position(|(_, c)| *c == Column::RecordId)
            .unwrap_or(0)
    }

    /// The record id with sequence number `sequence` (1, 2, ...).
    pub(crate) fn record_id(&self, sequence: u64) -> String {
        format!(
            "{}{:0width$}",
            self.record_id_prefix,
            sequence,
            width = self.record_id_width
        )
    }

    /// The identifying fields this export has.
    pub(crate) fn identity_fields(&self) -> FieldSet {
        let fields: Vec<IdentityField> = self
            .columns
            .iter()
            .filter_map(|(_, c)| c.identity_field())
            .collect();
        FieldSet::of(&fields)
    }

    /// How the agency writes the tussenvoegsel.
    pub(crate) fn native_prefix_style(&self) -> PrefixStyle {
        self.native_prefix_style
    }

    /// The person's true identifying values as this agency holds them at an
    /// address: fields the export lacks are empty, the call-name agency keeps
    /// only the first given name, and the place of birth appears on the
    /// agency's share of records (decided with `rng`).
    pub(crate) fn project<R: Rng>(
        &self,
        person: &Person,
        address: &Address,
        rng: &mut R,
    ) -> Identity {
        let has = |c: Column| self.columns.iter().any(|(_, x)| *x == c);
        let fill = |c: Column, value: &str| {
            if has(c) {
                value.to_string()
            } else {
                String::new()
            }
        };
        let given_names = if has(Column::FirstGivenName) {
            person
                .given_names
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            fill(Column::GivenNames, &person.given_names)
        };
        let states_birthplace = has(Column::PlaceOfBirth)
            && (self.place_of_birth_share >= 1.0 || rng.random_bool(self.place_of_birth_share));
        Identity {
            given_names,
            surname_prefix: person.surname_prefix.to_string(),
            surname: person.surname.clone(),
            prefix_style: self.native_prefix_style,
            date_of_birth: Some(person.date_of_birth),
            sex: person.sex,
            national_id: if has(Column::NationalId) {
                person.bsn.map(|b| format!("{b:09}")).unwrap_or_default()
            } else {
                String::new()
            },
            postcode: fill(Column::Postcode, &address.postcode),
            house_number: fill(Column::HouseNumber, &address.house_number),
            street: fill(Column::Street, &address.street),
            place_of_residence: fill(Column::PlaceOfResidence, address.place),
            place_of_birth: if states_birthplace {
                person.place_of_birth.to_string()
            } else {
                String::new()
            },
        }
    }

    /// One CSV row in the agency's own format (the record-id cell is left
    /// empty for the writer to fill).
    pub(crate) fn row(&self, identity: &Identity, event: &RegisteredEvent) -> Vec<String> {
        let (prefix_cell, surname_cell) = surname_cells(identity);
        self.columns
            .iter()
            .map(|(_, column)| match column {
                Column::RecordId => String::new(),
                Column::NationalId => identity.national_id.clone(),
                Column::GivenNames | Column::FirstGivenName => identity.given_names.clone(),
                Column::SurnamePrefix => prefix_cell.clone(),
                Column::Surname => surname_cell.clone(),
                Column::DateOfBirth => identity
                    .date_of_birth
                    .map(|d| format_date(d, self.date_of_birth_format))
                    .unwrap_or_default(),
                Column::Sex => code(self.sex_codes, identity.sex),
                Column::Street => identity.street.clone(),
                Column::HouseNumber => identity.house_number.clone(),
                Column::Postcode => identity.postcode.clone(),
                Column::PlaceOfResidence => identity.place_of_residence.clone(),
                Column::PlaceOfBirth => identity.place_of_birth.clone(),
                Column::Region => code(self.region_codes, event.region),
                Column::ResidenceStatus => code(self.residence_codes, event.residence_status),
                Column::EventDate => format_date(super::date_of(event.day), self.event_date_format),
                Column::EventType => code(self.event_codes, event.event_type),
                Column::Role => code(self.role_codes, event.role),
            })
            .collect()
    }

    /// The agency's schema file (`docs/SCHEMA.md`, version 1).
    pub(crate) fn schema_toml(&self) -> String {
        let mut out = String::new();
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# Schema of the synthetic export of agency {} (written by `veilink synth`).",
            self.id
        );
        let _ = writeln!(out, "version = 1");
        let _ = writeln!(out, "agency = {}", q(&self.id));
        let _ = writeln!(
            out,
            "delimiter = {}",
            q(&char::from(self.delimiter).to_string())
        );
        let encoding = if self.latin1 { "latin1" } else { "utf-8" };
        let _ = writeln!(out, "encoding = {}", q(encoding));
        if self.columns.iter().any(|(_, c)| *c == Column::NationalId) {
            let _ = writeln!(out, "national_id_check = \"bsn\"");
        }
        let _ = writeln!(out, "\n[fields]");
        for (header, column) in &self.columns {
            let mut spec = format!("column = {}", q(header));
            match column {
                Column::DateOfBirth => {
                    let _ = write!(spec, ", format = {}", q(self.date_of_birth_format));
                }
                Column::EventDate => {
                    let _ = write!(spec, ", format = {}", q(self.event_date_format));
                }
                Column::Sex => spec += &map_spec(self.sex_codes, None::<Sex>),
                Column::Region => spec += &map_spec(self.region_codes, Some(Region::Unknown)),
                Column::ResidenceStatus => {
                    spec += &map_spec(self.residence_codes, Some(ResidenceStatus::Unknown));
                }
                Column::EventType => spec += &map_spec(self.event_codes, self.event_default),
                Column::Role => spec += &map_spec(self.role_codes, None::<Role>),
                _ => {}
            }
            let _ = writeln!(out, "{} = {{ {spec} }}", column.field());
        }
        if let Some(role) = self.role_constant {
            let _ = writeln!(out, "role = {{ value = {} }}", q(role.as_str()));
        }
        out
    }
}

/// `, map = { ... }` and `, default = ...` for a category column (empty for
/// an agency that writes vocabulary terms).
fn map_spec<T: Copy + std::fmt::Display>(codes: Option<Codes<T>>, default: Option<T>) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let Some(codes) = codes else {
        return String::new();
    };
    let entries: Vec<String> = codes
        .iter()
        .map(|(code, term)| format!("{} = {}", q(code), q(&term.to_string())))
        .collect();
    let mut spec = format!(", map = {{ {} }}", entries.join(", "));
    if let Some(term) = default {
        spec += &format!(", default = {}", q(&term.to_string()));
    }
    spec
}

/// The agency's code for a term (the term itself without a code table; an
/// empty cell when the table has no code for it).
fn code<T: Copy + PartialEq + std::fmt::Display>(codes: Option<Codes<T>>, term: T) -> String {
    match codes {
        None => term.to_string(),
        Some(table) => table
            .iter()
            .find(|(_, t)| *t == term)
            .map(|(c, _)| (*c).to_string())
            .unwrap_or_default(),
    }
}

/// The (prefix column, surname column) cells for the identity's prefix style.
fn surname_cells(identity: &Identity) -> (String, String) {
    let prefix = identity.surname_prefix.as_str();
    let surname = identity.surname.as_str();
    if prefix.is_empty() {
        return (String::new(), surname.to_string());
    }
    match identity.prefix_style {
        PrefixStyle::Separate => (prefix.to_string(), surname.to_string()),
        PrefixStyle::Before => (String::new(), format!("{prefix} {surname}")),
        PrefixStyle::After => (String::new(), format!("{surname}, {prefix}")),
        PrefixStyle::AfterNoComma => (String::new(), format!("{surname} {prefix}")),
    }
}

/// Formats a date with `%Y`, `%m`, `%d` and literal characters.
pub(crate) fn format_date(date: NaiveDate, format: &str) -> String {
    let mut out = String::with_capacity(10);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Writing to a String cannot fail.
        let _ = match chars.next() {
            Some('Y') => write!(out, "{:04}", date.year()),
            Some('m') => write!(out, "{:02}", date.month()),
            Some('d') => write!(out, "{:02}", date.day()),
            Some(other) => write!(out, "%{other}"),
            None => write!(out, "%"),
        };
    }
    out
}

/// The event part of a registration as written by one agency.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegisteredEvent {
    /// Registered date (day number): the true date plus the agency's delay.
    pub(crate) day: i32,
    pub(crate) event_type: EventType,
    pub(crate) role: Role,
    /// Region of residence at the incident.
    pub(crate) region: Region,
    pub(crate) residence_status: ResidenceStatus,
}

/// One agency's registration of one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Registration {
    /// Index of the agency in the configured list.
    pub(crate) agency: usize,
    /// Index of the incident in the person's life course.
    pub(crate) incident: usize,
    /// Registered date (day number), possibly after the period.
    pub(crate) day: i32,
}

/// Decides which agencies register each incident and on which date. Each
/// agency registers independently with its coverage; an incident that must be
/// registered is redrawn until some agency does (at most [`FORCED_ATTEMPTS`]
/// times, then the agency with the highest coverage takes it), which samples
/// the agencies conditionally on at least one registering.
pub(crate) fn register<R: Rng>(
    incidents: &[Incident],
    profiles: &[AgencyProfile],
    rng: &mut R,
) -> Vec<Registration> {
    let mut registrations = Vec::new();
    for (index, incident) in incidents.iter().enumerate() {
        let probabilities: Vec<f64> = profiles
            .iter()
            .map(|p| p.coverage_of(incident.event_type, incident.role))
            .collect();
        let mut chosen: Vec<usize> = Vec::new();
        let attempts = if incident.forced { FORCED_ATTEMPTS } else { 1 };
        for _ in 0..attempts {
            chosen = (0..profiles.len())
                .filter(|&a| rng.random_bool(probabilities[a].clamp(0.0, 1.0)))
                .collect();
            if !chosen.is_empty() {
                break;
            }
        }
        if chosen.is_empty() && incident.forced {
            let best = (0..profiles.len())
                .filter(|&a| probabilities[a] > 0.0)
                .max_by(|&a, &b| {
                    probabilities[a]
                        .total_cmp(&probabilities[b])
                        .then(b.cmp(&a))
                });
            chosen.extend(best);
        }
        for agency in chosen {
            let delay = DELAY_WEIGHTS
                .choose_weighted(rng, |(_, w)| *w)
                .map_or(0, |(d, _)| *d);
            registrations.push(Registration {
                agency,
                incident: index,
                day: incident.day + delay,
            });
        }
    }
    registrations
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dates follow the agency formats, zero-padded.
    #[test]
    fn date_formats() {
        let date = NaiveDate::from_ymd_opt(1987, 3, 9).unwrap();
        assert_eq!(format_date(date, "%Y%m%d"), "19870309");
        assert_eq!(format_date(date, "%d-%m-%Y"), "09-03-1987");
        assert_eq!(format_date(date, "%d/%m/%Y"), "09/03/1987");
    }

    /// Surname cells follow the prefix style.
    #[test]
    fn prefix_styles() {
        let mut identity = Identity {
            given_names: "Jan".into(),
            surname_prefix: "de".into(),
            surname: "Vries".into(),
            prefix_style: PrefixStyle::Separate,
            date_of_birth: None,
            sex: Sex::Male,
            national_id: String::new(),
            postcode: String::new(),
            house_number: String::new(),
            street: String::new(),
            place_of_residence: String::new(),
            place_of_birth: String::new(),
        };
        assert_eq!(surname_cells(&identity), ("de".into(), "Vries".into()));
        identity.prefix_style = PrefixStyle::After;
        assert_eq!(
            surname_cells(&identity),
            (String::new(), "Vries, de".into())
        );
        identity.prefix_style = PrefixStyle::Before;
        assert_eq!(surname_cells(&identity), (String::new(), "de Vries".into()));
    }

    /// Every built-in code table covers every term the agency can write.
    #[test]
    fn code_tables_are_complete() {
        for id in ["police", "care", "victim-support"] {
            let p = AgencyProfile::for_agency(id);
            for t in EventType::ALL {
                assert!(!code(p.event_codes, *t).is_empty(), "{id} {t}");
            }
        }
        let police = AgencyProfile::for_agency("police");
        for r in Region::ALL {
            assert!(!code(police.region_codes, *r).is_empty());
        }
        for s in ResidenceStatus::ALL {
            assert!(!code(police.residence_codes, *s).is_empty());
        }
    }
}
