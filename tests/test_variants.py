"""The variant table, shared stages, the shuffled-speech control and the LM-free baselines."""

from __future__ import annotations

import pytest

from aligncap_lib.captioner.variants import (
    VARIANTS,
    clip_examples,
    get_variant,
    range_captions,
    shuffled_units,
    template_caption,
    trivial_captions,
)
from aligncap_lib.clues.emotion_clues import parse_caption
from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.evaluation.scoring import EvaluationConfig, evaluate_captions
from tests.fixtures_corpus import tiny_corpus  # noqa: F401  (session fixture)


def _records(n: int = 6) -> list[dict]:
    out = []
    for i in range(n):
        lang = "en" if i % 2 == 0 else "zh"
        caps = (
            ["The speaker sounds happy with a high pitch.", "A loud and angry voice."]
            if lang == "en"
            else ["说话人很开心，音调很高。"]
        )
        out.append(
            {"id": f"c{i}", "lang": lang, "text": f"t{i}", "captions": caps + ([caps[0]] if i == 0 else [])}
        )
    return out


def test_table_matches_the_issue() -> None:
    assert list(VARIANTS) == [
        "trivial_random",
        "trivial_majority",
        "content_oracle",
        "wrong_content",
        "acoustic_template",
        "baseline_sft",
        "no_po",
        "aligncap_full",
        "no_kd",
        "no_clues",
        "shuffled_speech",
        "analyzer_clues",
    ]
    assert VARIANTS["no_po"].stages == ("kd",) and VARIANTS["aligncap_full"].stages == ("kd", "po")
    assert VARIANTS["aligncap_full"].owner("kd") == "no_po"  # shared, trained once
    assert VARIANTS["aligncap_full"].owner("po") == "aligncap_full"
    assert VARIANTS["no_kd"].owner("sft") == "baseline_sft" and VARIANTS["no_kd"].teacher is None
    assert VARIANTS["no_clues"].teacher == "transcript"
    assert VARIANTS["no_po"].teacher == VARIANTS["aligncap_full"].teacher == "transcript+clues"
    # the student hears speech: only the extension reads (analyzer) clues
    assert [n for n, v in VARIANTS.items() if v.student_clues] == ["analyzer_clues"]
    assert VARIANTS["analyzer_clues"].role == "extension"
    assert VARIANTS["shuffled_speech"].evaluates == ("aligncap_full", "po")
    with pytest.raises(ValueError, match="unknown variant"):
        get_variant("full")
    with pytest.raises(ValueError, match="no stage"):
        VARIANTS["baseline_sft"].owner("kd")


def test_examples_carry_the_inputs_of_their_variant() -> None:
    recs = _records()
    units = {r["id"]: f"<su_{i}>" for i, r in enumerate(recs)}
    measured = {r["id"]: {"pitch_level": "high"} for r in recs}
    full = clip_examples(recs, VARIANTS["no_po"], units=units, measured=measured, captions_per_clip=2)
    assert len(full) == sum(min(2, len(r["captions"])) for r in recs)
    first = full[0]
    assert first.student_clues is None and first.units == "<su_0>"
    assert first.teacher_clues == parse_caption(first.caption, "en").slots  # clues of that very caption
    no_clues = clip_examples(recs, VARIANTS["no_clues"], units=units, measured=measured, captions_per_clip=1)
    assert all(e.student_clues is None and e.teacher_clues is None for e in no_clues)
    logged = clip_examples(
        recs,
        VARIANTS["baseline_sft"],
        units=units,
        measured=measured,
        captions_per_clip=1,
        teacher="transcript+clues",
    )
    assert logged[0].teacher_clues and logged[0].student_clues is None
    ext = clip_examples(recs, VARIANTS["analyzer_clues"], units=units, measured=measured, captions_per_clip=1)
    assert all(e.student_clues == {"pitch_level": "high"} for e in ext)
    with pytest.raises(ValueError, match="teacher input"):
        clip_examples(
            recs, VARIANTS["no_po"], units=units, measured=measured, captions_per_clip=1, teacher="x"
        )


@pytest.mark.parametrize("variant", [n for n, v in VARIANTS.items() if v.kind == "lm"])
def test_the_student_never_reads_the_captions_clues(variant: str) -> None:
    """Privileged information: the caption's clues go to the teacher only. The student prompt of every trained
    variant, at training and at evaluation, holds no clue word the caption states unless the analyzer measured it
    (the analyzer's value here disagrees with every caption clue, so a leak shows as the caption's word)."""
    from aligncap_lib.captioner.prompts import example_prompt
    from aligncap_lib.clues.emotion_clues import PROMPT_WORDS

    recs = [{"id": "a", "lang": "en", "text": "hello there", "captions": [
        "With a fast pace and a loud voice, the speaker expresses anger.", "A sad voice with a low pitch."]}]  # fmt: skip
    measured = {"a": {"pitch_level": "high", "rate": "slow", "loudness": "soft", "emotion": "happy"}}
    for captions_per_clip, dropout in ((2, 0.0), (2, 0.5), (1, 0.0)):
        for ex in clip_examples(recs, VARIANTS[variant], units={"a": "<su_1>"}, measured=measured,
                                captions_per_clip=captions_per_clip, clue_dropout=dropout):  # fmt: skip
            stated = parse_caption(ex.caption, "en").slots
            prompt = example_prompt(ex, "speech", "student")
            assert "Transcript" not in prompt and "hello there" not in prompt
            for slot, value in stated.items():
                assert PROMPT_WORDS["en"][slot][value] not in prompt, (variant, slot, value, prompt)
            if ex.student_clues is not None:
                assert set(ex.student_clues.items()) <= set(measured["a"].items())


def test_clue_dropout_is_seeded_per_clip_and_drops_half() -> None:
    from aligncap_lib.captioner.variants import drop_clues

    clues = {"pitch_level": "high", "pitch_variation": "flat", "rate": "slow", "loudness": "soft",
             "voice_quality": "breathy", "emotion": "sad"}  # fmt: skip
    assert drop_clues(clues, 0.5, 0, "x") == drop_clues(clues, 0.5, 0, "x")  # seeded
    assert drop_clues(clues, 0.0, 0, "x") == clues and drop_clues(clues, 1.0, 0, "x") == {}
    kept = [
        len(drop_clues(clues, 0.5, s, f"c{i}", k)) for s in range(3) for i in range(100) for k in range(3)
    ]
    assert abs(sum(kept) / (len(kept) * len(clues)) - 0.5) < 0.02  # p = 0.5 per slot
    assert len({tuple(drop_clues(clues, 0.5, 0, f"c{i}")) for i in range(50)}) > 10  # masks differ by clip
    out = drop_clues(clues, 0.5, 1, "y")
    assert list(out) == [s for s in clues if s in out]  # slot order kept
    with pytest.raises(ValueError, match="dropout"):
        drop_clues(clues, 1.5, 0, "x")


def test_shuffled_units_move_every_clip_within_its_language() -> None:
    recs = _records(8)
    units = {r["id"]: r["id"] for r in recs}
    moved = shuffled_units(recs, units, seed=3)
    lang = {r["id"]: r["lang"] for r in recs}
    assert all(moved[i] != i and lang[moved[i]] == lang[i] for i in moved)
    assert sorted(moved.values()) == sorted(units)  # a permutation
    assert moved == shuffled_units(recs, units, seed=3)
    with pytest.raises(ValueError, match=">= 2 clips"):
        shuffled_units(recs[:1], units, seed=0)


def test_trivial_captions() -> None:
    train, test = _records(6), _records(4)
    major = trivial_captions(train, test, "majority", seed=0)
    assert major["c0"] == "The speaker sounds happy with a high pitch."  # 4 of the 7 EN captions
    assert major["c1"] == "说话人很开心，音调很高。"
    rnd = trivial_captions(train, test, "random", seed=0)
    pool_en = {c for r in train if r["lang"] == "en" for c in r["captions"]}
    assert rnd["c0"] in pool_en and rnd == trivial_captions(train, test, "random", seed=0)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_template_caption_states_exactly_its_clues(lang: str) -> None:
    clues = {"pitch_level": "high", "rate": "slow", "loudness": None, "voice_quality": "trembling"}
    text = template_caption(clues, lang)
    assert parse_caption(text, lang).slots == {k: v for k, v in clues.items() if v}


def test_range_rows_say_the_true_and_another_clips_content(tiny_corpus) -> None:  # noqa: F811
    records, _ = read_manifest(tiny_corpus / "manifest.jsonl")
    test = [r for r in records if r["split"].startswith("test") and r["lang"] == "en"]
    by_id = {r["id"]: r for r in test}
    oracle = range_captions(test, "content_oracle", seed=0)
    wrong = range_captions(test, "wrong_content", seed=0)
    assert set(oracle) == set(wrong) == set(by_id)
    for i, caption in oracle.items():
        assert caption not in by_id[i]["captions"]  # a fresh caption, not one of the references
        stated = parse_caption(caption, "en").slots
        truth = by_id[i]["attributes"]
        assert stated["emotion"] == by_id[i]["emotion"]
        assert all(truth.get(k) == v for k, v in stated.items()), (i, caption)
    assert all(wrong[i] != oracle[i] for i in by_id) or len(by_id) < 2
    assert set(wrong.values()) <= set(oracle.values())  # another clip's oracle caption, within the language
    # seeded per clip id: scoring a subset gives the same captions
    assert range_captions(test[:3], "content_oracle", seed=0) == {r["id"]: oracle[r["id"]] for r in test[:3]}
    ev = EvaluationConfig(meteor=False, similarity=False)
    refs = {i: r["captions"] for i, r in by_id.items()}
    hi = evaluate_captions(refs, oracle, "en", config=ev, intervals=False).metrics
    lo = evaluate_captions(refs, wrong, "en", config=ev, intervals=False).metrics
    assert hi["cider"] > lo["cider"] and hi["bleu_4"] > lo["bleu_4"]
    with pytest.raises(ValueError, match="unknown range row"):
        range_captions(test, "oracle", seed=0)
