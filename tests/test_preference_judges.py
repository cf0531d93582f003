"""Preference judges: the rubric judge's criteria behave as documented, the interface holds."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from aligncap_lib.preference import judges as pj
from aligncap_lib.preference.judges import ClipContext, JudgeScore, RubricJudge
from aligncap_lib.preference.po_regularization import judge_by_name as make_judge

MEASURED = {
    "pitch_level": "high",
    "rate": "fast",
    "loudness": "loud",
    "emotion": "angry",
    "pitch_variation": "normal",
}


class FakeEncoder:
    """Character-trigram hashing into 64 dims (unit rows); counts its calls, so batching can be checked."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), 64))
        for i, t in enumerate(texts):
            for k in range(max(1, len(t) - 2)):
                out[i, int(hashlib.md5(t[k : k + 3].encode()).hexdigest(), 16) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def ctx(refs=(), measured=None, lang="en", transcript=None, cid="c1"):
    return ClipContext(id=cid, lang=lang, measured=MEASURED if measured is None else measured,
                       references=tuple(refs), transcript=transcript)  # fmt: skip


def fact(judge, caption, c=None):
    return judge.score_many([(caption, c or ctx())])[0].breakdown["factuality"]


def test_factuality_orders_wrong_below_silence_below_right():
    j = RubricJudge(encoder=FakeEncoder())
    wrong = fact(j, "The speaker sounds sad.")
    silent = fact(j, "The speaker says something.")
    one = fact(j, "The speaker sounds angry.")
    most = fact(j, "The speaker sounds angry, with a high pitch and a fast, loud delivery.")
    # expected slots: pitch_level, rate, loudness, emotion (pitch_variation is "normal": not expected)
    assert wrong == pytest.approx(0.0)
    assert silent == pytest.approx(0.5 * pj.NEUTRAL)
    assert one == pytest.approx(0.5 * 1.0 + 0.5 * 1 / 4)
    assert most == pytest.approx(1.0)
    assert wrong < silent < one < most


def test_wrong_claims_lower_factuality_and_unverifiable_claims_do_not_count():
    j = RubricJudge(encoder=FakeEncoder())
    right = fact(j, "The speaker sounds angry, with a high pitch and a fast, loud delivery.")
    one_wrong = fact(j, "The speaker sounds happy, with a high pitch and a fast, loud delivery.")
    assert one_wrong == pytest.approx(0.5 * 3 / 4 + 0.5 * 3 / 4) and one_wrong < right
    # voice quality is not measured: claiming it changes nothing
    assert fact(j, "The speaker sounds angry with a trembling voice.") == pytest.approx(
        fact(j, "The speaker sounds angry.")
    )


def test_expect_normal_makes_normal_bins_expected():
    c = ctx(measured={"rate": "normal", "emotion": "sad"})
    lenient, strict = (
        RubricJudge(encoder=FakeEncoder()),
        RubricJudge(encoder=FakeEncoder(), expect_normal=True),
    )
    assert fact(lenient, "The speaker sounds sad.", c) == pytest.approx(1.0)
    assert fact(strict, "The speaker sounds sad.", c) == pytest.approx(0.5 + 0.5 * 1 / 2)
    # a correct "normal" claim is right either way
    assert fact(lenient, "A sad voice at a moderate pace.", c) == pytest.approx(1.0)


def test_conflicting_claim_counts_as_wrong():
    j = RubricJudge(encoder=FakeEncoder())
    assert fact(j, "A high pitch and a low pitch, sounding angry.") < fact(j, "Sounding angry.")


def test_faithfulness_halves_per_violation():
    j = RubricJudge(encoder=FakeEncoder())
    good, zh, copied = j.score_many([
        ("The speaker sounds angry and loud.", ctx(transcript="I told you not to come here today")),
        ("angry 说话人很生气。", ctx()),  # descriptive (angry), but mostly Chinese for an English clip
        ("Angry: I told you not to come here today", ctx(transcript="I told you not to come here today")),
    ])  # fmt: skip
    assert good.breakdown["faithfulness"] == 1.0
    assert zh.breakdown["faithfulness"] == 0.5
    assert copied.breakdown["faithfulness"] == 0.5
    assert j.score_many([("", ctx())])[0].breakdown["faithfulness"] == 0.25  # not descriptive + no script


def test_similarity_uses_references_and_is_left_out_without_them():
    enc = FakeEncoder()
    j = RubricJudge(encoder=enc)
    ref = "An angry speaker with a loud, fast voice."
    same, other, noref = j.score_many([(ref, ctx([ref])), ("zzzz qqqq", ctx([ref])), (ref, ctx())])
    assert same.breakdown["similarity"] == pytest.approx(1.0)
    assert other.breakdown["similarity"] < 0.5
    assert noref.breakdown["similarity"] == pj.NEUTRAL
    w = pj.DEFAULT_WEIGHTS
    expected = (
        w["factuality"] * noref.breakdown["factuality"] + w["faithfulness"] * noref.breakdown["faithfulness"]
    ) / (w["factuality"] + w["faithfulness"])
    assert noref.score == pytest.approx(expected)


def test_encoding_is_batched_once_and_skipped_without_references():
    enc = FakeEncoder()
    j = RubricJudge(encoder=enc)
    items = [(f"An angry voice number {k}.", ctx(["An angry voice."], cid=f"c{k}")) for k in range(20)]
    assert len(j.score_many(items)) == 20 and enc.calls == 1
    j.score_many([("An angry voice.", ctx())])
    assert enc.calls == 1


def test_scores_are_in_unit_interval_and_weights_configurable():
    rng = np.random.default_rng(0)
    words = [
        "angry",
        "sad",
        "happy",
        "calm",
        "loud",
        "soft",
        "fast",
        "slow",
        "high",
        "low",
        "pitch",
        "voice",
        "the",
        "speaker",
        "sounds",
        "with",
        "a",
        "很",
        "生气",
    ]
    caps = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(40)]
    scores = RubricJudge(encoder=FakeEncoder()).score_many(
        [(c, ctx(["An angry, loud voice."])) for c in caps]
    )
    for s in scores:
        assert 0.0 <= s.score <= 1.0 and all(0.0 <= v <= 1.0 for v in s.breakdown.values())
        assert set(s.breakdown) == set(pj.CRITERIA)
    only_fact = RubricJudge(encoder=FakeEncoder(), weights={"factuality": 2.0})
    for s in only_fact.score_many([(c, ctx(["x"])) for c in caps[:10]]):
        assert s.score == pytest.approx(s.breakdown["factuality"])
    for bad in ({"fluency": 1.0}, {"factuality": -1.0}, {"factuality": 0.0}):
        with pytest.raises(ValueError):
            RubricJudge(weights=bad)


def test_chinese_captions_are_judged_in_chinese():
    j = RubricJudge(encoder=FakeEncoder())
    c = ctx(lang="zh", measured={"pitch_level": "high", "emotion": "angry"})
    right, wrong = j.score_many([("语调高昂，情绪中透露出气愤。", c), ("语调低沉，十分开心。", c)])
    assert right.breakdown["factuality"] == pytest.approx(1.0)
    assert wrong.breakdown["factuality"] == pytest.approx(0.0)
    assert right.breakdown["faithfulness"] == 1.0


def test_interface_and_errors_name_the_clip():
    judge = make_judge("rubric", encoder=FakeEncoder())
    assert isinstance(judge, pj.Judge) and judge.name == "rubric"
    s = judge.score_many([("Angry.", ctx())])[0]
    assert isinstance(s, JudgeScore) and dataclasses.asdict(s)["breakdown"] == s.breakdown
    with pytest.raises(ValueError, match="unknown judge"):
        make_judge("gpt")
    with pytest.raises(ValueError, match="clip 'x1'.*language"):
        ClipContext(id="x1", lang="fr", measured={}, references=())
    with pytest.raises(ValueError, match="clip 'x2'.*'louder'"):
        ClipContext(id="x2", lang="en", measured={"loudness": "louder"}, references=())
    with pytest.raises(ValueError, match="clip 'c9'"):
        judge.score_many([(None, ctx(cid="c9"))])  # type: ignore[list-item]


@pytest.mark.slow
def test_real_encoder_prefers_the_matching_caption():
    ref = "The speaker sounds angry, with a loud voice and a fast pace."
    j = RubricJudge()  # default encoder (USE multilingual, offline)
    near, far = j.score_many(
        [("An angry, loud and fast voice.", ctx([ref])), ("A sleepy cat on a warm sofa.", ctx([ref]))]
    )
    assert near.breakdown["similarity"] > far.breakdown["similarity"] + 0.1
