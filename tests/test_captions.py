"""Captions: train and held-out wording are disjoint; captions state exactly the slots the contract says."""

from __future__ import annotations

import numpy as np
import pytest

from aligncap_lib.corpus.reference_captions import (
    STREAMS,
    UNMARKED,
    all_strings,
    clip_caption_sets,
    compose_captions,
    load_phrases,
    oracle_caption,
    partition_for_split,
    stream,
)

ATTRS = {
    "pitch_level": "high",
    "pitch_variation": "normal",
    "rate": "fast",
    "loudness": None,
    "voice_quality": "trembling",
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_heldout_wording_never_appears_in_train(lang):
    assert not all_strings(lang, "train") & all_strings(lang, "heldout")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("partition", ["train", "heldout"])
def test_every_bin_and_emotion_has_phrases(lang, partition):
    book = load_phrases()[lang][partition]
    for slot, bins in book["phrases"].items():
        assert set(bins) >= {UNMARKED[slot]} and all(bins.values()), slot


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_captions_state_marked_slots_never_unverifiable_ones(lang):
    book = load_phrases()[lang]["train"]["phrases"]
    caps, slots = compose_captions(ATTRS, "fearful", lang, "train", np.random.default_rng(0), n=5)
    assert len(caps) == 5 and len(set(caps)) >= 4
    for cap, stated in zip(caps, slots, strict=True):
        assert {"pitch_level", "rate", "voice_quality", "emotion"} <= set(stated)
        assert "loudness" not in stated
        assert any(p in cap for p in book["pitch_level"]["high"])
        assert not any(p in cap for bins in book["loudness"].values() for p in bins)


def test_captions_are_reproducible_per_clip_seed():
    a = compose_captions(ATTRS, "sad", "en", "heldout", np.random.default_rng([3, 7]))
    assert a == compose_captions(ATTRS, "sad", "en", "heldout", np.random.default_rng([3, 7]))


def test_test_splits_use_heldout_wording():
    assert partition_for_split("test_zeroshot") == "heldout" and partition_for_split("pref") == "train"
    held = all_strings("en", "heldout")
    caps, _ = compose_captions(ATTRS, "angry", "en", "heldout", np.random.default_rng(1))
    assert all(any(h.split("{")[0].strip() and h.split("{")[0] in c for h in held) for c in caps)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_main_references_are_drawn_independently_of_training_targets(lang):
    """A test clip's main references (training phrasing) come from their own stream: the captions the same clip
    would get as a training target (stream ``target``) are a different draw, and the unseen-phrasing set keeps
    the held-out wording of the target stream."""
    assert len(set(STREAMS.values())) == len(STREAMS)
    differ = 0
    for seed in range(40):
        train = clip_caption_sets(ATTRS, "happy", lang, "train", seed)
        test = clip_caption_sets(ATTRS, "happy", lang, "test_zeroshot", seed)
        assert set(train) == {"captions", "caption_slots"}
        assert (
            test["captions"] == compose_captions(ATTRS, "happy", lang, "train", stream(seed, "reference"))[0]
        )
        assert (
            test["captions_unseen_phrasing"]
            == compose_captions(ATTRS, "happy", lang, "heldout", stream(seed, "target"))[0]
        )
        differ += test["captions"] != train["captions"]
        # the references are in the training phrasing, the second set never is
        held = [p for p in all_strings(lang, "heldout") if "{" not in p]
        assert not any(p in c for c in test["captions"] for p in held)
        assert all(any(p in c for p in held) for c in test["captions_unseen_phrasing"])
    assert differ >= 35  # same content, same phrase book: only a separate stream makes them differ


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_content_oracle_is_a_fresh_caption_of_the_true_content(lang):
    book = load_phrases()[lang]["train"]["phrases"]
    for seed in range(20):
        refs = clip_caption_sets(ATTRS, "fearful", lang, "test_seen", seed)["captions"]
        cap = oracle_caption(ATTRS, "fearful", lang, np.random.default_rng(seed), exclude=refs)
        assert cap not in refs
        assert any(p in cap for p in book["pitch_level"]["high"]) and any(
            p in cap for p in book["rate"]["fast"]
        )
        assert not any(
            p in cap for bins in book["loudness"].values() for p in bins
        )  # unverifiable: never said
    # a content with few wordings: every draw lands in `exclude`, and the last draw is returned, not a loop
    bare = dict.fromkeys(ATTRS)
    only = compose_captions(bare, "sad", lang, "train", np.random.default_rng(0), n=8)[0]
    assert oracle_caption(bare, "sad", lang, np.random.default_rng(1), exclude=only, tries=5) in only
