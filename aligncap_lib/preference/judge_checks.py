"""Checking the preference judges: against the synthetic ground truth, and on real speech (SECap).

- :func:`chosen_truly_better`: on the synthetic ``pref`` split, how often a pair's chosen caption is truly more
  factual than the rejected one by the corpus ground truth (which the judge never sees).
- :func:`rank_secap`: on real speech (``../shared/secap-dev``), how a judge ranks SECap's sampled outputs per
  clip against closeness to the human reference caption.

Human preferences (the file a lab fills in, and its protocol) live in :mod:`aligncap_lib.preference.human_preferences`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aligncap_lib.clues import acoustic_analyzer
from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.core.audio_io import read_audio
from aligncap_lib.corpus import prosody
from aligncap_lib.corpus.secap import find_secap_dir, load_secap, parse_results
from aligncap_lib.evaluation.hallucination import parse_claims, slot_accuracy
from aligncap_lib.evaluation.similarity import default_encoder
from aligncap_lib.preference.judges import ClipContext

_CJK = re.compile(r"[\u3400-\u9fff]")


def _text(value: Any) -> Any:
    """A pair side as text: a string, or trl's conversational form (the last message's content)."""
    if isinstance(value, list) and value and isinstance(value[-1], Mapping):
        return value[-1].get("content")
    return value


# -- the synthetic check ---------------------------------------------------------------------------------
def chosen_truly_better(
    pairs: Sequence[Mapping[str, Any]],
    truth: Mapping[str, Mapping[str, str | None]],
    *,
    expect_normal: bool = False,
) -> dict[str, Any]:
    """How often ``chosen`` is truly more factual than ``rejected``, against ``truth`` (id -> slot -> bin).

    Two measures per pair, each with counts and shares of ``chosen_better`` / ``tie`` / ``rejected_better``:
    ``slot_accuracy`` (expected true slots stated with the true bin, as in :mod:`aligncap_lib.evaluation.hallucination`)
    and ``contradictions`` (verifiable claims that contradict the truth; fewer is better). Language: the pair's
    ``lang``, else Chinese when the captions contain CJK characters. Pairs without truth are skipped and listed.
    """
    rows: list[tuple[str, str, str, Mapping[str, str | None]]] = []
    skipped: list[str] = []
    for k, p in enumerate(pairs):
        cid, chosen, rejected = p.get("id"), _text(p.get("chosen")), _text(p.get("rejected"))
        if not (isinstance(chosen, str) and isinstance(rejected, str)):
            raise ValueError(f"pair {k} (clip {cid!r}): chosen and rejected must be texts")
        if not isinstance(cid, str) or cid not in truth:
            skipped.append(str(cid))
            continue
        lang = p.get("lang") or ("zh" if _CJK.search(chosen + rejected) else "en")
        rows.append((lang, chosen, rejected, {s: truth[cid].get(s) for s in SLOTS}))
    acc_c, acc_r, con_c, con_r = [], [], [], []
    for lang, chosen, rejected, t in rows:
        (cc, cr), _ = parse_claims([chosen, rejected], lang)
        num, den = slot_accuracy([cc, cr], [t, t], expect_normal=expect_normal)
        acc = num / np.maximum(den, 1)
        acc_c.append(float(acc[0]))
        acc_r.append(float(acc[1]))
        con_c.append(sum(cc[s] != v for s, v in t.items() if s in cc and v is not None))
        con_r.append(sum(cr[s] != v for s, v in t.items() if s in cr and v is not None))
    n = len(rows)

    def tally(better: list[bool], worse: list[bool]) -> dict[str, Any]:
        counts = {"chosen_better": int(sum(better)), "rejected_better": int(sum(worse))}  # plain ints: JSON
        counts["tie"] = n - counts["chosen_better"] - counts["rejected_better"]
        shares = {f"{k}_share": (v / n if n else None) for k, v in counts.items()}
        return {**counts, **shares}

    eps = 1e-12
    return {
        "pairs": n,
        "skipped_no_truth": skipped,
        "slot_accuracy": tally(
            [c > r + eps for c, r in zip(acc_c, acc_r, strict=True)],
            [r > c + eps for c, r in zip(acc_c, acc_r, strict=True)],
        ),  # fmt: skip
        "contradictions": tally(
            [c < r for c, r in zip(con_c, con_r, strict=True)],
            [r < c for c, r in zip(con_c, con_r, strict=True)],
        ),  # fmt: skip
        "mean_slot_accuracy": {
            "chosen": float(np.mean(acc_c)) if n else None,
            "rejected": float(np.mean(acc_r)) if n else None,
        },  # fmt: skip
    }


# -- the real-data check ---------------------------------------------------------------------------------
def clue_agreement(caption: Mapping[str, str], descriptors: Sequence[str],
                   ref: Mapping[str, str], ref_descriptors: Sequence[str]) -> float | None:  # fmt: skip
    """F1 between a caption's clue set and the reference's (``slot=bin`` items and descriptors); None when the
    reference states no clue."""
    r = {f"{s}={v}" for s, v in ref.items()} | set(ref_descriptors)
    if not r:
        return None
    c = {f"{s}={v}" for s, v in caption.items()} | set(descriptors)
    hit = len(c & r)
    return 2 * hit / (len(c) + len(r)) if hit else 0.0


def measure_secap(
    records: Sequence[Mapping[str, Any]], norms: Any = None
) -> dict[str, dict[str, str | None]]:
    """id -> analyzer clues of SECap clips (Praat; syllables = CJK characters of the transcript; population
    norms, because the speakers are unknown). Clips that fail are measured as all-None and warned about."""
    import warnings

    out: dict[str, dict[str, str | None]] = {}
    for r in records:
        try:
            wave, sr, _ = read_audio(r["audio"])
            syllables = len(_CJK.findall(r.get("text") or "")) or None
            m = prosody.measure(wave, sr, syllables=syllables)
            out[r["id"]] = acoustic_analyzer.analyze_measurements(m, "zh", norms)
        except (OSError, ValueError, RuntimeError) as exc:  # batch: report, keep the others
            warnings.warn(f"{r['id']}: not measured ({exc})", stacklevel=2)
            out[r["id"]] = dict.fromkeys(SLOTS)
    return out


def _top_hit(judge: Sequence[float], target: Sequence[float]) -> tuple[float, float]:
    """Expected share of picks, among the judge's tied best, that are also among the target's tied best; and
    the same for a random pick (chance)."""
    j, t = np.asarray(judge), np.asarray(target)
    jt, tt = np.isclose(j, j.max()), np.isclose(t, t.max())
    return float((jt & tt).sum() / jt.sum()), float(tt.sum() / len(t))


def rank_secap(
    judge: Any,
    secap_dir: str | os.PathLike[str] | None = None,
    *,
    norms: Any = None,
    measured: Mapping[str, Mapping[str, str | None]] | None = None,
    encoder: Any = None,
    with_reference: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """Score SECap's sampled outputs (``result/result.txt``: five per clip) with ``judge`` and compare its
    per-clip ranking with closeness to the human reference: ``clue`` (:func:`clue_agreement`) and
    ``similarity`` (cosine under ``encoder``, default :func:`similarity.default_encoder`).

    The judge's clip context: ``measured`` clues (default :func:`measure_secap` with ``norms``), the transcript,
    and no references, unless ``with_reference`` (then the judge sees the very caption it is compared with:
    circular, an upper bound only). Per target: mean Spearman over clips where both rankings vary, the expected
    top-pick hit rate and its chance level. ``limit``: the first clips only (tests).
    """
    from scipy.stats import spearmanr

    root = find_secap_dir(secap_dir)
    if root is None:
        raise FileNotFoundError(
            f"SECap data not found (looked at {secap_dir!r}, $SECAP_DIR, ../shared/secap-dev)"
        )
    records, problems = load_secap(root, "secap_dev")
    outputs, bad_blocks = parse_results(root / "result" / "result.txt")
    records = [r for r in records if r["id"] in outputs][:limit]
    if measured is None:
        measured = measure_secap(records, norms)
        measured_from = "acoustic_analyzer (Praat, population norms" + (
            ", fitted emotion)" if norms else ", no emotion)"
        )
    else:
        measured_from = "given"
    if encoder is None:
        encoder = default_encoder()
    items, owner = [], []
    for r in records:
        ref = r["captions"][0]
        ctx = ClipContext(id=r["id"], lang="zh", measured=dict(measured.get(r["id"], {})),
                          references=(ref,) if with_reference else (), transcript=r.get("text") or None)  # fmt: skip
        for text in outputs[r["id"]]["results"]:
            items.append((text, ctx))
            owner.append(r)
    scores = [s.score for s in judge.score_many(items)]
    texts = [t for t, _ in items]
    claims, descs = parse_claims(texts, "zh")
    refs = [r["captions"][0] for r in records]
    ref_claims, ref_descs = parse_claims(refs, "zh")
    ref_at = {r["id"]: k for k, r in enumerate(records)}
    vecs = np.asarray(encoder.encode(sorted(set(texts) | set(refs))), dtype=np.float64)
    row = {t: i for i, t in enumerate(sorted(set(texts) | set(refs)))}
    per_clip: list[dict[str, Any]] = []
    stats: dict[str, list[tuple[float, float, float]]] = {"clue": [], "similarity": []}
    k = 0
    for r in records:
        n = len(outputs[r["id"]]["results"])
        idx = range(k, k + n)
        k += n
        q = ref_at[r["id"]]
        rc = {s: v for s, v in ref_claims[q].items() if v != "<conflict>"}
        clue = [clue_agreement(claims[i], descs[i], rc, ref_descs[q]) for i in idx]
        sim = [float(vecs[row[texts[i]]] @ vecs[row[refs[q]]]) for i in idx]
        js = [scores[i] for i in idx]
        entry: dict[str, Any] = {"id": r["id"], "judge": js, "clue": clue, "similarity": sim}
        for name, target in (("clue", clue), ("similarity", sim)):
            if any(v is None for v in target):
                continue
            tv = [float(v) for v in target if v is not None]
            rho = spearmanr(js, tv)[0] if np.ptp(js) > 1e-12 and np.ptp(tv) > 1e-12 else math.nan
            hit, chance = _top_hit(js, tv)
            entry[f"spearman_{name}"] = None if math.isnan(rho) else float(rho)
            stats[name].append((rho, hit, chance))
        per_clip.append(entry)
    summary: dict[str, Any] = {}
    for name, rows in stats.items():
        rhos = [x[0] for x in rows if not math.isnan(x[0])]
        summary[name] = {
            "clips": len(rows),
            "clips_ranked": len(rhos),  # both rankings vary (else Spearman is undefined)
            "mean_spearman": float(np.mean(rhos)) if rhos else None,
            "top_hit": float(np.mean([x[1] for x in rows])) if rows else None,
            "top_chance": float(np.mean([x[2] for x in rows])) if rows else None,
        }
    return {"judge": getattr(judge, "name", type(judge).__name__), "clips": len(records),
            "outputs": len(items), "measured_from": measured_from, "with_reference": with_reference,
            **summary, "problems": problems + bad_blocks, "per_clip": per_clip}  # fmt: skip
