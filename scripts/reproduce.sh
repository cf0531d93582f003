#!/usr/bin/env bash
# The main job: set up (or reuse) the environment, then run every notebook through papermill.
#   bash scripts/reproduce.sh                 # the cpu preset (the committed results; <= 60 min on 2 cores)
#   bash scripts/reproduce.sh --preset smoke  # the whole pipeline at CI scale
# Extra arguments go to `aligncap reproduce` (e.g. --only 00 01).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec aligncap reproduce "$@"
