"""The variant table in code, and the examples each variant trains and is evaluated on.

The design is learning with privileged information (AlignCap's abstract: the emotion grammar parser extracts
clues from *captions*, which enrich the prompt *under KD-Regularization*): clues parsed from a reference caption
exist only at training time, so only the text teacher reads them; the student hears speech.

| variant | student input (train and inference) | KD teacher input | stages |
|---|---|---|---|
| ``trivial_random`` | - | - | floor: a random ``train`` caption of the same language |
| ``trivial_majority`` | - | - | floor: the most frequent ``train`` caption |
| ``content_oracle`` | - | - | range row: a fresh training-phrasing caption of the clip's true content |
| ``wrong_content`` | - | - | range row: the same for another clip of the same split and language |
| ``acoustic_template`` | - | - | deployment-realistic analyzer clues -> a caption template, no LM |
| ``baseline_sft`` | speech tokens | - | SFT (CE) |
| ``no_po`` | speech tokens | transcript + caption clues | SFT+KD (the full system before PO) |
| ``aligncap_full`` | speech tokens | transcript + caption clues | SFT+KD -> PO |
| ``no_kd`` | speech tokens | - | SFT -> PO |
| ``no_clues`` | speech tokens | transcript only | SFT+KD -> PO |
| ``analyzer_clues`` (extension) | speech + deployment-realistic analyzer clues, per-slot dropout | transcript + caption clues | SFT+KD |

Range rows (``kind="range"``): a metric's reach on these references. ``content_oracle`` says everything right in
the references' phrasing without being one of them (:func:`aligncap_lib.corpus.reference_captions.oracle_caption`);
``wrong_content`` is as fluent and says another clip's content. A system near ``content_oracle`` is as good as the
metric can tell; one near ``wrong_content`` gets no credit for content. Both read the corpus truth: they are
bounds, never systems.

Control ``shuffled_speech``: the ``aligncap_full`` model (after PO) evaluated with another clip's speech units
(same language): what the captioner says without hearing the clip. Shared stages: a stage is trained once and
read by every variant naming it in ``shares`` (``aligncap_full``'s KD checkpoint *is* ``no_po``'s, ``no_kd``'s SFT
checkpoint *is* ``baseline_sft``'s). "SFT+KD" is one training with loss CE + lambda * KD (stage ``kd``).

``analyzer_clues`` reads what ``aligncap caption`` can measure on unknown audio
(:func:`aligncap_lib.captioner.inputs.deployment_clues`: speaking rate blind, population norms), never the
caption's clues; in training each slot is dropped with probability ``clue_dropout`` (0.5) so that it must
also listen (:func:`drop_clues`).
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
    """One row of the table. ``student_clues``: the student's prompt carries deployment-realistic analyzer clues
    (never clues parsed from a caption). ``teacher``: None (no KD), ``transcript`` or ``transcript+clues``.
    ``stages``: trained stages in order (``sft``, ``kd``, ``po``). ``shares``: stage -> variant whose checkpoint
    of that stage this variant uses. ``evaluates``: a control's ``(variant, stage)`` read with moved inputs.
    ``role``: the row's place in the table (``floor``, ``range``, ``baseline``, ``system``, ``ablation``,
    ``control``, ``extension``)."""

    name: str
    kind: str  # "trivial" | "range" | "template" | "lm" | "control"
    role: str = "system"
    student_clues: bool = False
    teacher: str | None = None
    stages: tuple[str, ...] = ()
    shares: Mapping[str, str] = dataclasses.field(default_factory=dict)
    evaluates: tuple[str, str] | None = None  # control: the (variant, stage) whose model is evaluated

    def owner(self, stage: str) -> str:
        """The variant whose folder holds this variant's ``stage`` checkpoint."""
        if stage not in self.stages:
            raise ValueError(f"variant {self.name!r} has no stage {stage!r} (stages: {self.stages})")
        return self.shares.get(stage, self.name)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("trivial_random", "trivial", "floor"),
        Variant("trivial_majority", "trivial", "floor"),
        Variant("content_oracle", "range", "range"),
        Variant("wrong_content", "range", "range"),
        Variant("acoustic_template", "template", "baseline"),
        Variant("baseline_sft", "lm", "baseline", stages=("sft",)),
        Variant("no_po", "lm", "ablation", teacher="transcript+clues", stages=("kd",)),
        Variant("aligncap_full", "lm", "system", teacher="transcript+clues", stages=("kd", "po"),
                shares={"kd": "no_po"}),
        Variant("no_kd", "lm", "ablation", stages=("sft", "po"), shares={"sft": "baseline_sft"}),
        Variant("no_clues", "lm", "ablation", teacher="transcript", stages=("kd", "po")),
        Variant("shuffled_speech", "control", "control", evaluates=("aligncap_full", "po")),
        Variant("analyzer_clues", "lm", "extension", student_clues=True, teacher="transcript+clues",
                stages=("kd",)),
    )
}  # fmt: skip
#: The order of the README table and the summary.
VARIANT_ORDER: tuple[str, ...] = tuple(VARIANTS)


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def drop_clues(
    clues: Mapping[str, str | None], p: float, seed: int, clip_id: str, k: int = 0
) -> dict[str, str | None]:
    """``clues`` with each slot left out with probability ``p`` (the ``analyzer_clues`` student's clue dropout),
    in slot order. Seeded per (``seed``, clip id, ``k``: the caption index), so a clip's mask does not depend on
    which other clips are drawn."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"clue dropout must be in [0, 1], got {p}")
    if p == 0.0:
        return dict(clues)
    rng = np.random.default_rng([seed, zlib.crc32(str(clip_id).encode("utf-8")), k, STREAMS["dropout"]])
    keep = rng.random(len(clues)) >= p
    return {s: v for (s, v), kept in zip(clues.items(), keep, strict=True) if kept}


def clip_examples(
    records: Sequence[Mapping[str, Any]],
    variant: Variant,
    *,
    units: Mapping[str, str],
    measured: Mapping[str, Mapping[str, str | None]],
    captions_per_clip: int,
    teacher: str | None = "variant",
    parse: Any = None,
    clue_dropout: float = 0.0,
    seed: int = 0,
) -> list[CaptionExample]:
    """One example per (clip, reference caption), at most ``captions_per_clip`` per clip, in record order.

    Privileged information: the teacher's clues are the clues parsed from *that* reference caption (training
    only) when ``variant.teacher == "transcript+clues"``, none for ``"transcript"``; the student never reads
    them. The student's clues (``variant.student_clues`` only) are ``measured[id]``, the deployment-realistic
    analyzer clues (:func:`aligncap_lib.captioner.inputs.deployment_clues`), in slot order, each slot dropped
    with probability ``clue_dropout`` (:func:`drop_clues`, seeded by ``seed``, clip and caption index).
    ``parse`` (default :func:`aligncap_lib.clues.emotion_clues.parse_caption`) maps (text, lang) to a parse with
    ``.slots``. ``teacher`` overrides the teacher input (``"variant"``: the variant's own; students trained
    without KD still carry the ``transcript+clues`` view for the logged and measured speech-vs-text KL).
    """
    teacher_input = variant.teacher if teacher == "variant" else teacher
    if teacher_input not in (None, "transcript", "transcript+clues"):
        raise ValueError(f"unknown teacher input {teacher_input!r}; choose transcript or transcript+clues")
    if parse is None:
        parse = parse_caption
    out = []
    for r in records:
        for k, caption in enumerate(r["captions"][:captions_per_clip]):
            teacher_clues = (
                dict(parse(caption, r["lang"]).slots) if teacher_input == "transcript+clues" else None
            )
            student_clues = None
            if variant.student_clues:
                clues = dict(measured.get(r["id"], {}))
                student_clues = drop_clues(clues, clue_dropout, seed, r["id"], k) if clue_dropout else clues
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
