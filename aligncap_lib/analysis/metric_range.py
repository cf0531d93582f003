"""What the caption metrics can see, before any model is trained (notebook 04, ``evaluation.json``).

Each LM-free row of the variant table is scored on one split and language against both reference sets of the
test clips (``main``: training phrasing; ``unseen_phrasing``: the held-out phrasing), with bootstrap intervals:

- ``content_oracle``: a fresh training-phrasing caption of the clip's true content (none of its references);
- ``wrong_content``: the same for another clip of the split and language;
- ``acoustic_template``: the acoustic analyzer's clues in one fixed sentence (no LM);
- ``trivial_majority``: the most frequent training caption.

The distance between ``content_oracle`` and ``wrong_content`` is each metric's *range*: a difference between
two systems is only readable when it is large next to the range and next to the interval width. Against the
unseen phrasing every row collapses towards zero (the phrasing, not the content, decides n-gram overlap): that
is why the main tables use the training phrasing. The same rows are also produced by the experiment itself
(:mod:`aligncap_lib.training.baselines`), per seed, beside every trained variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aligncap_lib.captioner.variants import range_captions, template_caption, trivial_captions
from aligncap_lib.evaluation.scoring import (
    REFERENCE_SETS,
    EvaluationConfig,
    EvaluationResult,
    evaluate_captions,
    manifest_references,
    reference_sets_of,
)

#: The metrics of the range table (each with its interval).
RANGE_METRICS: tuple[str, ...] = ("bleu_4", "meteor", "rouge_l", "cider", "similarity", "slot_accuracy")


def row_captions(
    records: Sequence[Mapping[str, Any]],
    train: Sequence[Mapping[str, Any]],
    measured: Mapping[str, Mapping[str, str | None]],
    lang: str,
    seed: int = 0,
) -> dict[str, dict[str, str]]:
    """row -> id -> caption for the rows of the module docstring, in table order (``records``: one split of one
    language)."""
    return {
        "content_oracle": range_captions(records, "content_oracle", seed),
        "wrong_content": range_captions(records, "wrong_content", seed),
        "acoustic_template": {r["id"]: template_caption(measured.get(r["id"], {}), lang) for r in records},
        "trivial_majority": trivial_captions(train, records, "majority", seed),
    }


def metric_range(
    records: Sequence[Mapping[str, Any]],
    split: str,
    lang: str,
    measured: Mapping[str, Mapping[str, str | None]],
    config: EvaluationConfig | None = None,
    seed: int = 0,
) -> dict[str, dict[str, EvaluationResult]]:
    """row -> reference set -> the row's :class:`EvaluationResult` on ``split`` x ``lang`` (with intervals).

    ``records``: the whole manifest (``train`` gives ``trivial_majority``); ``measured``: the acoustic analyzer's
    clues by id (:func:`aligncap_lib.captioner.inputs.deployment_clues`). A reference set the clips lack is left
    out."""
    recs = [r for r in records if r["split"] == split and r["lang"] == lang]
    if len(recs) < 2:
        raise ValueError(f"metric_range needs >= 2 clips of {split}/{lang}, got {len(recs)}")
    train = [r for r in records if r["split"] == "train"]
    rows = row_captions(recs, train, measured, lang, seed)
    by_id = {r["id"]: r for r in recs}
    refs = {name: manifest_references(by_id, by_id, name) for name in reference_sets_of(recs)}
    return {
        row: {
            name: evaluate_captions(r, hyps, lang, records=by_id, config=config) for name, r in refs.items()
        }
        for row, hyps in rows.items()
    }


def range_table(results: Mapping[str, Mapping[str, EvaluationResult]]) -> list[dict[str, Any]]:
    """Flat rows (row, references, then per metric its value and interval half-width) of :func:`metric_range`,
    plus one ``content_oracle - wrong_content`` row per reference set (the range)."""
    table: list[dict[str, Any]] = []
    for row, by_refs in results.items():
        for refs_name, res in by_refs.items():
            cell: dict[str, Any] = {"row": row, "references": refs_name, "n_clips": res.metrics["n_clips"]}
            for key in RANGE_METRICS:
                value, iv = res.metrics.get(key), res.intervals.get(key)
                cell[key] = value
                cell[f"{key}_halfwidth"] = (iv.high - iv.low) / 2 if iv is not None else None
            table.append(cell)
    for refs_name in REFERENCE_SETS:
        hi = results.get("content_oracle", {}).get(refs_name)
        lo = results.get("wrong_content", {}).get(refs_name)
        if hi is None or lo is None:
            continue
        diff: dict[str, Any] = {"row": "content_oracle - wrong_content", "references": refs_name}
        diff["n_clips"] = hi.metrics["n_clips"]
        for key in RANGE_METRICS:
            a, b = hi.metrics.get(key), lo.metrics.get(key)
            diff[key] = a - b if isinstance(a, float) and isinstance(b, float) else None
        table.append(diff)
    return table
