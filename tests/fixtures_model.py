"""A smoke captioner built once per test session and exported: tiny corpus -> speech tokens -> text teacher ->
KD student (``no_po``, seed 0, a few steps) -> ``runs/<tmp>/export``. About a minute on 2 cores.

Use it by importing the fixture: ``from tests.fixtures_model import smoke_model  # noqa: F401``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures_pipeline import copy_pipeline, smoke_pipeline, test_configs  # noqa: F401


@pytest.fixture(scope="session")
def smoke_model(smoke_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:  # noqa: F811
    """``layout``, ``stage`` (the trained ``kd`` folder), ``records`` (the manifest), ``export`` (its export)."""
    from aligncap_lib.export.exporter import export_variant
    from aligncap_lib.training.stages import train_student

    layout = copy_pipeline(smoke_pipeline, tmp_path_factory.mktemp("model_run") / "run")
    # plumbing scale: the student writes one caption per language (80 steps did not change that), so tests
    # compare logits and inputs besides captions
    configs = test_configs(n_bootstrap=200, steps=20, save_steps=20)
    # the clue-reading extension: its export exercises the inference path's clue sources (aligncap_full, which
    # hears speech only, exports the same way with default clues "none")
    stage = train_student(layout, "analyzer_clues", 0, stage="kd", configs=configs)
    export = export_variant(layout, "analyzer_clues", 0)
    return SimpleNamespace(
        layout=layout, stage=stage, records=layout.records(), export=export, configs=configs
    )
