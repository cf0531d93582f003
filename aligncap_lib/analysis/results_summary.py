"""``results/<preset>/summary.json``: every variant x seed x split x language, and the aggregate over seeds.

::

    {"runs": [{"variant", "seed", "stage", "split", "lang", "metrics": {flat evaluation keys}}],
     "aggregate": {variant: {split: {lang: {metric: {"mean": m, "ci95": [lo, hi]}}}}},
     "aggregate_unseen_phrasing": {the same, against the test clips' unseen-phrasing references},
     "config": {...}, "environment": {...}}

The summary is rebuilt from what the run folder holds, so later stages extend it by writing the same files:
a variant's *final* stage is the last of its ``stages`` whose folder exists (``po`` once the PO issue has
trained it, else ``kd``/``sft``; ``eval`` for the variants that train nothing), and each stage folder holds
``eval/<split>_<lang>.json`` (per-clip statistics of :func:`aligncap_lib.evaluation.scoring.evaluate_captions`, written
by :func:`save_result`: plain JSON, no pickles; each statistic function is stored by name).
``mean`` is the mean over seeds and ``ci95`` the hierarchical bootstrap over seeds, then clips
(:func:`aligncap_lib.evaluation.scoring.over_seeds`), with the evaluation config's resamples and RNG seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aligncap_lib.captioner.variants import VARIANT_ORDER
from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.core.presets import combined_hash, stage_configs
from aligncap_lib.core.reproducibility import environment_snapshot, write_json
from aligncap_lib.evaluation import bootstrap as bs
from aligncap_lib.evaluation.result_store import load_results
from aligncap_lib.evaluation.scoring import EvaluationConfig, over_seeds
from aligncap_lib.training.stage_results import final_stage_dir, seeds_of, stage_results, valid_kl_per_seed


def build_summary(
    layout: Any,
    *,
    variants: tuple[str, ...] = VARIANT_ORDER,
    config: Any = None,
    seeds: Sequence[int] | None = None,
    references: str = "main",
) -> dict[str, Any]:
    """Runs and aggregate of ``summary.json`` over ``seeds`` (default: every seed folder in the run; a caller
    that has just trained or checked some seeds passes them, so a seed folder left by an older configuration is
    never mixed in), scored against the reference set ``references`` (``main`` or ``unseen_phrasing``)."""

    ev = config or EvaluationConfig.for_preset(layout.preset)
    runs: list[dict[str, Any]] = []
    aggregate: dict[str, Any] = {}
    for variant in variants:
        per_seed = {
            s: load_results(d, references)
            for s in (seeds_of(layout, variant) if seeds is None else seeds)
            if (d := final_stage_dir(layout, variant, s)) is not None
        }
        for seed, results in per_seed.items():
            stage = final_stage_dir(layout, variant, seed).name  # type: ignore[union-attr]
            for (split, lang), res in sorted(results.items()):
                metrics = {k: v for k, v in res.metrics.items() if not isinstance(v, (dict, list))}
                runs.append(
                    {
                        "variant": variant,
                        "seed": seed,
                        "stage": stage,
                        "split": split,
                        "lang": lang,
                        "metrics": metrics,
                    }
                )
        # every split x language any seed has, over the seeds that have it (later seeds may score fewer splits:
        # ablations.AblationConfig.later_seed_splits); n_seeds says how many
        keys = set.union(*(set(r) for r in per_seed.values())) if per_seed else set()
        for split, lang in sorted(keys):
            seeded = [per_seed[s][(split, lang)] for s in sorted(per_seed) if (split, lang) in per_seed[s]]
            cell = aggregate.setdefault(variant, {}).setdefault(split, {}).setdefault(lang, {})
            for metric in sorted(seeded[0].stats):
                if any(r.metrics.get(metric) is None for r in seeded):
                    continue
                iv = over_seeds(
                    seeded,
                    metric,
                    n_resamples=ev.n_bootstrap,
                    confidence=ev.confidence,
                    seed=ev.bootstrap_seed,
                )
                cell[metric] = {"mean": iv.point, "ci95": [iv.low, iv.high], "n_seeds": len(seeded)}
    return {"runs": runs, "aggregate": aggregate}


def result_hashes(preset: str) -> dict[str, str]:
    """Stage -> :meth:`StageConfig.result_hash` of the code's ``preset`` (result-affecting fields only), and
    ``"all"`` over the stages: stored in the summary so that a test can tell committed results from stale ones."""

    out = {stage: cls.for_preset(preset).result_hash() for stage, cls in sorted(stage_configs().items())}
    return out | {"all": combined_hash(out)}


def write_summary(layout: Any, seeds: Sequence[int] | None = None) -> Path:
    """Build and write ``results/<preset>/summary.json`` (over ``seeds``: :func:`build_summary`) with the stage
    configs and the environment."""

    summary = build_summary(layout, seeds=seeds)
    # the second reference set (test clips' held-out phrasing): the aggregate only, same structure
    summary["aggregate_unseen_phrasing"] = build_summary(layout, seeds=seeds, references="unseen_phrasing")[
        "aggregate"
    ]
    configs = {}
    for stage, cls in stage_configs().items():
        try:
            configs[stage] = cls.for_preset(layout.preset).to_dict()
        except (TypeError, ValueError) as exc:  # a stage config that cannot be built is named, not fatal
            configs[stage] = {"error": str(exc)}
    summary["config"] = {
        "preset": layout.preset,
        "stages": configs,
        "result_hash": result_hashes(layout.preset),
    }
    summary["environment"] = environment_snapshot()
    return write_json(layout.results / "summary.json", summary)


def paired_over_seeds(
    a: dict[int, dict[tuple[str, str], Any]],
    b: dict[int, dict[tuple[str, str], Any]],
    split: str,
    lang: str,
    metric: str,
    config: Any,
) -> dict[str, Any]:
    """A minus B on ``metric`` with the paired hierarchical interval over the seeds both have (seeds, then
    clips, the same draws for both); ``{"diff", "ci95", "a", "b", "n_seeds"}``."""

    seeds = sorted(s for s in set(a) & set(b) if (split, lang) in a[s] and (split, lang) in b[s])
    if not seeds:
        raise ValueError(f"no seed has both results for {split}/{lang}")
    ra, rb = [a[s][(split, lang)] for s in seeds], [b[s][(split, lang)] for s in seeds]
    if any(x.ids != y.ids for x, y in zip(ra, rb, strict=True)):
        raise ValueError(f"{split}/{lang}: A and B were scored on different clips")
    iv = bs.paired_difference(
        np.stack([r.stats[metric] for r in ra]),
        np.stack([r.stats[metric] for r in rb]),
        ra[0].statistics[metric],
        n_resamples=config.n_bootstrap,
        confidence=config.confidence,
        seed=config.bootstrap_seed,
    )
    return {"diff": iv.point, "ci95": [iv.low, iv.high], "a": _seed_mean(ra, metric), "b": _seed_mean(rb, metric),
            "n_seeds": len(seeds)}  # fmt: skip


def _seed_mean(results: list[Any], metric: str) -> float | None:
    """Mean over seeds of a metric; None where no seed defines it (e.g. a ratio with no denominator)."""
    values = [r.metrics.get(metric) for r in results if r.metrics.get(metric) is not None]
    return float(np.mean(values)) if values else None


def mean_over_seeds(
    results: dict[int, dict[tuple[str, str], Any]], split: str, lang: str, metric: str, config: Any
) -> dict[str, Any]:
    """Mean over seeds of ``metric`` with the hierarchical interval: ``{"mean", "ci95", "n_seeds"}``."""

    seeded = [results[s][(split, lang)] for s in sorted(results) if (split, lang) in results[s]]
    if not seeded:
        raise ValueError(f"no result for {split}/{lang}")
    iv = over_seeds(seeded, metric, n_resamples=config.n_bootstrap, confidence=config.confidence,
                    seed=config.bootstrap_seed)  # fmt: skip
    return {"mean": iv.point, "ci95": [iv.low, iv.high], "n_seeds": len(seeded)}


def kl_over_seeds(
    layout: Any,
    variant: str,
    stage: str,
    config: Any,
    seeds: Sequence[int] | None = None,
    split: str = "valid",
) -> dict[str, Any]:
    """The held-out speech-vs-text KL on ``split`` (``valid`` or the claim split) of ``variant``'s ``stage``: mean
    over ``seeds`` (default: every seed folder) with the hierarchical interval, from each seed's
    ``<split>_kl.json``; ``{"mean", "ci95", "n_seeds", "per_seed"}``."""

    per_seed = valid_kl_per_seed(layout, variant, stage, seeds, split)
    if not per_seed:
        raise FileNotFoundError(f"no {split}_kl.json for {variant}/{stage}: train it first")
    ids = {tuple(d["ids"]) for d in per_seed.values()}
    if len(ids) != 1:
        raise ValueError(f"{variant}/{stage}: seeds measured the KL on different clips")
    stats = np.stack([bs.as_mean_stats(np.asarray(d["kl"])) for d in per_seed.values()])
    iv = bs.hierarchical_interval(stats, bs.mean_statistic, n_resamples=config.n_bootstrap,
                                  confidence=config.confidence, seed=config.bootstrap_seed)  # fmt: skip
    return {"mean": iv.point, "ci95": [iv.low, iv.high], "n_seeds": len(per_seed),
            "per_seed": {s: float(np.mean(d["kl"])) for s, d in per_seed.items()}}  # fmt: skip


def kl_with_floor(
    layout: Any,
    variant: str,
    stage: str,
    config: Any,
    seeds: Sequence[int] | None = None,
    split: str = "valid",
) -> dict[str, Any]:
    """The held-out KL of ``variant``'s ``stage`` on ``split`` (:func:`kl_over_seeds`) next to its floor (the
    teacher against itself with the clues in slot order: :func:`aligncap_lib.training.stages.kd_floor`, measured on
    the same clips) and the excess over the floor, each with the hierarchical interval (seeds, then clips):
    ``{"mean", "ci95", "n_seeds", "per_seed", "floor", "floor_ci95", "excess", "excess_ci95"}``."""
    from aligncap_lib.training.stages import kd_floor

    kl = kl_over_seeds(layout, variant, stage, config, seeds, split)
    per_seed = valid_kl_per_seed(layout, variant, stage, seeds, split)
    floor = kd_floor(layout, split)
    if any(d["ids"] != floor["ids"] for d in per_seed.values()):
        raise ValueError(
            f"{variant}/{stage}: the KL and its floor were measured on different clips ({split})"
        )
    f = np.asarray(floor["kl"])
    kw = {"n_resamples": config.n_bootstrap, "confidence": config.confidence, "seed": config.bootstrap_seed}
    excess = bs.hierarchical_interval(
        np.stack([bs.as_mean_stats(np.asarray(d["kl"]) - f) for d in per_seed.values()]),
        bs.mean_statistic,
        **kw,
    )
    fl = bs.bootstrap_interval(bs.as_mean_stats(f), bs.mean_statistic, **kw)
    return kl | {"floor": fl.point, "floor_ci95": [fl.low, fl.high], "excess": excess.point,
                 "excess_ci95": [excess.low, excess.high]}  # fmt: skip


#: The quality bar: ``no_po`` beats each of these on ``test_zeroshot`` English, on each metric, with
#: non-overlapping intervals (the ``shuffled_speech`` control reads the model after PO: the claim
#: ``speech_matters``, notebook 07).
QUALITY_BAR_BASELINES: tuple[str, ...] = ("trivial_random", "trivial_majority")
QUALITY_BAR_METRICS: tuple[str, ...] = ("cider", "slot_accuracy")


def quality_bar(
    layout: Any,
    config: Any,
    *,
    split: str = "test_zeroshot",
    lang: str = "en",
    model: str = "no_po",
    seeds: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """One row per (baseline, metric): the model's and the baseline's mean and interval over seeds, the paired
    difference, and ``passed`` (the model's lower bound above the baseline's upper bound)."""
    mine = stage_results(layout, model, "kd", seeds)
    rows = []
    for base in QUALITY_BAR_BASELINES:
        theirs = stage_results(layout, base, seeds=seeds)
        for metric in QUALITY_BAR_METRICS:
            a = mean_over_seeds(mine, split, lang, metric, config)
            b = mean_over_seeds(theirs, split, lang, metric, config)
            d = paired_over_seeds(mine, theirs, split, lang, metric, config)
            rows.append({"model": model, "baseline": base, "metric": metric, "model_mean": a["mean"],
                         "model_ci95": a["ci95"], "baseline_mean": b["mean"], "baseline_ci95": b["ci95"],
                         "diff": d["diff"], "diff_ci95": d["ci95"], "passed": a["ci95"][0] > b["ci95"][1]})  # fmt: skip
    return rows


#: The paper's table columns (SPICE is unavailable offline: it needs a CoreNLP download), then ours.
TABLE_METRICS: tuple[str, ...] = (
    "bleu_4", "meteor", "rouge_l", "cider", "similarity", "slot_accuracy", "factual_hallucination", "repetition",
)  # fmt: skip
#: The unseen-phrasing table: the metrics that read the references (the slot metrics and repetition read the
#: corpus truth or the caption alone, so they equal the main table's).
UNSEEN_TABLE_METRICS: tuple[str, ...] = ("bleu_4", "meteor", "rouge_l", "cider", "similarity")


def aggregate_table(
    summary: dict[str, Any],
    split: str,
    lang: str,
    metrics: tuple[str, ...] = TABLE_METRICS,
    references: str = "main",
) -> list[dict[str, Any]]:
    """Rows ``{"variant", "stage", <metric>: "mean [lo, hi]"}`` of ``summary["aggregate"]`` (``references`` =
    ``unseen_phrasing``: ``summary["aggregate_unseen_phrasing"]``) for one split and language, in the variant
    order (variants without that cell are left out). ``stage`` is the stage evaluated (before PO exists,
    ``aligncap_full`` is its shared ``kd`` stage, i.e. ``no_po``)."""
    key = "aggregate" if references == "main" else f"aggregate_{references}"
    rows = []
    for variant in VARIANT_ORDER:
        cell = summary.get(key, {}).get(variant, {}).get(split, {}).get(lang)
        if not cell:
            continue
        stages = sorted({r["stage"] for r in summary.get("runs", []) if r["variant"] == variant})
        row: dict[str, Any] = {"variant": variant, "stage": "/".join(stages)}
        for m in metrics:
            v = cell.get(m)
            row[m] = None if v is None else f"{v['mean']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"
        rows.append(row)
    return rows


def example_captions(
    layout: Any, variants: tuple[str, ...] | list[str], split: str, lang: str, *, n: int = 4, seed: int = 0
) -> list[dict[str, str]]:
    """The first ``n`` clips of ``split``/``lang``: the first reference caption and each variant's caption
    (its final stage at ``seed``)."""

    records = [r for r in read_manifest(layout.corpus / "manifest.jsonl")[0]
               if r["split"] == split and r["lang"] == lang][:n]  # fmt: skip
    hyps = {}
    for v in variants:
        folder = final_stage_dir(layout, v, seed)
        path = folder / "hyps" / f"{split}_{lang}.json" if folder is not None else None
        if path is not None and path.is_file():
            hyps[v] = json.loads(path.read_text(encoding="utf-8"))
    return [{"clip": r["id"], "reference": r["captions"][0], **{v: h.get(r["id"], "") for v, h in hyps.items()}}
            for r in records]  # fmt: skip
