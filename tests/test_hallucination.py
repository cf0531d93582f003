"""Hallucination rules over slots: pure functions, tested with hand-made claims and truths."""

from __future__ import annotations

import pytest

from aligncap_lib.evaluation import hallucination as h

TRUTH = {
    "pitch_level": "high",
    "rate": "fast",
    "loudness": "normal",
    "voice_quality": None,
    "emotion": "angry",
}


def test_contradicting_claims_over_claims_made_per_clip_then_averaged():
    claims = [
        {"pitch_level": "low", "rate": "fast"},  # 1 of 2 wrong -> 0.5
        {"emotion": "angry"},  # 0 of 1 wrong -> 0.0
        {},  # no claim: excluded from the average
    ]
    value = h.ratio_value(h.factual_hallucination(claims, [TRUTH] * 3))
    assert value == pytest.approx(0.25)
    assert h.ratio_value(h.no_claim(claims, [TRUTH] * 3)) == pytest.approx(1 / 3)


def test_unverifiable_slots_are_skipped_not_counted():
    claims = [{"voice_quality": "breathy", "pitch_variation": "flat"}]  # None and missing in the truth
    num, den = h.factual_hallucination(claims, [TRUTH])
    assert den.sum() == 0 and h.ratio_value((num, den)) is None
    assert h.ratio_value(h.no_claim(claims, [TRUTH])) == 1.0


def test_silence_cannot_look_faithful_omission_and_accuracy():
    silent = h.hallucination_ratios([{}], [TRUTH])
    assert h.ratio_value(silent["omission"]) == 1.0
    assert h.ratio_value(silent["slot_accuracy"]) == 0.0
    assert h.ratio_value(silent["factual_hallucination"]) is None


def test_normal_bins_are_expected_only_when_configured():
    claims = [{"pitch_level": "high", "rate": "fast", "emotion": "angry"}]
    default = h.hallucination_ratios(claims, [TRUTH])
    assert h.ratio_value(default["omission"]) == 0.0  # loudness=normal not expected by default
    assert h.ratio_value(default["slot_accuracy"]) == 1.0
    strict = h.hallucination_ratios(claims, [TRUTH], expect_normal=True)
    assert h.ratio_value(strict["omission"]) == pytest.approx(1 / 4)
    assert h.ratio_value(strict["slot_accuracy"]) == pytest.approx(3 / 4)


def test_correct_normal_claim_is_never_a_hallucination():
    num, den = h.factual_hallucination([{"loudness": "normal"}], [TRUTH])
    assert (num.sum(), den.sum()) == (0.0, 1.0)


def test_per_slot_keys_count_only_clips_claiming_that_slot():
    claims = [{"pitch_level": "low"}, {"pitch_level": "high"}, {"rate": "fast"}]
    ratios = h.hallucination_ratios(claims, [TRUTH] * 3)
    assert h.ratio_value(ratios["factual_hallucination_pitch_level"]) == 0.5
    assert h.ratio_value(ratios["factual_hallucination_rate"]) == 0.0
    assert h.ratio_value(ratios["factual_hallucination_loudness"]) is None
    assert h.ratio_value(ratios["omission_rate"]) == pytest.approx(2 / 3)
    # per-slot accuracy: clips whose truth expects the slot (non-normal), stated with the true bin
    assert h.ratio_value(ratios["slot_accuracy_pitch_level"]) == pytest.approx(1 / 3)  # only "high" is right
    assert h.ratio_value(ratios["slot_accuracy_rate"]) == pytest.approx(1 / 3)
    assert h.ratio_value(ratios["slot_accuracy_loudness"]) is None  # "normal" is not expected by default


def test_truth_from_references_keeps_agreement_only():
    truth = h.truth_from_references([{"rate": "fast", "emotion": "sad"}, {"rate": "slow"}, {}])
    assert truth["rate"] is None and truth["emotion"] == "sad" and truth["pitch_level"] is None


def test_truth_from_record_takes_emotion_field_and_rejects_bad_attributes():
    rec = {"id": "c1", "emotion": "happy", "attributes": {"rate": "fast", "loudness": None}}
    assert h.truth_from_record(rec) == {
        "pitch_level": None,
        "pitch_variation": None,
        "rate": "fast",
        "loudness": None,
        "voice_quality": None,
        "emotion": "happy",
    }
    with pytest.raises(ValueError, match="c2"):
        h.truth_from_record({"id": "c2", "attributes": ["fast"]})


def test_misaligned_inputs_are_refused():
    with pytest.raises(ValueError, match="aligned"):
        h.factual_hallucination([{}], [])


def test_parse_claims_wrapper_reads_slots_from_captions():
    claims, descriptors = h.parse_claims(["The speaker talks very fast in a loud, angry voice."], "en")
    assert claims[0].get("rate") == "fast" and claims[0].get("emotion") == "angry"
    assert isinstance(descriptors[0], tuple)


def test_conflicting_claim_counts_as_mentioned_and_wrong_and_makes_a_reference_unverifiable():
    ratios = h.hallucination_ratios([{"rate": h.CONFLICT}], [{"rate": "fast"}])
    assert h.ratio_value(ratios["factual_hallucination"]) == 1.0
    assert h.ratio_value(ratios["omission"]) == 0.0 and h.ratio_value(ratios["slot_accuracy"]) == 0.0
    assert h.truth_from_references([{"rate": h.CONFLICT}])["rate"] is None


def test_slot_ratios_on_hand_made_captions_against_reference_clues():
    ratios, n_clues = h.slot_ratios(
        ["The speaker talks fast and sounds angry.", "The weather is nice."],
        [["A fast, angry voice."], ["She speaks slowly and sadly."]],
        "en",
    )
    assert n_clues[0] >= 2 and n_clues[1] == 0
    assert h.ratio_value(ratios["factual_hallucination"]) == 0.0  # clip 2 makes no claim
    assert h.ratio_value(ratios["no_claim_share"]) == 0.5
    assert h.ratio_value(ratios["omission"]) == pytest.approx(0.5)  # clip 2 omits both of its slots
