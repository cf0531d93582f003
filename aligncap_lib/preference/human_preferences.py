"""Human preferences: the file format a lab fills in, turned into preference pairs, and the protocol.

AlignCap aligns the captioner to *human* preferences through a GPT-3.5 judge; this module lets a lab swap in
real human judgements. :func:`load_human_preferences` reads the JSONL below (every line validated, bad lines
named) and returns pairs in the shape the pair builder uses; :data:`HUMAN_PROTOCOL` is the text below, for a
notebook to print.

Human preference protocol
-------------------------
1. Sample: take 50-100 clips of the ``pref`` split (or your own audio), with 4-8 candidate captions each
   (``runs/<preset>/pairs/<variant>/seed<k>/candidates.json``). Shuffle the candidates per clip and hide which
   model or sample wrote them.
2. Raters: at least 2 per clip, fluent in the caption language, who listen to the clip (headphones, quiet
   room) before reading the captions. They do not see the judge's scores.
3. Rate each caption 1-5: 5 = every stated emotion and voice attribute is right and the main ones are said;
   4 = right but misses something salient; 3 = partly wrong or vague; 2 = mostly wrong; 1 = wrong emotion, not
   a description of the voice, or the wrong language. Rate factual content first, fluency only to break ties.
4. Write one JSON object per line, UTF-8, either a rating ``{"id": "<clip id>", "caption": "<exact text>",
   "rating": 1-5, "annotator": "<rater code>"}`` or a direct choice ``{"id": ..., "chosen": "<text>",
   "rejected": "<text>", "annotator": ...}``. Use rater codes, never names.
5. Pairs: per clip, ratings are averaged per caption over raters; chosen = the best caption, rejected = the
   worst, kept when they differ by at least ``margin`` (default 1.0 point). Report the raters' agreement
   (e.g. Spearman between two raters over shared captions) next to any result.
6. Train with ``judge = "human"`` and ``human_preferences = <file>`` in the PO config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

#: The rating scale of the protocol (a 5-point scale: our choice, the usual one for human quality ratings).
RATING_SCALE = (1.0, 5.0)


def human_protocol() -> str:
    """The protocol section of this module's docstring (for a notebook to print)."""
    doc = __doc__ or ""  # empty under python -OO
    start = doc.find("Human preference protocol")
    return doc[start:].strip() if start >= 0 else ""


HUMAN_PROTOCOL = human_protocol()


def _check_line(obj: Any) -> str | None:
    """The problem with one parsed line, or None."""
    if not isinstance(obj, dict):
        return "expected a JSON object"
    if not (isinstance(obj.get("id"), str) and obj["id"].strip()):
        return "'id' must be a non-empty string"
    if "chosen" in obj or "rejected" in obj:
        for key in ("chosen", "rejected", "annotator"):
            if not (isinstance(obj.get(key), str) and obj[key].strip()):
                return f"a pair line needs a non-empty string {key!r}"
        return (
            "'chosen' and 'rejected' are the same text"
            if obj["chosen"].strip() == obj["rejected"].strip()
            else None
        )
    if "caption" in obj or "rating" in obj:
        if not (isinstance(obj.get("caption"), str) and obj["caption"].strip()):
            return "a rating line needs a non-empty string 'caption'"
        v = obj.get("rating")
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or not RATING_SCALE[0] <= v <= RATING_SCALE[1]
        ):
            return f"'rating' must be a number in {RATING_SCALE}, got {v!r}"
        if "annotator" in obj and not (isinstance(obj["annotator"], str) and obj["annotator"].strip()):
            return "'annotator' must be a non-empty string when given"
        return None
    return "neither a pair (id, chosen, rejected, annotator) nor a rating (id, caption, rating)"


def load_human_preferences(path: str | os.PathLike[str], *, margin: float = 1.0) -> list[dict[str, Any]]:
    """Human preference pairs from a JSONL file of pair and/or rating lines (:data:`HUMAN_PROTOCOL`).

    Every line is validated; any bad line raises ValueError naming each bad ``file:line``. Returns pairs
    ``{"id", "chosen", "rejected", "annotator", "source"}`` (``source`` = "pair" | "ratings"; rating pairs
    also carry ``chosen_rating``/``rejected_rating``, means over raters, and their gap is >= ``margin``).
    """
    p = Path(path)
    errors: list[str] = []
    lines: list[dict[str, Any]] = []
    for n, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(f"{p.name}:{n}: not JSON ({exc.msg})")
            continue
        problem = _check_line(obj)
        if problem:
            errors.append(f"{p.name}:{n}: {problem}")
        else:
            lines.append(obj)
    if errors:
        more = f" (+{len(errors) - 20} more)" if len(errors) > 20 else ""
        raise ValueError(f"{len(errors)} bad line(s) in {p}: " + "; ".join(errors[:20]) + more)
    pairs: list[dict[str, Any]] = []
    ratings: dict[str, dict[str, list[float]]] = {}  # id -> caption -> ratings, in file order
    raters: dict[str, set[str]] = {}
    for obj in lines:
        if "chosen" in obj:
            pairs.append({"id": obj["id"], "chosen": obj["chosen"].strip(), "rejected": obj["rejected"].strip(),
                          "annotator": obj["annotator"], "source": "pair"})  # fmt: skip
        else:
            ratings.setdefault(obj["id"], {}).setdefault(obj["caption"].strip(), []).append(
                float(obj["rating"])
            )
            raters.setdefault(obj["id"], set()).add(obj.get("annotator", "unknown"))
    for cid, by_caption in ratings.items():
        means = {c: float(np.mean(v)) for c, v in by_caption.items()}
        best = max(means, key=lambda c: means[c])  # ties: the first in file order
        worst = min(means, key=lambda c: means[c])
        if best != worst and means[best] - means[worst] >= margin:
            pairs.append({"id": cid, "chosen": best, "rejected": worst, "annotator": "+".join(sorted(raters[cid])),
                          "source": "ratings", "chosen_rating": means[best], "rejected_rating": means[worst]})  # fmt: skip
    return pairs
