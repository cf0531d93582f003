"""What the captioner reads per clip, gathered from the upstream stages: speech units and acoustic clues.

- Speech units come from :mod:`aligncap_lib.tokens.speech_tokens`: ``unit_vocabulary(layout)`` (the added tokens of the
  built tokens, else of the preset) and ``load_units(runs/<preset>/tokens)`` (id -> the capped unit text of each
  clip).
- Acoustic clues (the ``analyzer_clues`` student's clue prompt, ``acoustic_template`` and the PO judge) come from
  :mod:`aligncap_lib.clues.acoustic_analyzer` exactly as ``aligncap caption`` computes them on unknown audio
  (:func:`deployment_clues`): speaking rate blind (no transcript), population norms fitted on ``train``.
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


def deployment_clues(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str | None]]:
    """id -> the clues ``aligncap caption`` would measure on the clip (slot -> bin or None): the analyzer on the
    clip's stored measurements with the transcript's syllable rate removed (the rate is read blind, from
    ``nuclei_per_s`` through the calibration), no speaker baseline, no gender (population norms fitted on
    ``train``, emotion included). Never the corpus truth or the labeller's transcript-based rate."""
    norms = acoustic_analyzer.fit_norms([r for r in records if r.get("split") == "train"])
    out = {}
    for r in records:
        blind = {k: v for k, v in (r.get("measurements") or {}).items() if k != "syllables_per_s"}
        out[r["id"]] = dict(acoustic_analyzer.analyze_measurements(blind, r["lang"], norms))
    return out
