"""Do the speech tokens carry prosody? Probes on what the LLM sees, with chance and a Praat ceiling.

For each ground-truth slot, and for :data:`F0_TERTILE`, two probes are trained on the ``train`` split (train
voices) and scored on ``test_zeroshot`` (held-out voices and voice family): a logistic regression on standardized
features (``linear``) and a forest of extremely randomized trees (``nonlinear``, scikit-learn's ``ExtraTreesClassifier``).
Why both: ``pitch_level`` is f0 relative to the speaker family's norm, an interaction (family x f0) that a linear
reader of pooled statistics represents poorly.

- ``accuracy``: the better of ``linear`` and ``nonlinear`` on :func:`speech_units.pooled_statistics` of the unit
  text the LLM reads;
- ``chance``: the share of the most frequent class among the test labels;
- ``ceiling``: the same probes (the better of the two) on the clips' own Praat measurements from the manifest, blind ones only
  (:func:`blind_features`: no generator settings, no syllable count from the text, no voice-family norm, none of
  which the tokens see), plus the :func:`listener_cues` a listener of one clip has: the speaker's gender (audible)
  and the language (in the captioner's prompt as its language tag).

Both probes get the language tag (the LLM reads it next to the tokens); only the ceiling gets the gender, which
the tokens must carry themselves. Why the gender belongs in the ceiling: ``pitch_level`` is the median f0
relative to the norm of the speaker's family (language x gender, :data:`voices.FAMILY_F0_NORM_HZ`), so
"high" for a man is "low" for a woman. Without the gender the Praat ceiling for pitch level was 0.54 on the
cpu preset's unseen voices; with it 0.87 (measured on the cpu corpus).

``f0_tertile``: the clip's absolute median f0 (Praat) in thirds, the edges set on ``train``. It separates "the
tokens carry f0" from "the probe knows the speaker family" (pitch level needs both).

Clips whose label is ``null`` (unverifiable) are left out of that slot's probe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aligncap_lib.core.attributes import SLOTS

#: The extra probe target: absolute median f0 in thirds of the train clips' (not a caption slot).
F0_TERTILE = "f0_tertile"
#: The nonlinear probe's settings (our choice). Extra trees rather than gradient boosting for cost: on the cpu
#: corpus's 2-codebook pooled statistics (1,030 features) histogram gradient boosting took 50 s for the seven
#: targets, the forest 6 s, and neither read systematically more. Seeded: the same trees for any thread count.
NONLINEAR = {"n_estimators": 300, "min_samples_leaf": 2, "random_state": 0, "n_jobs": 2}

#: Manifest measurements the ceiling leaves out: generator settings (not measured from the audio), the syllable
#: count and what is derived from it (read from the text, which the tokens never see), and the voice-family
#: pitch norm (metadata: a listener of one clip does not know the speaker's family).
NOT_BLIND: tuple[str, ...] = ("syllables", "syllables_per_s", "f0_norm_hz")


def blind_features(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The measurement names every row has, minus :data:`NOT_BLIND` and ``*_setting``, sorted."""
    common = set.intersection(*(set(r.get("measurements") or {}) for r in rows)) if rows else set()
    return sorted(k for k in common if k not in NOT_BLIND and not k.endswith("_setting"))


def language_cue(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``float64 [N, 1]``: 1.0 for Chinese rows (the captioner's language tag), else 0.0."""
    return np.array([[float(r.get("lang") == "zh")] for r in rows], dtype=np.float64)


def listener_cues(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``float64 [N, 3]``: female, Chinese, and their product (the four voice families as a linear model's
    offsets). A row without a ``gender`` gets NaN there (imputed by the probe)."""
    out = []
    for r in rows:
        female = {"female": 1.0, "male": 0.0}.get(str(r.get("gender")), np.nan)
        zh = float(r.get("lang") == "zh")
        out.append([female, zh, female * zh])
    return np.array(out, dtype=np.float64)


def praat_matrix(rows: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> np.ndarray:
    """``float64 [N, F]`` of the rows' measurements ``names`` (default :func:`blind_features`; NaN if absent)."""
    names = blind_features(rows) if names is None else names
    return np.array(
        [[float((r.get("measurements") or {}).get(k, np.nan) or np.nan) for k in names] for r in rows],
        dtype=np.float64,
    )


def linear_probe(
    x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, y_test: Sequence[str], *, c: float = 1.0
) -> float:
    """Accuracy of a logistic regression (standardized features, L2 with inverse strength ``c``) on the test set.

    NaN features are imputed with the training median. Raises ``ValueError`` with fewer than 2 train classes.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    return _score(
        [StandardScaler(), LogisticRegression(C=c, max_iter=3000)], x_train, y_train, x_test, y_test
    )


def _score(
    steps: list[Any], x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, y_test: Sequence[str]
) -> float:
    """Test accuracy of median imputation followed by ``steps``, fitted on the train set (>= 2 classes)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    if len(set(y_train)) < 2:
        raise ValueError(f"a probe needs >= 2 classes in train, got {sorted(set(y_train))}")
    clf = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), *steps)
    clf.fit(x_train, list(y_train))
    return float(clf.score(x_test, list(y_test)))


def nonlinear_probe(
    x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, y_test: Sequence[str]
) -> float:
    """Accuracy of extremely randomized trees (:data:`NONLINEAR`) on the test set; NaN features are imputed with
    the training median. Raises ``ValueError`` with fewer than 2 train classes."""
    from sklearn.ensemble import ExtraTreesClassifier

    return _score([ExtraTreesClassifier(**NONLINEAR)], x_train, y_train, x_test, y_test)


def f0_tertiles(rows: Sequence[Mapping[str, Any]], train_split: str = "train") -> list[str | None]:
    """Per row ``"low"``/``"mid"``/``"high"``: its ``f0_median_hz`` against the thirds of the ``train_split`` rows'
    (``None`` where unmeasured, or when no train row has one)."""

    def f0(r: Mapping[str, Any]) -> float | None:
        v = (r.get("measurements") or {}).get("f0_median_hz")
        return None if v is None or not np.isfinite(float(v)) else float(v)

    train = [v for r in rows if r.get("split") == train_split and (v := f0(r)) is not None]
    if not train:
        return [None] * len(rows)
    edges = np.quantile(train, [1 / 3, 2 / 3])
    names = ("low", "mid", "high")
    return [None if (v := f0(r)) is None else names[int(np.searchsorted(edges, v))] for r in rows]


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
    slots: Sequence[str] = (*SLOTS, F0_TERTILE),
) -> dict[str, dict[str, float | int | None]]:
    """``{slot: {"accuracy", "linear", "nonlinear", "chance", "ceiling", "n_train", "n_test"}}`` for rows aligned
    with ``features [N, F]``; ``accuracy`` (and ``ceiling``) the better of the linear and nonlinear probes.

    ``features`` get the :func:`language_cue` appended; the ceiling's Praat features the :func:`listener_cues`.

    A slot with fewer than 2 classes in train or no test labels gets ``None`` numbers and its counts.
    """
    praat = np.concatenate([praat_matrix(rows), listener_cues(rows)], axis=1)
    features = np.concatenate([np.asarray(features, dtype=np.float64), language_cue(rows)], axis=1)
    out: dict[str, dict[str, float | int | None]] = {}
    tertiles = f0_tertiles(rows, train_split)

    def both(x_tr: np.ndarray, y_tr: list[str], x_te: np.ndarray, y_te: list[str]) -> tuple[float, float]:
        return linear_probe(x_tr, y_tr, x_te, y_te, c=c), nonlinear_probe(x_tr, y_tr, x_te, y_te)

    for slot in slots:
        labels = tertiles if slot == F0_TERTILE else [(r.get("attributes") or {}).get(slot) for r in rows]
        tr = [i for i, r in enumerate(rows) if r.get("split") == train_split and labels[i] is not None]
        te = [i for i, r in enumerate(rows) if r.get("split") == test_split and labels[i] is not None]
        y_tr, y_te = [str(labels[i]) for i in tr], [str(labels[i]) for i in te]
        entry: dict[str, float | int | None] = {"n_train": len(tr), "n_test": len(te)}
        if len(set(y_tr)) < 2 or not te:
            entry.update(accuracy=None, linear=None, nonlinear=None, chance=None, ceiling=None)
        else:
            lin, nonlin = both(features[tr], y_tr, features[te], y_te)
            ceil_lin, ceil_nonlin = both(praat[tr], y_tr, praat[te], y_te)
            entry.update(
                accuracy=max(lin, nonlin),
                linear=lin,
                nonlinear=nonlin,
                chance=chance(y_te),
                ceiling=max(ceil_lin, ceil_nonlin),
            )
        out[slot] = entry
    return out


def probe_table(probe: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{"slot", "accuracy", "linear", "nonlinear", "chance", "ceiling", "n_test"}`` rounded to 3 digits."""

    def r3(v: Any) -> Any:
        return None if v is None else round(float(v), 3)

    return [
        {"slot": s, "accuracy": r3(e.get("accuracy")), "linear": r3(e.get("linear")),
         "nonlinear": r3(e.get("nonlinear")), "chance": r3(e.get("chance")),
         "ceiling": r3(e.get("ceiling")), "n_test": e.get("n_test")}
        for s, e in probe.items()
    ]  # fmt: skip
