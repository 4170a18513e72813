#!/usr/bin/env bash
# Creates (once) the Python virtual environment with the official Cloud Bigtable client that
# the end-to-end tests drive, and prints the path of its python interpreter.
#
#   scripts/python-venv.sh [DIR]     (default DIR: target/python-venv)
#
# The client version is pinned so test results do not change under us.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$here/target/python-venv}"
pin="google-cloud-bigtable==2.50.2"
stamp="$venv/.installed-$pin"
mkdir -p "$(dirname "$venv")"
# Tests running at the same time share one environment: one creates it, the others wait.
exec 9>"$venv.lock"
flock 9
if [[ ! -f "$stamp" ]]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
