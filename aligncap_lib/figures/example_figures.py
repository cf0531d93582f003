"""The example-captions table as a figure (notebook 08): for a few clips, the reference caption and each
variant's caption, wrapped, one block per clip.

Rows come from ``ablations.json`` ``examples``: ``[{"clip", "split", "lang", "reference", <variant>: caption}]``.
Chinese captions need a font with CJK glyphs; matplotlib's bundled DejaVu has none, so :func:`cjk_font` looks
for one installed on the machine (``fc-list :lang=zh`` lists them). Without one, Chinese rows are left out and
the figure says so: boxes instead of characters would look like a broken model.
"""

from __future__ import annotations

import functools
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aligncap_lib.captioner.variants import VARIANT_ORDER
from aligncap_lib.figures.claim_figures import placeholder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Families tried first (common CJK fonts on Linux, macOS and Windows); any other font with the glyphs also works.
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
    "Droid Sans Fallback", "AR PL UMing CN", "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC",
)  # fmt: skip
#: Fields of an example row that are not captions.
META_KEYS: tuple[str, ...] = ("clip", "split", "lang", "reference")
LINE_IN = 0.16  # height of one 8-pt text line, inches
COLUMNS_IN = (1.7, 1.45, 6.0)  # clip | source | caption widths, inches; 6 in holds about 80 Latin characters


def _has_cjk_glyphs(path: str) -> bool:
    from matplotlib import ft2font

    try:
        return {ord(c) for c in "声音的"} <= set(ft2font.FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):  # an unreadable font file is skipped, not fatal
        return False


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font that has Chinese glyphs (checked on 声音的), or None.

    Looks in matplotlib's font list first, then asks fontconfig (``fc-list :lang=zh``) and registers what it
    finds: matplotlib caches its font list, so a font installed after that cache was built is otherwise
    invisible. "Last Resort" is skipped: matplotlib ships that font, which maps every code point to a box."""
    import shutil
    import subprocess

    from matplotlib import font_manager

    fonts = sorted(font_manager.fontManager.ttflist, key=lambda f: (f.name not in CJK_FAMILIES, f.name))
    for f in fonts:
        if not f.name.startswith("Last Resort") and _has_cjk_glyphs(f.fname):
            return str(f.name)
    if shutil.which("fc-list") is None:
        return None
    try:
        listed = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(listed.splitlines()):
        path = line.strip().rstrip(":")
        if path.lower().endswith((".ttf", ".otf", ".ttc")) and _has_cjk_glyphs(path):
            font_manager.fontManager.addfont(path)
            return str(font_manager.FontProperties(fname=path).get_name())
    return None


def _width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def has_cjk(text: str) -> bool:
    return any(_width(ch) == 2 for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` display columns (a CJK character counts 2). Latin text breaks at spaces;
    CJK text, which has none, between any two characters."""
    if not has_cjk(text):
        return textwrap.wrap(text, width) or [""]
    lines, line, used = [], "", 0
    for ch in text:
        if used + _width(ch) > width and line:
            lines.append(line)
            line, used = "", 0
        line, used = line + ch, used + _width(ch)
    return [*lines, line]


def example_table(
    examples: Sequence[Mapping[str, Any]],
    variants: Sequence[str] | None = None,
    *,
    max_examples: int = 8,
    width: int = 80,
    font: str | None = None,
) -> Figure:
    """A table figure: per example (at most ``max_examples``), a block with the reference and each variant's
    caption (``variants``: default every caption key, in :data:`VARIANT_ORDER` order then the rest), wrapped at
    ``width`` display columns. ``font``: a CJK-capable family (default :func:`cjk_font`); with none, rows
    whose text has CJK characters are dropped and the title says how many."""
    import matplotlib.pyplot as plt

    rows = [e for e in examples if isinstance(e, Mapping)]
    font = font or cjk_font()
    dropped = 0
    if font is None:
        kept = [e for e in rows if not any(isinstance(v, str) and has_cjk(v) for v in e.values())]
        dropped, rows = len(rows) - len(kept), kept
    rows = rows[:max_examples]
    note = (f"; {dropped} Chinese example(s) left out: no CJK font installed (fc-list :lang=zh is empty)"
            if dropped else "")  # fmt: skip
    if not rows:
        return placeholder("Example captions", f"no example to show{note}")
    if variants is None:
        keys = {k for e in rows for k in e if k not in META_KEYS}
        variants = [v for v in VARIANT_ORDER if v in keys] + sorted(keys - set(VARIANT_ORDER))
    blocks = []
    for e in rows:
        lines = [("reference", wrap(str(e.get("reference") or "-"), width))]
        lines += [(v, wrap(str(e[v]) if e.get(v) is not None else "(no caption)", width)) for v in variants]
        blocks.append((e, lines))
    total = sum(len(ls) for _, lines in blocks for _, ls in lines) + 0.4 * len(blocks)
    w = sum(COLUMNS_IN)
    fig = plt.figure(figsize=(w, 0.5 + LINE_IN * (total + 1.5)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(total + 1.5, 0)
    ax.axis("off")
    # Latin from DejaVu, CJK from the fallback (matplotlib falls back per glyph along the family list)
    family: dict[str, Any] = {"fontfamily": ["DejaVu Sans", font]} if font else {}
    x_source, x_caption = COLUMNS_IN[0], COLUMNS_IN[0] + COLUMNS_IN[1]
    for x, head in ((0.05, "clip (split / lang)"), (x_source, "caption of"), (x_caption, "caption")):
        ax.text(x, 0.6, head, fontsize=8, fontweight="bold", va="center")
    y = 1.5
    for i, (e, lines) in enumerate(blocks):
        height = sum(len(ls) for _, ls in lines) + 0.4
        if i % 2 == 0:
            ax.axhspan(y - 0.2, y + height - 0.2, color="#f2f2f2", zorder=0)
        clip = "\n".join(textwrap.wrap(str(e.get("clip", "?")), 22))
        ax.text(0.05, y, f"{clip}\n({e.get('split', '?')} / {e.get('lang', '?')})", fontsize=7, va="top")
        for source, ls in lines:
            bold = source in ("reference", "aligncap_full")
            ax.text(x_source, y, source, fontsize=7, va="top", fontweight="bold" if bold else "normal")
            ax.text(x_caption, y, "\n".join(ls), fontsize=8, va="top", linespacing=1.1, **family)
            y += len(ls)
        y += 0.4
    fig.suptitle(f"Example captions: reference vs variants{note}", fontsize=10, y=1.0, va="bottom")
    return fig
