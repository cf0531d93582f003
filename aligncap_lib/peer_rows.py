"""Rows that put our numbers in context: SECap's released outputs (a real peer) and reference ceilings.

- :func:`secap_peer_row`: SECap's own generated captions on secap-dev (``result/result.txt``: the first
  ``result:`` line of each ``file:`` block is the hypothesis, its ``origin:`` line the reference), scored by
  :func:`aligncap_lib.evaluation.evaluate_captions` exactly as our models are (Chinese, ``zh_char`` tokens).
- :func:`reference_ceiling`: on the synthetic corpus, each reference caption scored against the *other*
  references of its clip (leave-one-out over references; clips with one reference are skipped). It is what a
  caption indistinguishable from a human-style reference reaches, so model scores above it mean template
  recall, and the gap below it is the room left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aligncap_lib.evaluation import EvaluationConfig, EvaluationResult, evaluate_captions

SECAP_ENV = "SECAP_DIR"


def find_secap_dir(path: str | Path | None = None) -> Path | None:
    """``path``, else ``$SECAP_DIR``, else ``<repo>/../shared/secap-dev``; None when none holds ``result/``."""
    import os

    from aligncap_lib.reproducibility import repo_root

    candidates = [Path(path)] if path else []
    if os.environ.get(SECAP_ENV):
        candidates.append(Path(os.environ[SECAP_ENV]))
    candidates.append(repo_root().parent / "shared" / "secap-dev")
    return next((c for c in candidates if (c / "result" / "result.txt").is_file()), None)


def read_secap_results(secap_dir: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(references, SECap's first sampled output) by file id, from ``result/result.txt``.

    Uses the corpus stage's SECap loader when it provides one (``aligncap_lib.secap.read_results``), else
    this minimal reader of the documented block layout.
    """
    try:
        from aligncap_lib import secap  # type: ignore[attr-defined]

        reader = getattr(secap, "read_results", None)
    except ImportError:
        reader = None
    if reader is not None:
        loaded = reader(secap_dir)
        return dict(loaded[0]), dict(loaded[1])
    path = Path(secap_dir) / "result" / "result.txt"
    refs: dict[str, str] = {}
    hyps: dict[str, str] = {}
    for n, block in enumerate(path.read_text(encoding="utf-8").split("\n\n"), 1):
        fields: dict[str, str] = {}
        for line in block.strip().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())  # the first "result:" line only
        if not fields:
            continue
        if not {"file", "origin", "result"} <= set(fields):
            raise ValueError(f"{path}: block {n} lacks file/origin/result lines")
        fid = Path(fields["file"]).stem
        refs[fid], hyps[fid] = fields["origin"], fields["result"]
    return refs, hyps


def secap_peer_row(
    secap_dir: str | Path | None = None, *, config: EvaluationConfig | None = None
) -> EvaluationResult:
    """SECap's released outputs scored by our evaluation (raises ``FileNotFoundError`` without the data)."""
    found = find_secap_dir(secap_dir)
    if found is None:
        raise FileNotFoundError(f"no SECap results found (pass a path or set ${SECAP_ENV})")
    refs, hyps = read_secap_results(found)
    return evaluate_captions(refs, hyps, "zh", config=config)


def leave_one_out_pairs(records: Iterable[Mapping[str, Any]], lang: str) -> tuple[dict, dict, dict]:
    """From manifest records: (refs, hyps, records) keyed ``<clip id>#<k>``, where hyp = reference k of the
    clip and refs = its other references. Records of another language or with < 2 captions are skipped."""
    refs: dict[str, list[str]] = {}
    hyps: dict[str, str] = {}
    recs: dict[str, Mapping[str, Any]] = {}
    for rec in records:
        caps = [str(c) for c in rec.get("captions") or []]
        if rec.get("lang") != lang or len(caps) < 2:
            continue
        for k, cap in enumerate(caps):
            key = f"{rec['id']}#{k}"
            hyps[key], refs[key], recs[key] = cap, caps[:k] + caps[k + 1 :], rec
    return refs, hyps, recs


def reference_ceiling(
    records: Iterable[Mapping[str, Any]], lang: str, *, config: EvaluationConfig | None = None
) -> EvaluationResult:
    """Each reference against the other references of its clip (see the module docstring)."""
    refs, hyps, recs = leave_one_out_pairs(records, lang)
    if not hyps:
        raise ValueError(f"no {lang} clip with at least two reference captions")
    return evaluate_captions(refs, hyps, lang, records=recs, config=config)
