#!/usr/bin/env bash
# Per-server figures for the Bigtable paper's six benchmarks with repetitions (issue 8),
# each repetition on a fresh one-server cluster, reads before writes so that no benchmark
# reads a table the one before it is still compacting; then, with GATEWAY=1, the gateway's
# overhead as direct/gateway pairs run back to back. BENCHMARKS.md runs 6, 7 and 8 came from
#
#   scripts/cluster-figures.sh                 # REPS=3, DURATION=8, GATEWAY=1
#
# Environment (defaults): REPS (3), DURATION (8: seconds per timed benchmark), RECORDS
# (50000), SEQ_RECORDS (800000: rows of the 100-rows-per-request sequential write),
# SEQ1_RECORDS (200000: rows of the single-row one), THREADS (32), CACHE_MB (32), GATEWAY
# (1), GATEWAY_THREADS (1: the gateway's --worker-threads; it shares the machine), ROUNDS
# (3: gateway comparison rounds), OVERHEAD_SECS (5), OUT (results directory),
# WORK (parent of the temporary roots, /tmp), NO_BUILD=1 (use the binaries already built).
# Prints one line per run; summarise with the medians per benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DURATION=${DURATION:-8}
RECORDS=${RECORDS:-50000}
SEQ_RECORDS=${SEQ_RECORDS:-800000}
SEQ1_RECORDS=${SEQ1_RECORDS:-200000}
THREADS=${THREADS:-32}
CACHE_MB=${CACHE_MB:-32}
GATEWAY=${GATEWAY:-1}
GATEWAY_THREADS=${GATEWAY_THREADS:-1}
ROUNDS=${ROUNDS:-3}
OVERHEAD_SECS=${OVERHEAD_SECS:-5}
WORK=${WORK:-/tmp}
OUT=${OUT:-cluster-bench-results/figures-$(date +%Y%m%d-%H%M%S)}
BIN=${CARGO_TARGET_DIR:-target}/release

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -p benches --bin cluster_bench -p master --bin master --bin gateway -p tablet --bin tablet-server
fi
for b in master tablet-server cluster_bench gateway; do
    [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (build first)" >&2; exit 1; }
done
mkdir -p "$OUT"

PIDS=()
ROOT=""
stop_all() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    PIDS=()
    if [ -n "$ROOT" ]; then rm -rf "$ROOT"; ROOT=""; fi
}
trap stop_all EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port
    local i
    for ((i = 0; i < 300; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# Starts a master and one tablet server (and the gateway with "gateway") on a fresh root;
# sets MASTER (and GW).
start() { # name [gateway]
    ROOT=$(mktemp -d "$WORK/cluster-figures.XXXXXX")
    local mport
    mport=$(free_port)
    MASTER=127.0.0.1:$mport
    "$BIN/master" --root "$ROOT" --listen "$MASTER" 2>"$OUT/master-$1.log" &
    PIDS+=($!)
    wait_port "$mport"
    "$BIN/tablet-server" --root "$ROOT" --listen 127.0.0.1:0 --master "$MASTER" --cache-mb "$CACHE_MB" \
        >"$OUT/server-$1.addr" 2>"$OUT/server-$1.log" &
    PIDS+=($!)
    local t
    for ((t = 0; t < 300; t++)); do [ -s "$OUT/server-$1.addr" ] && break; sleep 0.1; done
    if [ "${2:-}" = gateway ]; then
        local gport
        gport=$(free_port)
        GW=127.0.0.1:$gport
        "$BIN/gateway" --master "$MASTER" --listen "$GW" --worker-threads "$GATEWAY_THREADS" >/dev/null 2>"$OUT/gateway-$1.log" &
        PIDS+=($!)
        wait_port "$gport"
    fi
    sleep 2
}

bench() { # cluster_bench arguments...; prints the result lines
    "$BIN/cluster_bench" --master "$MASTER" --servers 1 --threads "$THREADS" "$@" | grep -v '^#' || true
}

{
    echo "# $(date -Is) $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    for ((rep = 1; rep <= REPS; rep++)); do
        start "rep$rep"
        bench --records "$RECORDS" --operations 1000 --batch 100 \
            --benchmarks paper:sequential-write,paper:random-read-mem >/dev/null
        for batch in 1 100; do
            for name in random-read-mem random-read sequential-read scan; do
                if [ "$name" = scan ] && [ "$batch" = 100 ]; then continue; fi
                bench --records "$RECORDS" --existing --duration "$DURATION" --batch "$batch" --benchmarks "paper:$name"
            done
        done
        for batch in 1 100; do
            bench --records "$RECORDS" --existing --duration "$DURATION" --batch "$batch" --benchmarks paper:random-write
        done
        stop_all
        start "seq$rep"
        bench --records "$SEQ_RECORDS" --batch 100 --benchmarks paper:sequential-write
        stop_all
        start "seq1-$rep"
        bench --records "$SEQ1_RECORDS" --benchmarks paper:sequential-write
        stop_all
    done
    if [ "$GATEWAY" = 1 ]; then
        start overhead gateway
        bench --records "$RECORDS" --operations 1000 --batch 100 \
            --benchmarks paper:sequential-write,ycsb:c >/dev/null
        for ((round = 1; round <= ROUNDS; round++)); do
            for spec in "paper:random-read 1" "paper:scan 1" "ycsb:c 1" "paper:random-read 100" \
                "paper:random-write 1" "ycsb:a 1" "paper:random-write 100"; do
                set -- $spec
                common=(--records "$RECORDS" --existing --duration "$OVERHEAD_SECS" --batch "$2" --benchmarks "$1")
                d=$(bench "${common[@]}" | awk '{print $6}')
                g=$(bench "${common[@]}" --gateway "$GW" | awk '{print $6}')
                echo "overhead round $round $1 batch $2: direct $d gateway $g ops/s"
            done
        done
        stop_all
    fi
} | tee "$OUT/figures.txt"
echo "results in $OUT"
