"""Stage ``eval`` of the variants that train nothing: ``trivial_random``, ``trivial_majority``, the range rows
``content_oracle`` and ``wrong_content``, ``acoustic_template`` (deployment-realistic analyzer clues) and the
``shuffled_speech`` control (the ``aligncap_full`` model after PO fed another clip's speech units of the same language). Output: ``runs/<preset>/models/<variant>/seed<k>/eval/`` with the same ``hyps/``,
``eval/`` and ``results.json`` as a trained stage, so the summary reads every variant alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aligncap_lib.captioner import inputs
from aligncap_lib.captioner.generation import generate_captions
from aligncap_lib.captioner.model import load_model
from aligncap_lib.captioner.variants import (
    VARIANTS,
    clip_examples,
    get_variant,
    range_captions,
    shuffled_units,
    template_caption,
    trivial_captions,
)
from aligncap_lib.core.presets import combined_hash
from aligncap_lib.core.reproducibility import seed_everything, write_results
from aligncap_lib.core.run_layout import read_stage, run_stage
from aligncap_lib.training.stages import StageConfigs, score_hyps, train_student


def evaluate_variant(
    layout: Any,
    variant: str,
    seed: int,
    preset: str | None = None,
    *,
    configs: Any = None,
    **_: Any,
) -> Path:
    """Produce and score the captions of a non-trained variant (cached by fingerprint). ``configs``: the
    :class:`aligncap_lib.training.stages.StageConfigs`, default the preset's (tests pass smaller ones)."""

    v = get_variant(variant)
    if v.kind == "lm":
        raise ValueError(f"variant {variant!r} is trained: use --stage {v.stages[-1]}")
    configs = configs or StageConfigs.for_preset(preset or layout.preset)
    ev, decoding = configs.evaluation, configs.decoding
    upstream = ""
    stages = {"corpus": layout.corpus}
    if v.kind == "control":
        student = _controlled_stage(layout, v, seed, preset, configs)
        upstream = str((read_stage(student) or {}).get("fingerprint", ""))
        stages["student"] = student
    corpus = read_stage(layout.corpus) or {}
    fingerprint = combined_hash(
        corpus.get("fingerprint", ""),
        decoding.result_hash(),
        ev.result_hash(),
        upstream,
        {"variant": variant, "seed": seed},
    )
    out, _rebuilt = run_stage(
        layout.model(variant, seed) / "eval",
        fingerprint,
        lambda tmp: _build(tmp, layout, v, seed, decoding, ev),
        upstream=stages,
    )
    return out


def _controlled_stage(layout: Any, v: Any, seed: int, preset: str | None, configs: Any) -> Path:
    """The stage a control evaluates (``v.evaluates``: variant and stage): an SFT or KD stage is trained if
    missing; a PO stage must exist (PO sits above this module: ``aligncap train --stage po`` first)."""
    if v.evaluates is None:
        raise ValueError(f"control {v.name!r} names no (variant, stage) to evaluate")
    variant, stage = v.evaluates
    if stage in ("sft", "kd"):
        return train_student(layout, variant, seed, preset, stage=stage, configs=configs)
    folder = layout.model(get_variant(variant).owner(stage), seed) / stage
    if read_stage(folder) is None:
        raise RuntimeError(
            f"{v.name} evaluates {variant}'s {stage} stage at seed {seed}, which is not trained: run "
            f"`aligncap train --stage {stage} --variant {variant} --seed {seed}` first"
        )
    return folder


def _build(tmp: Path, layout: Any, v: Any, seed: int, decoding: Any, ev: Any) -> dict[str, Any]:

    seed_everything(seed)
    records = layout.records()
    train = [r for r in records if r["split"] == "train"]
    measured = inputs.deployment_clues(records) if v.name == "acoustic_template" else {}
    model = tok = units = None
    if v.kind == "control":
        assert v.evaluates is not None
        variant, stage = v.evaluates
        model, tok = load_model(layout.model(get_variant(variant).owner(stage), seed) / stage / "merged")
        units = inputs.unit_texts(layout, records)
    metrics: dict[str, Any] = {}
    for split in ev.splits:
        for lang in ("en", "zh"):
            recs = [r for r in records if r["split"] == split and r["lang"] == lang]
            if not recs:
                continue
            if v.name == "trivial_random":
                hyps = trivial_captions(train, recs, "random", seed)
            elif v.name == "trivial_majority":
                hyps = trivial_captions(train, recs, "majority", seed)
            elif v.kind == "range":
                hyps = range_captions(recs, v.name, seed)
            elif v.name == "acoustic_template":
                hyps = {r["id"]: template_caption(measured.get(r["id"], {}), lang) for r in recs}
            else:
                assert units is not None
                moved = shuffled_units(recs, units, seed)
                ex = clip_examples(
                    recs,
                    VARIANTS[v.evaluates[0]],
                    units=moved,
                    measured=measured,
                    captions_per_clip=1,
                    teacher=None,
                )
                hyps = generate_captions(model, tok, ex, decoding.settings(), seed=seed)
            metrics[f"{split}/{lang}"] = score_hyps(hyps, recs, lang, ev, tmp, f"{split}_{lang}")
    config = {
        "variant": v.name,
        "seed": seed,
        "evaluation": ev.result_fields(),
    }
    if v.kind == "control":
        config["decoding"] = decoding.settings()
    write_results(tmp / "results.json", {"evaluation": metrics}, config=config)
    return {"splits": sorted(metrics)}
