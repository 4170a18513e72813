#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after another.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 120 seconds, all targets
#
# Needs cargo-fuzz (installed here if missing) and libFuzzer's nightly-only flags, which
# RUSTC_BOOTSTRAP=1 enables on a stable toolchain. Each target reads the committed seeds in
# fuzz/corpus/<target>/ and keeps what it discovers in fuzz/corpus-work/<target>/ (ignored by
# git). A crash leaves its input in fuzz/artifacts/<target>/; copy it to
# fuzz/regressions/<target>/ once fixed, so `cargo test` replays it from then on.
# Extra libFuzzer flags can be passed in FUZZ_ARGS (e.g. FUZZ_ARGS="-max_len=65536").
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-120}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(block sstable wal manifest write_batch engine_ops)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-work/$t" "fuzz/corpus/$t"
    echo "=== $t: ${seconds}s"
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    if ! cargo fuzz run "$t" "fuzz/corpus-work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 ${FUZZ_ARGS:-}; then
        echo "=== $t: FAILED (input in fuzz/artifacts/$t/)"
        status=1
    fi
done
exit $status
