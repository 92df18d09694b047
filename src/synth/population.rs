//! Persons and households: who exists, what their true identifying values are,
//! and where they live over time.
//!
//! The population is generated household by household and streamed, so its
//! size is bounded only by disk. A household shares an address (and usually a
//! surname): singles, couples, families with children (twins among them),
//! single parents, and shared houses of unrelated adults (students, labour
//! migrants). Households move between registrations, so an address is
//! evidence, never identity. Asylum seekers live in reception centres whose
//! address hundreds share; some persons live abroad. Every person with a
//! residence permit gets a unique BSN that passes the 11-proef; undocumented
//! persons and most persons abroad have none. A few persons are
//! *doppelgangers*: they share given names, surname and date of birth with an
//! earlier registered person but differ in BSN, place of birth and address.
//!
//! Every household draws from its own ChaCha8 stream (the household number is
//! the stream id), so a household does not depend on how many random numbers
//! earlier households used.

use std::collections::VecDeque;

use chrono::{Datelike, NaiveDate};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::names::{NameBook, Origin, gendered_surname};
use super::places::{Address, Gazetteer};
use super::{Period, weighted};
use crate::vocab::{ResidenceStatus, Sex};

/// Share of households living abroad (not in the BRP).
const SHARE_ABROAD: f64 = 0.01;
/// Probability that a single or couple household's head is a doppelganger of
/// an earlier registered person.
const DOPPELGANGER_PROBABILITY: f64 = 0.01;
/// Probability that a birth is a twin birth (CBS: about 17 per 1000 births).
const TWIN_PROBABILITY: f64 = 0.017;
/// Moves per household per year (about one move per 12 years).
const MOVES_PER_YEAR: f64 = 0.08;
/// How many recent registered persons a doppelganger may copy.
const LOOKALIKE_MEMORY: usize = 64;

/// A person with the true values of their identifying fields.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// The person id of `truth.csv` (1, 2, ... in generation order).
    pub(crate) id: u64,
    /// Decides names, places of birth and the trafficking risk.
    pub(crate) origin: Origin,
    pub(crate) sex: Sex,
    /// All given names, space-separated.
    pub(crate) given_names: String,
    /// Tussenvoegsel in lower case, empty when none.
    pub(crate) surname_prefix: &'static str,
    pub(crate) surname: String,
    /// As registered: 1 January of the birth year when the day is unknown.
    pub(crate) date_of_birth: NaiveDate,
    /// Nine-digit BSN as a number (printed with leading zeros), if any.
    pub(crate) bsn: Option<u32>,
    pub(crate) place_of_birth: &'static str,
    pub(crate) residence_status: ResidenceStatus,
    /// `Partner-Own` double surname of a woman living with a male partner:
    /// what a married-name error writes.
    pub(crate) married_name: Option<String>,
    /// Copies an earlier person's name and date of birth (gets one forced
    /// registration so that the pair can confuse a linker).
    pub(crate) doppelganger: bool,
}

impl Person {
    /// Surname with its prefix (`van den Berg`).
    pub(crate) fn full_surname(&self) -> String {
        if self.surname_prefix.is_empty() {
            self.surname.clone()
        } else {
            format!("{} {}", self.surname_prefix, self.surname)
        }
    }
}

/// The members of one household and its addresses over time.
#[derive(Debug, Clone)]
pub(crate) struct Household {
    pub(crate) members: Vec<Person>,
    /// (first day, address), sorted; the first entry holds from the beginning.
    residences: Vec<(i32, Address)>,
}

impl Household {
    /// The household's address on a day (a day number from the common era).
    pub(crate) fn address_on(&self, day: i32) -> &Address {
        let index = self.residences.partition_point(|(from, _)| *from <= day);
        &self.residences[index.saturating_sub(1)].1
    }
}

/// What a doppelganger copies from a registered person.
#[derive(Debug, Clone)]
struct Lookalike {
    given_names: String,
    surname_prefix: &'static str,
    surname: String,
    sex: Sex,
    date_of_birth: NaiveDate,
    place_of_birth: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HouseholdKind {
    Single,
    Couple,
    CoupleWithChildren,
    SingleParent,
    Shared,
}

/// Household composition (CBS household statistics, rounded).
const KINDS: [(HouseholdKind, u32); 5] = [
    (HouseholdKind::Single, 34),
    (HouseholdKind::Couple, 26),
    (HouseholdKind::CoupleWithChildren, 27),
    (HouseholdKind::SingleParent, 8),
    (HouseholdKind::Shared, 5),
];

/// Unique BSNs that pass the 11-proef, without storing the ones handed out.
///
/// An affine map x = (a·i + b) mod 10^8 with a coprime to 10 is a bijection on
/// eight-digit numbers, so successive i give distinct first eight digits; the
/// ninth digit is the check digit of the 11-proef (9·d1 + 8·d2 + ... + 2·d8 −
/// d9 ≡ 0 mod 11). Numbers whose check digit would be 10, and numbers with a
/// leading zero, are skipped: 9·10^7 · 10/11 ≈ 82 million distinct BSNs exist.
struct BsnSequence {
    next: u64,
    multiplier: u64,
    offset: u64,
}

const EIGHT_DIGITS: u64 = 100_000_000;

impl BsnSequence {
    fn new(key: &[u8; 32]) -> BsnSequence {
        let mut rng = ChaCha8Rng::from_seed(*key);
        let mut multiplier = rng.random_range(1_000_000..EIGHT_DIGITS) | 1;
        if multiplier % 5 == 0 {
            multiplier += 2;
        }
        BsnSequence {
            next: 0,
            multiplier,
            offset: rng.random_range(0..EIGHT_DIGITS),
        }
    }

    fn next_bsn(&mut self) -> u32 {
        loop {
            let base = (self.next * self.multiplier + self.offset) % EIGHT_DIGITS;
            self.next += 1;
            if base < EIGHT_DIGITS / 10 {
                continue;
            }
            let mut digits = base;
            let mut sum = 0;
            for weight in 2..=9 {
                sum += (digits % 10) * weight;
                digits /= 10;
            }
            let check = sum % 11;
            if check < 10 {
                // base < 10^8, so the nine-digit result fits in a u32.
                return (base * 10 + check) as u32;
            }
        }
    }
}

/// Generates households one at a time.
pub(crate) struct PopulationStream<'a> {
    names: &'a NameBook,
    places: &'a Gazetteer,
    period: Period,
    key: [u8; 32],
    remaining: u64,
    next_person: u64,
    households: u64,
    bsn: BsnSequence,
    lookalikes: VecDeque<Lookalike>,
    /// Twin pairs generated so far.
    pub(crate) twin_pairs: u64,
    /// Doppelgangers generated so far.
    pub(crate) doppelgangers: u64,
}

fn random_sex<R: Rng>(rng: &mut R) -> Sex {
    let roll: f64 = rng.random();
    if roll < 0.001 {
        Sex::Other
    } else if roll < 0.5005 {
        Sex::Female
    } else {
        Sex::Male
    }
}

fn opposite(sex: Sex) -> Sex {
    match sex {
        Sex::Male => Sex::Female,
        Sex::Female => Sex::Male,
        other => other,
    }
}

/// A birth date `age` years before the reference year, on a random day.
fn birth_date<R: Rng>(reference_year: i32, age: i32, rng: &mut R) -> NaiveDate {
    let year = reference_year - age;
    let days = if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
        366
    } else {
        365
    };
    NaiveDate::from_yo_opt(year, rng.random_range(1..=days)).unwrap_or(NaiveDate::MIN)
}

fn adult_age<R: Rng>(kind: HouseholdKind, rng: &mut R) -> i32 {
    let bands: &[((i32, i32), u32)] = match kind {
        HouseholdKind::Single => &[
            ((18, 29), 25),
            ((30, 49), 25),
            ((50, 64), 20),
            ((65, 92), 30),
        ],
        HouseholdKind::Couple => &[((20, 34), 30), ((35, 54), 15), ((55, 90), 55)],
        HouseholdKind::CoupleWithChildren | HouseholdKind::SingleParent => &[((26, 55), 1)],
        HouseholdKind::Shared => &[((18, 40), 1)],
    };
    let (low, high) = weighted(bands, rng);
    rng.random_range(low..=high)
}

/// One member before identifiers are assigned.
struct Draft {
    sex: Sex,
    birth: NaiveDate,
    origin: Origin,
    adult: bool,
    surname: (&'static str, String),
    lookalike: Option<Lookalike>,
}

impl<'a> PopulationStream<'a> {
    /// A stream of `persons` persons; `key` seeds the household streams and
    /// `bsn_key` the BSN sequence.
    pub(crate) fn new(
        names: &'a NameBook,
        places: &'a Gazetteer,
        period: Period,
        persons: u64,
        key: [u8; 32],
        bsn_key: [u8; 32],
    ) -> Self {
        PopulationStream {
            names,
            places,
            period,
            key,
            remaining: persons,
            next_person: 1,
            households: 0,
            bsn: BsnSequence::new(&bsn_key),
            lookalikes: VecDeque::with_capacity(LOOKALIKE_MEMORY),
            twin_pairs: 0,
            doppelgangers: 0,
        }
    }

    /// Households generated so far.
    pub(crate) fn households(&self) -> u64 {
        self.households
    }

    /// Offers a person with at least one registration as a model for later
    /// doppelgangers (adults at the start of the period, of Dutch origin, with
    /// a BSN).
    pub(crate) fn remember(&mut self, person: &Person) {
        let adult = super::date_of(self.period.start).year() - person.date_of_birth.year() >= 18;
        if !adult || person.origin != Origin::Dutch || person.bsn.is_none() {
            return;
        }
        if self.lookalikes.len() == LOOKALIKE_MEMORY {
            self.lookalikes.pop_front();
        }
        self.lookalikes.push_back(Lookalike {
            given_names: person.given_names.clone(),
            surname_prefix: person.surname_prefix,
            surname: person.surname.clone(),
            sex: person.sex,
            date_of_birth: person.date_of_birth,
            place_of_birth: person.place_of_birth,
        });
    }

    /// The next household, or `None` when all persons have been generated.
    pub(crate) fn next_household(&mut self) -> Option<Household> {
        if self.remaining == 0 {
            return None;
        }
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(self.households);
        self.households += 1;

        let abroad = rng.random_bool(SHARE_ABROAD);
        let origin = if abroad {
            *Origin::ABROAD.choose(&mut rng).unwrap_or(&Origin::Polish)
        } else {
            weighted(&Origin::SHARES, &mut rng)
        };
        let kind = if abroad {
            if rng.random_bool(0.6) {
                HouseholdKind::Single
            } else {
                HouseholdKind::Shared
            }
        } else {
            weighted(&KINDS, &mut rng)
        };
        let status = if abroad {
            match origin {
                Origin::Polish | Origin::Romanian | Origin::Bulgarian => ResidenceStatus::Eu,
                _ => ResidenceStatus::Undocumented,
            }
        } else {
            weighted(origin.residence_mix(), &mut rng)
        };

        let mut drafts = self.draft_members(kind, origin, &mut rng);
        drafts.truncate(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.remaining -= drafts.len() as u64;

        let residences = self.residences(abroad, origin, status, &mut rng);
        let home = residences[0].1.place;
        let mut members: Vec<Person> = drafts
            .into_iter()
            .map(|draft| self.person(draft, status, abroad, home, &mut rng))
            .collect();
        if matches!(
            kind,
            HouseholdKind::Couple | HouseholdKind::CoupleWithChildren
        ) && members.len() >= 2
        {
            add_married_name(&mut members);
        }
        Some(Household {
            members,
            residences,
        })
    }

    /// An adult of the given sex, age (in the reference year) and origin
    /// with a surname of their own.
    fn adult<R: Rng>(&self, sex: Sex, age: i32, origin: Origin, rng: &mut R) -> Draft {
        Draft {
            sex,
            birth: birth_date(self.period.reference_year(), age, rng),
            origin,
            adult: true,
            surname: self.names.surname(origin, rng),
            lookalike: None,
        }
    }

    fn draft_members<R: Rng>(
        &mut self,
        kind: HouseholdKind,
        origin: Origin,
        rng: &mut R,
    ) -> Vec<Draft> {
        let reference_year = self.period.reference_year();
        let head_age = adult_age(kind, rng);
        let sex = random_sex(rng);
        let mut head = self.adult(sex, head_age, origin, rng);
        if matches!(kind, HouseholdKind::Single | HouseholdKind::Couple)
            && origin == Origin::Dutch
            && !self.lookalikes.is_empty()
            && rng.random_bool(DOPPELGANGER_PROBABILITY)
        {
            let pick = rng.random_range(0..self.lookalikes.len());
            let model = self.lookalikes[pick].clone();
            head.sex = model.sex;
            head.birth = model.date_of_birth;
            head.surname = (model.surname_prefix, model.surname.clone());
            head.lookalike = Some(model);
            self.doppelgangers += 1;
        }
        let head_sex = head.sex;
        let head_birth = head.birth;
        let mut drafts = vec![head];

        if matches!(
            kind,
            HouseholdKind::Couple | HouseholdKind::CoupleWithChildren
        ) {
            let sex = if rng.random_bool(0.97) {
                opposite(head_sex)
            } else {
                head_sex
            };
            let partner_origin = if origin == Origin::Dutch || rng.random_bool(0.85) {
                origin
            } else {
                Origin::Dutch
            };
            let age = (reference_year - head_birth.year() + rng.random_range(-5..=5)).max(18);
            drafts.push(self.adult(sex, age, partner_origin, rng));
        }
        if kind == HouseholdKind::Shared {
            for _ in 0..rng.random_range(1..=3) {
                let age = adult_age(kind, rng);
                let sex = random_sex(rng);
                drafts.push(self.adult(sex, age, origin, rng));
            }
        }
        if matches!(
            kind,
            HouseholdKind::CoupleWithChildren | HouseholdKind::SingleParent
        ) {
            self.draft_children(&mut drafts, origin, rng);
        }
        drafts
    }

    /// Children take the father's surname (90%) or the mother's; twins share
    /// the birth date.
    fn draft_children<R: Rng>(&mut self, drafts: &mut Vec<Draft>, origin: Origin, rng: &mut R) {
        let mother_birth = drafts
            .iter()
            .find(|d| d.sex == Sex::Female)
            .map_or(drafts[0].birth, |d| d.birth);
        let father = drafts.iter().find(|d| d.sex == Sex::Male);
        let mother = drafts.iter().find(|d| d.sex == Sex::Female);
        let surname = match (father, mother) {
            (Some(f), Some(m)) => {
                if rng.random_bool(0.9) {
                    f.surname.clone()
                } else {
                    m.surname.clone()
                }
            }
            _ => drafts[0].surname.clone(),
        };
        let count = weighted(&[(1, 40), (2, 42), (3, 13), (4, 5)], rng);
        let latest_birth = self.period.end_date();
        for _ in 0..count {
            let birth_year = mother_birth.year() + rng.random_range(20..=42);
            let age = self.period.reference_year() - birth_year;
            let birth = birth_date(self.period.reference_year(), age, rng);
            if birth > latest_birth || age > 26 {
                continue;
            }
            let twins = if rng.random_bool(TWIN_PROBABILITY) {
                self.twin_pairs += 1;
                2
            } else {
                1
            };
            for _ in 0..twins {
                drafts.push(Draft {
                    sex: random_sex(rng),
                    birth,
                    origin,
                    adult: false,
                    surname: surname.clone(),
                    lookalike: None,
                });
            }
        }
    }

    /// The household's addresses: abroad, an asylum reception centre (most
    /// leave it for a home later), or a Dutch home with Poisson moves.
    fn residences<R: Rng>(
        &self,
        abroad: bool,
        origin: Origin,
        status: ResidenceStatus,
        rng: &mut R,
    ) -> Vec<(i32, Address)> {
        if abroad {
            return vec![(i32::MIN, self.places.foreign_address(origin, rng))];
        }
        let (start, end) = (self.period.start, self.period.end);
        if status == ResidenceStatus::Asylum {
            let mut residences = vec![(i32::MIN, self.places.reception_centre(rng))];
            if rng.random_bool(0.6) {
                let day = rng.random_range(start..=end);
                residences.push((day, self.places.dutch_address(None, rng)));
            }
            return residences;
        }
        let first = self.places.dutch_address(None, rng);
        let mut place = self.places.municipality(first.place);
        let mut residences = vec![(i32::MIN, first)];
        let mut moves: Vec<i32> = Vec::new();
        let years = f64::from(end - start + 1) / super::YEAR_DAYS;
        let mut t = 0.0;
        loop {
            t += -(1.0 - rng.random::<f64>()).ln() / MOVES_PER_YEAR;
            if t > years {
                break;
            }
            moves.push(start + (t * super::YEAR_DAYS) as i32);
        }
        for day in moves {
            let same_place = if rng.random_bool(0.65) { place } else { None };
            let address = self.places.dutch_address(same_place, rng);
            place = self.places.municipality(address.place);
            residences.push((day, address));
        }
        residences
    }

    fn person<R: Rng>(
        &mut self,
        draft: Draft,
        status: ResidenceStatus,
        abroad: bool,
        home: &'static str,
        rng: &mut R,
    ) -> Person {
        let id = self.next_person;
        self.next_person += 1;
        let birth_year = draft.birth.year();
        let (given_names, place_of_birth, doppelganger) = match &draft.lookalike {
            Some(model) => {
                let mut place = self.places.dutch_place(rng).name;
                while place == model.place_of_birth {
                    place = self.places.dutch_place(rng).name;
                }
                (model.given_names.clone(), place, true)
            }
            None => {
                let given = self
                    .names
                    .given_names(draft.origin, draft.sex, birth_year, rng);
                let born_abroad = match (draft.origin, draft.adult) {
                    (Origin::Dutch, _) => false,
                    (_, true) => rng.random_bool(0.8),
                    (_, false) => {
                        abroad
                            || matches!(
                                status,
                                ResidenceStatus::Asylum | ResidenceStatus::Undocumented
                            )
                    }
                };
                let place = if born_abroad {
                    self.places.foreign_birthplace(draft.origin, rng)
                } else if self.places.municipality(home).is_some()
                    && (!draft.adult || rng.random_bool(0.6))
                {
                    // Children are born where the household lives; most
                    // adults near where they live now.
                    home
                } else {
                    self.places.dutch_place(rng).name
                };
                (given, place, false)
            }
        };
        let status = if doppelganger {
            ResidenceStatus::Dutch
        } else {
            status
        };
        let has_bsn = match (abroad, status) {
            (true, _) => rng.random_bool(0.2),
            (_, ResidenceStatus::Asylum) => rng.random_bool(0.6),
            (_, ResidenceStatus::Undocumented) => false,
            _ => rng.random_bool(0.99),
        };
        let birth_day_unknown = matches!(
            status,
            ResidenceStatus::Asylum | ResidenceStatus::Undocumented
        ) && matches!(
            draft.origin,
            Origin::Syrian | Origin::Eritrean | Origin::Nigerian | Origin::Ukrainian
        ) && rng.random_bool(0.4);
        let date_of_birth = if birth_day_unknown {
            NaiveDate::from_ymd_opt(birth_year, 1, 1).unwrap_or(draft.birth)
        } else {
            draft.birth
        };
        let (prefix, stem) = draft.surname;
        Person {
            id,
            origin: draft.origin,
            sex: draft.sex,
            given_names,
            surname_prefix: prefix,
            surname: gendered_surname(&stem, draft.origin, draft.sex),
            date_of_birth,
            bsn: has_bsn.then(|| self.bsn.next_bsn()),
            place_of_birth,
            residence_status: status,
            married_name: None,
            doppelganger,
        }
    }
}

/// Gives the woman of a man–woman couple (the first two members) her
/// `Partner-Own` double name.
fn add_married_name(members: &mut [Person]) {
    let (first, second) = members.split_at_mut(1);
    let (a, b) = (&mut first[0], &mut second[0]);
    let (wife, husband) = match (a.sex, b.sex) {
        (Sex::Female, Sex::Male) => (a, &*b),
        (Sex::Male, Sex::Female) => (b, &*a),
        _ => return,
    };
    wife.married_name = Some(format!(
        "{}-{}",
        husband.full_surname(),
        wife.full_surname()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes_elfproef(bsn: u32) -> bool {
        let digits: Vec<u32> = format!("{bsn:09}")
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        let sum: i64 = (0..8)
            .map(|i| i64::from(digits[i]) * (9 - i as i64))
            .sum::<i64>()
            - i64::from(digits[8]);
        sum % 11 == 0
    }

    /// BSNs are unique, nine digits without a leading zero, and pass the 11-proef.
    #[test]
    fn bsn_sequence_is_unique_and_valid() {
        let mut sequence = BsnSequence::new(&[3; 32]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200_000 {
            let bsn = sequence.next_bsn();
            assert!((100_000_000..1_000_000_000).contains(&bsn), "{bsn}");
            assert!(passes_elfproef(bsn), "{bsn}");
            assert!(seen.insert(bsn), "duplicate {bsn}");
        }
    }

    /// The widely used test number 111222333 passes (9+8+7+12+10+8+9+6−3 = 66 = 6·11);
    /// changing its check digit breaks it.
    #[test]
    fn elfproef_reference_example() {
        assert!(passes_elfproef(111_222_333));
        assert!(!passes_elfproef(111_222_334));
    }

    /// The address on a day is the latest one that started on or before it.
    #[test]
    fn address_timeline() {
        let places = Gazetteer::new();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let a = places.dutch_address(None, &mut rng);
        let b = places.dutch_address(None, &mut rng);
        let household = Household {
            members: Vec::new(),
            residences: vec![(i32::MIN, a.clone()), (100, b.clone())],
        };
        assert_eq!(household.address_on(99), &a);
        assert_eq!(household.address_on(100), &b);
        assert_eq!(household.address_on(5000), &b);
    }
}
