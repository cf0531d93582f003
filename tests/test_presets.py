"""Presets and stage configs: precedence, validation, the result hash."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from aligncap_lib.core import presets
from aligncap_lib.core.presets import (
    PRESET_NAMES,
    PRESETS,
    StageConfig,
    added_field,
    plumbing_field,
    resolve_preset,
)


@dataclasses.dataclass(frozen=True)
class _ToyConfig(StageConfig):
    stage: ClassVar[str] = ""  # not registered as a real stage
    steps: int = 10
    rate: float = 0.5
    show_progress: bool = plumbing_field(True)

    def validate(self) -> None:
        self._positive("steps")
        self._probability("rate")


def test_precedence_parameter_over_env_over_default(monkeypatch):
    monkeypatch.delenv("ALIGNCAP_PRESET", raising=False)
    assert resolve_preset(None) == "cpu"
    monkeypatch.setenv("ALIGNCAP_PRESET", "smoke")
    assert resolve_preset(None) == "smoke"
    assert resolve_preset("") == "smoke"  # an empty papermill parameter defers to the environment
    assert resolve_preset("paper") == "paper"


def test_unknown_preset_names_its_source(monkeypatch):
    monkeypatch.setenv("ALIGNCAP_PRESET", "laptop")
    with pytest.raises(ValueError, match=r"'laptop'.*ALIGNCAP_PRESET"):
        resolve_preset(None)
    with pytest.raises(ValueError, match=r"'gpu'.*parameter"):
        resolve_preset("gpu")


def test_config_validates_itself():
    with pytest.raises(ValueError, match="_ToyConfig: steps must be > 0"):
        _ToyConfig(steps=0)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        _ToyConfig(rate=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _ToyConfig().steps = 3  # type: ignore[misc]


def test_result_hash_ignores_plumbing_fields_only():
    base = _ToyConfig()
    assert base.result_hash() == _ToyConfig(show_progress=False).result_hash()
    assert base.result_hash() != _ToyConfig(steps=11).result_hash()
    assert "show_progress" not in base.result_fields()


@dataclasses.dataclass(frozen=True)
class _ToyConfigLater(_ToyConfig):
    """_ToyConfig after a release added a result field whose default keeps the old behaviour."""

    precision: str = added_field("fp32")


@dataclasses.dataclass(frozen=True)
class _ToyConfigV2(_ToyConfig):
    protocol: ClassVar[int] = 2


def test_added_field_at_default_keeps_the_hash_and_counts_when_set():
    old = _ToyConfig().result_hash()
    assert _ToyConfigLater().result_hash() == old  # committed results and caches stay valid
    assert _ToyConfigLater(precision="bf16").result_hash() != old
    assert _ToyConfigLater(steps=11).result_hash() == _ToyConfig(steps=11).result_hash()


def test_protocol_bump_changes_the_hash():
    assert _ToyConfigV2().result_hash() != _ToyConfig().result_hash()
    assert _ToyConfigV2(steps=11).result_hash() != _ToyConfigV2().result_hash()


def test_every_preset_override_names_a_real_field_of_a_real_stage():
    configs = presets.stage_configs()
    for preset, stages in PRESETS.items():
        for stage in stages:
            assert stage in configs, f"preset {preset!r} overrides unknown stage {stage!r}"
            configs[stage].for_preset(preset)  # raises on unknown fields or invalid values


def test_for_preset_rejects_unknown_overrides():
    for cls in presets.stage_configs().values():
        with pytest.raises(ValueError, match="unknown field"):
            cls.for_preset("smoke", no_such_field=1)


def test_preset_table_rows_are_effective_values():
    for row in presets.preset_table():
        cls = presets.stage_configs()[row["stage"]]
        for name in presets.PRESET_NAMES:
            assert cls.for_preset(name).to_dict()[row["field"]] == row[name]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_dpo_max_length_holds_the_captioner_sequences(preset):
    """DPO truncates prompt + caption at max_length: shorter than the captioner's sequences, it would cut the
    speech prompt of the pairs (the paper preset had 256 for 400 speech positions)."""
    from aligncap_lib.captioner.model import CaptionerConfig
    from aligncap_lib.preference.po_regularization import POConfig
    from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig

    cap, po = CaptionerConfig.for_preset(preset), POConfig.for_preset(preset)
    assert po.max_length >= cap.max_positions
    assert po.max_length > SpeechTokensConfig.for_preset(preset).max_positions
