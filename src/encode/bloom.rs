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
        for_each_date_part(dob, |part| out[2].push(part.to_string()));
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

/// Calls `f` with `yYYYY`, then `mMM` and `dDD` as far as they are known.
fn for_each_date_part(dob: BirthDate, mut f: impl FnMut(&str)) {
    let (month, day) = match dob {
        BirthDate::Full(date) => (Some(date.month()), Some(date.day())),
        BirthDate::YearMonth(_, month) => (Some(month), None),
        BirthDate::Year(_) => (None, None),
    };
    let year = digits::<4>(dob.year().unsigned_abs());
    let mut emit = |tag: u8, digits: &[u8]| {
        let mut buf = [tag; 5];
        buf[1..=digits.len()].copy_from_slice(digits);
        if let Ok(part) = std::str::from_utf8(&buf[..=digits.len()]) {
            f(part);
        }
    };
    emit(b'y', &year);
    if let Some(month) = month {
        emit(b'm', &digits::<2>(month));
    }
    if let Some(day) = day {
        emit(b'd', &digits::<2>(day));
    }
}

/// Sets the `k` bits of one element: the first `2k` bytes of
/// `BLAKE3-keyed-XOF(field key, u8(len salt) ‖ salt ‖ element)`, read as
/// big-endian 16-bit integers, each modulo 1024.
fn add_element(bloom: &mut Bloom, key: &[u8; 32], k: usize, salt: &[u8], element: &str) {
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
    let mut positions = [0u8; 64];
    let positions = &mut positions[..2 * k];
    if positions.len() <= blake3::OUT_LEN {
        // The first 32 bytes of the keyed XOF are the keyed hash.
        positions.copy_from_slice(&blake3::keyed_hash(key, input).as_bytes()[..2 * k]);
    } else {
        let mut hasher = blake3::Hasher::new_keyed(key);
        hasher.update(input);
        hasher.finalize_xof().fill(positions);
    }
    for pair in positions.chunks_exact(2) {
        bloom.set(usize::from(u16::from_be_bytes([pair[0], pair[1]])));
    }
}

/// The Bloom encoding of a person, or `None` when the given name, surname and
/// date of birth are all missing. `keys` are in the order of [`BLOOM_FIELDS`].
pub(crate) fn encode(
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
    for (i, name) in [&person.given_name, &person.surname]
        .into_iter()
        .enumerate()
    {
        if let Some(name) = name {
            let field = BLOOM_FIELDS[i];
            for_each_bigram(name, |gram| {
                add_element(&mut bloom, &keys[i], field.k, salt, gram)
            });
        }
    }
    if let Some(dob) = person.date_of_birth {
        let field = BLOOM_FIELDS[2];
        for_each_date_part(dob, |part| {
            add_element(&mut bloom, &keys[2], field.k, b"", part)
        });
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

    /// Every field's k fits one 64-byte XOF block.
    #[test]
    fn k_fits_one_block() {
        assert!(BLOOM_FIELDS.iter().all(|f| (1..=32).contains(&f.k)));
    }
}
