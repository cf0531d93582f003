"""Figures of the speech-token stage (notebook 02, and :func:`probe_vs_chance` in notebook 08 from
``probe.json``); saved only through :func:`aligncap_lib.figures.save.save_fig`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.corpus import contour
from aligncap_lib.figures.claim_figures import KD_COLOR, number, placeholder, wilson
from aligncap_lib.figures.corpus_figures import F0_COLOR
from aligncap_lib.tokens import speech_units

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FRAME_RATE = 75.0  # Hz of the codes (speech_codec.FRAME_RATE; the codec module itself is not needed to draw)


def tokens_overview(
    wave: np.ndarray, sample_rate: int, codes: torch.Tensor, units_text: str, title: str
) -> Figure:
    """What the LLM reads of one clip, under the clip itself: top, the log spectrogram (0-4 kHz) with its Praat
    f0 contour; below, on the same time axis, one row per kept codebook of the unit positions (the code number
    in each cell, one colour per distinct code, so a repeated unit reads as a run of one colour) with the f0
    contour drawn over the strip.

    ``wave`` float ``[samples]`` at ``sample_rate`` Hz; ``codes`` ``[n_q, T]`` at 75 Hz (for the frame count);
    ``units_text`` from :func:`speech_units.units_to_text`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from scipy.signal import spectrogram

    stride, positions = speech_units.text_to_units(units_text)
    n_q, n_t = codes.shape
    seconds = len(wave) / sample_rate
    step = stride / FRAME_RATE  # seconds per unit position
    times_f0, f0 = contour.f0_contour(wave, sample_rate)
    fig, (spec, strip) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True, height_ratios=[2, 1.25],
                                      layout="constrained")  # fmt: skip
    freqs, times, power = spectrogram(wave, fs=sample_rate, nperseg=512, noverlap=384)
    keep = freqs <= 4000
    # why the floor: espeak-ng pauses are exact digital zeros, whose log is -inf
    db = 10 * np.log10(power[keep] + 1e-10)
    spec.pcolormesh(times, freqs[keep], db, cmap=plt.get_cmap("magma", 16), vmin=db.max() - 60, vmax=db.max(),
                    shading="auto", rasterized=True)  # fmt: skip
    spec.set_ylabel("frequency (Hz)", fontsize=8)
    pitch = spec.twinx()
    pitch.plot(times_f0, f0, color=F0_COLOR, lw=1.8)
    pitch.set_ylim(50, 450)
    pitch.set_ylabel("f0 (Hz), cyan", fontsize=8)
    spec.set_title(title, fontsize=9)

    # one colour per distinct (codebook, code) of the clip (not code mod 20), pale so the numbers stay legible
    n_pos, n_rows = positions.shape
    distinct, index = np.unique(positions + np.arange(n_rows) * (positions.max() + 1), return_inverse=True)
    palette = plt.get_cmap("tab20")(np.arange(20) % 20)
    palette[:, :3] = 0.45 * palette[:, :3] + 0.55  # towards white
    cmap = ListedColormap(palette[np.arange(len(distinct)) % 20])
    strip.imshow(index.reshape(n_pos, n_rows).T, aspect="auto", interpolation="nearest", cmap=cmap,
                 vmin=-0.5, vmax=len(distinct) - 0.5, extent=(0, n_pos * step, n_rows - 0.5, -0.5))  # fmt: skip
    small = 5.5 if n_pos <= 80 else 0  # past 80 positions the numbers no longer fit: colours alone
    for (p, q), code in np.ndenumerate(positions):
        if small and (p == 0 or positions[p - 1, q] != code):  # a number where a run of one unit starts
            strip.text((p + 0.5) * step, q, str(code), ha="center", va="center", fontsize=small, rotation=90)
    strip.set_yticks(range(n_rows), [f"codebook {q}" for q in range(n_rows)], fontsize=7)
    over = strip.twinx()
    over.plot(times_f0, f0, color="black", lw=1.4)
    over.set_ylim(50, 450)
    over.set_yticks([])
    strip.set_xlim(0, seconds)
    strip.set_title(f"what the LLM reads: {n_pos} unit positions ({stride} of the {n_t} codec frames at 75 Hz "
                    f"each, the most frequent code of {n_rows} of the {n_q} codebooks), f0 in black",
                    fontsize=8, loc="left")  # fmt: skip
    strip.set_xlabel("time (s); a number marks where a unit changes, a run of one colour is one unit repeated",
                     fontsize=8)  # fmt: skip
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


def probe_vs_chance(probe: Mapping[str, Any]) -> Figure:
    """Per slot (rows): chance (x), the Praat-feature ceiling (diamond) and the token probe (dot, with a Wilson
    95% interval over ``n_test`` clips), from ``probe.json`` ``{slot: {"accuracy", "chance", "ceiling",
    "n_test"}}`` (:func:`aligncap_lib.tokens.speech_tokens.probe_tokens`); accuracies are shares in [0, 1] of
    held-out (unseen-voice) clips. Notebook 02 draws it on the probe it just ran, notebook 08 from the file."""
    import matplotlib.pyplot as plt

    order = [s for s in SLOTS if s in probe] + sorted(s for s in probe if s not in SLOTS)
    slots = [
        s for s in order if isinstance(probe[s], Mapping) and number(probe[s].get("accuracy")) is not None
    ]
    if not slots:
        return placeholder("Speech-token probe", "no slot has an accuracy")
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.42 * len(slots)), layout="constrained")
    for y, slot in enumerate(slots):
        e = probe[slot]
        acc, chance, ceiling = float(e["accuracy"]), number(e.get("chance")), number(e.get("ceiling"))
        ends = [v for v in (chance, ceiling) if v is not None]
        if len(ends) == 2:
            ax.plot(ends, [y, y], color="#cccccc", lw=4, solid_capstyle="round", zorder=1)
        if chance is not None:
            ax.scatter(chance, y, marker="x", color="#666666", zorder=2, label="chance" if y == 0 else None)
        if ceiling is not None:
            ax.scatter(ceiling, y, marker="D", color="#2e8b57", zorder=2,
                       label="ceiling (Praat features)" if y == 0 else None)  # fmt: skip
        n = e.get("n_test")
        lo, hi = wilson(acc, n) if isinstance(n, int) and not isinstance(n, bool) else (acc, acc)
        ax.errorbar(acc, y, xerr=[[acc - lo], [hi - acc]], fmt="o", color=KD_COLOR, capsize=3, zorder=3,
                    label="speech tokens (the better of a linear and a tree probe)" if y == 0 else None)  # fmt: skip
    ax.set_yticks(range(len(slots)), [f"{s} (n={probe[s].get('n_test', '?')})" for s in slots], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("accuracy on unseen voices (token probe: Wilson 95% interval)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncol=4)
    ax.set_title(
        "What the speech tokens carry: token probe vs chance and the Praat-feature ceiling", fontsize=10
    )
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
