//! The keyed record-level Bloom encoding (a cryptographic long-term key, CLK,
//! after Schnell, Bachteler & Reiher 2011) of the first given name, the surname
//! key and the date of birth, for fuzzy matching by Dice coefficient when no
//! token is shared (`docs/ENCODING.md`, "Bloom encoding").
//!
//! 1024 bits. Names contribute their padded bigrams, the date of birth its
//! known parts. Each element sets `k` bits chosen by a keyed BLAKE3 XOF under
//! the key of its field ("random hashing", not double hashing: the double
//! hashing of the first Bloom-filter PPRL papers is what Niedermeyer et al. 2014
//! and Kroll & Steinmetzer 2015 broke). Hardening against the linkage service
//! as attacker is chosen by [`BloomScheme`]; its costs and reasons are in
//! `docs/ENCODING.md`, "Hardening".

use std::io::Write as _;
use std::sync::OnceLock;

use chrono::Datelike;

use super::dates::{BirthDate, digits};
use super::normalise::NormalisedPerson;

/// Length of a Bloom encoding in bits.
pub const BLOOM_BITS: usize = 1024;

/// Length of a Bloom encoding in bytes.
pub const BLOOM_BYTES: usize = BLOOM_BITS / 8;

/// A 1024-bit Bloom encoding. Bit `p` (0–1023) is bit `7 − p mod 8` of byte
/// `p / 8`: bit 0 is the most significant bit of byte 0 (the order of Python's
/// `bitarray` and clkhash), so the hex or base64 of the bytes reads left to right.
#[derive(Clone, PartialEq, Eq)]
pub struct Bloom(pub [u8; BLOOM_BYTES]);

impl std::fmt::Debug for Bloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bloom({} of {BLOOM_BITS} bits set)", self.count_ones())
    }
}

impl Bloom {
    /// Sets bit `position` (taken modulo [`BLOOM_BITS`]).
    fn set(&mut self, position: usize) {
        let p = position % BLOOM_BITS;
        self.0[p / 8] |= 0x80 >> (p % 8);
    }

    /// Sets every bit in `positions` (each already below [`BLOOM_BITS`]).
    fn set_all(&mut self, positions: &[u16]) {
        for &p in positions {
            self.set(usize::from(p));
        }
    }

    /// Sets every bit that is set in `other` (bitwise OR).
    fn set_from(&mut self, other: &Bloom) {
        for (byte, bits) in self.0.iter_mut().zip(other.0) {
            *byte |= bits;
        }
    }

    /// True when bit `position` is set.
    pub fn get(&self, position: usize) -> bool {
        let p = position % BLOOM_BITS;
        self.0[p / 8] & (0x80 >> (p % 8)) != 0
    }

    /// Number of bits set.
    pub fn count_ones(&self) -> u32 {
        self.0.iter().map(|b| b.count_ones()).sum()
    }

    /// The Dice coefficient 2|A∩B| / (|A|+|B|) of two encodings, in [0, 1]
    /// (0 when both are empty).
    pub fn dice(&self, other: &Bloom) -> f64 {
        let common: u32 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a & b).count_ones())
            .sum();
        let total = self.count_ones() + other.count_ones();
        if total == 0 {
            0.0
        } else {
            2.0 * f64::from(common) / f64::from(total)
        }
    }
}

/// Which hardening the Bloom encoding applies (an encoder option, so linkage
/// quality can be measured with and without it). Part of the fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BloomScheme {
    /// Per-field keys, random hashing, record level — no salt.
    Unsalted,
    /// As `Unsalted`, and name elements are salted with the year of birth: the
    /// same name in different birth years sets unrelated bits.
    SaltedByBirthYear,
}

impl BloomScheme {
    /// The scheme used unless an encoder is told otherwise.
    pub const DEFAULT: BloomScheme = BloomScheme::SaltedByBirthYear;

    /// The byte that names the scheme in the encoding fingerprint
    /// (0 is "no Bloom encoding").
    pub fn code(self) -> u8 {
        match self {
            BloomScheme::Unsalted => 1,
            BloomScheme::SaltedByBirthYear => 2,
        }
    }
}

/// One field of the Bloom encoding.
#[derive(Debug, Clone, Copy)]
pub struct BloomField {
    /// Stable name (documentation, vectors).
    pub name: &'static str,
    /// Bits set per element (`k`); at most 32 so one 64-byte XOF block suffices.
    pub k: usize,
    /// BLAKE3 `derive_key` context of the field's key.
    pub key_context: &'static str,
}

/// The fields in fixed order: first given name, surname key, date of birth.
/// Names set 16 bits per bigram (one keyed hash each); the date sets 32 per
/// part, so its three parts weigh about a quarter of a typical encoding and a
/// different date of birth lowers the Dice coefficient noticeably.
pub const BLOOM_FIELDS: [BloomField; 3] = [
    BloomField {
        name: "given_name",
        k: 16,
        key_context: "veilink encoding v1 bloom field given_name",
    },
    BloomField {
        name: "surname",
        k: 16,
        key_context: "veilink encoding v1 bloom field surname",
    },
    BloomField {
        name: "date_of_birth",
        k: 32,
        key_context: "veilink encoding v1 bloom field date_of_birth",
    },
];

/// The elements of each field (for the vectors and the spec's examples):
/// padded bigrams of the names, `y`/`m`/`d`-tagged parts of the date of birth.
pub fn elements(person: &NormalisedPerson) -> [Vec<String>; 3] {
    let mut out: [Vec<String>; 3] = Default::default();
    for (i, name) in [&person.given_name, &person.surname]
        .into_iter()
        .enumerate()
    {
        if let Some(name) = name {
            for_each_bigram(name, |gram| out[i].push(gram.to_string()));
        }
    }
    if let Some(dob) = person.date_of_birth {
        for_each_date_part(dob, |part| out[2].push(part.text().to_string()));
    }
    out
}

/// Calls `f` with each bigram of `_name_` (code points, not bytes), in order.
fn for_each_bigram(name: &str, mut f: impl FnMut(&str)) {
    let mut previous = '_';
    for c in name.chars().chain(std::iter::once('_')) {
        let mut buf = [0u8; 8];
        let first = previous.encode_utf8(&mut buf).len();
        let second = c.encode_utf8(&mut buf[first..]).len();
        // Two encoded chars are valid UTF-8.
        if let Ok(gram) = std::str::from_utf8(&buf[..first + second]) {
            f(gram);
        }
        previous = c;
    }
}

/// One element of the date of birth: a tag (`y`, `m` or `d`) and its
/// number's decimal digits (4 for the year, 2 for month and day).
struct DatePart {
    /// The element's bytes, `yYYYY`, `mMM` or `dDD`.
    bytes: [u8; 5],
    /// Used length of `bytes`.
    len: usize,
    /// The number the digits spell (the year modulo 10,000).
    number: u32,
}

impl DatePart {
    /// The part `tag` followed by `number` in `width` (2 or 4) decimal
    /// digits; a number too wide keeps its last `width` digits.
    fn new(tag: u8, number: u32, width: usize) -> DatePart {
        let mut bytes = [tag; 5];
        let number = number % 10u32.pow(width as u32);
        if width == 4 {
            bytes[1..5].copy_from_slice(&digits::<4>(number));
        } else {
            bytes[1..3].copy_from_slice(&digits::<2>(number));
        }
        DatePart {
            bytes,
            len: 1 + width,
            number,
        }
    }

    /// The element as text (ASCII).
    fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    /// `y`, `m` or `d`.
    fn tag(&self) -> u8 {
        self.bytes[0]
    }
}

/// Calls `f` with `yYYYY`, then `mMM` and `dDD` as far as they are known.
fn for_each_date_part(dob: BirthDate, mut f: impl FnMut(DatePart)) {
    let (month, day) = match dob {
        BirthDate::Full(date) => (Some(date.month()), Some(date.day())),
        BirthDate::YearMonth(_, month) => (Some(month), None),
        BirthDate::Year(_) => (None, None),
    };
    f(DatePart::new(b'y', dob.year().unsigned_abs(), 4));
    if let Some(month) = month {
        f(DatePart::new(b'm', month, 2));
    }
    if let Some(day) = day {
        f(DatePart::new(b'd', day, 2));
    }
}

/// The text of a salt: the birth year as at least four decimal digits
/// (`format!("{year:04}")`), or empty; without an allocation.
struct SaltText {
    /// The digits (and a minus sign for a negative year).
    bytes: [u8; 12],
    /// Used length of `bytes`.
    len: usize,
}

impl SaltText {
    /// The text of `salt` (empty for `None`).
    fn new(salt: Option<i32>) -> SaltText {
        let mut bytes = [0u8; 12];
        let len = match salt {
            None => 0,
            Some(year) => {
                let mut rest = &mut bytes[..];
                // Years need at most 11 bytes.
                let _ = write!(rest, "{year:04}");
                12 - rest.len()
            }
        };
        SaltText { bytes, len }
    }

    /// The text as bytes.
    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The bit positions of one element: the first `2k` bytes of
/// `BLAKE3-keyed-XOF(field key, u8(len salt) ‖ salt ‖ element)`, read as
/// big-endian 16-bit integers, each modulo 1024. Only the first `k` entries of
/// the result are meaningful.
fn element_positions(key: &[u8; 32], k: usize, salt: &[u8], element: &str) -> [u16; MAX_K] {
    // Salt (≤ 4 bytes) and a bigram (≤ 8 bytes) fit on the stack.
    let mut input = [0u8; 32];
    let len = 1 + salt.len() + element.len();
    let heap: Vec<u8>;
    let input: &[u8] = if len <= input.len() {
        input[0] = salt.len() as u8;
        input[1..=salt.len()].copy_from_slice(salt);
        input[1 + salt.len()..len].copy_from_slice(element.as_bytes());
        &input[..len]
    } else {
        heap = [&[salt.len() as u8], salt, element.as_bytes()].concat();
        &heap
    };
    let mut bytes = [0u8; 2 * MAX_K];
    let bytes = &mut bytes[..2 * k.min(MAX_K)];
    if bytes.len() <= blake3::OUT_LEN {
        // The first 32 bytes of the keyed XOF are the keyed hash.
        bytes.copy_from_slice(&blake3::keyed_hash(key, input).as_bytes()[..bytes.len()]);
    } else {
        let mut hasher = blake3::Hasher::new_keyed(key);
        hasher.update(input);
        hasher.finalize_xof().fill(bytes);
    }
    let mut positions = [0u16; MAX_K];
    for (position, pair) in positions.iter_mut().zip(bytes.chunks_exact(2)) {
        *position = u16::from_be_bytes([pair[0], pair[1]]) % BLOOM_BITS as u16;
    }
    positions
}

/// Largest `k` of any field (one 64-byte XOF block).
const MAX_K: usize = 32;

/// `k` of the two name fields, which the name tables below are sized for.
const NAME_K: usize = 16;

/// `k` of the date-of-birth field.
const DATE_K: usize = 32;

const _: () = assert!(
    BLOOM_FIELDS[0].k == NAME_K && BLOOM_FIELDS[1].k == NAME_K && BLOOM_FIELDS[2].k == DATE_K
);

/// Symbols of the name tables: `_` (padding) and `a`–`z`, which is what
/// folding leaves of almost every name (`docs/ENCODING.md`, "Folding").
const NAME_SYMBOLS: usize = 27;

/// First birth year (salt) with a name table; years outside
/// `FIRST_TABLE_YEAR..FIRST_TABLE_YEAR + TABLE_YEARS` are hashed each time.
const FIRST_TABLE_YEAR: i32 = 1850;

/// Number of birth years with name tables (and of `y` parts in the date table).
const TABLE_YEARS: usize = 256;

/// The positions of one bigram: 32 bytes, aligned to 32 so an entry never
/// straddles two 64-byte cache lines (one miss, one prefetch per entry).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct NameEntry([u16; NAME_K]);

/// Positions of every bigram over [`NAME_SYMBOLS`] for one name field and one
/// salt (27 × 27 × 32 bytes = 23 kB).
type NameTable = [NameEntry; NAME_SYMBOLS * NAME_SYMBOLS];

/// The bits of each date part `y1850`…`y2105`, `m01`…`m12`, `d01`…`d31` as
/// a Bloom filter of its own (299 × 128 bytes = 38 kB), so a date part is
/// added by one OR over the filter instead of 32 single-bit writes.
type DateTable = [Bloom; TABLE_YEARS + 12 + 31];

/// Memoised element positions of one encoder's Bloom keys: the same positions
/// [`element_positions`] computes, so the encodings are byte for byte those of
/// the specification, but each (field, salt, bigram) is hashed once per
/// encoder instead of once per record. Tables are filled on first use (a name
/// table costs 729 keyed hashes, about 0.1 ms) and shared by every thread.
/// Elements outside the tables (other letters, unusual years) are hashed as
/// before. The tables hold keyed-hash outputs only, in the encoder's memory on
/// the agency's machine, like the keys they come from.
pub(crate) struct PositionCache {
    /// The field keys in the order of [`BLOOM_FIELDS`].
    keys: [[u8; 32]; 3],
    /// Per name field: slot 0 is the unsalted table, slot `1 + year − 1850`
    /// the table salted with that birth year.
    names: [Box<[OnceLock<Box<NameTable>>]>; 2],
    /// The date-of-birth parts (never salted).
    date: OnceLock<Box<DateTable>>,
}

impl PositionCache {
    /// An empty cache for the Bloom keys `keys` (order of [`BLOOM_FIELDS`]).
    pub(crate) fn new(keys: [[u8; 32]; 3]) -> PositionCache {
        let slots = || (0..=TABLE_YEARS).map(|_| OnceLock::new()).collect();
        PositionCache {
            keys,
            names: [slots(), slots()],
            date: OnceLock::new(),
        }
    }

    /// Sets the bits of every bigram of `name` in name field `field` (0 or 1)
    /// under `salt` (`None`, or the birth year).
    fn add_name(&self, bloom: &mut Bloom, field: usize, salt: Option<i32>, name: &str) {
        let slot = table_slot(salt);
        let table = slot.map(|slot| {
            self.names[field][slot].get_or_init(|| {
                let salt = SaltText::new(salt);
                let mut table = Box::new([NameEntry([0; NAME_K]); NAME_SYMBOLS * NAME_SYMBOLS]);
                for (index, entry) in table.iter_mut().enumerate() {
                    let gram = [
                        name_symbol_char(index / NAME_SYMBOLS),
                        name_symbol_char(index % NAME_SYMBOLS),
                    ];
                    let gram = std::str::from_utf8(&gram).unwrap_or_default();
                    let all = element_positions(&self.keys[field], NAME_K, salt.bytes(), gram);
                    entry.0.copy_from_slice(&all[..NAME_K]);
                }
                table
            })
        });
        let hash = |bloom: &mut Bloom, gram: &str| {
            let all =
                element_positions(&self.keys[field], NAME_K, SaltText::new(salt).bytes(), gram);
            bloom.set_all(&all[..NAME_K]);
        };
        match table {
            // An ASCII name's bigrams are its byte pairs: no character decoding.
            Some(table) if name.is_ascii() => {
                for_each_ascii_bigram(name, |pair, index| match index {
                    Some(index) => bloom.set_all(&table[index].0),
                    // Two ASCII bytes are valid UTF-8.
                    None => hash(bloom, std::str::from_utf8(&pair).unwrap_or_default()),
                });
            }
            _ => for_each_bigram(name, |gram| match (table, bigram_index(gram)) {
                (Some(table), Some(index)) => bloom.set_all(&table[index].0),
                _ => hash(bloom, gram),
            }),
        }
    }

    /// Asks the processor to bring the name-table entries of `name` (field
    /// `field`, under `salt`) into the cache, without waiting for them. The
    /// salted tables do not fit the L2 cache, so the first read of an entry
    /// usually misses; issued before the record's match tokens are hashed,
    /// the loads overlap that work. A hint only: nothing is read or set; a
    /// table not built yet, and names with other than ASCII letters (rare,
    /// read through `for_each_bigram`), are left alone.
    fn prefetch_name(&self, field: usize, salt: Option<i32>, name: &str) {
        let Some(table) = table_slot(salt).and_then(|slot| self.names[field][slot].get()) else {
            return;
        };
        if name.is_ascii() {
            for_each_ascii_bigram(name, |_, index| {
                if let Some(index) = index {
                    prefetch(&table[index]);
                }
            });
        }
    }

    /// Sets the bits of the known parts of a date of birth.
    fn add_date(&self, bloom: &mut Bloom, dob: BirthDate) {
        let key = &self.keys[2];
        let table = self.date.get_or_init(|| {
            let mut table = Box::new([const { Bloom([0; BLOOM_BYTES]) }; TABLE_YEARS + 12 + 31]);
            for (index, entry) in table.iter_mut().enumerate() {
                let part = date_part_of_index(index);
                entry.set_all(&element_positions(key, DATE_K, b"", part.text()));
            }
            table
        });
        for_each_date_part(dob, |part| match date_part_index(&part) {
            Some(index) => bloom.set_from(&table[index]),
            None => bloom.set_all(&element_positions(key, DATE_K, b"", part.text())),
        });
    }
}

/// The name-table slot of a salt: 0 for none, `1 + year − 1850` for a birth
/// year with a table, `None` for a year without one.
fn table_slot(salt: Option<i32>) -> Option<usize> {
    match salt {
        None => Some(0),
        Some(year) => usize::try_from(year - FIRST_TABLE_YEAR)
            .ok()
            .filter(|offset| *offset < TABLE_YEARS)
            .map(|offset| offset + 1),
    }
}

/// A prefetch hint for the cache line holding `value` (no-op off x86-64).
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults and has no effect on memory; the
        // pointer comes from a reference, so it is valid anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Table index of a name symbol (`_` → 0, `a`–`z` → 1–26).
fn name_symbol(byte: u8) -> Option<usize> {
    match byte {
        b'_' => Some(0),
        b'a'..=b'z' => Some(usize::from(byte - b'a') + 1),
        _ => None,
    }
}

/// Name-table index of a bigram, when both its characters are name symbols.
fn bigram_index(gram: &str) -> Option<usize> {
    match gram.as_bytes() {
        [first, second] => Some(name_symbol(*first)? * NAME_SYMBOLS + name_symbol(*second)?),
        _ => None,
    }
}

/// Calls `f` with each bigram of an ASCII `name`, padded with `_` at both
/// ends as [`for_each_bigram`] pads it (for ASCII text the bigrams are byte
/// pairs, so no character decoding), and its name-table index when both
/// bytes are name symbols.
fn for_each_ascii_bigram(name: &str, mut f: impl FnMut([u8; 2], Option<usize>)) {
    let mut previous = b'_';
    for byte in name.bytes().chain(std::iter::once(b'_')) {
        let index = match (name_symbol(previous), name_symbol(byte)) {
            (Some(first), Some(second)) => Some(first * NAME_SYMBOLS + second),
            _ => None,
        };
        f([previous, byte], index);
        previous = byte;
    }
}

/// The symbol of a name-table index (inverse of [`name_symbol`]).
fn name_symbol_char(index: usize) -> u8 {
    if index == 0 {
        b'_'
    } else {
        b'a' + (index - 1) as u8
    }
}

/// Table index of a date part (`y1850`… first, then `m01`…, then `d01`…).
fn date_part_index(part: &DatePart) -> Option<usize> {
    let number = part.number as usize;
    match part.tag() {
        b'y' => number
            .checked_sub(FIRST_TABLE_YEAR as usize)
            .filter(|offset| *offset < TABLE_YEARS),
        b'm' => (1..=12).contains(&number).then(|| TABLE_YEARS + number - 1),
        b'd' => (1..=31)
            .contains(&number)
            .then(|| TABLE_YEARS + 12 + number - 1),
        _ => None,
    }
}

/// The date part of table index `index` (inverse of [`date_part_index`]).
fn date_part_of_index(index: usize) -> DatePart {
    if index < TABLE_YEARS {
        DatePart::new(b'y', FIRST_TABLE_YEAR as u32 + index as u32, 4)
    } else if index < TABLE_YEARS + 12 {
        DatePart::new(b'm', (index - TABLE_YEARS) as u32 + 1, 2)
    } else {
        DatePart::new(b'd', (index - TABLE_YEARS - 12) as u32 + 1, 2)
    }
}

/// The Bloom encoding of a person, or `None` when the given name, surname and
/// date of birth are all missing (`docs/ENCODING.md`, "Bloom encoding").
pub(crate) fn encode(
    person: &NormalisedPerson,
    cache: &PositionCache,
    scheme: BloomScheme,
) -> Option<Bloom> {
    if person.given_name.is_none() && person.surname.is_none() && person.date_of_birth.is_none() {
        return None;
    }
    let mut bloom = Bloom([0; BLOOM_BYTES]);
    for_each_name(person, scheme, |field, salt, name| {
        cache.add_name(&mut bloom, field, salt, name);
    });
    if let Some(dob) = person.date_of_birth {
        cache.add_date(&mut bloom, dob);
    }
    Some(bloom)
}

/// Prefetches the name-table entries [`encode`] will read for `person` (see
/// [`PositionCache::prefetch_name`]); call it some work ahead of `encode`.
pub(crate) fn prefetch_tables(
    person: &NormalisedPerson,
    cache: &PositionCache,
    scheme: BloomScheme,
) {
    for_each_name(person, scheme, |field, salt, name| {
        cache.prefetch_name(field, salt, name);
    });
}

/// Calls `visit(field, salt, name)` for the given name (field 0) and the
/// surname (field 1) of `person` that are present, with the salt `scheme`
/// gives the person's names (the birth year, or none).
fn for_each_name(
    person: &NormalisedPerson,
    scheme: BloomScheme,
    mut visit: impl FnMut(usize, Option<i32>, &str),
) {
    let salt = match (scheme, person.date_of_birth) {
        (BloomScheme::SaltedByBirthYear, Some(dob)) => Some(dob.year()),
        _ => None,
    };
    for (field, name) in [&person.given_name, &person.surname]
        .into_iter()
        .enumerate()
    {
        if let Some(name) = name {
            visit(field, salt, name);
        }
    }
}

/// The Bloom encoding computed element by element with no tables: the
/// reference the cached [`encode`] is tested against.
#[cfg(test)]
fn encode_uncached(
    person: &NormalisedPerson,
    keys: &[[u8; 32]; 3],
    scheme: BloomScheme,
) -> Option<Bloom> {
    if person.given_name.is_none() && person.surname.is_none() && person.date_of_birth.is_none() {
        return None;
    }
    let mut bloom = Bloom([0; BLOOM_BYTES]);
    let year;
    let salt: &[u8] = match (scheme, person.date_of_birth) {
        (BloomScheme::SaltedByBirthYear, Some(dob)) => {
            year = format!("{:04}", dob.year());
            year.as_bytes()
        }
        _ => b"",
    };
    let [given, surname, _] = elements(person);
    for (field, grams) in [given, surname].iter().enumerate() {
        for gram in grams {
            bloom.set_all(&element_positions(&keys[field], NAME_K, salt, gram)[..NAME_K]);
        }
    }
    let mut parts = Vec::new();
    if let Some(dob) = person.date_of_birth {
        for_each_date_part(dob, |part| parts.push(part.text().to_string()));
    }
    for part in parts {
        bloom.set_all(&element_positions(&keys[2], DATE_K, b"", &part));
    }
    Some(bloom)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bigrams are padded with `_` and counted in characters, not bytes.
    #[test]
    fn padded_bigrams() {
        let mut grams = Vec::new();
        for_each_bigram("jan", |g| grams.push(g.to_string()));
        assert_eq!(grams, ["_j", "ja", "an", "n_"]);
        grams.clear();
        for_each_bigram("ö", |g| grams.push(g.to_string()));
        assert_eq!(grams, ["_ö", "ö_"]);
    }

    /// Bit 0 is the most significant bit of byte 0.
    #[test]
    fn bit_order() {
        let mut bloom = Bloom([0; BLOOM_BYTES]);
        bloom.set(0);
        bloom.set(9);
        bloom.set(1023);
        assert_eq!(bloom.0[0], 0x80);
        assert_eq!(bloom.0[1], 0x40);
        assert_eq!(bloom.0[127], 0x01);
        assert!(bloom.get(9) && !bloom.get(8));
    }

    /// Dice is 1 for equal encodings and 0 for disjoint ones.
    #[test]
    fn dice_bounds() {
        let mut a = Bloom([0; BLOOM_BYTES]);
        let mut b = Bloom([0; BLOOM_BYTES]);
        a.set(1);
        b.set(2);
        assert_eq!(a.dice(&a), 1.0);
        assert_eq!(a.dice(&b), 0.0);
    }

    fn keys() -> [[u8; 32]; 3] {
        [[1; 32], [2; 32], [3; 32]]
    }

    fn person(
        given: Option<&str>,
        surname: Option<&str>,
        dob: Option<BirthDate>,
    ) -> NormalisedPerson {
        NormalisedPerson {
            given_name: given.map(str::to_string),
            surname: surname.map(str::to_string),
            date_of_birth: dob,
            ..NormalisedPerson::default()
        }
    }

    /// Every table entry — each bigram of the name alphabet under no salt and
    /// under years at both ends of the table, every date part — gives the
    /// positions of the specification's keyed XOF.
    #[test]
    fn tables_hold_the_specified_positions() {
        let cache = PositionCache::new(keys());
        let symbols: Vec<char> = (0..NAME_SYMBOLS)
            .map(|i| char::from(name_symbol_char(i)))
            .collect();
        for salt in [None, Some(1850), Some(1987), Some(2105)] {
            for field in 0..2 {
                for &a in &symbols {
                    for &b in &symbols {
                        // A one-letter "name" `ab` gives `_a`, `ab`, `b_`; compare
                        // the whole encoding with the element-by-element one.
                        let name: String = [a, b].iter().filter(|c| **c != '_').collect();
                        if name.is_empty() {
                            continue;
                        }
                        let mut cached = Bloom([0; BLOOM_BYTES]);
                        cache.add_name(&mut cached, field, salt, &name);
                        let salt_text = salt.map(|y| format!("{y:04}")).unwrap_or_default();
                        let mut direct = Bloom([0; BLOOM_BYTES]);
                        for_each_bigram(&name, |gram| {
                            let all = element_positions(
                                &keys()[field],
                                NAME_K,
                                salt_text.as_bytes(),
                                gram,
                            );
                            direct.set_all(&all[..NAME_K]);
                        });
                        assert_eq!(
                            cached, direct,
                            "field {field}, salt {salt:?}, name {name:?}"
                        );
                    }
                }
            }
        }
        for index in 0..NAME_SYMBOLS * NAME_SYMBOLS {
            let gram = [
                name_symbol_char(index / NAME_SYMBOLS),
                name_symbol_char(index % NAME_SYMBOLS),
            ];
            assert_eq!(
                bigram_index(std::str::from_utf8(&gram).unwrap()),
                Some(index)
            );
        }
        for index in 0..TABLE_YEARS + 12 + 31 {
            let text = date_part_of_index(index).text().to_string();
            let number: u32 = text[1..].parse().unwrap();
            let parsed = DatePart::new(text.as_bytes()[0], number, text.len() - 1);
            assert_eq!(parsed.text(), text);
            assert_eq!(date_part_index(&parsed), Some(index), "{text}");
        }
    }

    proptest::proptest! {
        /// The cached encoding equals the element-by-element one for any
        /// names (also letters outside the tables) and any date of birth
        /// (also years outside the tables), under both schemes.
        #[test]
        fn cached_encoding_is_the_specified_one(
            given in proptest::option::of("[a-zé_ßø0-9A]{0,12}"),
            surname in proptest::option::of("[a-zçı]{0,16}"),
            year in 1700i32..2300,
            month in 1u32..=12,
            day in 1u32..=28,
            precision in 0usize..4,
        ) {
            let dob = match precision {
                0 => None,
                1 => Some(BirthDate::Year(year)),
                2 => Some(BirthDate::YearMonth(year, month)),
                _ => chrono::NaiveDate::from_ymd_opt(year, month, day).map(BirthDate::Full),
            };
            let p = person(given.as_deref(), surname.as_deref(), dob);
            let cache = PositionCache::new(keys());
            for scheme in [BloomScheme::Unsalted, BloomScheme::SaltedByBirthYear] {
                proptest::prop_assert_eq!(
                    encode(&p, &cache, scheme),
                    encode_uncached(&p, &keys(), scheme)
                );
            }
        }
    }

    /// Date parts and salts are written as the specification's
    /// `format!`-based definitions write them, also for years without four
    /// digits or with more, negative years and the extremes of `i32`.
    #[test]
    fn date_part_and_salt_texts() {
        for year in [-50, 0, 7, 1987, 12345, i32::MIN, i32::MAX] {
            let last4 = year.unsigned_abs() % 10_000;
            assert_eq!(
                DatePart::new(b'y', year.unsigned_abs(), 4).text(),
                format!("y{last4:04}")
            );
            assert_eq!(
                SaltText::new(Some(year)).bytes(),
                format!("{year:04}").as_bytes()
            );
        }
        assert_eq!(DatePart::new(b'm', 3, 2).text(), "m03");
        assert_eq!(DatePart::new(b'd', 31, 2).text(), "d31");
        assert!(SaltText::new(None).bytes().is_empty());
    }

    /// Every field's k fits one 64-byte XOF block.
    #[test]
    fn k_fits_one_block() {
        assert!(BLOOM_FIELDS.iter().all(|f| (1..=32).contains(&f.k)));
    }
}
