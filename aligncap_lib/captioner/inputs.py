"""What the captioner reads per clip, gathered from the upstream stages: speech units and acoustic clues.

- Speech units come from :mod:`aligncap_lib.tokens.speech_tokens`: ``unit_vocabulary(layout)`` (the added tokens of the
  built tokens, else of the preset) and ``load_units(runs/<preset>/tokens)`` (id -> the capped unit text of each
  clip).
- Acoustic clues (the student's clue prompt) come from :mod:`aligncap_lib.clues.acoustic_analyzer`:
  ``analyze_measurements`` with population norms ``fit_norms`` on ``train`` (emotion included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aligncap_lib.clues import acoustic_analyzer
from aligncap_lib.tokens import speech_tokens


def unit_vocabulary(layout: Any) -> list[str]:
    """The speech-unit tokens to add to the tokenizer."""
    return list(speech_tokens.unit_vocabulary(layout))


def unit_texts(layout: Any, records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """id -> the unit text of each clip (e.g. ``<su_x2><su0_3><su0_9>...``)."""
    if not (layout.tokens / "units.jsonl").is_file():
        raise RuntimeError(
            f"no speech tokens in {layout.tokens}: run `aligncap tokenize --work {layout.work}` first"
        )
    units = speech_tokens.load_units(layout.tokens)
    missing = [r["id"] for r in records if r["id"] not in units]
    if missing:  # skipped by the tokenizer (bad audio): reported, read as an empty speech segment
        print(f"captioner: {len(missing)} clip(s) without speech units, e.g. {missing[:3]}")
    return {r["id"]: units.get(r["id"], "") for r in records}


def acoustic_clues(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str | None]]:
    """id -> measured clues (slot -> bin or None) for the student's acoustic prompt; population norms fitted on
    ``train`` (the voices of test_zeroshot have no baseline at inference)."""
    norms = acoustic_analyzer.fit_norms([r for r in records if r.get("split") == "train"])
    return {
        r["id"]: dict(acoustic_analyzer.analyze_measurements(r.get("measurements") or {}, r["lang"], norms))
        for r in records
    }
