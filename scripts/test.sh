#!/usr/bin/env bash
# The tests: set up (or reuse) the environment, lint, type-check and check the subpackages' layer order, run the
# unit tests, then execute every notebook once under nbval at the smoke preset. Extra arguments go to pytest.
#   bash scripts/test.sh           # everything: what CI runs
#   bash scripts/test.sh --fast    # the unit tests without notebooks and without tests marked slow
set -euo pipefail
fast=0
if [ "${1:-}" = "--fast" ]; then fast=1; shift; fi
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
echo "[test] import layers (.importlinter)"
lint-imports --no-cache
# Exit status 5 (no tests collected) is a failure like any other non-zero status.
if [ "$fast" = 1 ]; then
  echo "[test] pytest (unit tests not marked slow; no notebooks)"
  python -m pytest tests -m "not slow" -p no:cacheprovider "$@"
else
  echo "[test] pytest (unit tests, then notebooks under nbval at the smoke preset)"
  python -m pytest tests notebooks --nbval-lax --nbval-kernel-name aligncap -p no:cacheprovider "$@"
fi
