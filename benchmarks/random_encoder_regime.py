"""Diagnostic: is the random EnCodec encoder's blindness to pitch its operating point? (issue 19's first check)

    python benchmarks/random_encoder_regime.py [--preset cpu] [--work runs/cpu] [--clips 600] [--threads 2]

Reads a built corpus (``runs/<preset>/corpus``). For each variant of the random-weight encoder (the ``random``
codec's architecture and seed) it embeds a seeded subset of ``train`` and ``test_zeroshot`` clips, prints the
frames' regime (the share of the frames' energy in their common offset, the median and top eigenvalues of their
covariance) and the probe on unseen voices of k-means units read as the LLM reads them:

- ``default``: PyTorch's default initialisation (the ``random`` codec);
- ``operating_point``: zero biases, variance-preserving weights (each weight-normed conv's output norm set to
  sqrt(2), He's gain for the ELU-like activations; the last conv 1) and a fixed input gain of 10 (the same for every
  clip, so loudness survives): the signal, not the biases, now dominates the frames.

Nothing here is trained; the trained spectral codec (the default) is compared in notebook 02. A few minutes on 2
cores at the cpu corpus; run it alone (other processes on the cores slow torch 3-8x).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import time

import torch

from aligncap_lib.core.reproducibility import configure_threads
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.tokens import speech_codec, speech_units
from aligncap_lib.tokens.codec_comparison import PROBED_SLOTS as SLOTS
from aligncap_lib.tokens.speech_tokens import (
    SpeechTokensConfig,
    fit_random_codebooks,
    load_clip,
    read_rows,
    units_to_text,
)
from aligncap_lib.tokens.token_probe import probe_all

INPUT_GAIN = 10.0


def operating_point(model: torch.nn.Module) -> None:
    """Zero every conv bias; set each weight-normed conv's per-channel norm to sqrt(2) (the last conv: 1)."""
    convs = [m for m in model.encoder.modules() if hasattr(m, "weight_g")]
    with torch.no_grad():
        for i, conv in enumerate(convs):
            conv.weight_g.fill_(1.0 if i == len(convs) - 1 else math.sqrt(2.0))
            if conv.bias is not None:
                conv.bias.zero_()


def regime(frames: list[torch.Tensor]) -> dict[str, float]:
    x = torch.cat(frames).double()
    offset = x.mean(0)
    centred = x - offset
    eig = torch.linalg.eigvalsh(centred.T @ centred / len(x))
    total = float((x**2).sum(1).mean())
    return {"offset_share": float(offset @ offset) / total, "eig_median": float(eig.median()),
            "eig_top": float(eig.max())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--work", default=None, help="run folder (default: runs/<preset>)")
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    configure_threads(args.threads)
    layout = RunLayout.for_preset(args.preset, args.work)
    config = dataclasses.replace(SpeechTokensConfig.for_preset(layout.preset), codec="random")
    manifest = layout.corpus / "manifest.jsonl"
    rows = read_rows(manifest)[0]
    rng = random.Random(config.seed)
    test = [r for r in rows if r.get("split") == "test_zeroshot"]
    test = rng.sample(test, min(len(test), args.clips // 4))
    train = [r for r in rows if r.get("split") == "train"]
    rows = rng.sample(train, min(len(train), args.clips - len(test))) + test
    waves = [load_clip(manifest.parent / r["audio"], config) for r in rows]
    print(f"{len(rows)} clips ({len(test)} unseen-voice); random EnCodec, {config.encoder_filters} filters, "
          f"{config.n_q} x {config.bins} codes, the LLM's {config.unit_codebooks} codebooks")  # fmt: skip
    for name in ("default", "operating_point"):
        model = speech_codec.build_codec(n_q=config.n_q, bins=config.bins, encoder_filters=config.encoder_filters,
                                         seed=config.seed)  # fmt: skip
        gain = 1.0
        if name == "operating_point":
            operating_point(model)
            gain = INPUT_GAIN
        start = time.perf_counter()
        frames = speech_codec.embed(model, [gain * w for w in waves])
        train_frames = [f for f, r in zip(frames, rows, strict=True) if r["split"] == "train"]
        fit_random_codebooks(model, config, train_frames)
        texts = [units_to_text(speech_codec.quantize(model, f, config.n_q), config) for f in frames]
        feats = speech_units.pooled_statistics(texts, config.unit_codebooks, config.bins)
        probe = probe_all(rows, feats, c=config.probe_c, slots=SLOTS)
        stats = regime(frames)
        print(f"{name:16s} offset share {stats['offset_share']:.3f}  covariance eigenvalues median "
              f"{stats['eig_median']:.2e} top {stats['eig_top']:.2e}  ({time.perf_counter() - start:.0f} s)")  # fmt: skip
        print(
            "  " + "  ".join(f"{s} {probe[s]['accuracy']:.3f} (lin {probe[s]['linear']:.3f})" for s in SLOTS)
        )


if __name__ == "__main__":
    main()
