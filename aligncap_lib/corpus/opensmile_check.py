"""The independent cross-check of the corpus labels: openSMILE eGeMAPS low-level descriptors (LLDs).

openSMILE has its own pitch tracker (SHS + Viterbi), its own loudness model (sones) and its own voice-quality
measures, so bins derived from it test whether the Praat labels describe the audio or an artefact of one
analysis. Where eGeMAPS has a quantity of the same definition, that definition is re-applied to openSMILE's
frames (the p10-p90 range of the 90 ms median-smoothed f0 contour, syllables per second of articulation);
the thresholds that turn each quantity into three bins are *fit* on half of the cross-check clips and scored on
the other half, because the units differ (sones, semitones re 27.5 Hz, Hammarberg index).

:func:`opensmile_measure`: ``wave`` float ``[T]`` at ``sample_rate`` Hz -> named floats (10 ms LLD frames):

- ``f0_median_st27``: median f0 of voiced frames, semitones re 27.5 Hz;
- ``f0_range_st``: p90 - p10 of the voiced f0 contour after octave folding and a 9-frame median filter (the
  definition of ``prosody.measure``'s ``f0_range_st``), semitones; ``f0_range_2080_st``: eGeMAPS' own
  20-80 percentile range of the raw contour, kept for comparison;
- ``f0_tremor_st``: median absolute f0 change between consecutive voiced frames (semitones);
- ``articulation_s``: frames whose loudness is within 35 dB (power) of the loudest, first to last, minus
  silent stretches >= 150 ms; ``syllables_per_s`` = the text's syllable count / ``articulation_s`` (NaN when
  the count is not given); ``loudness_peaks_per_s``: eGeMAPS' blind rate proxy (loudness peaks per second);
- ``loudness_db``: 10 log10 of the mean of loudness^(1/0.3) over active frames (sones back to a power-like
  scale), dB re an arbitrary reference;
- ``jitter_local``, ``hnr_db``: means over voiced frames; ``hammarberg_db``: median Hammarberg index over
  voiced frames (energy peak 0-2 kHz minus 2-5 kHz: breath noise lowers it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.signal import find_peaks, medfilt

from aligncap_lib.core.attributes import SLOT_BINS

FRAME_S = 0.010
MIN_PAUSE_FRAMES = 15
ACTIVE_RANGE_DB = 35.0
SONE_EXPONENT = 0.3
_SMILE = None


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def opensmile_measure(
    wave: np.ndarray, sample_rate: int, *, syllables: int | None = None
) -> dict[str, float]:
    """openSMILE eGeMAPSv02 LLD quantities of one clip (see the module docstring for names and units)."""
    global _SMILE
    import opensmile  # imported lazily: it loads a native library

    if _SMILE is None:
        _SMILE = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
        )
    lld = _SMILE.process_signal(np.asarray(wave, dtype=np.float32), sample_rate)
    nan = float("nan")
    st = lld["F0semitoneFrom27.5Hz_sma3nz"].to_numpy(dtype=float)
    loud = lld["Loudness_sma3"].to_numpy(dtype=float)
    voiced = st > 0
    out = dict.fromkeys(
        (
            "f0_median_st27",
            "f0_range_st",
            "f0_range_2080_st",
            "f0_tremor_st",
            "articulation_s",
            "syllables_per_s",
            "loudness_peaks_per_s",
            "loudness_db",
            "jitter_local",
            "hnr_db",
            "hammarberg_db",
        ),
        nan,
    )
    power = np.power(np.clip(loud, 0.0, None), 1.0 / SONE_EXPONENT)
    if power.max() > 0:
        active = power > power.max() * 10 ** (-ACTIVE_RANGE_DB / 10)
        idx = np.flatnonzero(active)
        first, last = int(idx[0]), int(idx[-1])
        pauses = sum(b - a for a, b in _runs(~active[first : last + 1]) if b - a >= MIN_PAUSE_FRAMES)
        art = max(last - first + 1 - pauses, 1) * FRAME_S
        peaks, _ = find_peaks(loud[first : last + 1], prominence=0.05 * loud.max())
        out.update(
            articulation_s=art,
            syllables_per_s=syllables / art if syllables else nan,
            loudness_peaks_per_s=len(peaks) / ((last - first + 1) * FRAME_S),
            loudness_db=float(10 * np.log10(np.mean(power[active]))),
        )
    if voiced.sum() >= 9:
        s = st[voiced]
        p50 = float(np.median(s))
        s = np.where(s - p50 > 8.0, s - 12.0, np.where(p50 - s > 8.0, s + 12.0, s))
        smooth = medfilt(s, kernel_size=9)
        steps = np.abs(np.diff(np.where(voiced, st, np.nan)))
        out.update(
            f0_median_st27=p50,
            f0_range_st=float(np.percentile(smooth, 90) - np.percentile(smooth, 10)),
            f0_range_2080_st=float(np.percentile(st[voiced], 80) - np.percentile(st[voiced], 20)),
            f0_tremor_st=float(np.nanmedian(steps)) if np.isfinite(steps).any() else nan,
            jitter_local=float(np.mean(lld["jitterLocal_sma3nz"].to_numpy()[voiced])),
            hnr_db=float(np.mean(lld["HNRdBACF_sma3nz"].to_numpy()[voiced])),
            hammarberg_db=float(np.median(lld["hammarbergIndex_sma3"].to_numpy()[voiced])),
        )
    return {k: float(v) for k, v in out.items()}


def fit_thresholds(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Two thresholds lo <= hi maximising the agreement of (x < lo: 0, x > hi: 2, else 1) with y in {0,1,2}."""
    cands = np.unique(np.quantile(x, np.linspace(0, 1, 41)))
    best, best_acc = (float(cands[0]), float(cands[-1])), -1.0
    for i, lo in enumerate(cands):
        for hi in cands[i:]:
            acc = float(np.mean(np.where(x < lo, 0, np.where(x > hi, 2, 1)) == y))
            if acc > best_acc:
                best, best_acc = (float(lo), float(hi)), acc
    return best


def _pitch_re_norm(r: dict[str, Any], o: dict[str, Any]) -> float | None:
    st27 = o.get("f0_median_st27")
    if st27 is None or st27 != st27:
        return None
    return 12 * math.log2(27.5 * 2 ** (st27 / 12) / r["measurements"]["f0_norm_hz"])


#: Slot -> (how the openSMILE quantity is read, what it is) for the three-bin slots.
ORDINAL_SOURCES: dict[str, tuple[Any, str]] = {
    "pitch_level": (_pitch_re_norm, "median f0 (openSMILE), st re family norm"),
    "pitch_variation": (lambda r, o: o.get("f0_range_st"), "p10-p90 of the smoothed openSMILE f0 contour"),
    "rate": (lambda r, o: o.get("syllables_per_s"), "text syllables / openSMILE articulation time"),
    "loudness": (lambda r, o: o.get("loudness_db"), "mean active-frame loudness (sones -> dB)"),
}
#: Blind or eGeMAPS-native alternatives, scored for comparison only.
ALTERNATIVES: dict[str, tuple[str, str]] = {
    "pitch_variation": ("f0_range_2080_st", "eGeMAPS 20-80 percentile range"),
    "rate": ("loudness_peaks_per_s", "loudness peaks per second (blind)"),
}


def _score(x: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, float]]:
    lo, hi = fit_thresholds(x[0::2], y[0::2])
    pred = np.where(x[1::2] < lo, 0, np.where(x[1::2] > hi, 2, 1))
    return round(float(np.mean(pred == y[1::2])), 4), (round(lo, 3), round(hi, 3))


def _vq_rule(tremor: np.ndarray, tilt: np.ndarray, t_thr: float, h_thr: float) -> np.ndarray:
    return np.where(tremor > t_thr, 1, np.where(tilt < h_thr, 2, 0))


def opensmile_agreement(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Agreement of openSMILE-derived bins with the Praat labels, per slot (thresholds fit on the even-indexed
    clips, scored on the odd ones). ``pairs``: (manifest record, :func:`opensmile_measure` output)."""
    if len(pairs) < 8:
        return {"clips": len(pairs), "note": "too few cross-check clips"}
    out: dict[str, Any] = {"clips": len(pairs), "scored_on": len(pairs) // 2}
    for slot, (read, what) in ORDINAL_SOURCES.items():
        rows = [(read(r, o), SLOT_BINS[slot].index(r["attributes"][slot])) for r, o in pairs]
        rows = [(x, y) for x, y in rows if x is not None and x == x]
        x, y = np.array([a for a, _ in rows], dtype=float), np.array([b for _, b in rows])
        acc, thr = _score(x, y)
        out[slot] = {"agreement": acc, "thresholds": list(thr), "quantity": what}
        if slot in ALTERNATIVES:
            key, name = ALTERNATIVES[slot]
            alt = [
                (o.get(key), yy)
                for (r, o), yy in zip(
                    pairs, [SLOT_BINS[slot].index(r["attributes"][slot]) for r, _ in pairs], strict=True
                )
            ]
            alt = [(a, b) for a, b in alt if a is not None and a == a]
            out[slot]["alternative"] = {
                "quantity": name,
                "agreement": _score(np.array([a for a, _ in alt]), np.array([b for _, b in alt]))[0],
            }
    vq = [
        (
            o["f0_tremor_st"],
            o["hammarberg_db"],
            SLOT_BINS["voice_quality"].index(r["attributes"]["voice_quality"]),
        )
        for r, o in pairs
        if o.get("f0_tremor_st") is not None and o.get("hammarberg_db") is not None
    ]
    arr = np.array(vq, dtype=float)
    arr = arr[np.isfinite(arr).all(axis=1)]
    fit, test = arr[0::2], arr[1::2]
    best, best_acc = (0.0, 0.0), -1.0
    for t in np.quantile(fit[:, 0], np.linspace(0.05, 0.95, 37)):
        for h in np.quantile(fit[:, 1], np.linspace(0.02, 0.98, 49)):
            acc = float(np.mean(_vq_rule(fit[:, 0], fit[:, 1], t, h) == fit[:, 2]))
            if acc > best_acc:
                best, best_acc = (float(t), float(h)), acc
    out["voice_quality"] = {
        "agreement": round(float(np.mean(_vq_rule(test[:, 0], test[:, 1], *best) == test[:, 2])), 4),
        "thresholds": [round(best[0], 4), round(best[1], 3)],
        "quantity": "trembling if openSMILE f0 tremor > t, else breathy if Hammarberg index < h",
    }
    return out
