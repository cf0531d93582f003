"""Unseen recording conditions for the ``test_crossdomain`` split: reverberation, noise, telephone band, level.

Each function maps a float ``[T]`` wave at ``sample_rate`` Hz to a float32 ``[T]`` wave at the same rate, and
draws its randomness from the clip's own generator. :data:`UNKNOWABLE` lists, per degradation, the slots
a listener can no longer judge: those are labelled ``None`` (unverifiable) for the degraded clip; every other
slot is re-measured and kept only where the re-measured bin still equals the clean label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, sosfiltfilt

from aligncap_lib.core.audio_io import resample

#: Degradation -> slots it makes unknowable, and why:
#: reverb smears pauses and pitch periods (rate, voice quality); noise raises the measured level and buries
#: breath noise (loudness, voice quality); the telephone band removes the high-frequency breath noise (voice
#: quality); an unknown recording gain makes a digital level meaningless (loudness).
UNKNOWABLE: Mapping[str, tuple[str, ...]] = {
    "reverb": ("rate", "voice_quality"),
    "noise": ("loudness", "voice_quality"),
    "telephone": ("voice_quality",),
    "level": ("loudness",),
}
KINDS: tuple[str, ...] = tuple(UNKNOWABLE)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def reverb(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: exponentially decaying noise, RT60 0.3-0.8 s; RMS kept."""
    rt60 = rng.uniform(0.3, 0.8)
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    y = fftconvolve(x, ir)[: x.size]
    return (y * _rms(x) / _rms(y)).astype(np.float32)


def noise(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Add pink-ish noise (white noise through a one-pole low-pass) at 8-18 dB SNR."""
    snr = rng.uniform(8.0, 18.0)
    w = rng.standard_normal(x.size)
    alpha = 0.97
    pink = lfilter([1.0 - alpha], [1.0, -alpha], w)
    pink = 0.5 * pink / _rms(pink) + 0.5 * w / _rms(w)
    y = x + pink * _rms(x) / _rms(pink) * 10 ** (-snr / 20.0)
    return np.clip(y, -1, 1).astype(np.float32)


def telephone(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Telephone channel: 300-3400 Hz band-pass, down to 8 kHz and back (through the project resampler)."""
    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=sample_rate, output="sos")
    y = sosfiltfilt(sos, x)
    y = resample(resample(y, sample_rate, 8000), 8000, sample_rate)[: x.size]
    if y.size < x.size:
        y = np.pad(y, (0, x.size - y.size))
    return (y * _rms(x) / _rms(y)).astype(np.float32)


def level(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """An unknown recording gain: +-8 to 14 dB (clipped at full scale, as a real recorder would)."""
    gain_db = rng.uniform(8.0, 14.0) * (1 if rng.random() < 0.5 else -1)
    return np.clip(x * 10 ** (gain_db / 20.0), -1, 1).astype(np.float32)


DEGRADE: Mapping[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "reverb": reverb,
    "noise": noise,
    "telephone": telephone,
    "level": level,
}


def degrade(kind: str, x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Apply degradation ``kind`` (one of :data:`KINDS`); raises ValueError naming an unknown kind."""
    if kind not in DEGRADE:
        raise ValueError(f"unknown degradation {kind!r}; allowed: {KINDS}")
    return DEGRADE[kind](np.asarray(x, dtype=np.float64), sample_rate, rng)
