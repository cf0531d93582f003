"""A smoke captioner built once per test session and exported: tiny corpus -> speech tokens -> text teacher ->
KD student (``no_po``, seed 0, a few steps) -> ``runs/<tmp>/export``. About a minute on 2 cores.

Use it by importing the fixture: ``from tests.fixtures_model import smoke_model  # noqa: F401``.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures_corpus import tiny_corpus  # noqa: F401  (session fixture)


@pytest.fixture(scope="session")
def smoke_model(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:  # noqa: F811
    """``layout``, ``stage`` (the trained ``kd`` folder), ``records`` (the manifest), ``export`` (its export)."""
    from aligncap_lib.core.run_layout import RunLayout
    from aligncap_lib.evaluation.scoring import EvaluationConfig
    from aligncap_lib.export.exporter import export_variant
    from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig, tokenize_stage
    from aligncap_lib.training.kd_trainer import ScheduleConfig
    from aligncap_lib.training.stages import StageConfigs, train_student
    from aligncap_lib.training.text_teacher import TeacherConfig, ensure_teacher

    work = tmp_path_factory.mktemp("model_run")
    shutil.copytree(tiny_corpus, work / "corpus")
    layout = RunLayout(preset="smoke", work=work)
    tokenize_stage(layout, SpeechTokensConfig.for_preset("smoke"))
    # plumbing scale: the student writes one caption per language (80 steps did not change that), so tests
    # compare logits and inputs besides captions
    teacher = dataclasses.replace(TeacherConfig.for_preset("smoke"), steps=20, progress=False)
    ev = EvaluationConfig(meteor=False, similarity=False, n_bootstrap=200, splits=("test_zeroshot",))
    schedule = dataclasses.replace(
        ScheduleConfig.for_preset("smoke"), steps=20, save_steps=20, progress=False
    )
    configs = StageConfigs.for_preset("smoke")._replace(teacher=teacher, evaluation=ev, schedule=schedule)
    ensure_teacher(layout, configs.captioner, teacher, decoding=configs.decoding)
    stage = train_student(layout, "no_po", 0, stage="kd", configs=configs)
    export = export_variant(layout, "aligncap_full", 0)
    return SimpleNamespace(
        layout=layout, stage=stage, records=layout.records(), export=export, configs=configs
    )
