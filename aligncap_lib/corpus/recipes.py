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
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from aligncap_lib.core.attributes import ACOUSTIC_SLOTS, SLOT_BINS
from aligncap_lib.corpus.voices import Voice, pinyin, synthesize

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
#: Emotion *signatures*: cues beyond the five slots, applied to every clip of the emotion (independent ones
#: too), so that the emotion stays audible when the slots are drawn independently of it. A recipes-only corpus
#: with 40 % independent clips let a Praat-feature probe recognise the emotion at only 0.36 (English, 308
#: clips); the signatures are measured by ``prosody.measure``'s level-contour and pause features. Per emotion:
#: ``final_rate``: SSML rate (percent) of the last word (< 100: final lengthening); ``envelope_db``: level
#: change from the first to the last active frame (crescendo > 0, fading < 0); ``attack_db``: extra level of
#: the first 30 % of the utterance (a forceful onset); ``final_db``: extra level of the last 30 % (an
#: exclaimed ending); ``pauses``: (min, max) number of breaks and their length range in ms. Each (lo, hi) pair
#: is drawn uniformly per clip. The three level numbers are *targets* of the measured contour (the clip
#: removes the rendering's own contour first, see ``corpus_clip``); the neutral spans cover the declination
#: of ordinary speech. Our design, after the broad strokes of the literature (sad: lengthened, fading, long
#: pauses; surprised: an exclaimed ending; fearful: hesitation pauses; angry: a forceful onset; happy: rising
#: energy). A final f0 rise/fall through SSML ``<prosody pitch>`` on the last word was tried and dropped:
#: espeak-ng moved the measured final f0 by under 1 st while widening the f0 range, so flat clips failed
#: verification (pitch-variation agreement before verification fell from 0.81 to 0.62).
SIGNATURES: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "neutral": {
        "final_rate": (95, 105),
        "envelope_db": (-5, 1),
        "attack_db": (-1.5, 1.5),
        "final_db": (-1.5, 1.5),
        "pauses": (0, 0),
        "pause_ms": (200, 300),
    },
    "happy": {
        "final_rate": (100, 110),
        "envelope_db": (3, 9),
        "attack_db": (-1.5, 1.5),
        "final_db": (-1.5, 1.5),
        "pauses": (0, 0),
        "pause_ms": (200, 300),
    },
    "sad": {
        "final_rate": (55, 65),
        "envelope_db": (-11, -6),
        "attack_db": (-1.5, 1.5),
        "final_db": (-1.5, 1.5),
        "pauses": (1, 2),
        "pause_ms": (450, 650),
    },
    "angry": {
        "final_rate": (115, 130),
        "envelope_db": (-5, 1),
        "attack_db": (3, 7),
        "final_db": (-1.5, 1.5),
        "pauses": (0, 0),
        "pause_ms": (200, 300),
    },
    "fearful": {
        "final_rate": (100, 110),
        "envelope_db": (-5, 1),
        "attack_db": (-1.5, 1.5),
        "final_db": (-1.5, 1.5),
        "pauses": (2, 3),
        "pause_ms": (200, 300),
    },
    "surprised": {
        "final_rate": (85, 95),
        "envelope_db": (-5, 1),
        "attack_db": (-1.5, 1.5),
        "final_db": (3, 7),
        "pauses": (0, 0),
        "pause_ms": (200, 300),
    },
}
#: Share of the active span that the onset (``attack_db``) and the end (``final_db``) level steps cover.
STEP_SHARE = 0.3
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


def _uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(rng.uniform(span[0], span[1])) if span[1] > span[0] else float(span[0])


def with_signature(spoken: str, emotion: str, rng: np.random.Generator) -> tuple[str, dict[str, float]]:
    """The emotion's signature on one sentence: SSML breaks at word boundaries (not the first or last word),
    the last word in a ``<prosody rate>`` element; returns (SSML body, drawn settings incl.
    ``pause_ms`` total, ``envelope_db``, ``attack_db``, ``final_db`` and ``final_share``, the last word's share of words)."""
    sig = SIGNATURES[emotion]
    words = spoken.split(" ")
    drawn = {
        "final_rate": round(_uniform(rng, sig["final_rate"])),
        "envelope_db": _uniform(rng, sig["envelope_db"]),
        "attack_db": _uniform(rng, sig["attack_db"]),
        "final_db": _uniform(rng, sig["final_db"]),
    }
    lo, hi = (int(v) for v in sig["pauses"])
    n = min(int(rng.integers(lo, hi + 1)), max(len(words) - 2, 0))
    spots = sorted(rng.choice(np.arange(1, len(words) - 1), size=n, replace=False).tolist()) if n else []
    total = 0
    body = [ssml_escape(w) for w in words]
    if len(body) >= 2:
        body[-1] = f'<prosody rate="{drawn["final_rate"]}%">{body[-1]}</prosody>'
    for k in reversed(spots):
        ms = int(rng.integers(int(sig["pause_ms"][0]), int(sig["pause_ms"][1]) + 1))
        total += ms
        body.insert(k, f'<break time="{ms}ms"/>')
    drawn["pause_ms"] = float(total)
    drawn["final_share"] = 1.0 / len(words) if len(words) >= 2 else 0.0
    return " ".join(body), drawn


def apply_envelope(
    wave: np.ndarray, sample_rate: int, envelope_db: float, attack_db: float, final_db: float = 0.0
) -> np.ndarray:
    """Multiply ``wave`` ``[T]`` by a level contour: a linear-in-dB ramp of ``envelope_db`` from the first to the
    last active sample, plus ``attack_db`` over the first and ``final_db`` over the last :data:`STEP_SHARE` of
    that span (30 ms cross-fades)."""
    if not (envelope_db or attack_db or final_db):
        return wave
    env = np.abs(wave)
    idx = np.flatnonzero(env > env.max() * 10 ** (-35 / 20))
    if idx.size < 2:
        return wave
    a, b = int(idx[0]), int(idx[-1])
    u = np.clip((np.arange(wave.size) - a) / max(b - a, 1), 0.0, 1.0)
    fade = 0.03 * sample_rate / max(b - a, 1)
    db = (
        envelope_db * u
        + attack_db * np.clip((STEP_SHARE - u) / fade + 0.5, 0.0, 1.0)
        + final_db * np.clip((u - 1 + STEP_SHARE) / fade + 0.5, 0.0, 1.0)
    )
    return (wave * 10 ** (db / 20)).astype(np.float32)


def ssml_escape(text: str) -> str:
    """Escape plain text for an SSML body."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def controls(
    intent: Mapping[str, str],
    voice: Voice,
    neutral: Mapping[str, float],
    jitter: float,
    rng: np.random.Generator,
    range_fix: float = 1.0,
) -> dict[str, float]:
    """Targets (measurement units) and espeak-ng settings for one attempt.

    ``neutral``: the neutral rendering's ``f0_re_norm_st`` (already corrected to a 0-offset voice),
    ``f0_range_st`` and ``syllables_per_s``. ``range_fix`` scales the range goal (verify-then-label's
    correction after an attempt whose range missed).
    """
    t = {
        slot: centre + jitter * rng.uniform(-half, half)
        for slot, (centre, half) in ((s, TARGETS[s][intent[s]]) for s in TARGETS)
    }
    # Flutter widens the smoothed f0 range by about 2 st (measured), so a trembling voice asks for less.
    range_goal = range_fix * max(
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
    """Render the SSML body ``spoken`` (escaped, see :func:`ssml_escape`, :func:`with_signature`) with espeak-ng
    under ``ctl`` (see :func:`controls`) -> float32 ``[T]`` at 22050 Hz (no gain)."""
    ssml = f'<speak><prosody range="{int(ctl["range_pct"])}%">{spoken}</prosody></speak>'
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
