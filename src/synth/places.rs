//! Places, postcodes and streets for synthetic addresses and places of birth.
//!
//! Addresses are evidence in linkage (households share them, people move), so
//! the generator needs places whose size, province and postcode look right.
//! Municipalities carry their province (ISO 3166-2:NL) and an approximate
//! population in thousands (CBS, 2020, rounded) used as sampling weight; the
//! four-digit postcode ranges approximate the real PC4 areas of the place.
//! Postcodes, streets and house numbers are synthetic: a combination is not a
//! real address. Foreign places are common cities of the origin countries.

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

use super::names::Origin;
use crate::vocab::Region;

/// A Dutch municipality (or its main town) as a place of residence or birth.
pub(crate) struct Municipality {
    pub(crate) name: &'static str,
    pub(crate) region: Region,
    /// First and last four-digit postcode area of the place.
    postcodes: (u16, u16),
    /// Population in thousands: the sampling weight.
    population_k: u32,
}

const fn m(
    name: &'static str,
    region: Region,
    from: u16,
    to: u16,
    population_k: u32,
) -> Municipality {
    Municipality {
        name,
        region,
        postcodes: (from, to),
        population_k,
    }
}

use Region::{
    Drenthe as DR, Flevoland as FL, Friesland as FR, Gelderland as GE, Groningen as GR,
    Limburg as LI, NoordBrabant as NB, NoordHolland as NH, Overijssel as OV, Utrecht as UT,
    Zeeland as ZE, ZuidHolland as ZH,
};

static MUNICIPALITIES: &[Municipality] = &[
    m("Amsterdam", NH, 1011, 1109, 872),
    m("Rotterdam", ZH, 3011, 3089, 651),
    m("Den Haag", ZH, 2491, 2599, 545),
    m("Utrecht", UT, 3511, 3585, 357),
    m("Eindhoven", NB, 5611, 5658, 234),
    m("Groningen", GR, 9711, 9747, 232),
    m("Tilburg", NB, 5011, 5049, 219),
    m("Almere", FL, 1311, 1363, 211),
    m("Breda", NB, 4811, 4841, 184),
    m("Nijmegen", GE, 6511, 6546, 177),
    m("Apeldoorn", GE, 7311, 7339, 164),
    m("Haarlem", NH, 2011, 2037, 162),
    m("Arnhem", GE, 6811, 6846, 161),
    m("Enschede", OV, 7511, 7548, 159),
    m("Amersfoort", UT, 3811, 3829, 157),
    m("Zaandam", NH, 1501, 1509, 156),
    m("Hoofddorp", NH, 2131, 2136, 156),
    m("'s-Hertogenbosch", NB, 5211, 5249, 155),
    m("Zwolle", OV, 8011, 8047, 129),
    m("Leiden", ZH, 2311, 2334, 125),
    m("Zoetermeer", ZH, 2711, 2729, 125),
    m("Leeuwarden", FR, 8911, 8941, 124),
    m("Maastricht", LI, 6211, 6229, 121),
    m("Dordrecht", ZH, 3311, 3329, 119),
    m("Ede", GE, 6711, 6721, 116),
    m("Alphen aan den Rijn", ZH, 2401, 2409, 112),
    m("Alkmaar", NH, 1811, 1817, 109),
    m("Emmen", DR, 7811, 7833, 107),
    m("Delft", ZH, 2611, 2629, 103),
    m("Venlo", LI, 5911, 5928, 101),
    m("Deventer", OV, 7411, 7429, 100),
    m("Helmond", NB, 5701, 5709, 92),
    m("Oss", NB, 5341, 5349, 92),
    m("Sittard", LI, 6131, 6137, 92),
    m("Amstelveen", NH, 1181, 1189, 90),
    m("Hilversum", NH, 1211, 1223, 90),
    m("Sneek", FR, 8601, 8608, 90),
    m("Heerlen", LI, 6411, 6422, 87),
    m("Hengelo", OV, 7550, 7559, 81),
    m("Purmerend", NH, 1441, 1448, 80),
    m("Schiedam", ZH, 3111, 3125, 79),
    m("Lelystad", FL, 8211, 8245, 78),
    m("Roosendaal", NB, 4701, 4709, 77),
    m("Gouda", ZH, 2801, 2809, 73),
    m("Hoorn", NH, 1621, 1628, 73),
    m("Almelo", OV, 7601, 7609, 73),
    m("Spijkenisse", ZH, 3200, 3209, 72),
    m("Assen", DR, 9401, 9409, 68),
    m("Bergen op Zoom", NB, 4611, 4624, 67),
    m("Veenendaal", UT, 3901, 3907, 66),
    m("Nieuwegein", UT, 3430, 3439, 63),
    m("Roermond", LI, 6041, 6046, 58),
    m("Den Helder", NH, 1781, 1789, 56),
    m("Drachten", FR, 9201, 9204, 56),
    m("Hoogeveen", DR, 7901, 7909, 55),
    m("Terneuzen", ZE, 4531, 4538, 54),
    m("Kampen", OV, 8261, 8267, 54),
    m("Heerenveen", FR, 8441, 8449, 50),
    m("Middelburg", ZE, 4331, 4339, 48),
    m("Harderwijk", GE, 3841, 3849, 47),
    m("Emmeloord", FL, 8301, 8309, 47),
    m("Vlissingen", ZE, 4381, 4389, 45),
    m("Tiel", GE, 4001, 4009, 42),
    m("Goes", ZE, 4461, 4465, 38),
    m("Winterswijk", GE, 7101, 7109, 29),
    m("Veendam", GR, 9641, 9648, 27),
    m("Delfzijl", GR, 9933, 9939, 25),
    m("Meppel", DR, 7941, 7948, 34),
];

/// Common Dutch street names (the most frequent ones in the BAG).
static STREETS: &[&str] = &[
    "Kerkstraat",
    "Schoolstraat",
    "Molenstraat",
    "Dorpsstraat",
    "Nieuwstraat",
    "Julianastraat",
    "Wilhelminastraat",
    "Beatrixstraat",
    "Stationsstraat",
    "Kastanjelaan",
    "Eikenlaan",
    "Beukenlaan",
    "Lindelaan",
    "Oranjestraat",
    "Sportlaan",
    "Tulpstraat",
    "Rozenstraat",
    "Industrieweg",
    "Parallelweg",
    "Molenweg",
    "Prins Bernhardstraat",
    "Emmastraat",
    "Hoofdstraat",
    "Marktstraat",
    "Havenstraat",
    "Noordeinde",
    "Kanaalweg",
    "Dijkstraat",
    "Rembrandtlaan",
    "Van Goghstraat",
    "Vondelstraat",
    "Burgemeester de Withstraat",
    "Irisstraat",
    "Esdoornlaan",
    "Meidoornstraat",
    "Zuiderweg",
];

/// A place abroad: name and postal code pattern (`9` = a digit).
struct ForeignPlace {
    name: &'static str,
    postcode: &'static str,
}

const fn f(name: &'static str, postcode: &'static str) -> ForeignPlace {
    ForeignPlace { name, postcode }
}

/// Cities of each origin country: places of birth of first-generation
/// migrants and places of residence of persons living abroad.
fn foreign_places(origin: Origin) -> &'static [ForeignPlace] {
    static TR: &[ForeignPlace] = &[
        f("İstanbul", "34999"),
        f("Ankara", "06999"),
        f("Konya", "42999"),
        f("Kayseri", "38999"),
        f("Afyonkarahisar", "03999"),
    ];
    static MA: &[ForeignPlace] = &[
        f("Nador", "62000"),
        f("Al Hoceima", "32000"),
        f("Tanger", "90000"),
        f("Casablanca", "20000"),
        f("Oujda", "60000"),
    ];
    static SR: &[ForeignPlace] = &[
        f("Paramaribo", ""),
        f("Nieuw Nickerie", ""),
        f("Lelydorp", ""),
        f("Moengo", ""),
    ];
    static PL: &[ForeignPlace] = &[
        f("Warszawa", "99-999"),
        f("Kraków", "99-999"),
        f("Wrocław", "99-999"),
        f("Łódź", "99-999"),
        f("Opole", "99-999"),
        f("Lublin", "99-999"),
    ];
    static RO: &[ForeignPlace] = &[
        f("București", "999999"),
        f("Iași", "999999"),
        f("Constanța", "999999"),
        f("Craiova", "999999"),
        f("Timișoara", "999999"),
    ];
    static BG: &[ForeignPlace] = &[
        f("Sofia", "9999"),
        f("Plovdiv", "9999"),
        f("Varna", "9999"),
        f("Sliven", "9999"),
        f("Pazardzhik", "9999"),
    ];
    static SY: &[ForeignPlace] = &[
        f("Damascus", ""),
        f("Aleppo", ""),
        f("Homs", ""),
        f("Latakia", ""),
    ];
    static UA: &[ForeignPlace] = &[
        f("Kyiv", "99999"),
        f("Kharkiv", "99999"),
        f("Odesa", "99999"),
        f("Lviv", "99999"),
        f("Dnipro", "99999"),
    ];
    static ER: &[ForeignPlace] = &[
        f("Asmara", ""),
        f("Keren", ""),
        f("Massawa", ""),
        f("Mendefera", ""),
    ];
    static NG: &[ForeignPlace] = &[
        f("Benin City", "300999"),
        f("Lagos", "100999"),
        f("Abuja", "900999"),
        f("Enugu", "400999"),
        f("Ibadan", "200999"),
    ];
    match origin {
        Origin::Dutch => &[],
        Origin::Turkish => TR,
        Origin::Moroccan => MA,
        Origin::Surinamese => SR,
        Origin::Polish => PL,
        Origin::Romanian => RO,
        Origin::Bulgarian => BG,
        Origin::Syrian => SY,
        Origin::Ukrainian => UA,
        Origin::Eritrean => ER,
        Origin::Nigerian => NG,
    }
}

/// An asylum reception centre (azc): many unrelated persons share its
/// address, which makes the address nearly worthless as evidence.
struct ReceptionCentre {
    place: &'static str,
    region: Region,
    house_number: &'static str,
    postcode: &'static str,
}

/// Street name of every reception centre (synthetic: the centres' real
/// addresses are not used).
const RECEPTION_STREET: &str = "Azc-terrein";

static RECEPTION_CENTRES: &[ReceptionCentre] = &[
    ReceptionCentre {
        place: "Ter Apel",
        region: GR,
        house_number: "1",
        postcode: "9561 AZ",
    },
    ReceptionCentre {
        place: "Budel",
        region: NB,
        house_number: "3",
        postcode: "6021 AZ",
    },
    ReceptionCentre {
        place: "Zweeloo",
        region: DR,
        house_number: "5",
        postcode: "7851 AZ",
    },
    ReceptionCentre {
        place: "Dronten",
        region: FL,
        house_number: "7",
        postcode: "8251 AZ",
    },
];

/// An address at which a household lives from a day on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) street: String,
    pub(crate) house_number: String,
    pub(crate) postcode: String,
    pub(crate) place: &'static str,
    pub(crate) region: Region,
}

/// Samples places, postcodes and streets.
pub(crate) struct Gazetteer {
    municipalities: WeightedIndex<u32>,
}

impl Gazetteer {
    /// Builds the population-weighted sampler.
    pub(crate) fn new() -> Gazetteer {
        let municipalities = WeightedIndex::new(MUNICIPALITIES.iter().map(|m| m.population_k))
            .unwrap_or_else(|_| unreachable!("constant municipality list with positive weights"));
        Gazetteer { municipalities }
    }

    /// A Dutch place drawn in proportion to population.
    pub(crate) fn dutch_place<R: Rng>(&self, rng: &mut R) -> &'static Municipality {
        &MUNICIPALITIES[self.municipalities.sample(rng)]
    }

    /// Place of birth for a person of the origin born abroad.
    pub(crate) fn foreign_birthplace<R: Rng>(&self, origin: Origin, rng: &mut R) -> &'static str {
        let places = foreign_places(origin);
        if places.is_empty() {
            return self.dutch_place(rng).name;
        }
        places[rng.random_range(0..places.len())].name
    }

    /// A new Dutch address in the given place (or a random place when `None`).
    pub(crate) fn dutch_address<R: Rng>(
        &self,
        place: Option<&'static Municipality>,
        rng: &mut R,
    ) -> Address {
        let place = place.unwrap_or_else(|| self.dutch_place(rng));
        let pc4 = rng.random_range(place.postcodes.0..=place.postcodes.1);
        // Dutch postcodes do not use the letter pairs SA, SD and SS; avoiding them keeps
        // the postcodes plausible.
        let letters = loop {
            let a = char::from(b'A' + rng.random_range(0..26u8));
            let b = char::from(b'A' + rng.random_range(0..26u8));
            if !matches!((a, b), ('S', 'A') | ('S', 'D') | ('S', 'S')) {
                break [a, b];
            }
        };
        Address {
            street: STREETS[rng.random_range(0..STREETS.len())].to_string(),
            house_number: house_number(rng),
            postcode: format!("{pc4:04} {}{}", letters[0], letters[1]),
            place: place.name,
            region: place.region,
        }
    }

    /// The municipality with this name, if it is one of ours.
    pub(crate) fn municipality(&self, name: &str) -> Option<&'static Municipality> {
        MUNICIPALITIES.iter().find(|m| m.name == name)
    }

    /// An address abroad in a city of the origin country.
    pub(crate) fn foreign_address<R: Rng>(&self, origin: Origin, rng: &mut R) -> Address {
        let places = foreign_places(origin);
        if places.is_empty() {
            return self.dutch_address(None, rng);
        }
        let place = &places[rng.random_range(0..places.len())];
        let postcode = place
            .postcode
            .chars()
            .map(|c| {
                if c == '9' {
                    char::from(b'0' + rng.random_range(0..10u8))
                } else {
                    c
                }
            })
            .collect();
        Address {
            street: String::new(),
            house_number: rng.random_range(1..120u32).to_string(),
            postcode,
            place: place.name,
            region: Region::Abroad,
        }
    }

    /// The address of an asylum reception centre.
    pub(crate) fn reception_centre<R: Rng>(&self, rng: &mut R) -> Address {
        let centre = &RECEPTION_CENTRES[rng.random_range(0..RECEPTION_CENTRES.len())];
        Address {
            street: RECEPTION_STREET.to_string(),
            house_number: centre.house_number.to_string(),
            postcode: centre.postcode.to_string(),
            place: centre.place,
            region: centre.region,
        }
    }
}

/// A house number, sometimes with an addition (`12a`, `12-2`, `12 hs`).
fn house_number<R: Rng>(rng: &mut R) -> String {
    let number: u32 = if rng.random_bool(0.8) {
        rng.random_range(1..80)
    } else {
        rng.random_range(80..400)
    };
    match rng.random_range(0..20u8) {
        0 => format!("{number}a"),
        1 => format!("{number}b"),
        2 => format!("{number}-2"),
        3 => format!("{number} hs"),
        _ => number.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Dutch postcodes have the `1234 AB` shape and lie in the place's range.
    #[test]
    fn dutch_postcodes_have_the_dutch_shape() {
        let gazetteer = Gazetteer::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..500 {
            let address = gazetteer.dutch_address(None, &mut rng);
            let bytes = address.postcode.as_bytes();
            assert_eq!(bytes.len(), 7, "{}", address.postcode);
            assert!(bytes[..4].iter().all(u8::is_ascii_digit));
            assert_eq!(bytes[4], b' ');
            assert!(bytes[5..].iter().all(u8::is_ascii_uppercase));
            let place = gazetteer.municipality(address.place).unwrap();
            let pc4: u16 = address.postcode[..4].parse().unwrap();
            assert!((place.postcodes.0..=place.postcodes.1).contains(&pc4));
        }
    }

    /// Every place list is non-empty for non-Dutch origins.
    #[test]
    fn foreign_places_exist() {
        for (origin, _) in Origin::SHARES {
            assert_eq!(foreign_places(origin).is_empty(), origin == Origin::Dutch);
        }
    }
}
