"""The f0 contour that :func:`prosody.measure` reads, for drawing (spectrograms, the token strip).

It lives outside :mod:`prosody` on purpose: the corpus stage's fingerprint hashes ``prosody.py`` (a change to
the labeller rebuilds the corpus and every stage after it), and a drawing helper must not invalidate a run.
"""

from __future__ import annotations

import numpy as np
import parselmouth

from aligncap_lib.corpus.prosody import FRAME_S, PITCH_CEILING_HZ, PITCH_FLOOR_HZ


def f0_contour(wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``(times_s, f0_hz)``, both float ``[n_frames]``: the Praat pitch contour :func:`prosody.measure` reads
    (10 ms steps, 60-500 Hz), NaN where a frame is unvoiced."""
    sound = parselmouth.Sound(np.asarray(wave, dtype=np.float64), sampling_frequency=float(sample_rate))
    pitch = sound.to_pitch_ac(time_step=FRAME_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    f0 = pitch.selected_array["frequency"]
    return np.asarray(pitch.xs(), dtype=np.float64), np.where(f0 > 0, f0, np.nan)
