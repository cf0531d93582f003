"""Seeding, thread counts, results JSON and the environment snapshot."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from aligncap_lib.core.reproducibility import (
    configure_threads,
    default_threads,
    environment_snapshot,
    repo_root,
    seed_everything,
    write_json,
    write_results,
)


def test_seed_everything_repeats_every_stream():
    seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_threads_follow_the_environment(monkeypatch):
    monkeypatch.setenv("ALIGNCAP_THREADS", "1")
    assert default_threads() == 1
    before = torch.get_num_threads()
    try:
        assert configure_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("ALIGNCAP_THREADS", "0")
    with pytest.raises(ValueError):
        default_threads()


def test_write_json_is_sorted_rounded_and_stable(tmp_path):
    p = write_json(tmp_path / "r.json", {"b": 1 / 3, "a": [0.123456789, float("nan")]})
    text = p.read_text()
    assert json.loads(text) == {"a": [0.123457, None], "b": 0.333333}
    assert text.index('"a"') < text.index('"b"')
    write_json(tmp_path / "r2.json", {"a": [0.123456789, float("nan")], "b": 1 / 3})
    assert (tmp_path / "r2.json").read_text() == text


def test_results_carry_config_and_snapshot(tmp_path):
    payload = json.loads(write_results(tmp_path / "x.json", {"m": 1.0}, config={"k": 2}).read_text())
    assert payload["metrics"] == {"m": 1.0} and payload["config"] == {"k": 2}
    snap = payload["environment"]
    assert snap["packages"]["torch"].startswith("2.13.0")
    assert set(snap) >= {"python", "platform", "git_commit", "packages", "torch_threads"}


def test_environment_snapshot_names_versions():
    assert environment_snapshot()["packages"]["transformers"]


def test_repo_root_from_a_subfolder(monkeypatch, repo):
    monkeypatch.delenv("ALIGNCAP_ROOT", raising=False)
    monkeypatch.chdir(repo / "notebooks")
    assert repo_root() == repo


def test_cross_machine_tolerances_cover_every_committed_results_file(repo):
    from aligncap_lib.core.reproducibility import CROSS_MACHINE

    committed = {p.name for p in (repo / "results" / "cpu").glob("*.json")} - {"timings.json"}
    assert committed <= set(CROSS_MACHINE), committed - set(CROSS_MACHINE)


def test_compare_results_applies_each_files_tolerance():
    from aligncap_lib.core.reproducibility import compare_results

    probe = {"pitch_level": {"accuracy": 0.45, "n_test": 171}}
    assert compare_results("probe.json", probe, {"pitch_level": {"accuracy": 0.47, "n_test": 171}}) == []
    assert compare_results("probe.json", probe, {"pitch_level": {"accuracy": 0.49, "n_test": 171}})
    assert compare_results("corpus.json", {"clips": 1949}, {"clips": 1949}) == []
    assert compare_results("corpus.json", {"clips": 1949, "agree": 0.9}, {"clips": 1949, "agree": 0.900001})
    assert compare_results("corpus.json", {"clips": 1}, {}) == [
        "corpus.json: /clips: present in one run only"
    ]
    row = {"claim": "c", "split": "test_zeroshot", "lang": "en", "metric": "cider"}
    here = {"claims": [dict(row, verdict="reproduced")]}
    assert compare_results("ablations.json", here, {"claims": [dict(row, verdict="inconclusive")]}) == []
    flipped = compare_results("ablations.json", here, {"claims": [dict(row, verdict="contradicted")]})
    assert flipped == ["ablations.json: c/test_zeroshot/en/cider: reproduced here, contradicted there"]
