"""Ablations: every variant of the table over several seeds, the preference-set-size sweep, and each
of the paper's claims as a paired difference with its interval and a plain verdict.

The runner only schedules stages that already know how to cache themselves (:mod:`aligncap_lib.training.stages`,
:mod:`aligncap_lib.preference.po_regularization`), so a re-run trains nothing and a killed run continues where it stopped.
Shared work: the corpus, the tokenizer and the text teacher are trained once per preset; ``no_po`` *is*
``aligncap_full`` before PO; the sweep subsamples ``aligncap_full``'s pair pool (``po_f<fraction>`` folders).

Claims (the abstract's, each made testable here; A - B on the same clips and seeds, hierarchical bootstrap):

| claim | A | B | metrics (direction) |
|---|---|---|---|
| KD improves zero-shot captioning | ``no_po`` (SFT+KD) | ``no_kd`` before PO (SFT) | BLEU@4, METEOR, ROUGE-L, CIDEr (up) |
| KD narrows the speech-text gap | ``no_po`` | ``no_kd`` before PO | held-out KL(text || speech) (down) |
| PO reduces hallucination | ``aligncap_full`` | ``no_po`` | factual hallucination, faithfulness violations (down) |
| emotion clues enrich fine-grained description | ``aligncap_full`` | ``no_clues`` | slot accuracy (up), omission (down) |
| our target: the full system beats plain SFT | ``aligncap_full`` | ``baseline_sft`` | BLEU@4, CIDEr (up), factual hallucination (down) |

Verdict per row: ``reproduced`` when the interval excludes 0 in the claimed direction, ``contradicted`` when it
excludes 0 the other way, ``inconclusive`` otherwise; ``both near zero`` when A and B are both below
:data:`NEAR_ZERO` (no evidence either way, however narrow the interval). The preference-size claim (gains plateau) is shown as a
curve with one point per fraction; a plateau is read off it, not tested.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aligncap_lib.analysis.results_summary import paired_over_seeds
from aligncap_lib.captioner import inputs
from aligncap_lib.captioner.model import load_model
from aligncap_lib.captioner.prompts import CaptionExample
from aligncap_lib.captioner.variants import VARIANT_ORDER, get_variant
from aligncap_lib.clues.acoustic_analyzer import analyze
from aligncap_lib.core.audio_io import AudioError, read_audio
from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.core.presets import StageConfig, added_field, combined_hash, plumbing_field
from aligncap_lib.core.run_layout import read_stage, run_stage
from aligncap_lib.corpus.secap import find_secap_dir
from aligncap_lib.evaluation import bootstrap as bs
from aligncap_lib.evaluation.peer_rows import read_secap_results
from aligncap_lib.evaluation.result_store import load_results
from aligncap_lib.evaluation.scoring import EvaluationConfig, evaluate_captions
from aligncap_lib.experiment.grid import train_variants
from aligncap_lib.export.inference import Captioner
from aligncap_lib.preference.po_regularization import POConfig, stage_name, train_po
from aligncap_lib.training.stage_results import final_stage_dir, stage_results, valid_kl_per_seed
from aligncap_lib.training.stages import StageConfigs, evaluate_model, train_teacher

#: (claim, A (variant, stage), B (variant, stage), metrics with +1 = higher is better, -1 = lower is better)
CLAIMS: tuple[tuple[str, tuple[str, str], tuple[str, str], tuple[tuple[str, int], ...]], ...] = (
    ("KD improves zero-shot captioning", ("no_po", "kd"), ("no_kd", "sft"),
     (("bleu_4", 1), ("meteor", 1), ("rouge_l", 1), ("cider", 1))),
    ("PO reduces hallucination", ("aligncap_full", "po"), ("no_po", "kd"),
     (("factual_hallucination", -1), ("faithfulness_violation", -1))),
    ("emotion clues enrich fine-grained description", ("aligncap_full", "po"), ("no_clues", "po"),
     (("slot_accuracy", 1), ("omission", -1))),
    ("target: aligncap_full beats baseline_sft", ("aligncap_full", "po"), ("baseline_sft", "sft"),
     (("bleu_4", 1), ("cider", 1), ("factual_hallucination", -1))),
)  # fmt: skip
KL_CLAIM = "KD narrows the speech-text gap"
#: Both sides below this: the verdict is "both near zero" (e.g. BLEU@4 against the unseen-phrasing references:
#: about 4e-6 for every trained variant at cpu, when those were the only test references).
NEAR_ZERO = 1e-3


@dataclasses.dataclass(frozen=True)
class AblationConfig(StageConfig):
    """What the ablation runs. Defaults: the ``cpu`` preset (at least 3 seeds per trained variant)."""

    stage: ClassVar[str] = "ablations"

    seeds: tuple[int, ...] = (0, 1, 2)
    variants: tuple[str, ...] = VARIANT_ORDER
    pref_fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)  # an eighth to all of the pairs
    sweep_seeds: tuple[int, ...] = (
        0,
    )  # budget: one seed for the sweep (each point is a DPO run + evaluation)
    claim_split: str = "test_zeroshot"  # the paper's headline setting: unseen speakers
    #: Splits evaluated for every seed after the first (the first seed: the evaluation config's ``splits``).
    #: Budget (3 seeds within the 60-minute cpu budget on 2 cores): generation and metrics on all 505 test clips took
    #: about half of each training's 170 s at cpu; the claims are read on the claim split, so later seeds score
    #: that one (both languages) and the seen / cross-domain tables rest on the first seed. () = every split.
    later_seed_splits: tuple[str, ...] = ("test_zeroshot",)
    #: secap_dev (real Chinese speech, ../shared/secap-dev): the first seed's trained variants caption its clips
    #: (0 = every clip, 100 in the dev subset) next to SECap's released outputs (:func:`secap_dev_rows`).
    secap_clips: int = added_field(0)
    progress: bool = plumbing_field(True)

    def validate(self) -> None:

        self._require(len(self.seeds) > 0, "seeds must not be empty")
        for v in self.variants:
            get_variant(v)
        self._require(all(0 < f <= 1 for f in self.pref_fractions), "pref_fractions must be in (0, 1]")
        self._require(set(self.sweep_seeds) <= set(self.seeds), "sweep_seeds must be among seeds")
        self._require(self.secap_clips >= 0, f"secap_clips must be >= 0, got {self.secap_clips}")
        known = ("test_seen", "test_zeroshot", "test_crossdomain")
        bad = [x for x in self.later_seed_splits if x not in known]
        self._require(not bad, f"later_seed_splits: unknown split(s) {bad}; choose among {known}")
        if self.later_seed_splits:
            self._require(
                self.claim_split in self.later_seed_splits, "later_seed_splits must hold claim_split"
            )

    def seed_configs(self, configs: Any, seed: int) -> Any:
        """The :class:`aligncap_lib.training.stages.StageConfigs` for ``seed``: as given for the first seed, with the
        evaluation's ``splits`` cut to :attr:`later_seed_splits` for later ones."""
        if seed == self.seeds[0] or not self.later_seed_splits:
            return configs
        ev = configs.evaluation
        keep = tuple(x for x in ev.splits if x in self.later_seed_splits)
        return configs._replace(evaluation=dataclasses.replace(ev, splits=keep))


def run_ablations(
    layout: Any, cfg: AblationConfig, preset: str | None = None
) -> dict[tuple[str, str, int], Path]:
    """Train and evaluate every variant x seed (cached stages reused), then the preference-size sweep of
    ``aligncap_full``; returns ``{(variant, stage, seed): folder}``."""

    preset = preset or layout.preset
    train_teacher(layout, preset=preset)
    base = StageConfigs.for_preset(preset)
    out: dict[tuple[str, str, int], Path] = {}
    for seed in cfg.seeds:
        out.update(train_variants(layout, list(cfg.variants), [seed], preset, stages=("sft", "kd", "po"),
                                  configs=cfg.seed_configs(base, seed)))  # fmt: skip
    po = POConfig.for_preset(preset)
    for seed in cfg.sweep_seeds:
        for fraction in cfg.pref_fractions:
            sweep = dataclasses.replace(po, pair_fraction=fraction)
            out[("aligncap_full", stage_name(sweep), seed)] = train_po(
                layout, "aligncap_full", seed, preset, po=sweep
            )
    return out


def secap_dev_rows(
    layout: Any, cfg: AblationConfig, *, seed: int | None = None, secap_dir: str | Path | None = None
) -> dict[str, Any]:
    """The trained variants (final stage, first seed) on ``secap_dev``: real Mandarin speech with one human
    caption per clip, scored as the synthetic splits are (Chinese, character tokens) but without slot metrics
    (no ground-truth attributes), next to SECap's own released outputs on the same clips.

    Each clip is read, tokenized with the run's fitted speech tokenizer (alone, as inference does) and measured
    by the acoustic analyzer once; each variant reads it with its own clue setting (acoustic clues for the
    variants trained with clues). Returns ``{"clips", "skipped", "rows": {name: metrics}}``, or
    ``{"skipped_reason": ...}`` without the data. A clip that cannot be read is listed and left out.
    """

    found = find_secap_dir(secap_dir, with_results=True)
    if found is None:
        return {
            "skipped_reason": "no SECap data: set $SECAP_DIR (or put secap-dev in a shared/ folder next to the clone)"
        }
    refs, secap_hyps = read_secap_results(found)
    ids = sorted(refs)[: cfg.secap_clips or None]
    ev = EvaluationConfig.for_preset(layout.preset)
    seed = cfg.seeds[0] if seed is None else seed
    records, _ = read_manifest(layout.corpus / "manifest.jsonl")

    def scalars(result: Any) -> dict[str, Any]:  # point values, and the 95% interval over clips of each
        out = {k: v for k, v in result.metrics.items() if not isinstance(v, (dict, list))}
        return out | {"ci95": {k: [iv.low, iv.high] for k, iv in sorted(result.intervals.items())}}

    rows: dict[str, Any] = {
        "secap (released outputs)": scalars(
            evaluate_captions({i: refs[i] for i in ids}, {i: secap_hyps[i] for i in ids}, "zh", config=ev)
        )
    }
    stages = [(v, d) for v in cfg.variants
              if get_variant(v).kind == "lm" and (d := final_stage_dir(layout, v, seed)) is not None]  # fmt: skip
    prepared: dict[str, tuple[str, Any]] = {}  # id -> (units, acoustic clues): the same for every variant
    skipped: dict[str, str] = {}
    for n, (variant, stage) in enumerate(stages):
        captioner = Captioner.from_stage(stage, layout.tokens, records)
        if n == 0:  # every stage shares the run's speech tokenizer and analyzer norms
            for i in ids:
                try:
                    wave, rate, _ = read_audio(found / "dataset" / "wav" / f"{i}.wav")
                    prepared[i] = (captioner.units(wave, rate, i), analyze(wave, rate, "zh", captioner.norms))
                except (AudioError, ValueError, RuntimeError, OSError) as exc:  # named and left out
                    skipped[i] = getattr(exc, "reason", None) or str(exc)
        examples = [CaptionExample(id=i, lang="zh", caption="", units=u,
                                   student_clues=c if captioner.default_clues == "acoustic" else None)
                    for i, (u, c) in prepared.items()]  # fmt: skip
        hyps = captioner.caption_examples(examples)
        rows[variant] = {"stage": stage.name, **scalars(evaluate_captions({i: refs[i] for i in hyps}, hyps, "zh",
                                                                           config=ev))}  # fmt: skip
    return {"clips": len(ids) - len(skipped), "skipped": skipped, "seed": seed, "rows": rows}


def _verdict(lo: float, hi: float, direction: int) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "undefined"
    if (direction > 0 and lo > 0) or (direction < 0 and hi < 0):
        return "reproduced"
    if (direction > 0 and hi < 0) or (direction < 0 and lo > 0):
        return "contradicted"
    return "inconclusive"


def kl_difference(
    layout: Any,
    a: tuple[str, str],
    b: tuple[str, str],
    ev: Any,
    seeds: Sequence[int] | None = None,
    split: str = "valid",
) -> dict[str, Any]:
    """Paired difference of the held-out speech-vs-text KL on ``split`` (A - B, same clips and ``seeds``;
    default: every seed folder)."""

    ka, kb = valid_kl_per_seed(layout, *a, seeds, split), valid_kl_per_seed(layout, *b, seeds, split)
    common = sorted(set(ka) & set(kb))
    if not common:
        raise FileNotFoundError(f"no seed has {split}_kl.json for both {a} and {b}")
    if any(ka[s]["ids"] != kb[s]["ids"] for s in common):
        raise ValueError("the KL of A and B was measured on different clips")
    sa = np.stack([bs.as_mean_stats(np.asarray(ka[s]["kl"])) for s in common])
    sb = np.stack([bs.as_mean_stats(np.asarray(kb[s]["kl"])) for s in common])
    iv = bs.paired_difference(sa, sb, bs.mean_statistic, n_resamples=ev.n_bootstrap, confidence=ev.confidence,
                              seed=ev.bootstrap_seed)  # fmt: skip
    return {"diff": iv.point, "ci95": [iv.low, iv.high], "a": float(sa[:, :, 0].mean()),
            "b": float(sb[:, :, 0].mean()), "n_seeds": len(common)}  # fmt: skip


def claims(layout: Any, cfg: AblationConfig, ev: Any) -> list[dict[str, Any]]:
    """One row per (claim, language, metric) with the paired difference, its interval and the verdict;
    comparisons whose stages are missing are listed with verdict ``missing`` and the reason. Over ``cfg.seeds``
    only: a seed folder left by an older configuration is never mixed in."""

    seeds = list(cfg.seeds)
    rows: list[dict[str, Any]] = []
    for claim, a, b, metrics in CLAIMS:
        ra, rb = stage_results(layout, *a, seeds=seeds), stage_results(layout, *b, seeds=seeds)
        comparison = f"{a[0]} ({a[1]}) - {b[0]} ({b[1]})"
        for lang in ("en", "zh"):
            for metric, direction in metrics:
                row = {"claim": claim, "comparison": comparison, "split": cfg.claim_split, "lang": lang,
                       "metric": metric, "direction": "higher" if direction > 0 else "lower"}  # fmt: skip
                try:
                    d = paired_over_seeds(ra, rb, cfg.claim_split, lang, metric, ev)
                except (ValueError, KeyError) as exc:
                    rows.append({**row, "verdict": "missing", "reason": str(exc)})
                    continue
                verdict = _verdict(d["ci95"][0], d["ci95"][1], direction)
                if max(abs(d["a"] or 0.0), abs(d["b"] or 0.0)) < NEAR_ZERO:
                    verdict = "both near zero"  # an interval of 1e-6 around 4e-6 is no evidence either way
                rows.append({**row, **d, "verdict": verdict})
    for split in dict.fromkeys((cfg.claim_split, "valid")):  # the claim's split first, then valid
        row = {"claim": KL_CLAIM, "comparison": "no_po (kd) - no_kd (sft)", "split": split, "lang": "both",
               "metric": "speech_text_kl", "direction": "lower"}  # fmt: skip
        try:
            d = kl_difference(layout, ("no_po", "kd"), ("no_kd", "sft"), ev, seeds, split)
            rows.append({**row, **d, "verdict": _verdict(d["ci95"][0], d["ci95"][1], -1)})
        except (FileNotFoundError, ValueError) as exc:
            rows.append({**row, "verdict": "missing", "reason": str(exc)})
    return rows


#: Metrics of the inference clue-source comparison, with +1 = higher is better.
CLUE_SOURCE_METRICS: tuple[tuple[str, int], ...] = (
    ("slot_accuracy", 1), ("factual_hallucination", -1), ("omission", -1), ("cider", 1),
)  # fmt: skip


def clue_source_comparison(layout: Any, cfg: AblationConfig, ev: Any) -> list[dict[str, Any]]:
    """``aligncap_full`` read with its acoustic clues (how it was trained and evaluated) minus the same model
    read with no clue prompt, on the claim split, per language and metric, paired over the seeds and clips
    (hierarchical bootstrap). It says how much of the captioner's description comes from the acoustic prompt
    rather than from the speech units.

    The clue-free captions are generated and scored once per seed by the evaluation of the trained stages
    (:func:`aligncap_lib.training.stages.evaluate_model`), cached as a stage in ``runs/<preset>/eval/clues_none/seed<k>/``
    keyed by the PO stage's fingerprint; rows like :func:`claims`'."""

    acoustic = stage_results(layout, "aligncap_full", "po", seeds=list(cfg.seeds))
    if not acoustic:
        return [{"comparison": "aligncap_full: acoustic - none", "verdict": "missing",
                 "reason": "no trained aligncap_full po stage"}]  # fmt: skip
    records = read_manifest(layout.corpus / "manifest.jsonl")[0]
    base = StageConfigs.for_preset(layout.preset)
    configs = base._replace(evaluation=dataclasses.replace(ev, splits=(cfg.claim_split,)))
    no_clues = dataclasses.replace(get_variant("aligncap_full"), student_clues=False)
    units = inputs.unit_texts(layout, records)
    none: dict[int, dict[tuple[str, str], Any]] = {}
    for seed in sorted(acoustic):
        stage = layout.model("aligncap_full", seed) / "po"

        def build(tmp: Path, stage: Path = stage, seed: int = seed) -> None:
            model, tok = load_model(stage / "merged")
            evaluate_model(model, tok, records, no_clues, units, {}, configs, tmp, seed)

        fingerprint = combined_hash((read_stage(stage) or {}).get("fingerprint", ""),
                                    configs.decoding.result_hash(), configs.evaluation.result_hash())  # fmt: skip
        folder, _ = run_stage(layout.work / "eval" / "clues_none" / f"seed{seed}", fingerprint, build)
        none[seed] = load_results(folder)
    rows: list[dict[str, Any]] = []
    for lang in ("en", "zh"):
        for metric, direction in CLUE_SOURCE_METRICS:
            row = {"comparison": "aligncap_full: acoustic clues - no clues", "split": cfg.claim_split,
                   "lang": lang, "metric": metric, "direction": "higher" if direction > 0 else "lower"}  # fmt: skip
            try:
                d = paired_over_seeds(acoustic, none, cfg.claim_split, lang, metric, ev)
            except (ValueError, KeyError) as exc:
                rows.append({**row, "verdict": "missing", "reason": str(exc)})
                continue
            rows.append({**row, **d, "verdict": _verdict(d["ci95"][0], d["ci95"][1], direction)})
    return rows


def preference_size(
    layout: Any,
    cfg: AblationConfig,
    metrics: tuple[str, ...] = ("cider", "slot_accuracy", "factual_hallucination"),
) -> list[dict[str, Any]]:
    """Rows ``{"fraction", "pairs", "seed", "split", "lang", "metric", "value"}`` of the sweep (stages present)."""

    rows = []
    for seed in cfg.sweep_seeds:
        for fraction in cfg.pref_fractions:
            name = "po" if fraction >= 1.0 else f"po_f{fraction:g}"
            folder = layout.model("aligncap_full", seed) / name
            if not (folder / "results.json").is_file():
                continue
            used = json.loads((folder / "results.json").read_text(encoding="utf-8"))["metrics"].get(
                "pairs_used"
            )
            for (split, lang), res in sorted(load_results(folder).items()):
                if split != cfg.claim_split:
                    continue
                for m in metrics:
                    rows.append({"fraction": fraction, "pairs": used, "seed": seed, "split": split, "lang": lang,
                                 "metric": m, "value": res.metrics.get(m)})  # fmt: skip
    return rows


def dpo_logs(layout: Any, cfg: AblationConfig) -> dict[str, list[dict[str, Any]]]:
    """label -> trl's DPO log of each PO variant at the first seed (the reward curves)."""
    out = {}
    for v in ("aligncap_full", "no_kd", "no_clues"):
        path = layout.model(v, cfg.seeds[0]) / "po" / "log.json"
        if path.is_file():
            out[f"{v} seed{cfg.seeds[0]}"] = json.loads(path.read_text(encoding="utf-8"))
    return out
