"""Which way of fitting the offline tokenizer? A once-off comparison on a cached subset (notebook 02).

Not part of every reproduction: :func:`compare_methods` embeds a seeded subset of the corpus (``train`` and
``test_zeroshot``) once, caches the encoder frames and the result under ``runs/<preset>/tokens_cache/``, and
fits one codec per variant on the same frames. Each variant is scored by the quantities that matter
downstream: the probe accuracies on unseen voices (what the LLM can read), the relative quantization error of
the encoder frames (how much of the signal the codes keep), codes used, and fit time.

A last row, ``encoder_frames``, probes the continuous encoder frames themselves (per-dimension mean, standard
deviation and mean absolute frame-to-frame change over the clip), before any quantizer: it separates what the
encoder never carried from what the quantizer lost. With the random-weight encoder of the offline path it is the
encoder: at the cpu preset the frames' probe reads pitch level no better than the codes' (README).
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Mapping
from typing import Any

import torch

from aligncap_lib.core.presets import combined_hash
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.tokens import codebook_fitting, speech_codec, speech_units
from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig, load_clip, read_rows, units_to_text
from aligncap_lib.tokens.token_probe import probe_all

#: Variant name -> config overrides. ``kmeans`` is the default; ``ema`` is encodec's own train-mode fitting;
#: ``kmeans_1024`` keeps EnCodec's codebook size (1,024 codes) to show what the smaller codebooks buy.
VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "kmeans": {},
    "ema": {"fit_method": "ema"},
    "kmeans_1024": {"bins": 1024},
}
PROBED_SLOTS = ("pitch_level", "rate", "loudness", "emotion")
#: Name of the reference row probed on the continuous encoder frames (no quantizer).
FRAMES_ROW = "encoder_frames"


def pooled_frames(frames: torch.Tensor) -> torch.Tensor:
    """Encoder frames ``[T, D]`` of one clip -> ``float64 [3 D]``: per-dimension mean, standard deviation and mean
    absolute change between consecutive frames (zeros for a one-frame clip), the continuous counterpart of
    :func:`aligncap_lib.tokens.speech_units.pooled_statistics`."""
    f = frames.double()
    if len(f) < 2:
        return torch.cat([f.mean(0), torch.zeros_like(f[0]), torch.zeros_like(f[0])])
    return torch.cat([f.mean(0), f.std(0), (f[1:] - f[:-1]).abs().mean(0)])


def _subset(rows: list[dict[str, Any]], max_clips: int, seed: int) -> list[dict[str, Any]]:
    test = [r for r in rows if r.get("split") == "test_zeroshot"]
    train = [r for r in rows if r.get("split") == "train"]
    rng = random.Random(seed)
    test = rng.sample(test, min(len(test), max_clips // 4))
    return rng.sample(train, min(len(train), max_clips - len(test))) + test


def compare_methods(
    layout: RunLayout,
    config: SpeechTokensConfig,
    *,
    variants: Mapping[str, Mapping[str, Any]] = VARIANTS,
    max_clips: int = 600,
) -> list[dict[str, Any]]:
    """One row per variant: ``{"variant", "fit_s", "quant_error", "codes_used", <slot>: accuracy, ...}``.

    Cached by the config, the variants, ``max_clips`` and the manifest; a second call reads the JSON.
    """
    manifest = layout.corpus / "manifest.jsonl"
    key = combined_hash(
        config.result_hash(), {k: dict(v) for k, v in variants.items()}, {"n": max_clips, "rows": FRAMES_ROW},
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
    table = []
    # encoder width -> clip id -> frames (same seed and width: the same random encoder)
    frames_cache: dict[int, dict[str, torch.Tensor]] = {}

    def embed_all(model: Any) -> dict[str, torch.Tensor]:
        ids = sorted(waves)
        return dict(zip(ids, speech_codec.embed(model, [waves[k] for k in ids]), strict=True))

    for name, overrides in variants.items():
        cfg = dataclasses.replace(config, **overrides)
        model = speech_codec.build_codec(n_q=cfg.n_q, bins=cfg.bins, encoder_filters=cfg.encoder_filters,
                                         seed=cfg.seed)  # fmt: skip
        if cfg.encoder_filters not in frames_cache:  # same seed and width: same random encoder, embed once
            frames_cache[cfg.encoder_filters] = embed_all(model)
        emb = frames_cache[cfg.encoder_filters]
        train_ids = [r["id"] for r in kept if r["split"] == "train"]
        frames = codebook_fitting.subsample_frames([emb[k] for k in train_ids], cfg.fit_max_frames, cfg.seed)
        start = time.perf_counter()
        codebook_fitting.fit_quantizer(model.quantizer, frames, method=cfg.fit_method, n_q=cfg.n_q,
                                       iters=cfg.kmeans_iters, seed=cfg.seed)  # fmt: skip
        fit_s = time.perf_counter() - start
        test_frames = torch.cat([emb[r["id"]] for r in kept if r["split"] == "test_zeroshot"])
        codes = {k: speech_codec.quantize(model, emb[k], cfg.n_q) for k in emb}
        texts = [units_to_text(codes[r["id"]], cfg) for r in kept]
        feats = speech_units.pooled_statistics(texts, cfg.unit_codebooks, cfg.bins)
        probe = probe_all(kept, feats, c=cfg.probe_c, slots=PROBED_SLOTS)
        used = len(
            torch.unique(torch.cat([codes[r["id"]][0] for r in kept if r["split"] == "test_zeroshot"]))
        )
        row = {"variant": name, "bins": cfg.bins, "fit_s": round(fit_s, 1), "codes_used_cb0_test": used,
               "quant_error": round(codebook_fitting.quantization_error(model.quantizer, test_frames, cfg.n_q), 3)}  # fmt: skip
        row.update({s: probe[s]["accuracy"] for s in PROBED_SLOTS})
        table.append(row)
    own = frames_cache.get(config.encoder_filters)  # the preset's own encoder, embedded by its variants
    if own is None:
        own = embed_all(speech_codec.build_codec(n_q=config.n_q, bins=config.bins,
                                                 encoder_filters=config.encoder_filters, seed=config.seed))  # fmt: skip
    pooled = torch.stack([pooled_frames(own[r["id"]]) for r in kept]).numpy()
    probe = probe_all(kept, pooled, c=config.probe_c, slots=PROBED_SLOTS)
    row = {"variant": FRAMES_ROW, "bins": None, "fit_s": 0.0, "codes_used_cb0_test": None, "quant_error": 0.0}
    row.update({s: probe[s]["accuracy"] for s in PROBED_SLOTS})
    table.append(row)
    cache.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return table
