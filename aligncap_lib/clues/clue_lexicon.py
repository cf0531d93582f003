"""The clue lexicons (``data/lexicon_en.yaml``, ``data/lexicon_zh.yaml``) and the tokenizers that feed the grammar.

A lexicon maps a word (or a multi-word expression) to one :class:`Entry`: a grammar word (negation, degree,
hedge, copula, determiner, link, preposition, coordination), a noun with its class, a *cue* that claims slot
bins, a *contextual* word whose slot depends on the noun it describes, a contour word, or a free descriptor.
The file format is documented in the header of each YAML file; :func:`load_lexicon` checks every slot and bin
against :data:`aligncap_lib.core.attributes.SLOT_BINS` and that no word is filed twice.

English is split into lower-cased word tokens, then multi-word entries are merged (longest first). Chinese
goes through a *private* jieba tokenizer with every entry added to its dictionary (the global ``jieba``
dictionary, which the caption metrics use for jieba-word BLEU, stays untouched); a jieba word that is not an
entry is re-split into entries when that is possible and one of the pieces is a grammar word or noun
(很快 -> 很 / 快, 不快 -> 不 / 快), so degree and negation always reach the grammar as their own tokens.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from aligncap_lib.core.attributes import SLOT_BINS
from aligncap_lib.core.manifest import LANGS

#: Grammar-word sections of ``function:`` and the grammar terminal each becomes.
FUNCTION_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "neg": "NEG",
        "absent": "ABSENT",
        "deg": "DEG",
        "hedge": "HEDGE",
        "cop": "COP",
        "det": "DET",
        "link": "LINK",
        "prep": "PREP",
        "or": "OR",
        "and": "AND",
    }
)
#: Noun classes a contextual word can be resolved against (``default`` is used when no noun is in scope).
NOUN_CLASSES: tuple[str, ...] = (
    "pitch",
    "intonation",
    "rate",
    "loudness",
    "voice",
    "emotion",
    "manner",
    "speech",
)
#: Canonical descriptors emitted for contour words, per language.
CONTOUR_DESCRIPTORS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "en": {"rising": "rising intonation", "falling": "falling intonation"},
        "zh": {"rising": "语调上扬", "falling": "语调下降"},
    }
)
#: Clause separators (punctuation) in both languages.
SEPARATORS = frozenset(',.;:!?，。；：！？、…\n()（）"“”')


@dataclass(frozen=True)
class Entry:
    """One lexicon word: ``kind`` is a grammar terminal name (NEG, DEG, ..., NOUN, HEAD)."""

    word: str
    kind: str
    head: str = ""  # for HEAD: "cue" | "ctx" | "contour" | "desc"
    noun_class: str = ""  # for NOUN
    claims: tuple[tuple[str, str], ...] = ()  # for cue heads
    context: Mapping[str, str | None] = field(default_factory=dict)  # for ctx heads
    contour: str = ""  # for contour heads: "rising" | "falling"


@dataclass(frozen=True)
class Lexicon:
    lang: str
    entries: Mapping[str, Entry]
    max_words: int  # longest multi-word entry (English)

    def get(self, word: str) -> Entry | None:
        return self.entries.get(word)


def _parse_target(target: Any, where: str) -> str | None:
    if target is None or target == "desc":
        return target
    slot, _, value = str(target).partition("=")
    if slot not in SLOT_BINS or value not in SLOT_BINS[slot]:
        raise ValueError(f"{where}: {target!r} is not 'slot=bin' of the schema, 'desc' or null")
    return str(target)


def build_lexicon(lang: str, data: Mapping[str, Any]) -> Lexicon:
    """Build and check a :class:`Lexicon` from the parsed YAML ``data``; errors name the offending word."""
    entries: dict[str, Entry] = {}

    def add(word: Any, entry: Entry) -> None:
        w = str(word).strip().lower()
        if not w:
            raise ValueError(f"lexicon {lang}: empty word in {entry.kind}")
        if w in entries and entries[w].head != "cue":
            raise ValueError(f"lexicon {lang}: {w!r} is filed twice ({entries[w].kind}, {entry.kind})")
        if w in entries:
            raise ValueError(f"lexicon {lang}: {w!r} is a cue and also {entry.kind}/{entry.head}")
        entries[w] = entry

    for kind, words in (data.get("function") or {}).items():
        if kind not in FUNCTION_KINDS:
            raise ValueError(f"lexicon {lang}: unknown function section {kind!r}")
        for w in words or []:
            add(w, Entry(str(w).lower(), FUNCTION_KINDS[kind]))
    for cls, words in (data.get("nouns") or {}).items():
        if cls not in NOUN_CLASSES:
            raise ValueError(f"lexicon {lang}: unknown noun class {cls!r}; known: {NOUN_CLASSES}")
        for w in words or []:
            add(w, Entry(str(w).lower(), "NOUN", noun_class=cls))
    cue_claims: dict[str, list[tuple[str, str]]] = {}
    for slot, bins in (data.get("cues") or {}).items():
        for value, words in (bins or {}).items():
            _parse_target(f"{slot}={value}", f"lexicon {lang} cues")
            for w in words or []:
                cue_claims.setdefault(str(w).strip().lower(), []).append((slot, value))
    for w, claims in cue_claims.items():
        slots = [s for s, _ in claims]
        if len(set(slots)) != len(slots):
            raise ValueError(f"lexicon {lang}: cue {w!r} claims two bins of one slot: {claims}")
        if w in entries:
            raise ValueError(f"lexicon {lang}: cue {w!r} is also a {entries[w].kind}")
        entries[w] = Entry(w, "HEAD", head="cue", claims=tuple(claims))
    for w, mapping in (data.get("contextual") or {}).items():
        bad = sorted(set(mapping) - set(NOUN_CLASSES) - {"default"})
        if bad:
            raise ValueError(f"lexicon {lang}: contextual {w!r} has unknown noun classes {bad}")
        context = {k: _parse_target(v, f"lexicon {lang} contextual {w!r}") for k, v in mapping.items()}
        add(w, Entry(str(w).lower(), "HEAD", head="ctx", context=MappingProxyType(context)))
    for contour, words in (data.get("contours") or {}).items():
        if contour not in CONTOUR_DESCRIPTORS[lang]:
            raise ValueError(f"lexicon {lang}: unknown contour {contour!r}")
        for w in words or []:
            add(w, Entry(str(w).lower(), "HEAD", head="contour", contour=contour))
    for w in data.get("descriptors") or []:
        add(w, Entry(str(w).lower(), "HEAD", head="desc"))
    max_words = max((len(w.split()) for w in entries), default=1)
    return Lexicon(lang, MappingProxyType(entries), max_words)


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    return lang


@functools.cache
def load_lexicon(lang: str) -> Lexicon:
    """The packaged lexicon of ``lang`` ("en" | "zh"), loaded and checked once per process."""
    _check_lang(lang)
    text = (
        resources.files("aligncap_lib").joinpath("data", f"lexicon_{lang}.yaml").read_text(encoding="utf-8")
    )
    return build_lexicon(lang, yaml.safe_load(text))


_EN_WORD = re.compile(r"[a-z0-9]+(?:[-'’][a-z0-9]+)*|n't|'s|\S")


def _tokens_en(text: str, lex: Lexicon) -> list[str]:
    words = [w.replace("’", "'") for w in _EN_WORD.findall(text.lower())]
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(lex.max_words, len(words) - i), 0, -1):
            cand = " ".join(words[i : i + n])
            if n == 1 or cand in lex.entries:
                out.append(cand)
                i += n
                break
    return out


@functools.lru_cache(maxsize=1)
def _zh_tokenizer() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" notice would land in notebook stderr
    tk = jieba.Tokenizer()
    for word in load_lexicon("zh").entries:
        # Longer entries get higher counts so that jieba prefers the whole unit (没有起伏 over 没有 / 起伏).
        tk.add_word(word, freq=10**5 * len(word))
    return tk


def _resplit_zh(token: str, lex: Lexicon) -> list[str]:
    """Split a non-entry jieba word into entries (longest match) when it contains a grammar word or noun."""
    if token in lex.entries or len(token) < 2:
        return [token]
    pieces: list[str] = []
    i = 0
    while i < len(token):
        for j in range(len(token), i, -1):
            if token[i:j] in lex.entries:
                pieces.append(token[i:j])
                i = j
                break
        else:
            return [token]
    if any(lex.entries[p].kind != "HEAD" for p in pieces):
        return pieces
    return [token]


def _tokens_zh(text: str, lex: Lexicon) -> list[str]:
    out: list[str] = []
    for tok in _zh_tokenizer().cut(text.lower(), HMM=False):
        tok = tok.strip()
        if tok:
            out.extend(_resplit_zh(tok, lex))
    return out


def tokens(text: str, lang: str) -> list[tuple[str, Entry | None]]:
    """Split ``text`` into ``(word, entry)`` pairs; ``entry`` is None for words outside the lexicon.

    Punctuation comes back as its own word with a ``SEP`` entry (a clause boundary).
    """
    lex = load_lexicon(_check_lang(lang))
    words = _tokens_en(text, lex) if lang == "en" else _tokens_zh(text, lex)
    out: list[tuple[str, Entry | None]] = []
    for w in words:
        if w in SEPARATORS:
            out.append((w, Entry(w, "_SEP")))
        elif w in lex.entries:
            out.append((w, lex.entries[w]))
        elif lang == "en" and w.endswith("n't"):
            out.append((w, Entry(w, "NEG")))
        elif lang == "en" and "-" in w:
            # An unknown hyphenated compound reads as its parts ("higher-than-usual", "high-volume").
            out.extend((p, lex.entries.get(p)) for p in w.split("-") if p)
        else:
            out.append((w, None))
    return out
