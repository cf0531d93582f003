"""`aligncap reproduce`: papermill in the named kernel, timings, failures that name notebook and cell."""

from __future__ import annotations

import json

import nbformat
import pytest

from aligncap_lib import reproduce


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "aligncap",
        "display_name": "Python (aligncap)",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_markdown_cell("# toy")]
    nb.cells.append(nbformat.v4.new_code_cell("preset = None  # toy", metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_runs_in_order_with_the_preset_and_reports_the_failing_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNCAP_ROOT", str(reproduce.repo_root()))
    ok = _notebook(tmp_path / "00_ok.ipynb", ["import sys, os\nprint(preset, os.environ['ALIGNCAP_PRESET'])"])
    run = reproduce.run_notebook(ok, tmp_path / "out" / ok.name, "smoke", timeout=120)
    executed = json.loads(run.output.read_text())
    printed = "".join(executed["cells"][-1]["outputs"][0]["text"])
    assert printed.strip() == "smoke smoke"
    assert executed["metadata"]["kernelspec"]["name"] == "aligncap"

    bad = _notebook(tmp_path / "01_bad.ipynb", ["x = 1", "raise ValueError('broken on purpose')"])
    with pytest.raises(
        reproduce.NotebookFailed, match=r"01_bad: failed at code cell 3 \(ValueError: broken on purpose\)"
    ):
        reproduce.run_notebook(bad, tmp_path / "out" / bad.name, "smoke", timeout=120)


def test_clean_notebook_drops_injected_cell_stderr_and_papermill_metadata(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": 1.0}
    params = nbformat.v4.new_code_cell("preset = None  # x", metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('preset = "smoke"', metadata={"tags": ["injected-parameters"]})
    body = nbformat.v4.new_code_cell("print(1)", metadata={"papermill": {"duration": 0.1}})
    body.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("stream", name="stderr", text="warning\n"),
    ]
    nb.cells = [params, injected, body]
    nbformat.write(nb, tmp_path / "in.ipynb")
    removed = reproduce.clean_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb")
    out = json.loads((tmp_path / "out.ipynb").read_text())
    assert removed == 1
    assert len(out["cells"]) == 2 and "papermill" not in out["metadata"]
    assert [o["name"] for o in out["cells"][1]["outputs"]] == ["stdout"]
    assert out["cells"][1]["execution_count"] == 2 and "papermill" not in out["cells"][1]["metadata"]


def test_select_by_prefix_and_unknown(tmp_path):
    for n in ("00_a", "01_b", "02_c"):
        _notebook(tmp_path / f"{n}.ipynb", [])
    assert [p.stem for p in reproduce.select(["01", "00"], tmp_path)] == ["00_a", "01_b"]
    with pytest.raises(ValueError, match="07"):
        reproduce.select(["07"], tmp_path)


def test_pipeline_names_every_notebook_with_an_artifact():
    assert set(reproduce.PAPER_ARTIFACTS) == set(reproduce.NOTEBOOKS)
    assert list(reproduce.NOTEBOOKS) == sorted(reproduce.NOTEBOOKS)
