"""The trained stages of one variant and seed (text teacher, SFT and KD students), cached by fingerprint,
resumable after a kill; run one with ``aligncap train --stage teacher|sft|kd --variant V --seed K --work runs/P``
(:mod:`aligncap_lib.experiment.grid`).

Layout: ``runs/<preset>/models/<owner>/seed<k>/<stage>/`` with ``adapter/`` (peft, safetensors), ``merged/``
(a plain causal LM in safetensors: what PO and export start from), ``hyps/<split>_<lang>.json``,
``eval/<split>_<lang>.json`` (per-clip statistics for the summary's intervals), ``log.json`` (per-step CE and
KL) and ``results.json``. ``<owner>`` is the variant that owns a shared stage (``aligncap_full``'s ``kd`` is
``no_po``'s). While training, checkpoints go to ``<stage>.partial/``; a re-run resumes from the newest one and
writes a byte-identical ``results.json`` (tested).
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from aligncap_lib.captioner import inputs
from aligncap_lib.captioner.generation import DecodingConfig, generate_captions
from aligncap_lib.captioner.model import (
    CaptionerConfig,
    LoRAConfig,
    RuntimeConfig,
    attach_lora,
    load_model,
    save_model,
    unit_token_ids,
)
from aligncap_lib.captioner.prompts import encode_example
from aligncap_lib.captioner.variants import clip_examples, get_variant
from aligncap_lib.core.presets import combined_hash
from aligncap_lib.core.processes import barrier, is_main_process, rank_suffix
from aligncap_lib.core.reproducibility import seed_everything, write_json, write_results
from aligncap_lib.core.run_layout import publish, read_stage, run_stage, upstream_record
from aligncap_lib.evaluation import bootstrap as bs
from aligncap_lib.evaluation.result_store import result_path, save_result
from aligncap_lib.evaluation.scoring import (
    EvaluationConfig,
    evaluate_captions,
    manifest_references,
    reference_sets_of,
)
from aligncap_lib.training.kd_regularization import KDConfig, speech_text_kl
from aligncap_lib.training.kd_trainer import ScheduleConfig, train, training_arguments
from aligncap_lib.training.text_teacher import TeacherConfig, ensure_teacher


class StageConfigs(NamedTuple):
    """The configs a trained stage reads, built together for one preset (tests pass smaller ones)."""

    captioner: CaptionerConfig
    kd: KDConfig
    teacher: TeacherConfig
    evaluation: EvaluationConfig
    lora: LoRAConfig
    schedule: ScheduleConfig
    decoding: DecodingConfig
    runtime: RuntimeConfig

    @classmethod
    def for_preset(cls, preset: str) -> StageConfigs:
        return cls(
            CaptionerConfig.for_preset(preset),
            KDConfig.for_preset(preset),
            TeacherConfig.for_preset(preset),
            EvaluationConfig.for_preset(preset),
            LoRAConfig.for_preset(preset),
            ScheduleConfig.for_preset(preset),
            DecodingConfig.for_preset(preset),
            RuntimeConfig.for_preset(preset),
        )

    def student_hashes(self) -> list[str]:
        """The result hashes every trained student depends on (KD's only for the KD stage: see the caller)."""
        return [c.result_hash() for c in (self.captioner, self.lora, self.schedule, self.decoding,
                                          self.runtime, self.evaluation)]  # fmt: skip


def train_teacher(layout: Any, variant: str = "", seed: int = 0, preset: str | None = None, **_: Any) -> Path:

    configs = StageConfigs.for_preset(preset or layout.preset)
    return ensure_teacher(layout, configs.captioner, configs.teacher, runtime=configs.runtime,
                          decoding=configs.decoding)  # fmt: skip


def train_student(
    layout: Any,
    variant: str,
    seed: int,
    preset: str | None = None,
    *,
    stage: str,
    callbacks: list[Any] | None = None,
    configs: StageConfigs | None = None,
    name: str | None = None,
) -> Path:
    """Train stage ``sft`` or ``kd`` of ``variant`` (or reuse it); returns the stage folder (``name``: a folder
    name other than the stage's, for a sweep point with other configs: :mod:`aligncap_lib.analysis.extras`)."""

    v = get_variant(variant)
    owner = v.owner(stage)
    if owner != variant:  # a shared stage: train it once, under its owner
        return train_student(layout, owner, seed, preset, stage=stage, callbacks=callbacks, configs=configs,
                             name=name)  # fmt: skip
    cfgs = configs or StageConfigs.for_preset(preset or layout.preset)
    kd = cfgs.kd
    if stage == "kd" and v.teacher is None:
        raise ValueError(f"variant {variant!r} has no KD teacher")
    if configs is None:
        train_teacher(layout, preset=preset)
    teacher = read_stage(layout.teacher)
    if teacher is None:
        raise RuntimeError(f"no text teacher in {layout.teacher}: run `aligncap train --stage teacher` first")
    # the speech units the student reads: a re-fitted tokenizer must retrain the student
    tokens = (read_stage(layout.tokens) or {}).get("fingerprint", "")
    fingerprint = combined_hash(
        teacher["fingerprint"],
        tokens,
        *cfgs.student_hashes(),  # every student has an adapter, SFT included
        kd.result_hash() if stage == "kd" else "",
        {"variant": variant, "stage": stage, "seed": seed},
    )

    out = layout.model(variant, seed) / (name or stage)
    barrier()  # under accelerate launch: every process checks the cache at the same moment, so all agree
    info = read_stage(out)
    if info is not None and info.get("fingerprint") == fingerprint:
        return out
    partial = out.with_name(out.name + ".partial")
    main = is_main_process()
    if main:
        if (partial / "fingerprint").is_file() and (partial / "fingerprint").read_text() != fingerprint:
            shutil.rmtree(partial)
        partial.mkdir(parents=True, exist_ok=True)
        (partial / "fingerprint").write_text(fingerprint)
    barrier()
    # checkpoints (written by process 0 only, read by all on resume) are shared; every other file of a
    # process other than 0 goes to its private scratch folder, deleted at the end
    work = partial if main else out.with_name(out.name + ".partial" + rank_suffix())
    work.mkdir(parents=True, exist_ok=True)
    summary = _train_and_evaluate(layout, v, stage, seed, cfgs, work, callbacks, partial / "checkpoints")
    if main:
        shutil.rmtree(partial / "checkpoints", ignore_errors=True)
        (partial / "fingerprint").unlink()

        upstream = upstream_record(out, {"teacher": layout.teacher, "tokens": layout.tokens})
        write_json(
            partial / "stage.json", {"fingerprint": fingerprint, "summary": summary, "upstream": upstream}
        )
    publish(work, out)  # process 0: partial -> out; the others: their scratch folder deleted
    return out


def _train_and_evaluate(
    layout: Any,
    v: Any,
    stage: str,
    seed: int,
    cfgs: StageConfigs,
    work: Path,
    callbacks: list[Any] | None,
    checkpoints: Path | None = None,
) -> dict[str, Any]:
    import numpy as np

    cap, kd, ev, schedule = cfgs.captioner, cfgs.kd, cfgs.evaluation, cfgs.schedule
    seed_everything(seed)
    records = layout.records()
    base, tok = load_model(layout.teacher / "model", cfgs.runtime)
    vocab = inputs.unit_vocabulary(layout)
    units = inputs.unit_texts(layout, records)
    measured = inputs.deployment_clues(records)
    model = attach_lora(
        base,
        unit_token_ids(tok, vocab),
        cfgs.lora,
        gradient_checkpointing=cfgs.runtime.gradient_checkpointing,
    )
    train_recs = [r for r in records if r["split"] == "train"]
    if schedule.train_fraction < 1:  # the extras' data-size curve
        train_recs = subset_fraction(train_recs, schedule.train_fraction)
    teacher_input = v.teacher if stage == "kd" else "transcript+clues"  # SFT: the view is only logged
    examples = clip_examples(
        train_recs,
        v,
        units=units,
        measured=measured,
        captions_per_clip=schedule.captions_per_clip,
        teacher=teacher_input,
        clue_dropout=schedule.clue_dropout,
        seed=seed,
    )
    feats = [
        encode_example(
            tok, ex, input_view="speech", teacher_view="text", max_caption_tokens=cap.max_caption_tokens
        )
        for ex in examples
    ]
    args = training_arguments(
        checkpoints or work / "checkpoints",
        seed=seed,
        steps=schedule.steps,
        batch_size=schedule.batch_size,
        grad_accum=schedule.grad_accum,
        lr=schedule.learning_rate,
        warmup_ratio=schedule.warmup_ratio,
        weight_decay=schedule.weight_decay,
        max_grad_norm=schedule.max_grad_norm,
        save_steps=schedule.save_steps,
        logging_steps=max(1, min(10, schedule.steps // 5)),  # per-step CE/KL curves even in short runs
        progress=schedule.progress,
        runtime=cfgs.runtime,
        global_batch=True,
    )
    kd_lambda = kd.kd_lambda if stage == "kd" else 0.0
    model, log = train(
        model,
        tok,
        feats,
        args,
        kd_lambda=kd_lambda,
        kd_kind=kd.kind,
        kd_beta=kd.beta,
        kd_temperature=kd.temperature,
        callbacks=callbacks,
    )
    write_json(
        work / "log.json",
        [{k: h[k] for k in ("step", "ce", "kl", "loss", "learning_rate") if k in h} for h in log],
    )
    # measured alignment on held-out clips (valid, and the claim split): KL(text view of the frozen base ||
    # speech view of this student); per clip, for intervals over seeds (results_summary.kl_over_seeds)
    metrics: dict[str, Any] = {}
    for split in ev.kl_splits:
        held = [r for r in records if r["split"] == split]
        if not held:
            continue
        held_ex = clip_examples(
            held, v, units=units, measured=measured, captions_per_clip=1, teacher="transcript+clues"
        )
        kl = speech_text_kl(model, tok, held_ex, max_caption_tokens=cap.max_caption_tokens)
        write_json(
            work / f"{split}_kl.json", {"ids": [ex.id for ex in held_ex], "kl": [float(x) for x in kl]}
        )
        kl_iv = bs.bootstrap_interval(
            bs.as_mean_stats(kl),
            bs.mean_statistic,
            n_resamples=ev.n_bootstrap,
            confidence=ev.confidence,
            seed=ev.bootstrap_seed,
        )
        metrics[f"{split}_speech_text_kl"] = {
            "mean": float(np.mean(kl)),
            "ci95": [kl_iv.low, kl_iv.high],
            "n_clips": len(kl),
        }
    model.save_pretrained(work / "adapter", safe_serialization=True)
    splits = cfgs.evaluation.splits
    if stage != v.stages[-1]:  # an intermediate stage (PO continues from it): the claim split only
        splits = tuple(s for s in splits if s in cfgs.evaluation.intermediate_splits)
    metrics["evaluation"] = evaluate_model(model, tok, records, v, units, measured, cfgs, work, seed, splits)
    save_model(model.merge_and_unload(), tok, work / "merged")
    config = {
        "captioner": cap.to_dict(),
        "kd": kd.to_dict(),
        "lora": cfgs.lora.to_dict(),
        "schedule": schedule.to_dict(),
        "runtime": cfgs.runtime.to_dict(),
        "evaluation": ev.result_fields(),
        "variant": v.name,
        "stage": stage,
        "seed": seed,
        "decoding": cfgs.decoding.settings(),
    }
    write_results(work / "results.json", metrics, config=config)
    return {"final_ce": log[-1].get("ce") if log else None} | {
        key: round(m["mean"], 4) for key, m in metrics.items() if key.endswith("_speech_text_kl")
    }


def subset_fraction(records: Sequence[dict[str, Any]], fraction: float) -> list[dict[str, Any]]:
    """A nested, seeded ``fraction`` of ``records`` per language (at least one clip each): the clips whose id hash
    ranks in the first ``fraction`` of their language. Nested: the 25% subset lies inside the 50% one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction >= 1:
        return list(records)
    keep: set[str] = set()
    for lang in sorted({r["lang"] for r in records}):
        ids = sorted(
            (r["id"] for r in records if r["lang"] == lang), key=lambda i: (zlib.crc32(i.encode()), i)
        )
        keep |= set(ids[: max(1, round(fraction * len(ids)))])
    return [r for r in records if r["id"] in keep]


def kd_floor(layout: Any, split: str, configs: StageConfigs | None = None) -> dict[str, Any]:
    """The floor of the held-out KL on ``split``: KL(teacher given the caption's clues in the caption's order ||
    the same teacher given the same clues in slot order), per clip, on the clips and captions the students' KL
    reads (the first reference). The caption's order is information no student can hear, so no student's KL is
    expected below it; ``student KL - floor`` is the excess KD can remove. Cached in ``runs/<preset>/kd_floor/``
    by the teacher's fingerprint; returns ``{"ids", "kl"}``."""
    import json

    import numpy as np

    cfgs = configs or StageConfigs.for_preset(layout.preset)
    teacher = read_stage(layout.teacher)
    if teacher is None:
        raise RuntimeError(f"no text teacher in {layout.teacher}: run `aligncap train --stage teacher` first")
    fingerprint = combined_hash(teacher["fingerprint"], cfgs.captioner.result_hash(), {"split": split})

    def build(tmp: Path) -> dict[str, Any]:
        records = [r for r in layout.records() if r["split"] == split]
        model, tok = load_model(layout.teacher / "model", cfgs.runtime)
        held = clip_examples(records, get_variant("no_po"), units={}, measured={}, captions_per_clip=1,
                             teacher="transcript+clues")  # fmt: skip
        kl = speech_text_kl(model, tok, [_with_slot_order(ex) for ex in held], max_caption_tokens=cfgs.captioner.max_caption_tokens,
                            student_view="text")  # fmt: skip
        write_json(tmp / "floor.json", {"ids": [ex.id for ex in held], "kl": [float(x) for x in kl]})
        return {"clips": len(held), "mean": float(np.mean(kl)) if len(kl) else None}

    folder, _ = run_stage(
        layout.work / "kd_floor" / split, fingerprint, build, upstream={"teacher": layout.teacher}
    )
    return dict(json.loads((folder / "floor.json").read_text(encoding="utf-8")))


def _with_slot_order(ex: Any) -> Any:
    """``ex`` whose student clues are its teacher clues in slot order (the KD floor's second view)."""
    import dataclasses

    from aligncap_lib.core.attributes import SLOTS

    clues = ex.teacher_clues or {}
    return dataclasses.replace(ex, student_clues={s: clues[s] for s in SLOTS if s in clues})


def evaluate_model(
    model: Any,
    tok: Any,
    records: list[dict[str, Any]],
    v: Any,
    units: dict[str, str],
    measured: dict[str, Any],
    cfgs: StageConfigs,
    work: Path,
    seed: int,
    splits: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Generate and score ``splits`` (default ``cfgs.evaluation.splits``) x languages; writes hyps and per-clip
    statistics under ``work``."""

    out: dict[str, Any] = {}
    for split in cfgs.evaluation.splits if splits is None else splits:
        for lang in ("en", "zh"):
            recs = [r for r in records if r["split"] == split and r["lang"] == lang]
            if not recs:
                continue
            ex = clip_examples(recs, v, units=units, measured=measured, captions_per_clip=1, teacher=None)
            hyps = generate_captions(model, tok, ex, cfgs.decoding.settings(), seed=seed)
            out[f"{split}/{lang}"] = score_hyps(hyps, recs, lang, cfgs.evaluation, work, f"{split}_{lang}")
    return out


def score_hyps(
    hyps: dict[str, str], recs: list[dict[str, Any]], lang: str, ev: Any, work: Path, name: str
) -> dict[str, Any]:
    """Score one split x language against the main references, and against the unseen-phrasing set where the
    records have one and the split is in ``ev.unseen_phrasing_splits``; store the hyps JSON and the per-clip
    statistics (:func:`aligncap_lib.evaluation.result_store.result_path`); returns the main metrics."""

    write_json(work / "hyps" / f"{name}.json", hyps)
    by_id = {r["id"]: r for r in recs}
    split = str(recs[0]["split"]) if recs else ""
    extra = [s for s in reference_sets_of(recs) if s != "main" and split in ev.unseen_phrasing_splits]
    out: dict[str, Any] = {}
    for refs_name in ("main", *extra):
        refs = manifest_references(by_id, by_id, refs_name)
        result = evaluate_captions(refs, hyps, lang, records=by_id, config=ev, intervals=False)
        save_result(result, result_path(work, name, refs_name))
        if refs_name == "main":
            out = {k: v for k, v in result.metrics.items() if not isinstance(v, (dict, list))}
    return out


def read_log(stage_dir: Path) -> list[dict[str, Any]]:
    """The per-step training log of a stage folder (``step``, ``ce``, ``kl``, ``loss``, ``learning_rate``)."""
    import json

    path = Path(stage_dir) / "log.json"
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}: is {stage_dir} a trained stage?")
    return list(json.loads(path.read_text(encoding="utf-8")))
