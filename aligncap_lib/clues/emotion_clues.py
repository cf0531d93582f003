"""Emotional clues (the paper's stage 2): caption text -> slots, and clues -> the acoustic prompt.

AlignCap feeds the LLM an *acoustic prompt* of emotional clues (pitch, rate, energy, ...) that an emotion
grammar parser extracts from captions. The paper publishes no parser; ours is a priority grammar over
lexicon-typed tokens (:mod:`aligncap_lib.clues.clue_grammar`, lexicons in ``data/lexicon_{en,zh}.yaml``) that maps
a caption to the shared slot schema of :mod:`aligncap_lib.core.attributes`. The API is small and pure:
``parse_caption(text, lang).slots`` / ``.descriptors`` (used by the hallucination metrics and the judge).

Rules (evaluation depends on them; docs/method.md copies them):

- **Absent is absent.** A slot the caption does not mention is not in ``slots``; nothing is guessed (no
  "calm" from "slow", no emotion from pitch).
- **Degree keeps the value.** "slightly fast", "有点快", "very loud", "非常激动" claim the same bin as the bare
  word: the bins are thirds of the range, and a listener says "slightly fast" of a clip above the middle.
- **Hedges keep the value.** "maybe sad", "似乎很紧张" claim the bin (captions hedge by habit, not by doubt).
- **Negation (rule N).** A negated *extreme* of an ordinal slot means the middle bin: "not loud", "语速不快",
  "not too fast", "不高" -> normal ("neither fast nor slow", "不快也不慢" agree on normal). A speaker who means
  the opposite extreme names it ("quiet"). A negated emotion, voice quality or middle bin ("not angry",
  "不太高兴", "not steady") claims nothing and becomes a descriptor ("not angry", "不太高兴"). Lexicalised
  negatives are entries of their own: 不满 (angry), 不安 (fearful), 不稳 (trembling), 没有起伏 (flat),
  "no emotion" (neutral). A leading negation distributes over "or"/"nor"/也-coordination ("not loud or fast"),
  and crosses a verb of speaking ("isn't speaking fast", "does not speak loudly" -> normal).
- **Contours (rule C).** Rising/falling words ("rising intonation", 语调上扬, 渐高, 下降) are descriptors,
  canonicalised to "rising intonation"/"falling intonation" (EN) and 语调上扬/语调下降 (ZH): one rise can sit at
  any level and in a narrow or wide range, so it is evidence for neither ``pitch_level`` nor
  ``pitch_variation``. Words about the *extent* of movement do claim pitch variation (抑扬顿挫, 起伏大, "expressive"
  -> varied; 平淡, 没有起伏, "monotone" -> flat); 高扬/高亢 (raised high) claim ``pitch_level=high``.
- **Context decides ambiguous words.** 高/high, 低/low, 大/小, 平淡/flat read through the noun they describe
  (the noun of the phrase, else the nearest noun before it in the clause): 声音高 / "high voice" -> pitch
  high, 音量低 / "low volume" -> soft, 语速高 -> fast, 语调平淡 -> flat variation, 语气平淡 -> neutral emotion.
- **Conflicts are reported, not merged.** When one caption claims two bins of one slot ("high ... low",
  "惊讶与欣喜"), the slot is *left out* of ``slots`` and listed in ``conflicts`` with its values in reading
  order: no single bin is the caption's claim, and a metric that needs every claim reads ``conflicts``.
  Repeating one bin ("伤心难过") is no conflict.
- **Emotion words.** 生气/愤怒/气愤/恼怒/不满 -> angry; 伤心/悲伤/难过/失落 -> sad; 开心/高兴/喜悦/欢喜/兴奋 ->
  happy; 害怕/恐惧/紧张/担心 -> fearful; 惊讶/吃惊/震惊 -> surprised; 平静/平淡/冷静 -> neutral. 激动, 着急,
  疑惑/好奇 (puzzlement), 厌恶/不屑 (disgust, contempt) are descriptors: the schema has no bin for them and
  they go with several emotions. English: excited -> happy, nervous/anxious/worried -> fearful.

Clue sources for the acoustic prompt (:func:`acoustic_prompt`, :class:`CluesConfig`): ``caption`` (parsed
from a reference caption: privileged information, used by the text teacher, which during training sees the
clip's description), ``acoustic`` (measured from the audio by :mod:`aligncap_lib.clues.acoustic_analyzer`: the only
source that exists at inference), ``none`` (no clues:
the ablation baseline). The default design gives the student no clue prompt at all (it hears speech, the caption's
clues reach it through KD only); ``acoustic`` is the ``analyzer_clues`` extension's input and the PO judge's
(:mod:`aligncap_lib.captioner.variants`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from aligncap_lib.clues import acoustic_analyzer
from aligncap_lib.clues.clue_grammar import parse_claims
from aligncap_lib.core.attributes import SLOT_BINS, SLOTS, validate_slot
from aligncap_lib.core.manifest import LANGS
from aligncap_lib.core.presets import StageConfig

CLUE_SOURCES: tuple[str, ...] = ("caption", "acoustic", "none")


@dataclass(frozen=True)
class ClueParse:
    """The parse of one caption: ``slots`` (slot -> bin, only slots the caption mentions without conflict, in
    the caption's reading order), ``descriptors`` (free emotional words, in reading order, deduplicated) and
    ``conflicts`` ((slot, (bin, bin, ...)) for slots claimed with two or more bins; such slots are not in
    ``slots``).

    Why reading order: the text teacher's clue prompt lists a caption's clues in this order, so the tiny LM can
    state them in the order given instead of tracking which ones it has said (measured on the cpu corpus: valid
    gate 0.869 with the fixed slot order, 0.896 with reading order; docs/engineering.md, "How the text teacher was made to pass its gate")."""

    text: str
    lang: str
    slots: dict[str, str]
    descriptors: tuple[str, ...]
    conflicts: tuple[tuple[str, tuple[str, ...]], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "slots": dict(self.slots),
            "descriptors": list(self.descriptors),
            "conflicts": [{"slot": s, "values": list(v)} for s, v in self.conflicts],
        }


def parse_caption(text: str, lang: str) -> ClueParse:
    """Parse one caption (``lang`` "en" | "zh") into slots, descriptors and conflicts (rules: module doc)."""
    if not isinstance(text, str):
        raise ValueError(f"caption must be a string, got {type(text).__name__}: {text!r}")
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r} for caption {text[:40]!r}; choose one of {LANGS}")
    claimed: dict[str, list[str]] = {}
    descriptors: list[str] = []
    for c in parse_claims(text, lang):
        if c.slot:
            values = claimed.setdefault(c.slot, [])
            if c.value not in values:
                values.append(c.value)
        elif c.descriptor and c.descriptor not in descriptors:
            descriptors.append(c.descriptor)
    slots = {s: v[0] for s, v in claimed.items() if len(v) == 1}  # reading order (ClueParse)
    conflicts = tuple((s, tuple(claimed[s])) for s in SLOTS if len(claimed.get(s, [])) > 1)
    return ClueParse(text, lang, slots, tuple(descriptors), conflicts)


def slot_prf(
    predicted: Sequence[Mapping[str, str | None]],
    gold: Sequence[Mapping[str, str | None]],
    slots: Sequence[str] = SLOTS,
) -> dict[str, dict[str, float]]:
    """Per-slot precision, recall, F1 of slot filling, plus ``"micro"`` over all slots.

    Per item and slot: a predicted bin equal to the gold bin is a true positive; a predicted bin where the
    gold has another bin or none is a false positive; a gold bin not predicted exactly is a false negative
    (a wrong bin counts as both). ``None`` values count as absent. Scores are 0.0 with no support, and
    ``n_pred``/``n_gold`` give the counts.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"slot_prf: {len(predicted)} predictions for {len(gold)} gold items")
    counts = {s: [0, 0, 0] for s in slots}  # tp, n_pred, n_gold
    for p, g in zip(predicted, gold, strict=True):
        for s in slots:
            pv, gv = p.get(s), g.get(s)
            counts[s][0] += int(pv is not None and pv == gv)
            counts[s][1] += int(pv is not None)
            counts[s][2] += int(gv is not None)
    counts["micro"] = [sum(c[i] for c in counts.values()) for i in range(3)]
    out: dict[str, dict[str, float]] = {}
    for s, (tp, n_pred, n_gold) in counts.items():
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_gold if n_gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[s] = {"precision": prec, "recall": rec, "f1": f1, "n_pred": n_pred, "n_gold": n_gold}
    return out


#: How each slot bin reads in the prompt, per language (schema order; the middle bins are said explicitly
#: because "normal" is information too).
PROMPT_WORDS: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "en": {
        "pitch_level": {"low": "low pitch", "normal": "medium pitch", "high": "high pitch"},
        "pitch_variation": {
            "flat": "flat intonation",
            "normal": "normal intonation",
            "varied": "varied intonation",
        },
        "rate": {
            "slow": "slow speaking rate",
            "normal": "normal speaking rate",
            "fast": "fast speaking rate",
        },
        "loudness": {"soft": "soft volume", "normal": "normal volume", "loud": "loud volume"},
        "voice_quality": {
            "steady": "steady voice",
            "trembling": "trembling voice",
            "breathy": "breathy voice",
        },
        "emotion": {e: f"sounds {e}" for e in SLOT_BINS["emotion"]},
    },
    "zh": {
        "pitch_level": {"low": "音调低", "normal": "音调适中", "high": "音调高"},
        "pitch_variation": {"flat": "语调平淡", "normal": "语调正常", "varied": "语调起伏大"},
        "rate": {"slow": "语速慢", "normal": "语速适中", "fast": "语速快"},
        "loudness": {"soft": "音量小", "normal": "音量适中", "loud": "音量大"},
        "voice_quality": {"steady": "声音平稳", "trembling": "声音颤抖", "breathy": "声音带气声"},
        "emotion": {
            "neutral": "情绪平静",
            "happy": "情绪开心",
            "sad": "情绪悲伤",
            "angry": "情绪生气",
            "fearful": "情绪害怕",
            "surprised": "情绪惊讶",
        },
    },
}
PROMPT_FRAME: Mapping[str, tuple[str, str, str]] = {  # prefix, joiner, empty
    "en": ("Acoustic clues: ", ", ", "none"),
    "zh": ("声学线索：", "，", "无"),
}


def acoustic_prompt(clues: Mapping[str, str | None], lang: str) -> str:
    """The acoustic prompt text for ``clues`` (slot -> bin or None; None and missing slots are left out), in
    the order given: a caption's parsed clues in reading order (:class:`ClueParse`), measured clues in slot order.

    >>> acoustic_prompt({"pitch_level": "high", "rate": "fast", "emotion": None}, "en")
    'Acoustic clues: high pitch, fast speaking rate.'
    """
    if lang not in PROMPT_FRAME:
        raise ValueError(f"unknown prompt language {lang!r}; choose one of {LANGS}")
    for slot, value in clues.items():
        validate_slot(slot, value)
    prefix, joiner, empty = PROMPT_FRAME[lang]
    parts = [PROMPT_WORDS[lang][s][v] for s, v in clues.items() if v is not None]
    end = "." if lang == "en" else "。"
    return prefix + (joiner.join(parts) if parts else empty) + end


def select_clues(
    source: str,
    *,
    caption: str | None = None,
    lang: str = "en",
    measured: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """The clues of one clip from ``source``: parsed ``caption``, ``measured`` slots, or none."""
    if source == "caption":
        if caption is None:
            raise ValueError("clue source 'caption' needs a caption")
        return dict(parse_caption(caption, lang).slots)
    if source == "acoustic":
        if measured is None:
            raise ValueError("clue source 'acoustic' needs measured slots (acoustic_analyzer)")
        return dict(measured)
    if source == "none":
        return {}
    raise ValueError(f"unknown clue source {source!r}; choose one of {CLUE_SOURCES}")


@dataclass(frozen=True)
class CluesConfig(StageConfig):
    """Clue stage: which source each consumer uses, and the acoustic analyzer's fitting knobs."""

    stage: ClassVar[str] = "clues"
    #: The text teacher sees clues parsed from the reference caption (privileged information in training).
    teacher_source: str = "caption"
    #: The speech student sees measured clues: the only kind that exists at inference.
    student_source: str = "acoustic"
    #: Emotion classifier of the analyzer: L2 inverse strength of the logistic regression (sklearn default).
    emotion_c: float = 1.0
    #: Clips of one speaker needed before its own baseline replaces the population norms.
    baseline_min_clips: int = 3

    def validate(self) -> None:
        self._one_of("teacher_source", CLUE_SOURCES)
        self._one_of("student_source", CLUE_SOURCES)
        self._positive("emotion_c", "baseline_min_clips")


# -- command line ----------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="clues_command", metavar="ACTION", required=True)
    p = sub.add_parser("parse", help="parse captions: one JSON object per text")
    p.add_argument("--lang", choices=LANGS, required=True, help="language of the captions")
    p.add_argument(
        "texts", nargs="+", metavar="TEXT", help="caption text(s); '-' reads one per line from stdin"
    )
    acoustic_analyzer.add_arguments(sub)


def run(args: argparse.Namespace) -> int:
    if args.clues_command == "parse":
        texts = [line.rstrip("\n") for line in sys.stdin] if args.texts == ["-"] else args.texts
        for text in texts:
            print(json.dumps(parse_caption(text, args.lang).to_json(), ensure_ascii=False))
        return 0
    return int(acoustic_analyzer.run(args))
