"""Figures of KD-Regularization (notebook 05); saved only through :func:`aligncap_lib.figures.save.save_fig`.

- :func:`training_curves`: per-step cross-entropy and speech-vs-text KL of each trained stage (the KL is
  logged for SFT students too, as a measurement, with weight 0 in their loss).

The held-out KL per variant is :func:`aligncap_lib.figures.claim_figures.speech_text_kl` (one function for
notebooks 05 and 08).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def training_curves(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Two panels (CE, KL) against the optimizer step, one line per ``label -> log`` (from
    :func:`aligncap_lib.training.stages.read_log`). Entries without a value are skipped."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharex=True)
    for label, log in logs.items():
        for ax, key in zip(axes, ("ce", "kl"), strict=True):
            points = [(h["step"], h[key]) for h in log if h.get(key) is not None]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, label=label, lw=1.2)
    axes[0].set_ylabel("caption cross-entropy (nats/token)")
    axes[1].set_ylabel("KL(text view || speech view) (nats/token)")
    for ax in axes:
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
