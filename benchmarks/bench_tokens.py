"""Speech-token cost on CPU: codec training time, seconds of audio tokenized per second (x real time), peak memory.

    python benchmarks/bench_tokens.py [--preset cpu] [--codec trained|random] [--codec-steps N] [--clips 64]
                                      [--clip-seconds 2.5] [--threads 2]

Clips are espeak-ng-like stand-ins (harmonic tones with a syllable-rate envelope and noise) so the benchmark
needs no corpus; training and tokenization cost do not depend on the content. The codec is made first on the same
clips: trained with the preset's settings (``--codec-steps`` to shorten; the time per step is printed) or, for the
random baseline, fitted by k-means. Timed next: encoder + RVQ + unit text. Goals (issue 19): codec training
<= 8 min at ``cpu``, tokenizing >= 30x real time, on 2 cores. Take numbers on a quiet machine: other processes on
the cores slow torch 3-8x.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from aligncap_lib.core.reproducibility import configure_threads
from aligncap_lib.tokens import speech_codec
from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig, fit_random_codec, train_codec, units_to_text


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
    parser.add_argument("--codec", default=None, help="trained or random (default: the preset's)")
    parser.add_argument(
        "--codec-steps", type=int, default=None, help="training steps (default: the preset's)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="clips per encode() call (each is encoded alone inside it: speech_codec.embed)",
    )
    args = parser.parse_args()

    configure_threads(args.threads)
    overrides = {k: v for k, v in (("codec", args.codec), ("codec_steps", args.codec_steps)) if v is not None}
    if SpeechTokensConfig.for_preset(args.preset).codec == "pretrained":
        overrides.setdefault(
            "codec", "random"
        )  # no weights here: a random EnCodec has the same architecture and cost
    config = SpeechTokensConfig.for_preset(args.preset, **overrides)
    batch = args.batch_size
    rng = np.random.default_rng(0)
    waves = [stand_in_clip(args.clip_seconds, rng) for _ in range(args.clips)]
    start = time.perf_counter()
    if config.codec == "trained":
        model, info = train_codec(config, waves)
    else:
        model, info, _ = fit_random_codec(config, {str(i): w for i, w in enumerate(waves)})
    make_s = time.perf_counter() - start

    start = time.perf_counter()
    for i in range(0, len(waves), batch):
        for codes in speech_codec.encode(model, waves[i : i + batch], config.n_q):
            units_to_text(codes, config)
    seconds = time.perf_counter() - start
    audio = args.clips * args.clip_seconds
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"preset {args.preset}: codec={config.codec} n_q={config.n_q} bins={config.bins} "
          f"batch={batch} threads={torch.get_num_threads()}")  # fmt: skip
    if config.codec == "trained":
        per_step = make_s / config.codec_steps
        print(f"codec training: {config.codec_steps} steps in {make_s:.1f} s ({per_step:.3f} s/step; "
              f"loss {info['loss_first']} -> {info['loss_last']})")  # fmt: skip
    else:
        print(f"codebook fit on {info['fit_frames']} frames: {make_s:.2f} s")
    print(f"tokenized {audio:.0f} s of audio in {seconds:.2f} s: {audio / seconds:.1f}x real time")
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
