"""``results/<preset>/summary.json``: every variant x seed x split x language, and the aggregate over seeds.

::

    {"runs": [{"variant", "seed", "stage", "split", "lang", "metrics": {flat evaluation keys}}],
     "aggregate": {variant: {split: {lang: {metric: {"mean": m, "ci95": [lo, hi]}}}}},
     "config": {...}, "environment": {...}}

The summary is rebuilt from what the run folder holds, so later stages extend it by writing the same files:
a variant's *final* stage is the last of its ``stages`` whose folder exists (``po`` once the PO issue has
trained it, else ``kd``/``sft``; ``eval`` for the variants that train nothing), and each stage folder holds
``eval/<split>_<lang>.pkl`` (per-clip statistics of :func:`aligncap_lib.evaluation.evaluate_captions`).
``mean`` is the mean over seeds and ``ci95`` the hierarchical bootstrap over seeds, then clips
(:func:`aligncap_lib.evaluation.over_seeds`), with the evaluation config's resamples and RNG seed.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from aligncap_lib.variants import VARIANT_ORDER, get_variant


def final_stage_dir(layout: Any, variant: str, seed: int) -> Path | None:
    """The folder of the last finished stage of ``variant`` at ``seed`` (None if nothing is finished)."""
    from aligncap_lib.run_layout import read_stage

    v = get_variant(variant)
    candidates = [(layout.model(v.owner(s), seed) / s) for s in reversed(v.stages)] if v.stages else []
    candidates.append(layout.model(variant, seed) / "eval")
    return next((c for c in candidates if read_stage(c) is not None and (c / "eval").is_dir()), None)


def seeds_of(layout: Any, variant: str) -> list[int]:
    found: set[int] = set()
    for owner in {variant, *get_variant(variant).shares.values()}:
        folder = layout.work / "models" / owner
        if folder.is_dir():
            found |= {int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"seed(\d+)", p.name))}
    return sorted(s for s in found if final_stage_dir(layout, variant, s) is not None)


def load_results(stage_dir: Path) -> dict[tuple[str, str], Any]:
    """(split, lang) -> the stored :class:`aligncap_lib.evaluation.EvaluationResult` of one stage folder."""
    out = {}
    for path in sorted((stage_dir / "eval").glob("*.pkl")):
        split, lang = path.stem.rsplit("_", 1)
        with open(path, "rb") as fh:
            out[(split, lang)] = pickle.load(fh)  # our own cache, written by training.score_hyps
    return out


def build_summary(
    layout: Any, *, variants: tuple[str, ...] = VARIANT_ORDER, config: Any = None
) -> dict[str, Any]:
    from aligncap_lib.evaluation import EvaluationConfig, over_seeds

    ev = config or EvaluationConfig.for_preset(layout.preset)
    runs: list[dict[str, Any]] = []
    aggregate: dict[str, Any] = {}
    for variant in variants:
        per_seed = {
            s: load_results(d)
            for s in seeds_of(layout, variant)
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
        keys = set.intersection(*(set(r) for r in per_seed.values())) if per_seed else set()
        for split, lang in sorted(keys):
            seeded = [per_seed[s][(split, lang)] for s in sorted(per_seed)]
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


def write_summary(layout: Any) -> Path:
    """Build and write ``results/<preset>/summary.json`` with the stage configs and the environment."""
    from aligncap_lib.presets import stage_configs
    from aligncap_lib.reproducibility import environment_snapshot, write_json

    summary = build_summary(layout)
    configs = {}
    for stage, cls in stage_configs().items():
        try:
            configs[stage] = cls.for_preset(layout.preset).to_dict()
        except (TypeError, ValueError) as exc:  # a stage config that cannot be built is named, not fatal
            configs[stage] = {"error": str(exc)}
    summary["config"] = {"preset": layout.preset, "stages": configs}
    summary["environment"] = environment_snapshot()
    return write_json(layout.results / "summary.json", summary)
