#!/usr/bin/env bash
# Side-by-side Dice speed: anonlink (the reference PPRL matcher, its C++
# popcount kernel on one core) and veilink's `dice_many` (criterion,
# `cargo bench --bench dice`), on this machine, one after the other.
#
#   bash benches/anonlink/run.sh
#
# Creates a Python virtualenv in a temporary directory (removed at exit) and
# installs anonlink from PyPI.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check anonlink
"$work/venv/bin/python" "$here/anonlink_time.py" 1000 10000 5

(cd "$root" && cargo bench --locked --bench dice -- --noplot one_against_many) >"$work/bench.log" 2>&1 \
    || { cat "$work/bench.log"; exit 1; }
for n in 1000 10000; do
    python3 -c 'import json,sys; ns=json.load(open(sys.argv[1]))["mean"]["point_estimate"]; print(f"veilink dice_many, 1 core, one against {sys.argv[2]}: {int(sys.argv[2]) / ns * 1e3:.1f} million comparisons/s")' \
        "$target/criterion/dice_1024_bits/one_against_many_$n/new/estimates.json" "$n"
done
