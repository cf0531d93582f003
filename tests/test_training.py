"""Smoke-scale training: teacher -> KD student, killed mid-run and resumed to a byte-identical results JSON;
the summary over it. Uses the session's tiny corpus (tests/fixtures_corpus.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from transformers import TrainerCallback

from aligncap_lib.captioner.model import CaptionerConfig
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.evaluation.scoring import EvaluationConfig
from aligncap_lib.training.stages import train_student
from aligncap_lib.training.text_teacher import TeacherConfig, teacher_fingerprint
from tests.fixtures_pipeline import copy_pipeline, smoke_pipeline, test_configs  # noqa: F401


class _Kill(TrainerCallback):
    """Raise after ``step`` optimizer steps, as a kill would interrupt the run."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step >= self.step:
            raise KeyboardInterrupt("simulated kill")


@pytest.fixture(scope="module")
def smoke_run(smoke_pipeline, tmp_path_factory):  # noqa: F811
    layout = copy_pipeline(smoke_pipeline, tmp_path_factory.mktemp("train_run") / "run")
    return layout, test_configs(steps=6, save_steps=2)


def test_kill_and_resume_gives_byte_identical_results(smoke_run) -> None:
    layout, configs = smoke_run
    out = train_student(layout, "no_po", 0, stage="kd", configs=configs)
    reference = (out / "results.json").read_bytes()
    assert (out / "merged" / "model.safetensors").is_file() and (out / "adapter").is_dir()
    results = json.loads(reference)
    assert results["metrics"]["valid_speech_text_kl"]["mean"] > 0
    assert results["config"]["decoding"]["strategy"] == "greedy"
    log = json.loads((out / "log.json").read_text())
    assert any("kl" in h for h in log)
    # same seed, same result (a fresh run)
    shutil.rmtree(out)
    assert (
        train_student(layout, "no_po", 0, stage="kd", configs=configs) / "results.json"
    ).read_bytes() == reference
    # killed after step 3 (checkpoint at step 2), then resumed
    shutil.rmtree(out)
    with pytest.raises(KeyboardInterrupt):
        train_student(layout, "no_po", 0, stage="kd", configs=configs, callbacks=[_Kill(3)])
    partial = out.with_name("kd.partial")
    assert any(p.name.startswith("checkpoint-") for p in (partial / "checkpoints").iterdir())
    resumed = train_student(layout, "no_po", 0, stage="kd", configs=configs)
    assert (resumed / "results.json").read_bytes() == reference
    assert not partial.exists()


def test_shared_stage_and_cache(smoke_run) -> None:
    layout, configs = smoke_run
    a = train_student(layout, "no_po", 0, stage="kd", configs=configs)
    stamp = (a / "stage.json").stat().st_mtime_ns
    b = train_student(layout, "aligncap_full", 0, stage="kd", configs=configs)
    assert a == b and (b / "stage.json").stat().st_mtime_ns == stamp  # trained once, reused
    with pytest.raises(ValueError, match="no stage 'kd'"):
        train_student(layout, "no_kd", 0, stage="kd", configs=configs)
    sft = train_student(layout, "baseline_sft", 0, stage="sft", configs=configs)
    assert (
        train_student(layout, "no_kd", 0, stage="sft", configs=configs) == sft
    )  # no_kd's SFT is baseline_sft's


def test_summary_shape(smoke_run, monkeypatch) -> None:
    from aligncap_lib.analysis import results_summary
    from aligncap_lib.training import stage_results

    layout, configs = smoke_run
    train_student(layout, "no_po", 0, stage="kd", configs=configs)
    summary = results_summary.build_summary(
        layout, variants=("no_po", "aligncap_full"), config=configs.evaluation
    )
    runs = [r for r in summary["runs"] if r["variant"] == "no_po"]
    assert runs and {"variant", "seed", "split", "lang", "metrics"} <= set(runs[0])
    assert "cider" in runs[0]["metrics"]
    cell = summary["aggregate"]["no_po"]["test_zeroshot"]["en"]["cider"]
    assert cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1]
    assert "aligncap_full" in summary["aggregate"]  # reads no_po's shared KD stage until PO exists
    assert Path(stage_results.final_stage_dir(layout, "aligncap_full", 0)).name == "kd"


def test_refitted_speech_tokens_retrain_the_student(smoke_run) -> None:
    """The student's cache key includes the speech tokens' fingerprint: re-fitted units must not be served a
    student trained on the old ones."""
    layout, configs = smoke_run
    out = train_student(layout, "no_po", 0, stage="kd", configs=configs)
    before = json.loads((out / "stage.json").read_text())["fingerprint"]
    info = layout.tokens / "stage.json"
    original = info.read_text()
    try:
        info.write_text(original.replace('"fingerprint": "', '"fingerprint": "refit-', 1))
        out = train_student(layout, "no_po", 0, stage="kd", configs=configs)
        assert json.loads((out / "stage.json").read_text())["fingerprint"] != before
    finally:
        info.write_text(original)


def test_lora_settings_retrain_every_student(smoke_run) -> None:
    """SFT students have an adapter too: its settings are in every student's cache key (they used to sit in the
    KD config, which only the KD stage hashed, so a new rank silently reused old SFT models)."""
    layout, configs = smoke_run
    keys = {}
    for r in (4, 2):
        cfgs = configs._replace(lora=dataclasses.replace(configs.lora, r=r))
        out = train_student(layout, "baseline_sft", 0, stage="sft", configs=cfgs)
        keys[r] = json.loads((out / "stage.json").read_text())["fingerprint"]
        assert json.loads((out / "results.json").read_text())["config"]["lora"]["r"] == r
    assert keys[4] != keys[2]


def test_teacher_key_holds_the_unit_vocabulary() -> None:
    """The teacher's tokenizer holds the speech-unit tokens: another vocabulary is another teacher."""
    cap, teacher = CaptionerConfig.for_preset("smoke"), TeacherConfig.for_preset("smoke")
    a = teacher_fingerprint(cap, teacher, "corpus", ["<su0_0>", "<su0_1>", "<su_x2>"])
    assert a == teacher_fingerprint(cap, teacher, "corpus", ["<su0_0>", "<su0_1>", "<su_x2>"])
    assert a != teacher_fingerprint(cap, teacher, "corpus", ["<su0_0>", "<su0_1>", "<su0_2>", "<su_x2>"])


def test_stage_plan_trains_shared_stages_once_and_evaluates_the_rest() -> None:
    from aligncap_lib.experiment.grid import stage_plan

    plan = stage_plan(
        ["shuffled_speech", "no_po", "aligncap_full", "baseline_sft", "no_kd", "trivial_random"]
    )
    assert plan == [("no_po", "kd"), ("baseline_sft", "sft"), ("shuffled_speech", "eval"),
                    ("trivial_random", "eval")]  # fmt: skip
    assert stage_plan(["no_kd"], stages=("sft", "po")) == [("baseline_sft", "sft"), ("no_kd", "po")]


def test_grid_kl_intervals_and_quality_bar(smoke_run) -> None:
    """The notebook-05 path end to end at smoke scale: variants trained and evaluated per seed, the held-out KL
    over seeds, the quality bar's rows and a paired difference that is exactly zero against itself."""
    from aligncap_lib.analysis import results_summary
    from aligncap_lib.experiment.grid import train_variants
    from aligncap_lib.training import stage_results
    from aligncap_lib.training.stages import read_log

    layout, configs = smoke_run
    ev = configs.evaluation
    variants = ["trivial_random", "trivial_majority", "baseline_sft", "no_po"]
    trained = train_variants(layout, variants, [0, 1], configs=configs)
    assert {(v, s) for v, s, _ in trained} == {("baseline_sft", "sft"), ("no_po", "kd"), ("trivial_random", "eval"),
                                                ("trivial_majority", "eval")}  # fmt: skip
    assert read_log(trained[("no_po", "kd", 0)])
    kl = results_summary.kl_over_seeds(layout, "no_po", "kd", ev)
    assert kl["n_seeds"] == 2 and kl["ci95"][0] <= kl["mean"] <= kl["ci95"][1]
    assert set(kl["per_seed"]) == {0, 1}
    # the KL on the claim split too, and the unseen-phrasing scores stored apart and summarised apart
    assert ev.kl_splits == ("valid", "test_zeroshot")
    kl_test = results_summary.kl_over_seeds(layout, "no_po", "kd", ev, split="test_zeroshot")
    n_test = sum(r["split"] == "test_zeroshot" for r in layout.records())
    assert kl_test["n_seeds"] == 2 and kl_test["mean"] != kl["mean"]
    assert (
        len(json.loads((trained[("no_po", "kd", 0)] / "test_zeroshot_kl.json").read_text())["kl"]) == n_test
    )
    assert (trained[("no_po", "kd", 0)] / "eval" / "unseen_phrasing" / "test_zeroshot_en.json").is_file()
    unseen = results_summary.build_summary(layout, config=ev, references="unseen_phrasing")["aggregate"]
    assert set(unseen["no_po"]["test_zeroshot"]["en"]) >= {"cider", "bleu_4", "repetition"}
    rows = results_summary.quality_bar(layout, ev)
    assert len(rows) == 4 and all(isinstance(r["passed"], bool) for r in rows)
    # the KD floor: the teacher against itself, on the students' clips; the excess is KL - floor per clip
    floored = results_summary.kl_with_floor(layout, "no_po", "kd", ev)
    assert floored["floor"] >= 0 and abs(floored["mean"] - floored["floor"] - floored["excess"]) < 1e-9
    mine = stage_results.stage_results(layout, "no_po", "kd")
    same = results_summary.paired_over_seeds(mine, mine, "test_zeroshot", "en", "cider", ev)
    assert same["diff"] == 0.0 and same["ci95"] == [0.0, 0.0] and same["n_seeds"] == 2
    table = results_summary.aggregate_table(
        results_summary.build_summary(layout, config=ev), "test_zeroshot", "en"
    )
    assert [r["variant"] for r in table][:2] == ["trivial_random", "trivial_majority"]
    assert next(r for r in table if r["variant"] == "baseline_sft")["stage"] == "sft"


def test_transcript_augmentation_changes_only_transcripts() -> None:
    """A share of examples gets a pseudo-transcript built from its own language's train transcripts; captions,
    clues and the clue-dropout draws stay as without augmentation; the same seed gives the same examples."""
    from aligncap_lib.training.text_teacher import teacher_examples

    records = [
        {"id": f"{lang}{i}", "lang": lang, "split": "train", "text": text, "captions": [cap] * 2}
        for i in range(40)
        for lang, text, cap in (
            ("en", f"the red door number {i} opens.", "The speaker sounds happy, with a high pitch."),
            ("zh", "我们明天去海边。", "说话人语速较快，情绪开心。"),
        )
    ]
    plain = teacher_examples(records, 2, 0.2, seed=3)
    aug = teacher_examples(records, 2, 0.2, seed=3, transcript_augmentation=0.5)
    assert aug == teacher_examples(records, 2, 0.2, seed=3, transcript_augmentation=0.5)
    assert [(e.id, e.caption, e.teacher_clues) for e in aug] == [
        (e.id, e.caption, e.teacher_clues) for e in plain
    ]
    changed = [a for a, p in zip(aug, plain, strict=True) if a.transcript != p.transcript]
    assert 0.3 < len(changed) / len(aug) < 0.7
    en_words = {w for r in records if r["lang"] == "en" for w in r["text"].split()}
    for e in changed:
        if e.lang == "en":
            assert set(e.transcript[:-1].split()) <= en_words and 3 <= len(e.transcript.split()) <= 10
        else:
            assert set(e.transcript[:-1]) <= set("我们明天去海边")
    assert teacher_examples(records, 2, 0.2, seed=3, transcript_augmentation=0.0) == plain


def test_novel_words_in_pseudo_transcripts() -> None:
    """With ``novel_word_share`` a pseudo-transcript mixes train words with made-up ones (random letters, EN;
    random CJK characters, ZH) near the asked share; captions and clues stay; 0 gives the train words only."""
    from aligncap_lib.training.text_teacher import teacher_examples

    records = [
        {"id": f"{lang}{i}", "lang": lang, "split": "train", "text": text, "captions": [cap] * 2}
        for i in range(40)
        for lang, text, cap in (
            ("en", "the red door opens.", "The speaker sounds happy, with a high pitch."),
            ("zh", "我们明天去海边。", "说话人语速较快，情绪开心。"),
        )
    ]
    base = teacher_examples(records, 2, 0.2, seed=3, transcript_augmentation=1.0)
    novel = teacher_examples(records, 2, 0.2, seed=3, transcript_augmentation=1.0, novel_word_share=0.5)
    assert novel == teacher_examples(
        records, 2, 0.2, seed=3, transcript_augmentation=1.0, novel_word_share=0.5
    )
    assert [(e.caption, e.teacher_clues) for e in novel] == [(e.caption, e.teacher_clues) for e in base]
    en_words, zh_chars = {"the", "red", "door", "opens."}, set("我们明天去海边")
    pieces = {"en": [0, 0], "zh": [0, 0]}  # [made-up, all]
    for e in novel:
        got = e.transcript[:-1].split() if e.lang == "en" else list(e.transcript[:-1])
        made_up = [p for p in got if p not in (en_words if e.lang == "en" else zh_chars)]
        assert (
            all(p.isalpha() and p.islower() for p in made_up)
            if e.lang == "en"
            else all("\u4e00" <= p <= "\u9fff" for p in made_up)
        )
        pieces[e.lang][0] += len(made_up)
        pieces[e.lang][1] += len(got)
    assert all(0.4 < made / total < 0.6 for made, total in pieces.values()), pieces
    assert all(set(e.transcript[:-1].split()) <= en_words for e in base if e.lang == "en")


def test_explicit_seeds_leave_out_a_stale_seed_folder(tmp_path: Path) -> None:
    """A seed folder left by an older configuration (here: its KL measured on other clips) is mixed into the
    intervals when the seeds are read from the disk, and left out when the caller names the seeds it trained."""
    from aligncap_lib.analysis import ablations, results_summary

    layout, ev = RunLayout(preset="smoke", work=tmp_path), EvaluationConfig(n_bootstrap=50)
    for variant, stage, kls in (
        ("no_po", "kd", {0: [0.1, 0.3], 1: [5.0]}),
        ("baseline_sft", "sft", {0: [0.4, 0.6], 1: [9.0]}),
    ):
        for seed, kl in kls.items():
            folder = layout.model(variant, seed) / stage
            folder.mkdir(parents=True)
            ids = ["a", "b"] if seed == 0 else ["stale"]
            (folder / "valid_kl.json").write_text(json.dumps({"ids": ids, "kl": kl}))
    kl = results_summary.kl_over_seeds(layout, "no_po", "kd", ev, seeds=[0])
    assert kl["n_seeds"] == 1 and abs(kl["mean"] - 0.2) < 1e-9
    d = ablations.kl_difference(layout, ("no_po", "kd"), ("baseline_sft", "sft"), ev, seeds=[0])
    assert d["n_seeds"] == 1 and abs(d["diff"] + 0.3) < 1e-9
    with pytest.raises(ValueError, match="different clips"):  # the stale seed named too
        results_summary.kl_over_seeds(layout, "no_po", "kd", ev, seeds=[0, 1])
