"""audio_io: every bad input gets an AudioError naming the file; the resampler keeps pitch and length."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from aligncap_lib.core.audio_io import (
    AudioError,
    read_audio,
    read_many,
    resample,
    validate_waveform,
    write_wav,
)


def _tone(sr: int = 16000, seconds: float = 0.5, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "missing"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00garbage"), "corrupt"),
        (lambda p: sf.write(p, np.zeros(0, dtype=np.float32), 16000), "empty"),
        (lambda p: sf.write(p, np.zeros(1600, dtype=np.float32), 16000), "silent"),
        (lambda p: sf.write(p, _tone(sr=2000), 2000), "sample rate"),
        (lambda p: sf.write(p, np.tile(_tone(), 150), 16000), "too long"),
    ],
)
def test_bad_files_raise_naming_the_file(tmp_path, make, reason):
    path = tmp_path / f"{reason.replace(' ', '_')}.wav"
    make(path)
    with pytest.raises(AudioError, match=reason) as err:
        read_audio(path)
    assert str(path) in str(err.value)


def test_nan_is_an_error_not_zeroed():
    x = _tone()
    x[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        validate_waveform(x, 16000, item="clip7")


def test_stereo_is_mixed_down_to_the_channel_mean(tmp_path):
    left, right = _tone(), np.zeros(8000, dtype=np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    wave, sr, info = read_audio(tmp_path / "st.wav")
    assert info.mixed_down and info.channels == 2 and wave.ndim == 1
    np.testing.assert_allclose(wave, left / 2, atol=1e-6)


def test_resample_keeps_length_ratio_and_frequency():
    x = _tone(sr=22050, seconds=1.0, hz=440.0)
    y = resample(x, 22050, 16000)
    assert y.shape == (16000,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 16000 / len(y) - 440.0) < 2.0
    assert resample(x, 22050, 22050) is not None


def test_read_with_target_rate_and_roundtrip(tmp_path):
    x = _tone(sr=24000)
    write_wav(tmp_path / "a.wav", x, 24000)
    wave, sr, info = read_audio(tmp_path / "a.wav", target_rate=16000)
    assert sr == 16000 and info.resampled and info.source_rate == 24000
    assert abs(wave.size - x.size * 2 / 3) <= 1


def test_batch_skips_and_reports_bad_files_only(tmp_path):
    write_wav(tmp_path / "ok.wav", _tone(), 16000)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    ok, bad = read_many([tmp_path / "ok.wav", tmp_path / "bad.wav", tmp_path / "gone.wav"])
    assert list(ok) == [str(tmp_path / "ok.wav")]
    assert set(bad) == {str(tmp_path / "bad.wav"), str(tmp_path / "gone.wav")}
