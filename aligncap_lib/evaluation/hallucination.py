"""Hallucination metrics over slots: pure functions of what captions *claim* and what is *true*.

A caption's claims are its parsed slots (``{slot: bin}``, only the slots it mentions, from
:func:`aligncap_lib.clues.emotion_clues.parse_caption`). The truth of a clip is ``{slot: bin or None}``: the corpus's
measured attributes on synthetic data, or on real data the clues parsed from the reference caption(s)
(:func:`truth_from_references`). ``None`` or a missing slot means *unverifiable*: claims about it are skipped,
never counted as right or wrong.

Rules (each returns per-clip numerators and denominators, so that the bootstrap can resample clips and the
corpus value is ``sum(num) / sum(den)``; see :mod:`aligncap_lib.evaluation.bootstrap`):

- ``factual_hallucination``: per clip, verifiable claims that contradict the truth over verifiable claims
  made; averaged over the clips that make at least one verifiable claim (``num`` = the clip's rate, ``den`` = 1
  for those clips, 0 otherwise). Reported with ``no_claim_share``: the share of clips making no verifiable
  claim, since a caption that says nothing cannot hallucinate.
- ``factual_hallucination_<slot>``: over clips that claim ``slot`` verifiably, the share whose claim is wrong.
- ``omission``: over all (clip, expected slot) pairs, the share the caption does not mention. ``slot_accuracy``:
  the share stated correctly. Expected slots are the known true ones; with ``expect_normal=False`` (the
  default) a true unmarked bin (``normal``; ``steady`` voice quality: :data:`aligncap_lib.core.attributes.UNMARKED`)
  is not expected, because the corpus's references and people describing a
  voice usually leave the unremarkable unsaid ("normal pitch" is rarely written), so a caption is not
  penalised for the same silence. The emotion slot is always expected (``neutral`` is a statement).
- A claim of ``normal`` for a slot whose true bin is ``normal`` is correct whatever ``expect_normal`` says.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from aligncap_lib.clues.emotion_clues import parse_caption
from aligncap_lib.core.attributes import SLOT_BINS, SLOTS, is_unmarked

Claims = Mapping[str, str]
Truth = Mapping[str, "str | None"]
#: Per-clip statistics of a ratio metric: (numerator [N], denominator [N]); the value is sum(num) / sum(den).
Ratio = tuple[np.ndarray, np.ndarray]


def _verifiable(claims: Claims, truth: Truth, slots: Sequence[str]) -> list[tuple[str, str, str]]:
    return [(s, claims[s], t) for s in slots if s in claims and (t := truth.get(s)) is not None]


def _expected(truth: Truth, slots: Sequence[str], expect_normal: bool) -> list[str]:
    return [s for s in slots if (t := truth.get(s)) is not None and (expect_normal or not is_unmarked(s, t))]


def factual_hallucination(
    claims: Sequence[Claims], truth: Sequence[Truth], slots: Sequence[str] = SLOTS
) -> Ratio:
    """Per clip: (contradicted / verifiable claims if any else 0, 1 if any verifiable claim else 0)."""
    _check(claims, truth)
    num, den = np.zeros(len(claims)), np.zeros(len(claims))
    for i, (c, t) in enumerate(zip(claims, truth, strict=True)):
        checked = _verifiable(c, t, slots)
        if checked:
            num[i] = sum(claim != true for _, claim, true in checked) / len(checked)
            den[i] = 1.0
    return num, den


def slot_hallucination(claims: Sequence[Claims], truth: Sequence[Truth], slot: str) -> Ratio:
    """Per clip: (1 if the clip's verifiable ``slot`` claim is wrong, 1 if it makes one)."""
    _check(claims, truth)
    num, den = np.zeros(len(claims)), np.zeros(len(claims))
    for i, (c, t) in enumerate(zip(claims, truth, strict=True)):
        if slot in c and t.get(slot) is not None:
            den[i] = 1.0
            num[i] = float(c[slot] != t[slot])
    return num, den


def no_claim(claims: Sequence[Claims], truth: Sequence[Truth], slots: Sequence[str] = SLOTS) -> Ratio:
    """Per clip: (1 if the clip makes no verifiable claim, 1)."""
    _check(claims, truth)
    num = np.array([float(not _verifiable(c, t, slots)) for c, t in zip(claims, truth, strict=True)])
    return num, np.ones(len(claims))


def omission(
    claims: Sequence[Claims],
    truth: Sequence[Truth],
    slots: Sequence[str] = SLOTS,
    *,
    expect_normal: bool = False,
) -> Ratio:
    """Per clip: (expected true slots not mentioned, expected true slots)."""
    _check(claims, truth)
    num, den = np.zeros(len(claims)), np.zeros(len(claims))
    for i, (c, t) in enumerate(zip(claims, truth, strict=True)):
        expected = _expected(t, slots, expect_normal)
        den[i] = len(expected)
        num[i] = sum(s not in c for s in expected)
    return num, den


def slot_accuracy(
    claims: Sequence[Claims],
    truth: Sequence[Truth],
    slots: Sequence[str] = SLOTS,
    *,
    expect_normal: bool = False,
) -> Ratio:
    """Per clip: (expected true slots stated with the true bin, expected true slots)."""
    _check(claims, truth)
    num, den = np.zeros(len(claims)), np.zeros(len(claims))
    for i, (c, t) in enumerate(zip(claims, truth, strict=True)):
        expected = _expected(t, slots, expect_normal)
        den[i] = len(expected)
        num[i] = sum(c.get(s) == t[s] for s in expected)
    return num, den


def hallucination_ratios(
    claims: Sequence[Claims],
    truth: Sequence[Truth],
    slots: Sequence[str] = SLOTS,
    *,
    expect_normal: bool = False,
) -> dict[str, Ratio]:
    """Every slot metric as per-clip ratios, keyed as in the results JSON (``factual_hallucination``,
    ``no_claim_share``, ``omission``, ``slot_accuracy``, and per slot ``factual_hallucination_<slot>``,
    ``omission_<slot>``, ``slot_accuracy_<slot>``)."""
    out: dict[str, Ratio] = {
        "factual_hallucination": factual_hallucination(claims, truth, slots),
        "no_claim_share": no_claim(claims, truth, slots),
        "omission": omission(claims, truth, slots, expect_normal=expect_normal),
        "slot_accuracy": slot_accuracy(claims, truth, slots, expect_normal=expect_normal),
    }
    for slot in slots:
        out[f"factual_hallucination_{slot}"] = slot_hallucination(claims, truth, slot)
        out[f"omission_{slot}"] = omission(claims, truth, (slot,), expect_normal=expect_normal)
        out[f"slot_accuracy_{slot}"] = slot_accuracy(claims, truth, (slot,), expect_normal=expect_normal)
    return out


def ratio_value(ratio: Ratio) -> float | None:
    """``sum(num) / sum(den)``, or None when no clip counts (e.g. no clip claims that slot)."""
    num, den = ratio
    total = float(np.sum(den))
    return float(np.sum(num)) / total if total > 0 else None


def truth_from_references(
    parsed_refs: Sequence[Claims], slots: Sequence[str] = SLOTS
) -> dict[str, str | None]:
    """Truth of a real clip from its references' parsed slots: a slot mentioned by at least one reference and
    given the same bin by every reference that mentions it; ``None`` (unverifiable) otherwise."""
    truth: dict[str, str | None] = {}
    for slot in slots:
        values = {p[slot] for p in parsed_refs if slot in p}
        truth[slot] = values.pop() if len(values) == 1 and CONFLICT not in values else None
    return truth


def truth_from_record(record: Mapping[str, object]) -> dict[str, str | None]:
    """Truth of a corpus clip from its manifest record: ``attributes`` (slot -> bin or None), with ``emotion``
    taken from the record's ``emotion`` field when the attributes lack it and it is a schema bin."""

    attrs = record.get("attributes") or {}
    if not isinstance(attrs, Mapping):
        raise ValueError(
            f"{record.get('id', '?')}: 'attributes' must be a mapping, got {type(attrs).__name__}"
        )
    truth: dict[str, str | None] = {s: attrs.get(s) for s in SLOTS}
    emotion = record.get("emotion")
    if truth["emotion"] is None and emotion in SLOT_BINS["emotion"]:
        truth["emotion"] = str(emotion)
    return truth


#: The value a caption's claim takes when the parser reports two bins for one slot ("high ... low"): it equals
#: no bin, so it counts as mentioned (not omitted), as a contradicting claim and never as correct; in a
#: reference it makes the slot unverifiable.
CONFLICT = "<conflict>"


@functools.lru_cache(maxsize=200_000)
def _parse_cached(text: str, lang: str):  # noqa: ANN202 (the parser's ClueParse, imported lazily)
    """One parse per unique caption: corpus references and model outputs repeat, and parsing costs
    tens of milliseconds per caption."""

    return parse_caption(text, lang)


def parse_claims(captions: Sequence[str], lang: str) -> tuple[list[dict[str, str]], list[tuple[str, ...]]]:
    """Parse captions with the clue parser (imported here so the rules above stay usable without it).

    Returns (claims per caption: slots plus conflicted slots as :data:`CONFLICT`, descriptors per caption).
    """
    parsed = [_parse_cached(text, lang) for text in captions]
    claims = [
        {**dict(p.slots), **{slot: CONFLICT for slot, _ in getattr(p, "conflicts", ())}} for p in parsed
    ]
    return claims, [tuple(p.descriptors) for p in parsed]


def slot_ratios(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    lang: str,
    records: Sequence[Mapping[str, object]] | None = None,
    *,
    expect_normal: bool = False,
) -> tuple[dict[str, Ratio], list[int]]:
    """Parse ``hyps`` (and, without manifest attributes, ``refs``) and compute :func:`hallucination_ratios`.

    Truth: the records' ``attributes`` when any record has them (synthetic corpus), else the references'
    parsed clues. Also returns the clue count (slots + descriptors) per hypothesis, for ``not_descriptive``.
    """
    claims, descriptors = parse_claims(hyps, lang)
    n_clues = [len(c) + len(d) for c, d in zip(claims, descriptors, strict=True)]
    if records is not None and any(r.get("attributes") for r in records):
        truth = [truth_from_record(r) for r in records]
    else:
        parsed, _ = parse_claims([r for rs in refs for r in rs], lang)
        it = iter(parsed)
        truth = [truth_from_references([next(it) for _ in rs]) for rs in refs]
    return hallucination_ratios(claims, truth, expect_normal=expect_normal), n_clues


def _check(claims: Sequence[Claims], truth: Sequence[Truth]) -> None:
    if len(claims) != len(truth):
        raise ValueError(f"claims and truth must be aligned per clip: {len(claims)} vs {len(truth)}")
