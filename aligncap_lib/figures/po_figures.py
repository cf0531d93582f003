"""Figures of PO-Regularization (notebook 06); saved only through :func:`aligncap_lib.figures.save.save_fig`.

- :func:`reward_curves`: trl's DPO log per step: implicit rewards of the chosen and rejected captions (beta x
  log-ratio to the reference), their margin and the share of pairs where chosen out-scores rejected;
- :func:`pair_margins`: how many pairs survive each judge-score margin (the ``kept_at_margin`` statistics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: trl 1.16's log keys, in panel order.
REWARD_KEYS: tuple[tuple[str, str], ...] = (
    ("loss", "DPO loss"),
    ("rewards/margins", "reward margin (chosen - rejected)"),
    ("rewards/accuracies", "reward accuracy"),
)


def reward_curves(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """One panel per :data:`REWARD_KEYS` entry plus chosen/rejected rewards, one line per ``label -> log``
    (from ``<po stage>/log.json``); steps without a value are skipped."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(13, 3.0))
    for label, log in logs.items():
        steps = [h.get("step", i) for i, h in enumerate(log)]
        for ax, (key, _title) in zip(axes[:3], REWARD_KEYS, strict=True):
            pts = [(s, h[key]) for s, h in zip(steps, log, strict=True) if key in h]
            if pts:
                ax.plot(*zip(*pts, strict=True), label=label, lw=1.2)
        for key, style in (("rewards/chosen", "-"), ("rewards/rejected", "--")):
            pts = [(s, h[key]) for s, h in zip(steps, log, strict=True) if key in h]
            if pts:
                axes[3].plot(*zip(*pts, strict=True), style, lw=1.2, label=f"{label} {key.split('/')[1]}")
    for ax, (_key, title) in zip(
        axes, [*REWARD_KEYS, ("", "rewards: chosen (-), rejected (--)")], strict=True
    ):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def pair_margins(stats: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Pairs kept at each judge-score margin, one line per ``label -> stats.json`` of the pair builder."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    for label, s in stats.items():
        kept = s.get("kept_at_margin", {})
        margins = sorted(kept, key=float)
        ax.plot([float(m) for m in margins], [kept[m] for m in margins], marker="o", label=label)
    ax.set_xlabel("judge-score margin (best - worst)")
    ax.set_ylabel("pairs kept")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
