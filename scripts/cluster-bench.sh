#!/usr/bin/env bash
# Cluster benchmarks with real processes (issue 8): for each server count in SERVERS, start
# `master` and that many `tablet-server` processes on a temporary data root, run the Bigtable
# paper's six benchmarks and YCSB A-F with `cluster_bench`, then stop them (SIGTERM) and
# remove the root. Per-server figures are the totals divided by the server count.
#
#   scripts/cluster-bench.sh                         # SERVERS="1 3", 100000 rows per server
#   SERVERS=1 RECORDS_PER_SERVER=20000 scripts/cluster-bench.sh
#   GATEWAY=1 scripts/cluster-bench.sh               # also through `gateway`, if it exists
#
# Environment (defaults): SERVERS ("1 3"), RECORDS_PER_SERVER (100000: 100 MB of 1000-byte
# values per server, about 3x the block cache), OPS_PER_SERVER (= RECORDS_PER_SERVER),
# THREADS (32), CACHE_MB (32, each tablet server's block cache; the in-memory table, a tenth
# of the rows, fits in it), BENCHMARKS ("paper,ycsb"), GATEWAY (0), OUT (results directory,
# default cluster-bench-results/<date>), WORK (parent of the temporary root, default /tmp),
# OVERHEAD_SECS (5: each benchmark's time in the direct-vs-gateway comparison),
# GATEWAY_THREADS (1: the gateway's --worker-threads; it shares the machine),
# EXTRA (more cluster_bench flags), NO_BUILD=1 (use the binaries already built).
set -euo pipefail
cd "$(dirname "$0")/.."

SERVERS=${SERVERS:-"1 3"}
RECORDS_PER_SERVER=${RECORDS_PER_SERVER:-100000}
OPS_PER_SERVER=${OPS_PER_SERVER:-$RECORDS_PER_SERVER}
THREADS=${THREADS:-32}
CACHE_MB=${CACHE_MB:-32}
BENCHMARKS=${BENCHMARKS:-paper,ycsb}
GATEWAY=${GATEWAY:-0}
GATEWAY_THREADS=${GATEWAY_THREADS:-1}
WORK=${WORK:-/tmp}
OUT=${OUT:-cluster-bench-results/$(date +%Y%m%d-%H%M%S)}
EXTRA=${EXTRA:-}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -p benches --bin cluster_bench -p master --bin master -p tablet --bin tablet-server
    if [ "$GATEWAY" = 1 ]; then
        cargo build --release -p master --bin gateway
    fi
fi
for b in master tablet-server cluster_bench; do
    [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (build first)" >&2; exit 1; }
done
if [ "$GATEWAY" = 1 ] && [ ! -x "$BIN/gateway" ]; then
    echo "GATEWAY=1 but $BIN/gateway does not exist" >&2
    exit 1
fi
mkdir -p "$OUT"

PIDS=()
ROOT=""
stop_all() {
    # SIGTERM to the processes this script started (graceful: tablets are flushed), then wait.
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null || true
    done
    PIDS=()
    if [ -n "$ROOT" ]; then
        rm -rf "$ROOT"
        ROOT=""
    fi
}
trap stop_all EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # host port seconds
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listens on $1:$2 after $3 s" >&2
    return 1
}

machine() {
    echo "# $(date -Is) $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

for n in $SERVERS; do
    ROOT=$(mktemp -d "$WORK/cluster-bench.XXXXXX")
    mport=$(free_port)
    maddr=127.0.0.1:$mport
    "$BIN/master" --root "$ROOT" --listen "$maddr" 2>"$OUT/master-$n.log" &
    PIDS+=($!)
    wait_port 127.0.0.1 "$mport" 30
    for ((i = 0; i < n; i++)); do
        "$BIN/tablet-server" --root "$ROOT" --listen 127.0.0.1:0 --master "$maddr" --cache-mb "$CACHE_MB" \
            >"$OUT/server-$n-$i.addr" 2>"$OUT/server-$n-$i.log" &
        PIDS+=($!)
    done
    # Each server prints its address once it serves; give the leases a moment after that,
    # so the pre-split tablets are spread over all of them.
    for ((i = 0; i < n; i++)); do
        for ((t = 0; t < 300; t++)); do
            [ -s "$OUT/server-$n-$i.addr" ] && break
            sleep 0.1
        done
    done
    sleep 2

    records=$((RECORDS_PER_SERVER * n))
    ops=$((OPS_PER_SERVER * n))
    common=(--servers "$n" --threads "$THREADS" --records "$records" --operations "$ops" $EXTRA)
    {
        machine
        echo "# $BIN/cluster_bench --master $maddr ${common[*]} --benchmarks $BENCHMARKS"
    } | tee "$OUT/direct-$n.txt"
    "$BIN/cluster_bench" --master "$maddr" "${common[@]}" --benchmarks "$BENCHMARKS" | tee -a "$OUT/direct-$n.txt"
    machine | tee -a "$OUT/direct-$n.txt"

    if [ "$GATEWAY" = 1 ]; then
        gport=$(free_port)
        "$BIN/gateway" --master "$maddr" --listen "127.0.0.1:$gport" --worker-threads "$GATEWAY_THREADS" >"$OUT/gateway-$n.addr" 2>"$OUT/gateway-$n.log" &
        PIDS+=($!)
        wait_port 127.0.0.1 "$gport" 30
        # The tables exist and are loaded: the same benchmarks on the same data, each for
        # OVERHEAD_SECS, through the direct client and then through the gateway, back to back.
        ovh=(--servers "$n" --threads "$THREADS" --records "$records" --duration "${OVERHEAD_SECS:-5}" --existing $EXTRA)
        list=paper:random-write,paper:random-read,paper:scan,ycsb:a,ycsb:c
        for via in direct gateway; do
            if [ $via = direct ]; then to=(--master "$maddr"); else to=(--gateway "127.0.0.1:$gport" --master "$maddr"); fi
            {
                machine
                echo "# $BIN/cluster_bench ${to[*]} ${ovh[*]} --benchmarks $list"
            } | tee "$OUT/overhead-$via-$n.txt"
            "$BIN/cluster_bench" "${to[@]}" "${ovh[@]}" --benchmarks "$list" | tee -a "$OUT/overhead-$via-$n.txt"
        done
    fi
    stop_all
done
echo "results in $OUT"
