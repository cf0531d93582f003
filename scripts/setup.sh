#!/usr/bin/env bash
# Set up (or reuse) everything the companion needs on a Debian/Ubuntu machine. Sourced by
# scripts/reproduce.sh and scripts/test.sh; safe to run again (a stamp skips the pip step when nothing changed).
#
#   1. system tools: espeak-ng + sox (corpus), Java >= 11 (METEOR); installed with apt-get when we are root or
#      have sudo, otherwise we stop and say exactly what to install;
#   2. a virtual environment in $ALIGNCAP_VENV (default: .venv in the repository);
#   3. torch==2.13.0 in the same pip command as everything else (installing anything that depends on torch first
#      pulls a multi-GB CUDA build), then the package with its pinned dependencies;
#   4. the torchaudio trap: encodec imports torchaudio, whose PyPI wheels are CUDA builds whose native library
#      fails to load next to the CPU torch. We install torchaudio without dependencies and without its native
#      libraries; the pure-Python parts encodec uses (resampling, spectrograms) then work. Audio I/O never uses
#      torchaudio (soundfile instead);
#   5. a Jupyter kernel named "aligncap" registered inside the venv, so papermill and nbval never run elsewhere.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ALIGNCAP_VENV:-$ROOT/.venv}"
PYTHON="${ALIGNCAP_PYTHON:-python3}"
TORCH_SPEC="${ALIGNCAP_TORCH:-torch==2.13.0}"   # GPU users: see docs/engineering.md ("Installing")
TORCHAUDIO_SPEC="torchaudio==2.11.0"

say() { printf '[setup] %s\n' "$*"; }

# ---- 1. system tools -------------------------------------------------------------------------------------
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing system tools: ${missing[*]}"
    say "install them (Debian/Ubuntu: sudo apt-get install -y ${missing[*]}; macOS: brew install espeak-ng sox openjdk) and run again"
    exit 1
  fi
  say "installing system tools: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# optional: a CJK font, so figures can draw Chinese captions (without it they show English rows only)
if command -v fc-list >/dev/null 2>&1 && ! fc-list :lang=zh | grep -q . && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" -eq 0 ]; then
  say "installing a CJK font for figures (fonts-wqy-microhei)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 \
    || say "could not install fonts-wqy-microhei: Chinese example captions will be left out of figures"
fi

# ---- 2. virtual environment ------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

# ---- 3. + 4. Python packages -----------------------------------------------------------------------------
stamp="$VENV/.aligncap-setup"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup.sh" | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Python packages (about 1-2 minutes with a warm pip cache)"
  python -m pip install -q --disable-pip-version-check "$TORCH_SPEC" -e "$ROOT[dev]"
  python -m pip install -q --disable-pip-version-check --no-deps "$TORCHAUDIO_SPEC"
  site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  rm -f "$site"/torchaudio/lib/*.so
  echo "$want" > "$stamp"
else
  say "Python packages up to date ($VENV)"
fi
python - <<'PY'
from encodec import EncodecModel  # fails here, not three stages later, if the torchaudio trap is back
PY

# ---- 5. the named kernel ---------------------------------------------------------------------------------
if [ ! -f "$VENV/share/jupyter/kernels/aligncap/kernel.json" ]; then
  python -m ipykernel install --sys-prefix --name aligncap --display-name "Python (aligncap)" >/dev/null
  say "registered Jupyter kernel 'aligncap' in $VENV"
fi

# Thread counts on purpose (2-core reference machine; oversubscription measured >100x slower).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${ALIGNCAP_THREADS:-$(nproc)}}"
export MKL_NUM_THREADS="$OMP_NUM_THREADS"
export TOKENIZERS_PARALLELISM=false
export PYTHONHASHSEED=0
export ALIGNCAP_ROOT="$ROOT"
say "ready: $(python -c 'import torch, sys; print(f"python {sys.version.split()[0]}, torch {torch.__version__}")'), kernel 'aligncap', $OMP_NUM_THREADS threads"
