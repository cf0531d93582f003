"""prosody.measure on signals whose answer is known, and the bin rules shared with the analyzer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aligncap_lib.core.attributes import BIN_RULES, bin_measurements
from aligncap_lib.corpus import contour, prosody
from aligncap_lib.corpus.prosody import MEASUREMENT_NAMES, measure

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


def test_level_contour_features_recover_a_ramp_an_onset_and_an_ending():
    from aligncap_lib.corpus.recipes import apply_envelope

    x = _voice(np.full(2 * SR, 160.0), amp=0.1)
    flat = measure(x, SR)
    assert abs(flat["intensity_slope_db"]) < 1.0 and abs(flat["intensity_attack_db"]) < 1.0
    ramp = measure(apply_envelope(x, SR, 8.0, 0.0), SR)
    assert 6.5 < ramp["intensity_slope_db"] < 9.5 and abs(ramp["intensity_attack_db"]) < 1.0
    onset = measure(apply_envelope(x, SR, 0.0, 6.0), SR)
    assert 5.0 < onset["intensity_attack_db"] < 7.0 and abs(onset["intensity_final_db"]) < 1.0
    ending = measure(apply_envelope(x, SR, 0.0, 0.0, 6.0), SR)
    assert 5.0 < ending["intensity_final_db"] < 7.0 and abs(ending["intensity_slope_db"]) < 1.5


def test_pause_count_and_final_rise_are_measured():
    x = _voice(np.full(SR // 2, 180.0))
    gap = np.zeros(int(0.3 * SR), dtype=np.float32)
    m = measure(np.concatenate([x, gap, x, gap, x]), SR)
    assert m["pause_count"] == 2
    rise = np.concatenate([np.full(SR, 150.0), np.geomspace(150.0, 220.0, SR // 4)])
    r = measure(_voice(rise), SR)
    assert r["f0_final_st"] > 2.0 and r["f0_slope_st"] > 0
    fall = np.concatenate([np.full(SR, 150.0), np.geomspace(150.0, 100.0, SR // 4)])
    assert measure(_voice(fall), SR)["f0_final_st"] < -2.0


def test_signatures_keep_slots_free_and_are_deterministic():
    from aligncap_lib.corpus.recipes import SIGNATURES, with_signature

    text = "one two three four five six seven"
    for emotion in SIGNATURES:
        a = with_signature(text, emotion, np.random.default_rng(3))
        assert a == with_signature(text, emotion, np.random.default_rng(3))
        lo, hi = SIGNATURES[emotion]["pauses"]
        assert lo <= a[0].count("<break") <= hi
        assert a[0].endswith("seven</prosody>") and a[1]["final_share"] == 1 / 7


def test_f0_contour_follows_a_tone_and_is_nan_where_unvoiced():
    sr = 16_000
    t = np.arange(sr) / sr
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (t < 0.6)  # 0.6 s at 180 Hz, then digital silence
    times, f0 = contour.f0_contour(wave, sr)
    assert times.shape == f0.shape and np.diff(times) == pytest.approx(
        np.full(len(times) - 1, prosody.FRAME_S)
    )
    assert np.nanmedian(f0[times < 0.5]) == pytest.approx(180, rel=0.01)
    assert np.isnan(f0[times > 0.7]).all()
