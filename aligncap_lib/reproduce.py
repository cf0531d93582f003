"""Batch reproduction: run the notebooks in order with papermill, in the project's named kernel.

``aligncap reproduce --preset cpu`` executes ``notebooks/NN_*.ipynb`` in order, each with ``-p preset P``,
writes executed copies to ``runs/<preset>/notebooks/``, prints one progress line per notebook with its wall
time, stops at the first failure naming the notebook, the cell and the executed copy, and writes
``results/<preset>/timings.json`` (``{"<notebook>": seconds}``).

Each notebook runs in its own ``papermill`` process with a wall-clock limit, so a hung kernel cannot hang the
reproduction, and in the kernel named :data:`KERNEL` (registered inside the project's virtual environment by
``scripts/setup.sh``) so papermill never picks up another Python.

``--commit-outputs`` (cpu preset only) writes the executed notebooks back to ``notebooks/`` after cleaning them
(see :func:`clean_notebook`): that is how the committed outputs are made. They are the outputs of the run whose
numbers are in ``results/cpu/``; each notebook records the preset and the commit in ``metadata.aligncap``
(``tests/test_notebook_results.py`` checks the numbers against the results files). CI executes every notebook at
``smoke`` under nbval in lax mode: only cells marked ``# NBVAL_CHECK_OUTPUT`` (outputs that do not depend on the
preset) are compared with the committed outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aligncap_lib.core.presets import PRESET_ENV, resolve_preset
from aligncap_lib.core.reproducibility import ROOT_ENV, git_commit, repo_root, write_json
from aligncap_lib.core.run_layout import RunLayout

KERNEL = "aligncap"

#: The notebooks in pipeline order. A notebook that does not exist yet is
#: reported as such and skipped; the contract test checks that no other notebook exists.
NOTEBOOKS: tuple[str, ...] = (
    "00_overview",
    "01_speech_corpus",
    "02_tokenization",
    "03_clue_parsing",
    "04_evaluation",
    "05_kd_training",
    "06_dpo_training",
    "07_ablations",
    "08_figures",
    "09_caption_your_audio",
)

#: Notebook -> the paper artifact it reproduces (the README's table).
PAPER_ARTIFACTS: dict[str, str] = {
    "00_overview": "the method overview figure; presets, budgets, run layout",
    "01_speech_corpus": "data (our measured synthetic stand-in for the paper's EMOSEC / NNIME / MER23SEC)",
    "02_tokenization": "method stage 1: speech tokens from the residual vector quantizer",
    "03_clue_parsing": "method stage 2: emotion grammar parser, emotional clues, acoustic prompt",
    "04_evaluation": "evaluation protocol: BLEU@4, METEOR, ROUGE-L, CIDEr (SPICE), hallucination",
    "05_kd_training": "KD-Regularization: speech vs text distributions, zero-shot results",
    "06_dpo_training": "PO-Regularization: preference pairs, DPO, hallucination before/after",
    "07_ablations": "ablation table: w/o KD, w/o PO, w/o clues; the claims and their verdicts",
    "08_figures": "every figure and the results table",
    "09_caption_your_audio": "inference on your own audio (beyond the paper)",
}

#: The preset whose outputs the committed notebooks hold.
COMMITTED_PRESET = "cpu"

#: Wall-clock limit per notebook in seconds, per preset: a guard against a hung kernel, not a budget (our choice:
#: well above the longest notebook; 07 took 1,916 s in the 77-minute cpu run and was killed at the former 1,800).
TIMEOUTS: dict[str, int] = {"smoke": 600, "cpu": 3600, "paper": 6 * 3600}


class NotebookFailed(RuntimeError):
    """A notebook failed; the message names the notebook, the cell and the executed copy."""


@dataclass(frozen=True)
class NotebookRun:
    name: str
    seconds: float
    output: Path


def notebooks_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "notebooks"


def select(only: Sequence[str] | None = None, directory: Path | None = None) -> list[Path]:
    """The notebooks to run, in order. ``only`` holds prefixes such as ``"01"`` or full names."""
    directory = directory or notebooks_dir()
    present = sorted(directory.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return present
    chosen = [p for p in present if any(p.stem == o or p.stem.startswith(f"{o}_") for o in only)]
    missing = [o for o in only if not any(p.stem == o or p.stem.startswith(f"{o}_") for p in present)]
    if missing:
        raise ValueError(f"no notebook matches {missing} in {directory}")
    return chosen


def first_error(executed: Path) -> str:
    """'cell N (Ename: evalue)' for the first failed cell of an executed notebook, or a fallback."""
    try:
        nb = json.loads(executed.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "no executed copy was written"
    code_index = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue  # numbered as in the committed notebook, which has no injected cell
        code_index += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"code cell {code_index} ({out.get('ename')}: {str(out.get('evalue'))[:300]})"
    return "no cell holds an error (killed or timed out)"


def run_notebook(
    source: Path, output: Path, preset: str, *, timeout: int, kernel: str = KERNEL, root: Path | None = None
) -> NotebookRun:
    """Execute one notebook with papermill in a subprocess; raises :class:`NotebookFailed`."""
    root = root or repo_root()
    output.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **{PRESET_ENV: preset, ROOT_ENV: str(root), "PYTHONHASHSEED": "0"})
    cmd = [
        sys.executable,
        "-m",
        "papermill",
        str(source),
        str(output),
        "-k",
        kernel,
        "-p",
        "preset",
        preset,
        "--cwd",
        str(source.parent),
        "--no-progress-bar",
    ]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NotebookFailed(
            f"{source.stem}: exceeded its {timeout} s limit at {first_error(output)}; executed copy: {output}"
        ) from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        where = first_error(output)
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise NotebookFailed(f"{source.stem}: failed at {where}; executed copy: {output}\n{tail}")
    return NotebookRun(source.stem, seconds, output)


def clean_notebook(executed: Path, target: Path, provenance: dict[str, Any] | None = None) -> int:
    """Write ``executed`` to ``target`` without papermill's injected cell and metadata, stderr streams or
    execution timings, with ``provenance`` (``{"preset", "commit"}``) as ``metadata.aligncap``; returns the
    number of stderr outputs removed."""
    nb: dict[str, Any] = json.loads(executed.read_text(encoding="utf-8"))
    removed = 0
    cells = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {})
        if "injected-parameters" in meta.get("tags", []):
            continue
        meta.pop("papermill", None)
        meta.pop("execution", None)
        if cell["cell_type"] == "code":
            kept = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    removed += 1
                    continue
                kept.append(out)
            cell["outputs"] = kept
        cells.append(cell)
    count = 0
    for cell in cells:
        if cell["cell_type"] == "code":
            count += 1
            cell["execution_count"] = count
            for out in cell["outputs"]:
                if "execution_count" in out:
                    out["execution_count"] = count
    nb["cells"] = cells
    nb["metadata"].pop("papermill", None)
    if provenance is not None:
        nb["metadata"]["aligncap"] = dict(provenance)
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return removed


def reproduce(
    preset: str | None = None,
    only: Sequence[str] | None = None,
    *,
    commit_outputs: bool = False,
    timeout: int | None = None,
    kernel: str = KERNEL,
    directory: Path | None = None,
    extras: bool = False,
) -> dict[str, float]:
    """Run the selected notebooks in order; returns and writes ``{notebook: seconds}``. ``extras``: then the
    extras (:mod:`aligncap_lib.analysis.extras`, outside the timed budget: their seconds go to ``extras.json``)
    and their figures."""
    name = resolve_preset(preset)
    if commit_outputs and name != COMMITTED_PRESET:
        raise ValueError(
            f"--commit-outputs writes the committed notebooks, which hold the {COMMITTED_PRESET} run's outputs "
            f"(the numbers of results/{COMMITTED_PRESET}/); got preset {name!r}"
        )
    layout = RunLayout.for_preset(name)
    provenance = (
        {"preset": name, "commit": (git_commit() or "unknown").removesuffix("-dirty")}
        if commit_outputs
        else None
    )
    chosen = select(only, directory)
    missing = [n for n in NOTEBOOKS if not only and not (notebooks_dir() / f"{n}.ipynb").exists()]
    if missing and directory is None:
        print(f"not yet in this version (skipped): {', '.join(missing)}")
    limit = timeout or TIMEOUTS[name]
    timings_path = layout.results / "timings.json"
    timings: dict[str, float] = {}
    if only and timings_path.exists():
        timings = json.loads(timings_path.read_text(encoding="utf-8"))
    total = 0.0
    for i, source in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {source.stem} ...", end="", flush=True)
        run = run_notebook(source, layout.notebooks / source.name, name, timeout=limit, kernel=kernel)
        timings[run.name] = round(run.seconds, 1)
        total += run.seconds
        print(f" {run.seconds:.1f} s", flush=True)
        if commit_outputs:
            removed = clean_notebook(run.output, source, provenance)
            if removed:
                print(
                    f"    removed {removed} stderr output(s) from {source.name}: silence them at the source"
                )
    write_json(timings_path, dict(sorted(timings.items())), digits=1)
    print(f"done: {len(chosen)} notebook(s) in {total:.1f} s; timings in {timings_path}")
    if extras:
        run_extras_step(layout)
    return timings


def run_extras_step(layout: RunLayout) -> Path:
    """The extras of the reproduction in this process (threads set on purpose), then their figures."""
    from aligncap_lib.analysis.extras import ExtrasConfig, write_extras
    from aligncap_lib.core.reproducibility import configure_threads
    from aligncap_lib.figures.paper_figures import EXTRAS_FIGURES, render_all

    configure_threads()
    start = time.perf_counter()
    print("extras ...", end="", flush=True)
    path = write_extras(layout, ExtrasConfig.for_preset(layout.preset))
    print(f" {time.perf_counter() - start:.1f} s; {path}", flush=True)
    render_all(layout.results, layout, only=EXTRAS_FIGURES)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", default=None, help="smoke | cpu | paper (default: $ALIGNCAP_PRESET, else cpu)"
    )
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks (e.g. 00 03)")
    parser.add_argument("--timeout", type=int, default=None, help="wall-clock limit per notebook in seconds")
    parser.add_argument("--kernel", default=KERNEL, help=f"Jupyter kernel name (default: {KERNEL})")
    parser.add_argument(
        "--commit-outputs",
        action="store_true",
        help="write the cleaned executed notebooks back to notebooks/ (cpu preset only: the committed outputs)",
    )
    parser.add_argument(
        "--extras",
        action="store_true",
        help="then run the extras (KD-weight and data-size sweeps, oracle-truth judge, preference-set size; "
        "about 30 min at cpu, outside the 60-minute budget) and draw their figures",
    )


def run(args: argparse.Namespace) -> int:
    try:
        reproduce(
            args.preset,
            args.only,
            commit_outputs=args.commit_outputs,
            timeout=args.timeout,
            kernel=args.kernel,
            extras=args.extras,
        )
    except (NotebookFailed, ValueError) as exc:
        print(f"\nFAILED {exc}", file=sys.stderr)
        return 1
    return 0
