"""The openSMILE cross-check: LLD quantities on signals whose answer is known, and the agreement scorer."""

from __future__ import annotations

import math

import numpy as np

from aligncap_lib.core.attributes import SLOT_BINS
from aligncap_lib.corpus.opensmile_check import opensmile_agreement, opensmile_measure

SR = 16000


def _voice(f0: np.ndarray, amp: float = 0.3) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0) / SR
    return (amp * sum(np.sin(k * phase) / k for k in range(1, 6)) / 1.5).astype(np.float32)


def test_lld_quantities_follow_pitch_pauses_and_level():
    x = _voice(np.full(SR, 200.0))
    m = opensmile_measure(x, SR, syllables=5)
    assert abs(27.5 * 2 ** (m["f0_median_st27"] / 12) - 200.0) < 8.0
    assert m["f0_range_st"] < 1.0
    glide = opensmile_measure(_voice(np.geomspace(150.0, 300.0, 2 * SR)), SR)
    assert glide["f0_range_st"] > 6.0
    gap = np.zeros(int(0.4 * SR), dtype=np.float32)
    paused = opensmile_measure(np.concatenate([x, gap, x]), SR, syllables=10)
    assert abs(paused["articulation_s"] - 2.0) < 0.15 and abs(paused["syllables_per_s"] - 5.0) < 0.4
    assert opensmile_measure(x / 4, SR)["loudness_db"] < m["loudness_db"] - 6.0
    assert math.isnan(opensmile_measure(x, SR)["syllables_per_s"])


def test_agreement_is_perfect_when_the_quantities_separate_the_bins():
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(60):
        b = i % 3
        rec = {
            "measurements": {"f0_norm_hz": 110.0},
            "attributes": {s: SLOT_BINS[s][b] for s in SLOT_BINS if s != "emotion"},
        }
        st_re_norm = (-5.0, 0.0, 5.0)[b] + rng.uniform(-1, 1)
        osm = {
            "f0_median_st27": 12 * math.log2(110.0 / 27.5) + st_re_norm,
            "f0_range_st": (1.0, 3.5, 6.5)[b],
            "f0_range_2080_st": 1.0,
            "syllables_per_s": (3.0, 4.5, 6.5)[b],
            "loudness_peaks_per_s": 4.0,
            "loudness_db": (-10.0, 0.0, 10.0)[b],
            "f0_tremor_st": 0.5 if b == 1 else 0.05,
            "hammarberg_db": 5.0 if b == 2 else 15.0,
        }
        pairs.append((rec, osm))
    out = opensmile_agreement(pairs)
    assert out["scored_on"] == 30
    for slot in ("pitch_level", "pitch_variation", "rate", "loudness", "voice_quality"):
        assert out[slot]["agreement"] == 1.0, slot
    assert out["rate"]["alternative"]["agreement"] < 0.5  # a constant proxy cannot separate three bins
    assert opensmile_agreement(pairs[:5])["note"]
