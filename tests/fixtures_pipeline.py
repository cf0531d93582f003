"""The upstream stages every mini-pipeline test trains on, built once per test session: the tiny corpus, its
speech tokens and a text teacher (10 steps). A test copies the folder (:func:`copy_pipeline`) before it trains or
rebuilds anything in it, so tests never see each other's stages.

Use it by importing the fixture: ``from tests.fixtures_pipeline import smoke_pipeline  # noqa: F401``.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from aligncap_lib.captioner import CaptionerConfig, DecodingConfig
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.evaluation import EvaluationConfig
from aligncap_lib.tokens import SpeechTokensConfig, tokenize_stage
from aligncap_lib.training import ScheduleConfig, StageConfigs, TeacherConfig, ensure_teacher
from tests.fixtures_corpus import tiny_corpus  # noqa: F401  (session fixture)

#: The tests' teacher: plumbing scale (it cannot follow clues; the smoke preset's gate is off).
TEST_TEACHER = TeacherConfig.for_preset("smoke", steps=10, progress=False)


def test_configs(*, n_bootstrap: int = 50, **schedule: Any) -> StageConfigs:
    """The smoke preset's configs at test scale: the session's teacher, no METEOR (Java) or similarity model, the
    zero-shot split only, and ``schedule`` overrides (e.g. ``steps=6``)."""
    ev = EvaluationConfig(meteor=False, similarity=False, n_bootstrap=n_bootstrap, splits=("test_zeroshot",))
    sched = dataclasses.replace(ScheduleConfig.for_preset("smoke"), progress=False, **schedule)
    return StageConfigs.for_preset("smoke")._replace(teacher=TEST_TEACHER, evaluation=ev, schedule=sched)


test_configs.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture(scope="session")
def smoke_pipeline(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A run folder with ``corpus/``, ``tokens/`` and ``teacher/``; copy it before training in it."""
    work = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(tiny_corpus, work / "corpus")
    layout = RunLayout(preset="smoke", work=work)
    tokenize_stage(layout, SpeechTokensConfig.for_preset("smoke"))
    ensure_teacher(layout, CaptionerConfig.for_preset("smoke"), TEST_TEACHER,
                   decoding=DecodingConfig.for_preset("smoke"))  # fmt: skip
    return work


def copy_pipeline(pipeline: Path, work: Path) -> RunLayout:
    """A private copy of the session's pipeline folder at ``work`` (upstream records are relative: they hold)."""
    shutil.copytree(pipeline, work, symlinks=True)
    return RunLayout(preset="smoke", work=work)
