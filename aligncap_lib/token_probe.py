"""Do the speech tokens carry prosody? Linear probes on what the LLM sees, with chance and a Praat ceiling.

For each ground-truth slot, a logistic regression on standardized features is trained on the ``train`` split
(train voices) and scored on ``test_zeroshot`` (held-out voices and voice family):

- ``accuracy``: features = :func:`speech_units.pooled_statistics` of the unit text the LLM reads;
- ``chance``: the share of the most frequent class among the test labels;
- ``ceiling``: the same probe on the clips' own blind Praat features from the manifest (:data:`PRAAT_FEATURES`:
  no generator settings, no syllable count from the text, no voice-family norm, none of which the tokens see).

Clips whose label is ``null`` (unverifiable) are left out of that slot's probe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aligncap_lib.attributes import SLOTS

#: Blind Praat measurements (prosody.measure) used for the ceiling.
PRAAT_FEATURES: tuple[str, ...] = (
    "duration_s", "speech_s", "articulation_s", "pause_share", "voiced_share", "f0_median_st", "f0_range_st",
    "f0_tremor_st", "rms_dbfs", "jitter_local", "shimmer_local", "hnr_db", "nuclei_per_s",
)  # fmt: skip


def praat_matrix(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``float64 [N, len(PRAAT_FEATURES)]`` from the manifest rows' ``measurements`` (NaN where missing)."""
    return np.array(
        [[float(r.get("measurements", {}).get(k, np.nan) or np.nan) for k in PRAAT_FEATURES] for r in rows],
        dtype=np.float64,
    )


def linear_probe(
    x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, y_test: Sequence[str], *, c: float = 1.0
) -> float:
    """Accuracy of a logistic regression (standardized features, L2 with inverse strength ``c``) on the test set.

    NaN features are imputed with the training median. Raises ``ValueError`` with fewer than 2 train classes.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(set(y_train)) < 2:
        raise ValueError(f"a probe needs >= 2 classes in train, got {sorted(set(y_train))}")
    clf = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=c, max_iter=3000),
    )
    clf.fit(x_train, list(y_train))
    return float(clf.score(x_test, list(y_test)))


def chance(y_test: Sequence[str]) -> float:
    """Share of the most frequent test label (the majority-class accuracy)."""
    values, counts = np.unique(np.asarray(list(y_test)), return_counts=True)
    return float(counts.max() / counts.sum()) if len(values) else float("nan")


def probe_all(
    rows: Sequence[Mapping[str, Any]],
    features: np.ndarray,
    *,
    train_split: str = "train",
    test_split: str = "test_zeroshot",
    c: float = 1.0,
    slots: Sequence[str] = SLOTS,
) -> dict[str, dict[str, float | int | None]]:
    """``{slot: {"accuracy", "chance", "ceiling", "n_train", "n_test"}}`` for rows aligned with ``features [N, F]``.

    A slot with fewer than 2 classes in train or no test labels gets ``None`` numbers and its counts.
    """
    praat = praat_matrix(rows)
    out: dict[str, dict[str, float | int | None]] = {}
    for slot in slots:
        labels = [(r.get("attributes") or {}).get(slot) for r in rows]
        tr = [i for i, r in enumerate(rows) if r.get("split") == train_split and labels[i] is not None]
        te = [i for i, r in enumerate(rows) if r.get("split") == test_split and labels[i] is not None]
        y_tr, y_te = [str(labels[i]) for i in tr], [str(labels[i]) for i in te]
        entry: dict[str, float | int | None] = {"n_train": len(tr), "n_test": len(te)}
        if len(set(y_tr)) < 2 or not te:
            entry.update(accuracy=None, chance=None, ceiling=None)
        else:
            entry.update(
                accuracy=linear_probe(features[tr], y_tr, features[te], y_te, c=c),
                chance=chance(y_te),
                ceiling=linear_probe(praat[tr], y_tr, praat[te], y_te, c=c),
            )
        out[slot] = entry
    return out


def probe_table(probe: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{"slot", "accuracy", "chance", "ceiling", "n_test"}`` rounded to 3 digits, for display."""

    def r3(v: Any) -> Any:
        return None if v is None else round(float(v), 3)

    return [
        {"slot": s, "accuracy": r3(e.get("accuracy")), "chance": r3(e.get("chance")),
         "ceiling": r3(e.get("ceiling")), "n_test": e.get("n_test")}
        for s, e in probe.items()
    ]  # fmt: skip
