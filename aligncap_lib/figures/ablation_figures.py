"""Paper figures of the ablation table, from ``summary.json``'s ``aggregate`` (notebook 08).

``aggregate`` is ``{variant: {split: {lang: {metric: {"mean", "ci95": [lo, hi], "n_seeds"}}}}}``
(:mod:`aligncap_lib.analysis.results_summary`): means over seeds with hierarchical bootstrap intervals (seeds, then
clips). Metrics are shares or scores in [0, 1] (CIDEr may exceed 1).

- :func:`ablation_bars`: the README table's informative metrics (:data:`FIGURE_METRICS`) as small multiples:
  rows = metric (one x axis per row), columns = split x language, one bar per variant in
  :data:`aligncap_lib.captioner.variants.VARIANT_ORDER`, the interval as an error bar, the range rows as a
  shaded band;
- :func:`slot_heatmaps`: per slot and variant, the factual hallucination, slot accuracy and omission of one
  split and language (from the ``<family>_<slot>`` keys).

Missing cells are drawn as ``n/a``, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aligncap_lib.analysis.ablations import CLAIMS
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
    "template": "#b08050",
    "lm": "#7fa7cf",
    "control": "#e8a0a0",
}
FULL_COLOR = "#1f4e8c"
#: The range rows' band (see :data:`aligncap_lib.captioner.variants.VARIANTS`, role ``range``) and its edges.
RANGE_COLOR, RANGE_EDGE, RANGE_STYLES = "#f2c14e", "#b07d12", ("-", ":")
#: The metrics of :func:`ablation_bars`: those that tell the variants apart on this corpus (BLEU, METEOR, ROUGE-L
#: and the embedding similarity move with CIDEr and stay in the README table, ``results_summary.TABLE_METRICS``).
FIGURE_METRICS: tuple[str, ...] = ("slot_accuracy", "factual_hallucination", "cider", "repetition")
#: metric -> +1 (higher is better) or -1, as the paper's claims state it (:data:`aligncap_lib.analysis.ablations.CLAIMS`).
DIRECTIONS: dict[str, int] = {metric: d for *_, pairs in CLAIMS for metric, d in pairs}
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
    metrics: Sequence[str] = FIGURE_METRICS,
    cells: Sequence[tuple[str, str]] | None = None,
    *,
    reference: str = "baseline_sft",
) -> Figure:
    """Rows = ``metrics`` that any cell has (one x axis per row, shared by its cells), columns = ``cells``
    (default: all (split, lang) present), one horizontal bar per variant (mean over seeds, 95% interval); the
    range rows (role ``range``: ``content_oracle``, ``wrong_content``) are not bars but a shaded band from one
    to the other, the metric's reach on these references; a dashed line marks ``reference``'s mean."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FormatStrFormatter

    aggregate = summary.get("aggregate") if isinstance(summary, Mapping) else None
    if not isinstance(aggregate, Mapping) or not aggregate:
        return placeholder("Ablation table", "summary has no aggregate")
    cells = list(cells) if cells is not None else cells_of(aggregate)
    ordered = _order(list(aggregate), VARIANT_ORDER)
    ranges = [v for v in ordered if v in VARIANTS and VARIANTS[v].role == "range"]
    variants = [v for v in ordered if v not in ranges]
    rows = [m for m in metrics if any(interval(cell_entry(aggregate, v, s, la, m)) for v in ordered
                                      for s, la in cells)]  # fmt: skip
    if not rows or not cells or not variants:
        return placeholder("Ablation table", f"none of {list(metrics)} in any split")
    width, height = 1.6 + 2.3 * len(cells), 1.2 + (0.45 + 0.17 * len(variants)) * len(rows)
    fig, axes = plt.subplots(len(rows), len(cells), figsize=(width, height), squeeze=False, sharey=True,
                             sharex="row")  # fmt: skip
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
                        error_kw={"capsize": 2, "lw": 0.8}, zorder=2)  # fmt: skip
            for y in sorted(set(range(len(variants))) - {d[0] for d in drawn}):
                ax.text(0, y, " n/a", va="center", fontsize=6, color="#888888")
            reach = {
                v: iv[0] for v in ranges if (iv := interval(cell_entry(aggregate, v, split, lang, metric)))
            }
            if reach:
                ax.axvspan(
                    min(reach.values()), max(reach.values()), color=RANGE_COLOR, alpha=0.35, lw=0, zorder=0
                )
                for v, value in reach.items():
                    ax.axvline(
                        value, color=RANGE_EDGE, lw=1.0, ls=RANGE_STYLES[ranges.index(v) % 2], zorder=1
                    )
            ref = interval(cell_entry(aggregate, reference, split, lang, metric))
            if ref is not None:
                ax.axvline(ref[0], color="#333333", ls="--", lw=0.8, zorder=3)
            ax.grid(axis="x", alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.locator_params(axis="x", nbins=4)
            # why: shares near 0 (repetition) must read 0.02, never a "1e-6" multiplier at the corner
            ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
            if r == 0:
                ax.set_title(f"{split} / {lang}", fontsize=9)
            if c == 0:
                better = {1: "\u2191 higher is better", -1: "\u2193 lower is better"}.get(
                    DIRECTIONS.get(metric, 0)
                )
                ax.set_ylabel(f"{metric}\n{better}" if better else metric, fontsize=9)
        axes[r][0].set_xlim(left=0)
    axes[0][0].set_yticks(range(len(variants)), variants)
    axes[0][0].set_ylim(len(variants) - 0.5, -0.5)
    seeds = ", ".join(str(n) for n in sorted(n_seeds, key=str))
    handles: list[Any] = [Patch(color=RANGE_COLOR, alpha=0.35)]
    labels = ["the metric's reach on these references (range rows)"]
    for k, v in enumerate(ranges):
        handles.append(Line2D([], [], color=RANGE_EDGE, ls=RANGE_STYLES[k % 2], lw=1.0))
        labels.append(v)
    handles.append(Line2D([], [], color="#333333", ls="--", lw=0.8))
    labels.append(reference)
    fig.legend(handles, labels, fontsize=8, ncol=len(labels), loc="upper center", frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.45 / height))  # fmt: skip
    fig.suptitle(f"Ablations: mean over seeds (n_seeds: {seeds}) with 95% hierarchical intervals",
                 fontsize=10, y=1 - 0.12 / height)  # fmt: skip
    # fixed margins in inches instead of tight_layout, which measured every panel (3 s on 49 panels)
    fig.subplots_adjust(left=1.5 / width, right=1 - 0.15 / width, top=1 - 0.95 / height,
                        bottom=0.35 / height, wspace=0.12, hspace=0.35)  # fmt: skip
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
