"""Faithfulness to the captioning instruction: rules a caption breaks regardless of the audio.

The instruction is "describe the speaker's emotion and voice, in the requested language". A caption violates
it when any rule below fires; ``faithfulness_violation`` is the share of captions with at least one violation
and ``faithfulness_<rule>`` the share per rule. Thresholds live in :class:`FaithfulnessThresholds` (the
evaluation config copies them) and every rule is a pure function of the caption text (plus the transcript or
the parsed clue count where the rule needs them):

- ``not_descriptive``: the clue parser finds no slot and no free emotional descriptor in the caption.
- ``transcript_copied``: the caption and the clip's transcript share a run of at least ``copy_ngram_en`` words
  (English, lower-cased ``\\w+`` words) or ``copy_ngram_zh`` characters (Chinese, the ``zh_char`` tokens).
- ``wrong_language``: of the caption's script units (a Latin word, or one CJK ideograph, since one ideograph
  carries about as much as one word), fewer than ``min_language_share`` are in the requested script; a
  caption with neither counts as wrong.
- ``too_long``: more than ``max_tokens_en`` words or ``max_tokens_zh`` characters.
- ``degenerate_repetition``: some token n-gram (1 <= n <= ``repeat_max_n``) repeated at least ``repeat_min``
  times in a row ("very very very", "好好好").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from aligncap_lib.evaluation.segmentation import zh_char_tokens

RULES: tuple[str, ...] = (
    "not_descriptive",
    "transcript_copied",
    "wrong_language",
    "too_long",
    "degenerate_repetition",
)

_EN_WORD = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


@dataclasses.dataclass(frozen=True)
class FaithfulnessThresholds:
    """Thresholds of the rules (our choices, see the field comments)."""

    copy_ngram_en: int = 4  # 4 shared words in a row is beyond the chance overlap of a description and a line
    copy_ngram_zh: int = 5  # 5 characters: 2-3 character words ("情绪激动") can appear in both by chance
    min_language_share: float = 0.5  # the majority of letters must be in the requested script
    max_tokens_en: int = 60  # corpus references are 8-30 words; 2x the longest leaves room for detail
    max_tokens_zh: int = 80  # SECap references are 4-42 characters
    repeat_min: int = 3  # the same n-gram three times in a row
    repeat_max_n: int = 4


def caption_tokens(text: str, lang: str) -> list[str]:
    """Tokens the rules count: lower-cased words (English) or ``zh_char`` tokens (Chinese)."""
    return [w.lower() for w in _EN_WORD.findall(text)] if lang == "en" else zh_char_tokens(text)


def not_descriptive(n_clues: int) -> bool:
    """True when the caption mentions no slot and no emotional descriptor (``n_clues`` = slots + descriptors)."""
    return n_clues <= 0


def transcript_copied(text: str, transcript: str | None, lang: str, th: FaithfulnessThresholds) -> bool:
    """True when caption and transcript share a token run of the language's ``copy_ngram`` length."""
    if not transcript:
        return False
    n = th.copy_ngram_en if lang == "en" else th.copy_ngram_zh
    cap, tr = caption_tokens(text, lang), caption_tokens(transcript, lang)
    grams = {tuple(tr[i : i + n]) for i in range(len(tr) - n + 1)}
    return any(tuple(cap[i : i + n]) in grams for i in range(len(cap) - n + 1))


def wrong_language(text: str, lang: str, th: FaithfulnessThresholds) -> bool:
    """True when fewer than ``min_language_share`` of the script units are in the requested script."""
    cjk, latin = len(_CJK.findall(text)), len(_LATIN_WORD.findall(text))
    if cjk + latin == 0:
        return True
    share = (latin if lang == "en" else cjk) / (cjk + latin)
    return share < th.min_language_share


def too_long(text: str, lang: str, th: FaithfulnessThresholds) -> bool:
    """True when the caption has more tokens than the language's limit."""
    return len(caption_tokens(text, lang)) > (th.max_tokens_en if lang == "en" else th.max_tokens_zh)


def degenerate_repetition(text: str, lang: str, th: FaithfulnessThresholds) -> bool:
    """True when an n-gram (n <= ``repeat_max_n``) occurs ``repeat_min`` times back to back."""
    toks = caption_tokens(text, lang)
    for n in range(1, th.repeat_max_n + 1):
        for start in range(len(toks) - n * th.repeat_min + 1):
            gram = toks[start : start + n]
            if all(toks[start + k * n : start + (k + 1) * n] == gram for k in range(1, th.repeat_min)):
                return True
    return False


def violations(
    text: str,
    lang: str,
    th: FaithfulnessThresholds,
    *,
    transcript: str | None = None,
    n_clues: int | None = None,
) -> dict[str, bool]:
    """Every rule for one caption; ``not_descriptive`` is False when ``n_clues`` is unknown (no parser)."""
    return {
        "not_descriptive": n_clues is not None and not_descriptive(n_clues),
        "transcript_copied": transcript_copied(text, transcript, lang, th),
        "wrong_language": wrong_language(text, lang, th),
        "too_long": too_long(text, lang, th),
        "degenerate_repetition": degenerate_repetition(text, lang, th),
    }


def violation_table(
    texts: Sequence[str],
    lang: str,
    th: FaithfulnessThresholds,
    *,
    transcripts: Sequence[str | None] | None = None,
    n_clues: Sequence[int] | None = None,
) -> dict[str, list[bool]]:
    """Rule -> per-caption flags, plus ``any`` (the caption breaks at least one rule)."""
    table: dict[str, list[bool]] = {rule: [] for rule in (*RULES, "any")}
    for i, text in enumerate(texts):
        flags = violations(
            text,
            lang,
            th,
            transcript=transcripts[i] if transcripts is not None else None,
            n_clues=n_clues[i] if n_clues is not None else None,
        )
        for rule, flag in flags.items():
            table[rule].append(flag)
        table["any"].append(any(flags.values()))
    return table
