#!/usr/bin/env bash
# Crash test (in the style of RocksDB's db_crashtest.py): N cycles of
#   start the stress writer -> sleep a random 0.2-2 s -> SIGKILL it -> verify the reopened db.
#
# usage: scripts/crash-test.sh N [--sync] [--threads T] [--keys K] [--dir DIR]
#                                [--min-ms MS] [--max-ms MS] [--debug]
#
#   --sync        every write uses WriteOptions { sync: true } (default: sync false; a process
#                 crash must lose nothing acknowledged either way)
#   --dir DIR     where the db and expected state live (default: a fresh temp dir)
#   --min-ms/--max-ms   the random run time before the kill (default 200..2000)
#   --debug       use a debug build (default: release)
# STRESS_BIN=path skips the build and uses that binary.
#
# The same database is reused across all cycles, so every cycle also recovers a database
# that was itself recovered. Prints "P passed, F failed" last; on a failure it stops, keeps
# the directory and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

cycles=${1:-}
if ! [[ "$cycles" =~ ^[0-9]+$ ]]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
shift
sync_flag=() threads=4 keys=2000 dir="" min_ms=200 max_ms=2000 profile=release
while [ $# -gt 0 ]; do
    case "$1" in
        --sync) sync_flag=(--sync) ;;
        --threads) threads=$2; shift ;;
        --keys) keys=$2; shift ;;
        --dir) dir=$2; shift ;;
        --min-ms) min_ms=$2; shift ;;
        --max-ms) max_ms=$2; shift ;;
        --debug) profile=debug ;;
        *) echo "crash-test: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

if [ -n "${STRESS_BIN:-}" ]; then
    bin=$STRESS_BIN
else
    target=${CARGO_TARGET_DIR:-target}
    if [ "$profile" = release ]; then
        cargo build --release -q -p stress
    else
        cargo build -q -p stress
    fi
    bin=$target/$profile/stress
fi

[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/crash-test.XXXXXX")
mkdir -p "$dir"
db=$dir/db state=$dir/state log=$dir/stress.log
common=(--db "$db" --state "$state" --threads "$threads" --keys "$keys")
echo "crash-test: $cycles cycles, ${sync_flag[*]:-sync=false}, $threads threads x $keys keys, in $dir"

pid=""
cleanup() { if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT INT TERM

passed=0 failed=0
for ((c = 1; c <= cycles; c++)); do
    seed=$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ))
    "$bin" "${common[@]}" "${sync_flag[@]}" --seed "$seed" --max-seconds 120 >>"$log" 2>&1 &
    pid=$!
    ms=$(( min_ms + RANDOM % (max_ms - min_ms + 1) ))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
        wait "$pid" 2>/dev/null || true
    elif ! wait "$pid"; then
        # The writer stopped by itself: its own read/scan checks or a write failed.
        echo "crash-test: cycle $c (seed $seed): the writer failed before the kill; see $log" >&2
        tail -n 5 "$log" >&2
        failed=$((failed + 1))
    fi
    pid=""
    if [ "$failed" -eq 0 ]; then
        if out=$("$bin" "${common[@]}" --verify 2>&1); then
            passed=$((passed + 1))
            if (( c % 50 == 0 )); then echo "crash-test: cycle $c: $out"; fi
        else
            echo "crash-test: cycle $c (seed $seed, killed after ${ms} ms): verification failed:" >&2
            echo "$out" >&2
            failed=$((failed + 1))
        fi
    fi
    if [ "$failed" -gt 0 ]; then
        echo "crash-test: kept $dir for inspection" >&2
        echo "$passed passed, $failed failed"
        exit 1
    fi
done
rm -rf "$dir"
echo "$passed passed, $failed failed"
