"""Writes the truth of FEBRL files for `veilink evaluate`.

    python3 truth.py AGENCY=FILE.csv ... > truth.csv

FEBRL record ids are `rec-<entity>-org` and `rec-<entity>-dup-<n>`: the
entity is the number between the first two dashes.
"""
import csv
import sys

out = csv.writer(sys.stdout)
out.writerow(["agency", "record_id", "person_id"])
for arg in sys.argv[1:]:
    agency, path = arg.split("=", 1)
    with open(path, newline="") as f:
        rows = csv.reader(f, skipinitialspace=True)
        next(rows)
        for row in rows:
            record_id = row[0].strip()
            out.writerow([agency, record_id, record_id.split("-")[1]])
