#!/usr/bin/env bash
# Side-by-side encoding speed: clkhash (the Python reference CLK encoder,
# 1024-bit CLKs over 10 fields) and veilink (tokens only and tokens + Bloom on
# one core; all cores in memory; the whole `veilink encode` on all cores), on the same generated
# registrations, on this machine, one after the other.
#
#   benches/clkhash/run.sh [RECORDS]          (default 20000)
#
# Creates a Python virtualenv in a temporary directory (removed at exit),
# installs clkhash from PyPI, writes the records with make_records.py, times
# clkhash with clkhash_time.py, then runs `cargo bench --bench encode` on the
# same CSV (VEILINK_BENCH_CSV) and reads criterion's mean from
# target/criterion. Set VEILINK_MANIFEST to bench another checkout's Cargo.toml.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
manifest=${VEILINK_MANIFEST:-$root/Cargo.toml}
target=${CARGO_TARGET_DIR:-$(dirname "$manifest")/target}
records=${1:-20000}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check clkhash
python3 "$here/make_records.py" "$records" 42 > "$work/records.csv"

clkhash_out=$("$work/venv/bin/python" "$here/clkhash_time.py" "$work/records.csv" "$here/clkhash_schema.json")
echo "$clkhash_out"

VEILINK_BENCH_CSV="$work/records.csv" cargo bench --manifest-path "$manifest" --bench encode -- \
    --noplot encode_file_csv >"$work/bench.log" 2>&1 || { cat "$work/bench.log"; exit 1; }

rate() { # records/s from criterion's mean time per iteration (one pass over the file)
    python3 -c 'import json,sys; ns=json.load(open(sys.argv[1]))["mean"]["point_estimate"]; print(round(int(sys.argv[2])/(ns/1e9)))' \
        "$target/criterion/encode_file_csv/$1/new/estimates.json" "$records"
}
tokens=$(rate tokens_only)
bloom=$(rate tokens_and_bloom)
in_memory=$(rate all_cores_in_memory_tokens_and_bloom)
all_cores=$(rate encode_file_all_cores_tokens_and_bloom)
clk_all=$(echo "$clkhash_out" | sed -n 's/^clkhash (all.*= \([0-9,]*\) records\/s$/\1/p' | tr -d ,)
echo "veilink RecordReader, 1 core, tokens only:     $tokens records/s"
echo "veilink RecordReader, 1 core, tokens + Bloom:  $bloom records/s"
echo "veilink all cores in memory, tokens + Bloom:   $in_memory records/s"
echo "veilink encode_file, all cores, tokens + Bloom: $all_cores records/s"
python3 -c 'import sys; b, m, a, c = map(int, sys.argv[1:]); print(f"tokens + Bloom vs clkhash (all cores): {b / c:.1f}x on 1 core, {m / c:.1f}x on all cores in memory, {a / c:.1f}x with encode_file")' \
    "$bloom" "$in_memory" "$all_cores" "$clk_all"
