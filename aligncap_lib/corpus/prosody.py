"""Prosody measurement: Praat (through praat-parselmouth) for the labels, openSMILE eGeMAPS as a cross-check.

:func:`measure` is pure and fast (about 20 ms per second of audio on one core): ``wave`` float ``[T]`` at
``sample_rate`` Hz -> a flat dict of named floats (NaN where a quantity is undefined, e.g. f0 of an unvoiced
clip). The corpus labels every clip from it, and the acoustic analyzer measures unseen audio with it, so both
see the same numbers; :func:`attributes.bin_measurements` turns them into bins.

What each number is (units in the name):

- ``f0_median_hz`` and ``f0_median_st``: median f0 of voiced frames (Praat autocorrelation pitch, 10 ms
  steps, 60-500 Hz), the latter in semitones re ``f0_ref_hz`` (default 100 Hz);
- ``f0_range_st``: 90th minus 10th percentile of the voiced f0 contour in semitones after a 9-frame (90 ms)
  median filter, frames more than 8 st from the median folded back by an octave (the melody: robust to octave errors and to the fast wobble of a trembling voice, which
  inflated the raw range 2-5x on breathy and trembling renderings);
- ``f0_tremor_st``: median absolute f0 change between consecutive voiced 10 ms frames, in semitones; the
  frame-to-frame wobble of a trembling voice (espeak-ng ``flutter``) raises it 5-10x, breath does not;
- ``jitter_local`` / ``shimmer_local``: Praat's local jitter and shimmer (fractions) on the cc point process;
- ``hnr_db``: harmonics-to-noise ratio, 10*log10(r / (1 - r)) of the pitch analysis' autocorrelation peak r,
  averaged over voiced frames (Boersma 1993; the same quantity as Praat's Harmonicity (ac) at 10 ms, for a
  tenth of its cost);
- ``rms_dbfs``: RMS level of the active frames (frames within 35 dB of the loudest and above -60 dBFS), dB
  re full scale;
- ``speech_s``: first to last active frame; ``pause_share``: share of ``speech_s`` in silent stretches of
  at least 150 ms; ``articulation_s`` = ``speech_s`` minus those pauses;
- ``pause_count``: number of those pauses;
- contour features (emotion cues beyond the five slots): ``f0_final_st``: median of the last 15 % of the
  smoothed voiced contour minus the median (a final rise > 0, a final fall < 0); ``f0_slope_st``: least-squares
  slope of the smoothed contour over the voiced frames' position 0..1 (st across the utterance);
  ``intensity_slope_db``, ``intensity_attack_db``, ``intensity_final_db``: least-squares fit of the active
  frames' levels (dB) on [1, u, u < 0.3, u > 0.7] with u the position 0..1 in the active span: the level
  change across the utterance and the extra level of its first and last 30 % (a forceful onset, an
  exclaimed ending);
- ``syllables_per_s``: ``syllables / articulation_s`` when the syllable count is known (the corpus knows it
  from the text: espeak-ng's vowel nuclei in English, one per character/pinyin syllable in Mandarin), else
  NaN; ``nuclei_per_s``: a blind estimate for unknown text: intensity peaks (>= 2 dB prominence, voiced,
  within 25 dB of the loudest) per second of articulation, after de Jong & Wempe (2009).
"""

from __future__ import annotations

import math

import numpy as np
import parselmouth
from parselmouth.praat import call
from scipy.signal import find_peaks, medfilt

PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 500.0
FRAME_S = 0.010
MIN_PAUSE_S = 0.150
RANGE_SMOOTH_FRAMES = 9
ACTIVE_RANGE_DB = 35.0
ACTIVE_FLOOR_DBFS = -60.0

#: The names :func:`measure` returns, in order.
MEASUREMENT_NAMES: tuple[str, ...] = (
    "duration_s",
    "speech_s",
    "articulation_s",
    "pause_share",
    "voiced_share",
    "f0_median_hz",
    "f0_median_st",
    "f0_range_st",
    "f0_tremor_st",
    "rms_dbfs",
    "jitter_local",
    "shimmer_local",
    "hnr_db",
    "syllables_per_s",
    "nuclei_per_s",
    "f0_final_st",
    "f0_slope_st",
    "intensity_slope_db",
    "intensity_attack_db",
    "intensity_final_db",
    "pause_count",
)
#: Share of the utterance (voiced frames for f0, active span for intensity) that makes its end / onset.
FINAL_SHARE = 0.15
ATTACK_SHARE = 0.3


def _frame_db(x: np.ndarray, sr: int) -> np.ndarray:
    """Frame levels in dBFS ``[n_frames]``: 25 ms windows every 10 ms (RMS re a full-scale sine's 1/sqrt(2)
    is *not* applied: 0 dBFS is a constant at full scale)."""
    hop = int(round(FRAME_S * sr))
    win = int(round(0.025 * sr))
    if x.size < win:
        x = np.pad(x, (0, win - x.size))
    n = 1 + (x.size - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    power = np.mean(np.square(x[idx], dtype=np.float64), axis=1)
    return 10.0 * np.log10(power + 1e-12)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index runs where ``mask`` is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def measure(
    wave: np.ndarray, sample_rate: int, *, syllables: int | None = None, f0_ref_hz: float = 100.0
) -> dict[str, float]:
    """Measure one clip: ``wave`` float ``[T]`` (mono, full scale 1.0) at ``sample_rate`` Hz -> named floats.

    See the module docstring for every quantity and its unit. Raises ``ValueError`` on an empty wave.
    """
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"measure() needs a non-empty mono wave [T], got shape {x.shape}")
    nan = float("nan")
    out = dict.fromkeys(MEASUREMENT_NAMES, nan)
    out["duration_s"] = x.size / sample_rate

    # Level, activity and pauses from numpy frames (cheaper than Praat's Intensity and identical in spirit).
    db = _frame_db(x, sample_rate)
    active = (db > db.max() - ACTIVE_RANGE_DB) & (db > ACTIVE_FLOOR_DBFS)
    if not active.any():
        return out
    first, last = int(np.argmax(active)), int(len(active) - 1 - np.argmax(active[::-1]))
    span = active[first : last + 1]
    pauses = [b - a for a, b in _runs(~span) if (b - a) * FRAME_S >= MIN_PAUSE_S]
    pause_frames = sum(pauses)
    speech_s = (last - first + 1) * FRAME_S
    articulation_s = max(speech_s - pause_frames * FRAME_S, FRAME_S)
    out.update(
        speech_s=speech_s,
        articulation_s=articulation_s,
        pause_share=pause_frames * FRAME_S / speech_s,
        rms_dbfs=float(10.0 * np.log10(np.mean(np.power(10.0, db[active] / 10.0)))),
        pause_count=float(len(pauses)),
    )
    slope, attack, final = _level_contour(db, active, first, last)
    out.update(intensity_slope_db=slope, intensity_attack_db=attack, intensity_final_db=final)
    if syllables is not None:
        out["syllables_per_s"] = syllables / articulation_s

    # Pitch and voice quality from Praat.
    sound = parselmouth.Sound(x, sampling_frequency=float(sample_rate))
    pitch = sound.to_pitch_ac(time_step=FRAME_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    arr = pitch.selected_array
    f0, strength = arr["frequency"], arr["strength"]
    voiced = f0 > 0
    out["voiced_share"] = float(voiced.mean()) if voiced.size else 0.0
    if voiced.sum() >= 3:
        st = 12.0 * np.log2(f0[voiced] / f0_ref_hz)
        p50 = np.percentile(st, 50)
        # Pitch trackers halve or double f0 on breathy and creaky stretches: fold frames more than 8 st from
        # the median back by an octave before taking the range.
        st = np.where(st - p50 > 8.0, st - 12.0, np.where(p50 - st > 8.0, st + 12.0, st))
        # The range is taken on a 90 ms median-smoothed contour: a speaker's melody, not the fast wobble of a
        # trembling voice (flutter) nor single-frame octave errors, which inflated the raw range 2-5x.
        smooth = medfilt(st, kernel_size=RANGE_SMOOTH_FRAMES) if st.size >= RANGE_SMOOTH_FRAMES else st
        p10, p90 = np.percentile(smooth, [10, 90])
        steps = np.abs(np.diff(12.0 * np.log2(np.where(voiced, f0, np.nan))))
        r = np.clip(strength[voiced], 1e-6, 1 - 1e-6)
        k = max(2, int(round(FINAL_SHARE * smooth.size)))
        pos = np.linspace(0.0, 1.0, smooth.size)
        out.update(
            f0_median_hz=float(f0_ref_hz * 2.0 ** (p50 / 12.0)),
            f0_median_st=float(p50),
            f0_range_st=float(p90 - p10),
            f0_tremor_st=float(np.nanmedian(steps)) if np.isfinite(steps).any() else nan,
            hnr_db=float(np.mean(10.0 * np.log10(r / (1.0 - r)))),
            f0_final_st=float(np.median(smooth[-k:]) - p50),
            f0_slope_st=float(np.polyfit(pos, smooth, 1)[0]),
        )
        points = call([sound, pitch], "To PointProcess (cc)")
        out["jitter_local"] = _undefined_to_nan(call(points, "Get jitter (local)", 0, 0, 1e-4, 0.02, 1.3))
        out["shimmer_local"] = _undefined_to_nan(
            call([sound, points], "Get shimmer (local)", 0, 0, 1e-4, 0.02, 1.3, 1.6)
        )
        out["nuclei_per_s"] = _count_nuclei(db, f0, first, last) / articulation_s
    return {k: float(v) for k, v in out.items()}


def level_contour(wave: np.ndarray, sample_rate: int) -> tuple[float, float, float]:
    """``(intensity_slope_db, intensity_attack_db, intensity_final_db)`` of :func:`measure` alone (no pitch
    analysis): ``wave`` float ``[T]`` at ``sample_rate`` Hz; NaNs for a silent wave."""
    db = _frame_db(np.asarray(wave, dtype=np.float64), sample_rate)
    active = (db > db.max() - ACTIVE_RANGE_DB) & (db > ACTIVE_FLOOR_DBFS)
    if not active.any():
        return float("nan"), float("nan"), float("nan")
    first, last = int(np.argmax(active)), int(len(active) - 1 - np.argmax(active[::-1]))
    return _level_contour(db, active, first, last)


def _level_contour(db: np.ndarray, active: np.ndarray, first: int, last: int) -> tuple[float, float, float]:
    """(dB change across the active span, extra dB of its first 30 %, extra dB of its last 30 %) by least
    squares on [1, u, u < 0.3, u > 0.7]; NaN for fewer than 10 active frames."""
    idx = np.flatnonzero(active)
    if idx.size < 10 or last <= first:
        return float("nan"), float("nan"), float("nan")
    u = (idx - first) / (last - first)
    design = np.stack(
        [np.ones_like(u), u, (u < ATTACK_SHARE).astype(float), (u > 1 - ATTACK_SHARE).astype(float)], axis=1
    )
    coef, *_ = np.linalg.lstsq(design, db[idx], rcond=None)
    return float(coef[1]), float(coef[2]), float(coef[3])


def _undefined_to_nan(value: float) -> float:
    return float(value) if value is not None and math.isfinite(value) else float("nan")


def _count_nuclei(db: np.ndarray, f0: np.ndarray, first: int, last: int) -> int:
    """Syllable nuclei: intensity peaks with >= 2 dB prominence, voiced, within 25 dB of the loudest frame."""
    smooth = np.convolve(db, np.ones(3) / 3.0, mode="same")
    peaks, _ = find_peaks(smooth[first : last + 1], prominence=2.0, height=db.max() - 25.0)
    peaks = peaks + first
    # Praat's pitch frames are centred like ours up to half a window; map by time index.
    voiced = np.zeros(len(db), dtype=bool)
    n = min(len(db), len(f0))
    voiced[:n] = f0[:n] > 0
    return int(np.sum(voiced[np.clip(peaks, 0, len(db) - 1)]))
