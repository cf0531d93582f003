"""The trained codec against the random-encoder baseline, on a cached subset (notebook 02).

Not part of every reproduction: :func:`compare_codecs` loads a seeded subset of the corpus (``train`` and
``test_zeroshot``) once and scores, on the same clips, the quantities that matter downstream:

- the probes on unseen voices (:mod:`token_probe`: the better of linear and nonlinear) for the tokens the LLM
  reads, and for the continuous encoder frames before any quantizer (``*_frames`` rows: per-dimension mean,
  spread and change over the clip): it separates what an encoder never carried from what its quantizer lost;
- reconstruction on ``test_zeroshot`` clips (:func:`reconstruction_quality`): log-mel distance (dB, 0-4 kHz),
  the resynthesis's f0 error against the original in cents and their voicing agreement (Praat pitch of both);
- codes used, time to make the codec.

Rows: ``random`` (EnCodec's architecture with seeded random weights, codebooks fitted by k-means on the subset's
train frames: the default before the trained codec), ``random_frames``, then the tokens stage's own artifact (not
retrained) named by its codec (``trained``; ``pretrained`` at ``paper``) and its ``*_frames`` row. The result is cached under ``runs/<preset>/tokens_cache/``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aligncap_lib.core.presets import combined_hash
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.tokens import spectral_codec, speech_codec, speech_units
from aligncap_lib.tokens.speech_tokens import (
    SpeechTokensConfig,
    fit_random_codec,
    load_clip,
    read_rows,
    units_to_text,
)
from aligncap_lib.tokens.token_probe import probe_all

PROBED_SLOTS = ("pitch_level", "f0_tertile", "rate", "loudness", "emotion")
#: Mel bands of the reconstruction distance (0-4 kHz; our choice, as in 8 kHz speech front ends).
MEL_BANDS = 40


def pooled_frames(frames: torch.Tensor) -> torch.Tensor:
    """Encoder frames ``[T, D]`` of one clip -> ``float64 [3 D]``: per-dimension mean, standard deviation and mean
    absolute change between consecutive frames (zeros for a one-frame clip), the continuous counterpart of
    :func:`aligncap_lib.tokens.speech_units.pooled_statistics`."""
    f = frames.double()
    if len(f) < 2:
        return torch.cat([f.mean(0), torch.zeros_like(f[0]), torch.zeros_like(f[0])])
    return torch.cat([f.mean(0), f.std(0), (f[1:] - f[:-1]).abs().mean(0)])


def mel_filterbank(n_mels: int = MEL_BANDS, n_bins: int = spectral_codec.N_BINS) -> np.ndarray:
    """``float64 [n_mels, n_bins]`` triangular filters (HTK mel scale) over the codec's 0-4 kHz bins."""

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    freqs = np.arange(n_bins) * speech_codec.SAMPLE_RATE / spectral_codec.N_FFT
    edges = 700.0 * (10 ** (np.linspace(0.0, mel(np.array(freqs[-1])), n_mels + 2) / 2595.0) - 1.0)
    bank = np.zeros((n_mels, n_bins))
    for m in range(n_mels):
        lo, mid, hi = edges[m : m + 3]
        bank[m] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return bank


def _f0(wave: np.ndarray) -> np.ndarray:
    import parselmouth

    pitch = parselmouth.Sound(np.asarray(wave, dtype=np.float64), speech_codec.SAMPLE_RATE).to_pitch(
        time_step=0.01, pitch_floor=75.0, pitch_ceiling=500.0
    )
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def reconstruction_quality(original: np.ndarray, resynthesis: np.ndarray) -> dict[str, float]:
    """``{"mel_distance_db", "f0_error_cents", "voicing_agreement"}`` of one resynthesis against its original
    (24 kHz): mean absolute log-mel difference in dB over 0-4 kHz; median absolute f0 difference in cents over
    10 ms frames voiced in both (NaN if none); share of frames whose voicing (Praat) agrees."""
    n = min(len(original), len(resynthesis))
    a, b = np.asarray(original[:n], dtype=np.float32), np.asarray(resynthesis[:n], dtype=np.float32)
    bank = mel_filterbank()
    mels = [
        np.log10(bank @ np.exp(2 * spectral_codec.log_spectrogram(x).double().numpy()) + 1e-8) for x in (a, b)
    ]
    f0a, f0b = _f0(a), _f0(b)
    m = min(len(f0a), len(f0b))
    f0a, f0b = f0a[:m], f0b[:m]
    both = (f0a > 0) & (f0b > 0)
    cents = np.abs(1200 * np.log2(f0b[both] / f0a[both])) if both.any() else np.array([np.nan])
    return {
        "mel_distance_db": float(10 * np.mean(np.abs(mels[0] - mels[1]))),
        "f0_error_cents": float(np.median(cents)),
        "voicing_agreement": float(np.mean((f0a > 0) == (f0b > 0))) if m else float("nan"),
    }


def _subset(rows: list[dict[str, Any]], max_clips: int, seed: int) -> list[dict[str, Any]]:
    test = [r for r in rows if r.get("split") == "test_zeroshot"]
    train = [r for r in rows if r.get("split") == "train"]
    rng = random.Random(seed)
    test = rng.sample(test, min(len(test), max_clips // 4))
    return rng.sample(train, min(len(train), max_clips - len(test))) + test


def compare_codecs(
    layout: RunLayout,
    config: SpeechTokensConfig,
    tokens_dir: Path,
    *,
    max_clips: int = 600,
    listen_clips: int = 30,
) -> list[dict[str, Any]]:
    """One row per codec (see the module docstring): ``{"codec", "make_s", "codes_used_cb0_test",
    "mel_distance_db", "f0_error_cents", "voicing_agreement", <slot>: accuracy, ...}``; the reconstruction numbers
    are medians over ``listen_clips`` test clips of the subset. Cached by the config, the trained artifact's sha256,
    the sizes and the manifest; a second call reads the JSON."""
    manifest = layout.corpus / "manifest.jsonl"
    artifact = Path(tokens_dir) / "codec.safetensors"
    key = combined_hash(
        config.result_hash(), speech_codec.sha256_file(artifact), {"n": max_clips, "listen": listen_clips, "v": 4},
        speech_codec.sha256_file(manifest),
    )  # fmt: skip
    cache = layout.work / "tokens_cache"
    result_path = cache / f"comparison-{key}.json"
    if result_path.exists():
        return json.loads(result_path.read_text(encoding="utf-8"))
    rows = _subset(read_rows(manifest)[0], max_clips, config.seed)
    waves, kept = {}, []
    for r in rows:
        try:
            waves[r["id"]] = load_clip(manifest.parent / r["audio"], config)
            kept.append(r)
        except ValueError:
            continue
    test_ids = [r["id"] for r in kept if r["split"] == "test_zeroshot"]
    listen = test_ids[:listen_clips]
    trained, _ = speech_codec.load_artifact(artifact)
    start = time.perf_counter()
    random_cfg = dataclasses.replace(config, codec="random")
    train_waves = {r["id"]: waves[r["id"]] for r in kept if r["split"] == "train"}
    baseline, _, train_frames = fit_random_codec(random_cfg, train_waves)
    random_s = time.perf_counter() - start
    table = []
    for name, model, cfg, make_s, known in (
        ("random", baseline, random_cfg, random_s, train_frames),  # its train clips were embedded to fit it
        (config.codec, trained, config, None, {}),
    ):
        rest = [k for k in sorted(waves) if k not in known]
        emb = known | dict(zip(rest, speech_codec.embed(model, [waves[k] for k in rest]), strict=True))
        codes = {k: speech_codec.quantize(model, emb[k], cfg.n_q) for k in sorted(waves)}
        texts = [units_to_text(codes[r["id"]], cfg) for r in kept]
        probe = probe_all(kept, speech_units.pooled_statistics(texts, cfg.unit_codebooks, cfg.bins),
                          c=cfg.probe_c, slots=PROBED_SLOTS)  # fmt: skip
        quality = [reconstruction_quality(waves[k], speech_codec.decode(model, codes[k])) for k in listen]
        row: dict[str, Any] = {
            "codec": name,
            "make_s": None if make_s is None else round(make_s, 1),
            "codes_used_cb0_test": len(torch.unique(torch.cat([codes[k][0] for k in test_ids]))),
        }
        for q in ("mel_distance_db", "f0_error_cents", "voicing_agreement"):
            # no f0 error where nothing is voiced in both
            values = [x[q] for x in quality if np.isfinite(x[q])]
            # the median over clips: a clip whose resynthesis Praat reads an octave off (1,200 cents) would
            # otherwise decide the mean of 30
            row[q] = float(np.median(values)) if values else None
        row.update({s: probe[s]["accuracy"] for s in PROBED_SLOTS})
        table.append(row)
        pooled = torch.stack([pooled_frames(emb[r["id"]]) for r in kept]).numpy()
        frames_probe = probe_all(kept, pooled, c=cfg.probe_c, slots=PROBED_SLOTS)
        table.append({"codec": f"{name}_frames"} | {s: frames_probe[s]["accuracy"] for s in PROBED_SLOTS})
    cache.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return table
