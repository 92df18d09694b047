//! A phonetic key for names as Dutch registrations spell them: "veilink Dutch
//! phonetic key v1", used by match-key rules 5 and 11.
//!
//! Soundex and its relatives encode English; Kölner Phonetik encodes German.
//! Dutch spelling variation is mostly in consonant clusters that sound alike
//! (`ch`/`g`, `sch`/`s`, `c`/`k`/`ck`, `dt`/`d`/`t` at the end, `v`/`f`,
//! `z`/`s`, `ph`/`f`, `x`/`ks`, a silent `h`, `ouw`/`ou`) and in vowels (`ei`/`ij`/`y`,
//! `ou`/`au`, `ae`/`aa`, `ie`/`i`, doubled vowels). This key maps those
//! consonants to one representative, maps every run of vowels to one `a`, and
//! collapses doubled letters. It is defined in full in `docs/ENCODING.md`
//! ("Phonetic key") and pinned by vectors there and in the tests below.
//!
//! Examples: `Meijer`/`Meyer`/`Meier` → `mar`; `Smit`/`Smidt`/`Schmidt`/`Smith` →
//! `smat`; `Hendriks`/`Hendrickx`/`Hendrix` → `hantraks`.

/// True for the letters the key treats as vowels (`y` included: it stands for
/// the Dutch `ij` after folding).
fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// Multi-letter groups replaced first, tried in this order at each position.
const GROUPS: &[(&str, &str)] = &[
    ("sch", "s"),
    ("chr", "kr"),
    ("ch", "g"),
    ("ph", "f"),
    ("qu", "kw"),
];

/// The phonetic key of one folded name (lower case, no spaces; see
/// [`super::text::fold`]). Characters outside `a`–`z` are copied
/// unchanged. Returns the empty string for an empty name.
pub fn phonetic_key(name: &str) -> String {
    let mut key = String::new();
    phonetic_key_into(name, &mut key);
    key
}

/// [`phonetic_key`] into `out` (emptied first), reusing its buffer.
pub fn phonetic_key_into(name: &str, out: &mut String) {
    out.clear();
    // Names are short: scan a stack copy of the code points when it fits.
    let mut stack = ['\0'; 32];
    let heap: Vec<char>;
    let chars: &[char] = if name.len() <= stack.len() {
        let mut n = 0;
        for c in name.chars() {
            stack[n] = c;
            n += 1;
        }
        &stack[..n]
    } else {
        heap = name.chars().collect();
        &heap
    };
    out.reserve(name.len() + 2);
    let mut key = Key(out);
    let mut i = 0;
    while i < chars.len() {
        // Every group starts with `s`, `c`, `p` or `q` (checked in the tests).
        let may_start_group = matches!(chars[i], 's' | 'c' | 'p' | 'q');
        if let Some((group, replacement)) =
            GROUPS
                .iter()
                .filter(|_| may_start_group)
                .find(|(group, _)| {
                    group.len() <= chars.len() - i
                        && group.chars().zip(&chars[i..]).all(|(g, c)| g == *c)
                })
        {
            key.push_str(replacement);
            i += group.len();
            continue;
        }
        let next = chars.get(i + 1).copied();
        let next_is_vowel = next.is_some_and(is_vowel);
        match chars[i] {
            'c' if matches!(next, Some('e' | 'i' | 'y')) => key.push('s'),
            'c' | 'q' => key.push('k'),
            'x' => key.push_str("ks"),
            'z' => key.push('s'),
            'v' => key.push('f'),
            'h' if i > 0 => {}
            'w' if i > 0 && is_vowel(chars[i - 1]) && !next_is_vowel => {}
            'd' if !next_is_vowel => key.push('t'),
            'b' if next.is_none() => key.push('p'),
            c if is_vowel(c) => key.push('a'),
            c => key.push(c),
        }
        i += 1;
    }
}

/// The key being built; pushing a code point equal to the last one is a no-op,
/// which collapses runs of equal letters as the last step of the algorithm asks.
struct Key<'a>(&'a mut String);

impl Key<'_> {
    fn push(&mut self, c: char) {
        if !self.0.ends_with(c) {
            self.0.push(c);
        }
    }

    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spelling variants of common Dutch surnames share a key; the keys are the
    /// ones listed in `docs/ENCODING.md`.
    #[test]
    fn dutch_variants_share_a_key() {
        let groups: &[(&[&str], &str)] = &[
            (&["meyer", "meier", "meyr", "mayer"], "mar"),
            (&["smit", "smidt", "schmidt", "smith"], "smat"),
            (&["hendriks", "hendrickx", "hendrix"], "hantraks"),
            (&["jansen", "janssen", "janszen"], "jansan"),
            (&["bakker", "backer"], "bakar"),
            (&["vries", "fries"], "fras"),
            (&["bouwman", "bouman"], "baman"),
            (&["christiaan", "kristiaan", "christian"], "krastan"),
            (&["mohammed", "muhammad", "mohamed", "mehmet"], "mamat"),
            (&["dyk", "dyck"], "dak"),
            (&["gerards", "gerarts"], "gararts"),
        ];
        for (names, key) in groups {
            for name in *names {
                assert_eq!(phonetic_key(name), *key, "{name}");
            }
        }
    }

    /// The quick test before the group search covers every group's first letter.
    #[test]
    fn groups_start_with_the_letters_checked_first() {
        for (group, _) in GROUPS {
            assert!(
                matches!(group.chars().next(), Some('s' | 'c' | 'p' | 'q')),
                "{group}"
            );
        }
    }

    /// Different-sounding names keep different keys, and empty stays empty.
    #[test]
    fn distinct_names_stay_distinct() {
        assert_ne!(phonetic_key("jansen"), phonetic_key("hendriks"));
        assert_ne!(phonetic_key("visser"), phonetic_key("vos"));
        assert_eq!(phonetic_key(""), "");
        assert_eq!(phonetic_key("hugo"), "haga");
    }
}
