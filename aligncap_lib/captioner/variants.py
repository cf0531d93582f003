"""The variant table in code, and the examples each variant trains and is evaluated on.

| variant | student input (train and inference) | KD teacher input | stages |
|---|---|---|---|
| ``trivial_random`` | - | - | a random ``train`` caption of the same language |
| ``trivial_majority`` | - | - | the most frequent ``train`` caption |
| ``content_oracle`` | - | - | range row: a fresh training-phrasing caption of the clip's true content |
| ``wrong_content`` | - | - | range row: the same for another clip of the same split and language |
| ``acoustic_template`` | - | - | acoustic analyzer clues -> a caption template, no LM |
| ``baseline_sft`` | speech tokens | - | SFT |
| ``no_kd`` | speech + acoustic clues | - | SFT -> PO |
| ``no_clues`` | speech tokens | transcript only | SFT+KD -> PO |
| ``no_po`` | speech + acoustic clues | transcript + caption clues | SFT+KD (the full system before PO) |
| ``aligncap_full`` | speech + acoustic clues | transcript + caption clues | SFT+KD -> PO |

Range rows (``kind="range"``): a metric's reach on these references. ``content_oracle`` says everything right in
the references' phrasing without being one of them (:func:`aligncap_lib.corpus.reference_captions.oracle_caption`);
``wrong_content`` is as fluent and says another clip's content. A system near ``content_oracle`` is as good as the
metric can tell; one near ``wrong_content`` gets no credit for content. Both read the corpus truth: they are
bounds, never systems.

Control ``shuffled_speech``: the ``no_po`` model evaluated with another clip's speech units (same language).
Shared stages: a stage is trained once and read by every variant naming it in ``shares`` (``aligncap_full``'s
KD checkpoint *is* ``no_po``'s). "SFT+KD" is one training with loss CE + lambda * KD (stage ``kd``).
"""

from __future__ import annotations

import dataclasses
import random
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aligncap_lib.captioner.prompts import CaptionExample
from aligncap_lib.clues.emotion_clues import PROMPT_WORDS, parse_caption
from aligncap_lib.corpus.reference_captions import STREAMS, oracle_caption


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of the table. ``student_clues``: the student's prompt carries acoustic clues. ``teacher``:
    None (no KD), ``transcript`` or ``transcript+clues``. ``stages``: trained stages in order (``sft``, ``kd``,
    ``po``). ``shares``: stage -> variant whose checkpoint of that stage this variant uses."""

    name: str
    kind: str  # "trivial" | "range" | "template" | "lm" | "control"
    student_clues: bool = False
    teacher: str | None = None
    stages: tuple[str, ...] = ()
    shares: Mapping[str, str] = dataclasses.field(default_factory=dict)
    evaluates: str | None = None  # control: the variant whose model is evaluated

    def owner(self, stage: str) -> str:
        """The variant whose folder holds this variant's ``stage`` checkpoint."""
        if stage not in self.stages:
            raise ValueError(f"variant {self.name!r} has no stage {stage!r} (stages: {self.stages})")
        return self.shares.get(stage, self.name)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("trivial_random", "trivial"),
        Variant("trivial_majority", "trivial"),
        Variant("content_oracle", "range"),
        Variant("wrong_content", "range"),
        Variant("acoustic_template", "template"),
        Variant("baseline_sft", "lm", stages=("sft",)),
        Variant("no_kd", "lm", student_clues=True, stages=("sft", "po")),
        Variant("no_clues", "lm", teacher="transcript", stages=("kd", "po")),
        Variant("no_po", "lm", student_clues=True, teacher="transcript+clues", stages=("kd",)),
        Variant(
            "aligncap_full",
            "lm",
            student_clues=True,
            teacher="transcript+clues",
            stages=("kd", "po"),
            shares={"kd": "no_po"},
        ),
        Variant("shuffled_speech", "control", evaluates="no_po"),
    )
}
#: The order of the README table and the summary.
VARIANT_ORDER: tuple[str, ...] = tuple(VARIANTS)


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def clip_examples(
    records: Sequence[Mapping[str, Any]],
    variant: Variant,
    *,
    units: Mapping[str, str],
    measured: Mapping[str, Mapping[str, str | None]],
    captions_per_clip: int,
    teacher: str | None = "variant",
    parse: Any = None,
    student_clue_order: str = "slot",
) -> list[CaptionExample]:
    """One example per (clip, reference caption), at most ``captions_per_clip`` per clip, in record order.

    The student's clues are the clip's measured clues when ``variant.student_clues``; the teacher's are the
    clues parsed from *that* reference caption (privileged information, training only) when
    ``variant.teacher == "transcript+clues"`` and none for ``"transcript"``. ``parse`` (default
    :func:`aligncap_lib.clues.emotion_clues.parse_caption`) maps (text, lang) to a parse with ``.slots``.
    ``teacher`` overrides the teacher input (``"variant"``: the variant's own; students trained without KD
    still carry the ``transcript+clues`` view for the logged and measured speech-vs-text KL).
    ``student_clue_order``: ``"slot"`` (the measured clues in slot order, as at inference) or ``"caption"``
    (training only: the slots in the order that reference caption states them, the others after in slot order,
    as the teacher reads its clues; :class:`aligncap_lib.captioner.model.CaptionerConfig` ``train_clue_order``).
    """
    if student_clue_order not in ("slot", "caption"):
        raise ValueError(f"student_clue_order must be 'slot' or 'caption', got {student_clue_order!r}")
    teacher_input = variant.teacher if teacher == "variant" else teacher
    if parse is None:
        parse = parse_caption
    out = []
    for r in records:
        for caption in r["captions"][:captions_per_clip]:
            stated = (
                parse(caption, r["lang"]).slots
                if teacher_input == "transcript+clues" or student_clue_order == "caption"
                else {}
            )
            teacher_clues = dict(stated) if teacher_input == "transcript+clues" else None
            student_clues = None
            if variant.student_clues:
                clues = measured.get(r["id"], {})
                order = [k for k in stated if k in clues] if student_clue_order == "caption" else []
                student_clues = {k: clues[k] for k in [*order, *(k for k in clues if k not in order)]}
            out.append(
                CaptionExample(
                    id=r["id"],
                    lang=r["lang"],
                    caption=caption,
                    transcript=r["text"],
                    units=units.get(r["id"], ""),
                    student_clues=student_clues,
                    teacher_clues=teacher_clues,
                )
            )
    return out


def derangement(
    records: Sequence[Mapping[str, Any]], seed: int, what: str = "shuffled_speech"
) -> dict[str, str]:
    """id -> the id of another clip of the same language (a seeded derangement within each language)."""
    rng = random.Random(seed)
    out: dict[str, str] = {}
    for lang in sorted({r["lang"] for r in records}):
        ids = [r["id"] for r in records if r["lang"] == lang]
        if len(ids) < 2:
            raise ValueError(f"{what} needs >= 2 clips of language {lang!r}, got {len(ids)}")
        shift = rng.randrange(1, len(ids))  # a rotation of a shuffled order moves every clip
        order = ids[:]
        rng.shuffle(order)
        out.update(dict(zip(order, order[shift:] + order[:shift], strict=True)))
    return out


def shuffled_units(
    records: Sequence[Mapping[str, Any]], units: Mapping[str, str], seed: int
) -> dict[str, str]:
    """id -> the units of another clip of the same language (a seeded derangement within each language)."""
    return {a: units[b] for a, b in derangement(records, seed).items()}


def range_captions(records: Sequence[Mapping[str, Any]], how: str, seed: int) -> dict[str, str]:
    """The range rows' captions. ``content_oracle``: per clip, a training-phrasing caption of its verified
    attributes and emotion that is none of its references; ``wrong_content``: the ``content_oracle`` caption of
    another clip of the same language (pass one split at a time: :func:`derangement`). Seeded per clip id, so
    a clip's caption does not depend on which other clips are scored."""
    if how not in ("content_oracle", "wrong_content"):
        raise ValueError(f"unknown range row {how!r}; choose content_oracle or wrong_content")
    by_id = {str(r["id"]): r for r in records}

    def oracle(r: Mapping[str, Any]) -> str:
        attrs = {k: v for k, v in (r.get("attributes") or {}).items() if k != "emotion"}
        if not r.get("emotion"):
            raise ValueError(f"clip {r['id']!r} has no emotion: the range rows need the corpus truth")
        digest = zlib.crc32(str(r["id"]).encode("utf-8"))
        rng = np.random.default_rng([seed, digest, STREAMS["oracle"]])
        return oracle_caption(attrs, str(r["emotion"]), str(r["lang"]), rng, exclude=r["captions"])

    if how == "content_oracle":
        return {i: oracle(r) for i, r in by_id.items()}
    return {a: oracle(by_id[b]) for a, b in derangement(records, seed, how).items()}


def trivial_captions(
    train: Sequence[Mapping[str, Any]], test: Sequence[Mapping[str, Any]], how: str, seed: int
) -> dict[str, str]:
    """``random``: a random train caption of the same language per test clip (seeded); ``majority``: the most
    frequent train caption of the language (ties: the first seen)."""
    by_lang: dict[str, list[str]] = {}
    for r in train:
        by_lang.setdefault(r["lang"], []).extend(r["captions"])
    rng = random.Random(seed)
    out = {}
    for r in test:
        pool = by_lang.get(r["lang"])
        if not pool:
            raise ValueError(f"no train caption in language {r['lang']!r} for clip {r['id']!r}")
        out[r["id"]] = rng.choice(pool) if how == "random" else Counter(pool).most_common(1)[0][0]
    return out


#: The template of ``acoustic_template`` per language: the clue prompt words in one fixed sentence.
TEMPLATE_FRAME: Mapping[str, tuple[str, str, str]] = {
    "en": ("The speaker talks with ", ", ", "."),
    "zh": ("说话人", "，", "。"),
}


def template_caption(clues: Mapping[str, str | None], lang: str) -> str:
    """``acoustic_template``: measured clues -> one caption with the clue prompt's wording (no LM)."""

    prefix, joiner, end = TEMPLATE_FRAME[lang]
    words = [PROMPT_WORDS[lang][s][v] for s, v in clues.items() if v is not None and s in PROMPT_WORDS[lang]]
    return prefix + joiner.join(words or ["a voice"]) + end
