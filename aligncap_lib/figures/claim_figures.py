"""Paper figures of single claims, from the plain dicts of ``results/<preset>/*.json`` (notebook 08).

- :func:`speech_text_kl` (``kd.json`` ``valid_kl``): the held-out speech-vs-text KL with and without KD;
- :func:`claim_differences` (``ablations.json`` ``claims``): each claim's paired difference, interval and verdict;
- :func:`preference_size_curve`, :func:`sweep_curves`, :func:`truth_judge_bars` (``extras.json``): the extras;
- the helpers the other figure modules share: :func:`number`, :func:`interval`, :func:`wilson`,
  :func:`placeholder`.

Every function takes dicts as loaded from JSON, returns a matplotlib Figure and never raises on a missing key or
a None value: what cannot be drawn is left out, and a figure with nothing to draw says so in its title
(:func:`placeholder`). Saving is :func:`aligncap_lib.figures.save.save_fig`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aligncap_lib.analysis.ablations import NEAR_ZERO
from aligncap_lib.captioner.variants import VARIANTS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KD_COLOR, NO_KD_COLOR = "#3b75af", "#9a9a9a"
#: Verdicts of :func:`aligncap_lib.analysis.ablations.claims` (and the README's words) -> colour.
VERDICT_COLORS = {"reproduced": "#2e8b57", "partly": "#d4a017", "contradicted": "#c0392b", "not": "#c0392b",
                  "inconclusive": "#777777", "both near zero": "#b0b0b0"}  # fmt: skip
#: The verdicts of :func:`aligncap_lib.analysis.ablations.claims`, in the words of the claims figure's legend.
VERDICT_MEANINGS = {
    "reproduced": "the interval excludes 0 in the claimed direction",
    "contradicted": "the interval excludes 0 the other way",
    "inconclusive": "the interval contains 0",
    "both near zero": f"A and B both below {NEAR_ZERO:g}: no evidence either way",
}


def number(x: Any) -> float | None:
    """``x`` as a finite float, or None (missing, None, NaN, a string, a bool)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def interval(entry: Any) -> tuple[float, float, float] | None:
    """``(mean, lo, hi)`` of ``{"mean", "ci95": [lo, hi]}`` (also ``diff`` for a paired row); None if unusable.
    A missing or broken interval collapses onto the mean, so the point is still drawn."""
    if not isinstance(entry, Mapping):
        return None
    mean = number(entry.get("mean", entry.get("diff")))
    if mean is None:
        return None
    ci = entry.get("ci95")
    lo, hi = (number(ci[0]), number(ci[1])) if isinstance(ci, Sequence) and len(ci) == 2 else (None, None)
    return mean, mean if lo is None else min(lo, mean), mean if hi is None else max(hi, mean)


def placeholder(title: str, reason: str) -> Figure:
    """A small figure that says why there is nothing to show (its title carries the reason)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1.6))
    ax.axis("off")
    ax.set_title(f"{title}: nothing to show ({reason})", fontsize=10)
    return fig


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of a proportion ``p`` over ``n`` trials (why Wilson: sane at p near 0 or 1)."""
    if n <= 0:
        return p, p
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _split_label(label: str) -> tuple[str, str]:
    """``"no_po (kd)"`` -> ``("no_po", "kd")``; a label without a stage keeps ``""``."""
    head, _, tail = label.partition(" (")
    return head, tail.rstrip(")")


def speech_text_kl(valid_kl: Mapping[str, Any]) -> Figure:
    """Held-out KL(text view || speech view) in nats/token per ``"variant (stage)"`` label of ``kd.json``
    ``valid_kl`` (``{"mean", "ci95", "per_seed"}``), grouped by the student's input (with or without acoustic
    clues) so that each group compares a KD stage (blue) with an SFT-only stage (grey, KL measured, weight 0)."""
    import matplotlib.pyplot as plt

    def group(label: str) -> str:
        v = VARIANTS.get(_split_label(label)[0])
        return "other" if v is None else "speech + clues" if v.student_clues else "speech only"

    ivs = {k: iv for k in valid_kl if (iv := interval(valid_kl[k])) is not None}
    labels = list(ivs)
    if not labels:
        return placeholder("Speech-vs-text KL", "no label has a mean")
    groups = ("speech + clues", "speech only", "other")
    labels.sort(key=lambda k: (groups.index(group(k)), _split_label(k)[1] != "kd", k))
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.45 * len(labels)))
    for y, label in enumerate(labels):
        mean, lo, hi = ivs[label]
        kd = _split_label(label)[1] == "kd"
        ax.barh(y, mean, color=KD_COLOR if kd else NO_KD_COLOR, height=0.7)
        ax.errorbar(mean, y, xerr=[[mean - lo], [hi - mean]], color="black", capsize=3)
        seeds = valid_kl[label].get("per_seed")
        points = [v for v in (seeds.values() if isinstance(seeds, Mapping) else []) if number(v) is not None]
        ax.scatter(points, [y] * len(points), s=10, color="black", zorder=3)
    ax.set_yticks(range(len(labels)), [f"{k}  [{group(k)}]" for k in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("held-out KL(text || speech), nats/token (mean over seeds, 95% interval; dots: seeds)")
    ax.grid(axis="x", alpha=0.3)
    handles: list[Any] = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (KD_COLOR, NO_KD_COLOR)]
    names = ["SFT+KD", "SFT only"]
    floors = {round(f, 6) for k in labels if (f := number(valid_kl[k].get("floor"))) is not None}
    for floor in floors:  # one teacher, one set of clips: one floor for every student
        handles.append(ax.axvline(floor, color="#c0392b", ls="--", lw=1))
        names.append(f"floor: teacher vs itself, clues in slot order ({floor:.3f})")
    ax.legend(handles, names, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(names))
    ax.set_title("KD narrows the speech-text gap? (lower: the speech student is closer to the text view)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig


def claim_differences(claims: Sequence[Mapping[str, Any]]) -> Figure:
    """One panel per claim of ``ablations.json`` (own x scale: the metrics' units differ), one row per
    (split/lang, metric): the paired difference A - B with its 95% interval, coloured and labelled (right) by its
    verdict, whose meaning the legend gives (:data:`VERDICT_MEANINGS`); a row without a difference (verdict
    ``missing``/``undefined``) is written out, not dropped."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FormatStrFormatter

    rows = [c for c in claims if isinstance(c, Mapping)]
    if not rows:
        return placeholder("Claims", "no claim rows")
    names = list(dict.fromkeys(str(c.get("claim", "?")) for c in rows))
    sizes = [sum(str(c.get("claim", "?")) == n for c in rows) for n in names]
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.2 + 0.5 * len(names) + 0.24 * len(rows)), squeeze=False,
                             height_ratios=[s + 0.6 for s in sizes], layout="constrained")  # fmt: skip
    for ax, name in zip(axes[:, 0], names, strict=True):
        mine = [c for c in rows if str(c.get("claim", "?")) == name]
        for y, c in enumerate(mine):
            iv, verdict = interval(c), str(c.get("verdict", "no verdict"))
            color = VERDICT_COLORS.get(verdict, "#555555")
            ax.text(
                1.01, y, verdict, transform=ax.get_yaxis_transform(), va="center", fontsize=7, color=color
            )
            if iv is None:
                ax.text(0, y, f" no value ({verdict})", va="center", fontsize=7, color="#888888")
                continue
            diff, lo, hi = iv
            ax.errorbar(diff, y, xerr=[[diff - lo], [hi - diff]], fmt="o", ms=4, capsize=3, color=color)
        arrows = {"higher": "\u2191", "lower": "\u2193"}
        labels = [f"{c.get('split', '?')}/{c.get('lang', '?')}  {c.get('metric', '?')} "
                  f"{arrows.get(str(c.get('direction')), '')}" for c in mine]  # fmt: skip
        ax.set_yticks(range(len(mine)), labels, fontsize=7)
        ax.set_ylim(len(mine) - 0.5, -0.5)
        ax.axvline(0, color="black", lw=0.8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
        # why: a "1e-5" multiplier at the axis corner collides with the next panel and the x label
        ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        ax.set_title(f"{name}   [A - B = {mine[0].get('comparison', '?')}]", fontsize=8.5, loc="left")
    axes[-1, 0].set_xlabel("paired difference A - B, 95% hierarchical interval (seeds, then clips); "
                           "\u2191 / \u2193: the claimed direction", fontsize=8)  # fmt: skip
    shown = [v for v in VERDICT_MEANINGS if any(str(c.get("verdict")) == v for c in rows)]
    handles = [Line2D([], [], color=VERDICT_COLORS[v], marker="o", ls="-", ms=4) for v in shown]
    fig.legend(handles, [f"{v}: {VERDICT_MEANINGS[v]}" for v in shown], fontsize=7.5, ncol=2,
               loc="outside lower center", frameon=False, title="verdict (colour of each row)", title_fontsize=8)  # fmt: skip
    fig.suptitle(
        "The paper's claims on this run: paired difference per metric, coloured by verdict", fontsize=11
    )
    return fig


def preference_size_curve(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None = None) -> Figure:
    """One panel per metric: the metric against the fraction of the preference pairs PO trained on (log2 axis,
    the pair count under each tick), one line per split/language; rows of ``extras.json`` ``preference_size``
    (``{"fraction", "pairs", "seed", "split", "lang", "metric", "value"}``). With several seeds the line is their
    mean and a band their min-max; with one seed the title says so and no band is drawn."""
    import matplotlib.pyplot as plt

    usable = [r for r in rows if isinstance(r, Mapping) and number(r.get("fraction")) and
              number(r.get("value")) is not None]  # fmt: skip
    chosen = list(metrics) if metrics else sorted({str(r.get("metric")) for r in usable})
    usable = [r for r in usable if str(r.get("metric")) in chosen]
    if not usable:
        return placeholder("Preference-set size", "no row has a fraction and a value")
    chosen = [m for m in chosen if any(str(r.get("metric")) == m for r in usable)]
    fig, axes = plt.subplots(
        1, len(chosen), figsize=(3.2 * len(chosen), 3.3), squeeze=False, layout="constrained"
    )
    seeds = sorted({str(r.get("seed")) for r in usable})
    for ax, metric in zip(axes[0], chosen, strict=True):
        mine = [r for r in usable if str(r.get("metric")) == metric]
        for split, lang in sorted({(str(r.get("split")), str(r.get("lang"))) for r in mine}):
            cell = [r for r in mine if str(r.get("split")) == split and str(r.get("lang")) == lang]
            fracs = sorted({float(r["fraction"]) for r in cell})
            vals = [[float(r["value"]) for r in cell if float(r["fraction"]) == f] for f in fracs]
            means = [sum(v) / len(v) for v in vals]
            line = ax.plot(fracs, means, marker="o", lw=1.3, label=f"{split}/{lang}")[0]
            if len(seeds) > 1:
                ax.fill_between(fracs, [min(v) for v in vals], [max(v) for v in vals], color=line.get_color(),
                                alpha=0.2, lw=0)  # fmt: skip
        ax.set_xscale("log", base=2)
        pairs = {float(r["fraction"]): r.get("pairs") for r in mine if number(r.get("pairs")) is not None}
        ticks = sorted({float(r["fraction"]) for r in mine})
        ax.set_xticks(
            ticks, [f"{t:g}\n({pairs[t]:.0f})" if t in pairs else f"{t:g}" for t in ticks], fontsize=7
        )
        ax.minorticks_off()
        ax.set_xlabel("fraction of the pairs (pairs)", fontsize=8)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=len(labels))
    how = (f"one seed (seed {seeds[0]}), no interval" if len(seeds) == 1
           else f"mean over {len(seeds)} seeds, band: the seeds' min-max")  # fmt: skip
    fig.suptitle(f"PO on a fraction of the preference pairs: each metric after PO against the fraction; {how}",
                 fontsize=10)  # fmt: skip
    return fig


def sweep_curves(
    rows: Sequence[Mapping[str, Any]],
    *,
    x: str,
    series: Sequence[str],
    title: str,
    xlabel: str,
    metrics: Sequence[str] = ("cider", "slot_accuracy", "factual_hallucination", "speech_text_kl"),
    symlog: bool = False,
) -> Figure:
    """One panel per metric: the metric against ``x``, one line per combination of the ``series`` keys (e.g.
    split and language, or system and language); rows of ``extras.json`` (``{x, *series, "metric", "value"}``).
    ``symlog``: a symmetric log x axis (the KD weight, which includes 0)."""
    import matplotlib.pyplot as plt

    usable = [r for r in rows if isinstance(r, Mapping) and number(r.get(x)) is not None
              and number(r.get("value")) is not None and str(r.get("metric")) in metrics]  # fmt: skip
    chosen = [m for m in metrics if any(str(r.get("metric")) == m for r in usable)]
    if not chosen:
        return placeholder(title, f"no row has a numeric {x} and value")
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.5 * len(chosen), 3.2), squeeze=False)
    legend_keys: set[tuple[str, ...]] = set()
    for n, (ax, metric) in enumerate(zip(axes[0], chosen, strict=True)):
        mine = [r for r in usable if str(r.get("metric")) == metric]
        keys = sorted({tuple(str(r.get(k)) for k in series) for r in mine})
        if n == 0:
            legend_keys = set(keys)
        elif (
            not set(keys) <= legend_keys
        ):  # a series the shared legend does not name (e.g. "valid both"): say it here
            metric = f"{metric} ({', '.join(' '.join(k) for k in keys)})"
        for key in keys:
            cell = [r for r in mine if tuple(str(r.get(k)) for k in series) == key]
            xs = sorted({float(r[x]) for r in cell})
            ys = [sum(float(r["value"]) for r in cell if float(r[x]) == v) / sum(float(r[x]) == v for r in cell)
                  for v in xs]  # fmt: skip
            ax.plot(xs, ys, marker="o", lw=1.3, label=" ".join(key))
        if symlog:
            ax.set_xscale("symlog", linthresh=0.3)
        ticks = sorted({float(r[x]) for r in mine})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=7)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, labels, fontsize=7, loc="lower center", ncol=min(6, len(labels)), bbox_to_anchor=(0.5, -0.02)
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def truth_judge_bars(
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] = ("factual_hallucination", "slot_accuracy", "cider", "repetition"),
) -> Figure:
    """PO's judge against its upper bound: per metric and language, the model before PO, after PO with the
    analyzer judge and after PO with the oracle-truth judge (``extras.json`` ``truth_judge``)."""
    import matplotlib.pyplot as plt
    import numpy as np

    usable = [r for r in rows if isinstance(r, Mapping) and number(r.get("value")) is not None]
    chosen = [m for m in metrics if any(str(r.get("metric")) == m for r in usable)]
    if not chosen:
        return placeholder("PO's judge vs the oracle-truth judge", "no row has a value")
    judges = list(dict.fromkeys(str(r.get("judge_clues")) for r in usable))
    order = [j for j in ("none (before PO)", "analyzer", "truth") if j in judges] + [
        j for j in judges if j not in ("none (before PO)", "analyzer", "truth")
    ]
    langs = sorted({str(r.get("lang")) for r in usable})
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.0), squeeze=False)
    width = 0.8 / max(1, len(order))
    colors = {"none (before PO)": "#9a9a9a", "analyzer": KD_COLOR, "truth": "#d4a017"}
    for ax, metric in zip(axes[0], chosen, strict=True):
        for k, judge in enumerate(order):
            vals = []
            for lang in langs:
                hit = [float(r["value"]) for r in usable
                       if str(r.get("metric")) == metric and str(r.get("lang")) == lang and str(r.get("judge_clues")) == judge]  # fmt: skip
                vals.append(hit[0] if hit else np.nan)
            ax.bar(np.arange(len(langs)) + (k - (len(order) - 1) / 2) * width, vals, width,
                   label=judge, color=colors.get(judge))  # fmt: skip
        ax.set_xticks(range(len(langs)), langs)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(
        "PO's judge (analyzer clues) against its upper bound (the corpus truth), one seed", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
