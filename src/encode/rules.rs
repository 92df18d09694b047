//! Match-key rule set 2 (`docs/ENCODING.md`, "Rules"): which field
//! combinations become tokens, and how a token is computed.
//!
//! A token is `BLAKE3-keyed(rule key, canonical byte string)`, where the rule
//! key is derived from the linkage secret for that rule alone and the canonical
//! byte string is the rule's field values, each with a 4-byte big-endian length
//! prefix. A token exists only when every field of its rule is present. Rule
//! ids and classes are fixed: the linkage service validates ids against
//! [`RULES`] and weighs classes differently.

use std::ops::Range;

use chrono::Datelike;
use smallvec::SmallVec;

use super::blake3x4::keyed_hash_4;
use super::dates::digits;
use super::keys::push_length_prefixed;
use super::normalise::{MAX_SURNAME_PARTS, NormalisedPerson};
use super::phonetic::phonetic_key_into;
use super::record::MatchToken;
use super::schema::NationalIdCheck;

/// A rule id: the number in the table of `docs/ENCODING.md` (1–15 in rule set 2).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RuleId(pub u16);

/// How much a shared token of a rule says about two records being one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleClass {
    /// A national id (rule 1, checked: conflicting ids forbid a link) or
    /// another register's id (rule 13, unchecked: a conflict is evidence).
    Identifier,
    /// Name and full date of birth (or equivalent): a link on its own.
    Strong,
    /// A partial or variant date, or an initial: needs support.
    Medium,
    /// Shared by households or twins: evidence only.
    Weak,
}

impl RuleClass {
    /// Lower-case name (`identifier`, `strong`, `medium`, `weak`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleClass::Identifier => "identifier",
            RuleClass::Strong => "strong",
            RuleClass::Medium => "medium",
            RuleClass::Weak => "weak",
        }
    }
}

/// One match-key rule.
#[derive(Debug, Clone, Copy)]
pub struct MatchRule {
    /// The fixed id (wire and store).
    pub id: RuleId,
    /// A stable snake_case name for reports and logs.
    pub name: &'static str,
    /// The fields in canonical order, as named in `docs/ENCODING.md`.
    pub fields: &'static [&'static str],
    /// Strength class, used by the linkage guards and weights.
    pub class: RuleClass,
    /// At most this many tokens per record (1 except for rule 6).
    pub max_tokens: usize,
    /// BLAKE3 `derive_key` context of the rule's key.
    pub key_context: &'static str,
}

/// The most tokens any rule emits for one record (rule 6, one per surname part).
pub const MAX_TOKENS_PER_RULE: usize = MAX_SURNAME_PARTS;

const fn rule(
    id: u16,
    name: &'static str,
    fields: &'static [&'static str],
    class: RuleClass,
    key_context: &'static str,
) -> MatchRule {
    MatchRule {
        id: RuleId(id),
        name,
        fields,
        class,
        max_tokens: if id == 6 { MAX_TOKENS_PER_RULE } else { 1 },
        key_context,
    }
}

/// Rule set 2 ([`super::RULE_SET_VERSION`]), ordered by id. The key contexts
/// keep the `v1` of the encoding specification's key schedule (section 2).
pub static RULES: &[MatchRule] = &[
    rule(
        1,
        "national_id",
        &["national_id_scheme", "national_id"],
        RuleClass::Identifier,
        "veilink encoding v1 match token rule 1 national_id",
    ),
    rule(
        2,
        "name_dob",
        &["given_name", "surname", "dob"],
        RuleClass::Strong,
        "veilink encoding v1 match token rule 2 name_dob",
    ),
    rule(
        3,
        "surname_dob_postcode",
        &["surname", "dob", "postcode"],
        RuleClass::Strong,
        "veilink encoding v1 match token rule 3 surname_dob_postcode",
    ),
    rule(
        4,
        "given_dob_postcode",
        &["given_name", "dob", "postcode"],
        RuleClass::Strong,
        "veilink encoding v1 match token rule 4 given_dob_postcode",
    ),
    rule(
        5,
        "phonetic_name_dob",
        &["phonetic(given_name)", "phonetic(surname)", "dob"],
        RuleClass::Strong,
        "veilink encoding v1 match token rule 5 phonetic_name_dob",
    ),
    rule(
        6,
        "given_surname_part_dob",
        &["given_name", "surname_part", "dob"],
        RuleClass::Strong,
        "veilink encoding v1 match token rule 6 given_surname_part_dob",
    ),
    rule(
        7,
        "name_dob_daymonth",
        &["given_name", "surname", "yob", "day_month_pair"],
        RuleClass::Medium,
        "veilink encoding v1 match token rule 7 name_dob_daymonth",
    ),
    rule(
        8,
        "initial_surname_dob",
        &["initial", "surname", "dob"],
        RuleClass::Medium,
        "veilink encoding v1 match token rule 8 initial_surname_dob",
    ),
    rule(
        9,
        "surname_address",
        &["surname", "postcode", "house_number"],
        RuleClass::Weak,
        "veilink encoding v1 match token rule 9 surname_address",
    ),
    rule(
        10,
        "name_yob_pob",
        &["given_name", "surname", "yob", "place_of_birth"],
        RuleClass::Medium,
        "veilink encoding v1 match token rule 10 name_yob_pob",
    ),
    rule(
        11,
        "phonetic_surname_dob_sex",
        &["phonetic(surname)", "dob", "sex"],
        RuleClass::Weak,
        "veilink encoding v1 match token rule 11 phonetic_surname_dob_sex",
    ),
    rule(
        12,
        "given_surname_residence",
        &["given_name", "surname", "place_of_residence"],
        RuleClass::Weak,
        "veilink encoding v1 match token rule 12 given_surname_residence",
    ),
    rule(
        13,
        "register_id",
        &["national_id_scheme", "national_id"],
        RuleClass::Identifier,
        "veilink encoding v1 match token rule 13 register_id",
    ),
    rule(
        14,
        "name_pair_dob",
        &[
            "lesser(given_name, surname)",
            "greater(given_name, surname)",
            "dob",
        ],
        RuleClass::Strong,
        "veilink encoding v1 match token rule 14 name_pair_dob",
    ),
    rule(
        15,
        "dob_address",
        &["dob", "postcode", "house_number"],
        RuleClass::Medium,
        "veilink encoding v1 match token rule 15 dob_address",
    ),
];

/// The rule with an id, if it exists in rule set 2.
pub fn rule_by_id(id: RuleId) -> Option<&'static MatchRule> {
    RULES.iter().find(|r| r.id == id)
}

/// The derived values rules combine, computed once per record.
struct RuleInputs<'p> {
    person: &'p NormalisedPerson,
    /// `YYYYMMDD` of a full date of birth.
    dob: Option<[u8; 8]>,
    /// `YYYY` of a known year of birth.
    yob: Option<[u8; 4]>,
    /// `DDMM` with the smaller of day and month first, when both ≤ 12 and differ.
    day_month_pair: Option<[u8; 4]>,
    /// Phonetic key of the first given name.
    phonetic_given: Option<&'p str>,
    /// Phonetic key of the surname key.
    phonetic_surname: Option<&'p str>,
}

/// Buffers [`tokens_into`] reuses from one registration to the next: the
/// canonical byte strings and the two phonetic keys.
#[derive(Debug, Default)]
pub(crate) struct TokenBuffers {
    /// The canonical byte strings of a record's tokens, end to end.
    bytes: Vec<u8>,
    /// Phonetic keys of the given name and the surname key.
    phonetic: [String; 2],
}

/// The values several rules share, as text, taken once per record.
#[derive(Clone, Copy)]
struct SharedTexts<'a> {
    given: Option<&'a str>,
    surname: Option<&'a str>,
    /// `YYYYMMDD`.
    dob: Option<&'a str>,
    /// `YYYY`.
    yob: Option<&'a str>,
    /// `DDMM` / `MMDD`, smaller first.
    day_month_pair: Option<&'a str>,
    postcode: Option<&'a str>,
}

/// Two fixed-width digit groups side by side.
fn concat<const A: usize, const B: usize, const N: usize>(a: [u8; A], b: [u8; B]) -> [u8; N] {
    let mut out = [0u8; N];
    out[..A].copy_from_slice(&a);
    out[A..].copy_from_slice(&b);
    out
}

/// ASCII digit arrays as text.
fn text<const N: usize>(digits: &Option<[u8; N]>) -> Option<&str> {
    digits.as_ref().and_then(|d| std::str::from_utf8(d).ok())
}

impl<'p> RuleInputs<'p> {
    /// The inputs of `person`'s tokens; `phonetic` is where the phonetic keys
    /// are written.
    fn new(person: &'p NormalisedPerson, phonetic: &'p mut [String; 2]) -> Self {
        let full = person.date_of_birth.and_then(|d| d.full());
        let day_month_pair = full.and_then(|d| {
            let (day, month) = (d.day(), d.month());
            (day <= 12 && month <= 12 && day != month)
                .then(|| concat(digits::<2>(day.min(month)), digits::<2>(day.max(month))))
        });
        let [given_key, surname_key] = phonetic;
        let phonetic = |name: &Option<String>, key: &'p mut String| {
            let name = name.as_deref()?;
            phonetic_key_into(name, key);
            Some(&**key).filter(|key| !key.is_empty())
        };
        // Years of birth are four digits (dates::DateFormat reads exactly four).
        let year = |y: i32| digits::<4>(y.unsigned_abs());
        RuleInputs {
            person,
            dob: full.map(|d| {
                concat::<4, 4, 8>(
                    year(d.year()),
                    concat(digits::<2>(d.month()), digits::<2>(d.day())),
                )
            }),
            yob: person.date_of_birth.map(|d| year(d.year())),
            day_month_pair,
            phonetic_given: phonetic(&person.given_name, given_key),
            phonetic_surname: phonetic(&person.surname, surname_key),
        }
    }

    /// Calls `emit` with the rule and the field values of each token, rule by
    /// rule in id order, values in canonical order (no token when a field is
    /// missing).
    fn for_each_token(&self, emit: &mut dyn FnMut(RuleId, &[&str])) {
        let p = self.person;
        let texts = SharedTexts {
            given: p.given_name.as_deref(),
            surname: p.surname.as_deref(),
            dob: text(&self.dob),
            yob: text(&self.yob),
            day_month_pair: text(&self.day_month_pair),
            postcode: p.postcode.as_deref(),
        };
        for rule in RULES {
            let mut one = |fields: &[Option<&str>]| {
                let mut values = [""; 4];
                for (slot, field) in values.iter_mut().zip(fields) {
                    match field {
                        Some(value) => *slot = value,
                        None => return,
                    }
                }
                emit(rule.id, &values[..fields.len()]);
            };
            self.rule_fields(rule.id.0, &texts, &mut one);
        }
    }

    /// Calls `one` with the fields of each token of rule `id`, in canonical
    /// order (`one` skips a token when a field is missing).
    fn rule_fields(&self, id: u16, texts: &SharedTexts<'_>, one: &mut dyn FnMut(&[Option<&str>])) {
        let p = self.person;
        let SharedTexts {
            given,
            surname,
            dob,
            yob,
            day_month_pair,
            postcode,
        } = *texts;
        // Rule 1 holds ids that passed a check (the BSN's 11-proef), rule 13
        // any other register's id: the linkage treats only the first as proof
        // that two records with different ids are two people.
        let national_id = |checked: bool| {
            p.national_id
                .as_ref()
                .filter(|n| (n.scheme == NationalIdCheck::Bsn) == checked)
        };
        match id {
            1 | 13 => {
                let id = national_id(id == 1);
                one(&[id.map(|n| n.scheme_tag()), id.map(|n| n.value.as_str())])
            }
            2 => one(&[given, surname, dob]),
            3 => one(&[surname, dob, postcode]),
            4 => one(&[given, dob, postcode]),
            5 => one(&[self.phonetic_given, self.phonetic_surname, dob]),
            6 => p
                .surname_parts
                .iter()
                .for_each(|part| one(&[given, Some(part.as_str()), dob])),
            7 => one(&[given, surname, yob, day_month_pair]),
            8 => one(&[p.initial.as_deref(), surname, dob]),
            9 => one(&[surname, postcode, p.house_number.as_deref()]),
            10 => one(&[given, surname, yob, p.place_of_birth.as_deref()]),
            11 => one(&[self.phonetic_surname, dob, p.sex.map(|s| s.as_str())]),
            12 => one(&[given, surname, p.place_of_residence.as_deref()]),
            // Given name and surname key in either order (a swap of the two
            // columns is a common entry error): the lesser first, by bytes.
            14 => {
                let names = given.zip(surname);
                one(&[
                    names.map(|(g, s)| g.min(s)),
                    names.map(|(g, s)| g.max(s)),
                    dob,
                ])
            }
            15 => one(&[dob, postcode, p.house_number.as_deref()]),
            _ => {}
        }
    }
}

/// The canonical byte string of one token: each value with a 4-byte
/// big-endian length prefix, concatenated in the rule's field order.
pub fn canonical_bytes(values: &[&str], out: &mut Vec<u8>) {
    out.clear();
    append_canonical_bytes(values, out);
}

/// [`canonical_bytes`] appended to `out`.
fn append_canonical_bytes(values: &[&str], out: &mut Vec<u8>) {
    for value in values {
        push_length_prefixed(out, value.as_bytes());
    }
}

/// One token to hash: its rule, the rule's key, and where its canonical byte
/// string lies in the record's buffer.
type TokenJob<'k> = (RuleId, &'k [u8; 32], Range<usize>);

/// Every token of a person, sorted by (rule, hash). `rule_keys` are in the
/// order of [`RULES`]. Each token is the keyed BLAKE3 hash of its canonical
/// byte string under its rule's key; the strings are laid end to end in one
/// buffer and hashed four at a time ([`keyed_hash_4`]).
pub(crate) fn tokens(person: &NormalisedPerson, rule_keys: &[[u8; 32]]) -> Vec<MatchToken> {
    tokens_into(person, rule_keys, &mut TokenBuffers::default())
}

/// [`tokens`], with the canonical byte strings and phonetic keys written into
/// `buffers` (reused from call to call; what they held does not matter).
pub(crate) fn tokens_into(
    person: &NormalisedPerson,
    rule_keys: &[[u8; 32]],
    buffers: &mut TokenBuffers,
) -> Vec<MatchToken> {
    let TokenBuffers { bytes, phonetic } = buffers;
    let inputs = RuleInputs::new(person, phonetic);
    bytes.clear();
    let mut jobs: SmallVec<[TokenJob<'_>; 16]> = SmallVec::new();
    inputs.for_each_token(&mut |rule, values| {
        // Rule ids are 1..=RULES.len() in order (tested below).
        if let Some(key) = usize::from(rule.0)
            .checked_sub(1)
            .and_then(|i| rule_keys.get(i))
        {
            let start = bytes.len();
            append_canonical_bytes(values, bytes);
            jobs.push((rule, key, start..bytes.len()));
        }
    });
    let mut tokens = Vec::with_capacity(jobs.len());
    for group in jobs.chunks(4) {
        // A last group of fewer than four repeats its last token in the
        // spare lanes, whose hashes are not used.
        let job = |lane: usize| &group[lane.min(group.len() - 1)];
        let hashes = keyed_hash_4(
            std::array::from_fn(|lane| job(lane).1),
            std::array::from_fn(|lane| &bytes[job(lane).2.clone()]),
        );
        for ((rule, _, _), hash) in group.iter().zip(hashes) {
            tokens.push(MatchToken { rule: *rule, hash });
        }
    }
    // MatchToken orders by (rule, hash).
    tokens.sort_unstable();
    tokens
}

/// The canonical values of every token of a person, by rule id (for the test
/// vectors and `docs/ENCODING.md`'s worked examples).
pub fn token_inputs(person: &NormalisedPerson) -> Vec<(RuleId, Vec<String>)> {
    let mut phonetic = Default::default();
    let inputs = RuleInputs::new(person, &mut phonetic);
    let mut each = Vec::new();
    inputs.for_each_token(&mut |rule, values| {
        each.push((rule, values.iter().map(|v| v.to_string()).collect()));
    });
    each
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BSN (checked) is a rule-1 token, another register's id a rule-13
    /// token, never both; the same digits under the two schemes differ.
    #[test]
    fn checked_ids_are_rule_1_and_unchecked_ids_rule_13() {
        let keys: Vec<[u8; 32]> = (0..RULES.len()).map(|i| [i as u8 + 1; 32]).collect();
        let person = |scheme| NormalisedPerson {
            national_id: Some(crate::encode::normalise::NationalId {
                scheme,
                value: "111222333".to_string(),
            }),
            ..NormalisedPerson::default()
        };
        let rules = |p: &NormalisedPerson| -> Vec<u16> {
            tokens(p, &keys).iter().map(|t| t.rule.0).collect()
        };
        assert_eq!(rules(&person(NationalIdCheck::Bsn)), vec![1]);
        assert_eq!(rules(&person(NationalIdCheck::None)), vec![13]);
    }

    /// Given name and surname written in each other's column share the
    /// rule-14 token and no rule-2 token; a different date of birth shares
    /// neither.
    #[test]
    fn swapped_names_share_the_name_pair_token() {
        let keys: Vec<[u8; 32]> = (0..RULES.len()).map(|i| [i as u8 + 1; 32]).collect();
        let person = |given: &str, surname: &str, day: u32| NormalisedPerson {
            given_name: Some(given.to_string()),
            surname: Some(surname.to_string()),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 3, day)
                .map(crate::encode::dates::BirthDate::Full),
            ..NormalisedPerson::default()
        };
        let of_rule = |p: &NormalisedPerson, rule: u16| -> Vec<MatchToken> {
            tokens(p, &keys)
                .into_iter()
                .filter(|t| t.rule.0 == rule)
                .collect()
        };
        let written = person("anna", "jansen", 4);
        let swapped = person("jansen", "anna", 4);
        assert_eq!(of_rule(&written, 14).len(), 1);
        assert_eq!(of_rule(&written, 14), of_rule(&swapped, 14));
        assert_ne!(of_rule(&written, 2), of_rule(&swapped, 2));
        assert_ne!(
            of_rule(&written, 14),
            of_rule(&person("jansen", "anna", 5), 14)
        );
    }

    /// Ids are 1..=15 in order, names and key contexts are unique, and every
    /// context names its rule.
    #[test]
    fn rule_table_is_consistent() {
        for (i, rule) in RULES.iter().enumerate() {
            assert_eq!(usize::from(rule.id.0), i + 1);
            assert!(
                rule.key_context
                    .ends_with(&format!("rule {} {}", rule.id.0, rule.name))
            );
            assert_eq!(rule_by_id(rule.id).map(|r| r.name), Some(rule.name));
        }
        assert!(rule_by_id(RuleId(16)).is_none());
    }

    /// Canonical byte strings are injective: moving a boundary changes them.
    #[test]
    fn canonical_bytes_are_injective() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        canonical_bytes(&["ab", "c"], &mut a);
        canonical_bytes(&["a", "bc"], &mut b);
        assert_ne!(a, b);
        assert_eq!(a, b"\0\0\0\x02ab\0\0\0\x01c");
    }

    /// Tokens hashed in lanes equal the keyed hash of each token's canonical
    /// string, one by one, also for strings longer than one BLAKE3 block
    /// (long names) and for a last group of fewer than four.
    #[test]
    fn tokens_equal_one_by_one_hashing() {
        let keys: Vec<[u8; 32]> = (0..RULES.len()).map(|i| [i as u8 + 1; 32]).collect();
        for given in ["jan", "maximiliaanfrederikwillemalexanderclaus"] {
            let surname = "vanderlindevandersteenhovenfortuynschimmelpenninck";
            let person = NormalisedPerson {
                given_name: Some(given.to_string()),
                initial: Some("j".to_string()),
                surname: Some(surname.to_string()),
                surname_parts: vec![
                    surname.to_string(),
                    "jansen".to_string(),
                    "bakker".to_string(),
                ],
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 3, 4)
                    .map(crate::encode::dates::BirthDate::Full),
                postcode: Some("1234ab".to_string()),
                house_number: Some("12".to_string()),
                place_of_birth: Some("rotterdam".to_string()),
                place_of_residence: Some("utrecht".to_string()),
                ..NormalisedPerson::default()
            };
            let mut expected: Vec<MatchToken> = token_inputs(&person)
                .into_iter()
                .map(|(rule, values)| {
                    let values: Vec<&str> = values.iter().map(String::as_str).collect();
                    let mut bytes = Vec::new();
                    canonical_bytes(&values, &mut bytes);
                    let key = &keys[usize::from(rule.0) - 1];
                    MatchToken {
                        rule,
                        hash: *blake3::keyed_hash(key, &bytes).as_bytes(),
                    }
                })
                .collect();
            expected.sort_unstable();
            assert!(
                !expected.len().is_multiple_of(4),
                "a last group of fewer than four"
            );
            let longest = token_inputs(&person)
                .iter()
                .map(|(_, values)| values.iter().map(|v| 4 + v.len()).sum::<usize>())
                .max();
            assert!(longest > Some(64), "some strings longer than one block");
            assert_eq!(tokens(&person, &keys), expected, "given name {given}");
        }
    }
}
