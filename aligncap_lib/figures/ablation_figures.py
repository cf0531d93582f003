"""Paper figures of the ablation table, from ``summary.json``'s ``aggregate`` (notebook 08).

``aggregate`` is ``{variant: {split: {lang: {metric: {"mean", "ci95": [lo, hi], "n_seeds"}}}}}``
(:mod:`aligncap_lib.analysis.results_summary`): means over seeds with hierarchical bootstrap intervals (seeds, then
clips). Metrics are shares or scores in [0, 1] (CIDEr may exceed 1).

- :func:`ablation_bars`: the README table as small multiples: rows = metric, columns = split x language, one
  bar per variant in :data:`aligncap_lib.captioner.variants.VARIANT_ORDER`, the interval as an error bar;
- :func:`slot_heatmaps`: per slot and variant, the factual hallucination, slot accuracy and omission of one
  split and language (from the ``<family>_<slot>`` keys).

Missing cells are drawn as ``n/a``, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aligncap_lib.analysis.results_summary import TABLE_METRICS
from aligncap_lib.captioner.variants import VARIANT_ORDER, VARIANTS
from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.figures.claim_figures import interval, placeholder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Column order: the synthetic test splits as in the corpus, then the real SECap data, then anything else.
SPLIT_ORDER: tuple[str, ...] = ("test_seen", "test_zeroshot", "test_crossdomain", "secap_dev", "secap_test")
LANG_ORDER: tuple[str, ...] = ("en", "zh")
#: Bar colour by variant kind: baselines grey, the template brown, trained LMs blue (the full system darker),
#: the control pale red; so a reader sees at once which bars are the floor.
KIND_COLORS = {
    "trivial": "#bbbbbb",
    "range": "#dddddd",
    "template": "#b08050",
    "lm": "#7fa7cf",
    "control": "#e8a0a0",
}
FULL_COLOR = "#1f4e8c"
#: Per-slot metric families: (key prefix, panel title, colour map). Lower is better for the red/purple ones.
SLOT_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("factual_hallucination", "factual hallucination (lower is better)", "Reds"),
    ("slot_accuracy", "slot accuracy (higher is better)", "Greens"),
    ("omission", "omission (lower is better)", "Purples"),
)


def variant_color(variant: str) -> str:
    if variant == "aligncap_full":
        return FULL_COLOR
    v = VARIANTS.get(variant)
    return KIND_COLORS.get(v.kind, "#888888") if v is not None else "#888888"


def _order(names: Sequence[str], preferred: Sequence[str]) -> list[str]:
    return [n for n in preferred if n in names] + sorted(n for n in names if n not in preferred)


def cells_of(aggregate: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (split, lang) some variant has, in :data:`SPLIT_ORDER` x :data:`LANG_ORDER` order."""
    found = {
        (split, lang)
        for by_split in aggregate.values()
        if isinstance(by_split, Mapping)
        for split, by_lang in by_split.items()
        if isinstance(by_lang, Mapping)
        for lang in by_lang
    }
    splits = _order(sorted({s for s, _ in found}), SPLIT_ORDER)
    langs = _order(sorted({lang for _, lang in found}), LANG_ORDER)
    return [(s, lang) for s in splits for lang in langs if (s, lang) in found]


def cell_entry(aggregate: Mapping[str, Any], *keys: str) -> Any:
    """``aggregate[variant][split][lang][metric]`` (or a shorter path) or None where any level is missing."""
    node: Any = aggregate
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def ablation_bars(
    summary: Mapping[str, Any],
    metrics: Sequence[str] = TABLE_METRICS,
    cells: Sequence[tuple[str, str]] | None = None,
    *,
    reference: str = "baseline_sft",
) -> Figure:
    """Rows = ``metrics`` that any cell has, columns = ``cells`` (default: all (split, lang) present), one
    horizontal bar per variant (mean over seeds, 95% interval); a dashed line marks ``reference``'s mean."""
    import matplotlib.pyplot as plt

    aggregate = summary.get("aggregate") if isinstance(summary, Mapping) else None
    if not isinstance(aggregate, Mapping) or not aggregate:
        return placeholder("Ablation table", "summary has no aggregate")
    cells = list(cells) if cells is not None else cells_of(aggregate)
    variants = _order(list(aggregate), VARIANT_ORDER)
    rows = [m for m in metrics if any(interval(cell_entry(aggregate, v, s, la, m)) for v in variants
                                      for s, la in cells)]  # fmt: skip
    if not rows or not cells:
        return placeholder("Ablation table", f"none of {list(metrics)} in any split")
    width, height = 1.4 + 2.5 * len(cells), 0.5 + (0.35 + 0.17 * len(variants)) * len(rows)
    fig, axes = plt.subplots(len(rows), len(cells), figsize=(width, height), squeeze=False, sharey=True)
    n_seeds: set[Any] = set()
    for r, metric in enumerate(rows):
        for c, (split, lang) in enumerate(cells):
            ax = axes[r][c]
            entries = [cell_entry(aggregate, v, split, lang, metric) for v in variants]
            drawn = [(y, v, iv) for y, (v, e) in enumerate(zip(variants, entries, strict=True))
                     if (iv := interval(e)) is not None]  # fmt: skip
            n_seeds |= {e.get("n_seeds") for e in entries if interval(e) is not None}
            # one barh call per panel (not one per variant): with 7 x 7 panels, per-bar calls took seconds
            if drawn:
                ys, names, ivs = zip(*drawn, strict=True)
                means = [m for m, _, _ in ivs]
                err = [[m - lo for m, lo, _ in ivs], [hi - m for m, _, hi in ivs]]
                ax.barh(ys, means, xerr=err, color=[variant_color(v) for v in names], height=0.75,
                        error_kw={"capsize": 2, "lw": 0.8})  # fmt: skip
            for y in sorted(set(range(len(variants))) - {d[0] for d in drawn}):
                ax.text(0, y, " n/a", va="center", fontsize=6, color="#888888")
            ref = interval(cell_entry(aggregate, reference, split, lang, metric))
            if ref is not None:
                ax.axvline(ref[0], color="#333333", ls="--", lw=0.7)
            ax.grid(axis="x", alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.locator_params(axis="x", nbins=4)
            if r == 0:
                ax.set_title(f"{split} / {lang}", fontsize=9)
            if c == 0:
                ax.set_ylabel(metric, fontsize=9)
    axes[0][0].set_yticks(range(len(variants)), variants)
    axes[0][0].set_ylim(len(variants) - 0.5, -0.5)
    seeds = ", ".join(str(n) for n in sorted(n_seeds, key=str))
    fig.suptitle(f"Ablations: mean over seeds (n_seeds: {seeds}) with 95% hierarchical intervals; dashed: "
                 f"{reference}", fontsize=10, y=1 - 0.15 / height)  # fmt: skip
    # fixed margins in inches instead of tight_layout, which measured every panel (3 s on 49 panels)
    fig.subplots_adjust(left=1.3 / width, right=1 - 0.15 / width, top=1 - 0.55 / height,
                        bottom=0.35 / height, wspace=0.25, hspace=0.45)  # fmt: skip
    return fig


def slot_heatmaps(
    summary: Mapping[str, Any],
    split: str,
    lang: str,
    families: Sequence[tuple[str, str, str]] = SLOT_FAMILIES,
) -> Figure:
    """One heatmap per metric family with per-slot keys (``<prefix>_<slot>``): rows = variants, columns =
    slots, cell = the mean over seeds (``n/a``: undefined, e.g. no caption claims that slot)."""
    import matplotlib.pyplot as plt
    import numpy as np

    aggregate = summary.get("aggregate") if isinstance(summary, Mapping) else None
    title = f"Per-slot metrics, {split} / {lang}"
    if not isinstance(aggregate, Mapping):
        return placeholder(title, "summary has no aggregate")
    variants = [v for v in _order(list(aggregate), VARIANT_ORDER)
                if isinstance(cell_entry(aggregate, v, split, lang), Mapping)]  # fmt: skip
    keys = {k for v in variants for k in aggregate[v][split][lang]}
    slots = [s for s in SLOTS if any(f"{p}_{s}" in keys for p, _, _ in families)]
    present = [f for f in families if any(f"{f[0]}_{s}" in keys for s in slots)]
    if not variants or not present:
        return placeholder(title, "no per-slot keys")
    fig, axes = plt.subplots(1, len(present), figsize=(0.6 + 3.3 * len(present), 1.3 + 0.32 * len(variants)),
                             squeeze=False, sharey=True)  # fmt: skip
    for ax, (prefix, panel, cmap) in zip(axes[0], present, strict=True):
        grid = np.full((len(variants), len(slots)), np.nan)
        for i, v in enumerate(variants):
            for j, s in enumerate(slots):
                iv = interval(cell_entry(aggregate, v, split, lang, f"{prefix}_{s}"))
                if iv is not None:
                    grid[i, j] = iv[0]
        ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            text = "n/a" if np.isnan(value) else f"{value:.2f}"
            dark = not np.isnan(value) and value > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
        ax.set_xticks(range(len(slots)), [s.replace("_", "\n") for s in slots], fontsize=7)
        ax.set_title(panel, fontsize=9)
    axes[0][0].set_yticks(range(len(variants)), variants, fontsize=7)
    fig.suptitle(f"{title}: mean over seeds", fontsize=10)
    fig.tight_layout()
    return fig
