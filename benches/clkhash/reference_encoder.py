#!/usr/bin/env python3
"""Independent Python implementation of docs/ENCODING.md (veilink encoding v1).

Written from the specification alone, to show that it is implementable in
another language and to produce tests/vectors/encoding-v1.json, which the Rust
encoder is checked against (tests/encoding_vectors.rs). Needs the standard
library and the `blake3` package (pip install blake3).

    python3 reference_encoder.py vectors > tests/vectors/encoding-v1.json
"""

import base64
import calendar
import datetime
import json
import sys
import unicodedata

import blake3

RULE_SET_VERSION = 2
NORMALISATION_VERSION = 1

# --- section 2: keys ---------------------------------------------------------

RULE_NAMES = [
    "national_id", "name_dob", "surname_dob_postcode", "given_dob_postcode",
    "phonetic_name_dob", "given_surname_part_dob", "name_dob_daymonth",
    "initial_surname_dob", "surname_address", "name_yob_pob",
    "phonetic_surname_dob_sex", "given_surname_residence", "register_id",
    "name_pair_dob", "dob_address",
]
BLOOM_FIELDS = [("given_name", 16), ("surname", 16), ("date_of_birth", 32)]
SCHEMES = {"none": 0, "unsalted": 1, "salted_by_birth_year": 2}


def derive_key(context, material):
    return blake3.blake3(material, derive_key_context=context).digest()


def keyed_hash(key, data, length=32):
    return blake3.blake3(data, key=key).digest(length=length)


def lp(value):
    data = value.encode("utf-8") if isinstance(value, str) else value
    return len(data).to_bytes(4, "big") + data


class Keys:
    def __init__(self, secret, agency):
        self.key_id = derive_key("veilink encoding v1 key id", secret)[:8]
        self.rules = [
            derive_key(f"veilink encoding v1 match token rule {i + 1} {name}", secret)
            for i, name in enumerate(RULE_NAMES)
        ]
        self.bloom = [
            derive_key(f"veilink encoding v1 bloom field {name}", secret)
            for name, _ in BLOOM_FIELDS
        ]
        master = derive_key("veilink encoding v1 record ref", secret)
        self.agency = keyed_hash(master, lp(agency))

    def fingerprint(self, scheme):
        material = (RULE_SET_VERSION.to_bytes(4, "big") + NORMALISATION_VERSION.to_bytes(4, "big")
                    + bytes([SCHEMES[scheme]]) + self.key_id)
        return derive_key("veilink encoding v1 fingerprint", material)


# --- section 4: normalisation ----------------------------------------------

SPECIAL = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d",
           "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t"}
PLACEHOLDERS = set("anoniem anonymous fnu geen geennaam leeg lnu nietbekend nil nn nnn "
                   "nonaam noname none notknown null nvt onb onbekend unk unknown".split())
PARTICLES = set(
    "a aan af al am auf aus ben bin boven by d da dal dall dalla das de degli dei del della "
    "den der des di die do don dos du el gen het i im in l la las le les lo los m op over s t "
    "te ten ter tho thoe thor to toe tot uit unter uyt van ver vom von voor vor zu zum zur".split())


def fold(cell, digits):
    """Section 4.1: returns [(word, abbreviated)]."""
    text = "".join(c for c in unicodedata.normalize("NFKD", cell)
                   if not unicodedata.category(c).startswith("M"))
    chars = []
    for c in text:
        for low in c.lower():
            chars.extend(SPECIAL.get(low, low))
    words, current = [], ""
    for c in chars:
        is_word = ("a" <= c <= "z") or (digits and "0" <= c <= "9") or (ord(c) > 127 and c.isalpha())
        if is_word:
            current += c
        else:
            if current:
                words.append((current.replace("ij", "y"), c == "."))
            current = ""
    if current:
        words.append((current.replace("ij", "y"), False))
    return words


def folded(cell, digits=False):
    if cell is None:
        return None
    words = fold(cell, digits)
    joined = "".join(w for w, _ in words)
    if not joined or joined in PLACEHOLDERS or set(joined) == {"x"}:
        return None
    return words


def given(cell):
    words = folded(cell)
    if not words:
        return None, None
    word, abbreviated = words[0]
    return (None if abbreviated or len(word) < 2 else word), word[0]


def components(cell):
    words = folded(cell)
    if not words:
        return []
    texts = [w for w, _ in words]
    if all(w in PARTICLES for w in texts):
        return ["".join(texts)]
    return [w for w in texts if w not in PARTICLES]


def parse_dob(text):
    """Test vectors write the date of birth as %Y-%m-%d with 00 for unknown parts."""
    if not text:
        return None
    y, m, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    if y == 0 or (y, m, d) in [(1800, 1, 1), (1900, 1, 1), (9999, 12, 31)]:
        return None
    if m == 0 and d == 0:
        return (y, None, None)
    if d == 0:
        return (y, m, None)
    datetime.date(y, m, d)  # raises on an impossible date
    return (y, m, d)


def bsn_ok(v):
    if len(v) != 9 or not v.isascii() or not v.isdigit():
        return False
    weights = [9, 8, 7, 6, 5, 4, 3, 2, -1]
    return sum(int(c) * w for c, w in zip(v, weights)) % 11 == 0


def national_id(cell, check):
    words = folded(cell, digits=True)
    if not words:
        return None, False
    v = "".join(w for w, _ in words)
    if check == "bsn" and len(v) == 8:
        v = "0" + v
    if len(set(v)) == 1 and v[0].isascii() and v[0].isdigit():
        return None, False
    if check == "bsn" and not bsn_ok(v):
        return None, True
    return (check, v), False


def postcode(cell):
    words = folded(cell, digits=True)
    if not words:
        return None
    v = "".join(w for w, _ in words)
    ds = [c for c in v if c.isascii() and c.isdigit()]
    return None if ds and set(ds) == {"0"} else v


def house_number(cell):
    words = folded(cell, digits=True)
    for w, _ in words or []:
        if any(c.isascii() and c.isdigit() for c in w):
            start = next(i for i, c in enumerate(w) if c.isascii() and c.isdigit())
            run = ""
            for c in w[start:]:
                if not (c.isascii() and c.isdigit()):
                    break
                run += c
            run = run.lstrip("0")
            return run or None
    return None


def place(cell):
    words = folded(cell)
    return "".join(w for w, _ in words) if words else None


def normalise(inp, check):
    g, initial = given(inp.get("given_names"))
    sur = components(inp.get("surname"))
    birth = components(inp.get("birth_surname"))
    key = birth if birth else sur
    parts = []
    for p in sur + birth:
        if len(p) >= 2 and p not in parts and len(parts) < 4:
            parts.append(p)
    nid, invalid = national_id(inp.get("national_id"), check)
    sex = inp.get("sex", "unknown")
    return {
        "given_name": g,
        "initial": initial,
        "surname": "".join(key) if key else None,
        "surname_parts": parts,
        "date_of_birth": parse_dob(inp.get("date_of_birth")),
        "sex": None if sex == "unknown" else sex,
        "national_id": nid,
        "national_id_invalid": invalid,
        "postcode": postcode(inp.get("postcode")),
        "house_number": house_number(inp.get("house_number")),
        "place_of_residence": place(inp.get("place_of_residence")),
        "place_of_birth": place(inp.get("place_of_birth")),
    }


# --- section 5: phonetic key -----------------------------------------------

VOWELS = set("aeiouy")
GROUPS = [("sch", "s"), ("chr", "kr"), ("ch", "g"), ("ph", "f"), ("qu", "kw")]


def phonetic(name):
    if not name:
        return None
    s, out, i = name, "", 0
    while i < len(s):
        group = next(((g, r) for g, r in GROUPS if s.startswith(g, i)), None)
        if group:
            out += group[1]
            i += len(group[0])
            continue
        c = s[i]
        nxt = s[i + 1] if i + 1 < len(s) else None
        nxt_vowel = nxt is not None and nxt in VOWELS
        if c == "c" and nxt in ("e", "i", "y"):
            out += "s"
        elif c in ("c", "q"):
            out += "k"
        elif c == "x":
            out += "ks"
        elif c == "z":
            out += "s"
        elif c == "v":
            out += "f"
        elif c == "h" and i > 0:
            pass
        elif c == "w" and i > 0 and s[i - 1] in VOWELS and not nxt_vowel:
            pass
        elif c == "d" and not nxt_vowel:
            out += "t"
        elif c == "b" and nxt is None:
            out += "p"
        elif c in VOWELS:
            out += "a"
        else:
            out += c
        i += 1
    key = ""
    for c in out:
        if not key.endswith(c):
            key += c
    return key or None


# --- section 6: rules --------------------------------------------------------

def rule_values(n):
    """Returns [(rule id, [values])] for every token of a normalised person."""
    dob = n["date_of_birth"]
    full = dob is not None and dob[2] is not None
    dobs = f"{dob[0]:04}{dob[1]:02}{dob[2]:02}" if full else None
    yob = f"{dob[0]:04}" if dob else None
    pair = None
    if full and dob[1] <= 12 and dob[2] <= 12 and dob[1] != dob[2]:
        lo, hi = sorted([dob[1], dob[2]])
        pair = f"{lo:02}{hi:02}"
    g, s = n["given_name"], n["surname"]
    pg, ps = phonetic(g), phonetic(s)
    nid = n["national_id"]
    checked = nid if nid and nid[0] == "bsn" else None
    unchecked = nid if nid and nid[0] != "bsn" else None
    names = sorted([g, s]) if g is not None and s is not None else [None, None]
    rules = [
        (1, [[checked[0] if checked else None, checked[1] if checked else None]]),
        (2, [[g, s, dobs]]),
        (3, [[s, dobs, n["postcode"]]]),
        (4, [[g, dobs, n["postcode"]]]),
        (5, [[pg, ps, dobs]]),
        (6, [[g, p, dobs] for p in n["surname_parts"]]),
        (7, [[g, s, yob, pair]]),
        (8, [[n["initial"], s, dobs]]),
        (9, [[s, n["postcode"], n["house_number"]]]),
        (10, [[g, s, yob, n["place_of_birth"]]]),
        (11, [[ps, dobs, n["sex"]]]),
        (12, [[g, s, n["place_of_residence"]]]),
        (13, [[unchecked[0] if unchecked else None, unchecked[1] if unchecked else None]]),
        (14, [[names[0], names[1], dobs]]),
        (15, [[dobs, n["postcode"], n["house_number"]]]),
    ]
    out = []
    for rid, lists in rules:
        for values in lists:
            if all(v is not None for v in values):
                out.append((rid, values))
    return out


def tokens(keys, n):
    result = []
    for rid, values in rule_values(n):
        canonical = b"".join(lp(v) for v in values)
        result.append({"rule": rid, "values": values, "canonical": canonical.hex(),
                       "hash": keyed_hash(keys.rules[rid - 1], canonical).hex()})
    result.sort(key=lambda t: (t["rule"], t["hash"]))
    return result


# --- section 7: Bloom encoding ---------------------------------------------

def bigrams(name):
    p = "_" + name + "_"
    return [p[i:i + 2] for i in range(len(p) - 1)]


def bloom_elements(n):
    dob = n["date_of_birth"]
    dates = []
    if dob:
        dates.append(f"y{dob[0]:04}")
        if dob[1] is not None:
            dates.append(f"m{dob[1]:02}")
        if dob[2] is not None:
            dates.append(f"d{dob[2]:02}")
    return [bigrams(n["given_name"]) if n["given_name"] else [],
            bigrams(n["surname"]) if n["surname"] else [], dates]


def bloom(keys, n, scheme):
    if n["given_name"] is None and n["surname"] is None and n["date_of_birth"] is None:
        return None
    bits = bytearray(128)
    dob = n["date_of_birth"]
    name_salt = f"{dob[0]:04}".encode() if (scheme == "salted_by_birth_year" and dob) else b""
    for field, elements in enumerate(bloom_elements(n)):
        k = BLOOM_FIELDS[field][1]
        salt = name_salt if field < 2 else b""
        for e in elements:
            h = keyed_hash(keys.bloom[field], bytes([len(salt)]) + salt + e.encode(), 2 * k)
            for j in range(k):
                p = (256 * h[2 * j] + h[2 * j + 1]) % 1024
                bits[p // 8] |= 0x80 >> (p % 8)
    return bytes(bits)


# --- sections 8 and 9 --------------------------------------------------------

def age(b, e):
    return e.year - b.year - (1 if (e.month, e.day) < (b.month, b.day) else 0)


def band(a):
    for upper, name in [(11, "0-11"), (17, "12-17"), (22, "18-22"), (29, "23-29"),
                        (39, "30-39"), (49, "40-49"), (64, "50-64")]:
        if a <= upper:
            return name
    return "65+"


def age_band(dob, event):
    if dob is None:
        return "unknown"
    y, m, d = dob
    if d is not None:
        lo = hi = datetime.date(y, m, d)
    elif m is not None:
        lo, hi = datetime.date(y, m, 1), datetime.date(y, m, calendar.monthrange(y, m)[1])
    else:
        lo, hi = datetime.date(y, 1, 1), datetime.date(y, 12, 31)
    if lo > event:
        return "unknown"
    hi = min(hi, event)
    a, b = band(max(age(lo, event), 0)), band(max(age(hi, event), 0))
    return a if a == b else "unknown"


def record_ref(keys, local_id):
    return keyed_hash(keys.agency, lp(local_id.strip()))


# --- vectors -----------------------------------------------------------------

def vector_inputs():
    """Registrations covering each normalisation rule (name, input, check)."""
    base = {"event_date": "2021-06-15", "sex": "female"}
    rows = [
        ("plain Dutch name", {"given_names": "Anna Maria", "surname": "Jansen", "date_of_birth": "1990-07-03",
                              "postcode": "1234 AB", "house_number": "12", "place_of_residence": "Utrecht",
                              "place_of_birth": "Amersfoort", "national_id": "123456782"}),
        ("tussenvoegsel in the surname", {"given_names": "Pieter", "surname": "de Vries", "date_of_birth": "1985-03-07",
                                          "sex": "male"}),
        ("tussenvoegsel after the surname", {"given_names": "Pieter", "surname": "Vries, de", "date_of_birth": "1985-03-07",
                                             "sex": "male"}),
        ("tussenvoegsel in its own column", {"given_names": "Pieter", "surname_prefix": "de", "surname": "Vries",
                                             "date_of_birth": "1985-03-07", "sex": "male"}),
        ("day and month swapped", {"given_names": "Pieter", "surname": "de Vries", "date_of_birth": "1985-07-03",
                                   "sex": "male"}),
        ("in 't after a comma", {"given_names": "Geert", "surname": "Veld, in 't", "date_of_birth": "1970-12-24",
                                 "sex": "male"}),
        ("van der before", {"given_names": "Sanne", "surname": "van der Berg", "date_of_birth": "1999-02-14"}),
        ("married double name with birth surname", {"given_names": "Els", "surname": "Jansen-de Vries",
                                                    "birth_surname": "de Vries", "date_of_birth": "1962-05-20"}),
        ("married double name without birth surname", {"given_names": "Els", "surname": "Jansen-de Vries",
                                                       "date_of_birth": "1962-05-20"}),
        ("birth surname only as maiden name", {"given_names": "Els", "surname": "de Vries", "date_of_birth": "1962-05-20"}),
        ("diacritics", {"given_names": "Zoë Renée", "surname": "Müller", "date_of_birth": "2001-11-30",
                        "place_of_residence": "Zürich"}),
        ("Turkish letters", {"given_names": "Ayşe", "surname": "Yılmaz", "date_of_birth": "1995-01-09",
                             "place_of_birth": "İstanbul"}),
        ("Polish and Scandinavian letters", {"given_names": "Łukasz", "surname": "Søndergaard", "date_of_birth": "1988-08-08"}),
        ("sharp s and ligature", {"given_names": "Jürgen", "surname": "Großmann", "date_of_birth": "1950-06-01",
                                  "sex": "male"}),
        ("ij spelled with ij", {"given_names": "IJsbrand", "surname": "van Dijk", "date_of_birth": "1980-10-10",
                                "sex": "male"}),
        ("ij spelled with y", {"given_names": "Ysbrand", "surname": "van Dyk", "date_of_birth": "1980-10-10",
                               "sex": "male"}),
        ("ij ligature code point", {"given_names": "\u0132sbrand", "surname": "van D\u0133k", "date_of_birth": "1980-10-10",
                                    "sex": "male"}),
        ("hyphenated given name", {"given_names": "Jan-Willem", "surname": "Bakker", "date_of_birth": "1975-04-18",
                                   "sex": "male"}),
        ("initials with full stops", {"given_names": "J.W.", "surname": "Bakker", "date_of_birth": "1975-04-18",
                                      "sex": "male"}),
        ("abbreviated first name", {"given_names": "Th. Maria", "surname": "Smit", "date_of_birth": "1948-09-02",
                                    "sex": "male"}),
        ("initials with spaces", {"given_names": "J W", "surname": "Bakker", "date_of_birth": "1975-04-18",
                                  "sex": "male"}),
        ("placeholder given name NN", {"given_names": "N.N.", "surname": "Visser", "date_of_birth": "2003-03-03"}),
        ("placeholder surname onbekend", {"given_names": "Fatima", "surname": "Onbekend", "date_of_birth": "2000-01-05"}),
        ("placeholder xxx", {"given_names": "XXX", "surname": "El Amrani", "date_of_birth": "2000-01-05"}),
        ("placeholder date of birth", {"given_names": "Mohammed", "surname": "El Amrani", "date_of_birth": "1900-01-01",
                                       "sex": "male"}),
        ("placeholder BSN zeros", {"given_names": "Mohammed", "surname": "Amrani", "date_of_birth": "1993-04-11",
                                   "national_id": "000000000", "sex": "male"}),
        ("partial date: year and month", {"given_names": "Nadia", "surname": "Haddou", "date_of_birth": "1994-05-00"}),
        ("partial date: year only", {"given_names": "Nadia", "surname": "Haddou", "date_of_birth": "1994-00-00",
                                     "place_of_birth": "Nador"}),
        ("partial date giving an unknown band", {"given_names": "Liam", "surname": "Peters", "date_of_birth": "2003-00-00",
                                                 "sex": "male"}),
        ("valid BSN with dots", {"given_names": "Kees", "surname": "de Boer", "date_of_birth": "1966-06-06",
                                 "national_id": "1112.22.333", "sex": "male"}),
        ("valid 8-digit BSN", {"given_names": "Ria", "surname": "Mulder", "date_of_birth": "1971-02-03",
                               "national_id": "11222335"}),
        ("invalid BSN dropped", {"given_names": "Ria", "surname": "Mulder", "date_of_birth": "1971-02-03",
                                 "national_id": "123456789"}),
        ("BSN with a letter is invalid", {"given_names": "Ria", "surname": "Mulder", "date_of_birth": "1971-02-03",
                                          "national_id": "12345678X"}),
        ("foreign register id", {"given_names": "Olena", "surname": "Kovalenko", "date_of_birth": "1998-12-01",
                                 "national_id": "AB-123 456"}, "none"),
        ("given name and surname swapped", {"given_names": "Jansen", "surname": "Anna", "date_of_birth": "1990-07-03"}),
        ("swapped with a tussenvoegsel", {"given_names": "Vries", "surname": "Pieter, de", "date_of_birth": "1985-03-07",
                                          "national_id": "X 778-12"}, "none"),
        ("foreign id of nines is a placeholder", {"given_names": "Olena", "surname": "Kovalenko",
                                                  "date_of_birth": "1998-12-01", "national_id": "999999"}, "none"),
        ("address fields", {"given_names": "Henk", "surname": "Hendriks", "date_of_birth": "1958-11-11",
                            "postcode": "2511ax", "house_number": "012-2", "place_of_residence": "'s-Gravenhage",
                            "sex": "male"}),
        ("postcode placeholder and house number addition", {"given_names": "Henk", "surname": "Hendrickx",
                                                            "date_of_birth": "1958-11-11", "postcode": "0000 XX",
                                                            "house_number": "12 A", "sex": "male"}),
        ("phonetic variants Meijer", {"given_names": "Christiaan", "surname": "Meijer", "date_of_birth": "1982-07-19",
                                      "sex": "male"}),
        ("phonetic variants Meyer", {"given_names": "Kristiaan", "surname": "Meyer", "date_of_birth": "1982-07-19",
                                     "sex": "male"}),
        ("all-particle surname", {"given_names": "Joost", "surname": "Van", "date_of_birth": "1977-03-30", "sex": "male"}),
        ("Cyrillic name kept as letters", {"given_names": "Иван", "surname": "Петров", "date_of_birth": "1991-09-09",
                                           "sex": "male"}),
        ("Greek capital sigma without context", {"given_names": "ΟΔΥΣΣΕΑΣ", "surname": "Papadopoulos",
                                                 "date_of_birth": "1987-04-04", "sex": "male"}),
        ("apostrophe in surname", {"given_names": "Sean", "surname": "O'Brien", "date_of_birth": "1979-02-28",
                                   "sex": "male"}),
        ("leap day birthday", {"given_names": "Noor", "surname": "Bakker", "date_of_birth": "2004-02-29",
                               "event_date": "2022-02-28"}),
        ("nothing but a record id", {}),
        ("surname only", {"surname": "Jansen"}),
        ("sex other", {"given_names": "Alex", "surname": "de Wit", "date_of_birth": "2000-10-01", "sex": "other"}),
        ("punctuation and extra spaces", {"given_names": "  anna   MARIA ", "surname": " JANSEN. ",
                                          "date_of_birth": "1990-07-03", "postcode": "1234AB"}),
    ]
    out = []
    for i, row in enumerate(rows):
        name, fields = row[0], row[1]
        check = row[2] if len(row) > 2 else "bsn"
        inp = dict(base)
        inp.update(fields)
        inp["record_id"] = f"REG-{i + 1:04}"
        out.append((name, inp, check))
    return out


def describe(n):
    out = dict(n)
    dob = n["date_of_birth"]
    out["date_of_birth"] = None if dob is None else (
        f"{dob[0]:04}-{(dob[1] or 0):02}-{(dob[2] or 0):02}")
    nid = n["national_id"]
    out["national_id"] = None if nid is None else {"scheme": nid[0], "value": nid[1]}
    out["phonetic_given_name"] = phonetic(n["given_name"])
    out["phonetic_surname"] = phonetic(n["surname"])
    return out


def vectors():
    secret = bytes(range(32))
    agency = "police"
    keys = Keys(secret, agency)
    doc = {
        "description": "veilink encoding v1 test vectors (docs/ENCODING.md, section 12); "
                       "generated by benches/clkhash/reference_encoder.py",
        "rule_set_version": RULE_SET_VERSION,
        "normalisation_version": NORMALISATION_VERSION,
        "secret": secret.hex(),
        "agency": agency,
        "key_id": keys.key_id.hex(),
        "fingerprint": {s: keys.fingerprint(s).hex() for s in SCHEMES},
        "keys": {
            **{f"rule {i + 1} {name}": k.hex() for i, (name, k) in enumerate(zip(RULE_NAMES, keys.rules))},
            **{f"bloom {name}": k.hex() for (name, _), k in zip(BLOOM_FIELDS, keys.bloom)},
            "record ref agency key": keys.agency.hex(),
        },
        "phonetic": [
            {"name": name, "key": phonetic(name)}
            for name in ["meyer", "meier", "meyr", "mayer", "smit", "smidt", "schmidt", "smith",
                         "hendriks", "hendrickx", "hendrix", "jansen", "janssen", "janszen", "bakker",
                         "backer", "vries", "fries", "bouwman", "bouman", "christiaan", "kristiaan",
                         "mohammed", "muhammad", "mehmet", "dyk", "dyck", "gerards", "gerarts", "cees",
                         "kees", "visser", "vos", "hugo", "schouten", "quiryn", "xander", "bob", "hh", "ysbrand", "ivan"]
        ],
        "records": [],
    }
    for i, (name, inp, check) in enumerate(vector_inputs()):
        n = normalise(inp, check)
        event = datetime.date.fromisoformat(inp["event_date"])
        rec = {
            "name": name,
            "national_id_check": check,
            "input": inp,
            "normalised": describe(n),
            "age_band": age_band(n["date_of_birth"], event),
            "record_ref": record_ref(keys, inp["record_id"]).hex(),
            "tokens": tokens(keys, n),
        }
        if i % 3 == 0:
            b = bloom(keys, n, "salted_by_birth_year")
            rec["bloom"] = {
                "scheme": "salted_by_birth_year",
                "elements": dict(zip([f for f, _ in BLOOM_FIELDS], bloom_elements(n))),
                "hex": None if b is None else b.hex(),
                "base64": None if b is None else base64.b64encode(b).decode(),
            }
        if i % 6 == 0:
            b = bloom(keys, n, "unsalted")
            rec["bloom_unsalted_hex"] = None if b is None else b.hex()
        doc["records"].append(rec)
    return doc


if __name__ == "__main__":
    if sys.argv[1:] == ["vectors"]:
        json.dump(vectors(), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.exit(__doc__)
