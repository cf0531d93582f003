"""``results/<preset>/summary.json``: every variant x seed x split x language, and the aggregate over seeds.

::

    {"runs": [{"variant", "seed", "stage", "split", "lang", "metrics": {flat evaluation keys}}],
     "aggregate": {variant: {split: {lang: {metric: {"mean": m, "ci95": [lo, hi]}}}}},
     "config": {...}, "environment": {...}}

The summary is rebuilt from what the run folder holds, so later stages extend it by writing the same files:
a variant's *final* stage is the last of its ``stages`` whose folder exists (``po`` once the PO issue has
trained it, else ``kd``/``sft``; ``eval`` for the variants that train nothing), and each stage folder holds
``eval/<split>_<lang>.json`` (per-clip statistics of :func:`aligncap_lib.evaluation.evaluate_captions`, written
by :func:`save_result`: plain JSON, no pickles; each statistic function is stored by name).
``mean`` is the mean over seeds and ``ci95`` the hierarchical bootstrap over seeds, then clips
(:func:`aligncap_lib.evaluation.over_seeds`), with the evaluation config's resamples and RNG seed.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

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


def _statistic_names() -> dict[str, Any]:
    """name -> statistic function of :func:`aligncap_lib.evaluation.evaluate_captions` (JSON stores names)."""
    from aligncap_lib import bootstrap as bs
    from aligncap_lib.caption_metrics import meteor_from_stats
    from aligncap_lib.evaluation import _bleu_order

    return {
        "mean": bs.mean_statistic,
        "ratio": bs.ratio_statistic,
        "meteor": meteor_from_stats,
        "bleu_order": _bleu_order,
    }


def _statistic_to_json(fn: Any) -> dict[str, Any]:
    names = {f: n for n, f in _statistic_names().items()}
    if isinstance(fn, functools.partial) and fn.func in names and not fn.args:
        return {"fn": names[fn.func], **fn.keywords}
    if fn in names:
        return {"fn": names[fn]}
    raise ValueError(f"statistic {fn!r} has no JSON name; add it to results_summary._statistic_names")


def save_result(result: Any, path: Path) -> Path:
    """Write an :class:`aligncap_lib.evaluation.EvaluationResult` (its breakdowns and intervals left out) as
    JSON: metrics, notes, clip ids, per-clip statistics {key: {"dtype", "data" [N, K]}} and each metric's
    statistic by name. Floats are not rounded (unlike ``write_json``): they round-trip exactly."""
    payload = {
        "lang": result.lang,
        "ids": list(result.ids),
        "metrics": result.metrics,
        "notes": result.notes,
        "stats": {k: {"dtype": str(v.dtype), "data": v.tolist()} for k, v in result.stats.items()},
        "statistics": {k: _statistic_to_json(f) for k, f in result.statistics.items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a killed run leaves no half-written file
    return path


def read_result(path: Path) -> Any:
    """The :class:`aligncap_lib.evaluation.EvaluationResult` stored by :func:`save_result`."""
    from aligncap_lib.evaluation import EvaluationResult

    d = json.loads(Path(path).read_text(encoding="utf-8"))
    fns = _statistic_names()
    statistics = {}
    for key, spec in d["statistics"].items():
        kwargs = {k: v for k, v in spec.items() if k != "fn"}
        fn = fns[spec["fn"]]
        statistics[key] = functools.partial(fn, **kwargs) if kwargs else fn
    stats = {k: np.asarray(v["data"], dtype=v["dtype"]) for k, v in d["stats"].items()}
    return EvaluationResult(
        lang=d["lang"],
        ids=tuple(d["ids"]),
        metrics=d["metrics"],
        stats=stats,
        statistics=statistics,
        intervals={},
        notes=d["notes"],
        breakdowns={},
    )


def load_results(stage_dir: Path) -> dict[tuple[str, str], Any]:
    """(split, lang) -> the stored :class:`aligncap_lib.evaluation.EvaluationResult` of one stage folder."""
    out = {}
    for path in sorted((stage_dir / "eval").glob("*.json")):
        split, lang = path.stem.rsplit("_", 1)
        out[(split, lang)] = read_result(path)
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
