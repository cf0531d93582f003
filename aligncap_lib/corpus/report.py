"""The corpus report: what the verification found, and how hard the labels are to predict.

- ``agreement_before_verification``: share of first renderings whose measured bin equals the intended bin,
  per slot and per intended bin (the generator's honesty before any re-sampling);
- ``drop_rate``: per slot and intended bin, share of clips dropped with that slot still disagreeing;
- ``splits``: per split and language, clips and the voices, families and genders they come from;
- ``class_balance``: per language and split, counts of emotions and of each slot's bins (``null`` counted);
- ``emotion_predicts_attribute``: accuracy of the best emotion -> bin rule (majority bin per emotion, fit on
  train, scored on the test splits) next to the majority-bin baseline;
- ``opensmile_agreement``: bins from openSMILE eGeMAPS low-level descriptors (see
  :mod:`aligncap_lib.corpus.opensmile_check`; thresholds fit on half the cross-check clips, scored on the other half)
  against the Praat labels;
- ``probe_ceiling``: a logistic probe on the clips' own Praat features (train -> test_seen, test_zeroshot),
  the ceiling later stages compare speech-token probes with.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from aligncap_lib.core.attributes import ACOUSTIC_SLOTS, SLOT_BINS, SLOTS
from aligncap_lib.corpus.opensmile_check import opensmile_agreement

PROBE_FEATURES = (
    "f0_re_norm_st",
    "f0_range_st",
    "f0_tremor_st",
    "syllables_per_s",
    "rms_dbfs",
    "jitter_local",
    "shimmer_local",
    "hnr_db",
    "pause_share",
    "voiced_share",
    "f0_final_st",
    "f0_slope_st",
    "intensity_slope_db",
    "intensity_attack_db",
    "intensity_final_db",
    "pause_count",
)


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def corpus_report(results: Sequence[dict[str, Any]], cfg: Any) -> dict[str, Any]:
    records = [r["record"] for r in results if r["record"] is not None]
    tried = [r for r in results if r.get("first_bins") is not None]
    agree: dict[str, Any] = {}
    drop: dict[str, Any] = {}
    for slot in ACOUSTIC_SLOTS:
        per_bin, per_bin_drop = {}, {}
        for b in SLOT_BINS[slot]:
            group = [r for r in tried if r["plan"]["intent"][slot] == b]
            per_bin[b] = _share(sum(r["first_bins"][slot] == b for r in group), len(group))
            per_bin_drop[b] = _share(
                sum(r["record"] is None and slot in r["disagree"] for r in group), len(group)
            )
        agree[slot] = {
            "all": _share(sum(r["first_bins"][slot] == r["plan"]["intent"][slot] for r in tried), len(tried)),
            **per_bin,
        }
        drop[slot] = per_bin_drop
    agree["all_five"] = _share(
        sum(all(r["first_bins"][s] == r["plan"]["intent"][s] for s in ACOUSTIC_SLOTS) for r in tried),
        len(tried),
    )
    balance: dict[str, Any] = defaultdict(dict)
    for (lang, split), group in _groups(records).items():
        balance[lang][split] = {
            "clips": len(group),
            **{
                slot: dict(sorted(Counter(str(r["attributes"][slot]) for r in group).items()))
                for slot in SLOTS
            },
        }
    degraded = [r for r in records if r["degradation"]]
    return {
        "clips": len(records),
        "planned": len(results),
        "dropped": len(results) - len(records),
        "errors": [r["error"] for r in results if r.get("error")],
        "attempts": dict(sorted(Counter(str(r.get("attempts")) for r in results).items())),
        "agreement_before_verification": agree,
        "drop_rate": drop,
        "crossdomain_kept": {
            kind: {
                slot: _share(
                    sum(r["attributes"][slot] is not None for r in degraded if r["degradation"] == kind),
                    sum(r["degradation"] == kind for r in degraded),
                )
                for slot in ACOUSTIC_SLOTS
            }
            for kind in cfg.degradations
        },
        "splits": split_table(records),
        "class_balance": dict(balance),
        "emotion_predicts_attribute": emotion_predictability(records),
        "opensmile_agreement": opensmile_agreement(
            [(r["record"], r["opensmile"]) for r in results if r.get("opensmile") and r["record"]]
        ),
        "probe_ceiling": probe_ceiling(records),
    }


def split_table(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{split: {lang: {clips, voices, families, genders}}}``: clip counts and the speakers behind them
    (voices and families as {id: clips}, genders as {gender: clips})."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (lang, split), group in _groups(records).items():
        out.setdefault(split, {})[lang] = {
            "clips": len(group),
            "voices": dict(sorted(Counter(str(r.get("voice")) for r in group).items())),
            "families": dict(sorted(Counter(str(r.get("voice_family")) for r in group).items())),
            "genders": dict(sorted(Counter(str(r.get("gender")) for r in group).items())),
        }
    return out


def _groups(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        out[(r["lang"], r["split"])].append(r)
    return dict(sorted(out.items()))


def emotion_predictability(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per slot: accuracy of majority-bin-per-emotion (fit on train, scored on test_*) and the baseline."""
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"].startswith("test")]
    out = {}
    for slot in ACOUSTIC_SLOTS:
        by_emotion: dict[str, Counter[str]] = defaultdict(Counter)
        overall: Counter[str] = Counter()
        for r in train:
            if r["attributes"][slot] is not None:
                by_emotion[r["emotion"]][r["attributes"][slot]] += 1
                overall[r["attributes"][slot]] += 1
        scored = [r for r in test if r["attributes"][slot] is not None]
        if not overall or not scored:
            continue
        rule = {e: c.most_common(1)[0][0] for e, c in by_emotion.items()}
        base = overall.most_common(1)[0][0]
        out[slot] = {
            "from_emotion": _share(
                sum(rule.get(r["emotion"], base) == r["attributes"][slot] for r in scored), len(scored)
            ),
            "majority_baseline": _share(sum(base == r["attributes"][slot] for r in scored), len(scored)),
        }
    return out


def feature_matrix(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """Praat features ``[N, len(PROBE_FEATURES)]`` (NaN -> 0 after the probe's standardisation)."""
    rows = []
    for r in records:
        m = r["measurements"]
        f0 = m.get("f0_median_hz")
        m = dict(m, f0_re_norm_st=12 * math.log2(f0 / m["f0_norm_hz"]) if f0 else None)
        rows.append([m.get(k) if m.get(k) is not None else np.nan for k in PROBE_FEATURES])
    return np.array(rows, dtype=float)


def probe_ceiling(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Logistic probe on Praat features: train split -> test_seen / test_zeroshot accuracy per slot."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out: dict[str, Any] = {}
    train = [r for r in records if r["split"] == "train"]
    for slot in SLOTS:
        tr = [r for r in train if r["attributes"][slot] is not None]
        if len({r["attributes"][slot] for r in tr}) < 2:
            continue
        xtr = np.nan_to_num(feature_matrix(tr))
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(xtr, [r["attributes"][slot] for r in tr])
        out[slot] = {}
        for split in ("test_seen", "test_zeroshot"):
            te = [r for r in records if r["split"] == split and r["attributes"][slot] is not None]
            if te:
                pred = model.predict(np.nan_to_num(feature_matrix(te)))
                out[slot][split] = round(
                    float(np.mean(pred == np.array([r["attributes"][slot] for r in te]))), 4
                )
    return out
