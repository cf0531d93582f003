"""Shared test set-up: thread counts on purpose, the smoke preset, and the real-data location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The session fixtures (tiny corpus -> speech tokens -> text teacher -> exported model), visible to every module.
pytest_plugins = ["tests.fixtures_corpus", "tests.fixtures_pipeline", "tests.fixtures_model"]

os.environ.setdefault("ALIGNCAP_PRESET", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    # 2-core machines: oversubscribed threads were measured >100x slower.
    torch.set_num_threads(int(os.environ.get("ALIGNCAP_THREADS", "2")))


@pytest.fixture(scope="session")
def repo() -> Path:
    from aligncap_lib.core.reproducibility import repo_root

    return repo_root()
