//! Dates in agency exports: the per-column format of the schema, partially
//! unknown dates of birth (`YYYY0000`, `YYYYMM00`), placeholder dates, and the
//! age band at the event — the only thing derived from the date of birth that
//! leaves the agency.

use chrono::{Datelike, NaiveDate};

use crate::vocab::AgeBand;

/// Dates that registrations use for "not known" (`docs/SCHEMA.md`): treated as
/// missing. Any date with year `0000` is missing too.
pub const PLACEHOLDER_DATES: &[(u32, u32, u32)] = &[(1800, 1, 1), (1900, 1, 1), (9999, 12, 31)];

/// One piece of a date format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// `%Y`: exactly four ASCII digits.
    Year,
    /// `%m`: exactly two ASCII digits.
    Month,
    /// `%d`: exactly two ASCII digits.
    Day,
    /// A literal separator character.
    Literal(char),
}

/// A strict date format built from `%Y`, `%m`, `%d` and literal characters
/// (`docs/SCHEMA.md`, "Date formats"); each of the three appears exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    /// The pieces in order.
    pieces: Vec<Piece>,
    /// The format as written in the schema, for error messages.
    text: String,
}

/// Year, month and day as written (month and day may be 0 for "unknown").
pub type DateParts = (u32, u32, u32);

impl Default for DateFormat {
    fn default() -> Self {
        DateFormat {
            pieces: vec![
                Piece::Year,
                Piece::Literal('-'),
                Piece::Month,
                Piece::Literal('-'),
                Piece::Day,
            ],
            text: "%Y-%m-%d".to_string(),
        }
    }
}

impl DateFormat {
    /// Parses a format string.
    ///
    /// # Errors
    /// A message naming the problem: an unknown `%` directive, or `%Y`, `%m`,
    /// `%d` missing or repeated.
    pub fn parse(text: &str) -> Result<DateFormat, String> {
        let mut pieces = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            pieces.push(match c {
                '%' => match chars.next() {
                    Some('Y') => Piece::Year,
                    Some('m') => Piece::Month,
                    Some('d') => Piece::Day,
                    other => {
                        return Err(format!(
                            "date format {text:?}: unsupported directive %{} (use %Y, %m, %d)",
                            other.map(String::from).unwrap_or_default()
                        ));
                    }
                },
                literal => Piece::Literal(literal),
            });
        }
        for needed in [Piece::Year, Piece::Month, Piece::Day] {
            if pieces.iter().filter(|p| **p == needed).count() != 1 {
                return Err(format!(
                    "date format {text:?} must contain each of %Y, %m and %d exactly once"
                ));
            }
        }
        Ok(DateFormat {
            pieces,
            text: text.to_string(),
        })
    }

    /// The format as written in the schema.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Splits a cell into (year, month, day) digits, strictly: exact widths,
    /// exact literals, nothing left over. Does not check the calendar.
    pub fn split(&self, cell: &str) -> Option<DateParts> {
        let mut rest = cell.as_bytes();
        let (mut year, mut month, mut day) = (0, 0, 0);
        for piece in &self.pieces {
            match piece {
                Piece::Year => year = take_digits(&mut rest, 4)?,
                Piece::Month => month = take_digits(&mut rest, 2)?,
                Piece::Day => day = take_digits(&mut rest, 2)?,
                Piece::Literal(c) => {
                    let mut buf = [0u8; 4];
                    let lit = c.encode_utf8(&mut buf).as_bytes();
                    rest = rest.strip_prefix(lit)?;
                }
            }
        }
        rest.is_empty().then_some((year, month, day))
    }
}

fn take_digits(rest: &mut &[u8], width: usize) -> Option<u32> {
    let (head, tail) = rest.split_at_checked(width)?;
    let mut value = 0u32;
    for byte in head {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(byte - b'0');
    }
    *rest = tail;
    Some(value)
}

/// `value` as exactly `N` ASCII digits (leading digits dropped if longer):
/// the fixed-width date parts of canonical strings and Bloom elements.
pub(crate) fn digits<const N: usize>(value: u32) -> [u8; N] {
    let mut out = [b'0'; N];
    let mut rest = value;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out
}

/// A date of birth with what is known of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthDate {
    /// A full calendar date.
    Full(NaiveDate),
    /// Year and month known, day unknown (`YYYYMM00`).
    YearMonth(i32, u32),
    /// Only the year known (`YYYY0000`).
    Year(i32),
}

/// What a date cell held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateCell {
    /// Empty, or a placeholder date.
    Missing,
    /// A usable date of birth.
    Known(BirthDate),
    /// Not a date: malformed line.
    Invalid,
}

/// Interprets split date parts as a date of birth (`docs/ENCODING.md`, "Dates"):
/// year `0000` or a placeholder date → missing; month and day `00` → year only;
/// day `00` → year and month; month `00` with a day, month > 12 or a day not in
/// the month → invalid.
pub fn birth_date((year, month, day): DateParts) -> DateCell {
    if year == 0 || PLACEHOLDER_DATES.contains(&(year, month, day)) {
        return DateCell::Missing;
    }
    // Four digits: always fits in i32.
    let y = year as i32;
    match (month, day) {
        (0, 0) => DateCell::Known(BirthDate::Year(y)),
        (1..=12, 0) => DateCell::Known(BirthDate::YearMonth(y, month)),
        _ => match NaiveDate::from_ymd_opt(y, month, day) {
            Some(date) => DateCell::Known(BirthDate::Full(date)),
            None => DateCell::Invalid,
        },
    }
}

/// Interprets split date parts as an event date: only full calendar dates;
/// placeholder dates and year `0000` are missing.
pub fn event_date((year, month, day): DateParts) -> DateCell {
    if year == 0 || PLACEHOLDER_DATES.contains(&(year, month, day)) {
        return DateCell::Missing;
    }
    match NaiveDate::from_ymd_opt(year as i32, month, day) {
        Some(date) => DateCell::Known(BirthDate::Full(date)),
        None => DateCell::Invalid,
    }
}

impl BirthDate {
    /// The year of birth.
    pub fn year(self) -> i32 {
        match self {
            BirthDate::Full(date) => date.year(),
            BirthDate::YearMonth(year, _) | BirthDate::Year(year) => year,
        }
    }

    /// The full date, when known.
    pub fn full(self) -> Option<NaiveDate> {
        match self {
            BirthDate::Full(date) => Some(date),
            _ => None,
        }
    }

    /// The earliest and the latest calendar date this could be.
    fn range(self) -> Option<(NaiveDate, NaiveDate)> {
        match self {
            BirthDate::Full(date) => Some((date, date)),
            BirthDate::YearMonth(year, month) => {
                let first = NaiveDate::from_ymd_opt(year, month, 1)?;
                let next = if month == 12 {
                    NaiveDate::from_ymd_opt(year + 1, 1, 1)?
                } else {
                    NaiveDate::from_ymd_opt(year, month + 1, 1)?
                };
                Some((first, next.pred_opt()?))
            }
            BirthDate::Year(year) => Some((
                NaiveDate::from_ymd_opt(year, 1, 1)?,
                NaiveDate::from_ymd_opt(year, 12, 31)?,
            )),
        }
    }
}

/// Age in completed years on `at` of someone born on `born` (a 29 February
/// birthday counts as reached on 1 March in common years). Negative when `at`
/// is before `born`.
pub fn age_in_years(born: NaiveDate, at: NaiveDate) -> i32 {
    let before_birthday = (at.month(), at.day()) < (born.month(), born.day());
    at.year() - born.year() - i32::from(before_birthday)
}

/// The age band at the event (`docs/ENCODING.md`, "Age band"): the band of the
/// age in completed years, or `unknown` when the date of birth is missing,
/// after the event, or so partial that its possible dates (up to the event
/// date) fall in different bands.
pub fn age_band(born: Option<BirthDate>, event: NaiveDate) -> AgeBand {
    let Some((earliest, latest)) = born.and_then(BirthDate::range) else {
        return AgeBand::Unknown;
    };
    if earliest > event {
        return AgeBand::Unknown;
    }
    let latest = latest.min(event);
    let oldest = age_in_years(earliest, event);
    let youngest = age_in_years(latest, event);
    let band = |age: i32| AgeBand::from_age(u32::try_from(age).unwrap_or(0));
    if band(oldest) == band(youngest) {
        band(oldest)
    } else {
        AgeBand::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Formats parse strictly: exact widths, literals, nothing left over.
    #[test]
    fn strict_formats() {
        let f = DateFormat::parse("%d-%m-%Y").unwrap();
        assert_eq!(f.split("03-07-1990"), Some((1990, 7, 3)));
        assert_eq!(f.split("3-07-1990"), None);
        assert_eq!(f.split("03-07-1990 "), None);
        assert_eq!(f.split("03/07/1990"), None);
        let compact = DateFormat::parse("%Y%m%d").unwrap();
        assert_eq!(compact.split("19900700"), Some((1990, 7, 0)));
        assert!(DateFormat::parse("%Y-%m").is_err());
        assert!(DateFormat::parse("%Y-%m-%d %H").is_err());
    }

    /// Partial, placeholder and impossible dates of birth are told apart.
    #[test]
    fn partial_and_placeholder_dates() {
        assert_eq!(
            birth_date((1990, 0, 0)),
            DateCell::Known(BirthDate::Year(1990))
        );
        assert_eq!(
            birth_date((1990, 7, 0)),
            DateCell::Known(BirthDate::YearMonth(1990, 7))
        );
        assert_eq!(birth_date((1900, 1, 1)), DateCell::Missing);
        assert_eq!(birth_date((0, 0, 0)), DateCell::Missing);
        assert_eq!(birth_date((1990, 0, 5)), DateCell::Invalid);
        assert_eq!(birth_date((1991, 2, 29)), DateCell::Invalid);
    }

    /// Ages count completed years; a leap-day birthday is reached on 1 March.
    #[test]
    fn completed_years() {
        assert_eq!(age_in_years(ymd(2000, 2, 29), ymd(2018, 2, 28)), 17);
        assert_eq!(age_in_years(ymd(2000, 2, 29), ymd(2018, 3, 1)), 18);
        assert_eq!(age_in_years(ymd(2000, 6, 15), ymd(2018, 6, 15)), 18);
    }

    /// A partial date of birth gives a band only when every possible date does.
    #[test]
    fn partial_dates_give_a_band_only_when_certain() {
        let event = ymd(2020, 6, 15);
        assert_eq!(
            age_band(Some(BirthDate::Year(1985)), event),
            AgeBand::Age30To39
        );
        // Born in 2002: 17 or 18 at the event.
        assert_eq!(
            age_band(Some(BirthDate::Year(2002)), event),
            AgeBand::Unknown
        );
        // Born January 2002: 18 for sure.
        assert_eq!(
            age_band(Some(BirthDate::YearMonth(2002, 1)), event),
            AgeBand::Age18To22
        );
        // Born in the event year: the possible dates stop at the event.
        assert_eq!(
            age_band(Some(BirthDate::Year(2020)), event),
            AgeBand::Age0To11
        );
        assert_eq!(
            age_band(Some(BirthDate::Full(ymd(2021, 1, 1))), event),
            AgeBand::Unknown
        );
        assert_eq!(age_band(None, event), AgeBand::Unknown);
    }
}
