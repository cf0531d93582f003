"""A tiny corpus built once per test session (both languages, every split non-empty; about 10-20 s).

Use it with ``pytest_plugins = ["tests.fixtures_corpus"]`` or by importing the fixture in a test module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.corpus.speech_corpus import CorpusConfig, ensure_corpus

TINY = {
    "n_train": 12,
    "n_valid": 2,
    "n_pref": 2,
    "n_test_seen": 4,
    "n_test_zeroshot": 4,
    "n_test_crossdomain": 4,
    "opensmile_clips": 8,
}


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a tiny corpus (``manifest.jsonl``, ``audio/``, ``report.json``)."""
    work = tmp_path_factory.mktemp("corpus_run")
    cfg = CorpusConfig(**TINY, seed=7, workers=2)
    path, _ = ensure_corpus(cfg, RunLayout(preset="smoke", work=work))
    return path
