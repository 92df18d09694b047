//! The v1 vocabulary shared by every agency, the wire contract and the reports.
//!
//! Agencies map their own category codes onto these terms in their schema file
//! (see `docs/SCHEMA.md`); the encoder, the server's validation, the analysis
//! and the synthetic generator all speak only these terms. The lists are the
//! ones fixed in `DESIGN.md` ("Vocabulary (v1)"); a term's string form is its
//! name in the schema file, in JSON output and in reports.
//!
//! Each category is a small `Copy` enum with:
//! - `ALL`: every term in a fixed order (the order of the design document,
//!   used for table rows and for the one-byte store encoding via [`code`]);
//! - `as_str()` / `FromStr` / `Display`: the canonical lower-case string;
//! - `code()` / `from_code()`: a stable one-byte code (the index in `ALL`).
//!
//! [`code`]: EventType::code

use std::fmt;
use std::str::FromStr;

/// A string that is not a term of the named vocabulary category.
///
/// Carries the category name (`"event type"`, `"role"`, ...) and the value, so a
/// message can say what was wrong. Vocabulary values are category codes, never
/// personal data, so echoing them is safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {category} {value:?} (expected one of: {expected})")]
pub struct UnknownTerm {
    /// Which category was being parsed, e.g. `"event type"`.
    pub category: &'static str,
    /// The offending value as given.
    pub value: String,
    /// The accepted terms, comma-separated.
    pub expected: String,
}

macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident, $category:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every term, in the fixed order of `DESIGN.md`.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// The canonical string form (schema files, JSON, reports).
            pub const fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }

            /// Stable one-byte code: the index of the term in [`Self::ALL`].
            pub fn code(self) -> u8 {
                // ALL has fewer than 256 entries by construction.
                Self::ALL.iter().position(|t| *t == self).unwrap_or(0) as u8
            }

            /// The term with the given one-byte code, if any.
            pub fn from_code(code: u8) -> Option<Self> {
                Self::ALL.get(usize::from(code)).copied()
            }
        }

        impl FromStr for $name {
            type Err = UnknownTerm;

            /// Parses the canonical string form (exact, lower case).
            ///
            /// # Errors
            /// [`UnknownTerm`] naming the category and the value.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err(UnknownTerm {
                        category: $category,
                        value: other.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

vocabulary! {
    /// What happened in a registered event (`DESIGN.md`, vocabulary v1).
    EventType, "event type" {
        /// Human trafficking: sexual exploitation.
        TraffickingSexual => "trafficking_sexual",
        /// Human trafficking: labour exploitation.
        TraffickingLabour => "trafficking_labour",
        /// Human trafficking: criminal exploitation (forced criminality).
        TraffickingCriminal => "trafficking_criminal",
        /// Human trafficking, other or unspecified form.
        TraffickingOther => "trafficking_other",
        /// Sexual violence other than trafficking.
        SexualViolence => "sexual_violence",
        /// Assault (mishandeling).
        Assault => "assault",
        /// Threat (bedreiging).
        Threat => "threat",
        /// Domestic violence (huiselijk geweld).
        DomesticViolence => "domestic_violence",
        /// Property crime (theft, burglary, fraud).
        Property => "property",
        /// Any other registered event.
        Other => "other",
    }
}

impl EventType {
    /// True for the four `trafficking_*` types: the default index event types.
    pub fn is_trafficking(self) -> bool {
        matches!(
            self,
            EventType::TraffickingSexual
                | EventType::TraffickingLabour
                | EventType::TraffickingCriminal
                | EventType::TraffickingOther
        )
    }
}

vocabulary! {
    /// The role of the person in a registered event.
    Role, "role" {
        /// The person was registered as a victim.
        Victim => "victim",
        /// The person was registered as a suspect.
        Suspect => "suspect",
    }
}

vocabulary! {
    /// Age band at the event, computed on the agency side from the date of birth
    /// and the event date (the date of birth itself never leaves the agency).
    AgeBand, "age band" {
        /// 0 to 11 years.
        Age0To11 => "0-11",
        /// 12 to 17 years.
        Age12To17 => "12-17",
        /// 18 to 22 years.
        Age18To22 => "18-22",
        /// 23 to 29 years.
        Age23To29 => "23-29",
        /// 30 to 39 years.
        Age30To39 => "30-39",
        /// 40 to 49 years.
        Age40To49 => "40-49",
        /// 50 to 64 years.
        Age50To64 => "50-64",
        /// 65 years and older.
        Age65Plus => "65+",
        /// Date of birth missing or too imprecise to decide the band.
        Unknown => "unknown",
    }
}

impl AgeBand {
    /// The band that contains an age in whole completed years.
    pub fn from_age(years: u32) -> AgeBand {
        match years {
            0..=11 => AgeBand::Age0To11,
            12..=17 => AgeBand::Age12To17,
            18..=22 => AgeBand::Age18To22,
            23..=29 => AgeBand::Age23To29,
            30..=39 => AgeBand::Age30To39,
            40..=49 => AgeBand::Age40To49,
            50..=64 => AgeBand::Age50To64,
            _ => AgeBand::Age65Plus,
        }
    }

    /// True for the two bands under 18 (minors are reported apart).
    pub fn is_minor(self) -> bool {
        matches!(self, AgeBand::Age0To11 | AgeBand::Age12To17)
    }
}

vocabulary! {
    /// Registered sex.
    Sex, "sex" {
        /// Female.
        Female => "female",
        /// Male.
        Male => "male",
        /// Other (registered as neither).
        Other => "other",
        /// Not registered.
        Unknown => "unknown",
    }
}

vocabulary! {
    /// Region of residence: a Dutch province (ISO 3166-2:NL code), abroad, or unknown.
    Region, "region" {
        /// Drenthe.
        Drenthe => "NL-DR",
        /// Flevoland.
        Flevoland => "NL-FL",
        /// Friesland (Fryslân).
        Friesland => "NL-FR",
        /// Gelderland.
        Gelderland => "NL-GE",
        /// Groningen.
        Groningen => "NL-GR",
        /// Limburg.
        Limburg => "NL-LI",
        /// Noord-Brabant.
        NoordBrabant => "NL-NB",
        /// Noord-Holland.
        NoordHolland => "NL-NH",
        /// Overijssel.
        Overijssel => "NL-OV",
        /// Utrecht.
        Utrecht => "NL-UT",
        /// Zeeland.
        Zeeland => "NL-ZE",
        /// Zuid-Holland.
        ZuidHolland => "NL-ZH",
        /// Living outside the Netherlands.
        Abroad => "abroad",
        /// Not registered.
        Unknown => "unknown",
    }
}

vocabulary! {
    /// Residence-status category.
    ResidenceStatus, "residence status" {
        /// Dutch national.
        Dutch => "dutch",
        /// EU national.
        Eu => "eu",
        /// Non-EU national with a residence permit.
        NonEuResident => "non_eu_resident",
        /// In the asylum procedure.
        Asylum => "asylum",
        /// Without legal residence.
        Undocumented => "undocumented",
        /// Not registered.
        Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every term round-trips through its string form and its one-byte code.
    #[test]
    fn terms_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
            assert_eq!(EventType::from_code(t.code()), Some(*t));
        }
        for t in Region::ALL {
            assert_eq!(t.as_str().parse::<Region>().unwrap(), *t);
            assert_eq!(Region::from_code(t.code()), Some(*t));
        }
        assert_eq!(AgeBand::from_age(17), AgeBand::Age12To17);
        assert_eq!(AgeBand::from_age(65), AgeBand::Age65Plus);
    }

    /// An unknown term names the category and lists the accepted terms.
    #[test]
    fn unknown_term_is_named() {
        let err = "victum".parse::<Role>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("role"), "{text}");
        assert!(text.contains("victim, suspect"), "{text}");
    }
}
