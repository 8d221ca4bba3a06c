#!/usr/bin/env bash
# Run score_fleet.py on one log with spark-submit --master local[2] and check
# that it flags the same rows, with the same scores, as `zsift score` run once
# on the whole log. Exit status 0 when they agree, 1 when they do not.
#
#   examples/spark/run.sh [LOG] [MODEL]
#
# LOG    a Zeek conn log (default: demo/conn.log)
# MODEL  a model saved by `zsift fit --save`; without one, a rows-only model
#        without context features is fitted on LOG into a temporary folder
#
# Environment:
#   ZSIFT                the zsift binary (default: $CARGO_TARGET_DIR/release/zsift,
#                        target/release/zsift, ~/.cache/zsift/target/release/zsift)
#   ZSIFT_SPARK_VENV     the virtual environment with pyspark (made if missing;
#                        default ~/.cache/zsift/spark-venv)
#   ZSIFT_SPARK_ARGS     more arguments for score_fleet.py (`--mode pipe`,
#                        `--partitions 8`, `--by-source`)
#   ZSIFT_SPARK_MASTER   the master (default local[2])
#   ZSIFT_SPARK_MEMORY   the driver's memory (default 4g)
#   ZSIFT_SPARK_KEEP     a folder to keep the outputs in (default: removed)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

log="${1:-$repo/demo/conn.log}"
model="${2:-}"

if [[ -n "${ZSIFT:-}" ]]; then
    zsift="$ZSIFT"
else
    zsift=""
    for c in ${CARGO_TARGET_DIR:+"$CARGO_TARGET_DIR/release/zsift"} \
        "$repo/target/release/zsift" "$HOME/.cache/zsift/target/release/zsift"; do
        if [[ -x "$c" ]]; then zsift="$c"; break; fi
    done
    if [[ -z "$zsift" ]]; then
        echo "run.sh: no zsift binary: build it with cargo build --release or set ZSIFT" >&2
        exit 2
    fi
fi
[[ -x "$zsift" ]] || { echo "run.sh: $zsift is not an executable" >&2; exit 2; }
[[ -r "$log" ]] || { echo "run.sh: $log: cannot read" >&2; exit 2; }
command -v java >/dev/null || { echo "run.sh: Spark needs Java (17 or 21) on PATH" >&2; exit 2; }

# pyspark 4.0 runs on Java 17 and 21; pyarrow and pandas for mapInArrow.
pins=(pyspark==4.0.1 pyarrow==20.0.0 pandas==2.2.3)
venv="${ZSIFT_SPARK_VENV:-$HOME/.cache/zsift/spark-venv}"
# A venv made with these pins (and maybe more packages) is used as it is.
have=" $(cat "$venv/.pins" 2>/dev/null || true) "
missing=0
for p in "${pins[@]}"; do [[ "$have" == *" $p "* ]] || missing=1; done
if [[ $missing == 1 ]]; then
    echo "run.sh: making $venv (${pins[*]})" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
    echo "${pins[*]}" >"$venv/.pins"
fi
export PATH="$venv/bin:$PATH"
export PYSPARK_PYTHON="$venv/bin/python"
export PYSPARK_DRIVER_PYTHON="$venv/bin/python"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/zsift-spark.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
out="${ZSIFT_SPARK_KEEP:-$tmp/out}"

now() { date +%s.%N; }

if [[ -z "$model" ]]; then
    # Partition-independent: hosts' evidence left out, no context feature
    # (the default features less dport.odd).
    model="$tmp/model.zsm"
    "$zsift" fit "$log" --save "$model" --rows-only \
        --features duration,orig_bytes,resp_bytes,orig_pkts,resp_pkts,orig_ip_bytes,resp_ip_bytes,proto:cat,service:cat,conn_state:cat,history:cat,id.resp_p:cat \
        >&2
fi

# shellcheck disable=SC2206
extra=(${ZSIFT_SPARK_ARGS:-})
t0="$(now)"
if ! spark-submit \
    --master "${ZSIFT_SPARK_MASTER:-local[2]}" \
    --driver-memory "${ZSIFT_SPARK_MEMORY:-4g}" \
    --conf spark.ui.enabled=false \
    --conf spark.sql.shuffle.partitions=8 \
    "$here/score_fleet.py" --model "$model" --zsift "$zsift" --out "$out" "${extra[@]}" "$log" \
    >"$tmp/report.json" 2>"$tmp/spark.log"; then
    tail -n 40 "$tmp/spark.log" >&2
    echo "run.sh: the Spark job failed" >&2
    exit 1
fi
t1="$(now)"
"$zsift" score --model "$model" --format jsonl "$log" >"$tmp/zsift.jsonl"
t2="$(now)"

report="$(tail -n 1 "$tmp/report.json")"
echo "spark job: $report"
python - "$report" "$t0" "$t1" "$t2" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
t0, t1, t2 = map(float, sys.argv[2:5])
rows = r["rows"]
print(f"spark-submit: {rows} rows in {t1 - t0:.2f} s, {rows / (t1 - t0):,.0f} rows/s "
      f"(the job itself, without the JVM's start: {r['seconds']:.2f} s, {r['rows_per_s']:,.0f} rows/s)")
print(f"zsift score alone (one process, printing the flagged rows): {rows} rows in {t2 - t1:.2f} s, {rows / (t2 - t1):,.0f} rows/s")
EOF
python "$here/compare.py" "$out/flagged" "$tmp/zsift.jsonl"
