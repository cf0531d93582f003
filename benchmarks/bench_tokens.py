"""Speech-token throughput on CPU: seconds of audio tokenized per second (x real time), batched, and peak memory.

    python benchmarks/bench_tokens.py [--preset cpu] [--clips 64] [--clip-seconds 2.5] [--threads 2]

Clips are espeak-ng-like stand-ins (harmonic tones with a syllable-rate envelope and noise) so the benchmark
needs no corpus; tokenization cost does not depend on the content. Timed: encoder + RVQ + unit text, after a
warm-up batch; the codec is fitted first on the same clips (fit time printed separately). Goal:
>= 50x real time on 2 cores. Take numbers on a quiet machine: other processes on the cores slow torch 3-8x.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from aligncap_lib.core.reproducibility import configure_threads
from aligncap_lib.tokens import codebook_fitting, speech_codec
from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig, units_to_text


def stand_in_clip(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A speech-like float32 wave ``[samples]`` at 24 kHz: harmonics of a gliding f0, 4 Hz syllable envelope."""
    sr = speech_codec.SAMPLE_RATE
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t), 0, None)
    wave = 0.1 * envelope * voiced + 0.003 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--clip-seconds", type=float, default=2.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="clips per encode() call (each is encoded alone inside it: speech_codec.embed)",
    )
    args = parser.parse_args()

    configure_threads(args.threads)
    config = SpeechTokensConfig.for_preset(args.preset)
    if config.codec == "pretrained":  # same architecture and cost; weights do not change the speed
        config = SpeechTokensConfig.for_preset("cpu", n_q=config.n_q, bins=1024, encoder_filters=32)
    batch = args.batch_size
    rng = np.random.default_rng(0)
    waves = [stand_in_clip(args.clip_seconds, rng) for _ in range(args.clips)]
    model = speech_codec.build_codec(n_q=config.n_q, bins=config.bins, encoder_filters=config.encoder_filters)

    start = time.perf_counter()
    frames = codebook_fitting.subsample_frames(
        speech_codec.embed(model, waves[:batch]), config.fit_max_frames, 0
    )
    codebook_fitting.fit_quantizer(model.quantizer, frames, method=config.fit_method, n_q=config.n_q,
                                   iters=config.kmeans_iters, seed=0)  # fmt: skip
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    for i in range(0, len(waves), batch):
        for codes in speech_codec.encode(model, waves[i : i + batch], config.n_q):
            units_to_text(codes, config)
    seconds = time.perf_counter() - start
    audio = args.clips * args.clip_seconds
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"preset {args.preset}: encoder_filters={config.encoder_filters} n_q={config.n_q} bins={config.bins} "
          f"batch={batch} threads={torch.get_num_threads()}")  # fmt: skip
    print(f"codebook fit on {len(frames)} frames: {fit_s:.2f} s")
    print(f"tokenized {audio:.0f} s of audio in {seconds:.2f} s: {audio / seconds:.1f}x real time")
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
