#!/usr/bin/env bash
# The tests: set up (or reuse) the environment, lint and type-check, run the unit tests, then execute every
# notebook once under nbval at the smoke preset. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
export ALIGNCAP_PRESET=smoke
# One command per line: under `set -e` a failure inside an `a && b` list would not stop the script.
echo "[test] ruff"
ruff check .
ruff format --check aligncap_lib tests benchmarks
echo "[test] mypy"
mypy
echo "[test] pytest (unit tests, then notebooks under nbval at the smoke preset)"
# Exit status 5 (no tests collected) is a failure like any other non-zero status.
python -m pytest tests notebooks --nbval-lax --nbval-kernel-name aligncap -p no:cacheprovider "$@"
