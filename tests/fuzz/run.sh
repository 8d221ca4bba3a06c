#!/usr/bin/env bash
# Fuzzes zsift's readers: builds the seed corpus from the real logs and the malformed
# cases, runs every target in turn on one core, and reports executions and findings.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]     (default 600)
#
# Environment: ZSIFT_FUZZ_TARGETS (default "tsv json detect gzip header"), ZSIFT_DATA (the
# real logs to seed from, default tests/data), CARGO_TARGET_DIR (default
# tests/fuzz/target, git-ignored). Corpora, seeds, crash inputs and logs are kept under
# $CARGO_TARGET_DIR/zsift-fuzz. Exits 1 when any target found a crash, timeout or OOM.
set -euo pipefail

secs=${1:-600}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
targets=${ZSIFT_FUZZ_TARGETS:-tsv json detect gzip header}
data=${ZSIFT_DATA:-$root/tests/data}
target_dir=${CARGO_TARGET_DIR:-$here/target}
work=$target_dir/zsift-fuzz

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed; install it with:" >&2
    echo "    cargo install cargo-fuzz --locked" >&2
    exit 2
fi

# cargo fuzz passes nightly-only flags (-Zsanitizer, sanitizer coverage); on a stable
# toolchain RUSTC_BOOTSTRAP lets rustc accept them. Address sanitizer, debug assertions.
export RUSTC_BOOTSTRAP=1
fuzz=(--fuzz-dir "$here" --target-dir "$target_dir" --sanitizer address --codegen-units 16)
# One core: the loader's parallel parsing runs on one thread.
export RAYON_NUM_THREADS=1 POLARS_MAX_THREADS=1

# Seeds: the first 64 KB of every real log (gzipped ones decompressed, and as they are
# for the gzip target), plus the malformed cases the loader documents.
seeds=$work/seeds
rm -rf "$seeds"
mkdir -p "$seeds/text" "$seeds/gz" "$seeds/gzip"
n=0
if [ -d "$data" ]; then
    while IFS= read -r -d '' f; do
        n=$((n + 1))
        base=$n-$(basename "$f")
        if [ "$(head -c 2 "$f" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
            head -c 65536 "$f" >"$seeds/gz/$base"
            (gzip -dc "$f" 2>/dev/null || true) | head -c 65536 >"$seeds/text/$base"
        else
            head -c 65536 "$f" >"$seeds/text/$base"
        fi
    done < <(find "$data" -type f ! -name '*.md' -print0 | sort -z)
else
    echo "note: no logs at $data; seeding from the malformed cases only" >&2
fi
hdr='#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\tset[string]\n'
row='1600000000.000001\tC1\t10.0.0.1\t5000\t10.0.0.2\t80\ttcp\t1.5\t10\t(empty)\n'
m() { printf "$2" >"$seeds/text/malformed-$1"; }
m good "$hdr$row$row"
m truncated "${hdr}1600000000.5\tCx\t10.0.0.1\n$row"
m extra-field "$hdr${row%\\n}\textra\n"
m bad-number "${hdr}1600000000.1\tC1\t10.0.0.1\t5000\t10.0.0.2\t80\ttcp\tlots\t-2\t(empty)\n"
m bad-time "${hdr}soon\tC1\t10.0.0.1\t5000\t10.0.0.2\t80\ttcp\t1\t1\t-\n1e300\tC1\t-\t-\t-\t-\t-\t-\t-\t-\n"
m binary '\x7fELF\x00\x00\x01\x02\x03\xff\xfe'
m empty ''
m whitespace '\n\n  \n'
m header-only "$hdr"
m comments-only '#hello\n#world\n'
m csv 'ts,uid,orig\n1,2,3\n'
m data-before-fields '#separator \\x09\n1\t2\t3\n'
printf "$hdr$row$row" | sed 's/$/\r/' >"$seeds/text/malformed-crlf"
m bom-json '\xef\xbb\xbf{"ts":1.5,"uid":"a"}\n'
m bom-tsv "\xef\xbb\xbf$hdr$row"
m separators '#separator \\x7c\n#set_separator|;\n#empty_field|EMPTY\n#unset_field|NULL\n#fields|uid|note|tags|n\n#types|string|string|set[string]|count\nC1|a\\x7cb\\x1b[31m|x;y|NULL\nC2|EMPTY|EMPTY|7\n'
m concatenated '#separator \\x09\n#fields\tts\tuid\tx\n#types\ttime\tstring\tcount\n1.0\tA\t1\n#separator \\x09\n#fields\tts\tuid\ty\n#types\ttime\tstring\tstring\n2.0\tB\tq\n'
m iot23 '#separator \\x09\n#fields\tts\tsourceAddress\tprotocol\ttunnel_parents   label   detailed-label\n#types\ttime\taddr\tenum\tset[string]   string   string\n1.0\t10.0.0.1\ttcp\t-   Malicious   PartOfAHorizontalPortScan\n2.0\t10.0.0.2\ttcp\t(empty)   Benign   -\n'
m json-invalid '{"ts":1.5,"uid":"a"}\n{"ts":\n{"ts":2.5,"uid":"b"}\n'
m json-not-object '{"ts":1.5}\n[1,2]\n'
m json-bad-ts '{"ts":"soon"}\n{"ts":3}\n'
m json-nested '{"_path":"conn","_write_ts":"2020-01-01T00:00:00Z","ts":"2020-01-01T00:00:00.5Z","id":{"orig_h":"::1","orig_p":1},"duration":0.0000015,"TTLs":[1.5,2],"n":18446744073709551615,"x":[]}\n{"ts":1,"id.orig_h":7,"n":-1,"x":["a",1]}\n'
for f in "$seeds"/text/*; do gzip -c "$f" >"$seeds/gz/$(basename "$f").gz"; done
# The gzip target's first byte picks its mode: even, the rest is a gzip stream; odd, the
# rest is text it compresses itself.
for f in "$seeds"/gz/*; do { printf '\x00'; cat "$f"; } >"$seeds/gzip/$(basename "$f")"; done
for f in "$seeds"/text/*; do { printf '\x53'; cat "$f"; } >"$seeds/gzip/$(basename "$f")"; done

echo "building fuzz targets (address sanitizer, debug assertions) in $target_dir"
cargo fuzz build "${fuzz[@]}"

declare -A dirs=([tsv]=text [json]=text [detect]="text gz" [gzip]=gzip [header]=text)
failed=0
summary=()
for t in $targets; do
    corpus=$work/corpus/$t
    artifacts=$work/artifacts/$t
    log=$work/logs/$t.log
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    find "$artifacts" -type f | sort >"$work/before"
    inputs=()
    for d in ${dirs[$t]}; do inputs+=("$seeds/$d"); done
    echo "== $t: ${secs}s, corpus $corpus, log $log"
    rc=0
    cargo fuzz run "${fuzz[@]}" "$t" "$corpus" "${inputs[@]}" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -max_len=70000 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    find "$artifacts" -type f | sort | comm -13 "$work/before" - >"$work/new"
    found=$(wc -l <"$work/new")
    if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
        failed=1
        grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY)' "$log" | head -5 || true
        sed 's/^/   saved: /' "$work/new"
    fi
    summary+=("$(printf '%-7s executions %10s   new findings %3s   exit %s' "$t" "${execs:-?}" "$found" "$rc")")
done
echo
echo "fuzzing summary (${secs}s per target; findings in $work/artifacts):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
