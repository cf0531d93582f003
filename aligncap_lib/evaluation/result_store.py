"""Stored evaluation results: an :class:`aligncap_lib.evaluation.scoring.EvaluationResult` as plain JSON (no pickles) and
back, so intervals over seeds and clips can be recomputed from what a stage folder holds. Each statistic function
is stored by name."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from aligncap_lib.evaluation import bootstrap as bs
from aligncap_lib.evaluation.ngram_metrics import meteor_from_stats
from aligncap_lib.evaluation.scoring import REFERENCE_SETS, EvaluationResult, _bleu_order


def _statistic_names() -> dict[str, Any]:
    """name -> statistic function of :func:`aligncap_lib.evaluation.scoring.evaluate_captions` (JSON stores names)."""

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
    raise ValueError(f"statistic {fn!r} has no JSON name; add it to result_store._statistic_names")


def save_result(result: Any, path: Path) -> Path:
    """Write an :class:`aligncap_lib.evaluation.scoring.EvaluationResult` (its breakdowns and intervals left out) as
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
    """The :class:`aligncap_lib.evaluation.scoring.EvaluationResult` stored by :func:`save_result`."""

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


def result_path(stage_dir: Path, name: str, references: str = "main") -> Path:
    """Where a stage folder stores the result ``name`` (``<split>_<lang>``) scored against ``references``:
    ``eval/<name>.json`` for the main set, ``eval/<set>/<name>.json`` for another
    (:data:`aligncap_lib.evaluation.scoring.REFERENCE_SETS`)."""
    if references not in REFERENCE_SETS:
        raise ValueError(f"unknown reference set {references!r}; choose one of {', '.join(REFERENCE_SETS)}")
    folder = Path(stage_dir) / "eval"
    return (folder if references == "main" else folder / references) / f"{name}.json"


def load_results(stage_dir: Path, references: str = "main") -> dict[tuple[str, str], Any]:
    """(split, lang) -> the stored :class:`aligncap_lib.evaluation.scoring.EvaluationResult` of one stage folder,
    scored against the reference set ``references`` (stored where :func:`result_path` puts it)."""
    folder = result_path(stage_dir, "_", references).parent
    out = {}
    for path in sorted(folder.glob("*.json")):
        split, lang = path.stem.rsplit("_", 1)
        out[(split, lang)] = read_result(path)
    return out
