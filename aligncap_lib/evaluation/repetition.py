"""The ``repetition`` metric: the share of captions that say something twice.

A caption *repeats* when

- it repeats a slot phrase: two claims of the same slot with the same words, as the clue parser reads them
  ("a moderate pace and a moderate pace", "语速较快，……语速较快"; not "悲伤难过", two emotion words); or
- English: some word 3-gram (lower-cased ``\\w+`` words) occurs twice ("a low volume, ..., a low volume");
- Chinese: some clause (text between the punctuation marks of :data:`ZH_CLAUSE_MARKS`) occurs twice
  ("语速较快，语速较快，情绪中透露出喜悦"). Characters are not counted as n-grams: short words such as 声音
  or 语调 legitimately recur across slot phrases.

Reference captions never repeat by construction (each slot is stated once; the test below checks every corpus
caption). The faithfulness rule ``degenerate_repetition`` is narrower (the same n-gram three times in a row):
it flags a broken decoder, this metric flags the loops of a working one.
"""

from __future__ import annotations

import re
from collections import Counter

from aligncap_lib.clues.clue_grammar import parse_claims

#: Clause boundaries of Chinese captions (full- and half-width).
ZH_CLAUSE_MARKS = "，。；！？、,.;!?：:"
_EN_WORD = re.compile(r"[^\W_]+")
_EN_CLAUSE = re.compile(r"[,.;:!?]")
_ZH_SPLIT = re.compile("[" + re.escape(ZH_CLAUSE_MARKS) + r"\s]+")
REASONS: tuple[str, ...] = ("slot", "ngram", "clause")


def repetition_reason(text: str, lang: str) -> str | None:
    """Why ``text`` repeats (``slot``, ``ngram`` (English) or ``clause`` (Chinese)), or None."""
    if lang not in ("en", "zh"):
        raise ValueError(f"unknown language {lang!r}; allowed: en, zh")
    slots = Counter((c.slot, c.surface) for c in parse_claims(text, lang) if c.slot)
    if any(n > 1 for n in slots.values()):
        return "slot"
    if lang == "en":
        grams: Counter[tuple[str, ...]] = Counter()
        for clause in _EN_CLAUSE.split(text):
            words = [w.lower() for w in _EN_WORD.findall(clause)]
            grams.update(tuple(words[i : i + 3]) for i in range(len(words) - 2))
        return "ngram" if any(n > 1 for n in grams.values()) else None
    clauses = Counter(c for c in _ZH_SPLIT.split(text) if c)
    return "clause" if any(n > 1 for n in clauses.values()) else None


def repeats(text: str, lang: str) -> bool:
    """True when ``text`` repeats a slot phrase,  a word 3-gram (English) or a clause (Chinese)."""
    return repetition_reason(text, lang) is not None
