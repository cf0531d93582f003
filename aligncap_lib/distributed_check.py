"""Multi-process training of the KD and PO stages through accelerate, and the check that it changes nothing.

The stages train with ``transformers.Trainer`` (KD: :class:`aligncap_lib.training.kd_trainer.CaptionTrainer`; PO: trl's
``DPOTrainer``), so ``accelerate launch`` distributes them without code of ours: DDP, DeepSpeed ZeRO-2/3 with
the configs in ``configs/accelerate/``. This module's entry point runs a few KD and DPO steps on a run folder
through exactly those trainers and writes the per-step losses of process 0::

    python -m aligncap_lib.distributed_check kd dpo --work runs/smoke --steps 3 --global-batch 4 --out one.json
    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 \\
        -m aligncap_lib.distributed_check kd dpo --work runs/smoke --steps 3 --global-batch 4 --out two.json

The per-device batch is ``global_batch / processes``. What makes the two runs equal (fp32; tested in
``tests/test_distributed.py``):

- The same examples per optimizer step. Trainer draws one seeded permutation (accelerate's
  ``SeedableRandomSampler``, seeded by ``data_seed``) and cuts it into per-device batches; accelerate gives
  process ``i`` the batches ``i, i+P, ...``, so step ``k`` of a ``P``-process run sees the ``k``-th global batch
  of the single-process run. The examples are cut to a multiple of the global batch so that no epoch ends in a
  short batch, which the two runs would split (or wrap around) differently.
- The same loss normalisation. DPO: a mean over pairs of per-pair losses; equal per-device batches and DDP's
  gradient mean give the global mean, whatever the sequence lengths. KD: token sums divided by the caption
  tokens of the whole global batch (Trainer gathers ``num_items_in_batch`` across processes), times ``P`` to
  undo DDP's gradient mean, as ``Trainer.compute_loss`` does; a per-process token *mean* would be exact only
  with equal token counts per process.
- No randomness inside a step: LoRA dropout 0 (the tiny LM has none), the same seed everywhere (DDP also
  broadcasts rank 0's initial weights).
- Logged values: Trainer's ``loss`` is gathered and averaged over processes; other logged values are only
  comparable where their trainer reduces them across processes (trl's rewards are gathered).

The pipeline's own command runs the same way (docs/paper_setting.md, "One GPU, several GPUs, DeepSpeed")::

    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 \\
        -m aligncap_lib.cli train --stage kd --variant no_po --seed 0 --work runs/smoke --preset smoke

Every process runs the stage; :func:`start_process_group` opens the process group first so that the stage
bookkeeping can :func:`barrier`; process 0 alone writes a stage folder (the others build into private
``.rank<k>`` scratch folders, deleted at the end: :func:`aligncap_lib.core.run_layout.run_stage`,
:func:`aligncap_lib.training.stages.train_student`); preference candidates are sampled and judged by process 0 alone.
A stage's ``batch_size`` is its global batch (:func:`per_device_batch`). Tested against a single-process run in
``tests/test_distributed.py``.

The KD examples and model are built as :func:`aligncap_lib.training.stages.train_student` builds them; DPO starts from the
run's text teacher LM on *swapped-caption* pairs (chosen: the clip's reference caption, rejected: another
clip's): not the pipeline's judged pairs, which need a trained student and sampling; for this check the
pairs only need to be fixed and non-trivial.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aligncap_lib.captioner import inputs
from aligncap_lib.captioner.model import attach_lora, load_model, unit_token_ids
from aligncap_lib.captioner.prompts import encode_example, example_prompt
from aligncap_lib.captioner.variants import clip_examples, get_variant
from aligncap_lib.core.processes import end_process_group, per_device_batch, whole_batches, world
from aligncap_lib.core.reproducibility import configure_threads, seed_everything, write_json
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.preference.po_regularization import POConfig, dpo_train
from aligncap_lib.training.kd_trainer import train, training_arguments
from aligncap_lib.training.stages import StageConfigs

MODES: tuple[str, ...] = ("kd", "dpo")


#: Logged keys written per step (those present): Trainer's ``loss`` (gathered) first.
LOG_KEYS: tuple[str, ...] = ("step", "loss", "ce", "kl", "grad_norm", "learning_rate", "rewards/chosen",
                             "rewards/rejected", "rewards/accuracies", "rewards/margins")  # fmt: skip


def kd_features(layout: Any, variant: str, seed: int) -> tuple[Any, Any, list[dict[str, list[int]]]]:
    """``(LoRA student, tokenizer, encoded train examples)`` of stage ``kd`` of ``variant``, built as
    :func:`aligncap_lib.training.stages.train_student` builds them, with LoRA dropout 0 (module docstring)."""

    configs = StageConfigs.for_preset(layout.preset)
    cap = configs.captioner
    v = get_variant(variant)
    if v.teacher is None:
        raise ValueError(f"variant {variant!r} has no KD teacher")
    seed_everything(seed)
    records = layout.records()
    base, tok = load_model(layout.teacher / "model")
    vocab = inputs.unit_vocabulary(layout)
    units = inputs.unit_texts(layout, records)
    measured = inputs.deployment_clues(records)
    model = attach_lora(base, unit_token_ids(tok, vocab), dataclasses.replace(configs.lora, dropout=0.0))
    train = [r for r in records if r["split"] == "train"]
    examples = clip_examples(train, v, units=units, measured=measured,
                             captions_per_clip=configs.schedule.captions_per_clip, teacher=v.teacher,
                             clue_dropout=configs.schedule.clue_dropout, seed=seed)  # fmt: skip
    feats = [encode_example(tok, ex, input_view="speech", teacher_view="text",
                            max_caption_tokens=cap.max_caption_tokens) for ex in examples]  # fmt: skip
    return model, tok, feats


def run_kd(
    layout: Any, out_dir: Path, *, steps: int, global_batch: int, seed: int, variant: str
) -> list[Any]:
    """``steps`` KD steps through :func:`aligncap_lib.training.kd_trainer.train`; returns Trainer's log history."""

    configs = StageConfigs.for_preset(layout.preset)
    kd, sched = configs.kd, configs.schedule
    model, tok, feats = kd_features(layout, variant, seed)
    args = training_arguments(out_dir, seed=seed, steps=steps,
                              batch_size=per_device_batch(global_batch, world()[1]), grad_accum=1,
                              lr=sched.learning_rate, warmup_ratio=sched.warmup_ratio, weight_decay=sched.weight_decay,
                              max_grad_norm=sched.max_grad_norm, logging_steps=1, progress=False)  # fmt: skip
    _, log = train(model, tok, whole_batches(feats, global_batch), args, kd_lambda=kd.kd_lambda, kd_kind=kd.kind,
                   kd_beta=kd.beta, kd_temperature=kd.temperature, resume=False)  # fmt: skip
    return log


def swapped_pairs(layout: Any, variant: str) -> list[dict[str, str]]:
    """One pair per ``train`` clip in trl's format: the student's speech prompt, its first reference caption as
    chosen and the next same-language clip's caption as rejected (skipped where the two are equal)."""

    records = [r for r in layout.records() if r["split"] == "train"]
    units = inputs.unit_texts(layout, records)
    measured = inputs.deployment_clues(records)
    examples = clip_examples(records, get_variant(variant), units=units, measured=measured, captions_per_clip=1,
                             teacher=None)  # fmt: skip
    pairs = []
    for lang in sorted({ex.lang for ex in examples}):
        group = [ex for ex in examples if ex.lang == lang]
        for i, ex in enumerate(group):
            other = group[(i + 1) % len(group)].caption
            if other != ex.caption:
                pairs.append({"prompt": example_prompt(ex, "speech", "student"), "chosen": ex.caption,
                              "rejected": other})  # fmt: skip
    return pairs


def dpo_start(layout: Any) -> Path:
    """A stage-like folder whose ``merged/`` is the run's text teacher LM (what :func:`dpo_train` reads): a
    symlink, made atomically so that every process may make it."""
    start = layout.work / "distributed" / "dpo_start"
    link = start / "merged"
    if not link.exists():
        start.mkdir(parents=True, exist_ok=True)
        tmp = start / f".merged.{os.getpid()}"
        tmp.symlink_to((layout.teacher / "model").resolve(), target_is_directory=True)
        os.replace(tmp, link)
    return start


def run_dpo(
    layout: Any, out_dir: Path, *, steps: int, global_batch: int, seed: int, variant: str
) -> list[Any]:
    """``steps`` DPO steps through :func:`aligncap_lib.preference.po_regularization.dpo_train` (the PO stage's
    DPOConfig/DPOTrainer) on :func:`swapped_pairs`; returns trl's per-step log."""

    configs = StageConfigs.for_preset(layout.preset)
    # DPO's sigmoid loss alone (sft_weight 0): trl averages the SFT term over each process's own tokens, so with it 1
    # and 2 processes differ by the token-count weighting (2e-3 relative on the smoke pairs, measured); the PO stage's
    # test under accelerate covers the SFT term at rtol 1e-3
    po = dataclasses.replace(POConfig.for_preset(layout.preset), sft_weight=0.0, steps=steps, batch_size=per_device_batch(global_batch, world()[1]),
                             progress=False)  # fmt: skip
    pairs = whole_batches(swapped_pairs(layout, variant), global_batch)
    seed_everything(seed)
    _, _, log = dpo_train(dpo_start(layout), pairs, po, out_dir, seed, lora_targets=configs.lora.targets)
    return log


RUNNERS = {"kd": run_kd, "dpo": run_dpo}


def run(
    modes: Sequence[str], work: Path, out: Path, *, steps: int, global_batch: int, seed: int = 0,
    variant: str = "no_po", preset: str = "smoke",
) -> dict[str, Any]:  # fmt: skip
    """Run ``modes`` in order; process 0 writes ``out`` (JSON: ``num_processes``, ``global_batch``,
    ``per_device_batch``, ``steps``, and per mode a list of per-step logs with :data:`LOG_KEYS`). Returns it."""

    unknown = [m for m in modes if m not in RUNNERS]
    if unknown or not modes:
        raise ValueError(f"unknown mode(s) {unknown}; choose from {MODES}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    configure_threads()
    rank, size = world()
    layout = RunLayout.for_preset(preset, work)
    scratch = Path(out).with_name(Path(out).stem + f"_trainer_p{size}")
    result: dict[str, Any] = {"num_processes": size, "global_batch": global_batch, "steps": steps,
                              "per_device_batch": per_device_batch(global_batch, size), "seed": seed}  # fmt: skip
    for mode in modes:
        log = RUNNERS[mode](layout, scratch / mode, steps=steps, global_batch=global_batch, seed=seed,
                            variant=variant)  # fmt: skip
        result[mode] = [{k: float(h[k]) for k in LOG_KEYS if k in h} for h in log if "loss" in h]
    if rank == 0:
        write_json(Path(out), result, digits=12)  # full precision: the comparison is at rtol 1e-4
    end_process_group()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aligncap_lib.core.processes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("modes", nargs="+", choices=MODES, help="kd, dpo or both, run in this order")
    parser.add_argument(
        "--work", required=True, help="a run folder with corpus, speech tokens and text teacher"
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--global-batch", type=int, default=4, help="examples per optimizer step, all processes"
    )
    parser.add_argument("--out", required=True, help="JSON of per-step losses (written by process 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", default="no_po", help="whose KD stage and prompts (default no_po)")
    parser.add_argument("--preset", default="smoke")
    a = parser.parse_args(argv)
    run(a.modes, Path(a.work), Path(a.out), steps=a.steps, global_batch=a.global_batch, seed=a.seed,
        variant=a.variant, preset=a.preset)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
