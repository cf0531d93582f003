"""prosody.measure on signals whose answer is known, and the bin rules shared with the analyzer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aligncap_lib.attributes import BIN_RULES, bin_measurements
from aligncap_lib.prosody import MEASUREMENT_NAMES, measure

SR = 16000


def _voice(f0: np.ndarray, amp: float = 0.3) -> np.ndarray:
    """A harmonic 'voice' following the f0 track [T] (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(f0) / SR
    return (amp * sum(np.sin(k * phase) / k for k in range(1, 6)) / 1.5).astype(np.float32)


def test_constant_pitch_is_measured_in_hz_and_semitones():
    m = measure(_voice(np.full(SR, 200.0)), SR)
    assert set(m) == set(MEASUREMENT_NAMES)
    assert abs(m["f0_median_hz"] - 200.0) < 3.0
    assert abs(m["f0_median_st"] - 12 * math.log2(2.0)) < 0.3
    assert m["f0_range_st"] < 0.5 and m["hnr_db"] > 15


def test_an_octave_glide_gives_most_of_an_octave_of_range():
    m = measure(_voice(np.geomspace(150.0, 300.0, SR)), SR)
    assert 7.0 < m["f0_range_st"] < 12.0  # p10-p90 of a 12 st glide is 9.6 st


def test_halving_the_amplitude_lowers_the_level_by_6_db():
    x = _voice(np.full(SR, 180.0))
    assert abs(measure(x, SR)["rms_dbfs"] - measure(x / 2, SR)["rms_dbfs"] - 6.02) < 0.1


def test_pauses_and_known_syllables_give_articulation_rate():
    x = _voice(np.full(SR // 2, 180.0))
    gap = np.zeros(int(0.4 * SR), dtype=np.float32)
    m = measure(np.concatenate([x, gap, x]), SR, syllables=5)
    assert abs(m["pause_share"] - 0.4 / 1.4) < 0.03
    assert abs(m["syllables_per_s"] - 5.0) < 0.3


def test_noise_has_no_pitch_and_a_silent_wave_is_nan():
    rng = np.random.default_rng(0)
    m = measure((0.1 * rng.standard_normal(SR)).astype(np.float32), SR)
    assert m["voiced_share"] < 0.2
    assert math.isnan(measure(np.zeros(SR, dtype=np.float32), SR)["f0_median_hz"])
    with pytest.raises(ValueError):
        measure(np.zeros(0), SR)


def test_bins_follow_the_documented_thresholds():
    base = {
        "f0_median_hz": 200.0,
        "f0_range_st": 3.0,
        "syllables_per_s": 4.5,
        "rms_dbfs": -27.0,
        "f0_tremor_st": 0.05,
        "hnr_db": 12.0,
    }
    assert set(bin_measurements(base, 200.0).values()) == {"normal", "steady"}
    lo = BIN_RULES["pitch_level"][2]
    assert bin_measurements(base, 200.0 * 2 ** ((lo - 0.1) / 12))["pitch_level"] == "high"
    assert (
        bin_measurements(dict(base, f0_median_hz=200.0 * 2 ** ((lo - 0.1) / 12)), 200.0)["pitch_level"]
        == "low"
    )
    assert bin_measurements(dict(base, rms_dbfs=-40.0), 200.0)["loudness"] == "soft"
    assert bin_measurements(dict(base, f0_tremor_st=0.5, hnr_db=2.0), 200.0)["voice_quality"] == "trembling"
    assert bin_measurements(dict(base, hnr_db=2.0), 200.0)["voice_quality"] == "breathy"
    assert bin_measurements(dict(base, f0_median_hz=float("nan")), 200.0)["pitch_level"] is None
