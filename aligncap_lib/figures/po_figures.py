"""Figures of PO-Regularization (notebook 06, and notebook 08 from ``ablations.json``); saved only through
:func:`aligncap_lib.figures.save.save_fig`.

- :func:`dpo_reward_curves`: trl's DPO log per step: the loss, the implicit rewards of the chosen and rejected
  captions (beta x log-ratio to the reference), their margin and the share of pairs where chosen out-scores
  rejected;
- :func:`pair_margins`: how many pairs survive each judge-score margin (the ``kept_at_margin`` statistics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aligncap_lib.figures.claim_figures import number, placeholder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: trl 1.16's log keys, in panel order (the last panel draws chosen and rejected together).
REWARD_KEYS: tuple[tuple[str, str], ...] = (
    ("loss", "loss (DPO + the SFT term, if sft_weight > 0)"),
    ("rewards/margins", "reward margin (chosen - rejected)"),
    ("rewards/accuracies", "reward accuracy (share chosen > rejected)"),
)


def _points(log: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = [(float(h.get("step", i)), v) for i, h in enumerate(log) if (v := number(h.get(key))) is not None]
    return [s for s, _ in pts], [v for _, v in pts]


def dpo_reward_curves(logs: Mapping[str, Any]) -> Figure:
    """trl's DPO log per ``label -> [{"step", "loss", "rewards/..."}]`` (``<model>/po/log.json``; notebook 06
    passes the logs it trained, notebook 08 ``ablations.json`` ``dpo_logs``): one panel per
    :data:`REWARD_KEYS` entry and one of the chosen (solid) and rejected (dashed) rewards, one colour per label
    in every panel, every line in the legend. Entries that are not dicts, and labels without any, are dropped."""
    import matplotlib.pyplot as plt

    clean = {str(k): [h for h in v if isinstance(h, Mapping)] for k, v in logs.items()
             if isinstance(v, Sequence) and not isinstance(v, str)}  # fmt: skip
    clean = {k: v for k, v in clean.items() if v}
    if not clean:
        return placeholder("DPO reward curves", "no log has an entry")
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (label, log) in enumerate(clean.items()):
        color = colors[n % len(colors)]
        for ax, (key, _title) in zip(axes[:3], REWARD_KEYS, strict=True):
            xs, ys = _points(log, key)
            if xs:
                ax.plot(xs, ys, color=color, lw=1.2, label=label)
        for key, style in (("rewards/chosen", "-"), ("rewards/rejected", "--")):
            xs, ys = _points(log, key)
            if xs:
                axes[3].plot(xs, ys, style, color=color, lw=1.2, label=f"{label}: {key.split('/')[1]}")
    for ax, title in zip(axes, [t for _, t in REWARD_KEYS] + ["implicit rewards (beta x log-ratio)"],
                         strict=True):  # fmt: skip
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("optimizer step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[3].axhline(0, color="black", lw=0.6)
    handles, labels = axes[3].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=min(6, len(labels)))
    fig.suptitle("DPO: trl's log per optimizer step, one colour per model (chosen: solid, rejected: dashed)",
                 fontsize=10)  # fmt: skip
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
