"""What the captioner reads per clip, gathered from the upstream stages: speech units and acoustic clues.

- Speech units come from :mod:`aligncap_lib.speech_tokens` (issue 4): its ``unit_vocabulary(layout)`` (the
  added tokens, e.g. ``<su_17>``) and ``unit_texts(layout, records)`` (id -> the capped unit text of each clip).
  Until that stage exists, ``unit_source = "measurement_stand_in"`` gives a *stand-in* for plumbing tests only:
  each clip's Praat measurements quantised into a handful of units. It is not a speech tokenizer, every result
  records its unit source, and the ``cpu`` preset refuses it.
- Acoustic clues (the student's clue prompt) come from :mod:`aligncap_lib.acoustic_analyzer` (issue 5) when it
  provides ``measure_records(records)``; otherwise from the manifest's measurements binned with the shared
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
    tokens = _module("aligncap_lib.speech_tokens")
    if tokens is None or not hasattr(tokens, "unit_texts"):
        raise RuntimeError("speech tokens (issue 4) are not available: run `aligncap tokenize` first")
    return dict(tokens.unit_texts(layout, list(records)))


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
    if analyzer is not None and hasattr(analyzer, "measure_records"):
        return {k: dict(v) for k, v in analyzer.measure_records(list(records)).items()}
    out = {}
    for r in records:
        m = r.get("measurements") or {}
        norm = m.get("f0_norm_hz")
        out[r["id"]] = bin_measurements(m, float(norm)) if norm else {}
    return out
