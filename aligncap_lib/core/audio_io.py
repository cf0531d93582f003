"""Audio in and out: the one place that reads, validates, writes and resamples waveforms.

Every stage (corpus, speech tokens, acoustic analyzer, inference) reads audio through :func:`read_audio`
and changes sample rates through :func:`resample`, so that a file is judged by the same rules everywhere.

Waveforms are ``float32`` arrays of shape ``[T]`` (mono), values in ``[-1, 1]`` full scale, with the sample
rate in Hz next to them. Rules (each breach raises :class:`AudioError` naming the file):

- missing, unreadable or corrupt files, and files with zero samples, are errors;
- NaN or infinite samples are errors (never silently zeroed);
- silence (peak below ``SILENCE_PEAK`` = -80 dBFS) is an error unless ``allow_silent=True``;
- more than one channel is mixed down to mono by the mean of the channels (a listener hears the sum; the
  mean keeps full scale) and ``info.mixed_down`` says so;
- rates outside ``[MIN_RATE, MAX_RATE]`` (4 kHz .. 192 kHz) are errors: below 4 kHz no speech prosody is
  left, above 192 kHz the file is almost surely not speech;
- longer than ``max_seconds`` (default :data:`MAX_SECONDS` = 60 s) is an error: we reject rather than
  truncate, because a caption of a silently cut clip would describe audio the model never heard.

Formats are whatever libsndfile reads (WAV, FLAC, OGG/Vorbis, and MP3 with libsndfile >= 1.1).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

MIN_RATE = 4_000
MAX_RATE = 192_000
MAX_SECONDS = 60.0
#: Peak amplitude below which a clip counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4


class AudioError(ValueError):
    """A clip that cannot be used, with the item (path or id) and the reason."""

    def __init__(self, item: str | os.PathLike[str], reason: str) -> None:
        self.item = str(item)
        self.reason = reason
        super().__init__(f"{self.item}: {reason}")


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What :func:`read_audio` found: the file's own rate and channel count, and what it changed."""

    path: str
    source_rate: int
    channels: int
    mixed_down: bool
    resampled: bool


def validate_waveform(
    wave: np.ndarray,
    sample_rate: int,
    *,
    item: str = "<array>",
    max_seconds: float | None = MAX_SECONDS,
    allow_silent: bool = False,
) -> np.ndarray:
    """Check a waveform ``[T]`` or ``[T, C]`` and return it as mono float32 ``[T]``.

    Raises :class:`AudioError` naming ``item`` for an empty, non-finite, silent, too long or odd-rate signal.
    """
    if not isinstance(sample_rate, (int, np.integer)) or not MIN_RATE <= int(sample_rate) <= MAX_RATE:
        raise AudioError(item, f"sample rate {sample_rate!r} Hz outside [{MIN_RATE}, {MAX_RATE}]")
    x = np.asarray(wave)
    if x.ndim == 2:
        x = x.mean(axis=1)
    elif x.ndim != 1:
        raise AudioError(item, f"expected shape [T] or [T, channels], got {x.shape}")
    if x.size == 0:
        raise AudioError(item, "empty (0 samples)")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise AudioError(item, f"{int(np.sum(~np.isfinite(x)))} NaN/inf samples")
    seconds = x.size / int(sample_rate)
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(item, f"too long: {seconds:.1f} s > {max_seconds:.1f} s (split it first)")
    if not allow_silent and float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise AudioError(item, "silent (peak below -80 dBFS)")
    return x


def read_audio(
    path: str | os.PathLike[str],
    *,
    target_rate: int | None = None,
    max_seconds: float | None = MAX_SECONDS,
    allow_silent: bool = False,
) -> tuple[np.ndarray, int, AudioInfo]:
    """Read one file as mono float32 ``[T]``; returns ``(wave, sample_rate_hz, info)``.

    With ``target_rate`` the wave is resampled (see :func:`resample`) and ``sample_rate_hz == target_rate``.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(p, "missing (no such file)")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(p, f"unreadable or corrupt audio ({exc})") from None
    channels = int(data.shape[1]) if data.ndim == 2 else 1
    wave = validate_waveform(data, int(sr), item=str(p), max_seconds=max_seconds, allow_silent=allow_silent)
    out_rate = int(sr)
    if target_rate is not None and int(target_rate) != out_rate:
        wave = resample(wave, out_rate, int(target_rate))
        out_rate = int(target_rate)
    info = AudioInfo(str(p), int(sr), channels, channels > 1, out_rate != int(sr))
    return wave, out_rate, info


def resample(wave: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """The project's one resampler: polyphase FIR (``scipy.signal.resample_poly``, Kaiser window).

    ``wave``: float ``[T]`` at ``rate_from`` Hz -> float32 ``[round(T * rate_to / rate_from)]`` at ``rate_to``.
    Polyphase filtering is exact for rational ratios, deterministic, and anti-aliased (unlike FFT resampling
    it does not wrap the clip's end onto its start).
    """
    if rate_from <= 0 or rate_to <= 0:
        raise ValueError(f"sample rates must be > 0, got {rate_from} -> {rate_to}")
    x = np.asarray(wave, dtype=np.float32)
    if rate_from == rate_to:
        return x
    g = math.gcd(int(rate_from), int(rate_to))
    return resample_poly(x, int(rate_to) // g, int(rate_from) // g).astype(np.float32)


def write_wav(path: str | os.PathLike[str], wave: np.ndarray, sample_rate: int) -> Path:
    """Write mono 16-bit PCM WAV (clipped to [-1, 1]); the bytes depend only on the samples and the rate."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    x = np.clip(np.asarray(wave, dtype=np.float64), -1.0, 1.0)
    pcm = np.round(x * 32767.0).astype(np.int16)
    sf.write(str(p), pcm, int(sample_rate), subtype="PCM_16", format="WAV")
    return p


def read_many(
    paths: Iterable[str | os.PathLike[str]], **kwargs: object
) -> tuple[dict[str, tuple[np.ndarray, int]], dict[str, str]]:
    """Read a batch; bad files are skipped and reported, never fatal.

    Returns ``({path: (wave, rate)}, {path: reason})``; ``kwargs`` go to :func:`read_audio`.
    """
    ok: dict[str, tuple[np.ndarray, int]] = {}
    bad: dict[str, str] = {}
    for path in paths:
        try:
            wave, sr, _ = read_audio(path, **kwargs)  # type: ignore[arg-type]
        except AudioError as exc:
            bad[str(path)] = exc.reason
            continue
        ok[str(path)] = (wave, sr)
    return ok, bad
