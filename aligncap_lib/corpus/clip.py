"""One clip of the synthetic corpus: render, measure, verify against the intent, label, degrade, caption.

``make_clip`` runs in a worker process and depends only on its :class:`ClipPlan` (which carries the clip's
own seed), the neutral-rendering calibration and the voice data: so the bytes of every clip are the same
whatever the number of workers or their order.

Verify-then-label: each attempt draws fresh jitter (and pauses) for the *same* intended bins; the first
attempt whose five measured bins all equal the intended ones is kept. A clip that never agrees within
``max_attempts`` is dropped and reported with the slots that disagreed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from aligncap_lib.core.attributes import ACOUSTIC_SLOTS, bin_measurements
from aligncap_lib.core.audio_io import write_wav
from aligncap_lib.corpus.degradations import UNKNOWABLE, degrade
from aligncap_lib.corpus.opensmile_check import opensmile_measure
from aligncap_lib.corpus.prosody import _frame_db, level_contour, measure
from aligncap_lib.corpus.recipes import (
    apply_envelope,
    apply_gain_to,
    controls,
    quantize,
    render,
    spoken_text,
    ssml_escape,
    with_signature,
)
from aligncap_lib.corpus.reference_captions import clip_caption_sets
from aligncap_lib.corpus.voices import Voice, all_voices, count_syllables

VOICES: dict[str, Voice] = {v.id: v for v in all_voices()}
NEUTRAL_VOICE = {"female": "f_a_1", "male": "m_a_1"}


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    """Everything decided before rendering (JSON-able); ``seed`` is the clip's own seed."""

    id: str
    lang: str
    split: str
    voice: str
    text: str
    text_tone: str
    emotion: str
    independent: bool
    intent: dict[str, str]
    degradation: str | None
    seed: int
    opensmile: bool


def active_dbfs(wave: np.ndarray) -> float:
    """RMS of active frames in dBFS (the quantity of ``prosody.measure``'s ``rms_dbfs``)."""
    db = _frame_db(np.asarray(wave, dtype=np.float64), 22050)
    active = (db > db.max() - 35.0) & (db > -60.0)
    return float(10 * np.log10(np.mean(10 ** (db[active] / 10)))) if active.any() else float("nan")


def neutral_measure(lang: str, text: str, gender: str, data_path: Path) -> dict[str, float]:
    """The neutral rendering's calibration (default -p/-s/range, steady voice): ``f0_re_norm_st`` of a
    0-offset voice, ``f0_range_st`` and ``syllables_per_s``."""
    voice = VOICES[NEUTRAL_VOICE[gender]]
    ctl = {"pitch": 50, "speed": 175, "range_pct": 100}
    wave, sr = render(ssml_escape(spoken_text(text, lang)), lang, voice, "steady", ctl, data_path)
    m = measure(wave, sr, syllables=count_syllables(text, lang))
    f0_st = 12 * np.log2(m["f0_median_hz"] / voice.f0_norm_hz(lang)) - voice.base_offset_st
    return {
        "f0_re_norm_st": float(f0_st),
        "f0_range_st": m["f0_range_st"],
        "syllables_per_s": m["syllables_per_s"],
    }


def _round(d: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (round(float(v), 4) if v == v else None) for k, v in d.items()}


def make_clip(
    plan: ClipPlan,
    neutral: Mapping[str, float],
    data_path: Path,
    out_dir: Path,
    *,
    jitter: float,
    max_attempts: int,
    n_captions: int,
) -> dict[str, Any]:
    """Render, verify, label and write one clip. Returns ``{"plan", "attempts", "first_bins", "record"|None,
    "disagree"}``; ``record`` is the manifest line (None when dropped); never raises on a bad rendering (the
    error is reported in ``"error"``)."""
    voice = VOICES[plan.voice]
    norm = voice.f0_norm_hz(plan.lang)
    syllables = count_syllables(plan.text, plan.lang)
    base_text = spoken_text(plan.text, plan.lang)
    result: dict[str, Any] = {
        "plan": dataclasses.asdict(plan),
        "record": None,
        "first_bins": None,
        "error": None,
    }
    disagree: list[str] = list(ACOUSTIC_SLOTS)
    range_fix = 1.0
    try:
        for attempt in range(max_attempts):
            rng = np.random.default_rng([plan.seed, attempt])
            ctl = controls(plan.intent, voice, neutral, jitter, rng, range_fix)
            spoken, sig = with_signature(base_text, plan.emotion, rng)
            # The last word's rate change (final lengthening) moves the articulation rate: compensate -s.
            stretch = 1 + sig["final_share"] * (100 / sig["final_rate"] - 1)
            ctl["speed"] = round(float(np.clip(ctl["speed"] * stretch, 80, 450)))
            raw, sr = render(spoken, plan.lang, voice, plan.intent["voice_quality"], ctl, data_path)
            # The signature *sets* the level contour, as the gain sets the level: the rendering's own contour
            # (it differs by language and sentence: espeak-ng's Mandarin rises about 6 dB) is removed first.
            own = np.nan_to_num(np.array(level_contour(raw, sr)))
            raw = apply_envelope(
                raw, sr, sig["envelope_db"] - own[0], sig["attack_db"] - own[1], sig["final_db"] - own[2]
            )
            wave = apply_gain_to(raw, active_dbfs(raw), ctl["target_loudness"])
            m = measure(wave, sr, syllables=syllables)
            bins = bin_measurements(m, norm)
            if attempt == 0:
                result["first_bins"] = bins
            disagree = [s for s in ACOUSTIC_SLOTS if bins[s] != plan.intent[s]]
            if not disagree:
                break
            if "pitch_variation" in disagree and m["f0_range_st"] == m["f0_range_st"]:
                # Closed loop: the signature's final rise/fall and flutter widen the range by an amount the
                # open-loop calibration cannot know; scale the next attempt's goal by target / measured.
                miss = ctl["target_pitch_variation"] / max(m["f0_range_st"], 0.3)
                range_fix = float(np.clip(range_fix * miss, 0.3, 2.5))
    except (RuntimeError, ValueError, OSError) as exc:
        result["error"] = f"{plan.id}: {exc}"
        return result
    result["attempts"] = attempt + 1
    result["disagree"] = disagree
    if disagree:
        return result
    labels: dict[str, str | None] = {s: plan.intent[s] for s in ACOUSTIC_SLOTS}
    clean = m
    if plan.degradation:
        wave = quantize(degrade(plan.degradation, wave, sr, np.random.default_rng([plan.seed, 99])))
        m = measure(wave, sr, syllables=syllables)
        rebins = bin_measurements(m, norm)
        for s in ACOUSTIC_SLOTS:
            if s in UNKNOWABLE[plan.degradation] or rebins[s] != labels[s]:
                labels[s] = None
    rel = f"audio/{plan.id}.wav"
    write_wav(out_dir / rel, wave, sr)
    caption_sets = clip_caption_sets(labels, plan.emotion, plan.lang, plan.split, plan.seed, n_captions)
    record: dict[str, Any] = {
        "id": plan.id,
        "audio": rel,
        "lang": plan.lang,
        "split": plan.split,
        "voice": plan.voice,
        "voice_family": voice.family,
        "gender": voice.gender,
        "text": plan.text,
        "text_tone": plan.text_tone,
        "emotion": plan.emotion,
        "attributes": {**labels, "emotion": plan.emotion},
        "intended": dict(plan.intent),
        "independent": plan.independent,
        "degradation": plan.degradation,
        "measurements": _round(
            {
                **m,
                "f0_norm_hz": norm,
                "syllables": float(syllables),
                "pause_ms": sig["pause_ms"],
                "final_rate_setting": sig["final_rate"],
                "envelope_db_setting": sig["envelope_db"],
                "attack_db_setting": sig["attack_db"],
                "final_db_setting": sig["final_db"],
                "pitch_setting": ctl["pitch"],
                "range_pct_setting": ctl["range_pct"],
                "speed_setting": ctl["speed"],
            }
        ),
        "sample_rate": sr,
        "duration_s": round(wave.size / sr, 4),
        "attempts": attempt + 1,
        **caption_sets,
    }
    if plan.degradation:
        record["measurements_clean"] = _round(clean)
    if plan.opensmile:
        result["opensmile"] = _round(opensmile_measure(wave, sr, syllables=syllables))
    result["record"] = record
    return result
