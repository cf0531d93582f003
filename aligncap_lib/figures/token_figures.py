"""Figures of the speech-token stage (notebook 02); saved only through :func:`aligncap_lib.figures.save.save_fig`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aligncap_lib.tokens import speech_units

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def tokens_overview(
    wave: np.ndarray, sample_rate: int, codes: torch.Tensor, units_text: str, title: str
) -> Figure:
    """Waveform, log spectrogram, the codes of every codebook (rows, 75 Hz) and the units the LLM reads.

    ``wave`` float ``[samples]`` at ``sample_rate`` Hz; ``codes`` ``[n_q, T]``; ``units_text`` from
    :func:`speech_units.units_to_text`.
    """
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    stride, positions = speech_units.text_to_units(units_text)
    seconds = len(wave) / sample_rate
    fig, axes = plt.subplots(4, 1, figsize=(9, 6.4), sharex=True, height_ratios=[1, 2, 1.3, 0.6])
    t = np.arange(len(wave)) / sample_rate
    axes[0].plot(t, wave, lw=0.4, color="#333333")
    axes[0].set_ylabel("wave")
    freqs, times, power = spectrogram(wave, fs=sample_rate, nperseg=512, noverlap=384)
    # why the floor: espeak-ng pauses are exact digital zeros, whose log is -inf
    db = 10 * np.log10(power + 1e-10)
    axes[1].imshow(db, aspect="auto", origin="lower", cmap="magma", vmin=db.max() - 80,
                   extent=(times[0], times[-1], freqs[0], freqs[-1]))  # fmt: skip
    axes[1].set_ylim(0, 5000)
    axes[1].set_ylabel("Hz")
    n_q, n_t = codes.shape
    axes[2].imshow(codes.numpy(), aspect="auto", interpolation="nearest", cmap="tab20",
                   extent=(0, n_t / 75.0, n_q - 0.5, -0.5))  # fmt: skip
    axes[2].set_ylabel("codebook")
    axes[2].set_yticks(range(n_q))
    strip = positions[:, 0][None, :]
    axes[3].imshow(strip, aspect="auto", interpolation="nearest", cmap="tab20",
                   extent=(0, len(positions) * stride / 75.0, 0, 1))  # fmt: skip
    axes[3].set_yticks([])
    axes[3].set_ylabel("LLM\nunits", rotation=0, ha="right", va="center")
    axes[3].set_xlabel(f"time (s); {len(positions)} unit positions, {stride} frames (of 75 Hz) each")
    axes[3].set_xlim(0, seconds)
    axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def codebook_usage(codes: Mapping[str, torch.Tensor], bins: int) -> Figure:
    """Per codebook, the share of frames per code sorted by frequency (log scale): how evenly the codes are used."""
    import matplotlib.pyplot as plt

    stacked = torch.cat([c for c in codes.values()], dim=1)  # [n_q, total frames]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for q in range(stacked.shape[0]):
        counts = np.sort(np.bincount(stacked[q].numpy(), minlength=bins))[::-1]
        used = int((counts > 0).sum())
        ax.plot(np.arange(1, bins + 1), counts / counts.sum(), label=f"codebook {q}: {used}/{bins} used")
    ax.set_yscale("log")
    ax.set_xlabel("code rank")
    ax.set_ylabel("share of frames")
    ax.legend(fontsize=8)
    ax.set_title("Codebook usage over the tokenized corpus", fontsize=10)
    fig.tight_layout()
    return fig


def probe_bars(probe: Mapping[str, Mapping[str, Any]], bar: Mapping[str, float] | None = None) -> Figure:
    """Probe accuracy per slot next to chance and the Praat ceiling; the issue's bar as ticks."""
    import matplotlib.pyplot as plt

    slots = [s for s, e in probe.items() if e.get("accuracy") is not None]
    x = np.arange(len(slots))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, (key, color) in enumerate(
        (("chance", "#bbbbbb"), ("accuracy", "#3b75af"), ("ceiling", "#8fbc8f"))
    ):
        ax.bar(x + (i - 1) * 0.27, [probe[s][key] for s in slots], 0.27, label=key, color=color)
    for i, s in enumerate(slots):
        if bar and s in bar:
            ax.plot([i - 0.4, i + 0.4], [bar[s]] * 2, color="#aa3333", lw=1.2)
    ax.set_xticks(x, slots, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy, unseen voices")
    ax.legend(fontsize=8, ncol=3, loc="upper right")
    ax.set_title("Linear probes on what the LLM reads (red: the issue's bar)", fontsize=10)
    fig.tight_layout()
    return fig


def codec_comparison(rows: Sequence[Mapping[str, Any]], slots: Sequence[str]) -> Figure:
    """Probe accuracy per codec row (bars in groups of slots), from :func:`codec_comparison.compare_codecs`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    width = 0.8 / max(len(rows), 1)
    for i, row in enumerate(rows):
        ax.bar(np.arange(len(slots)) + i * width, [row.get(s) or 0 for s in slots], width, label=row["codec"])
    ax.set_xticks(np.arange(len(slots)) + 0.4 - width / 2, slots, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probe accuracy (unseen voices)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Random-encoder baseline vs the trained codec: tokens and continuous frames", fontsize=10)
    fig.tight_layout()
    return fig
