"""Plumbing every stage shares: stage configs and presets, the run folder and its stage cache, seeds and results
JSON, audio I/O, the corpus manifest and the slot schema, process helpers for multi-process runs."""

from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.core.audio_io import AudioError, read_audio
from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.core.presets import PRESET_NAMES, PRESETS, StageConfig, resolve_preset
from aligncap_lib.core.reproducibility import configure_threads, repo_root, seed_everything, write_results
from aligncap_lib.core.run_layout import RunLayout, chain_is_current, read_stage, run_stage

__all__ = [
    "PRESETS", "PRESET_NAMES", "SLOTS", "AudioError", "RunLayout", "StageConfig", "chain_is_current",
    "configure_threads", "read_audio", "read_manifest", "read_stage", "repo_root", "resolve_preset", "run_stage",
    "seed_everything", "write_results",
]  # fmt: skip
