"""Acoustic analyzer: family choice, rate calibration, JSON norms (no pickles), emotion model, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aligncap_lib.clues.acoustic_analyzer import (
    FEATURES,
    AnalyzerNorms,
    analyze,
    analyze_measurements,
    family_gender,
    fit_norms,
    speaker_baseline,
)
from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.corpus.voices import FAMILY_F0_NORM_HZ


def fake_records(n: int = 60, seed: int = 0) -> list[dict]:
    """Two emotions that differ in loudness and f0 level; rate calibration syll = 0.8 * nuclei + 1."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        emo = "angry" if i % 2 else "sad"
        nuclei = rng.uniform(3, 6)
        m = {name: float(rng.normal()) for name in FEATURES}
        m.update(
            f0_median_hz=219.0 * 2 ** ((4.0 if emo == "angry" else -4.0) / 12 + rng.normal(0, 0.05)),
            rms_dbfs=-18.0 + rng.normal() if emo == "angry" else -35.0 + rng.normal(),
            nuclei_per_s=nuclei,
            syllables_per_s=0.8 * nuclei + 1.0,
            f0_range_st=3.0, f0_tremor_st=0.05, hnr_db=12.0,
        )  # fmt: skip
        out.append(
            {"measurements": m, "lang": "en", "gender": "female", "voice": f"v{i % 4}", "emotion": emo}
        )
    return out


def test_family_gender_nearest_in_log_frequency() -> None:
    assert family_gender(FAMILY_F0_NORM_HZ[("en", "male")] * 1.1, "en") == "male"
    assert family_gender(FAMILY_F0_NORM_HZ[("zh", "female")], "zh") == "female"
    assert family_gender(math.nan, "en") == "female"


def test_fit_norms_recovers_rate_calibration_and_separates_emotions() -> None:
    recs = fake_records()
    norms = fit_norms(recs)
    slope, intercept = norms.rate_fit["en"]
    assert slope == pytest.approx(0.8, abs=1e-6) and intercept == pytest.approx(1.0, abs=1e-6)
    preds = [analyze_measurements(r["measurements"], "en", norms, gender="female")["emotion"] for r in recs]
    assert np.mean([p == r["emotion"] for p, r in zip(preds, recs, strict=True)]) >= 0.95


def test_norms_are_plain_json_and_round_trip(tmp_path: Path) -> None:
    norms = fit_norms(fake_records())
    path = tmp_path / "norms.json"
    path.write_text(json.dumps(norms.to_json()))
    again = AnalyzerNorms.load(path)
    m = fake_records(4, seed=1)[1]["measurements"]
    assert analyze_measurements(m, "en", again) == analyze_measurements(m, "en", norms)
    bad = norms.to_json() | {"features": ["f0"]}
    with pytest.raises(ValueError, match="fitted on features"):
        AnalyzerNorms.from_json(bad)


def test_blind_rate_uses_calibration_and_baseline_picks_the_family() -> None:
    norms = fit_norms(fake_records())
    m = {"f0_median_hz": 130.0, "nuclei_per_s": 7.0, "rms_dbfs": -27.0, "f0_range_st": 3.0,
         "f0_tremor_st": 0.05, "hnr_db": 12.0}  # fmt: skip
    # 0.8 * 7 + 1 = 6.6 syllables/s: fast.
    assert analyze_measurements(m, "en", norms)["rate"] == "fast"
    # 130 Hz alone reads as a male voice (normal pitch); a female speaker's baseline makes it low.
    assert analyze_measurements(m, "en", norms)["pitch_level"] == "high"
    base = speaker_baseline([{**m, "f0_median_hz": 215.0}] * 3, "en")
    assert base is not None and analyze_measurements(m, "en", norms, baseline=base)["pitch_level"] == "low"
    assert speaker_baseline([m, m], "en") is None  # fewer than 3 clips: no baseline


def test_analyze_real_audio_without_norms_gives_every_slot_but_emotion(tmp_path: Path) -> None:
    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    wave = 0.3 * np.sin(2 * np.pi * 200 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    slots = analyze(wave.astype(np.float32), sr, "en")
    assert set(slots) == set(SLOTS) and slots["emotion"] is None
    assert slots["pitch_level"] == "normal"  # 200 Hz against the female norm of 219 Hz


def test_cli_measure_reports_bad_files_and_keeps_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aligncap_lib.cli import main

    sr = 16000
    t = np.arange(sr) / sr
    good = tmp_path / "good.wav"
    sf.write(good, (0.3 * np.sin(2 * np.pi * 120 * t)).astype(np.float32), sr)
    missing = tmp_path / "missing.wav"
    assert main(["clues", "measure", "--lang", "en", str(missing), str(good)]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert "error" in lines[0] and "missing" in lines[0]["error"]
    assert set(lines[1]["slots"]) == set(SLOTS)
