#!/usr/bin/env python3
"""Times clkhash's CLK encoding (1024 bits, the 10 fields of clkhash_schema.json)
of a CSV written by make_records.py, with all cores and with one worker.

    python clkhash_time.py records.csv clkhash_schema.json
"""

import os
import sys
from timeit import default_timer as timer

from clkhash import schema as clk_schema
from clkhash.clk import generate_clk_from_csv


def main():
    records, schema_path = sys.argv[1], sys.argv[2]
    schema = clk_schema.from_json_file(open(schema_path))
    with open(records, encoding="utf-8") as f:
        count = sum(1 for _ in f) - 1
    for workers, label in [(None, f"all {os.cpu_count()} cores"), (1, "1 worker")]:
        with open(records, encoding="utf-8", newline="") as f:
            start = timer()
            clks = generate_clk_from_csv(f, "benchmark secret", schema, progress_bar=False,
                                         max_workers=workers)
            elapsed = timer() - start
        assert len(clks) == count
        print(f"clkhash ({label}): {count} records in {elapsed:.2f} s = {count / elapsed:,.0f} records/s")


if __name__ == "__main__":
    main()
