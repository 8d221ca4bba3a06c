#!/usr/bin/env bash
# The checks that need Python: zsift's exports open in pandas and polars without
# options (check_exports.py), and the Spark job (examples/spark) flags on the demo log
# exactly the rows `zsift score --model` flags. Makes one virtual environment for both,
# beside the build (pinned versions, made again when the pins change).
#   tests/python/run.sh ZSIFT_BINARY
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
zsift="$1"

pins=(pyspark==4.0.1 pyarrow==20.0.0 pandas==2.2.3 polars==1.31.0)
venv="${ZSIFT_SPARK_VENV:-${CARGO_TARGET_DIR:-$HOME/.cache/zsift/target}/py-venv}"
if [[ "$(cat "$venv/.pins" 2>/dev/null)" != "${pins[*]}" ]]; then
    echo "tests/python: making $venv (${pins[*]})" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
    echo "${pins[*]}" >"$venv/.pins"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log="$repo/tests/data/stratosphere/008-mixed.conn.log.labeled"
"$zsift" export --no-umap --format csv --out "$tmp/csv" "$log" >/dev/null
"$zsift" export --no-umap --format parquet --out "$tmp/parquet" "$log" >/dev/null
"$venv/bin/python" "$here/check_exports.py" "$tmp/csv" "$tmp/parquet"

# This venv has run.sh's pins (and polars).
ZSIFT="$zsift" ZSIFT_SPARK_VENV="$venv" "$repo/examples/spark/run.sh"
