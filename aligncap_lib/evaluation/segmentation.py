"""Tokenization of captions before scoring (stored with every result under the names in :data:`TOKENIZATIONS`).

- ``ptb`` (English): pycocoevalcap's ``PTBTokenizer``, the COCO caption toolkit's own: Stanford CoreNLP 3.4.1's
  PTB tokenizer, lower-cased, with the toolkit's punctuation list removed. It starts one Java process per call
  (about 0.5-1 s), so tokenize references and hypotheses together in one call.
- ``zh_char`` (Chinese, the primary view): a maximal run of ASCII letters/digits is one token ("AI", "2024"),
  every other character that Python's ``\\w`` matches (CJK ideographs, other letters and digits) is one token,
  everything else (punctuation of any width, symbols, spaces, the underscore) is dropped. Pure Python.
- ``zh_jieba`` (Chinese, the second, labelled view): jieba's default (precise-mode) words, keeping only words
  that contain a ``\\w`` character other than the underscore. Word-level BLEU-4 on Chinese was measured at less
  than half of the character-level one (measured here), so the two views are never mixed.

A tokenized caption is one string of space-separated tokens, the form pycocoevalcap's scorers expect.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from aligncap_lib.core.manifest import LANGS

#: Tokenization name per (language, view); every result stores the name it was computed with.
TOKENIZATIONS: Mapping[tuple[str, str], str] = {
    ("en", "primary"): "ptb",
    ("zh", "primary"): "zh_char",
    ("zh", "jieba"): "zh_jieba",
}

# A maximal ASCII letter/digit run, or any single other \w character except the underscore.
_ZH_TOKEN = re.compile(r"[A-Za-z0-9]+|[^\W_A-Za-z0-9]")
_HAS_WORD = re.compile(r"[^\W_]")


def zh_char_tokens(text: str) -> list[str]:
    """Chinese character tokens (the ``zh_char`` rule above). ``"语速较快, AI 2024!"`` -> ``语 速 较 快 AI 2024``."""
    return _ZH_TOKEN.findall(text)


def zh_jieba_tokens(text: str) -> list[str]:
    """jieba words (precise mode, no HMM change from jieba's default), punctuation-only words dropped.

    ASCII runs are kept whole by jieba itself; whitespace inside a word cannot occur after the filter, so the
    joined string splits back into the same tokens.
    """
    import jieba

    jieba.setLogLevel(60)  # jieba prints its dictionary loading to stderr otherwise
    return [w for w in (t.strip() for t in jieba.lcut(text)) if w and _HAS_WORD.search(w) and " " not in w]


class _QuietSubprocess:
    """``subprocess`` as PTBTokenizer sees it, with the JVM's stderr discarded: the tokenizer prints a
    throughput line to stderr on every call, which would end up in notebook outputs."""

    PIPE = subprocess.PIPE

    @staticmethod
    def Popen(*args: Any, **kwargs: Any) -> subprocess.Popen:  # noqa: N802 (mirrors subprocess.Popen)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        return subprocess.Popen(*args, **kwargs)


def ptb_tokenize(captions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """English captions ``{id: [caption, ...]}`` -> ``{id: [space-joined tokens, ...]}`` through pycocoevalcap's
    PTBTokenizer (one Java process for the whole mapping). Empty captions stay empty strings."""
    from pycocoevalcap.tokenizer import ptbtokenizer

    ptbtokenizer.subprocess = _QuietSubprocess

    keyed: dict[str, list[dict[str, str]]] = {}
    # The Java tokenizer works line by line: a caption must not contain a line break of any kind.
    for key, caps in captions.items():
        keyed[key] = [{"caption": " ".join(str(c).split()) or "."} for c in caps]
    if not keyed:
        return {}
    # An empty caption is sent as "." (dropped as punctuation) so that line numbers stay aligned.
    out = ptbtokenizer.PTBTokenizer().tokenize(keyed)
    missing = sorted(set(keyed) - set(out))
    if missing:
        raise RuntimeError(f"PTBTokenizer lost {len(missing)} caption id(s), e.g. {missing[:5]}")
    return {key: out[key] for key in keyed}


def tokenize_captions(
    captions: Mapping[str, Sequence[str]], lang: str, view: str = "primary"
) -> dict[str, list[str]]:
    """``{id: [caption, ...]}`` -> ``{id: [tokenized caption, ...]}`` with the tokenization named by
    ``TOKENIZATIONS[(lang, view)]``. Raises ``ValueError`` for an unknown language or view."""
    name = tokenization_name(lang, view)
    if name == "ptb":
        return ptb_tokenize(captions)
    split = zh_char_tokens if name == "zh_char" else zh_jieba_tokens
    return {key: [" ".join(split(str(c))) for c in caps] for key, caps in captions.items()}


def tokenization_name(lang: str, view: str = "primary") -> str:
    """The stored name of the tokenization for ``lang`` and ``view`` (``primary`` or, for Chinese, ``jieba``)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    try:
        return TOKENIZATIONS[(lang, view)]
    except KeyError:
        views = [v for (lg, v) in TOKENIZATIONS if lg == lang]
        raise ValueError(
            f"no tokenization view {view!r} for {lang!r}; available: {', '.join(views)}"
        ) from None
