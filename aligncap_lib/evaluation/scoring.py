"""Evaluation: caption metrics, hallucination and faithfulness metrics, bootstrap intervals; ``aligncap evaluate``.

:func:`evaluate_captions` is the one entry point that every notebook and command uses. It tokenizes (see
:mod:`aligncap_lib.evaluation.segmentation`; the tokenization name is stored with the result), scores with pycocoevalcap
(:mod:`aligncap_lib.evaluation.ngram_metrics`), adds sentence similarity with its shuffled baseline
(:mod:`aligncap_lib.evaluation.similarity`), the slot metrics (:mod:`aligncap_lib.evaluation.hallucination`, through the clue parser)
the faithfulness rules (:mod:`aligncap_lib.evaluation.faithfulness`) and ``repetition``
(:mod:`aligncap_lib.evaluation.repetition`), and bootstrap intervals from per-clip
statistics (:mod:`aligncap_lib.evaluation.bootstrap`). Languages are never pooled: one call scores one language.

Truth for the slot metrics: a manifest record's measured ``attributes`` (synthetic corpus) where given, else
the clues parsed from the clip's references (real data; slots the references disagree on or do not mention
are unverifiable and skipped).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aligncap_lib.core.manifest import LANGS, read_manifest
from aligncap_lib.core.presets import StageConfig, plumbing_field
from aligncap_lib.evaluation import bootstrap as bs
from aligncap_lib.evaluation.bootstrap import compare, over_seeds
from aligncap_lib.evaluation.faithfulness import RULES, FaithfulnessThresholds, violation_table
from aligncap_lib.evaluation.hallucination import ratio_value, slot_ratios
from aligncap_lib.evaluation.ngram_metrics import (
    bleu_from_stats,
    meteor_from_stats,
    score_ngrams,
    spice_score,
    spice_status,
)
from aligncap_lib.evaluation.repetition import repeats
from aligncap_lib.evaluation.segmentation import tokenization_name, tokenize_captions
from aligncap_lib.evaluation.similarity import default_encoder, pair_similarity, shuffled_similarity

__all__ = ["EvaluationConfig", "EvaluationResult", "compare", "evaluate_captions", "over_seeds"]

#: The flat keys of the caption metrics, in report order.
CAPTION_KEYS: tuple[str, ...] = (
    "bleu_1",
    "bleu_2",
    "bleu_3",
    "bleu_4",
    "meteor",
    "rouge_l",
    "cider",
    "spice",
)


#: Reference set -> the manifest field that holds it. ``main``: the training-phrasing references of a test clip
#: (the clip's captions on other data); ``unseen_phrasing``: the test clips' held-out-phrasing set
#: (:mod:`aligncap_lib.corpus.reference_captions`).
REFERENCE_SETS: dict[str, str] = {"main": "captions", "unseen_phrasing": "captions_unseen_phrasing"}


@dataclasses.dataclass(frozen=True)
class EvaluationConfig(StageConfig):
    """Evaluation settings. Faithfulness thresholds: see :mod:`aligncap_lib.evaluation.faithfulness`."""

    stage: ClassVar[str] = "evaluation"

    n_bootstrap: int = 1000  # resamples; percentile intervals stabilise to ~0.1 point at 1,000
    confidence: float = 0.95
    bootstrap_seed: int = 0
    shuffle_seed: int = 0  # the derangement of the shuffled-similarity baseline
    expect_normal: bool = False  # omission/slot_accuracy: is a true "normal" bin expected to be mentioned?
    meteor: bool = True
    similarity: bool = True
    jieba_view: bool = True  # Chinese: also score jieba words (keys with the suffix "_jieba")
    copy_ngram_en: int = 4
    copy_ngram_zh: int = 5
    min_language_share: float = 0.5
    max_tokens_en: int = 60
    max_tokens_zh: int = 80
    repeat_min: int = 3
    repeat_max_n: int = 4
    #: Splits on which every system is also scored against the test clips' unseen-phrasing references
    #: (``eval/unseen_phrasing/``): the second reference set's own table
    #: (:mod:`aligncap_lib.corpus.reference_captions`). The claim split only: the table shows it, and each extra
    #: split costs a scoring per system and seed.
    unseen_phrasing_splits: tuple[str, ...] = ("test_zeroshot",)
    #: Splits on which an *intermediate* stage (one that PO continues from: ``no_kd``'s SFT, ``no_clues``' KD) is
    #: evaluated: the claims compare them on the claim split only (its other splits cost about a minute at cpu).
    intermediate_splits: tuple[str, ...] = ("test_zeroshot",)
    #: Held-out splits on which every trained student's speech-vs-text KL is measured (``<split>_kl.json``):
    #: ``valid`` and the claim split, so KD's claim is read on the clips its captioning claims use.
    kl_splits: tuple[str, ...] = ("valid", "test_zeroshot")
    #: Splits each trained variant is evaluated on after training (both languages).
    splits: tuple[str, ...] = ("test_zeroshot", "test_seen", "test_crossdomain")
    encoder_threads: int = plumbing_field(1)

    def validate(self) -> None:
        self._positive(
            "n_bootstrap",
            "copy_ngram_en",
            "copy_ngram_zh",
            "max_tokens_en",
            "max_tokens_zh",
            "repeat_max_n",
            "encoder_threads",
        )
        self._require(0 < self.confidence < 1, f"confidence must be in (0, 1), got {self.confidence!r}")
        self._probability("min_language_share")
        self._require(self.repeat_min >= 2, f"repeat_min must be >= 2, got {self.repeat_min!r}")
        self._require(len(self.splits) > 0, "splits must name at least one split")

    def thresholds(self) -> FaithfulnessThresholds:
        names = {f.name for f in dataclasses.fields(FaithfulnessThresholds)}
        return FaithfulnessThresholds(**{n: getattr(self, n) for n in names})


@dataclasses.dataclass
class EvaluationResult:
    """One system on one language. ``metrics``: flat key -> value (None where unavailable, with the reason in
    ``notes``). ``stats``/``statistics``: per-clip statistics [N, K] and the function of their sums that gives
    each metric (for :func:`compare` and :func:`over_seeds`). ``intervals``: key -> bootstrap interval."""

    lang: str
    ids: tuple[str, ...]
    metrics: dict[str, Any]
    stats: dict[str, np.ndarray]
    statistics: dict[str, bs.Statistic]
    intervals: dict[str, bs.Interval]
    notes: dict[str, str]
    breakdowns: dict[str, dict[str, dict[str, float | None]]]

    def to_json(self) -> dict[str, Any]:
        """Flat JSON: metrics, ``<key>_low``/``<key>_high`` interval bounds, notes as ``<key>_note``."""
        out = dict(self.metrics)
        for key, iv in self.intervals.items():
            out[f"{key}_low"], out[f"{key}_high"] = iv.low, iv.high
        out.update({f"{k}_note": v for k, v in self.notes.items()})
        if self.breakdowns:
            out["breakdowns"] = self.breakdowns
        return out


def table_row(
    result: EvaluationResult, keys: Sequence[str] = CAPTION_KEYS, digits: int = 4
) -> dict[str, str]:
    """One printable row: ``value [low, high]`` per key (``n/a`` where the metric is null)."""
    row = {}
    for key in keys:
        value, iv = result.metrics.get(key), result.intervals.get(key)
        if not isinstance(value, float):
            row[key] = "n/a" if value is None else str(value)
        else:
            row[key] = f"{value:.{digits}f}" + (f" [{iv.low:.{digits}f}, {iv.high:.{digits}f}]" if iv else "")
    return row


def _bleu_order(sums: np.ndarray, order: int) -> np.ndarray:
    """BLEU-(order + 1) from summed BLEU statistics [..., 10]."""
    return bleu_from_stats(sums)[..., order]


def normalize_refs(refs: Mapping[str, str | Sequence[str]]) -> dict[str, list[str]]:
    """id -> list of references (one string becomes a one-element list); an id without references is an error."""
    out = {str(k): [v] if isinstance(v, str) else [str(x) for x in v] for k, v in refs.items()}
    empty = sorted(k for k, v in out.items() if not v)
    if empty:
        raise ValueError(f"{len(empty)} id(s) have no reference caption: {', '.join(empty[:10])}")
    return out


def check_ids(refs: Mapping[str, Any], hyps: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the ids present on one side only."""
    only_r, only_h = sorted(set(refs) - set(hyps)), sorted(set(hyps) - set(refs))
    if only_r or only_h:
        parts = []
        for name, ids in (("references", only_r), ("hypotheses", only_h)):
            if ids:
                more = f" (+{len(ids) - 10} more)" if len(ids) > 10 else ""
                parts.append(f"{len(ids)} id(s) only in the {name}: {', '.join(ids[:10])}{more}")
        raise ValueError("; ".join(parts))


def evaluate_captions(
    refs: Mapping[str, str | Sequence[str]],
    hyps: Mapping[str, str],
    lang: str,
    *,
    records: Mapping[str, Mapping[str, Any]] | None = None,
    config: EvaluationConfig | None = None,
    intervals: bool = True,
) -> EvaluationResult:
    """Score ``hyps`` (id -> caption) against ``refs`` (id -> caption or list) in ``lang`` (``en`` or ``zh``).

    ``records``: optional manifest records by id (``split``, ``emotion``, ``text`` = transcript,
    ``attributes``) for the truth, the faithfulness rules and the breakdowns. Metrics are on pycocoevalcap's
    native scale; slot metrics are shares in [0, 1].
    """
    cfg = config or EvaluationConfig()
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    refs_n = normalize_refs(refs)
    hyps_n = {str(k): "" if v is None else str(v) for k, v in hyps.items()}
    check_ids(refs_n, hyps_n)
    ids = tuple(sorted(hyps_n))
    if records is not None:
        missing = [i for i in ids if i not in records]
        if missing:
            raise ValueError(f"{len(missing)} id(s) missing from the manifest: {', '.join(missing[:10])}")
    metrics: dict[str, Any] = {"lang": lang, "n_clips": len(ids), "tokenization": tokenization_name(lang)}
    stats: dict[str, np.ndarray] = {}
    statistics: dict[str, bs.Statistic] = {}
    notes: dict[str, str] = {}

    views = ["primary"] + (["jieba"] if lang == "zh" and cfg.jieba_view else [])
    for view in views:
        suffix = "" if view == "primary" else f"_{view}"
        both = {f"r\x00{i}": refs_n[i] for i in ids} | {f"h\x00{i}": [hyps_n[i]] for i in ids}
        tok = tokenize_captions(both, lang, view)  # one Java start for English
        scores = score_ngrams(
            {i: tok[f"r\x00{i}"] for i in ids},
            {i: tok[f"h\x00{i}"][0] for i in ids},
            meteor=cfg.meteor and view == "primary",
        )
        if suffix:
            metrics[f"tokenization{suffix}"] = tokenization_name(lang, view)
            notes[f"meteor{suffix}"] = (
                "the METEOR jar splits CJK text into characters, so METEOR has one view"
            )
        for key, value in scores.corpus.items():
            metrics[key + suffix] = value
        for k in range(4):
            stats[f"bleu_{k + 1}{suffix}"] = scores.bleu_stats
            statistics[f"bleu_{k + 1}{suffix}"] = functools.partial(_bleu_order, order=k)
        if scores.meteor_stats is not None:
            stats["meteor"], statistics["meteor"] = scores.meteor_stats, meteor_from_stats
        for key in ("rouge_l", "cider"):
            stats[key + suffix] = bs.as_mean_stats(getattr(scores, key))
            statistics[key + suffix] = bs.mean_statistic
    if not cfg.meteor:
        notes["meteor"] = "disabled in the config"

    metrics["spice"] = None
    reason = spice_status(lang)
    if reason is None:
        metrics["spice"] = spice_score({i: refs_n[i] for i in ids}, {i: hyps_n[i] for i in ids})
    else:
        notes["spice"] = reason

    if cfg.similarity:
        enc = default_encoder(cfg.encoder_threads)
        ref_lists, hyp_list = [refs_n[i] for i in ids], [hyps_n[i] for i in ids]
        for key, values in (
            ("similarity", pair_similarity(ref_lists, hyp_list, enc)),
            (
                "similarity_shuffled",
                shuffled_similarity(ref_lists, hyp_list, seed=cfg.shuffle_seed, encoder=enc)
                if len(ids) > 1
                else np.full(len(ids), np.nan),
            ),
        ):
            metrics[key] = float(np.mean(values))
            stats[key], statistics[key] = bs.as_mean_stats(values), bs.mean_statistic

    _slot_metrics(ids, refs_n, hyps_n, lang, records, cfg, metrics, stats, statistics, notes)

    result = EvaluationResult(lang, ids, metrics, stats, statistics, {}, notes, {})
    if intervals:
        result.intervals = compute_intervals(result, cfg)
    if records is not None:
        result.breakdowns = _breakdowns(ids, records, stats, statistics)
    return result


def compute_intervals(
    result: EvaluationResult, config: EvaluationConfig | None = None
) -> dict[str, bs.Interval]:
    """Bootstrap intervals of every metric of ``result`` from its per-clip statistics (nothing is rescored)."""
    cfg = config or EvaluationConfig()
    out: dict[str, bs.Interval] = {}
    for key, st in result.stats.items():
        if result.metrics.get(key) is not None and np.isfinite(st).all():
            out[key] = bs.bootstrap_interval(
                st,
                result.statistics[key],
                n_resamples=cfg.n_bootstrap,
                confidence=cfg.confidence,
                seed=cfg.bootstrap_seed,
            )
    return out


def _slot_metrics(ids, refs_n, hyps_n, lang, records, cfg, metrics, stats, statistics, notes) -> None:
    """Hallucination (slot claims read by the clue parser) and faithfulness into the result dicts."""
    truth_records = [records[i] for i in ids] if records is not None else None
    ratios, n_clues = slot_ratios(
        [hyps_n[i] for i in ids],
        [refs_n[i] for i in ids],
        lang,
        truth_records,
        expect_normal=cfg.expect_normal,
    )
    for key, (num, den) in ratios.items():
        metrics[key] = ratio_value((num, den))
        stats[key], statistics[key] = bs.as_ratio_stats(num, den), bs.ratio_statistic
    transcripts = [records[i].get("text") for i in ids] if records is not None else None
    table = violation_table(
        [hyps_n[i] for i in ids], lang, cfg.thresholds(), transcripts=transcripts, n_clues=n_clues
    )
    flags = np.asarray([repeats(hyps_n[i], lang) for i in ids], dtype=np.float64)
    metrics["repetition"] = float(flags.mean()) if len(ids) else 0.0
    stats["repetition"], statistics["repetition"] = bs.as_mean_stats(flags), bs.mean_statistic
    for rule in (*RULES, "any"):
        key = "faithfulness_violation" if rule == "any" else f"faithfulness_{rule}"
        flags = np.asarray(table[rule], dtype=np.float64)
        metrics[key] = float(flags.mean())
        stats[key], statistics[key] = bs.as_mean_stats(flags), bs.mean_statistic
    if records is None:
        notes["faithfulness_transcript_copied"] = "no manifest: transcripts unknown, rule not applied"


def _breakdowns(ids, records, stats, statistics) -> dict[str, dict[str, dict[str, float | None]]]:
    """Metric values per ``split`` and per ``emotion`` from the same per-clip statistics."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for field in ("split", "emotion"):
        groups: dict[str, list[int]] = {}
        for row, i in enumerate(ids):
            if records[i].get(field) is not None:
                groups.setdefault(str(records[i][field]), []).append(row)
        if len(groups) < 2:
            continue
        out[field] = {}
        for value, rows in sorted(groups.items()):
            vals = {}
            for key, st in stats.items():
                v = float(statistics[key](st[rows].sum(0)))
                vals[key] = v if np.isfinite(v) else None
            out[field][value] = {"n_clips": len(rows), **vals}
    return out


# -- command line ------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang", choices=LANGS, required=True, help="language of the captions (never pooled)"
    )
    parser.add_argument(
        "--refs",
        type=Path,
        help="JSON: id -> reference caption or list (default: the manifest's reference set, see --references)",
    )
    parser.add_argument("--hyps", type=Path, required=True, help="JSON: id -> generated caption")
    parser.add_argument(
        "--manifest", type=Path, help="corpus manifest.jsonl: split, emotion, transcript, attributes"
    )
    parser.add_argument(
        "--references",
        choices=tuple(REFERENCE_SETS),
        default="main",
        help="without --refs: the manifest's main references (`captions`: training phrasing on test clips) or "
        "the test clips' unseen-phrasing set (`captions_unseen_phrasing`)",
    )
    parser.add_argument("--json", action="store_true", help="print one flat JSON object")
    parser.add_argument("--no-intervals", action="store_true", help="skip the bootstrap intervals")


def _read_json_map(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} must be a JSON object id -> caption")
    return data


def reference_sets_of(records: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The names of :data:`REFERENCE_SETS` that every one of ``records`` carries (non-empty), in table order."""
    recs = list(records)
    return tuple(name for name, field in REFERENCE_SETS.items() if all(r.get(field) for r in recs))


def manifest_references(
    records: Mapping[str, Mapping[str, Any]], ids: Iterable[str], references: str = "main"
) -> dict[str, list[str]]:
    """id -> the reference set ``references`` (``main``: ``captions``; ``unseen_phrasing``:
    ``captions_unseen_phrasing``) of each of ``ids`` from manifest records; an id missing from the manifest or
    without that set is an error naming it."""
    field = REFERENCE_SETS.get(references)
    if field is None:
        raise ValueError(f"unknown reference set {references!r}; choose one of {', '.join(REFERENCE_SETS)}")
    ids = list(ids)
    missing = [i for i in ids if i not in records or not records[i].get(field)]
    if missing:
        more = f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
        raise ValueError(
            f"{len(missing)} id(s) have no {field!r} in the manifest: {', '.join(missing[:10])}{more}"
        )
    return {i: list(records[i][field]) for i in ids}


def run(args: argparse.Namespace) -> int:
    try:
        hyps = _read_json_map(args.hyps, "--hyps")
        records = None
        if args.manifest:
            rows, bad = read_manifest(args.manifest, required=("id",))
            for line in bad:  # a bad line is skipped and named, the rest is scored
                print(f"aligncap evaluate: skipped {line}", file=sys.stderr)
            records = {str(r["id"]): r for r in rows}
        if args.refs is not None:
            refs = _read_json_map(args.refs, "--refs")
        elif records is None:
            raise ValueError("give --refs, or --manifest to read the references from it")
        else:
            refs = manifest_references(records, hyps, args.references)
        result = evaluate_captions(refs, hyps, args.lang, records=records, intervals=not args.no_intervals)
    except ValueError as exc:
        print(f"aligncap evaluate: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True))
    else:
        for key, value in result.metrics.items():
            iv = result.intervals.get(key)
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            extra = f"  [{iv.low:.4f}, {iv.high:.4f}]" if iv else ""
            note = f"  ({result.notes[key]})" if key in result.notes and value is None else ""
            print(f"{key:40s} {shown}{extra}{note}")
    return 0
