"""The run layout and the stage cache."""

from __future__ import annotations

import json

import pytest

from aligncap_lib.core.run_layout import RunLayout, is_fresh, run_stage


def test_layout_paths(tmp_path):
    layout = RunLayout.for_preset("smoke", work=tmp_path / "w")
    assert layout.corpus == tmp_path / "w" / "corpus"
    assert layout.model("no_po", 2) == tmp_path / "w" / "models" / "no_po" / "seed2"
    assert layout.results.parts[-2:] == ("results", "smoke")
    assert layout.figures.parts[-2:] == ("figures", "smoke")
    assert RunLayout.for_preset("cpu").figures.name == "figures"
    with pytest.raises(ValueError):
        layout.model("../x", 0)


def test_default_work_is_runs_preset_under_the_repo(repo):
    assert RunLayout.for_preset("smoke").work == repo / "runs" / "smoke"


def test_stage_is_built_once_per_fingerprint(tmp_path):
    calls = []

    def build(out):
        calls.append(out)
        (out / "a.txt").write_text(str(len(calls)))
        return {"n": len(calls)}

    d = tmp_path / "stage"
    _, rebuilt = run_stage(d, "fp1", build)
    assert rebuilt and (d / "a.txt").read_text() == "1"
    _, rebuilt = run_stage(d, "fp1", build)
    assert not rebuilt and len(calls) == 1
    _, rebuilt = run_stage(d, "fp2", build)
    assert rebuilt and (d / "a.txt").read_text() == "2"
    assert json.loads((d / "stage.json").read_text())["summary"] == {"n": 2}
    assert is_fresh(d, "fp2") and not is_fresh(d, "fp1")


def test_failed_build_keeps_the_previous_stage(tmp_path):
    d = tmp_path / "stage"
    run_stage(d, "fp1", lambda out: (out / "a.txt").write_text("ok") and None)

    def broken(out):
        (out / "partial.txt").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_stage(d, "fp2", broken)
    assert is_fresh(d, "fp1") and (d / "a.txt").read_text() == "ok"
    assert not (tmp_path / "stage.tmp").exists()


def test_a_stage_on_a_rebuilt_upstream_is_not_read(tmp_path):
    """Notebook 05 once wrote summary.json over a PO stage built on an older KD student: a stage records its
    upstream fingerprints, and the summary never reads one whose chain no longer matches."""
    from aligncap_lib.training.stage_results import final_stage_dir

    layout = RunLayout.for_preset("smoke", work=tmp_path / "w")

    def stage(directory, fingerprint, upstream=None):
        return run_stage(directory, fingerprint, lambda out: (out / "eval").mkdir(), force=True,
                         upstream=upstream)[0]  # fmt: skip

    kd = stage(layout.model("no_po", 0) / "kd", "kd-a")
    po = stage(layout.model("aligncap_full", 0) / "po", "po-a", {"start": kd})
    assert final_stage_dir(layout, "aligncap_full", 0) == po
    assert json.loads((po / "stage.json").read_text())["upstream"]["start"]["fingerprint"] == "kd-a"
    stage(kd, "kd-b")  # the KD student is rebuilt, the PO stage is not: read as not trained (as if absent)
    assert final_stage_dir(layout, "aligncap_full", 0) == kd
    assert final_stage_dir(layout, "no_po", 0) == kd
    stage(layout.model("no_kd", 0) / "po", "po-x", {"start": kd})  # no_kd's only stage, stale
    stage(kd, "kd-c")
    assert final_stage_dir(layout, "no_kd", 0) is None
    stage(po, "po-b", {"start": kd})
    assert final_stage_dir(layout, "aligncap_full", 0) == po
