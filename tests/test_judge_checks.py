"""Judge checks: chosen-vs-truth counting and the SECap ranking agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from aligncap_lib.corpus.secap import find_secap_dir
from aligncap_lib.preference import judge_checks as jc
from aligncap_lib.preference.judges import JudgeScore, RubricJudge
from tests.test_preference_judges import FakeEncoder

TRUTH = {"c1": {"emotion": "angry", "loudness": "loud", "rate": "normal"}, "c2": {"emotion": "sad"}}


def test_chosen_truly_better_counts_better_ties_and_worse():
    pairs = [
        {"id": "c1", "chosen": "An angry, loud voice.", "rejected": "A sad, soft voice."},  # better
        {"id": "c1", "chosen": "A sad voice.", "rejected": "An angry voice."},  # worse
        {"id": "c2", "chosen": "A sad voice.", "rejected": "Sad, at a fast pace."},  # tie on accuracy
        {"id": "c2", "chosen": [{"role": "assistant", "content": "Sad."}], "rejected": "Happy."},  # trl form
        {"id": "nope", "chosen": "x", "rejected": "y"},
    ]
    out = jc.chosen_truly_better(pairs, TRUTH)
    assert json.loads(json.dumps(out)) == out  # plain JSON types: results files take it as is
    acc = out["slot_accuracy"]
    assert out["pairs"] == 4 and out["skipped_no_truth"] == ["nope"]
    assert (acc["chosen_better"], acc["tie"], acc["rejected_better"]) == (2, 1, 1)
    assert acc["chosen_better_share"] + acc["tie_share"] + acc["rejected_better_share"] == pytest.approx(1.0)
    con = out["contradictions"]  # "fast" is unverifiable for c2 (rate unknown): a tie there too
    assert (con["chosen_better"], con["tie"], con["rejected_better"]) == (2, 1, 1)
    with pytest.raises(ValueError, match="pair 0"):
        jc.chosen_truly_better([{"id": "c1", "chosen": None, "rejected": "y"}], TRUTH)


def test_chinese_pairs_are_parsed_in_chinese():
    out = jc.chosen_truly_better([{"id": "c2", "chosen": "语气悲伤", "rejected": "语气开心"}], TRUTH)
    assert out["slot_accuracy"]["chosen_better"] == 1


def test_clue_agreement_and_top_hit():
    assert jc.clue_agreement({"emotion": "angry"}, ["激动"], {"emotion": "angry"}, ["激动"]) == 1.0
    assert jc.clue_agreement({"emotion": "sad"}, [], {"emotion": "angry"}, []) == 0.0
    assert jc.clue_agreement({}, [], {}, []) is None
    hit, chance = jc._top_hit([0.9, 0.9, 0.1], [1.0, 0.0, 1.0])  # judge ties two, one of them is best
    assert hit == pytest.approx(0.5) and chance == pytest.approx(2 / 3)


REFS = {"t1": "语气愤怒，语速很快", "t2": "语气悲伤，声音低沉", "t3": "情绪开心"}
OUTS = {
    "t1": ["语气愤怒，语速很快", "语气愤怒", "情绪开心", "语气悲伤，声音低沉", "语速很慢，语气开心"],
    "t2": ["语气悲伤，声音低沉", "语气悲伤", "语气悲伤", "情绪开心", "语气愤怒"],
    "t3": ["情绪开心", "情绪开心", "语气悲伤", "语气愤怒", "情绪开心"],
}


@pytest.fixture
def fake_secap(tmp_path):
    (tmp_path / "dataset" / "wav").mkdir(parents=True)
    (tmp_path / "result").mkdir()
    t = np.arange(8000) / 16000
    for cid in REFS:
        sf.write(tmp_path / "dataset" / "wav" / f"{cid}.wav", 0.3 * np.sin(2 * np.pi * 180 * t), 16000)
    (tmp_path / "dataset" / "wav.scp").write_text("".join(f"{c} dataset/wav/{c}.wav\n" for c in REFS))
    (tmp_path / "dataset" / "text.txt").write_text("".join(f"{c} 你好世界\n" for c in REFS), encoding="utf-8")
    (tmp_path / "dataset" / "fid2captions.json").write_text(
        json.dumps(REFS, ensure_ascii=False), encoding="utf-8"
    )
    blocks = [f"file: {c}.wav\norigin: {REFS[c]}\n" + "".join(
        f"result{'' if k == 0 else k + 1}: {o}\n" for k, o in enumerate(OUTS[c])) for c in REFS]  # fmt: skip
    (tmp_path / "result" / "result.txt").write_text("\n".join(blocks), encoding="utf-8")
    return tmp_path


class OracleJudge:
    """Scores a caption by its clue agreement with a hidden reference (sign=-1: the reverse ranking)."""

    name = "oracle"

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign

    def score_many(self, items):
        out = []
        for text, ctx in items:
            (c, r), (d, rd) = jc.parse_claims([text, REFS[ctx.id]], "zh")
            out.append(JudgeScore(0.5 + 0.5 * self.sign * (jc.clue_agreement(c, d, r, rd) or 0.0), {}))
        return out


def test_rank_secap_rewards_a_judge_that_agrees_with_the_reference(fake_secap):
    measured = dict.fromkeys(REFS, {})
    good = jc.rank_secap(OracleJudge(), fake_secap, measured=measured, encoder=FakeEncoder())
    bad = jc.rank_secap(OracleJudge(-1.0), fake_secap, measured=measured, encoder=FakeEncoder())
    assert good["clips"] == 3 and good["outputs"] == 15 and good["measured_from"] == "given"
    assert json.loads(json.dumps(good)) == good
    assert good["clue"]["mean_spearman"] == pytest.approx(1.0) and good["clue"]["top_hit"] == pytest.approx(
        1.0
    )
    assert bad["clue"]["mean_spearman"] == pytest.approx(-1.0) and bad["clue"]["top_hit"] == pytest.approx(
        0.0
    )
    assert 0 < good["clue"]["top_chance"] < 1
    assert good["similarity"]["mean_spearman"] > 0  # the reference-identical output is also the nearest


def test_rubric_judge_with_reference_clues_as_measurement_ranks_positively(fake_secap):
    truth = {"t1": {"emotion": "angry", "rate": "fast"}, "t2": {"emotion": "sad", "pitch_level": "low"},
             "t3": {"emotion": "happy"}}  # fmt: skip
    out = jc.rank_secap(RubricJudge(encoder=FakeEncoder()), fake_secap, measured=truth, encoder=FakeEncoder())
    assert out["clue"]["mean_spearman"] > 0.5 and out["clue"]["top_hit"] > out["clue"]["top_chance"]
    assert not out["with_reference"] and out["problems"] == []


def test_rank_secap_measures_audio_when_no_clues_are_given(fake_secap):
    out = jc.rank_secap(RubricJudge(encoder=FakeEncoder()), fake_secap, encoder=FakeEncoder(), limit=1)
    assert out["clips"] == 1 and out["measured_from"].startswith("acoustic_analyzer")


SECAP = find_secap_dir()


@pytest.mark.secap
@pytest.mark.skipif(
    SECAP is None, reason="SECap data absent: set $SECAP_DIR or put it at ../shared/secap-dev"
)
def test_rank_secap_on_real_data():
    out = jc.rank_secap(RubricJudge(encoder=FakeEncoder()), SECAP, encoder=FakeEncoder(), limit=4)
    assert out["clips"] == 4 and out["outputs"] == 20 and out["problems"] == []
    assert all(len(c["judge"]) == 5 for c in out["per_clip"])
