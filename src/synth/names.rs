//! Name frequency lists for the synthetic population, written down by hand.
//!
//! Linkage quality depends on how often names collide, so the generator draws
//! names with realistic frequencies rather than uniformly. Dutch surnames carry
//! approximate bearer counts (hundreds of bearers): the top of the list follows
//! the 2007 counts of the Meertens Instituut's *Nederlandse Familienamenbank*
//! (De Jong 86,534; Jansen about 75,700; De Vries about 73,150; Janssen
//! 55,394), lower ranks are rounded estimates in the same rank order. Dutch
//! given names come in three birth-year eras (their popularity moves with
//! fashion), following the rank orders of the Meertens *Nederlandse
//! Voornamenbank* and the SVB lists of popular baby names; the weights are
//! rounded estimates. Names of other origins are rank-ordered lists of common
//! names weighted 1/rank (a Zipf law). `docs/SYNTHETIC.md` lists the sources.
//!
//! Surnames are written as Dutch registers show them with the person's name,
//! the tussenvoegsel in lower case before the stem (`van den Berg`, `in 't
//! Veld`); [`split_surname`] separates the prefix from the stem.

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

use crate::vocab::{ResidenceStatus, Sex};

/// The origin of a household: decides its name lists, places of birth and
/// residence status. Shares follow CBS population statistics (2022) rounded;
/// persons of Western migration background (German, Belgian, Indonesian) are
/// counted as `Dutch` because their names mostly are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Dutch,
    Turkish,
    Moroccan,
    Surinamese,
    Polish,
    Romanian,
    Bulgarian,
    Syrian,
    Ukrainian,
    Eritrean,
    Nigerian,
}

impl Origin {
    /// Every origin with its population share in per mille.
    pub(crate) const SHARES: [(Origin, u32); 11] = [
        (Origin::Dutch, 897),
        (Origin::Turkish, 24),
        (Origin::Moroccan, 24),
        (Origin::Surinamese, 21),
        (Origin::Polish, 12),
        (Origin::Syrian, 7),
        (Origin::Romanian, 5),
        (Origin::Bulgarian, 4),
        (Origin::Ukrainian, 3),
        (Origin::Eritrean, 2),
        (Origin::Nigerian, 1),
    ];

    /// Origins of persons who live abroad but are registered in the
    /// Netherlands (seasonal and agency workers, trafficked persons).
    pub(crate) const ABROAD: [Origin; 5] = [
        Origin::Polish,
        Origin::Romanian,
        Origin::Bulgarian,
        Origin::Ukrainian,
        Origin::Nigerian,
    ];

    /// Relative likelihood of becoming an index victim of trafficking,
    /// compared with the Dutch-origin population. Chosen so that a little over
    /// half of the cohort is of Dutch origin: in the CoMensha registrations of
    /// 2016–2020 Dutch nationals are the largest single group, next to many
    /// victims from Eastern Europe and West Africa.
    pub(crate) fn trafficking_factor(self) -> f64 {
        match self {
            Origin::Dutch => 1.0,
            Origin::Turkish | Origin::Moroccan | Origin::Surinamese => 2.0,
            Origin::Syrian | Origin::Ukrainian => 5.0,
            Origin::Polish | Origin::Romanian | Origin::Bulgarian => 12.0,
            Origin::Eritrean | Origin::Nigerian => 25.0,
        }
    }

    /// Residence-status mix of residents of this origin: (status, per mille).
    pub(crate) fn residence_mix(self) -> &'static [(ResidenceStatus, u32)] {
        use ResidenceStatus::*;
        match self {
            Origin::Dutch => &[(Dutch, 1000)],
            Origin::Turkish | Origin::Moroccan | Origin::Surinamese => {
                &[(Dutch, 820), (NonEuResident, 170), (Undocumented, 10)]
            }
            Origin::Polish | Origin::Romanian | Origin::Bulgarian => &[(Eu, 900), (Dutch, 100)],
            Origin::Syrian | Origin::Eritrean => {
                &[(NonEuResident, 550), (Asylum, 300), (Dutch, 150)]
            }
            Origin::Ukrainian => &[(NonEuResident, 500), (Asylum, 450), (Dutch, 50)],
            Origin::Nigerian => &[(NonEuResident, 450), (Undocumented, 300), (Asylum, 250)],
        }
    }

    /// Whether this origin's surnames change form with the bearer's sex
    /// (Polish `-ski`/`-ska`, Bulgarian `-ov`/`-ova`).
    fn gendered_surnames(self) -> bool {
        matches!(self, Origin::Polish | Origin::Bulgarian)
    }
}

/// A name list with its sampling distribution.
pub(crate) struct NameList {
    names: Vec<&'static str>,
    index: WeightedIndex<u32>,
}

impl NameList {
    fn weighted(entries: &'static [(&'static str, u32)]) -> NameList {
        let names = entries.iter().map(|(n, _)| *n).collect();
        // The lists are non-empty constants with positive weights.
        let index = WeightedIndex::new(entries.iter().map(|(_, w)| *w))
            .unwrap_or_else(|_| unreachable!("constant name list with positive weights"));
        NameList { names, index }
    }

    fn zipf(ranked: &'static [&'static str]) -> NameList {
        let names = ranked.to_vec();
        let index = WeightedIndex::new((1..=ranked.len() as u32).map(|rank| 10_000 / rank))
            .unwrap_or_else(|_| unreachable!("constant name list"));
        NameList { names, index }
    }

    /// Draws one name.
    pub(crate) fn draw<R: Rng>(&self, rng: &mut R) -> &'static str {
        self.names[self.index.sample(rng)]
    }
}

/// Given-name lists for one origin (and, for Dutch, one birth era).
struct GivenNames {
    male: NameList,
    female: NameList,
}

/// All name lists, built once per run.
pub(crate) struct NameBook {
    /// Dutch given names for births before 1970, 1970–1994 and from 1995.
    dutch_eras: [GivenNames; 3],
    dutch_surnames: NameList,
    foreign: Vec<(Origin, GivenNames, NameList)>,
}

impl NameBook {
    /// Builds the sampling tables.
    pub(crate) fn new() -> NameBook {
        let dutch_eras = [
            GivenNames {
                male: NameList::weighted(DUTCH_MALE_BEFORE_1970),
                female: NameList::weighted(DUTCH_FEMALE_BEFORE_1970),
            },
            GivenNames {
                male: NameList::weighted(DUTCH_MALE_1970_1994),
                female: NameList::weighted(DUTCH_FEMALE_1970_1994),
            },
            GivenNames {
                male: NameList::weighted(DUTCH_MALE_FROM_1995),
                female: NameList::weighted(DUTCH_FEMALE_FROM_1995),
            },
        ];
        let foreign = FOREIGN
            .iter()
            .map(|f| {
                (
                    f.origin,
                    GivenNames {
                        male: NameList::zipf(f.male),
                        female: NameList::zipf(f.female),
                    },
                    NameList::zipf(f.surnames),
                )
            })
            .collect();
        NameBook {
            dutch_eras,
            dutch_surnames: NameList::weighted(DUTCH_SURNAMES),
            foreign,
        }
    }

    fn given_list(&self, origin: Origin, birth_year: i32) -> &GivenNames {
        if origin == Origin::Dutch {
            let era = match birth_year {
                ..1970 => 0,
                1970..1995 => 1,
                _ => 2,
            };
            return &self.dutch_eras[era];
        }
        self.foreign
            .iter()
            .find(|(o, _, _)| *o == origin)
            .map(|(_, g, _)| g)
            .unwrap_or(&self.dutch_eras[1])
    }

    /// Draws all given names of a person, space-separated: one to three
    /// distinct names for Dutch persons (more among older generations), one or
    /// two for other origins. Sex `other`/`unknown` draws from either list.
    pub(crate) fn given_names<R: Rng>(
        &self,
        origin: Origin,
        sex: Sex,
        birth_year: i32,
        rng: &mut R,
    ) -> String {
        let lists = self.given_list(origin, birth_year);
        let female = match sex {
            Sex::Female => true,
            Sex::Male => false,
            Sex::Other | Sex::Unknown => rng.random_bool(0.5),
        };
        let list = if female { &lists.female } else { &lists.male };
        let roll: f64 = rng.random();
        let count = match (origin, birth_year < 1970) {
            (Origin::Dutch, true) => 1 + usize::from(roll < 0.75) + usize::from(roll < 0.35),
            (Origin::Dutch, false) => 1 + usize::from(roll < 0.60) + usize::from(roll < 0.15),
            _ => 1 + usize::from(roll < 0.25),
        };
        let mut names: Vec<&str> = Vec::with_capacity(count);
        // A bounded number of attempts: short lists cannot always give three
        // distinct names, and a repeated draw is simply skipped.
        for _ in 0..count * 4 {
            if names.len() == count {
                break;
            }
            let name = list.draw(rng);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(" ")
    }

    /// Draws a surname for a household of the given origin, as
    /// `(tussenvoegsel, stem)`; the prefix is empty for most names.
    pub(crate) fn surname<R: Rng>(&self, origin: Origin, rng: &mut R) -> (&'static str, String) {
        let list = if origin == Origin::Dutch {
            &self.dutch_surnames
        } else {
            self.foreign
                .iter()
                .find(|(o, _, _)| *o == origin)
                .map(|(_, _, s)| s)
                .unwrap_or(&self.dutch_surnames)
        };
        let (prefix, stem) = split_surname(list.draw(rng));
        (prefix, stem.to_string())
    }
}

/// The form of a family surname borne by a person of the given sex: Polish
/// `-ski`/`-cki` become `-ska`/`-cka` and Bulgarian `-ov`/`-ev` become
/// `-ova`/`-eva` for women; other names are unchanged.
pub(crate) fn gendered_surname(stem: &str, origin: Origin, sex: Sex) -> String {
    if sex != Sex::Female || !origin.gendered_surnames() {
        return stem.to_string();
    }
    if let Some(base) = stem.strip_suffix("ki") {
        return format!("{base}ka");
    }
    if stem.ends_with("ov") || stem.ends_with("ev") {
        return format!("{stem}a");
    }
    stem.to_string()
}

/// Splits a surname as written in the lists into its tussenvoegsel and stem:
/// the prefix is the run of leading words that start in lower case
/// (`in 't Veld` → (`in 't`, `Veld`)); `El Amrani` has no prefix.
pub(crate) fn split_surname(full: &'static str) -> (&'static str, &'static str) {
    let mut end = 0;
    for (start, word) in word_spans(full) {
        let first_letter = word.chars().find(|c| c.is_alphabetic());
        match first_letter {
            Some(c) if c.is_lowercase() && start + word.len() < full.len() => {
                end = start + word.len();
            }
            _ => break,
        }
    }
    if end == 0 {
        ("", full)
    } else {
        (&full[..end], full[end..].trim_start())
    }
}

fn word_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(' ').scan(0usize, |offset, word| {
        let start = *offset;
        *offset += word.len() + 1;
        Some((start, word))
    })
}

/// Dutch surnames with approximate bearer counts in hundreds (see the module
/// documentation for the source).
static DUTCH_SURNAMES: &[(&str, u32)] = &[
    ("de Jong", 865),
    ("Jansen", 757),
    ("de Vries", 732),
    ("van den Berg", 603),
    ("van Dijk", 579),
    ("Bakker", 568),
    ("Janssen", 554),
    ("Visser", 501),
    ("Smit", 462),
    ("Meijer", 430),
    ("de Boer", 407),
    ("Mulder", 390),
    ("de Groot", 390),
    ("Bos", 379),
    ("Vos", 332),
    ("Peters", 327),
    ("Hendriks", 322),
    ("van Leeuwen", 309),
    ("Dekker", 301),
    ("Brouwer", 290),
    ("de Wit", 282),
    ("Dijkstra", 279),
    ("Smits", 273),
    ("de Graaf", 268),
    ("van der Meer", 266),
    ("van der Linden", 252),
    ("Kok", 250),
    ("Jacobs", 243),
    ("de Haan", 238),
    ("Vermeulen", 236),
    ("van den Heuvel", 232),
    ("van der Veen", 226),
    ("van den Broek", 224),
    ("de Bruijn", 219),
    ("de Bruin", 216),
    ("van der Heijden", 214),
    ("Schouten", 211),
    ("van Beek", 210),
    ("Willems", 207),
    ("van Vliet", 205),
    ("van de Ven", 201),
    ("Hoekstra", 199),
    ("Maas", 198),
    ("Verhoeven", 196),
    ("Koster", 194),
    ("van Dam", 191),
    ("van der Wal", 189),
    ("Prins", 187),
    ("Blom", 185),
    ("Huisman", 183),
    ("Peeters", 181),
    ("de Jonge", 179),
    ("Kuipers", 177),
    ("van Veen", 176),
    ("Post", 174),
    ("Kuiper", 173),
    ("Veenstra", 171),
    ("Kramer", 170),
    ("van den Brink", 168),
    ("Scholten", 167),
    ("van Wijk", 166),
    ("Postma", 165),
    ("Martens", 163),
    ("Vink", 162),
    ("de Ruiter", 160),
    ("Timmermans", 158),
    ("Groen", 157),
    ("Gerritsen", 156),
    ("Jonker", 155),
    ("van Loon", 154),
    ("Boer", 152),
    ("van der Velde", 151),
    ("Willemsen", 150),
    ("Smeets", 149),
    ("de Lange", 148),
    ("de Vos", 147),
    ("Bosch", 146),
    ("van Dongen", 145),
    ("Schipper", 144),
    ("de Koning", 143),
    ("van der Laan", 142),
    ("Koning", 141),
    ("van der Velden", 140),
    ("Driessen", 139),
    ("van Doorn", 138),
    ("Hermans", 137),
    ("Evers", 136),
    ("van den Bosch", 135),
    ("van der Meulen", 134),
    ("Hofman", 133),
    ("Bosman", 132),
    ("Wolters", 131),
    ("Sanders", 130),
    ("van der Horst", 129),
    ("Mol", 128),
    ("Kuijpers", 127),
    ("Molenaar", 126),
    ("van de Pol", 125),
    ("de Leeuw", 124),
    ("Verbeek", 123),
    ("Brandt", 95),
    ("van Rijn", 92),
    ("Meijers", 80),
    ("Bijl", 72),
    ("Schuurman", 70),
    ("ter Horst", 62),
    ("Hoogendijk", 60),
    ("Verschuur", 58),
    ("van Os", 52),
    ("van der Zanden", 50),
    ("Dijkman", 48),
    ("in 't Veld", 42),
    ("Huijbregts", 40),
    ("van 't Hof", 31),
    ("ten Have", 26),
    ("op de Beek", 16),
    ("uit den Bogaard", 11),
    ("Müller", 40),
];

static DUTCH_MALE_BEFORE_1970: &[(&str, u32)] = &[
    ("Johannes", 100),
    ("Jan", 90),
    ("Cornelis", 70),
    ("Hendrik", 60),
    ("Willem", 55),
    ("Petrus", 45),
    ("Pieter", 45),
    ("Gerrit", 40),
    ("Wilhelmus", 35),
    ("Jacobus", 35),
    ("Peter", 30),
    ("Adrianus", 30),
    ("Johan", 30),
    ("Antonius", 30),
    ("Gerardus", 28),
    ("Dirk", 25),
    ("Hans", 25),
    ("Theodorus", 22),
    ("Franciscus", 20),
    ("Jacob", 20),
    ("Klaas", 18),
    ("Albert", 15),
    ("Marinus", 15),
    ("Arie", 15),
    ("Bernardus", 15),
    ("Josephus", 15),
    ("Martinus", 15),
    ("Frans", 15),
    ("Roelof", 10),
    ("Evert", 10),
    ("André", 10),
    ("Harm", 8),
    ("René", 8),
    ("Teunis", 8),
    ("Gijsbert", 8),
    ("Sjoerd", 6),
];

static DUTCH_FEMALE_BEFORE_1970: &[(&str, u32)] = &[
    ("Maria", 100),
    ("Johanna", 70),
    ("Anna", 55),
    ("Cornelia", 50),
    ("Elisabeth", 45),
    ("Wilhelmina", 40),
    ("Catharina", 38),
    ("Hendrika", 35),
    ("Adriana", 30),
    ("Petronella", 30),
    ("Margaretha", 25),
    ("Jacoba", 22),
    ("Geertruida", 20),
    ("Gerarda", 12),
    ("Ingrid", 12),
    ("Marianne", 12),
    ("Aaltje", 10),
    ("Grietje", 10),
    ("Antje", 10),
    ("Trijntje", 8),
    ("Hélène", 5),
    ("Thérèse", 5),
];

static DUTCH_MALE_1970_1994: &[(&str, u32)] = &[
    ("Mark", 40),
    ("Dennis", 35),
    ("Jeroen", 32),
    ("Michel", 30),
    ("Patrick", 30),
    ("Martijn", 30),
    ("Sander", 28),
    ("Kevin", 25),
    ("Erik", 25),
    ("Robert", 25),
    ("Robin", 22),
    ("Bas", 22),
    ("Niels", 22),
    ("Marco", 22),
    ("Bart", 22),
    ("Richard", 20),
    ("Tim", 20),
    ("Wouter", 20),
    ("Johannes", 20),
    ("Thomas", 18),
    ("Joost", 18),
    ("Rick", 18),
    ("Stefan", 18),
    ("Jasper", 18),
    ("Arjan", 15),
    ("Ruben", 15),
    ("Maarten", 15),
    ("Tom", 15),
    ("Jan", 12),
    ("Mike", 12),
    ("Gijs", 8),
    ("Rutger", 8),
];

static DUTCH_FEMALE_1970_1994: &[(&str, u32)] = &[
    ("Linda", 35),
    ("Sandra", 30),
    ("Kim", 28),
    ("Marieke", 25),
    ("Monique", 25),
    ("Esther", 25),
    ("Maria", 25),
    ("Wendy", 22),
    ("Lisa", 22),
    ("Sanne", 22),
    ("Karin", 22),
    ("Nicole", 22),
    ("Laura", 20),
    ("Anouk", 18),
    ("Femke", 18),
    ("Mirjam", 15),
    ("Ilse", 15),
    ("Marloes", 15),
    ("Manon", 15),
    ("Judith", 15),
    ("Eva", 15),
    ("Inge", 15),
    ("Petra", 15),
    ("Anne", 15),
    ("Maaike", 12),
    ("Daphne", 12),
    ("Chantal", 12),
    ("Suzanne", 12),
    ("Danielle", 12),
    ("Iris", 12),
    ("Anna", 10),
    ("Renée", 8),
];

static DUTCH_MALE_FROM_1995: &[(&str, u32)] = &[
    ("Daan", 30),
    ("Sem", 28),
    ("Lucas", 25),
    ("Milan", 24),
    ("Levi", 22),
    ("Luuk", 22),
    ("Thomas", 22),
    ("Jesse", 22),
    ("Bram", 22),
    ("Noah", 22),
    ("Finn", 20),
    ("Lars", 20),
    ("Thijs", 20),
    ("Ruben", 18),
    ("Tim", 18),
    ("Stijn", 18),
    ("Max", 18),
    ("Sven", 15),
    ("Julian", 15),
    ("Jayden", 12),
    ("Gijs", 12),
    ("Niels", 12),
    ("Teun", 12),
    ("Liam", 12),
    ("Luca", 12),
    ("Jens", 12),
    ("Mees", 10),
    ("Tijn", 10),
    ("Dex", 8),
];

static DUTCH_FEMALE_FROM_1995: &[(&str, u32)] = &[
    ("Emma", 30),
    ("Julia", 28),
    ("Sophie", 28),
    ("Lotte", 25),
    ("Lisa", 25),
    ("Eva", 22),
    ("Sanne", 20),
    ("Anna", 20),
    ("Fleur", 20),
    ("Tess", 20),
    ("Iris", 18),
    ("Noa", 18),
    ("Zoë", 18),
    ("Sara", 16),
    ("Lieke", 15),
    ("Femke", 14),
    ("Isa", 14),
    ("Roos", 14),
    ("Evi", 14),
    ("Nina", 14),
    ("Mila", 14),
    ("Anouk", 12),
    ("Maud", 12),
    ("Saar", 12),
    ("Luna", 12),
    ("Yara", 10),
    ("Fenna", 10),
    ("Lynn", 10),
    ("Esmee", 10),
    ("Floor", 10),
];

/// Rank-ordered name lists of one non-Dutch origin.
struct ForeignNames {
    origin: Origin,
    male: &'static [&'static str],
    female: &'static [&'static str],
    surnames: &'static [&'static str],
}

static FOREIGN: &[ForeignNames] = &[
    ForeignNames {
        origin: Origin::Turkish,
        male: &[
            "Mehmet", "Mustafa", "Ahmet", "Ali", "Hüseyin", "Hasan", "İbrahim", "Murat", "Emre",
            "Yusuf",
        ],
        female: &[
            "Fatma", "Ayşe", "Emine", "Hatice", "Zeynep", "Elif", "Merve", "Özlem", "Esra", "Büşra",
        ],
        surnames: &[
            "Yılmaz",
            "Kaya",
            "Demir",
            "Şahin",
            "Çelik",
            "Yıldız",
            "Yıldırım",
            "Öztürk",
            "Aydın",
            "Özdemir",
            "Arslan",
            "Doğan",
            "Kılıç",
            "Aslan",
            "Çetin",
            "Kara",
            "Koç",
            "Kurt",
        ],
    },
    ForeignNames {
        origin: Origin::Moroccan,
        male: &[
            "Mohamed", "Ahmed", "Youssef", "Mustafa", "Said", "Bilal", "Ayoub", "Hamza", "Karim",
            "Nordin",
        ],
        female: &[
            "Fatima", "Khadija", "Naima", "Samira", "Malika", "Nadia", "Yasmina", "Hanan", "Imane",
            "Soumaya",
        ],
        surnames: &[
            "El Amrani",
            "Bouzid",
            "El Idrissi",
            "Benali",
            "Bakkali",
            "Tahiri",
            "El Khatib",
            "Azzouz",
            "Ouali",
            "El Hamdaoui",
            "Ziani",
            "Boukhari",
            "Belhaj",
            "Achahbar",
            "Chaouch",
        ],
    },
    ForeignNames {
        origin: Origin::Surinamese,
        male: &[
            "Rakesh", "Anil", "Kevin", "Romano", "Ravi", "Gerald", "Sunil", "Dwight", "Rishi",
            "Marvin",
        ],
        female: &[
            "Shanti",
            "Anita",
            "Sharon",
            "Priscilla",
            "Natasja",
            "Sharda",
            "Ashwina",
            "Rachel",
            "Kavita",
            "Jennifer",
        ],
        surnames: &[
            "Ramdin",
            "Jagesar",
            "Mahabier",
            "Ramsaran",
            "Sewnath",
            "Autar",
            "Ramcharan",
            "Pinas",
            "Linger",
            "Sabajo",
            "Doelwijt",
            "Wijngaarde",
            "Kasanwirjo",
            "Biswane",
            "Sedney",
        ],
    },
    ForeignNames {
        origin: Origin::Polish,
        male: &[
            "Piotr",
            "Krzysztof",
            "Tomasz",
            "Paweł",
            "Michał",
            "Marcin",
            "Łukasz",
            "Jakub",
            "Kamil",
            "Adam",
        ],
        female: &[
            "Anna",
            "Katarzyna",
            "Małgorzata",
            "Agnieszka",
            "Magdalena",
            "Joanna",
            "Monika",
            "Aleksandra",
            "Natalia",
            "Karolina",
        ],
        surnames: &[
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
            "Szymański",
            "Woźniak",
            "Dąbrowski",
            "Kozłowski",
            "Jankowski",
            "Mazur",
            "Krawczyk",
        ],
    },
    ForeignNames {
        origin: Origin::Romanian,
        male: &[
            "Andrei",
            "Alexandru",
            "Ionuț",
            "Mihai",
            "Florin",
            "Gabriel",
            "Marius",
            "Adrian",
            "Constantin",
            "Bogdan",
        ],
        female: &[
            "Maria",
            "Elena",
            "Ioana",
            "Andreea",
            "Mihaela",
            "Alexandra",
            "Cristina",
            "Ana",
            "Gabriela",
            "Florentina",
        ],
        surnames: &[
            "Popescu",
            "Popa",
            "Pop",
            "Radu",
            "Dumitru",
            "Stan",
            "Stoica",
            "Gheorghe",
            "Matei",
            "Ciobanu",
            "Ionescu",
            "Rusu",
            "Munteanu",
            "Constantin",
            "Ștefan",
        ],
    },
    ForeignNames {
        origin: Origin::Bulgarian,
        male: &[
            "Georgi",
            "Ivan",
            "Dimitar",
            "Nikolay",
            "Petar",
            "Hristo",
            "Stoyan",
            "Todor",
            "Vasil",
            "Aleksandar",
        ],
        female: &[
            "Maria",
            "Ivanka",
            "Elena",
            "Yordanka",
            "Petya",
            "Desislava",
            "Gergana",
            "Teodora",
            "Viktoria",
            "Nadezhda",
        ],
        surnames: &[
            "Ivanov", "Georgiev", "Dimitrov", "Petrov", "Nikolov", "Hristov", "Stoyanov",
            "Todorov", "Iliev", "Vasilev", "Atanasov", "Petkov", "Angelov", "Kolev", "Yordanov",
        ],
    },
    ForeignNames {
        origin: Origin::Syrian,
        male: &[
            "Mohammad", "Ahmad", "Omar", "Khaled", "Ali", "Hassan", "Abdullah", "Yousef",
            "Mahmoud", "Amer",
        ],
        female: &[
            "Fatima", "Aya", "Rama", "Nour", "Hiba", "Rasha", "Lina", "Sara", "Hala", "Maryam",
        ],
        surnames: &[
            "Al-Ahmad",
            "Al-Hassan",
            "Khalil",
            "Hamdan",
            "Al-Ali",
            "Haddad",
            "Hussein",
            "Ibrahim",
            "Mahmoud",
            "Othman",
            "Darwish",
            "Al-Khatib",
            "Sabbagh",
            "Nasser",
            "Aziz",
        ],
    },
    ForeignNames {
        origin: Origin::Ukrainian,
        male: &[
            "Oleksandr",
            "Andriy",
            "Dmytro",
            "Serhiy",
            "Volodymyr",
            "Mykola",
            "Yuriy",
            "Ivan",
            "Maksym",
            "Vitaliy",
        ],
        female: &[
            "Olena",
            "Natalia",
            "Iryna",
            "Oksana",
            "Tetiana",
            "Yulia",
            "Svitlana",
            "Kateryna",
            "Anastasia",
            "Mariya",
        ],
        surnames: &[
            "Melnyk",
            "Shevchenko",
            "Bondarenko",
            "Kovalenko",
            "Boyko",
            "Tkachenko",
            "Kravchenko",
            "Oliynyk",
            "Shevchuk",
            "Koval",
            "Polishchuk",
            "Moroz",
            "Lysenko",
            "Rudenko",
            "Savchenko",
        ],
    },
    ForeignNames {
        origin: Origin::Eritrean,
        male: &[
            "Yonas", "Samuel", "Filmon", "Dawit", "Biniam", "Aron", "Mehari", "Robel", "Tesfit",
            "Henok",
        ],
        female: &[
            "Helen", "Senait", "Saba", "Semhar", "Luwam", "Yodit", "Winta", "Rahel", "Selam",
            "Eden",
        ],
        surnames: &[
            "Tesfay",
            "Tekle",
            "Haile",
            "Ghebremedhin",
            "Mebrahtu",
            "Berhane",
            "Kidane",
            "Tesfamariam",
            "Gebremichael",
            "Woldu",
            "Habte",
            "Yohannes",
            "Asmerom",
            "Zerai",
            "Okbay",
        ],
    },
    ForeignNames {
        origin: Origin::Nigerian,
        male: &[
            "Chinedu",
            "Emeka",
            "Osaze",
            "Efosa",
            "Oluwaseun",
            "Ikenna",
            "Tunde",
            "Samuel",
            "Daniel",
            "Godwin",
        ],
        female: &[
            "Blessing", "Joy", "Precious", "Faith", "Osarugue", "Ese", "Chioma", "Ngozi", "Favour",
            "Gift",
        ],
        surnames: &[
            "Okafor",
            "Osagie",
            "Igbinedion",
            "Omoregie",
            "Okonkwo",
            "Adeyemi",
            "Eze",
            "Obi",
            "Nwosu",
            "Ogunleye",
            "Eghosa",
            "Aigbe",
            "Ehigiator",
            "Olawale",
            "Uwaifo",
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Prefixes are the leading lower-case words; capitalised particles stay.
    #[test]
    fn split_surname_separates_tussenvoegsel() {
        assert_eq!(split_surname("in 't Veld"), ("in 't", "Veld"));
        assert_eq!(split_surname("van den Berg"), ("van den", "Berg"));
        assert_eq!(split_surname("Jansen"), ("", "Jansen"));
        assert_eq!(split_surname("El Amrani"), ("", "El Amrani"));
    }

    /// Polish and Bulgarian surnames take their female form; others do not.
    #[test]
    fn female_forms() {
        assert_eq!(
            gendered_surname("Kowalski", Origin::Polish, Sex::Female),
            "Kowalska"
        );
        assert_eq!(
            gendered_surname("Ivanov", Origin::Bulgarian, Sex::Female),
            "Ivanova"
        );
        assert_eq!(
            gendered_surname("Ivanov", Origin::Bulgarian, Sex::Male),
            "Ivanov"
        );
        assert_eq!(
            gendered_surname("Popa", Origin::Romanian, Sex::Female),
            "Popa"
        );
    }

    /// Every origin has its lists and every Dutch surname splits cleanly.
    #[test]
    fn lists_are_complete() {
        for (origin, _) in Origin::SHARES {
            assert!(origin == Origin::Dutch || FOREIGN.iter().any(|f| f.origin == origin));
        }
        for (name, weight) in DUTCH_SURNAMES {
            let (prefix, stem) = split_surname(name);
            assert!(*weight > 0 && !stem.is_empty(), "{name}");
            assert!(
                !stem.starts_with(char::is_lowercase),
                "{name} → {prefix}|{stem}"
            );
        }
    }
}
