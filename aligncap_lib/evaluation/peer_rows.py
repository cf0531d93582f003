"""Rows that put our numbers in context: SECap's released outputs (a real peer) and reference ceilings.

- :func:`secap_peer_row`: SECap's own generated captions on secap-dev (``result/result.txt``: the first
  ``result:`` line of each ``file:`` block is the hypothesis, its ``origin:`` line the reference), scored by
  :func:`aligncap_lib.evaluation.scoring.evaluate_captions` exactly as our models are (Chinese, ``zh_char`` tokens).
- :func:`reference_ceiling`: on the synthetic corpus, each reference caption scored against the *other*
  references of its clip (leave-one-out over references; clips with one reference are skipped). It is what a
  caption indistinguishable from a human-style reference reaches, so model scores above it mean template
  recall, and the gap below it is the room left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aligncap_lib.corpus import secap
from aligncap_lib.evaluation.scoring import EvaluationConfig, EvaluationResult, evaluate_captions


def read_secap_results(secap_dir: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(reference ``origin:``, SECap's first ``result:`` line) by file id, read by :func:`aligncap_lib.corpus.secap.
    parse_results`; a malformed block is an error naming it (the peer row must cover every clip)."""

    parsed, errors = secap.parse_results(Path(secap_dir) / "result" / "result.txt")
    if errors:
        raise ValueError(f"SECap results: {len(errors)} problem(s), e.g. {errors[0]}")
    return {k: v["origin"] for k, v in parsed.items()}, {k: v["results"][0] for k, v in parsed.items()}


def secap_peer_row(
    secap_dir: str | Path | None = None, *, config: EvaluationConfig | None = None
) -> EvaluationResult:
    """SECap's released outputs scored by our evaluation (raises ``FileNotFoundError`` without the data)."""
    found = secap.find_secap_dir(secap_dir, with_results=True)
    if found is None:
        raise FileNotFoundError("no SECap results found (pass a path or set $SECAP_DIR)")
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
