#!/usr/bin/env python3
"""Writes N deterministic Dutch-looking registrations as CSV for the side-by-side
benchmark (run.sh): the columns of the schema in benches/encode.rs, read by
both veilink (VEILINK_BENCH_CSV) and clkhash (clkhash_schema.json).

    python3 make_records.py N SEED > records.csv
"""

import csv
import random
import sys

GIVEN = ["Jan", "Pieter Jan", "Anna Maria", "Fatima", "Mohammed", "Sanne", "Daan", "Eva",
         "Lotte", "Johannes Cornelis", "Maria", "Sophie", "Noah", "Emma", "Ahmet", "J.P.",
         "Elif", "Kevin", "Zoë", "Renée", "Łukasz", "Ayşe", "Willem-Jan", "Noor", "Bram"]
SURNAMES = [("de", "Vries"), ("van", "Dijk"), ("", "Jansen"), ("van den", "Berg"),
            ("", "Bakker"), ("", "Visser"), ("", "Smit"), ("", "Meijer"), ("de", "Boer"),
            ("", "Mulder"), ("", "Yılmaz"), ("", "El Amrani"), ("van der", "Linden"),
            ("", "Hendriks"), ("", "Öztürk"), ("", "Jansen-de Vries"), ("in 't", "Veld"),
            ("", "Kovačević"), ("", "Müller"), ("", "Peters")]
PLACES = ["Amsterdam", "Rotterdam", "'s-Gravenhage", "Utrecht", "Eindhoven", "Tilburg",
          "Groningen", "Almere", "Breda", "Nijmegen", "Lagos", "Sofia", "Boekarest"]
HEADER = ["id", "given_names", "prefix", "surname", "birth_surname", "dob", "sex", "bsn",
          "postcode", "house_number", "residence", "birthplace", "event_date"]


def bsn(rng):
    while True:
        digits = [rng.randrange(10) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1))) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def main():
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(HEADER)
    for i in range(n):
        prefix, surname = rng.choice(SURNAMES)
        birth = rng.choice(SURNAMES)[1] if rng.random() < 0.25 else ""
        dob = f"{rng.randrange(1940, 2012):04}-{rng.randrange(1, 13):02}-{rng.randrange(1, 29):02}"
        if rng.random() < 0.03:
            dob = dob[:8] + "00"
        out.writerow([
            f"R{i:07}", rng.choice(GIVEN), prefix, surname, birth, dob, rng.choice("MV"),
            bsn(rng) if rng.random() < 0.6 else "",
            f"{rng.randrange(1000, 10000)} {chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}",
            str(rng.randrange(1, 300)), rng.choice(PLACES), rng.choice(PLACES),
            f"2021-{rng.randrange(1, 13):02}-{rng.randrange(1, 29):02}",
        ])


if __name__ == "__main__":
    main()
