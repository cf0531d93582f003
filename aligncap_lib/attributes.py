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
