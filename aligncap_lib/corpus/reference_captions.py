"""Reference captions of the synthetic corpus, composed from the verified attributes and the emotion.

Templates and paraphrases live in ``data/caption_phrases.yaml`` in two sections per language: ``train`` (the
phrasing the captioners learn) and ``heldout`` (a phrasing no model ever reads). Each clip draws its caption
sets from separate random *streams* of its own seed (:data:`STREAMS`), so no set is a copy of another:

- ``captions`` of train, valid and pref clips: the training targets (``train`` phrasing, stream ``target``);
- ``captions`` of the test clips: the main references (``train`` phrasing, stream ``reference``). A captioner
  trained from scratch cannot say words it never saw, so n-gram metrics against unseen wording score every
  system about zero (measured: CIDEr 0.015 for the true content vs 0.012 for another clip's, English); the
  paper's "zero-shot" means unseen speakers with an LLM that already knows the vocabulary;
- ``captions_unseen_phrasing`` of the test clips: the same content in the ``heldout`` phrasing (stream
  ``target``, i.e. the test references of earlier versions), a second reference set reported in its own
  table: a robustness test of the wording, and the clue parser's test set;
- :func:`oracle_caption`: the ``content_oracle`` range row, a fresh ``train``-phrasing caption of the true
  slots (stream ``oracle``) that is none of the clip's references.

What a caption states (this is the contract the omission metric relies on):

- always the emotion;
- every acoustic slot whose verified bin is *marked* (not ``normal`` and not ``steady``);
- a slot whose bin is ``normal``/``steady`` only with probability :data:`NORMAL_MENTION_P` per caption, as
  "moderate/normal ..." wording: so a caption that leaves it out is not an omission;
- never a slot that is unverifiable (``None``).

``compose_captions`` returns the captions and, for each, the slots it states (stored as ``caption_slots`` in
the manifest), so evaluation can tell what each reference commits to.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
import yaml

from aligncap_lib.core.attributes import ACOUSTIC_SLOTS, UNMARKED

PARTITIONS = ("train", "heldout")
#: Chance that a caption states a slot whose bin is unmarked (normal/steady). Our choice: SECap's human
#: captions mention "语速适中" and the like now and then, rarely.
NORMAL_MENTION_P = 0.25
TEST_SPLITS = ("test_seen", "test_zeroshot", "test_crossdomain")
#: Caption set -> the key of its random stream: ``np.random.default_rng([clip_seed, key])``. The keys only need
#: to differ (7 is the stream every caption used before the sets were separated).
STREAMS: dict[str, int] = {"target": 7, "reference": 11, "oracle": 17, "dropout": 23}


@functools.lru_cache(maxsize=1)
def load_phrases() -> dict[str, Any]:
    """The parsed ``caption_phrases.yaml`` (language -> partition -> templates and phrases)."""
    text = resources.files("aligncap_lib").joinpath("data/caption_phrases.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def partition_for_split(split: str) -> str:
    """``heldout`` for the test splits (and ``secap_*``), else ``train``: the phrasing of a split's *unseen
    phrasing* set (test) or of its only set (train, valid, pref)."""
    return "heldout" if is_test_split(split) else "train"


def is_test_split(split: str) -> bool:
    """A split whose captions are references only (never a training target)."""
    return split.startswith("test") or split.startswith("secap")


def stream(clip_seed: int, name: str) -> np.random.Generator:
    """The clip's random stream for caption set ``name`` (see :data:`STREAMS`)."""
    if name not in STREAMS:
        raise ValueError(f"unknown caption stream {name!r}; allowed: {sorted(STREAMS)}")
    return np.random.default_rng([int(clip_seed), STREAMS[name]])


def clip_caption_sets(
    attributes: Mapping[str, str | None], emotion: str, lang: str, split: str, clip_seed: int, n: int = 4
) -> dict[str, Any]:
    """The manifest's caption fields of one clip: ``captions`` and ``caption_slots`` (training targets, or a
    test clip's main references), plus ``captions_unseen_phrasing`` and ``caption_slots_unseen_phrasing`` for a
    test clip. Each set from its own stream, so a test clip's main references are drawn independently of any
    caption that is (or, for a test clip, would have been) a training target."""
    if not is_test_split(split):
        caps, slots = compose_captions(attributes, emotion, lang, "train", stream(clip_seed, "target"), n)
        return {"captions": caps, "caption_slots": slots}
    caps, slots = compose_captions(attributes, emotion, lang, "train", stream(clip_seed, "reference"), n)
    unseen, unseen_slots = compose_captions(
        attributes, emotion, lang, "heldout", stream(clip_seed, "target"), n
    )
    return {
        "captions": caps,
        "caption_slots": slots,
        "captions_unseen_phrasing": unseen,
        "caption_slots_unseen_phrasing": unseen_slots,
    }


def oracle_caption(
    attributes: Mapping[str, str | None],
    emotion: str,
    lang: str,
    rng: np.random.Generator,
    exclude: Sequence[str] = (),
    tries: int = 32,
) -> str:
    """A ``train``-phrasing caption of ``attributes`` and ``emotion`` that is not in ``exclude`` (the clip's
    references), drawn like a reference (same statement contract). If ``tries`` draws all land in ``exclude``
    (a clip whose content allows only a few wordings), the last draw is returned."""
    caption = ""
    for _ in range(max(1, tries)):
        caption = compose_captions(attributes, emotion, lang, "train", rng, n=1)[0][0]
        if caption not in exclude:
            break
    return caption


def _join_en(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def compose_captions(
    attributes: Mapping[str, str | None],
    emotion: str,
    lang: str,
    partition: str,
    rng: np.random.Generator,
    n: int = 4,
) -> tuple[list[str], list[list[str]]]:
    """``n`` distinct-as-possible captions and, per caption, the slots it states (``emotion`` included).

    ``attributes``: acoustic slot -> verified bin or None. ``rng`` is the clip's own generator, so captions are
    reproducible per clip regardless of worker order.
    """
    if partition not in PARTITIONS:
        raise ValueError(f"unknown caption partition {partition!r}; allowed: {PARTITIONS}")
    if lang not in ("en", "zh"):
        raise ValueError(f"unknown language {lang!r}; allowed: en, zh")
    book = load_phrases()[lang][partition]
    captions: list[str] = []
    slots_per: list[list[str]] = []
    for attempt in range(4 * n):
        stated = []
        for slot in ACOUSTIC_SLOTS:
            value = attributes.get(slot)
            if value is None:
                continue
            if value != UNMARKED[slot] or rng.random() < NORMAL_MENTION_P:
                stated.append(slot)
        order = [stated[i] for i in rng.permutation(len(stated))]
        phrases = [_pick(book["phrases"][s][attributes[s]], rng) for s in order]
        text = _fill(book, lang, phrases, emotion, rng)
        if text in captions and attempt < 4 * n - 1:
            continue
        captions.append(text)
        slots_per.append(sorted(order) + ["emotion"])
        if len(captions) == n:
            break
    return captions, slots_per


def _pick(options: list[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(
    book: Mapping[str, Any], lang: str, phrases: list[str], emotion: str, rng: np.random.Generator
) -> str:
    key = "templates_full" if phrases else "templates_bare"
    template = _pick(book[key], rng)
    if lang == "zh":
        return template.format(attrs="，".join(phrases), emo=_pick(book["emo"][emotion], rng))
    text = template.format(
        attrs=_join_en(phrases) if phrases else "",
        emo_adj=_pick(book["emo_adj"][emotion], rng),
        emo_noun=_pick(book["emo_noun"][emotion], rng),
    )
    return text[0].upper() + text[1:]


def all_strings(lang: str, partition: str) -> set[str]:
    """Every template and phrase of one partition (for the disjointness test and lexicon builders)."""
    book = load_phrases()[lang][partition]
    out = set(book["templates_full"]) | set(book["templates_bare"])
    for slot_bins in book["phrases"].values():
        for options in slot_bins.values():
            out |= set(options)
    for key in ("emo", "emo_adj", "emo_noun"):
        for options in book.get(key, {}).values():
            out |= set(options)
    return out
