"""The offline speech codec: a residual-VQ autoencoder on 64 ms log-magnitude spectra, trained here.

Why not a waveform codec: on 2 cores a SEANet waveform codec trained for 8 minutes (STFT + mel loss) learned the
spectral envelope and no harmonics (probe on unseen voices: pitch level 0.44, f0 tertile 0.26; issue 19's
measurement), and a random-weight SEANet keeps only energy (``../shared/FINDINGS.md``). Here f0 is a first-order
feature of the input: a 1,536-sample Hann window (64 ms at 24 kHz) resolves the harmonics of 90-250 Hz voices
(15.6 Hz bins), and only the 0-4 kHz band is kept (256 bins), where the harmonics are strong and which is
all a listener hears at 8 kHz.

- Front end: :func:`log_spectrogram`, hop 320 samples: the same 75 Hz frames as EnCodec, so both codecs enter
  the LLM the same way.
- Encoder and decoder: encodec's ``SConv1d`` and ``SEANetResnetBlock`` (weight norm, ELU) over frames, the
  frequency bins as channels; a ``hidden``-wide stack of ``n_res`` residual blocks, a ``dim``-wide latent.
- Quantizer: encodec's ``ResidualVectorQuantizer`` (k-means initialisation, EMA codebooks, dead-code
  replacement), trained with *quantizer dropout* (each step uses the first 1..n_q codebooks, as EnCodec and
  SoundStream do), so that codebook 0 alone is the best one-codebook code: the LLM reads the first codebooks.
- Objective (:func:`spectral_loss`): L1 on the log-magnitude plus ``fine_weight`` times L1 on its *fine
  structure* (the log-magnitude minus its moving average over ``fine_width`` bins: the harmonic comb, that is
  f0). Without the fine-structure term the codes spend their few bits on energy and envelope: on the cpu corpus
  the codebook-0 probe read pitch level at 0.46 (chance 0.42); with weight 3, 0.67; with 6 (and 128 codes),
  0.81 (gradient boosting, 1,500 steps; notebook 02). No label, no pitch tracker: the term weighs a part of
  the spectrum, it does not name a target.
- Decoding: the decoder's log-magnitude, zero above 4 kHz, phase by Griffin-Lim (:func:`griffin_lim`).

Training is a short hand-written loop (:func:`train_codec`): the codebooks' EMA updates happen inside the
quantizer's forward in train mode, crops are drawn per step, and nothing else (checkpoints, devices, logging
integrations) would be used from a Trainer for a few minutes on one CPU process.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 24_000
HOP = 320  # 75 Hz frames, EnCodec's rate
N_FFT = 1536  # 64 ms: resolves 90-250 Hz harmonics
N_BINS = 256  # 0 .. 3,984 Hz (bin width 15.6 Hz)
LOG_FLOOR = 1e-4  # magnitude floor before the log (about -80 dB re a full-scale sine's bin)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # encodec's convolutions use torch.nn.utils.weight_norm (deprecated since torch 2.1): a FutureWarning per build
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def log_spectrogram(wave: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Mono 24 kHz wave ``[samples]`` -> natural-log magnitude ``float32 [N_BINS, T]``, ``T = ceil(samples / 320)``
    (centred 64 ms Hann frames, hop 320)."""
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1)
    if x.numel() < 2:
        raise ValueError(f"a wave of {x.numel()} samples has no spectrum")
    pad_mode = "reflect" if x.numel() > N_FFT // 2 else "constant"
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, pad_mode=pad_mode,
                      return_complex=True)  # fmt: skip
    frames = -(-x.numel() // HOP)
    return torch.log(spec.abs()[:N_BINS, :frames] + LOG_FLOOR)


def fine_structure(spec: torch.Tensor, width: int) -> torch.Tensor:
    """Log-magnitude ``[..., F, T]`` minus its moving average over ``width`` (odd) bins along frequency: the
    harmonic comb without the envelope. Pure function."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"width must be an odd number of bins, got {width}")
    shape = spec.shape
    flat = spec.reshape(-1, shape[-2], shape[-1]).transpose(1, 2).reshape(-1, 1, shape[-2])  # [B*T, 1, F]
    env = nn.functional.avg_pool1d(flat, width, 1, width // 2, count_include_pad=False)
    env = env.reshape(-1, shape[-1], shape[-2]).transpose(1, 2).reshape(shape)
    return spec - env


def spectral_loss(
    reconstruction: torch.Tensor, target: torch.Tensor, *, fine_weight: float, fine_width: int
) -> torch.Tensor:
    """L1 between log-magnitudes plus ``fine_weight`` x L1 between their :func:`fine_structure`. Pure function."""
    loss = (reconstruction - target).abs().mean()
    if fine_weight:
        loss = (
            loss
            + fine_weight
            * (fine_structure(reconstruction, fine_width) - fine_structure(target, fine_width)).abs().mean()
        )
    return loss


def _stack(channels_in: int, hidden: int, n_res: int, channels_out: int) -> nn.Sequential:
    from encodec.modules.conv import SConv1d
    from encodec.modules.seanet import SEANetResnetBlock

    layers: list[nn.Module] = [SConv1d(channels_in, hidden, 5, norm="weight_norm")]
    layers += [SEANetResnetBlock(hidden, kernel_sizes=[3, 1], dilations=[1, 1], norm="weight_norm", compress=2)
               for _ in range(n_res)]  # fmt: skip
    layers += [nn.ELU(), SConv1d(hidden, channels_out, 1, norm="weight_norm")]
    return nn.Sequential(*layers)


class SpectralCodec(nn.Module):
    """Encoder -> residual VQ -> decoder over :func:`log_spectrogram` frames (see the module docstring).

    ``quantizer`` is encodec's ``ResidualVectorQuantizer``, as in ``EncodecModel``, so the exact assignment of
    :func:`codebook_fitting.rvq_encode` serves both codecs. ``mean`` (per bin) and ``scale`` normalise the input;
    they are set from the training spectra and saved with the weights.
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, *, n_q: int, bins: int, dim: int = 64, hidden: int = 256, n_res: int = 2) -> None:
        from encodec.quantization import ResidualVectorQuantizer

        super().__init__()
        self.arch = {"n_q": n_q, "bins": bins, "dim": dim, "hidden": hidden, "n_res": n_res}
        self.register_buffer("mean", torch.zeros(N_BINS, 1))
        self.register_buffer("scale", torch.ones(1))
        with _quiet():
            self.encoder = _stack(N_BINS, hidden, n_res, dim)
            self.decoder = _stack(dim, hidden, n_res, N_BINS)
            self.quantizer = ResidualVectorQuantizer(dimension=dim, n_q=n_q, bins=bins, kmeans_iters=20)

    def latent(self, spec: torch.Tensor) -> torch.Tensor:
        """Log spectra ``[B, F, T]`` -> continuous latent ``[B, dim, T]``."""
        return self.encoder((spec - self.mean) / self.scale)

    def reconstruct(self, quantized: torch.Tensor) -> torch.Tensor:
        """Quantized latent ``[B, dim, T]`` -> log spectra ``[B, F, T]``."""
        return self.decoder(quantized) * self.scale + self.mean


def build(
    *, n_q: int, bins: int, dim: int = 64, hidden: int = 256, n_res: int = 2, seed: int = 0
) -> SpectralCodec:
    """A :class:`SpectralCodec` with weights drawn from ``torch.manual_seed(seed)`` (the caller's random stream
    is left as it was); its codebooks are empty until trained or loaded."""
    if bins & (bins - 1) or bins < 2:
        raise ValueError(f"bins must be a power of 2, got {bins}")
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return SpectralCodec(n_q=n_q, bins=bins, dim=dim, hidden=hidden, n_res=n_res).eval()
    finally:
        torch.random.set_rng_state(state)


def train_codec(
    model: SpectralCodec,
    spectra: Sequence[torch.Tensor],
    *,
    steps: int,
    batch_size: int,
    crop: int,
    lr: float,
    fine_weight: float,
    fine_width: int,
    commitment: float,
    seed: int,
    log_every: int = 0,
) -> dict[str, Any]:
    """Train ``model`` in place on random ``crop``-frame windows of ``spectra`` (``[F, T]`` each); returns
    ``{"train_s", "steps", "loss_first", "loss_last", "clips"}``.

    Adam with a one-cycle schedule; each step draws how many codebooks to use (quantizer dropout). Clips shorter
    than ``crop`` are left out of the windows (padding would teach the codes a silence that is not there) but
    count in the input normalisation; ``ValueError`` when none is long enough.
    """
    usable = [s for s in spectra if s.shape[-1] >= crop]
    if not usable:
        raise ValueError(f"no training clip has {crop} frames ({crop / 75:.2f} s); lower the crop")
    frames = torch.cat(list(spectra), dim=-1)
    model.mean.copy_(frames.mean(dim=-1, keepdim=True))
    model.scale.fill_(float(frames.std()))
    gen = torch.Generator().manual_seed(seed)
    params = [p for n, p in model.named_parameters() if not n.startswith("quantizer.")]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.05)
    n_q = model.quantizer.n_q
    start = time.perf_counter()
    losses = []
    model.train()
    try:
        for step in range(steps):
            idx = torch.randint(len(usable), (batch_size,), generator=gen).tolist()
            windows = []
            for i in idx:
                s = usable[i]
                o = int(torch.randint(s.shape[-1] - crop + 1, (1,), generator=gen))
                windows.append(s[:, o : o + crop])
            target = torch.stack(windows)
            use = int(torch.randint(1, n_q + 1, (1,), generator=gen))
            quantized, _, commit = model.quantizer.vq(model.latent(target), n_q=use)
            loss = spectral_loss(model.reconstruct(quantized), target, fine_weight=fine_weight,
                                 fine_width=fine_width) + commitment * commit.mean()  # fmt: skip
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if log_every and (step % log_every == 0 or step == steps - 1):
                print(f"codec step {step}: loss {losses[-1]:.3f} ({use} codebooks)", flush=True)
    finally:
        model.eval()
    tail = max(1, steps // 10)
    return {
        "train_s": round(time.perf_counter() - start, 1),
        "steps": steps,
        "loss_first": round(float(np.mean(losses[:tail])), 4),
        "loss_last": round(float(np.mean(losses[-tail:])), 4),
        "clips": len(usable),
    }


def griffin_lim(log_magnitude: torch.Tensor, iters: int = 32, seed: int = 0) -> np.ndarray:
    """Log magnitude ``[N_BINS, T]`` (0-4 kHz) -> mono float32 wave ``[320 T]`` at 24 kHz, the phase estimated
    by Griffin-Lim (``iters`` rounds, random initial phase from ``seed``; bins above 4 kHz are zero)."""
    mag = torch.zeros(N_FFT // 2 + 1, log_magnitude.shape[-1])
    mag[:N_BINS] = (log_magnitude.exp() - LOG_FLOOR).clamp_min(0)
    window = torch.hann_window(N_FFT)
    length = HOP * log_magnitude.shape[-1]
    gen = torch.Generator().manual_seed(seed)
    phase = torch.exp(2j * torch.pi * torch.rand(mag.shape, generator=gen))
    for _ in range(iters):
        wave = torch.istft(mag * phase, N_FFT, HOP, window=window, center=True, length=length)
        spec = torch.stft(wave, N_FFT, HOP, window=window, center=True, return_complex=True)
        phase = torch.exp(1j * spec[:, : mag.shape[-1]].angle())  # the wave's stft has one frame more
    wave = torch.istft(mag * phase, N_FFT, HOP, window=window, center=True, length=length)
    return wave.numpy().astype(np.float32)
