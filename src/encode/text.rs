//! Unicode folding shared by every text field (`docs/ENCODING.md`, "Folding").
//!
//! Registrations write the same name with and without diacritics, in any case,
//! with stray punctuation and with the Dutch digraph `ij` or `y`. Folding turns a
//! raw cell into a list of lower-case words over a small alphabet so that those
//! spellings compare equal; the field-specific rules in [`super::normalise`]
//! then work on the words. The words share one buffer (their concatenation,
//! which is also the "joined" value most fields use), so folding a cell costs
//! one allocation for up to four words, and none when [`fold_into`] reuses
//! the buffer of an earlier cell.

use smallvec::SmallVec;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A folded cell: its words, stored concatenated with their end offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// All words concatenated without separators (the "joined" value).
    text: String,
    /// For each word: its end offset in `text`, and whether a full stop
    /// followed it in the raw cell (`J.`, `Th.`: an abbreviation). Inline for
    /// up to four words (almost every cell), so folding allocates only `text`.
    ends: SmallVec<[(usize, bool); 4]>,
}

impl Folded {
    /// The words with their abbreviation flags, in order; never empty strings.
    pub fn words(&self) -> impl Iterator<Item = (&str, bool)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(end, abbreviated)| {
            let word = &self.text[start..end];
            start = end;
            (word, abbreviated)
        })
    }

    /// The words concatenated without separators.
    pub fn joined(&self) -> &str {
        &self.text
    }

    /// True when there are no words.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// True when the cell is a placeholder for "not known": its joined value is
    /// one of [`PLACEHOLDERS`], or only the letter `x` (`X`, `XXX`).
    pub fn is_placeholder(&self) -> bool {
        let text = self.text.as_bytes();
        if text.is_empty() {
            return false;
        }
        text.iter().all(|b| *b == b'x')
            || (text.len() <= LONGEST_PLACEHOLDER && PLACEHOLDER_KEYS.contains(&pack(text)))
    }
}

/// Which characters a field keeps as word characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Names: letters only; digits separate words.
    Letters,
    /// Places, postcodes, house numbers and ids: letters and ASCII digits.
    LettersAndDigits,
}

/// Folded cell values that mean "not known" (`docs/ENCODING.md`,
/// "Placeholders"), compared with the concatenation of all words of a cell.
pub const PLACEHOLDERS: &[&str] = &PLACEHOLDER_LIST;

const PLACEHOLDER_LIST: [&str; 21] = [
    "anoniem",
    "anonymous",
    "fnu",
    "geen",
    "geennaam",
    "leeg",
    "lnu",
    "nietbekend",
    "nil",
    "nn",
    "nnn",
    "nonaam",
    "noname",
    "none",
    "notknown",
    "null",
    "nvt",
    "onb",
    "onbekend",
    "unk",
    "unknown",
];

/// Folds a raw cell into words (`docs/ENCODING.md`, "Folding", steps 1–6):
/// NFKD; drop combining marks (general category M); lower-case each character
/// (Unicode default mapping, no context); map the letters NFKD leaves alone
/// (`ß`→`ss`, `æ`→`ae`, `œ`→`oe`, `ø`→`o`, `ł`→`l`, `đ`/`ð`→`d`, `þ`→`th`,
/// `ı`→`i`, `ħ`→`h`, `ŧ`→`t`); split into words at every character that is not
/// kept (a full stop also marks the word before it as abbreviated); replace
/// `ij` by `y` inside each word.
pub fn fold(raw: &str, keep: Keep) -> Folded {
    let mut folded = Folded::default();
    fold_into(raw, keep, &mut folded);
    folded
}

/// [`fold`] into `out`, replacing what it held and keeping its buffers, so
/// that folding one cell after another allocates nothing once the buffers
/// are large enough.
pub fn fold_into(raw: &str, keep: Keep, out: &mut Folded) {
    let mut folder = Folder::reusing(std::mem::take(out), raw.len(), keep);
    if raw.is_ascii() {
        folder.push_ascii(raw);
    } else {
        folder.push_unicode(raw);
    }
    *out = folder.finish();
}

/// A folded word list of up to 16 bytes packed into an integer (zero-padded;
/// folded text never contains NUL), so short-list lookups compare integers.
pub(crate) const fn pack(bytes: &[u8]) -> u128 {
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < bytes.len() && i < 16 {
        out[i] = bytes[i];
        i += 1;
    }
    u128::from_le_bytes(out)
}

/// Packs a list of short words at compile time (see [`pack`]).
pub(crate) const fn pack_all<const N: usize>(words: [&str; N]) -> [u128; N] {
    let mut out = [0u128; N];
    let mut i = 0;
    while i < N {
        out[i] = pack(words[i].as_bytes());
        i += 1;
    }
    out
}

/// Length in bytes of the longest entry of [`PLACEHOLDERS`]: longer values
/// need no lookup.
const LONGEST_PLACEHOLDER: usize = 10;

/// [`PLACEHOLDERS`], packed.
static PLACEHOLDER_KEYS: [u128; PLACEHOLDERS.len()] = pack_all(PLACEHOLDER_LIST);

/// Accumulates folded characters into words.
struct Folder {
    /// Which characters are word characters.
    keep: Keep,
    /// The words so far.
    folded: Folded,
    /// Where the word being built starts in `folded.text`.
    word_start: usize,
}

impl Folder {
    /// A folder that writes into `folded`'s buffers (emptied first), with
    /// room for `capacity` bytes of text.
    fn reusing(mut folded: Folded, capacity: usize, keep: Keep) -> Folder {
        folded.text.clear();
        folded.text.reserve(capacity);
        folded.ends.clear();
        Folder {
            keep,
            folded,
            word_start: 0,
        }
    }

    /// Steps 1–6 on any text.
    fn push_unicode(&mut self, raw: &str) {
        for c in raw.nfkd().filter(|c| !is_combining_mark(*c)) {
            for lower in c.to_lowercase() {
                self.push_lower(lower);
            }
        }
    }

    /// The same steps on ASCII text, byte by byte: NFKD, the mark removal and
    /// the letter map change no ASCII character, so only case and word breaks
    /// remain (equal to [`Folder::push_unicode`], tested).
    fn push_ascii(&mut self, raw: &str) {
        let digits_kept = self.keep == Keep::LettersAndDigits;
        for byte in raw.bytes().map(|b| b.to_ascii_lowercase()) {
            if byte.is_ascii_lowercase() || (digits_kept && byte.is_ascii_digit()) {
                self.folded.text.push(char::from(byte));
            } else {
                self.end_word(byte == b'.');
            }
        }
    }

    /// Ends the last word; the folded cell.
    fn finish(mut self) -> Folded {
        self.end_word(false);
        self.folded
    }

    /// Takes one lower-cased character (step 4 onwards).
    #[inline]
    fn push_lower(&mut self, c: char) {
        let mapped = match c {
            'ß' => "ss",
            'æ' => "ae",
            'œ' => "oe",
            'ø' => "o",
            'ł' => "l",
            'đ' | 'ð' => "d",
            'þ' => "th",
            'ı' => "i",
            'ħ' => "h",
            'ŧ' => "t",
            _ => {
                self.push_mapped(c);
                return;
            }
        };
        mapped.chars().for_each(|m| self.push_mapped(m));
    }

    #[inline]
    fn push_mapped(&mut self, c: char) {
        let is_word_char = match c {
            'a'..='z' => true,
            '0'..='9' => self.keep == Keep::LettersAndDigits,
            _ => !c.is_ascii() && c.is_alphabetic(),
        };
        if is_word_char {
            self.folded.text.push(c);
        } else {
            self.end_word(c == '.');
        }
    }

    fn end_word(&mut self, abbreviated: bool) {
        let text = &mut self.folded.text;
        if text.len() == self.word_start {
            return;
        }
        // A byte-pair scan: words are short, a substring searcher costs more.
        if text.as_bytes()[self.word_start..]
            .windows(2)
            .any(|pair| pair == b"ij")
        {
            let replaced = text[self.word_start..].replace("ij", "y");
            text.truncate(self.word_start);
            text.push_str(&replaced);
        }
        self.folded.ends.push((text.len(), abbreviated));
        self.word_start = text.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(raw: &str, keep: Keep) -> Vec<String> {
        fold(raw, keep)
            .words()
            .map(|(w, _)| w.to_string())
            .collect()
    }

    /// Diacritics, case, ligatures, `ij` and punctuation fold as documented.
    #[test]
    fn folds_dutch_spellings() {
        assert_eq!(
            texts("Müller-Lüdenscheidt", Keep::Letters),
            ["muller", "ludenscheidt"]
        );
        assert_eq!(texts("IJsselstein", Keep::Letters), ["ysselstein"]);
        assert_eq!(texts("\u{0132}sbrand", Keep::Letters), ["ysbrand"]);
        assert_eq!(texts("Straße Øster", Keep::Letters), ["strasse", "oster"]);
        assert_eq!(texts("in 't Veld", Keep::Letters), ["in", "t", "veld"]);
        assert_eq!(texts("Jan2 de", Keep::Letters), ["jan", "de"]);
        assert_eq!(texts("12-2 A", Keep::LettersAndDigits), ["12", "2", "a"]);
        assert_eq!(texts("Ğülşen", Keep::Letters), ["gulsen"]);
        assert_eq!(fold("van Dijk-Rijn", Keep::Letters).joined(), "vandykryn");
    }

    proptest::proptest! {
        /// The ASCII fast path folds exactly as the general one.
        #[test]
        fn ascii_path_equals_the_general_path(raw in "[ -~]{0,40}", digits in proptest::bool::ANY) {
            let keep = if digits { Keep::LettersAndDigits } else { Keep::Letters };
            let mut fast = Folder::reusing(Folded::default(), raw.len(), keep);
            fast.push_ascii(&raw);
            let mut general = Folder::reusing(Folded::default(), raw.len(), keep);
            general.push_unicode(&raw);
            proptest::prop_assert_eq!(fast.finish(), general.finish());
        }

        /// Folding into a buffer that held another cell gives what a fresh
        /// fold gives.
        #[test]
        fn fold_into_a_used_buffer_equals_fold(before in "\\PC{0,30}", raw in "\\PC{0,30}") {
            let mut reused = fold(&before, Keep::LettersAndDigits);
            fold_into(&raw, Keep::Letters, &mut reused);
            proptest::prop_assert_eq!(reused, fold(&raw, Keep::Letters));
        }
    }

    /// A full stop marks the word before it as an abbreviation.
    #[test]
    fn full_stop_marks_abbreviation() {
        let folded = fold("J.P. Jan", Keep::Letters);
        let flags: Vec<bool> = folded.words().map(|(_, abbreviated)| abbreviated).collect();
        assert_eq!(flags, [true, true, false]);
    }

    /// The placeholder list's longest entry is [`LONGEST_PLACEHOLDER`], and
    /// values match as documented.
    #[test]
    fn placeholders() {
        assert_eq!(
            PLACEHOLDERS.iter().map(|p| p.len()).max(),
            Some(LONGEST_PLACEHOLDER)
        );
        let placeholder = |raw| fold(raw, Keep::Letters).is_placeholder();
        assert!(placeholder("N.N."));
        assert!(placeholder("Niet bekend"));
        assert!(placeholder("X X"));
        assert!(!placeholder("Jansen"));
        assert!(!placeholder("Xander"));
        assert!(!placeholder(""));
    }
}
