"""The attribute schema shared by the corpus, the clue parser, evaluation and the preference judge.

Every caption word that describes the voice maps to one *slot* with a small set of *bins*. The corpus labels
each clip with one bin per slot (or ``None`` where the measurement cannot verify it), the parser maps caption
text to the same slots, and the hallucination metrics compare the two. Keep these names: notebooks, results
and the README refer to them.

The thresholds that turn measurements into bins live here too (``BIN_RULES``), so that the corpus labels and
the acoustic analyzer can never disagree about what "high" means.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: Slot -> its bins, in a fixed order (low to high where the slot is ordinal).
SLOT_BINS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pitch_level": ("low", "normal", "high"),
        "pitch_variation": ("flat", "normal", "varied"),
        "rate": ("slow", "normal", "fast"),
        "loudness": ("soft", "normal", "loud"),
        "voice_quality": ("steady", "trembling", "breathy"),
        "emotion": ("neutral", "happy", "sad", "angry", "fearful", "surprised"),
    }
)

#: The slots, in schema order.
SLOTS: tuple[str, ...] = tuple(SLOT_BINS)

#: Slots measured from the acoustics (everything but the emotion category).
ACOUSTIC_SLOTS: tuple[str, ...] = tuple(s for s in SLOTS if s != "emotion")

#: Slots whose bins are ordered (a "low" claim for a "high" truth is further off than "normal").
ORDINAL_SLOTS: tuple[str, ...] = ("pitch_level", "pitch_variation", "rate", "loudness")

EMOTIONS: tuple[str, ...] = SLOT_BINS["emotion"]

#: Each acoustic slot's unmarked bin: what references (and people) usually leave unsaid, so that a caption is not
#: expected to state it (evaluation's omission and slot accuracy, the judge's coverage, the caption writer).
UNMARKED: Mapping[str, str] = MappingProxyType(
    {"pitch_level": "normal", "pitch_variation": "normal", "rate": "normal", "loudness": "normal",
     "voice_quality": "steady"}
)  # fmt: skip


def is_unmarked(slot: str, value: str | None) -> bool:
    """True when ``value`` is ``slot``'s unmarked bin (:data:`UNMARKED`); the emotion has none."""
    return value is not None and UNMARKED.get(slot) == value


def validate_slot(slot: str, value: str | None) -> None:
    """Raise ``ValueError`` naming the slot and value if ``value`` is not a bin of ``slot`` (``None`` is allowed)."""
    if slot not in SLOT_BINS:
        raise ValueError(f"unknown slot {slot!r}; known slots: {', '.join(SLOTS)}")
    if value is not None and value not in SLOT_BINS[slot]:
        raise ValueError(f"unknown value {value!r} for slot {slot!r}; allowed: {', '.join(SLOT_BINS[slot])}")


def validate_attributes(attributes: Mapping[str, str | None], *, item: str = "") -> dict[str, str | None]:
    """Check a slot -> bin mapping (missing slots become ``None``); errors name ``item``."""
    prefix = f"{item}: " if item else ""
    unknown = sorted(set(attributes) - set(SLOTS))
    if unknown:
        raise ValueError(f"{prefix}unknown slot(s) {unknown}; known slots: {', '.join(SLOTS)}")
    out: dict[str, str | None] = {}
    for slot in SLOTS:
        value = attributes.get(slot)
        try:
            validate_slot(slot, value)
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from None
        out[slot] = value
    return out


# -- measurement -> bin rules ----------------------------------------------------------------------------
#: Slot -> (measurement name, unit, lower threshold, upper threshold). A value below the lower threshold is
#: the first bin (low, flat, slow, soft), above the upper the last bin (high, varied, fast, loud), else the
#: middle bin ("normal"). Thresholds were set on the corpus's espeak-ng voices (see
#: ``data_cards/synthetic_corpus.md``) so that each bin's generator target sits >= 2 units from the edges:
#:
#: - ``pitch_level``: median f0 in semitones re the voice family's norm (``voices.FAMILY_F0_NORM_HZ``, per
#:   language and gender), +-2.5 st (a listener notices about 2 st; speakers vary +-1.5 st inside a family);
#: - ``pitch_variation``: 10-90 percentile range of the smoothed f0 contour in semitones, 2.2 and 4.8 st;
#: - ``rate``: syllables per second of articulation (pauses >= 150 ms excluded), 3.5 and 5.5 syl/s;
#: - ``loudness``: RMS level of active frames in dBFS, -31.5 and -23 dBFS (we have no calibrated SPL, so
#:   loudness is relative to digital full scale: a recording's gain changes it, see the cross-domain split).
BIN_RULES: Mapping[str, tuple[str, str, float, float]] = MappingProxyType(
    {
        "pitch_level": ("f0_re_norm_st", "semitones re family norm", -2.5, 2.5),
        "pitch_variation": ("f0_range_st", "semitones (p90 - p10, smoothed)", 2.2, 4.8),
        "rate": ("syllables_per_s", "syllables / s of articulation", 3.5, 5.5),
        "loudness": ("rms_dbfs", "dBFS (active frames)", -31.5, -23.0),
    }
)
#: Voice quality: ``trembling`` when the frame-to-frame f0 wobble exceeds ``tremor_st`` semitones (espeak-ng
#: flutter, confirmed 4-8x above steady renderings), else ``breathy`` when the harmonics-to-noise ratio is below
#: ``hnr_db`` (espeak-ng breath), else ``steady``.
VOICE_QUALITY_RULE: Mapping[str, float] = MappingProxyType({"tremor_st": 0.22, "hnr_db": 6.5})


def bin_value(slot: str, value: float) -> str | None:
    """The bin of one ordinal slot for a measured ``value`` in the unit of :data:`BIN_RULES` (None if NaN)."""
    _, _, lo, hi = BIN_RULES[slot]
    if value != value:  # NaN: unmeasurable (e.g. no voiced frame)
        return None
    bins = SLOT_BINS[slot]
    return bins[0] if value < lo else bins[2] if value > hi else bins[1]


def bin_measurements(measurements: Mapping[str, float], f0_norm_hz: float) -> dict[str, str | None]:
    """Acoustic slot -> bin (None where unmeasurable) from :func:`prosody.measure`'s named floats.

    ``f0_norm_hz`` is the pitch norm of the clip's voice family (Hz); the analyzer of unknown audio passes the
    norm of the family it assumes (e.g. by gender).
    """
    import math

    f0 = measurements.get("f0_median_hz", float("nan"))
    values = dict(measurements)
    values["f0_re_norm_st"] = 12.0 * math.log2(f0 / f0_norm_hz) if f0 == f0 and f0 > 0 else float("nan")
    out: dict[str, str | None] = {
        slot: bin_value(slot, values.get(BIN_RULES[slot][0], float("nan"))) for slot in BIN_RULES
    }
    tremor, hnr = values.get("f0_tremor_st", float("nan")), values.get("hnr_db", float("nan"))
    if tremor != tremor or hnr != hnr:
        out["voice_quality"] = None
    elif tremor > VOICE_QUALITY_RULE["tremor_st"]:
        out["voice_quality"] = "trembling"
    else:
        out["voice_quality"] = "breathy" if hnr < VOICE_QUALITY_RULE["hnr_db"] else "steady"
    return out
