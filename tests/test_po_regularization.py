"""PO-Regularization: pair building, the preference-size subsample, where PO starts, trl's tokenization of our
prompts, and a smoke DPO run whose reference model is the model PO starts from."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from aligncap_lib.preference.po_regularization import (
    POConfig,
    build_pairs,
    dpo_train,
    ensure_pairs,
    read_pairs,
    start_stage,
    subsample_pairs,
    train_po,
)
from tests.fixtures_pipeline import copy_pipeline, smoke_pipeline, test_configs  # noqa: F401


@dataclasses.dataclass(frozen=True)
class _Score:
    score: float
    breakdown: dict[str, float]
    contradicted: tuple[str, ...] = ()


class _LengthJudge:
    """A deterministic stand-in judge: longer captions (up to 60 characters) are better; factuality is that
    share, faithfulness 1. Enough to exercise pairs and DPO without the real judges."""

    name = "length"

    def score_many(self, items):  # noqa: ANN001, ANN201
        out = []
        for caption, _ctx in items:
            f = min(len(caption), 60) / 60
            out.append(_Score(f, {"factuality": f, "faithfulness": 1.0}))
        return out


def test_pairs_take_best_and_worst_above_the_margin() -> None:
    prompts = {"a": "pa", "b": "pb", "c": "pc"}
    candidates = {"a": ["x", "y", "z"], "b": ["same", "same"], "c": ["p", "q"]}
    scores = {
        "a": [
            _Score(0.5, {"factuality": 0.5}),
            _Score(0.9, {"factuality": 1.0}),
            _Score(0.1, {"factuality": 0.0}),
        ],
        "b": [_Score(0.9, {}), _Score(0.1, {})],
        "c": [_Score(0.50, {"factuality": 1.0}), _Score(0.45, {"factuality": 1.0})],
    }
    pairs, stats = build_pairs(prompts, candidates, scores, margin=0.1)
    assert [(p["id"], p["chosen"], p["rejected"]) for p in pairs] == [("a", "y", "z")]
    assert pairs[0]["prompt"] == "pa" and pairs[0]["rejected_worse_on"] == ["factuality"]
    assert stats["clips"] == 3 and stats["distinct_best_worst"] == 2  # b: best and worst are the same text
    assert stats["kept_at_margin"]["0.0"] == 2 and stats["kept_at_margin"]["0.1"] == 1
    with pytest.raises(ValueError, match="clip 'a'"):
        build_pairs(prompts, {"a": ["x", "y"]}, {"a": [_Score(1.0, {})]}, margin=0.0)


def test_contradiction_pairs_never_prefer_a_contradiction() -> None:
    """``pairing="contradiction"``: all candidate pairs above the margin whose chosen caption is less wrong (its
    contradicted slots a strict subset of the rejected one's, or the same ones with fewer broken rules); equal
    texts, pairs below the margin and pairs whose chosen caption is wrong where the rejected is right are left
    out."""
    prompts = {"a": "pa"}
    candidates = {"a": ["right", "wrong emotion", "wrong pitch", "also wrong emotion", "right", "repeats",
                        "wrong pitch and emotion"]}  # fmt: skip
    ok = {"factuality": 1.0, "faithfulness": 1.0}
    scores = {"a": [_Score(0.9, ok), _Score(0.5, {"factuality": 0.5, "faithfulness": 1.0}, ("emotion",)),
                    _Score(0.65, {"factuality": 0.6, "faithfulness": 1.0}, ("pitch_level",)),
                    _Score(0.3, {"factuality": 0.2, "faithfulness": 0.5}, ("emotion",)), _Score(0.9, ok),
                    _Score(0.7, {"factuality": 1.0, "faithfulness": 0.5}),
                    _Score(0.1, {"factuality": 0.0, "faithfulness": 1.0}, ("emotion", "pitch_level"))]}  # fmt: skip
    pairs, stats = build_pairs(prompts, candidates, scores, margin=0.1, pairing="contradiction")
    got = {(p["chosen"], p["rejected"]) for p in pairs}
    assert got == {("right", "wrong pitch"), ("right", "wrong emotion"), ("right", "also wrong emotion"),
                   ("right", "repeats"), ("right", "wrong pitch and emotion"),
                   ("repeats", "wrong emotion"), ("repeats", "also wrong emotion"),
                   ("repeats", "wrong pitch and emotion"), ("wrong pitch", "wrong pitch and emotion"),
                   ("wrong emotion", "also wrong emotion"), ("wrong emotion", "wrong pitch and emotion"),
                   ("also wrong emotion", "wrong pitch and emotion")}  # fmt: skip
    assert ("wrong pitch", "wrong emotion") not in got  # the chosen would be wrong on the pitch
    assert stats["clips_with_pairs"] == 1 and stats["pairing"] == "contradiction"
    assert all(set(p["chosen_contradicted"]) <= set(p["rejected_contradicted"]) for p in pairs)
    best_worst, _ = build_pairs(prompts, candidates, scores, margin=0.1)
    assert [(p["chosen"], p["rejected"]) for p in best_worst] == [("right", "wrong pitch and emotion")]
    with pytest.raises(ValueError, match="pairing"):
        build_pairs(prompts, candidates, scores, margin=0.1, pairing="all")


def test_the_rubric_names_the_contradicted_slots() -> None:
    from aligncap_lib.preference.judges import ClipContext, RubricJudge

    ctx = ClipContext(id="a", lang="en", measured={"emotion": "happy", "pitch_level": "high"}, references=())
    right, wrong = RubricJudge().score_many([("The speaker sounds happy with a high pitch.", ctx),
                                             ("The speaker sounds sad with a high pitch.", ctx)])  # fmt: skip
    assert right.contradicted == () and wrong.contradicted == ("emotion",) and right.score > wrong.score
    # a caption that says one thing twice breaks the one-sentence instruction: faithfulness halves
    (twice,) = RubricJudge().score_many(
        [("The speaker sounds happy with a high pitch and a high pitch.", ctx)]
    )
    assert (
        twice.breakdown["faithfulness"] == 0.5 * right.breakdown["faithfulness"] and twice.contradicted == ()
    )


def test_the_judge_reads_the_deployment_analyzer_never_the_truth(po_run) -> None:
    """The judge's clues are what ``aligncap caption`` measures (speaking rate blind); the corpus truth only with
    ``judge_clues="truth"`` (the extras' upper bound)."""
    from aligncap_lib.captioner.inputs import deployment_clues
    from aligncap_lib.preference.po_regularization import judge_clues, pref_examples

    layout, _configs, po = po_run
    records = layout.records()
    deployed = deployment_clues(records)
    examples, contexts = pref_examples(layout, "aligncap_full", po)
    assert examples and all(dict(contexts[ex.id].measured) == deployed[ex.id] for ex in examples)
    assert all(ex.student_clues is None for ex in examples)  # the KD student hears speech only
    truth = judge_clues(records, "truth")
    pref = [r for r in records if r["split"] == "pref"]
    assert any(truth[r["id"]] != deployed[r["id"]] for r in pref)  # the analyzer is not the label function
    assert all(truth[r["id"]]["emotion"] == r["emotion"] for r in pref)
    _, by_truth = pref_examples(layout, "aligncap_full", dataclasses.replace(po, judge_clues="truth"))
    assert all(dict(by_truth[ex.id].measured) == truth[ex.id] for ex in examples)
    # the rate is read blind: a clip's transcript syllable rate does not move its clues (train clips keep theirs:
    # they calibrate the blind rate)
    moved = [r if r["split"] == "train" else dict(r, measurements={**r["measurements"], "syllables_per_s": 99.0})
             for r in records]  # fmt: skip
    assert deployment_clues(moved) == deployed


def test_subsample_is_seeded_ordered_and_nonempty() -> None:
    pairs = [{"id": str(i)} for i in range(40)]
    quarter = subsample_pairs(pairs, 0.25, seed=3)
    assert len(quarter) == 10 and quarter == subsample_pairs(pairs, 0.25, seed=3)
    assert [p["id"] for p in quarter] == sorted((p["id"] for p in quarter), key=int)
    assert quarter != subsample_pairs(pairs, 0.25, seed=4)
    assert len(subsample_pairs(pairs, 0.001, seed=0)) == 1 and subsample_pairs(pairs, 1.0, seed=0) == pairs


def test_po_starts_where_the_variant_table_says() -> None:
    assert start_stage("aligncap_full") == ("no_po", "kd")
    assert start_stage("no_kd") == ("baseline_sft", "sft")  # no_kd's SFT is baseline_sft's
    assert start_stage("no_clues") == ("no_clues", "kd")
    with pytest.raises(ValueError, match="no PO stage"):
        start_stage("baseline_sft")


def test_config_validates() -> None:
    with pytest.raises(ValueError, match="candidates"):
        POConfig(candidates=1)
    with pytest.raises(ValueError, match="human_preferences"):
        POConfig(judge="human")
    with pytest.raises(ValueError, match="judge"):
        POConfig(judge="gpt")


@pytest.fixture(scope="module")
def po_run(smoke_pipeline, tmp_path_factory):  # noqa: F811
    layout = copy_pipeline(smoke_pipeline, tmp_path_factory.mktemp("po_run") / "run")
    po = dataclasses.replace(POConfig.for_preset("smoke"), progress=False)
    return layout, test_configs(steps=6), po


def test_trl_tokenizes_our_prompts_as_we_do(po_run) -> None:
    """trl tokenizes prompt + completion as one string; the ids must equal prompt ids + caption ids."""
    from aligncap_lib.captioner.model import load_model

    layout, configs, po = po_run
    _, tok = load_model(layout.teacher / "model")
    folder = ensure_pairs(layout, "aligncap_full", 0, po, configs, judge=_LengthJudge())
    pairs = read_pairs(folder)
    assert pairs, json.loads((folder / "stats.json").read_text())
    for p in pairs:
        for caption in (p["chosen"], p["rejected"]):
            whole = tok(p["prompt"] + caption, add_special_tokens=False)["input_ids"]
            parts = (
                tok(p["prompt"], add_special_tokens=False)["input_ids"]
                + tok(caption, add_special_tokens=False)["input_ids"]
            )
            assert whole == parts, (p["prompt"][-20:], caption)


def test_dpo_reference_is_the_start_model(po_run, tmp_path) -> None:
    from aligncap_lib.captioner.model import load_model
    from aligncap_lib.training.stages import train_student

    layout, configs, po = po_run
    start = train_student(layout, "no_po", 0, stage="kd", configs=configs)
    pairs = read_pairs(ensure_pairs(layout, "aligncap_full", 0, po, configs, judge=_LengthJudge()))
    model, tok, log = dpo_train(start, pairs, po, tmp_path, seed=0, lora_targets=configs.lora.targets)
    assert log and "rewards/accuracies" in log[-1] or "rewards/chosen" in log[-1]
    base, _ = load_model(start / "merged")
    teacher, _ = load_model(layout.teacher / "model")
    ids = tok(pairs[0]["prompt"] + pairs[0]["chosen"], return_tensors="pt", add_special_tokens=False)[
        "input_ids"
    ]
    with torch.no_grad(), model.disable_adapter():
        reference = model(input_ids=ids).logits
    with torch.no_grad():
        assert torch.allclose(
            reference, base(input_ids=ids).logits, atol=1e-5
        )  # the KD model, not the teacher
        assert not torch.allclose(reference, teacher(input_ids=ids).logits, atol=1e-3)
        assert not torch.allclose(model(input_ids=ids).logits, reference, atol=1e-6)  # DPO moved the adapter


def test_po_stage_end_to_end_and_cached(po_run) -> None:
    layout, configs, po = po_run
    out = train_po(layout, "aligncap_full", 0, configs=configs, po=po, judge=_LengthJudge())
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"]["pairs_used"] >= 1 and "test_zeroshot/en" in results["metrics"]["evaluation"]
    assert (out / "merged" / "model.safetensors").is_file() and (out / "eval").is_dir()
    stamp = (out / "stage.json").stat().st_mtime_ns
    assert train_po(layout, "aligncap_full", 0, configs=configs, po=po, judge=_LengthJudge()) == out
    assert (out / "stage.json").stat().st_mtime_ns == stamp
    half = train_po(layout, "aligncap_full", 0, configs=configs, po=dataclasses.replace(po, pair_fraction=0.5),
                    judge=_LengthJudge())  # fmt: skip
    assert half.name == "po_f0.5" and half != out


def test_pairs_key_follows_the_human_preference_files_contents(tmp_path) -> None:
    """A lab fills its preference file in over time: the pairs must be rebuilt when its contents change, not
    only when its path does (the key used to hash the path)."""
    from aligncap_lib.preference.po_regularization import pairs_fingerprint

    path = tmp_path / "human.jsonl"
    path.write_text('{"id": "a"}\n', encoding="utf-8")
    po = POConfig(judge="human", human_preferences=str(path))
    before = pairs_fingerprint("start", po, "aligncap_full", 0)
    assert pairs_fingerprint("start", po, "aligncap_full", 0) == before
    path.write_text('{"id": "a"}\n{"id": "b"}\n', encoding="utf-8")
    assert pairs_fingerprint("start", po, "aligncap_full", 0) != before
    path.unlink()
    with pytest.raises(FileNotFoundError, match="human.jsonl"):
        pairs_fingerprint("start", po, "aligncap_full", 0)
