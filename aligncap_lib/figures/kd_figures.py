"""Figures of KD-Regularization (notebook 05); saved only through :func:`aligncap_lib.figures.save.save_fig`.

- :func:`training_curves`: per-step cross-entropy and speech-vs-text KL of each trained stage (the KL is
  logged for SFT students too, as a measurement, with weight 0 in their loss);
- :func:`kl_intervals`: the held-out (``valid``) speech-vs-text KL per variant with its interval over seeds
  (the paper's claim: KD narrows the gap between the speech and the text view).
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


def kl_intervals(values: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Horizontal bars of ``label -> {"mean", "ci95": [lo, hi]}`` (from
    :func:`aligncap_lib.analysis.results_summary.kl_over_seeds` or ``kl_with_floor``), with the interval as an error
    bar and the KD floor (``"floor"``, where given) as a dashed line."""
    import matplotlib.pyplot as plt

    labels = list(values)
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(labels)))
    for i, label in enumerate(labels):
        v = values[label]
        lo, hi = v["ci95"]
        ax.barh(
            i, v["mean"], color="#4c72b0" if "(kd)" in label else "#999999"
        )  # label "<variant> (<stage>)"
        ax.errorbar(v["mean"], i, xerr=[[v["mean"] - lo], [hi - v["mean"]]], color="black", capsize=3)
    floors = {round(float(v["floor"]), 6) for v in values.values() if v.get("floor") is not None}
    for floor in floors:  # the same teacher and clips for every student: one line
        ax.axvline(
            floor, color="#c0392b", ls="--", lw=1, label=f"floor (teacher vs itself, slot order) {floor:.3f}"
        )
    if floors:
        ax.legend(fontsize=7, loc="lower right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("held-out KL(text || speech) over caption tokens (nats/token, 95% interval)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
