"""The acoustic analyzer: the same slots as the caption parser, measured from audio, so that clue words exist
at inference time when there is no caption (clue source ``acoustic``).

Measurement is :func:`aligncap_lib.corpus.prosody.measure` (Praat) and binning is
:func:`aligncap_lib.core.attributes.bin_measurements`, the very code that labels the corpus; this module only
supplies what unknown audio lacks:

- the **voice family norm** for pitch level: the corpus knows each voice's family; here the family (gender) is
  the one whose norm (``voices.FAMILY_F0_NORM_HZ``) is nearest in log-frequency to the *speaker's baseline*
  median f0 where a baseline (>= ``baseline_min_clips`` clips of that speaker) is known, else to the clip's own
  median f0 (the population fallback: a very high male voice can then be read as a normal female one);
- the **speaking rate** without a transcript: ``syllables_per_s`` when the syllable count is given, else the
  blind ``nuclei_per_s`` through a per-language linear calibration fitted on the corpus ``train`` split;
- the **emotion**: a multinomial logistic regression on standardised prosody features, fitted on ``train``.
  With a speaker baseline it reads features relative to the speaker's mean (a second model, fitted the same way
  on train voices' own means), else absolute features.

All fitted numbers ("norms") are plain JSON (:class:`AnalyzerNorms`), no pickles: the exported model ships them.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aligncap_lib.core.attributes import SLOTS, bin_measurements
from aligncap_lib.core.audio_io import read_audio
from aligncap_lib.core.manifest import audio_path, read_manifest
from aligncap_lib.corpus import prosody
from aligncap_lib.corpus.voices import FAMILY_F0_NORM_HZ

#: Prosody features of the emotion classifier (names of prosody.measure, plus the two derived below).
FEATURES: tuple[str, ...] = (
    "f0_re_norm_st", "f0_range_st", "rate", "rms_dbfs", "f0_tremor_st", "hnr_db", "jitter_local",
    "shimmer_local", "pause_share", "f0_final_st", "f0_slope_st", "intensity_slope_db", "intensity_attack_db",
)  # fmt: skip


@dataclass(frozen=True)
class AnalyzerNorms:
    """Fitted numbers of the analyzer: rate calibration per language and two emotion models (JSON-safe)."""

    rate_fit: dict[str, list[float]]  # lang -> [slope, intercept]: syllables/s ~ slope * nuclei/s + intercept
    emotion: dict[str, dict[str, Any]]  # "population" | "speaker" -> {classes, mean, scale, coef, intercept}

    def to_json(self) -> dict[str, Any]:
        return {"features": list(FEATURES), **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnalyzerNorms:
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError(
                f"analyzer norms were fitted on features {data.get('features')}, expected {FEATURES}"
            )
        return cls(rate_fit=dict(data["rate_fit"]), emotion=dict(data["emotion"]))

    @classmethod
    def load(cls, path: Path) -> AnalyzerNorms:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def family_gender(f0_hz: float, lang: str) -> str:
    """The gender whose family norm is nearest to ``f0_hz`` in log-frequency ("female" if f0 is unknown)."""
    if math.isnan(f0_hz) or f0_hz <= 0:
        return "female"
    return min(("female", "male"), key=lambda g: abs(math.log(f0_hz / FAMILY_F0_NORM_HZ[(lang, g)])))


def _rate(m: Mapping[str, float], lang: str, norms: AnalyzerNorms | None) -> float:
    sps = m.get("syllables_per_s", float("nan"))
    if sps == sps:
        return float(sps)
    slope, intercept = norms.rate_fit.get(lang, [1.0, 0.0]) if norms else [1.0, 0.0]
    return float(slope * m.get("nuclei_per_s", float("nan")) + intercept)


def feature_vector(m: Mapping[str, float], lang: str, gender: str, norms: AnalyzerNorms | None) -> np.ndarray:
    """``FEATURES`` of one clip as float ``[F]`` (NaN where undefined)."""
    f0 = m.get("f0_median_hz", float("nan"))
    values = dict(m)
    values["f0_re_norm_st"] = (
        12 * math.log2(f0 / FAMILY_F0_NORM_HZ[(lang, gender)]) if f0 == f0 and f0 > 0 else math.nan
    )
    values["rate"] = _rate(m, lang, norms)
    return np.array([values.get(name, math.nan) for name in FEATURES], dtype=np.float64)


def speaker_baseline(
    clips: Sequence[Mapping[str, float]], lang: str, min_clips: int = 3
) -> dict[str, float] | None:
    """A speaker's baseline from ``clips`` (prosody.measure outputs): median f0 and mean features, or None
    when fewer than ``min_clips`` clips are voiced."""
    f0s = [c["f0_median_hz"] for c in clips if c.get("f0_median_hz", math.nan) == c.get("f0_median_hz")]
    if len(f0s) < min_clips:
        return None
    f0 = float(np.median(f0s))
    gender = family_gender(f0, lang)
    with warnings.catch_warnings():  # a feature undefined in every clip stays NaN (ignored downstream)
        warnings.simplefilter("ignore", RuntimeWarning)
        feats = np.nanmean([feature_vector(c, lang, gender, None) for c in clips], axis=0)
    return {"f0_median_hz": f0, **{n: float(v) for n, v in zip(FEATURES, feats, strict=True)}}


def _predict(model: Mapping[str, Any], x: np.ndarray) -> str:
    z = (np.nan_to_num(x - np.asarray(model["mean"]), nan=0.0)) / np.asarray(model["scale"])
    logits = np.asarray(model["coef"]) @ z + np.asarray(model["intercept"])
    if logits.size == 1:  # sklearn stores a two-class model as one logit for the second class
        logits = np.array([0.0, logits[0]])
    return str(model["classes"][int(np.argmax(logits))])


def analyze_measurements(
    m: Mapping[str, float],
    lang: str,
    norms: AnalyzerNorms | None = None,
    *,
    gender: str | None = None,
    baseline: Mapping[str, float] | None = None,
) -> dict[str, str | None]:
    """Slot -> bin (None where unmeasurable; emotion None without fitted norms) of one measured clip."""
    if gender is None:
        gender = family_gender((baseline or m).get("f0_median_hz", math.nan), lang)
    values = {**m, "syllables_per_s": _rate(m, lang, norms)}
    out: dict[str, str | None] = {
        **bin_measurements(values, FAMILY_F0_NORM_HZ[(lang, gender)]),
        "emotion": None,
    }
    if norms is not None:
        x = feature_vector(m, lang, gender, norms)
        if baseline is not None:
            out["emotion"] = _predict(norms.emotion["speaker"], x - np.array([baseline[n] for n in FEATURES]))
        else:
            out["emotion"] = _predict(norms.emotion["population"], x)
    return {s: out.get(s) for s in SLOTS}


def analyze(
    wave: np.ndarray, sample_rate: int, lang: str, norms: AnalyzerNorms | None = None, **kw: Any
) -> dict[str, str | None]:
    """Measure ``wave`` float ``[T]`` (mono) at ``sample_rate`` Hz with Praat and bin it (see analyze_measurements)."""

    syllables = kw.pop("syllables", None)
    return analyze_measurements(prosody.measure(wave, sample_rate, syllables=syllables), lang, norms, **kw)


def _fit_logreg(x: np.ndarray, y: list[str], c: float) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale[~(scale > 1e-9)] = 1.0
    z = np.nan_to_num((x - mean) / scale, nan=0.0)
    clf = LogisticRegression(C=c, max_iter=2000).fit(z, y)
    return {"classes": [str(k) for k in clf.classes_], "mean": np.nan_to_num(mean).tolist(), "scale": scale.tolist(),
            "coef": clf.coef_.tolist(), "intercept": clf.intercept_.tolist()}  # fmt: skip


def fit_norms(records: Sequence[Mapping[str, Any]], c: float = 1.0) -> AnalyzerNorms:
    """Fit the norms on ``records`` with ``measurements`` (prosody.measure), ``lang``, ``gender``, ``voice``,
    ``emotion`` (the corpus ``train`` split)."""
    rate_fit: dict[str, list[float]] = {}
    for lang in sorted({r["lang"] for r in records}):
        pairs = np.array([(r["measurements"].get("nuclei_per_s", math.nan), r["measurements"].get("syllables_per_s", math.nan))
                          for r in records if r["lang"] == lang])  # fmt: skip
        ok = np.isfinite(pairs).all(axis=1)
        rate_fit[lang] = np.polyfit(pairs[ok, 0], pairs[ok, 1], 1).tolist() if ok.sum() >= 3 else [1.0, 0.0]
    partial = AnalyzerNorms(rate_fit, {})
    blind = [{k: v for k, v in r["measurements"].items() if k != "syllables_per_s"} for r in records]
    x = np.array(
        [feature_vector(b, r["lang"], r["gender"], partial) for b, r in zip(blind, records, strict=True)]
    )
    y = [r["emotion"] for r in records]
    voices = [r["voice"] for r in records]
    rel = x.copy()
    for v in set(voices):
        idx = [i for i, w in enumerate(voices) if w == v]
        rel[idx] -= np.nanmean(x[idx], axis=0)
    return AnalyzerNorms(rate_fit, {"population": _fit_logreg(x, y, c), "speaker": _fit_logreg(rel, y, c)})


def accuracy(
    records: Sequence[Mapping[str, Any]], norms: AnalyzerNorms | None, *, blind_rate: bool, baseline: bool
) -> dict[str, float]:
    """Per-slot accuracy of the analyzer against ``records``' verified ``attributes`` (null labels skipped).

    ``records`` carry fresh ``measurements`` (prosody.measure with the syllable count when ``blind_rate`` is
    False). ``baseline``: each voice's baseline from its own clips in ``records`` (gender is never given).
    """
    by_voice: dict[str, list[Mapping[str, float]]] = {}
    for r in records:
        by_voice.setdefault(r["voice"], []).append(r["measurements"])
    hits: dict[str, list[int]] = {s: [] for s in SLOTS}
    for r in records:
        m = dict(r["measurements"])
        if blind_rate:
            m["syllables_per_s"] = math.nan
        base = speaker_baseline(by_voice[r["voice"]], r["lang"]) if baseline else None
        pred = analyze_measurements(m, r["lang"], norms, baseline=base)
        for s in SLOTS:
            if r["attributes"].get(s) is not None and pred[s] is not None:
                hits[s].append(int(pred[s] == r["attributes"][s]))
            elif r["attributes"].get(s) is not None:
                hits[s].append(0)
    return {s: float(np.mean(h)) if h else math.nan for s, h in hits.items()}


# -- command line (registered under `aligncap clues`) ----------------------------------------------------------
def add_arguments(sub: Any) -> None:
    p = sub.add_parser("measure", help="measure the slots of audio files: one JSON object per file")
    p.add_argument("audio", nargs="+", type=Path, metavar="AUDIO")
    p.add_argument(
        "--lang", choices=("en", "zh"), default="en", help="language (picks the family pitch norms)"
    )
    p.add_argument(
        "--norms", type=Path, help="analyzer norms JSON (from `clues fit`); without it emotion is null"
    )
    p.add_argument("--gender", choices=("female", "male"), help="the speaker's voice family, when known")
    p.add_argument("--baseline", nargs="*", type=Path, default=[], help="other clips of the same speaker")
    f = sub.add_parser("fit", help="fit the analyzer norms on a corpus train split")
    f.add_argument("--work", type=Path, required=True, help="run folder holding corpus/manifest.jsonl")
    f.add_argument("--out", type=Path, help="norms JSON (default WORK/clues/analyzer_norms.json)")


def _measure_file(path: Path) -> dict[str, float]:

    wave, sr, _ = read_audio(path)
    return prosody.measure(wave, sr)


def run(args: argparse.Namespace) -> int:
    if args.clues_command == "fit":
        manifest = args.work / "corpus" / "manifest.jsonl"
        rows, bad = read_manifest(manifest)
        train = [r for r in rows if r["split"] == "train"]
        for r in train:
            m = _measure_file(audio_path(manifest, r))
            r["measurements"] = {**m, "syllables_per_s": r["measurements"].get("syllables_per_s", math.nan)}
        out = args.out or args.work / "clues" / "analyzer_norms.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(fit_norms(train).to_json(), indent=1) + "\n", encoding="utf-8")
        print(json.dumps({"norms": str(out), "train_clips": len(train), "skipped_lines": len(bad)}))
        return 0
    norms = AnalyzerNorms.load(args.norms) if args.norms else None
    baseline = (
        speaker_baseline([_measure_file(p) for p in args.baseline], args.lang) if args.baseline else None
    )
    status = 0
    for path in args.audio:
        try:
            slots = analyze_measurements(
                _measure_file(path), args.lang, norms, gender=args.gender, baseline=baseline
            )
        except (OSError, ValueError, RuntimeError) as exc:  # batch: report the bad file, keep the others
            print(json.dumps({"audio": str(path), "error": str(exc)}))
            status = 1
            continue
        print(json.dumps({"audio": str(path), "slots": slots}))
    return status
