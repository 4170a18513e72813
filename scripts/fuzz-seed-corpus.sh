#!/usr/bin/env bash
# Regenerates the committed seed corpus, fuzz/corpus/<target>/, from files a real database
# writes (tables, WALs, MANIFESTs, blocks cut from tables, write batches and version edits
# read from them) plus random inputs for engine_ops. The generator is an ignored test in
# engine/tests/fuzz_corpus.rs; the corpus stays a few dozen files and well under 1 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf fuzz/corpus
cargo test -p engine --test fuzz_corpus -- --ignored generate_seed_corpus --nocapture
du -sh fuzz/corpus
