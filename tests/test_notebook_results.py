"""The committed notebooks show the numbers of ``results/cpu/``: every decimal number a notebook prints equals (at
the printed precision) a number of the results files its run wrote, and its outputs come from the commit those files
name. A notebook re-run at another preset, or results re-made without the notebooks (or the other way round), fails
here.

Cells whose printed numbers are computed on the spot and not kept in a results file (a hand-made example, one
clip's reconstruction) carry the cell tag ``not-in-results``; cells checked by nbval (``# NBVAL_CHECK_OUTPUT``) print
fixtures that are the same at every preset. Every other cell's numbers are checked.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aligncap_lib.core.reproducibility import repo_root

ROOT = repo_root()
RESULTS = ROOT / "results" / "cpu"
PATHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Results files the notebooks write (``extras.json`` is written by ``aligncap extras``, outside the notebooks).
WRITTEN_BY_NOTEBOOKS = (
    "overview",
    "corpus",
    "probe",
    "clues",
    "evaluation",
    "kd",
    "po",
    "summary",
    "ablations",
)
#: A decimal number with at least two decimals (fewer match too many values by chance to prove anything).
DECIMAL = re.compile(r"(?<![\w.])-?\d+\.(\d{2,})(?![\d])")
EXEMPT_TAG = "not-in-results"


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        yield float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            with contextlib.suppress(ValueError):
                yield float(k)
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


@pytest.fixture(scope="module")
def values() -> list[float]:
    found: list[float] = []
    for stem in (*WRITTEN_BY_NOTEBOOKS, "extras"):  # notebook 07 shows the extras' results too
        data = json.loads((RESULTS / f"{stem}.json").read_text(encoding="utf-8"))
        found += _numbers({k: v for k, v in data.items() if k != "environment"})
    return sorted(found)


def _near(values: list[float], x: float, tol: float) -> bool:
    i = bisect.bisect_left(values, x - tol)
    return i < len(values) and values[i] <= x + tol


def _printed(cell: dict[str, Any]) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", [])))
        parts.append("".join(out.get("data", {}).get("text/plain", [])))
    return "\n".join(parts)


def _checked_cells(nb: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if source.startswith("# NBVAL_CHECK_OUTPUT") or EXEMPT_TAG in cell["metadata"].get("tags", []):
            continue
        yield i, cell


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_printed_numbers_equal_the_results_files(path: Path, values: list[float]) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    missing = []
    n = 0
    for i, cell in _checked_cells(nb):
        for match in DECIMAL.finditer(_printed(cell)):
            n += 1
            x = float(match.group(0))
            tol = (
                0.5 * 10 ** -len(match.group(1)) + 1e-9
            )  # printed by rounding or by truncation to that precision
            if not _near(values, x, tol):
                missing.append(f"cell {i}: {match.group(0)}")
    assert not missing, (
        f"{path.name}: {len(missing)} of {n} printed numbers are in no results/cpu file: {missing[:12]}"
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_exempt_cells_say_why(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if EXEMPT_TAG in cell.get("metadata", {}).get("tags", []):
            first = "".join(cell["source"]).splitlines()[0]
            assert first.startswith("# Not in results/:"), (
                f"{path.name} cell {i}: a cell tagged {EXEMPT_TAG} starts with '# Not in results/: <why>'"
            )


def test_notebooks_and_results_come_from_the_same_commit() -> None:
    commits = {
        json.loads(p.read_text(encoding="utf-8"))["metadata"].get("aligncap", {}).get("commit") for p in PATHS
    }
    for stem in WRITTEN_BY_NOTEBOOKS:
        env = json.loads((RESULTS / f"{stem}.json").read_text(encoding="utf-8")).get("environment")
        if env is None:  # summary.json: written by write_json without an environment
            continue
        commit = str(env.get("git_commit")).removesuffix("-dirty")
        assert commits == {commit}, (
            f"{stem}.json was written at {commit}, the notebooks' outputs at {commits}"
        )


def test_the_match_is_at_the_printed_precision() -> None:
    """The check can fail: a value is found at its printed precision, a neighbour is not."""
    values = [0.1234, 0.5, 12.3456]
    assert _near(values, 0.123, 0.0005 + 1e-9) and _near(values, 12.35, 0.005 + 1e-9)
    assert not _near(values, 0.127, 0.0005 + 1e-9) and not _near(values, 0.51, 0.005 + 1e-9)
    assert [m.group(0) for m in DECIMAL.finditer("a 0.123 b 7.5 c -1.25e d v1.23 2.000")] == [
        "0.123",
        "-1.25",
        "2.000",
    ]
