"""The experiment grid: every stage of every variant and seed, in dependency order, and ``aligncap train``.

``aligncap train --stage teacher|sft|kd|eval|po --variant V --seed K --work runs/P`` runs one stage; notebooks
05-07 run the grid (:func:`train_variants`). Stages: the text teacher, the SFT and KD students
(:mod:`aligncap_lib.training.stages`), the evaluation of the variants that train nothing (:mod:`aligncap_lib.training.baselines`)
and PO (:mod:`aligncap_lib.preference.po_regularization`). This module sits above all of them, so the registry is a plain
dictionary.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aligncap_lib.captioner.model import RuntimeConfig
from aligncap_lib.captioner.variants import get_variant
from aligncap_lib.core.processes import end_process_group, is_main_process, start_process_group
from aligncap_lib.core.reproducibility import configure_threads
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.preference.po_regularization import train_po
from aligncap_lib.training.baselines import evaluate_variant
from aligncap_lib.training.stages import StageConfigs, train_student, train_teacher


def _train_sft(layout: Any, variant: str, seed: int, preset: str | None = None, **kw: Any) -> Path:
    return train_student(layout, variant, seed, preset, stage="sft", **kw)


def _train_kd(layout: Any, variant: str, seed: int, preset: str | None = None, **kw: Any) -> Path:
    return train_student(layout, variant, seed, preset, stage="kd", **kw)


#: stage -> trainer(layout, variant, seed, preset, configs=..., ...) -> the stage folder.
STAGES: dict[str, Callable[..., Path]] = {
    "teacher": train_teacher,
    "sft": _train_sft,
    "kd": _train_kd,
    "eval": evaluate_variant,
    "po": train_po,
}


def stage_plan(
    variants: list[str] | tuple[str, ...], stages: tuple[str, ...] = ("sft", "kd")
) -> list[tuple[str, str]]:
    """``(variant, stage)`` in the order to run them: each trained variant's ``stages`` it has (shared stages
    once, under their owner), then ``eval`` of the variants that train nothing (the control after its model)."""
    plan: list[tuple[str, str]] = []
    for name in variants:
        v = get_variant(name)
        if v.kind == "lm":
            plan += [(v.owner(s), s) for s in v.stages if s in stages and (v.owner(s), s) not in plan]
    plan += [(n, "eval") for n in variants if get_variant(n).kind != "lm"]
    return plan


def train_variants(
    layout: Any,
    variants: list[str] | tuple[str, ...],
    seeds: list[int] | tuple[int, ...],
    preset: str | None = None,
    *,
    stages: tuple[str, ...] = ("sft", "kd"),
    configs: StageConfigs | None = None,
) -> dict[tuple[str, str, int], Path]:
    """Run :func:`stage_plan` for every seed (cached stages are reused): ``{(variant, stage, seed): folder}``.

    The text teacher is trained (or reused) first. Non-trained variants are evaluated per seed too: their
    captions do not depend on a model, but ``trivial_random`` draws and the control's model do. ``configs``:
    :class:`StageConfigs`, default the preset's; with them the teacher must already exist.
    """
    if configs is None:
        train_teacher(layout, preset=preset)
    out: dict[tuple[str, str, int], Path] = {}
    for seed in seeds:
        for variant, stage in stage_plan(variants, stages):
            out[(variant, stage, seed)] = STAGES[stage](
                layout, variant, seed, preset or layout.preset, configs=configs
            )
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", required=True, choices=sorted(STAGES), help="which stage to train")
    parser.add_argument(
        "--variant", default="no_po", help="variant name (see aligncap_lib.captioner.variants)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help="run folder (default runs/<preset>)")
    parser.add_argument(
        "--preset", default=None, help="smoke | cpu | paper (default: $ALIGNCAP_PRESET or cpu)"
    )


def run(args: argparse.Namespace) -> int:
    """``aligncap train``; also under ``accelerate launch`` (docs/paper_setting.md, "One GPU, several GPUs, DeepSpeed"): every process trains, process 0
    writes the stage (:func:`aligncap_lib.core.run_layout.run_stage`, :func:`train_student`)."""
    configure_threads()
    layout = RunLayout.for_preset(args.preset, args.work)
    start_process_group(RuntimeConfig.for_preset(layout.preset).device)
    out = STAGES[args.stage](layout, args.variant, args.seed, layout.preset)
    end_process_group()  # not on an error: a barrier there would wait forever; the launcher stops the others
    if is_main_process():
        print(f"{args.stage} of {args.variant} seed {args.seed}: {out}")
    return 0
