"""Preference judges of PO-Regularization: (caption, clip) -> a score in [0, 1] with a per-criterion breakdown.

AlignCap scores sampled captions with GPT-3.5 and turns the scores into DPO preference pairs. The criteria the
paper targets are its two hallucination types plus closeness to human captions; every judge here scores the
same three, each in [0, 1]:

- ``factuality``: do the emotion and voice attributes the caption states agree with the clip?
- ``faithfulness``: does the caption follow the instruction (describe the voice, in the requested language)?
- ``similarity``: how close in meaning is it to the clip's reference captions?

Judges: :class:`RubricJudge` (default, offline, below) and :class:`~aligncap_lib.preference.llm_judge.LLMJudge` (any
OpenAI-compatible chat endpoint). A judge may know only what exists for an unlabelled clip
(:class:`ClipContext`): clues *measured* from the audio by :mod:`aligncap_lib.clues.acoustic_analyzer`, references,
transcript; never the corpus ground truth, which stays with evaluation (:mod:`aligncap_lib.preference.judge_checks`
measures how often a judge's preference agrees with it). Human preferences, the file a lab fills in instead of
a judge, are read by :mod:`aligncap_lib.preference.human_preferences`.

Rubric judge formulas (``NEUTRAL`` = 0.5; C = the caption's parsed claims, a slot claimed with two bins counts
as one wrong claim; M = the measured clues that are not None):

- precision = (claims in C that equal M) / (claims in C about a slot in M); NEUTRAL when C claims nothing
  verifiable (we cannot tell right from wrong, so neither reward nor punish).
- coverage = (expected slots of M that C states with the measured bin) / (expected slots of M), where the
  expected slots are those of M whose bin is not unmarked (``normal``, ``steady``; ``expect_normal=False``, as in
  :mod:`aligncap_lib.evaluation.hallucination`: people leave the unremarkable unsaid) plus the emotion, always; NEUTRAL
  when nothing is expected (equal for every caption of the clip, so no ranking changes).
- factuality = (1 - ``coverage_weight``) * precision + ``coverage_weight`` * coverage, ``coverage_weight`` = 0.5.
  Why both: precision alone rewards saying nothing (a silent caption cannot be wrong), and a judge that rewards
  silence teaches the captioner silence. With 0.5: a wrong claim (0.0) < silence (0.25) < one right claim of
  four expected (0.625) < all four right (1.0).
- faithfulness = 0.5 ** (number of :func:`aligncap_lib.evaluation.faithfulness.violations`, plus 1 when the caption
  repeats a slot phrase or a clause: :func:`aligncap_lib.evaluation.repetition.repeats`): 1.0 with none; each
  violation halves it (one broken rule is already a caption the instruction did not ask for; a caption that says
  one thing twice is not the one sentence asked for).
- similarity = max(0, mean cosine to the references) under the sentence encoder
  (:func:`aligncap_lib.evaluation.similarity.default_encoder`; a negative cosine is as unrelated as zero). Without
  references it is NEUTRAL in the breakdown and left out of the score (weights renormalised).
- score = the weighted mean of the breakdown, weights :data:`DEFAULT_WEIGHTS` (normalised to sum 1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from aligncap_lib.core.attributes import SLOTS, is_unmarked, validate_slot
from aligncap_lib.core.manifest import LANGS
from aligncap_lib.evaluation.faithfulness import FaithfulnessThresholds, violations
from aligncap_lib.evaluation.hallucination import parse_claims
from aligncap_lib.evaluation.repetition import repeats
from aligncap_lib.evaluation.similarity import default_encoder

__all__ = ["CRITERIA", "DEFAULT_WEIGHTS", "NEUTRAL", "ClipContext", "Judge", "JudgeScore", "RubricJudge"]

CRITERIA: tuple[str, ...] = ("factuality", "faithfulness", "similarity")
#: The value of a criterion that cannot be measured for a clip (see the module docstring).
NEUTRAL = 0.5
#: Our choice (the paper gives none): factuality carries half, because removing wrong emotion/attribute claims
#: is PO's first aim; faithfulness 0.3, the second hallucination type; similarity 0.2, a style anchor only: a
#: caption with the wrong emotion word can be very similar to the references, so it must not dominate.
DEFAULT_WEIGHTS: Mapping[str, float] = {"factuality": 0.5, "faithfulness": 0.3, "similarity": 0.2}


@dataclasses.dataclass(frozen=True)
class ClipContext:
    """What a judge may know about a clip: ``measured`` = acoustic-analyzer clues (slot -> bin or None), never the
    corpus ground truth; ``references`` = reference captions (for similarity); ``transcript`` (copy check)."""

    id: str
    lang: str  # "en" | "zh"
    measured: Mapping[str, str | None]
    references: tuple[str, ...]
    transcript: str | None = None

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise ValueError(f"clip {self.id!r}: unknown language {self.lang!r}; choose one of {LANGS}")
        for slot, value in self.measured.items():
            try:
                validate_slot(slot, value)
            except ValueError as exc:
                raise ValueError(f"clip {self.id!r}: measured clues: {exc}") from None
        refs = tuple(self.references)
        if not all(isinstance(r, str) for r in refs):
            raise ValueError(f"clip {self.id!r}: references must be strings, got {refs!r}")
        object.__setattr__(self, "references", refs)


@dataclasses.dataclass(frozen=True)
class JudgeScore:
    """One judged caption: ``score`` (overall, higher is better, in [0, 1]), ``breakdown`` (criterion ->
    [0, 1]; the rubric's criteria are :data:`CRITERIA`) and ``contradicted``: the slots whose stated bin
    contradicts the clip's clues (the rubric fills it; a judge that cannot say leaves it empty)."""

    score: float
    breakdown: dict[str, float]
    contradicted: tuple[str, ...] = ()


@runtime_checkable
class Judge(Protocol):
    """A judge scores a batch of (caption, clip) items; ``score_many`` returns one score per item, in order."""

    name: str

    def score_many(self, items: Sequence[tuple[str, ClipContext]]) -> list[JudgeScore]: ...


def check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Validated weights over :data:`CRITERIA` (unnamed criteria weigh 0), normalised to sum 1."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = sorted(set(w) - set(CRITERIA))
    if unknown:
        raise ValueError(f"unknown judge criteria {unknown}; known: {CRITERIA}")
    bad = {k: v for k, v in w.items() if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(f"judge weights must be finite and >= 0, got {bad}")
    total = sum(w.values())
    if total <= 0:
        raise ValueError(f"judge weights must not all be zero, got {w}")
    return {c: float(w.get(c, 0.0)) / total for c in CRITERIA}


def combine(breakdown: Mapping[str, float], weights: Mapping[str, float], used: Sequence[str]) -> float:
    """Weighted mean of ``breakdown`` over the ``used`` criteria (weights renormalised; NEUTRAL if they are 0)."""
    total = sum(weights[c] for c in used)
    if total <= 0:
        return NEUTRAL
    return float(min(1.0, max(0.0, sum(weights[c] * breakdown[c] for c in used) / total)))


def check_items(items: Sequence[tuple[str, ClipContext]]) -> None:
    """Raise ValueError naming the first malformed (caption, context) item."""
    for i, item in enumerate(items):
        if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[1], ClipContext)):
            raise ValueError(f"judge item {i}: expected (caption, ClipContext), got {type(item).__name__}")
        if not isinstance(item[0], str):
            raise ValueError(
                f"judge item {i} (clip {item[1].id!r}): caption must be a string, got {item[0]!r}"
            )


def factuality(
    claims: Mapping[str, str],
    measured: Mapping[str, str | None],
    *,
    expect_normal: bool = False,
    coverage_weight: float = 0.5,
) -> float:
    """Factuality of parsed ``claims`` against ``measured`` clues (formula: module docstring), in [0, 1]."""
    known = {s: v for s, v in measured.items() if v is not None}
    checked = [s for s in claims if s in known]
    precision = sum(claims[s] == known[s] for s in checked) / len(checked) if checked else NEUTRAL
    # emotion is always expected: "neutral" is a statement, and no emotion bin is called "normal"
    expected = [s for s in SLOTS if s in known and (expect_normal or not is_unmarked(s, known[s]))]
    coverage = sum(claims.get(s) == known[s] for s in expected) / len(expected) if expected else NEUTRAL
    return (1.0 - coverage_weight) * precision + coverage_weight * coverage


class RubricJudge:
    """The offline rubric judge (formulas and weights: module docstring).

    ``encoder``: anything with ``encode(texts) -> float [N, D]`` (unit-norm rows); None uses
    :func:`aligncap_lib.evaluation.similarity.default_encoder` (loaded on first use, only when some clip has references).
    """

    name = "rubric"

    def __init__(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        encoder: Any = None,
        expect_normal: bool = False,
        coverage_weight: float = 0.5,
        thresholds: FaithfulnessThresholds | None = None,
    ) -> None:
        if not 0.0 <= coverage_weight <= 1.0:
            raise ValueError(f"coverage_weight must be in [0, 1], got {coverage_weight}")
        self.weights = check_weights(weights)
        self.encoder = encoder
        self.expect_normal = expect_normal
        self.coverage_weight = coverage_weight
        self.thresholds = thresholds or FaithfulnessThresholds()

    def _similarities(self, items: Sequence[tuple[str, ClipContext]]) -> list[float | None]:
        """Per item: mean cosine to its references (None without references); one batched encode call."""
        texts = sorted({t for cap, ctx in items if ctx.references for t in (cap, *ctx.references)})
        if not texts:
            return [None] * len(items)
        if self.encoder is None:
            self.encoder = default_encoder()
        vecs = np.asarray(self.encoder.encode(texts), dtype=np.float64)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        row = {t: i for i, t in enumerate(texts)}
        out: list[float | None] = []
        for cap, ctx in items:
            if not ctx.references:
                out.append(None)
                continue
            refs = vecs[[row[r] for r in ctx.references]]
            out.append(float(np.mean(refs @ vecs[row[cap]])))
        return out

    def score_many(self, items: Sequence[tuple[str, ClipContext]]) -> list[JudgeScore]:
        """Score ``items`` [(caption, context)] -> one :class:`JudgeScore` per item, in order."""
        check_items(items)
        claims: list[dict[str, str] | None] = [None] * len(items)
        n_clues: list[int] = [0] * len(items)
        for lang in LANGS:  # the parser reads one language per call
            idx = [i for i, (_, ctx) in enumerate(items) if ctx.lang == lang]
            if not idx:
                continue
            parsed, descriptors = parse_claims([items[i][0] for i in idx], lang)
            for i, pc, d in zip(idx, parsed, descriptors, strict=True):
                claims[i], n_clues[i] = pc, len(pc) + len(d)
        sims = self._similarities(items)
        out = []
        for (cap, ctx), c, n, sim in zip(items, claims, n_clues, sims, strict=True):
            assert c is not None
            flags = violations(cap, ctx.lang, self.thresholds, transcript=ctx.transcript, n_clues=n)
            breakdown = {
                "factuality": factuality(
                    c, ctx.measured, expect_normal=self.expect_normal, coverage_weight=self.coverage_weight
                ),
                "faithfulness": 0.5 ** (sum(flags.values()) + repeats(cap, ctx.lang)),
                "similarity": NEUTRAL if sim is None else min(1.0, max(0.0, sim)),
            }
            used = CRITERIA if sim is not None else ("factuality", "faithfulness")
            wrong = tuple(sorted(s for s, v in c.items() if ctx.measured.get(s) not in (None, v)))
            out.append(JudgeScore(combine(breakdown, self.weights, used), breakdown, wrong))
        return out
