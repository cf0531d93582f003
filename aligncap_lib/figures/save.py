"""The one way figures leave the notebooks: :func:`save_fig`, plus figures that belong to no single stage.

Every figure is written as PNG (for the README and notebooks) and PDF (for papers) under
``figures/`` for the committed ``cpu`` preset and ``figures/<preset>/`` otherwise (git-ignored for ``smoke``).
Metadata that would change between runs (creation dates, software versions) is stripped so that a re-run of
the same preset writes byte-identical PNGs on the same machine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from aligncap_lib.core.run_layout import RunLayout

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
DPI = 110  # our choice: legible in the README, small enough for committed notebooks (< 100 kB a figure)


def save_fig(fig: Figure, name: str, layout: RunLayout | str | None = None) -> dict[str, Path]:
    """Save ``fig`` as ``<figures dir>/<name>.png`` and ``.pdf``; returns ``{"png": path, "pdf": path}``.

    ``name`` says what the figure shows (lowercase, digits, ``_`` or ``-``), e.g. ``"kd_speech_text_kl"``.
    ``layout`` is a :class:`RunLayout` or a preset name (None: the resolved preset).
    """
    if not _NAME.match(name):
        raise ValueError(f"figure name {name!r} must be lowercase letters, digits, '_' or '-'")
    if not isinstance(layout, RunLayout):
        layout = RunLayout.for_preset(layout)
    out = layout.figures
    out.mkdir(parents=True, exist_ok=True)
    paths = {"png": out / f"{name}.png", "pdf": out / f"{name}.pdf"}
    fig.savefig(paths["png"], dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(
        paths["pdf"],
        bbox_inches="tight",
        metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
    )
    return paths


#: The AlignCap pipeline as boxes: (label, paper section / stage module) in order.
PIPELINE: tuple[tuple[str, str], ...] = (
    ("speech\n(espeak-ng corpus\nor your audio)", "speech_corpus"),
    ("EnCodec RVQ\nspeech tokens", "speech_tokens"),
    ("emotion grammar\nparser + acoustic\nprompt", "emotion_clues"),
    ("LLM captioner\n(LoRA student)", "captioner"),
    ("KD-Regularization\nKL(text teacher ||\nspeech student)", "kd_regularization"),
    ("PO-Regularization\njudge -> pairs\n-> DPO", "po_regularization"),
    ("evaluation\nBLEU, METEOR,\nROUGE-L, CIDEr\n+ hallucination", "evaluation"),
)


def pipeline_overview() -> Figure:
    """The pipeline in one picture: one box per stage, arrows in execution order."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(13, 2.6))
    ax.set_xlim(0, len(PIPELINE))
    ax.set_ylim(0, 1)
    ax.axis("off")
    colors = ("#d9e8f5", "#d9e8f5", "#fbe5c8", "#e3f1d9", "#e3f1d9", "#f6d5d5", "#ececec")
    for i, ((label, module), color) in enumerate(zip(PIPELINE, colors, strict=True)):
        box = FancyBboxPatch((i + 0.06, 0.22), 0.88, 0.62, boxstyle="round,pad=0.02", fc=color, ec="#555555")
        ax.add_patch(box)
        ax.text(i + 0.5, 0.55, label, ha="center", va="center", fontsize=8)
        ax.text(
            i + 0.5, 0.1, module, ha="center", va="center", fontsize=7, family="monospace", color="#444444"
        )
        if i < len(PIPELINE) - 1:
            ax.annotate("", xy=(i + 1.06, 0.53), xytext=(i + 0.94, 0.53), arrowprops={"arrowstyle": "->"})
    ax.set_title("AlignCap companion: the pipeline (module names under the boxes)", fontsize=10)
    return fig
