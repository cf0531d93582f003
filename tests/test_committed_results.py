"""The committed ``results/cpu/`` must come from the code's ``cpu`` preset.

The summary stores the result hash of every stage config (result-affecting fields only, plus the stage's protocol
version); a change to any of them that changes results makes this test fail until ``results/cpu/`` is
regenerated, while a plumbing field, or an ``added_field`` at its default, changes no hash
(``tests/test_presets.py`` shows both).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aligncap_lib.analysis.results_summary import result_hashes

SUMMARY = Path(__file__).resolve().parents[1] / "results" / "cpu" / "summary.json"


def test_committed_cpu_summary_matches_the_code() -> None:
    assert SUMMARY.is_file(), f"{SUMMARY} is not committed"
    committed = json.loads(SUMMARY.read_text(encoding="utf-8"))["config"].get("result_hash")
    assert committed, (
        f"{SUMMARY} has no result_hash: regenerate results/cpu (aligncap reproduce --preset cpu)"
    )
    now = result_hashes("cpu")
    stale = sorted(k for k in now if k != "all" and committed.get(k) != now[k])
    assert not stale, (
        f"results/cpu was produced by another configuration of stage(s) {stale}: rerun "
        "`aligncap reproduce --preset cpu` and commit results/cpu and figures/"
    )
    assert committed["all"] == now["all"]


def test_the_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    from aligncap_lib.core import presets

    before = result_hashes("cpu")
    monkeypatch.setitem(presets.PRESETS, "cpu", {"schedule": {"steps": 151}})
    after = result_hashes("cpu")
    assert after["schedule"] != before["schedule"] and after["all"] != before["all"]
    assert after["speech_tokens"] == before["speech_tokens"]
