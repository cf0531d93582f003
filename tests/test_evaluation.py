"""The evaluation stage: ``aligncap evaluate`` for both languages, its JSON keys, id errors, similarity, the peer
row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aligncap_lib.cli import main
from aligncap_lib.evaluation.scoring import EvaluationConfig, compare, evaluate_captions, over_seeds

EN_REFS = {
    "a": ["the man speaks fast and loud", "an angry man shouts quickly"],
    "b": "a woman speaks softly and sadly",
    "c": ["a calm voice with a steady tone"],
}
EN_HYPS = {
    "a": "the man speaks quickly and angrily",
    "b": "a sad woman speaks softly",
    "c": "a calm steady voice",
}
ZH_REFS = {"x": "语速较快，情绪激动。", "y": ["声音低沉，语气悲伤", "悲伤的语气"], "z": "语调平稳"}
ZH_HYPS = {"x": "语速很快，情绪激动", "y": "语气悲伤，声音低沉。", "z": "语调平稳，心情平静"}
KEYS = (
    "bleu_1",
    "bleu_2",
    "bleu_3",
    "bleu_4",
    "meteor",
    "rouge_l",
    "cider",
    "spice",
    "similarity",
    "similarity_shuffled",
    "faithfulness_violation",
    "tokenization",
)
FAST = EvaluationConfig(n_bootstrap=200)


def _cli(tmp_path, capsys, lang, refs, hyps, *extra):
    (tmp_path / "refs.json").write_text(json.dumps(refs, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "hyps.json").write_text(json.dumps(hyps, ensure_ascii=False), encoding="utf-8")
    rc = main(
        [
            "evaluate",
            "--lang",
            lang,
            "--refs",
            str(tmp_path / "refs.json"),
            "--hyps",
            str(tmp_path / "hyps.json"),
            *extra,
        ]
    )
    return rc, capsys.readouterr()


@pytest.mark.parametrize(
    ("lang", "refs", "hyps", "tok"), [("en", EN_REFS, EN_HYPS, "ptb"), ("zh", ZH_REFS, ZH_HYPS, "zh_char")]
)
def test_cli_json_has_the_flat_keys(tmp_path, capsys, lang, refs, hyps, tok):
    rc, out = _cli(tmp_path, capsys, lang, refs, hyps, "--json")
    assert rc == 0, out.err
    result = json.loads(out.out)
    assert set(KEYS) <= set(result) and result["tokenization"] == tok
    assert result["spice"] is None and result["spice_note"]
    assert all(0 <= result[k] <= 1 for k in KEYS if k.startswith(("bleu", "rouge", "meteor")))
    assert result["bleu_1_low"] <= result["bleu_1"] <= result["bleu_1_high"]
    if lang == "zh":
        assert result["tokenization_jieba"] == "zh_jieba" and "bleu_4_jieba" in result


def test_cli_names_ids_present_on_one_side_only(tmp_path, capsys):
    rc, out = _cli(tmp_path, capsys, "en", {**EN_REFS, "only_ref": "x"}, {**EN_HYPS, "only_hyp": "y"})
    assert rc == 2
    assert "only_ref" in out.err and "only_hyp" in out.err


def test_manifest_supplies_truth_transcripts_and_breakdowns():
    records = {
        "a": {
            "id": "a",
            "split": "test_seen",
            "emotion": "angry",
            "text": "get out of my house right now",
            "attributes": {"rate": "fast", "loudness": "loud"},
        },
        "b": {
            "id": "b",
            "split": "test_zeroshot",
            "emotion": "sad",
            "text": "a woman speaks softly and sadly",
            "attributes": {"rate": "slow"},
        },
        "c": {"id": "c", "split": "test_zeroshot", "emotion": "neutral", "text": "fine", "attributes": {}},
    }
    hyps = {**EN_HYPS, "b": "she says a woman speaks softly and sadly"}
    r = evaluate_captions(EN_REFS, hyps, "en", records=records, config=FAST)
    assert r.metrics["faithfulness_transcript_copied"] == pytest.approx(1 / 3)
    assert set(r.breakdowns["split"]) == {"test_seen", "test_zeroshot"}
    assert r.breakdowns["split"]["test_seen"]["n_clips"] == 1


def test_similarity_separates_matched_from_shuffled_and_paired_comparison_of_self_is_zero():
    r = evaluate_captions(EN_REFS, EN_HYPS, "en", config=FAST)
    assert r.metrics["similarity"] > r.metrics["similarity_shuffled"]
    diff = compare(r, r, "bleu_4", n_resamples=200)
    assert (diff.point, diff.low, diff.high) == (0.0, 0.0, 0.0)
    seeds = over_seeds([r, r], "rouge_l", n_resamples=200)
    assert seeds.point == pytest.approx(r.metrics["rouge_l"])


def test_config_validates():
    with pytest.raises(ValueError, match="confidence"):
        EvaluationConfig(confidence=1.0)
    with pytest.raises(ValueError, match="repeat_min"):
        EvaluationConfig(repeat_min=1)


@pytest.mark.secap
def test_secap_peer_row_beats_its_shuffled_baseline():
    from aligncap_lib.corpus.secap import find_secap_dir
    from aligncap_lib.evaluation.peer_rows import secap_peer_row

    if find_secap_dir(with_results=True) is None:
        pytest.skip("secap-dev not found (../shared/secap-dev or $SECAP_DIR)")
    row = secap_peer_row(config=FAST)
    assert row.metrics["n_clips"] == 100 and row.metrics["tokenization"] == "zh_char"
    assert row.metrics["similarity"] > row.metrics["similarity_shuffled"] + 0.1
    assert 0 < row.metrics["bleu_4"] < row.metrics["bleu_1"] < 1
    assert np.isfinite(row.metrics["cider"])


def test_reference_ceiling_scores_each_reference_against_the_others():
    from aligncap_lib.evaluation.peer_rows import leave_one_out_pairs, reference_ceiling

    records = [
        {
            "id": "c1",
            "lang": "en",
            "captions": ["a fast angry voice", "an angry voice, fast", "fast and angry"],
        },
        {"id": "c2", "lang": "en", "captions": ["a slow sad voice", "sad and slow"]},
        {"id": "c3", "lang": "en", "captions": ["only one"]},
        {"id": "c4", "lang": "zh", "captions": ["语速较快", "很快"]},
    ]
    refs, hyps, _ = leave_one_out_pairs(records, "en")
    assert len(hyps) == 5 and refs["c1#0"] == ["an angry voice, fast", "fast and angry"]
    ceiling = reference_ceiling(records, "en", config=FAST)
    assert ceiling.metrics["n_clips"] == 5 and ceiling.metrics["bleu_1"] > 0.3


def test_cli_reads_either_reference_set_from_the_manifest(tmp_path, capsys):
    rows = [
        {"id": i, "audio": f"{i}.wav", "lang": "en", "split": "test_zeroshot", "voice": "v", "text": "t",
         "emotion": "happy", "attributes": {}, "measurements": {}, "captions": EN_REFS[i],
         "captions_unseen_phrasing": ["This person seems delighted."]}
        for i in EN_REFS
    ]  # fmt: skip
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "hyps.json").write_text(json.dumps(EN_HYPS), encoding="utf-8")
    base = [
        "evaluate",
        "--lang",
        "en",
        "--hyps",
        str(tmp_path / "hyps.json"),
        "--manifest",
        str(manifest),
        "--json",
    ]
    outs = {}
    for refs in ("main", "unseen_phrasing"):
        assert main([*base, "--no-intervals", "--references", refs]) == 0
        outs[refs] = json.loads(capsys.readouterr().out)
    assert outs["main"]["cider"] > outs["unseen_phrasing"]["cider"]
    assert "repetition" in outs["main"]
    assert main(["evaluate", "--lang", "en", "--hyps", str(tmp_path / "hyps.json")]) == 2
    assert "--manifest" in capsys.readouterr().err
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({**r, "captions_unseen_phrasing": []}) + "\n" for r in rows), "utf-8")
    assert main([*base[:-3], "--manifest", str(plain), "--references", "unseen_phrasing"]) == 2
    assert "captions_unseen_phrasing" in capsys.readouterr().err
