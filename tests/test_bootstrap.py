"""Bootstrap intervals from per-clip statistics."""

from __future__ import annotations

import numpy as np
import pytest

from aligncap_lib.evaluation import bootstrap as bs
from aligncap_lib.evaluation.ngram_metrics import bleu_from_stats


def _values(n, seed=0):
    return np.random.default_rng(seed).normal(0.5, 0.2, size=n)


def test_interval_contains_point_and_shrinks_with_n():
    small = bs.bootstrap_interval(bs.as_mean_stats(_values(50)), bs.mean_statistic)
    large = bs.bootstrap_interval(bs.as_mean_stats(_values(2000)), bs.mean_statistic)
    for iv in (small, large):
        assert iv.low <= iv.point <= iv.high
    assert large.width < small.width / 3  # ~ 1/sqrt(n): sqrt(40) ~ 6.3


def test_mean_interval_matches_normal_theory():
    v = _values(1000)
    iv = bs.bootstrap_interval(bs.as_mean_stats(v), bs.mean_statistic, n_resamples=2000)
    se = v.std() / np.sqrt(len(v))
    assert iv.width == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bleu_interval_from_summed_stats_contains_point():
    rng = np.random.default_rng(1)
    guess = rng.integers(8, 15, size=(200, 1)) - np.arange(4)
    correct = np.floor(guess * rng.uniform(0.2, 0.8, size=(200, 4)))
    stats = np.hstack([correct, guess, guess[:, :1], guess[:, :1] + 1])
    iv = bs.bootstrap_interval(stats, lambda s: bleu_from_stats(s)[..., 3])
    assert iv.low <= iv.point <= iv.high and iv.width > 0


def test_paired_difference_of_identical_systems_is_exactly_zero():
    st = bs.as_mean_stats(_values(300))
    iv = bs.paired_difference(st, st, bs.mean_statistic)
    assert (iv.point, iv.low, iv.high) == (0.0, 0.0, 0.0)


def test_paired_difference_detects_a_shift_and_is_tighter_than_unpaired():
    base = _values(300)
    better = base + 0.02 + np.random.default_rng(5).normal(0, 0.01, size=300)
    iv = bs.paired_difference(bs.as_mean_stats(better), bs.as_mean_stats(base), bs.mean_statistic)
    assert iv.low > 0 and iv.point == pytest.approx(0.02, abs=0.003)
    single = bs.bootstrap_interval(bs.as_mean_stats(base), bs.mean_statistic)
    assert iv.width < single.width / 3


def test_ratio_statistic_ignores_clips_with_zero_denominator():
    st = bs.as_ratio_stats([1, 0, 0, 1], [1, 0, 0, 1])
    assert bs.bootstrap_interval(st, bs.ratio_statistic).point == 1.0


def test_hierarchical_interval_widens_with_seed_spread_and_is_deterministic():
    v = _values(400)
    same = np.stack([bs.as_mean_stats(v)] * 3)
    spread = np.stack([bs.as_mean_stats(v + d) for d in (-0.05, 0.0, 0.05)])
    iv_same = bs.hierarchical_interval(same, bs.mean_statistic)
    iv_spread = bs.hierarchical_interval(spread, bs.mean_statistic)
    assert iv_same.low <= iv_same.point <= iv_same.high
    assert iv_spread.width > iv_same.width * 2
    assert bs.hierarchical_interval(spread, bs.mean_statistic) == iv_spread


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="confidence"):
        bs.bootstrap_interval(bs.as_mean_stats([1.0]), bs.mean_statistic, confidence=1.5)
    with pytest.raises(ValueError, match="same clips"):
        bs.paired_difference(bs.as_mean_stats([1.0, 2.0]), bs.as_mean_stats([1.0]), bs.mean_statistic)


def test_cached_draws_equal_fresh_draws() -> None:
    """The hierarchical and paired intervals read cached draws: the same arrays a fresh generator gives, so a
    cached interval equals the uncached one bit for bit."""
    import numpy as np

    from aligncap_lib.evaluation import bootstrap as bs

    rng = np.random.default_rng(0)
    seeds = rng.integers(0, 3, size=(200, 3))
    counts = bs._draw_counts(rng, 17, (200, 3))
    cached_seeds, cached_counts = bs._hierarchical_draws(0, 3, 17, 200, False)
    assert np.array_equal(seeds, cached_seeds) and np.array_equal(counts, cached_counts)
    single = bs._hierarchical_draws(5, 1, 17, 200, True)
    assert not single[0].any()
    assert np.array_equal(single[1], bs._draw_counts(np.random.default_rng(5), 17, (200, 1)))
    with pytest.raises(ValueError):
        cached_counts[0, 0, 0] = 1.0  # read-only: no caller can spoil the next one's draws
