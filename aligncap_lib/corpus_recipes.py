"""Emotion recipes of the synthetic corpus and the rendering of one clip (intent -> espeak-ng -> waveform).

An emotion *recipe* gives, per acoustic slot, a distribution over bins (mixed: no emotion fixes a slot), plus
a pause habit. A share of clips (``independent_share``) draws every slot uniformly instead, so the emotion
alone cannot predict any attribute (a recipes-only prototype let it predict pitch, rate and loudness at
about 0.7; the corpus report measures what is left).

Intended bins become measurable targets (bin centres of :data:`attributes.BIN_RULES` plus per-clip jitter)
and then espeak-ng controls, calibrated on a *neutral rendering* of the same sentence (default pitch, range
and speed), which is cached per (language, sentence, gender):

- pitch level: ``-p`` (about 0.183 st per step, measured), corrected for the voice's hidden base and for
  the shift that a range change causes (about +0.0175 st per range percent);
- pitch variation: SSML ``<prosody range="N%">`` (range in st scales with N and shrinks as ``-p`` rises,
  about -0.83 % per step; saturates near 250 %);
- rate: ``-s`` words per minute, scaled by target / neutral syllables per second;
- loudness: a digital gain to the target RMS of active frames (dBFS);
- voice quality: the voice's ``steady``/``trembling``/``breathy`` variant file;
- pauses: SSML ``<break>`` at one or two word boundaries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from aligncap_lib.attributes import ACOUSTIC_SLOTS, SLOT_BINS
from aligncap_lib.voices import Voice, pinyin, synthesize

#: emotion -> slot -> {bin: weight}; bins left out have weight 0. Our design, after the emotional-speech
#: literature's broad strokes (sad: low, flat, slow, soft; angry: loud, fast; happy/surprised: high, varied).
RECIPES: Mapping[str, Mapping[str, Mapping[str, float]]] = {
    "neutral": {
        "pitch_level": {"normal": 0.8, "low": 0.1, "high": 0.1},
        "pitch_variation": {"normal": 0.7, "flat": 0.3},
        "rate": {"normal": 0.8, "slow": 0.1, "fast": 0.1},
        "loudness": {"normal": 0.8, "soft": 0.1, "loud": 0.1},
        "voice_quality": {"steady": 0.9, "breathy": 0.1},
    },
    "happy": {
        "pitch_level": {"high": 0.7, "normal": 0.3},
        "pitch_variation": {"varied": 0.7, "normal": 0.3},
        "rate": {"fast": 0.6, "normal": 0.4},
        "loudness": {"loud": 0.5, "normal": 0.5},
        "voice_quality": {"steady": 0.9, "breathy": 0.1},
    },
    "sad": {
        "pitch_level": {"low": 0.7, "normal": 0.3},
        "pitch_variation": {"flat": 0.7, "normal": 0.3},
        "rate": {"slow": 0.7, "normal": 0.3},
        "loudness": {"soft": 0.7, "normal": 0.3},
        "voice_quality": {"steady": 0.5, "trembling": 0.3, "breathy": 0.2},
    },
    "angry": {
        "pitch_level": {"normal": 0.5, "high": 0.3, "low": 0.2},
        "pitch_variation": {"varied": 0.5, "normal": 0.5},
        "rate": {"fast": 0.6, "normal": 0.4},
        "loudness": {"loud": 0.8, "normal": 0.2},
        "voice_quality": {"steady": 0.9, "trembling": 0.1},
    },
    "fearful": {
        "pitch_level": {"high": 0.6, "normal": 0.4},
        "pitch_variation": {"flat": 0.4, "normal": 0.4, "varied": 0.2},
        "rate": {"fast": 0.5, "normal": 0.3, "slow": 0.2},
        "loudness": {"soft": 0.5, "normal": 0.5},
        "voice_quality": {"trembling": 0.6, "breathy": 0.3, "steady": 0.1},
    },
    "surprised": {
        "pitch_level": {"high": 0.8, "normal": 0.2},
        "pitch_variation": {"varied": 0.8, "normal": 0.2},
        "rate": {"normal": 0.6, "fast": 0.2, "slow": 0.2},
        "loudness": {"loud": 0.4, "normal": 0.6},
        "voice_quality": {"steady": 0.6, "breathy": 0.4},
    },
}
#: emotion -> (chance of pauses, pause length range in ms).
PAUSES: Mapping[str, tuple[float, tuple[int, int]]] = {
    "neutral": (0.2, (200, 350)),
    "happy": (0.1, (180, 300)),
    "sad": (0.6, (300, 550)),
    "angry": (0.15, (180, 300)),
    "fearful": (0.5, (200, 400)),
    "surprised": (0.2, (200, 350)),
}
#: Target value per bin (units of attributes.BIN_RULES) and the jitter half-width at jitter scale 1.
TARGETS: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "pitch_level": {"low": (-5.0, 1.2), "normal": (0.0, 1.0), "high": (5.0, 1.2)},
    "pitch_variation": {"flat": (1.0, 0.3), "normal": (3.4, 0.4), "varied": (6.6, 0.7)},
    "rate": {"slow": (2.8, 0.3), "normal": (4.5, 0.35), "fast": (6.5, 0.4)},
    "loudness": {"soft": (-36.0, 1.5), "normal": (-27.0, 1.3), "loud": (-19.5, 1.0)},
}
ST_PER_P, RANGE_SHIFT_ST, RANGE_COMPRESS = 0.183, 0.0175, 0.0083
NEUTRAL_SPEED = 175
TREMBLE_RANGE_ST = 2.0


def draw_intent(emotion: str, independent: bool, rng: np.random.Generator) -> dict[str, str]:
    """Intended bin per acoustic slot: from the emotion's recipe, or uniform when ``independent``."""
    out = {}
    for slot in ACOUSTIC_SLOTS:
        bins = SLOT_BINS[slot]
        if independent:
            out[slot] = bins[int(rng.integers(len(bins)))]
        else:
            weights = RECIPES[emotion][slot]
            p = np.array([weights.get(b, 0.0) for b in bins])
            out[slot] = bins[int(rng.choice(len(bins), p=p / p.sum()))]
    return out


def spoken_text(text: str, lang: str) -> str:
    """What espeak-ng is given: English as is, Mandarin as tone-numbered pinyin."""
    return pinyin(text) if lang == "zh" else text


def with_pauses(spoken: str, emotion: str, rng: np.random.Generator) -> tuple[str, int]:
    """Insert 0-2 SSML breaks at word boundaries (not the first or last); returns (text, total pause ms)."""
    chance, (lo, hi) = PAUSES[emotion]
    words = spoken.split(" ")
    if len(words) < 4 or rng.random() >= chance:
        return spoken, 0
    n = 1 + int(rng.random() < 0.3)
    spots = sorted(
        rng.choice(np.arange(1, len(words) - 1), size=min(n, len(words) - 2), replace=False).tolist()
    )
    total = 0
    for k in reversed(spots):
        ms = int(rng.integers(lo, hi + 1))
        total += ms
        words.insert(k, f'<break time="{ms}ms"/>')
    return " ".join(words), total


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def controls(
    intent: Mapping[str, str],
    voice: Voice,
    neutral: Mapping[str, float],
    jitter: float,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Targets (measurement units) and espeak-ng settings for one attempt.

    ``neutral``: the neutral rendering's ``f0_re_norm_st`` (already corrected to a 0-offset voice),
    ``f0_range_st`` and ``syllables_per_s``.
    """
    t = {
        slot: centre + jitter * rng.uniform(-half, half)
        for slot, (centre, half) in ((s, TARGETS[s][intent[s]]) for s in TARGETS)
    }
    # Flutter widens the smoothed f0 range by about 2 st (measured), so a trembling voice asks for less.
    range_goal = max(
        t["pitch_variation"] - (TREMBLE_RANGE_ST if intent["voice_quality"] == "trembling" else 0), 0.4
    )
    p = 50.0
    pct = 100.0
    for _ in range(3):  # p and range% interact; three fixed-point steps are plenty
        comp = max(0.3, 1.0 - RANGE_COMPRESS * (p - 50.0))
        pct = float(np.clip(100.0 * range_goal / max(neutral["f0_range_st"] * comp, 0.3), 15, 260))
        shift = (
            t["pitch_level"]
            - voice.base_offset_st
            - neutral["f0_re_norm_st"]
            - RANGE_SHIFT_ST * (pct - 100.0)
        )
        p = float(np.clip(50.0 + shift / ST_PER_P, 0, 99))
    speed = float(np.clip(NEUTRAL_SPEED * t["rate"] / max(neutral["syllables_per_s"], 0.5), 80, 450))
    return {"target_" + k: v for k, v in t.items()} | {
        "pitch": round(p),
        "range_pct": round(pct),
        "speed": round(speed),
    }


def render(
    spoken: str, lang: str, voice: Voice, quality: str, ctl: Mapping[str, float], data_path: Path
) -> tuple[np.ndarray, int]:
    """Render with espeak-ng under ``ctl`` (see :func:`controls`) -> float32 ``[T]`` at 22050 Hz (no gain)."""
    body = re.sub(r"(?<!<)[^<>]+(?![^<]*>)", lambda m: _escape(m.group(0)), spoken)
    ssml = f'<speak><prosody range="{int(ctl["range_pct"])}%">{body}</prosody></speak>'
    return synthesize(
        ssml,
        voice.espeak_name(lang, quality),
        data_path,
        pitch=int(ctl["pitch"]),
        speed=int(ctl["speed"]),
        ssml=True,
    )


def apply_gain_to(wave: np.ndarray, current_dbfs: float, target_dbfs: float) -> np.ndarray:
    """Scale ``wave`` so its active-frame RMS moves from ``current_dbfs`` to ``target_dbfs``, then quantize to
    16-bit steps (the stored file's exact samples, so measurements describe what is on disk)."""
    gain = 10.0 ** ((target_dbfs - current_dbfs) / 20.0) if math.isfinite(current_dbfs) else 1.0
    return quantize(wave * gain)


def quantize(wave: np.ndarray) -> np.ndarray:
    """Round to 16-bit PCM steps (clipped at full scale), returned as float32 ``[T]``."""
    return (np.round(np.clip(wave, -1.0, 1.0) * 32767.0) / 32767.0).astype(np.float32)
