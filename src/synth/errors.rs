//! The error model: how a registration's identifying fields get corrupted.
//!
//! Real registrations disagree about the same person: typing errors, phonetic
//! spellings, a tussenvoegsel in the wrong place, a married name, a swapped day
//! and month, missing fields, placeholder values. Linkage quality can only be
//! measured against data that contain such errors at a known rate, so the
//! generator corrupts each record with this model and nothing else.
//!
//! **What the error rate R means.** Per registration (record): with probability
//! R the record is corrupted. A corrupted record gets 1, 2 or 3 errors with
//! probabilities 0.6, 0.3 and 0.1 (mean 1.5, [`ERRORS_PER_CORRUPTED_RECORD`]).
//! Each error's kind is drawn with the weights of [`ErrorKind::weight`] from
//! the kinds that apply to the record at that moment: a surname without
//! tussenvoegsel cannot have it moved or dropped, a person without a partner
//! gets no married name, a day above 12 cannot be swapped with the month, and
//! a field the agency lacks is never touched. So on a record where every kind
//! applies, kind k occurs about R × 1.5 × weight(k) times per record (slightly
//! less for kinds that an earlier error in the same record can make
//! inapplicable). Only identifying fields are corrupted; the event date, type
//! and role are never touched, so the true incidents stay recoverable.
//!
//! Structural differences between agencies (formats, which fields exist, how
//! the prefix is written, the Latin-1 export) are *not* errors: they exist at
//! every R, and at R = 0 every registration carries the true values.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use rand::seq::IndexedRandom;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::vocab::Sex;

/// The placeholder written for an unknown name.
pub const PLACEHOLDER_NAME: &str = "onbekend";
/// The placeholder some systems write for an unknown given name.
pub const PLACEHOLDER_INITIALS: &str = "NN";
/// The placeholder written for an unknown national id.
pub const PLACEHOLDER_NATIONAL_ID: &str = "000000000";

/// The placeholder written for an unknown date of birth (1900-01-01).
pub fn placeholder_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Number of errors in a corrupted record and its probability.
pub const ERRORS_PER_CORRUPTED_RECORD: [(usize, f64); 3] = [(1, 0.6), (2, 0.3), (3, 0.1)];

/// Mean number of errors in a corrupted record (1.5).
pub fn mean_errors_per_corrupted_record() -> f64 {
    ERRORS_PER_CORRUPTED_RECORD
        .iter()
        .map(|(n, p)| *n as f64 * p)
        .sum()
}

/// How the tussenvoegsel is written relative to the surname.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixStyle {
    /// In its own column (`de` | `Vries`).
    Separate,
    /// In the surname column, before the stem (`de Vries`).
    Before,
    /// In the surname column, after the stem with a comma (`Vries, de`).
    After,
    /// In the surname column, after the stem without a comma (`Vries de`).
    AfterNoComma,
}

/// The identifying fields of one registration, as one agency holds them
/// before its own formatting. Empty strings (and `None`) are missing values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Given names, space-separated (only the first at an agency that keeps
    /// only the call name).
    pub given_names: String,
    /// Tussenvoegsel in lower case (`van der`), empty when none.
    pub surname_prefix: String,
    /// Surname without the prefix, or a whole double name after a married-name
    /// error.
    pub surname: String,
    /// Where the prefix is written; the agency's own style unless an error moved it.
    pub prefix_style: PrefixStyle,
    /// Date of birth; 1 January for persons whose birth day is unknown.
    pub date_of_birth: Option<NaiveDate>,
    /// Registered sex.
    pub sex: Sex,
    /// BSN (nine digits) or empty.
    pub national_id: String,
    /// Postal code, Dutch `1234 AB` or foreign.
    pub postcode: String,
    /// House number with optional addition.
    pub house_number: String,
    /// Street name.
    pub street: String,
    /// Place of residence.
    pub place_of_residence: String,
    /// Place of birth (empty when this record does not state it).
    pub place_of_birth: String,
}

/// An identifying field an agency may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityField {
    /// Given names (or the first given name).
    GivenNames,
    /// A separate tussenvoegsel column.
    SurnamePrefix,
    /// Surname.
    Surname,
    /// Date of birth.
    DateOfBirth,
    /// Sex.
    Sex,
    /// National id (BSN).
    NationalId,
    /// Postcode.
    Postcode,
    /// House number.
    HouseNumber,
    /// Street.
    Street,
    /// Place of residence.
    PlaceOfResidence,
    /// Place of birth.
    PlaceOfBirth,
}

impl IdentityField {
    /// Every field, in a fixed order.
    pub const ALL: [IdentityField; 11] = [
        IdentityField::GivenNames,
        IdentityField::SurnamePrefix,
        IdentityField::Surname,
        IdentityField::DateOfBirth,
        IdentityField::Sex,
        IdentityField::NationalId,
        IdentityField::Postcode,
        IdentityField::HouseNumber,
        IdentityField::Street,
        IdentityField::PlaceOfResidence,
        IdentityField::PlaceOfBirth,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The set of identifying fields an agency's export has (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldSet(u16);

impl FieldSet {
    /// The set of the given fields.
    pub fn of(fields: &[IdentityField]) -> FieldSet {
        FieldSet(fields.iter().fold(0, |bits, f| bits | f.bit()))
    }

    /// Every field.
    pub fn all() -> FieldSet {
        FieldSet::of(&IdentityField::ALL)
    }

    /// Whether the set holds the field.
    pub fn contains(self, field: IdentityField) -> bool {
        self.0 & field.bit() != 0
    }
}

/// What the error model needs to know beyond the record itself.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// The fields the agency's export has; errors touch only these.
    pub fields: FieldSet,
    /// The agency's own way of writing the tussenvoegsel.
    pub native_prefix_style: PrefixStyle,
    /// The double name a married woman may use (`Jansen-de Vries`), if any.
    pub married_name: Option<&'a str>,
}

/// The kinds of error of issue 3, each with its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// A letter inserted into a name.
    TypoInsert,
    /// A letter deleted from a name.
    TypoDelete,
    /// A letter replaced by another.
    TypoSubstitute,
    /// Two adjacent letters swapped.
    TypoTranspose,
    /// A phonetic spelling variant: ij/y, ei/ij, ch/g, dt/t, d/dt, au/ou, ph/f, th/t, c/k, ks/x.
    Phonetic,
    /// The tussenvoegsel written in another place (`de Vries`, `Vries, de`, `Vries de`).
    PrefixMoved,
    /// The tussenvoegsel left out.
    PrefixDropped,
    /// A married woman registered under her double name (`Jansen-de Vries`).
    MarriedName,
    /// Day and month of the date of birth swapped.
    DayMonthSwap,
    /// An identifying field left empty.
    MissingField,
    /// A placeholder instead of the value (`onbekend`, `NN`, `1900-01-01`, `000000000`).
    Placeholder,
    /// Given names and surname written in each other's field.
    NamesSwapped,
    /// Upper/lower case changed, or diacritics dropped.
    CaseDiacritics,
}

impl ErrorKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::TypoInsert,
        ErrorKind::TypoDelete,
        ErrorKind::TypoSubstitute,
        ErrorKind::TypoTranspose,
        ErrorKind::Phonetic,
        ErrorKind::PrefixMoved,
        ErrorKind::PrefixDropped,
        ErrorKind::MarriedName,
        ErrorKind::DayMonthSwap,
        ErrorKind::MissingField,
        ErrorKind::Placeholder,
        ErrorKind::NamesSwapped,
        ErrorKind::CaseDiacritics,
    ];

    /// The weight of the kind among the errors of a corrupted record; the
    /// weights sum to 1.
    pub fn weight(self) -> f64 {
        match self {
            ErrorKind::TypoInsert | ErrorKind::TypoDelete | ErrorKind::TypoSubstitute => 0.10,
            ErrorKind::TypoTranspose => 0.08,
            ErrorKind::Phonetic => 0.10,
            ErrorKind::PrefixMoved => 0.06,
            ErrorKind::PrefixDropped => 0.05,
            ErrorKind::MarriedName => 0.05,
            ErrorKind::DayMonthSwap => 0.08,
            ErrorKind::MissingField => 0.10,
            ErrorKind::Placeholder => 0.06,
            ErrorKind::NamesSwapped => 0.04,
            ErrorKind::CaseDiacritics => 0.08,
        }
    }

    /// A short stable name (`typo_insert`, `phonetic`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::TypoInsert => "typo_insert",
            ErrorKind::TypoDelete => "typo_delete",
            ErrorKind::TypoSubstitute => "typo_substitute",
            ErrorKind::TypoTranspose => "typo_transpose",
            ErrorKind::Phonetic => "phonetic",
            ErrorKind::PrefixMoved => "prefix_moved",
            ErrorKind::PrefixDropped => "prefix_dropped",
            ErrorKind::MarriedName => "married_name",
            ErrorKind::DayMonthSwap => "day_month_swap",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::Placeholder => "placeholder",
            ErrorKind::NamesSwapped => "names_swapped",
            ErrorKind::CaseDiacritics => "case_diacritics",
        }
    }
}

/// Corrupts one record in place with probability `error_rate` and returns
/// the kinds of the errors applied, in order (empty when the record stays
/// clean). See the module documentation for the exact model.
pub fn corrupt<R: Rng + ?Sized>(
    identity: &mut Identity,
    context: &ErrorContext<'_>,
    error_rate: f64,
    rng: &mut R,
) -> Vec<ErrorKind> {
    if error_rate <= 0.0 || !rng.random_bool(error_rate.min(1.0)) {
        return Vec::new();
    }
    let roll: f64 = rng.random();
    let mut cumulative = 0.0;
    let mut count = ERRORS_PER_CORRUPTED_RECORD[0].0;
    for (n, p) in ERRORS_PER_CORRUPTED_RECORD {
        count = n;
        cumulative += p;
        if roll < cumulative {
            break;
        }
    }
    let mut applied = Vec::with_capacity(count);
    for _ in 0..count {
        let candidates: Vec<ErrorKind> = ErrorKind::ALL
            .into_iter()
            .filter(|k| applies(*k, identity, context))
            .collect();
        let Ok(kind) = candidates.choose_weighted(rng, |k| k.weight()) else {
            break;
        };
        let kind = *kind;
        apply(kind, identity, context, rng);
        applied.push(kind);
    }
    applied
}

/// A name field the error model may edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameField {
    Given,
    Surname,
}

fn name_text(identity: &Identity, field: NameField) -> &str {
    match field {
        NameField::Given => &identity.given_names,
        NameField::Surname => &identity.surname,
    }
}

fn name_mut(identity: &mut Identity, field: NameField) -> &mut String {
    match field {
        NameField::Given => &mut identity.given_names,
        NameField::Surname => &mut identity.surname,
    }
}

/// Name fields present in the export and holding a real (non-placeholder) name.
fn editable_names(identity: &Identity, context: &ErrorContext<'_>) -> Vec<NameField> {
    let mut fields = Vec::with_capacity(2);
    for (field, column) in [
        (NameField::Given, IdentityField::GivenNames),
        (NameField::Surname, IdentityField::Surname),
    ] {
        let text = name_text(identity, field);
        if context.fields.contains(column)
            && !text.is_empty()
            && text != PLACEHOLDER_NAME
            && text != PLACEHOLDER_INITIALS
        {
            fields.push(field);
        }
    }
    fields
}

fn applies(kind: ErrorKind, identity: &Identity, context: &ErrorContext<'_>) -> bool {
    let names = || editable_names(identity, context);
    let has_surname = context.fields.contains(IdentityField::Surname)
        && !identity.surname.is_empty()
        && identity.surname != PLACEHOLDER_NAME;
    match kind {
        ErrorKind::TypoInsert | ErrorKind::TypoSubstitute => names()
            .into_iter()
            .any(|f| name_text(identity, f).chars().count() >= 2),
        ErrorKind::TypoDelete => names()
            .into_iter()
            .any(|f| name_text(identity, f).chars().count() >= 3),
        ErrorKind::TypoTranspose => names()
            .into_iter()
            .any(|f| !transpose_positions(name_text(identity, f)).is_empty()),
        ErrorKind::Phonetic => names()
            .into_iter()
            .any(|f| !phonetic_sites(name_text(identity, f)).is_empty()),
        ErrorKind::PrefixMoved | ErrorKind::PrefixDropped => {
            has_surname && !identity.surname_prefix.is_empty()
        }
        ErrorKind::MarriedName => {
            has_surname && context.married_name.is_some_and(|m| m != identity.surname)
        }
        ErrorKind::DayMonthSwap => {
            context.fields.contains(IdentityField::DateOfBirth)
                && identity.date_of_birth.is_some_and(|d| {
                    d != placeholder_date() && d.day() <= 12 && d.day() != d.month()
                })
        }
        ErrorKind::MissingField => !missing_candidates(identity, context).is_empty(),
        ErrorKind::Placeholder => !placeholder_candidates(identity, context).is_empty(),
        ErrorKind::NamesSwapped => names().len() == 2 && identity.given_names != identity.surname,
        ErrorKind::CaseDiacritics => !names().is_empty(),
    }
}

fn apply<R: Rng + ?Sized>(
    kind: ErrorKind,
    identity: &mut Identity,
    context: &ErrorContext<'_>,
    rng: &mut R,
) {
    match kind {
        ErrorKind::TypoInsert => typo(identity, context, 2, rng, |chars, rng| {
            let at = rng.random_range(1..=chars.len());
            chars.insert(at, random_letter(rng));
        }),
        ErrorKind::TypoDelete => typo(identity, context, 3, rng, |chars, rng| {
            let at = rng.random_range(1..chars.len());
            chars.remove(at);
        }),
        ErrorKind::TypoSubstitute => typo(identity, context, 2, rng, |chars, rng| {
            let at = rng.random_range(1..chars.len());
            let old = chars[at];
            let new = loop {
                let c = random_letter(rng);
                if c != old.to_ascii_lowercase() {
                    break c;
                }
            };
            chars[at] = if old.is_uppercase() {
                new.to_ascii_uppercase()
            } else {
                new
            };
        }),
        ErrorKind::TypoTranspose => {
            let fields: Vec<NameField> = editable_names(identity, context)
                .into_iter()
                .filter(|f| !transpose_positions(name_text(identity, *f)).is_empty())
                .collect();
            if let Some(field) = fields.choose(rng).copied() {
                let text = name_mut(identity, field);
                let mut chars: Vec<char> = text.chars().collect();
                let positions = transpose_positions(text);
                if let Some(at) = positions.choose(rng).copied() {
                    chars.swap(at, at + 1);
                    *text = chars.into_iter().collect();
                }
            }
        }
        ErrorKind::Phonetic => {
            let sites: Vec<(NameField, PhoneticSite)> = editable_names(identity, context)
                .into_iter()
                .flat_map(|f| {
                    phonetic_sites(name_text(identity, f))
                        .into_iter()
                        .map(move |s| (f, s))
                })
                .collect();
            if let Some((field, site)) = sites.choose(rng).copied() {
                let text = name_mut(identity, field);
                text.replace_range(site.at..site.at + site.from.len(), site.to);
            }
        }
        ErrorKind::PrefixMoved => {
            let styles: Vec<PrefixStyle> = [
                PrefixStyle::Before,
                PrefixStyle::After,
                PrefixStyle::AfterNoComma,
            ]
            .into_iter()
            .filter(|s| *s != identity.prefix_style)
            .collect();
            if let Some(style) = styles.choose(rng) {
                identity.prefix_style = *style;
            }
        }
        ErrorKind::PrefixDropped => identity.surname_prefix.clear(),
        ErrorKind::MarriedName => {
            if let Some(married) = context.married_name {
                identity.surname = married.to_string();
                identity.surname_prefix.clear();
            }
        }
        ErrorKind::DayMonthSwap => {
            if let Some(d) = identity.date_of_birth {
                identity.date_of_birth =
                    NaiveDate::from_ymd_opt(d.year(), d.day(), d.month()).or(Some(d));
            }
        }
        ErrorKind::MissingField => {
            let fields = missing_candidates(identity, context);
            if let Some(field) = fields.choose(rng) {
                clear_field(identity, *field);
            }
        }
        ErrorKind::Placeholder => {
            let fields = placeholder_candidates(identity, context);
            match fields.choose(rng) {
                Some(IdentityField::GivenNames) => {
                    identity.given_names = if rng.random_bool(0.3) {
                        PLACEHOLDER_INITIALS
                    } else {
                        PLACEHOLDER_NAME
                    }
                    .to_string();
                }
                Some(IdentityField::Surname) => {
                    identity.surname = PLACEHOLDER_NAME.to_string();
                    identity.surname_prefix.clear();
                }
                Some(IdentityField::DateOfBirth) => {
                    identity.date_of_birth = Some(placeholder_date());
                }
                Some(IdentityField::NationalId) => {
                    identity.national_id = PLACEHOLDER_NATIONAL_ID.to_string();
                }
                _ => {}
            }
        }
        ErrorKind::NamesSwapped => {
            std::mem::swap(&mut identity.given_names, &mut identity.surname);
        }
        ErrorKind::CaseDiacritics => {
            if let Some(field) = editable_names(identity, context).choose(rng).copied() {
                let text = name_mut(identity, field);
                let stripped: String = text.nfd().filter(|c| !is_combining_mark(*c)).collect();
                if stripped != *text && rng.random_bool(0.5) {
                    *text = stripped;
                } else if text.chars().any(char::is_lowercase) {
                    *text = text.to_uppercase();
                } else {
                    *text = text.to_lowercase();
                }
            }
        }
    }
}

/// Applies a typing error to a randomly chosen name of at least `min_chars`
/// characters; the edit never touches the first letter.
fn typo<R: Rng + ?Sized>(
    identity: &mut Identity,
    context: &ErrorContext<'_>,
    min_chars: usize,
    rng: &mut R,
    edit: impl FnOnce(&mut Vec<char>, &mut R),
) {
    let fields: Vec<NameField> = editable_names(identity, context)
        .into_iter()
        .filter(|f| name_text(identity, *f).chars().count() >= min_chars)
        .collect();
    if let Some(field) = fields.choose(rng).copied() {
        let text = name_mut(identity, field);
        let mut chars: Vec<char> = text.chars().collect();
        edit(&mut chars, rng);
        *text = chars.into_iter().collect();
    }
}

fn random_letter<R: Rng + ?Sized>(rng: &mut R) -> char {
    char::from(b'a' + rng.random_range(0..26u8))
}

/// Positions i (not 0) where letters i and i+1 differ and both are letters.
fn transpose_positions(text: &str) -> Vec<usize> {
    let chars: Vec<char> = text.chars().collect();
    (1..chars.len().saturating_sub(1))
        .filter(|&i| {
            chars[i] != chars[i + 1] && chars[i].is_alphabetic() && chars[i + 1].is_alphabetic()
        })
        .collect()
}

/// One place where a phonetic variant can be written.
#[derive(Debug, Clone, Copy)]
struct PhoneticSite {
    /// Byte offset of `from` in the text.
    at: usize,
    from: &'static str,
    to: &'static str,
}

/// Spelling pairs that sound alike in Dutch, with a context rule on the
/// neighbouring bytes (`before`, `after`) that keeps the variant plausible.
const PHONETIC_PAIRS: [(&str, &str); 14] = [
    ("ij", "y"),
    ("y", "ij"),
    ("ei", "ij"),
    ("ch", "g"),
    ("g", "ch"),
    ("dt", "t"),
    ("d", "dt"),
    ("au", "ou"),
    ("ou", "au"),
    ("ph", "f"),
    ("th", "t"),
    ("c", "k"),
    ("ks", "x"),
    ("x", "ks"),
];

fn phonetic_sites(text: &str) -> Vec<PhoneticSite> {
    let bytes = text.as_bytes();
    let mut sites = Vec::new();
    for (from, to) in PHONETIC_PAIRS {
        for (at, _) in text.match_indices(from) {
            let before = at.checked_sub(1).map(|i| bytes[i].to_ascii_lowercase());
            let after = bytes.get(at + from.len()).map(u8::to_ascii_lowercase);
            let word_end = after.is_none_or(|b| !b.is_ascii_alphabetic());
            let plausible = match from {
                // `Meijer` → `Mijjer` is no variant; `Klein` → `Klijn` is.
                "ei" => after != Some(b'j'),
                // `Schouten` keeps its `sch`.
                "ch" => before != Some(b's'),
                // `Jong` keeps its `ng`; `g` at the start is capitalised anyway.
                "g" => before.is_some_and(|b| b != b'n' && b != b'c') && after != Some(b'h'),
                // Only a final `d` sounds like `dt` (`Brand` / `Brandt`).
                "d" => word_end && after != Some(b't'),
                // `c` sounds like `k` only before a, o, u (`Cornelis`, `Jacobus`).
                "c" => matches!(after, Some(b'a' | b'o' | b'u')),
                _ => true,
            };
            if plausible {
                sites.push(PhoneticSite { at, from, to });
            }
        }
    }
    sites
}

fn field_is_filled(identity: &Identity, field: IdentityField) -> bool {
    match field {
        IdentityField::GivenNames => !identity.given_names.is_empty(),
        IdentityField::SurnamePrefix => !identity.surname_prefix.is_empty(),
        IdentityField::Surname => !identity.surname.is_empty(),
        IdentityField::DateOfBirth => identity.date_of_birth.is_some(),
        IdentityField::Sex => identity.sex != Sex::Unknown,
        IdentityField::NationalId => !identity.national_id.is_empty(),
        IdentityField::Postcode => !identity.postcode.is_empty(),
        IdentityField::HouseNumber => !identity.house_number.is_empty(),
        IdentityField::Street => !identity.street.is_empty(),
        IdentityField::PlaceOfResidence => !identity.place_of_residence.is_empty(),
        IdentityField::PlaceOfBirth => !identity.place_of_birth.is_empty(),
    }
}

fn clear_field(identity: &mut Identity, field: IdentityField) {
    match field {
        IdentityField::GivenNames => identity.given_names.clear(),
        IdentityField::SurnamePrefix => identity.surname_prefix.clear(),
        IdentityField::Surname => {
            identity.surname.clear();
            identity.surname_prefix.clear();
        }
        IdentityField::DateOfBirth => identity.date_of_birth = None,
        IdentityField::Sex => identity.sex = Sex::Unknown,
        IdentityField::NationalId => identity.national_id.clear(),
        IdentityField::Postcode => identity.postcode.clear(),
        IdentityField::HouseNumber => identity.house_number.clear(),
        IdentityField::Street => identity.street.clear(),
        IdentityField::PlaceOfResidence => identity.place_of_residence.clear(),
        IdentityField::PlaceOfBirth => identity.place_of_birth.clear(),
    }
}

/// Fields a missing-field error may empty: present and filled (the prefix
/// column is left to the prefix-dropped kind).
fn missing_candidates(identity: &Identity, context: &ErrorContext<'_>) -> Vec<IdentityField> {
    IdentityField::ALL
        .into_iter()
        .filter(|f| *f != IdentityField::SurnamePrefix)
        .filter(|f| context.fields.contains(*f) && field_is_filled(identity, *f))
        .collect()
}

/// Fields that have a conventional placeholder value.
fn placeholder_candidates(identity: &Identity, context: &ErrorContext<'_>) -> Vec<IdentityField> {
    [
        IdentityField::GivenNames,
        IdentityField::Surname,
        IdentityField::DateOfBirth,
        IdentityField::NationalId,
    ]
    .into_iter()
    .filter(|f| context.fields.contains(*f) && field_is_filled(identity, *f))
    .filter(|f| match f {
        IdentityField::GivenNames => {
            identity.given_names != PLACEHOLDER_NAME && identity.given_names != PLACEHOLDER_INITIALS
        }
        IdentityField::Surname => identity.surname != PLACEHOLDER_NAME,
        IdentityField::DateOfBirth => identity.date_of_birth != Some(placeholder_date()),
        _ => identity.national_id != PLACEHOLDER_NATIONAL_ID,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn identity() -> Identity {
        Identity {
            given_names: "Marijke Cornelia".into(),
            surname_prefix: "van den".into(),
            surname: "Bergh".into(),
            prefix_style: PrefixStyle::Separate,
            date_of_birth: NaiveDate::from_ymd_opt(1988, 3, 9),
            sex: Sex::Female,
            national_id: "123456782".into(),
            postcode: "1234 AB".into(),
            house_number: "12".into(),
            street: "Kerkstraat".into(),
            place_of_residence: "Amsterdam".into(),
            place_of_birth: "Leiden".into(),
        }
    }

    /// The weights of the kinds sum to one, and a corrupted record has 1.5 errors on average.
    #[test]
    fn weights_sum_to_one() {
        let total: f64 = ErrorKind::ALL.iter().map(|k| k.weight()).sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        assert!((mean_errors_per_corrupted_record() - 1.5).abs() < 1e-12);
    }

    /// At R = 0 nothing changes; at R = 1 every record changes.
    #[test]
    fn rate_zero_and_one() {
        let context = ErrorContext {
            fields: FieldSet::all(),
            native_prefix_style: PrefixStyle::Separate,
            married_name: Some("Jansen-van den Bergh"),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..1000 {
            let mut clean = identity();
            assert!(corrupt(&mut clean, &context, 0.0, &mut rng).is_empty());
            assert_eq!(clean, identity());
            let mut dirty = identity();
            let kinds = corrupt(&mut dirty, &context, 1.0, &mut rng);
            assert!((1..=3).contains(&kinds.len()));
        }
    }

    /// Phonetic sites follow the context rules.
    #[test]
    fn phonetic_context() {
        let kinds = |t: &str| {
            phonetic_sites(t)
                .into_iter()
                .map(|s| (s.from, s.to))
                .collect::<Vec<_>>()
        };
        assert!(kinds("Meijer").contains(&("ij", "y")));
        assert!(!kinds("Meijer").contains(&("ei", "ij")));
        assert!(!kinds("Schouten").contains(&("ch", "g")));
        assert!(!kinds("Jong").iter().any(|(f, _)| *f == "g"));
        assert!(kinds("Brand").contains(&("d", "dt")));
        assert!(kinds("Brandt").contains(&("dt", "t")));
        assert!(!kinds("Brandt").contains(&("d", "dt")));
    }

    /// A day–month swap applies only when the swapped date exists and differs.
    #[test]
    fn day_month_swap_needs_a_valid_swap() {
        let context = ErrorContext {
            fields: FieldSet::all(),
            native_prefix_style: PrefixStyle::Separate,
            married_name: None,
        };
        let mut record = identity();
        assert!(applies(ErrorKind::DayMonthSwap, &record, &context));
        record.date_of_birth = NaiveDate::from_ymd_opt(1988, 3, 25);
        assert!(!applies(ErrorKind::DayMonthSwap, &record, &context));
        record.date_of_birth = NaiveDate::from_ymd_opt(1988, 1, 1);
        assert!(!applies(ErrorKind::DayMonthSwap, &record, &context));
    }
}
