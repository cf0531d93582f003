"""Captions: train and held-out wording are disjoint; captions state exactly the slots the contract says."""

from __future__ import annotations

import numpy as np
import pytest

from aligncap_lib.corpus.reference_captions import (
    UNMARKED,
    all_strings,
    compose_captions,
    load_phrases,
    partition_for_split,
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
