"""What the captioner reads per clip, gathered from the upstream stages: speech units and acoustic clues.

- Speech units come from :mod:`aligncap_lib.speech_tokens` (issue 4): ``speech_unit_vocabulary(config)`` (the
  added tokens) and ``load_units(runs/<preset>/tokens)`` (id -> the capped unit text of each clip). Without it, ``unit_source = "measurement_stand_in"`` gives a *stand-in* for plumbing tests only:
  each clip's Praat measurements quantised into a handful of units. It is not a speech tokenizer, every result
  records its unit source, and the ``cpu`` preset refuses it.
- Acoustic clues (the student's clue prompt) come from :mod:`aligncap_lib.acoustic_analyzer` (issue 5):
  ``analyze_measurements`` with population norms ``fit_norms`` on ``train`` (emotion included); otherwise from the manifest's measurements binned with the shared
  thresholds (:func:`aligncap_lib.attributes.bin_measurements`, the analyzer's own rules), emotion left out
  (there is no emotion classifier without the analyzer).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Mapping, Sequence
from typing import Any

from aligncap_lib.attributes import bin_measurements

UNIT_SOURCES: tuple[str, ...] = ("speech_tokens", "measurement_stand_in")
#: Stand-in: (measurement, low, high) quantised into STAND_IN_LEVELS units each, one block per measurement.
STAND_IN: tuple[tuple[str, float, float], ...] = (
    ("f0_median_st", -10.0, 30.0),
    ("f0_range_st", 0.0, 10.0),
    ("syllables_per_s", 2.0, 8.0),
    ("rms_dbfs", -40.0, -15.0),
    ("f0_tremor_st", 0.0, 0.6),
    ("hnr_db", 0.0, 20.0),
)
STAND_IN_LEVELS = 16


def _module(name: str) -> Any | None:
    return importlib.import_module(name) if importlib.util.find_spec(name) is not None else None


def unit_vocabulary(layout: Any, source: str) -> list[str]:
    """The speech-unit tokens to add to the tokenizer."""
    if source == "measurement_stand_in":
        return [f"<su_{i}>" for i in range(len(STAND_IN) * STAND_IN_LEVELS)]
    tokens = _module("aligncap_lib.speech_tokens")
    if tokens is None or not hasattr(tokens, "unit_vocabulary"):
        raise RuntimeError(
            "speech tokens (issue 4) are not available: run `aligncap tokenize` first, or use "
            "unit_source='measurement_stand_in' for plumbing tests"
        )
    return list(tokens.unit_vocabulary(layout))


def unit_texts(layout: Any, records: Sequence[Mapping[str, Any]], source: str) -> dict[str, str]:
    """id -> the unit text of each clip (e.g. ``<su_3><su_9>...``)."""
    if source == "measurement_stand_in":
        return {r["id"]: _stand_in_units(r.get("measurements") or {}) for r in records}
    from aligncap_lib import speech_tokens

    if not (layout.tokens / "units.jsonl").is_file():
        raise RuntimeError(
            f"no speech tokens in {layout.tokens}: run `aligncap tokenize --work {layout.work}` first"
        )
    units = speech_tokens.load_units(layout.tokens)
    missing = [r["id"] for r in records if r["id"] not in units]
    if missing:  # skipped by the tokenizer (bad audio): reported, read as an empty speech segment
        print(f"captioner: {len(missing)} clip(s) without speech units, e.g. {missing[:3]}")
    return {r["id"]: units.get(r["id"], "") for r in records}


def _stand_in_units(measurements: Mapping[str, Any]) -> str:
    units = []
    for block, (name, lo, hi) in enumerate(STAND_IN):
        value = measurements.get(name)
        if value is None or not math.isfinite(float(value)):
            continue
        level = min(STAND_IN_LEVELS - 1, max(0, int((float(value) - lo) / (hi - lo) * STAND_IN_LEVELS)))
        units.append(f"<su_{block * STAND_IN_LEVELS + level}>")
    return "".join(units)


def acoustic_clues(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str | None]]:
    """id -> measured clues (slot -> bin or None) for the student's acoustic prompt."""
    analyzer = _module("aligncap_lib.acoustic_analyzer")
    if analyzer is not None and hasattr(analyzer, "analyze_measurements"):
        # population norms fitted on train (the voices of test_zeroshot have no baseline at inference)
        norms = analyzer.fit_norms([r for r in records if r.get("split") == "train"])
        return {
            r["id"]: dict(analyzer.analyze_measurements(r.get("measurements") or {}, r["lang"], norms))
            for r in records
        }
    out = {}
    for r in records:
        m = r.get("measurements") or {}
        norm = m.get("f0_norm_hz")
        out[r["id"]] = bin_measurements(m, float(norm)) if norm else {}
    return out
