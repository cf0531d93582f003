"""Bootstrap confidence intervals from per-clip statistics computed once.

Every metric is written as ``statistic(sum over clips of per-clip statistics)``:

- BLEU-1..4: per clip the clipped n-gram matches, n-gram counts, test and reference lengths (10 numbers);
  the statistic is the toolkit's corpus BLEU formula (:func:`aligncap_lib.evaluation.ngram_metrics.bleu_from_stats`).
- METEOR: per clip the jar's 23 sufficient statistics; the statistic is the jar's aggregate
  (:func:`aligncap_lib.evaluation.ngram_metrics.meteor_from_stats`).
- CIDEr-D: per-clip scores computed once with the document frequencies of the *full* reference set, held fixed
  in every resample (recomputing them per resample would score a different metric on each); the statistic is
  the mean.
- ROUGE-L, similarity: per-clip means. Slot metrics: ratios ``sum(num) / sum(den)`` (a clip making no claim
  adds 0 / 0 and simply weighs nothing).

A resample draws clips with replacement; summing a clip's statistics once per draw is a matrix product of
draw counts [B, N] with statistics [N, K], so 1,000 resamples of 1,000 clips take milliseconds and nothing is
rescored. Intervals are percentile intervals (default 95%, 1,000 resamples, fixed seed).

- :func:`bootstrap_interval`: one system, one set of clips.
- :func:`hierarchical_interval`: several training seeds of one system on the same clips: each resample draws
  seeds with replacement, then clips with replacement independently for each drawn seed, and averages the
  metric over the drawn seeds, so both seed-to-seed and clip-to-clip variation widen the interval.
- :func:`paired_difference`: system A minus system B on the same clips, the same draws applied to both, so the
  clip difficulty shared by both systems cancels; A is better than B (for a higher-is-better metric) when the
  interval lies above 0.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

#: Maps summed statistics [..., K] to metric values [...].
Statistic = Callable[[np.ndarray], np.ndarray]


def mean_statistic(sums: np.ndarray) -> np.ndarray:
    """For statistics laid out as [value, 1]: the mean value."""
    return sums[..., 0] / sums[..., 1]


def ratio_statistic(sums: np.ndarray) -> np.ndarray:
    """For statistics laid out as [num, den]: ``num / den`` (NaN where no clip counts)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[..., 0] / sums[..., 1]


def as_mean_stats(values: np.ndarray) -> np.ndarray:
    """Per-clip values [N] -> statistics [N, 2] for :func:`mean_statistic`."""
    values = np.asarray(values, dtype=np.float64)
    return np.stack([values, np.ones_like(values)], axis=-1)


def as_ratio_stats(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Per-clip numerators and denominators [N] -> statistics [N, 2] for :func:`ratio_statistic`."""
    return np.stack([np.asarray(num, np.float64), np.asarray(den, np.float64)], axis=-1)


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate (on all clips) and its percentile interval; ``width`` = high - low."""

    point: float
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high}


def _draw_counts(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """How often each of ``n`` clips is drawn in each resample: [*shape, n], rows summing to ``n``."""
    # Drawing n clips with replacement = one multinomial draw of n over n equally likely clips.
    flat = int(np.prod(shape))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=flat).astype(np.float64).reshape(*shape, n)


@functools.lru_cache(maxsize=4)
def _single_level_counts(seed: int, n: int, n_resamples: int) -> np.ndarray:
    """The draws of :func:`bootstrap_interval`, cached: every metric of one evaluation uses the same seed and
    clips, hence the same draws, and drawing them dominated the time (read-only array)."""
    counts = _draw_counts(np.random.default_rng(seed), n, (n_resamples,))
    counts.setflags(write=False)
    return counts


@functools.lru_cache(maxsize=8)
def _hierarchical_draws(
    seed: int, n_seeds: int, n_clips: int, n_resamples: int, fixed_single_seed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The draws of :func:`hierarchical_interval` (``fixed_single_seed=False``) and :func:`paired_difference`
    (``True``: one seed is not drawn), cached like :func:`_single_level_counts`: the metrics of one table share
    seed, seeds and clips, hence the draws (drawing was about 3/4 of a summary's bootstrap time). Read-only
    ``(seeds [B, S], counts [B, S, N])``, exactly the arrays the uncached draws gave."""
    rng = np.random.default_rng(seed)
    if fixed_single_seed and n_seeds == 1:
        seeds = np.zeros((n_resamples, 1), dtype=int)
    else:
        seeds = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    counts = _draw_counts(rng, n_clips, (n_resamples, n_seeds))
    seeds.setflags(write=False)
    counts.setflags(write=False)
    return seeds, counts


def _seeded_sums(counts: np.ndarray, seeds: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Summed statistics [B, S, K] of drawn seeds ``seeds`` [B, S] with clip counts ``counts`` [B, S, N] over
    ``stats`` [S, N, K], without materialising [B, S, N, K]."""
    n_res, n_pos = seeds.shape
    out = np.zeros((n_res, n_pos, stats.shape[-1]))
    for pos in range(n_pos):
        for seed in range(stats.shape[0]):
            rows = seeds[:, pos] == seed
            if rows.any():
                out[rows, pos] = counts[rows, pos] @ stats[seed]
    return out


def _percentiles(point: float, samples: np.ndarray, confidence: float) -> Interval:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return Interval(point, float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(float(point), float(low), float(high))


def _check(confidence: float, n_resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")


def bootstrap_interval(
    stats: np.ndarray,
    statistic: Statistic,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile interval of ``statistic`` over clips. ``stats``: per-clip statistics [N, K]."""
    _check(confidence, n_resamples)
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 2 or stats.shape[0] == 0:
        raise ValueError(f"stats must be [N > 0, K], got shape {stats.shape}")
    counts = _single_level_counts(seed, stats.shape[0], n_resamples)
    point = float(statistic(stats.sum(0)))
    return _percentiles(point, statistic(counts @ stats), confidence)


def hierarchical_interval(
    stats: np.ndarray,
    statistic: Statistic,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Seeds, then clips. ``stats``: [S seeds, N clips, K]; the point is the mean over seeds of each seed's
    metric on all clips."""
    _check(confidence, n_resamples)
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 3 or 0 in stats.shape[:2]:
        raise ValueError(f"stats must be [S > 0, N > 0, K], got shape {stats.shape}")
    n_seeds, n_clips, _ = stats.shape
    seeds, counts = _hierarchical_draws(seed, n_seeds, n_clips, n_resamples, False)  # [B, S], [B, S, N]
    sums = _seeded_sums(counts, seeds, stats)
    samples = statistic(sums).mean(axis=1)
    point = float(statistic(stats.sum(1)).mean())
    return _percentiles(point, samples, confidence)


def paired_difference(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    statistic: Statistic,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """A minus B on the same clips (row i of both is clip i): [N, K] each, or [S, N, K] each for seeds (then
    seeds and clips are drawn hierarchically, the same draws for A and B)."""
    _check(confidence, n_resamples)
    a, b = np.asarray(stats_a, np.float64), np.asarray(stats_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"A and B must hold the same clips (and seeds): shapes {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[None], b[None]
    if a.ndim != 3 or 0 in a.shape[:2]:
        raise ValueError(f"stats must be [N, K] or [S, N, K], got shape {stats_a.shape}")
    n_seeds, n_clips, _ = a.shape
    seeds, counts = _hierarchical_draws(seed, n_seeds, n_clips, n_resamples, True)
    diff = statistic(_seeded_sums(counts, seeds, a)) - statistic(_seeded_sums(counts, seeds, b))
    point = float((statistic(a.sum(1)) - statistic(b.sum(1))).mean())
    return _percentiles(point, diff.mean(axis=1), confidence)


class _Scored(Protocol):
    ids: tuple[str, ...]
    stats: dict[str, np.ndarray]
    statistics: dict[str, Statistic]


def compare(
    a: _Scored, b: _Scored, key: str, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Two evaluation results (:class:`aligncap_lib.evaluation.scoring.EvaluationResult`): A minus B on ``key`` with
    its paired interval; both must hold the same clips."""
    if a.ids != b.ids:
        raise ValueError("paired comparison needs the same clips in A and B")
    return paired_difference(
        a.stats[key],
        b.stats[key],
        a.statistics[key],
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )


def over_seeds(
    results: Sequence[_Scored], key: str, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Evaluation results of several training seeds (same clips): the mean of ``key`` over seeds with the
    hierarchical (seeds, then clips) interval."""
    if not results or len({r.ids for r in results}) != 1:
        raise ValueError("every seed must be scored on the same clips")
    stacked = np.stack([r.stats[key] for r in results])
    return hierarchical_interval(
        stacked, results[0].statistics[key], n_resamples=n_resamples, confidence=confidence, seed=seed
    )
