"""Figures and tables of the speech corpus (notebook ``01_speech_corpus``): examples per emotion, attribute
distributions, agreement before verification, drop rates, the openSMILE cross-check and the probe ceiling.

Every function reads the corpus folder (``manifest.jsonl``, ``report.json``, ``audio/``) and returns a
matplotlib figure, a pandas table or an audio array; figures leave through ``figures.save_fig`` only.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aligncap_lib.core.attributes import ACOUSTIC_SLOTS, EMOTIONS, SLOT_BINS
from aligncap_lib.core.audio_io import read_audio, resample
from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.corpus import contour

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: The f0 contour's colour over a magma spectrogram (also :func:`token_figures.tokens_overview`).
F0_COLOR = "#3ad1ff"
SPLIT_ORDER = ("train", "valid", "pref", "test_seen", "test_zeroshot", "test_crossdomain")


def load_corpus(corpus_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(manifest records, report.json) of a built corpus folder; raises ValueError naming a bad line."""
    records, errors = read_manifest(corpus_dir / "manifest.jsonl")
    if errors:
        raise ValueError(f"{corpus_dir}/manifest.jsonl: {errors[0]}")
    return records, json.loads((corpus_dir / "report.json").read_text(encoding="utf-8"))


def example_per_emotion(records: Sequence[dict[str, Any]], lang: str = "en") -> list[dict[str, Any]]:
    """One clean clip per emotion (the first test_seen clip, else the first clip), in :data:`EMOTIONS` order."""
    out = []
    for emotion in EMOTIONS:
        pool = [r for r in records if r["lang"] == lang and r["emotion"] == emotion and not r["degradation"]]
        seen = [r for r in pool if r["split"] == "test_seen"]
        if pool:
            out.append((seen or pool)[0])
    return out


def emotion_spectrograms(corpus_dir: Path, examples: Sequence[dict[str, Any]]) -> Figure:
    """Per example a spectrogram (time in s, 0-4 kHz, 60 dB range) with its Praat f0 contour (Hz, right axis) and a caption.

    The spectrogram uses 16 colour levels: the committed notebook embeds this figure, and a 16-level image
    compresses about 5x better than a continuous one (the notebook must stay under 2 MB)."""
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    n = len(examples)
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.9 * n), squeeze=False)
    for ax, rec in zip(axes[:, 0], examples, strict=True):
        wave, sr, _ = read_audio(corpus_dir / rec["audio"])
        freqs, times, power = spectrogram(wave, fs=sr, nperseg=512, noverlap=384)
        keep = freqs <= 4000
        db = 10.0 * np.log10(power[keep] + 1e-12)
        ax.pcolormesh(
            times,
            freqs[keep],
            db,
            cmap=plt.get_cmap("magma", 16),
            vmin=db.max() - 60,
            vmax=db.max(),
            shading="auto",
            rasterized=True,
        )
        ax.set_ylabel("Hz")
        twin = ax.twinx()
        twin.plot(*contour.f0_contour(wave, sr), color=F0_COLOR, lw=1.6)
        twin.set_ylim(50, 400)
        twin.set_ylabel("f0 (Hz)")
        marked = ", ".join(
            f"{s}={rec['attributes'][s]}" for s in ACOUSTIC_SLOTS if rec["attributes"][s] is not None
        )
        ax.set_title(f"{rec['emotion'].upper()}  ({rec['id']}, {rec['voice']}): {marked}", fontsize=9)
        ax.text(
            0.0,
            -0.36,
            textwrap.shorten(rec["captions"][0], 150),
            transform=ax.transAxes,
            fontsize=8,
            style="italic",
        )
    fig.tight_layout()
    return fig


def attribute_distributions(records: Sequence[dict[str, Any]]) -> Figure:
    """Bar charts: per slot, share of clips per bin (``unverified`` = null) in each split (both languages)."""
    import matplotlib.pyplot as plt

    slots = ("emotion", *ACOUSTIC_SLOTS)
    fig, axes = plt.subplots(1, len(slots), figsize=(3.1 * len(slots), 3.2), sharey=True)
    splits = [s for s in SPLIT_ORDER if any(r["split"] == s for r in records)]
    width = 0.8 / max(len(splits), 1)
    for ax, slot in zip(axes, slots, strict=True):
        bins = [*SLOT_BINS[slot], "unverified"] if slot != "emotion" else list(SLOT_BINS[slot])
        for k, split in enumerate(splits):
            group = [r for r in records if r["split"] == split]
            counts = Counter(r["attributes"][slot] or "unverified" for r in group)
            share = [counts[b] / max(len(group), 1) for b in bins]
            ax.bar(np.arange(len(bins)) + k * width, share, width, label=split)
        ax.set_xticks(np.arange(len(bins)) + 0.4 - width / 2)
        ax.set_xticklabels(bins, rotation=60, fontsize=7)
        ax.set_title(slot, fontsize=9)
    axes[0].set_ylabel("share of clips")
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def agreement_table(report: dict[str, Any]) -> pd.DataFrame:
    """Per slot and intended bin: agreement of the first rendering with the intent and the drop rate."""
    import pandas as pd

    rows = []
    agree, drop = report["agreement_before_verification"], report["drop_rate"]
    for slot in ACOUSTIC_SLOTS:
        for b in SLOT_BINS[slot]:
            rows.append(
                {"slot": slot, "bin": b, "agreement_before": agree[slot][b], "drop_rate": drop[slot][b]}
            )
    return pd.DataFrame(rows).set_index(["slot", "bin"])


def agreement_chart(report: dict[str, Any]) -> Figure:
    """Agreement before verification (bars) and drop rate (dots) per intended bin, grouped by slot (a gap
    between slots, the bin under each bar and the slot under each group)."""
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    table = agreement_table(report)
    slots = list(dict.fromkeys(s for s, _ in table.index))
    x = np.array([i + 0.6 * slots.index(s) for i, (s, _) in enumerate(table.index)])
    fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
    ax.bar(x, table["agreement_before"].astype(float), color="#7aa6d6", label="agreement before verification")
    ax.plot(
        x, table["drop_rate"].astype(float), "o", color="#c0392b", label="drop rate", clip_on=False, zorder=3
    )
    ax.set_xticks(x, [b for _, b in table.index], fontsize=7)
    below = blended_transform_factory(ax.transData, ax.transAxes)
    for slot in slots:
        mine = x[[s == slot for s, _ in table.index]]
        ax.text(mine.mean(), -0.13, slot, transform=below, ha="center", va="top", fontsize=8, weight="bold")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of clips", fontsize=8)
    ax.axhline(1.0, color="#999999", lw=0.5)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False)
    ax.set_title("intended vs measured bins of the first rendering (before verify-then-label)", fontsize=9,
                 loc="right")  # fmt: skip
    return fig


def report_tables(report: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The report's small tables: ``predictability`` (emotion -> slot rule vs majority baseline),
    ``opensmile`` (agreement per slot and the quantity used), ``probe`` (Praat-feature probe ceiling)."""
    import pandas as pd

    osm = report["opensmile_agreement"]
    return {
        "predictability": pd.DataFrame(report["emotion_predicts_attribute"]).T,
        "opensmile": pd.DataFrame(
            {
                s: {"agreement": osm[s]["agreement"], "quantity": osm[s].get("quantity", "")}
                for s in ACOUSTIC_SLOTS
                if isinstance(osm.get(s), dict)
            }
        ).T,
        "probe": pd.DataFrame(report["probe_ceiling"]).T,
    }


def example_per_split(records: Sequence[dict[str, Any]], lang: str = "en") -> list[dict[str, Any]]:
    """The first clip of each split (in :data:`SPLIT_ORDER`) in ``lang``."""
    out = []
    for split in SPLIT_ORDER:
        pool = [r for r in records if r["lang"] == lang and r["split"] == split]
        if pool:
            out.append(pool[0])
    return out


def playable(corpus_dir: Path, record: dict[str, Any], rate: int = 8000, seconds: float = 2.0) -> np.ndarray:
    """The clip's first ``seconds`` at ``rate`` Hz (float32 ``[<= rate * seconds]``), small enough to embed."""
    wave, sr, _ = read_audio(corpus_dir / record["audio"])
    return resample(wave, sr, rate)[: int(rate * seconds)]
