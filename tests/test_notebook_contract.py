"""The notebook contract: every notebook reads like a section of the paper, is
parameterised by papermill, only calls the library, and is committed small, clean and deterministic."""

from __future__ import annotations

import ast
import base64
import io
import json
import re
import wave
from pathlib import Path

import pytest

from aligncap_lib.core.reproducibility import repo_root
from aligncap_lib.reproduce import NOTEBOOKS

NB_DIR = repo_root() / "notebooks"
PATHS = sorted(NB_DIR.glob("*.ipynb"))
MAX_BYTES = 2 * 1024 * 1024
HEADINGS = ("purpose", "reads", "writes", "paper artifact", "deviations from the paper")
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/work/|/home/|/root/|/tmp/|/Users/|/private/|[A-Z]:\\\\)")
AUDIO_URI = re.compile(r"data:audio/wav;base64,([A-Za-z0-9+/=]+)")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _outputs_text(cell: dict) -> str:
    return json.dumps(cell.get("outputs", []), ensure_ascii=False)


def test_there_are_notebooks():
    assert PATHS, f"no notebooks in {NB_DIR}"
    assert PATHS[0].stem == "00_overview"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_named_in_pipeline_order(path: Path):
    assert path.stem in NOTEBOOKS, f"{path.name} is not one of the pipeline's notebooks {NOTEBOOKS}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_first_cell_states_purpose_reads_writes_artifact_deviations(path: Path):
    first = _load(path)["cells"][0]
    assert first["cell_type"] == "markdown", "cell 0 must be markdown"
    text = _source(first).lower()
    missing = [h for h in HEADINGS if h not in text]
    assert not missing, f"{path.name}: cell 0 lacks {missing}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_second_cell_is_literal_parameters(path: Path):
    cell = _load(path)["cells"][1]
    assert cell["cell_type"] == "code" and "parameters" in cell["metadata"].get("tags", []), (
        f"{path.name}: cell 1 must be a code cell tagged 'parameters'"
    )
    source = _source(cell)
    tree = ast.parse(source)
    names = []
    for node in tree.body:
        assert (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ), f"{path.name}: parameters must be simple assignments, got {ast.dump(node)[:80]}"
        ast.literal_eval(node.value)  # raises on anything but a literal
        names.append(node.targets[0].id)
    assert names and names[0] == "preset", f"{path.name}: the first parameter must be 'preset'"
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            assert "#" in line, f"{path.name}: parameter line without a comment giving its source: {line!r}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_kernel_and_last_cell(path: Path):
    nb = _load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "aligncap"
    last = _code_cells(nb)[-1]
    assert _source(last).startswith("# NBVAL_CHECK_OUTPUT"), f"{path.name}: last code cell must be checked"
    assert last.get("outputs"), (
        f"{path.name}: committed notebooks hold the cpu run's outputs (run reproduce --preset cpu --commit-outputs)"
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_only_calls_the_library(path: Path):
    for i, cell in enumerate(_code_cells(_load(path))):
        src = _source(cell)
        assert "savefig(" not in src, (
            f"{path.name} code cell {i}: figures leave only through figures.save_fig"
        )
        tree = ast.parse(src)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.While)), (
                f"{path.name} code cell {i}: classes, functions and while-loops belong in aligncap_lib"
            )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path: Path):
    assert path.stat().st_size <= MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes (> 2 MB)"
    nb = _load(path)
    for i, cell in enumerate(_code_cells(nb)):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{path.name} code cell {i} holds an error"
            assert not (out.get("output_type") == "stream" and out.get("name") == "stderr"), (
                f"{path.name} code cell {i} holds stderr output"
            )
        text = _outputs_text(cell) + _source(cell)
        assert not ABSOLUTE_PATH.search(text), f"{path.name} code cell {i} holds an absolute path"
        assert "it/s]" not in text and "\\r" not in _outputs_text(cell), (
            f"{path.name} code cell {i}: progress bar"
        )
        for match in AUDIO_URI.finditer(_outputs_text(cell)):
            with wave.open(io.BytesIO(base64.b64decode(match.group(1)))) as w:
                rate, seconds = w.getframerate(), w.getnframes() / w.getframerate()
            assert rate <= 8000 and seconds <= 2.0, (
                f"{path.name} code cell {i}: audio {rate} Hz, {seconds:.2f} s"
            )
    assert "papermill" not in nb["metadata"], (
        f"{path.name}: papermill metadata left in (use --commit-outputs)"
    )


#: Wall-clock values and progress displays never belong in committed outputs (they differ on every run).
WALL_CLOCK = re.compile(r"<progress|it/s\]|s/it\]|(?-i:Training Loss)|elapsed|wall[ _-]?(time|clock)|\b(make|train)_s\b|seconds?\W*:\s*\d",
                        re.IGNORECASE)  # fmt: skip


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_outputs_hold_no_wall_clock_or_progress(path: Path):
    for i, cell in enumerate(_code_cells(_load(path))):
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", [])) + json.dumps(
                {k: v for k, v in out.get("data", {}).items() if k.startswith("text/")}, ensure_ascii=False
            )
            found = WALL_CLOCK.search(text)
            assert not found, f"{path.name} code cell {i}: wall-clock or progress output {found.group(0)!r}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_outputs_name_their_preset_and_commit(path: Path):
    meta = _load(path)["metadata"].get("aligncap")
    assert isinstance(meta, dict), (
        f"{path.name}: no metadata.aligncap (run reproduce --preset cpu --commit-outputs)"
    )
    assert meta.get("preset") == "cpu", f"{path.name}: outputs of preset {meta.get('preset')!r}, not cpu"
    assert re.fullmatch(r"[0-9a-f]{40}", str(meta.get("commit"))), (
        f"{path.name}: commit {meta.get('commit')!r}"
    )


def test_every_notebook_comes_from_one_run():
    commits = {p.stem: _load(p)["metadata"].get("aligncap", {}).get("commit") for p in PATHS}
    assert len(set(commits.values())) == 1, f"notebook outputs from different commits: {commits}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_some_output_is_checked_and_checked_cells_hold_outputs(path: Path):
    checked = [c for c in _code_cells(_load(path)) if _source(c).startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked, f"{path.name}: no cell marked # NBVAL_CHECK_OUTPUT"
    for cell in checked:
        assert cell.get("outputs"), f"{path.name}: a checked cell without outputs checks nothing"
        assert "Checked by nbval (the same at every preset)" in _source(cell), (
            f"{path.name}: a checked cell says why its output does not depend on the preset"
        )
