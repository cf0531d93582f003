"""Extras of the reproduction: the sweeps that do not fit the 60-minute ``cpu`` default, run once and committed.

``aligncap extras --preset cpu`` (or ``aligncap reproduce --preset cpu --extras``: after the notebooks) trains, at
one seed (``ExtrasConfig.seed``), on the run's corpus, tokenizer and text teacher:

- **KD weight** (``kd_lambdas``): ``no_po``'s KD stage with lambda in {0, 0.3, 1, 3} (lambda 0 is CE alone: the
  ``baseline_sft`` stage, the same training), evaluated on ``valid`` (where the default lambda is chosen:
  :func:`choose_lambda`) and on the claim split; folders ``models/no_po/seed<k>/kd_l<lambda>/``.
- **Training-set size** (``data_fractions``): KD (``no_po``) and SFT (``baseline_sft``) with 25%, 50% and 100% of
  the paired training clips (nested seeded subsets per language; the same number of optimizer steps), on the claim
  split: privileged information should matter most where paired data are few; folders ``kd_n<f>``, ``sft_n<f>``.
- **Oracle-truth judge**: ``aligncap_full``'s PO with the rubric checking claims against the corpus truth instead
  of the analyzer (``POConfig.judge_clues="truth"``): PO's upper bound, never a claim; folder ``po_truth``.
- **Preference-set size** (``pref_fractions``): ``aligncap_full``'s PO on a seeded share of its pairs; ``po_f<f>``.

Everything is cached like every stage; ``results/<preset>/extras.json`` holds the rows the figures read
(``kd_lambda``, ``data_size``, ``truth_judge``, ``preference_size``) and the lambda choice.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from aligncap_lib.core.presets import StageConfig, plumbing_field
from aligncap_lib.core.reproducibility import configure_threads, write_results
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.evaluation.result_store import load_results
from aligncap_lib.training.stages import subset_fraction

__all__ = ["ExtrasConfig", "choose_lambda", "run_extras", "subset_fraction", "write_extras"]

#: The metrics each sweep row reports.
SWEEP_METRICS: tuple[str, ...] = ("cider", "bleu_4", "slot_accuracy", "factual_hallucination", "repetition")


@dataclasses.dataclass(frozen=True)
class ExtrasConfig(StageConfig):
    """What the extras run. Defaults: the ``cpu`` preset; one seed (each point is a training or a DPO run)."""

    stage: ClassVar[str] = "extras"

    seed: int = 0
    kd_lambdas: tuple[float, ...] = (0.0, 0.3, 1.0, 3.0)
    #: The lambdas the default is chosen from (on ``valid``: :func:`choose_lambda`).
    lambda_choices: tuple[float, ...] = (0.3, 1.0, 3.0)
    data_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    pref_fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    truth_judge: bool = True
    claim_split: str = "test_zeroshot"
    progress: bool = plumbing_field(True)

    def validate(self) -> None:
        self._require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        self._require(all(x >= 0 for x in self.kd_lambdas), "kd_lambdas must be >= 0")
        self._require(
            set(self.lambda_choices) <= set(self.kd_lambdas), "lambda_choices must be among kd_lambdas"
        )
        for name in ("data_fractions", "pref_fractions"):
            self._require(all(0 < f <= 1 for f in getattr(self, name)), f"{name} must be in (0, 1]")


def _rows(
    folder: Path, extra: dict[str, Any], splits: Sequence[str], kl_split: str | None = None
) -> list[dict[str, Any]]:
    """A stage's :data:`SWEEP_METRICS` on ``splits`` per language, and with ``kl_split`` its mean held-out KL on
    that split (``lang`` "both"), each row carrying ``extra``."""
    out = []
    for (split, lang), res in sorted(load_results(folder).items()):
        if split in splits:
            out += [{**extra, "split": split, "lang": lang, "metric": m, "value": res.metrics.get(m)}
                    for m in SWEEP_METRICS]  # fmt: skip
    if kl_split is not None:
        kl = json.loads((folder / f"{kl_split}_kl.json").read_text(encoding="utf-8"))["kl"]
        out.append({**extra, "split": kl_split, "lang": "both", "metric": "speech_text_kl",
                    "value": sum(kl) / len(kl)})  # fmt: skip
    return out


def choose_lambda(rows: Sequence[dict[str, Any]], choices: Sequence[float]) -> dict[str, Any]:
    """The rule: the lambda in ``choices`` with the highest mean ``valid`` CIDEr over the languages (ties within
    0.01: the smaller lambda, the weaker regulariser). Returns ``{"chosen", "valid_cider": {lambda: mean}}``."""
    means: dict[float, float] = {}
    for lam in choices:
        vals = [r["value"] for r in rows if r["kd_lambda"] == lam and r["split"] == "valid" and r["metric"] == "cider"
                and r["value"] is not None]  # fmt: skip
        if vals:
            means[lam] = sum(vals) / len(vals)
    if not means:
        return {"chosen": None, "valid_cider": {}}
    best = max(means.values())
    chosen = min(lam for lam, m in means.items() if m >= best - 0.01)
    return {"chosen": chosen, "valid_cider": {str(k): v for k, v in sorted(means.items())}}


def kd_lambda_rows(layout: Any, cfg: ExtrasConfig, base: Any) -> list[dict[str, Any]]:
    """The KD-weight sweep: per lambda, the metrics on ``valid`` and the claim split and the ``valid`` KL."""
    from aligncap_lib.training.stages import train_student

    seed, claim = cfg.seed, cfg.claim_split
    ev = dataclasses.replace(
        base.evaluation, splits=("valid", claim), intermediate_splits=(), kl_splits=("valid",)
    )
    rows: list[dict[str, Any]] = []
    for lam in cfg.kd_lambdas:
        if lam == 0:  # CE alone: exactly the SFT stage (the teacher view is only logged)
            folder = train_student(layout, "baseline_sft", seed, stage="sft", configs=base._replace(evaluation=ev),
                                   name="sft_valid")  # fmt: skip
        else:
            cfgs = base._replace(kd=dataclasses.replace(base.kd, kd_lambda=lam), evaluation=ev)
            folder = train_student(layout, "no_po", seed, stage="kd", configs=cfgs, name=f"kd_l{lam:g}")
        rows += _rows(folder, {"kd_lambda": lam}, ("valid", claim), kl_split="valid")
    return rows


def data_size_rows(layout: Any, cfg: ExtrasConfig, base: Any) -> list[dict[str, Any]]:
    """KD vs SFT per share of the paired training clips, on the claim split (with its held-out KL)."""
    from aligncap_lib.training.stages import train_student

    seed, claim = cfg.seed, cfg.claim_split
    ev_claim = dataclasses.replace(
        base.evaluation, splits=(claim,), intermediate_splits=(), kl_splits=(claim,)
    )
    rows: list[dict[str, Any]] = []
    for f in cfg.data_fractions:
        cfgs = base._replace(
            schedule=dataclasses.replace(base.schedule, train_fraction=f), evaluation=ev_claim
        )
        for variant, stage in (("no_po", "kd"), ("baseline_sft", "sft")):
            if f >= 1:  # all the clips: the run's own stage (evaluated on the claim split, with its KL)
                folder = train_student(layout, variant, seed, stage=stage)
            else:
                folder = train_student(
                    layout, variant, seed, stage=stage, configs=cfgs, name=f"{stage}_n{f:g}"
                )
            label = {"kd": "KD (no_po)", "sft": "SFT (baseline_sft)"}[stage]
            rows += _rows(folder, {"fraction": f, "system": label}, (claim,), kl_split=claim)
    return rows


def truth_judge_rows(layout: Any, cfg: ExtrasConfig, po: Any) -> list[dict[str, Any]]:
    """``aligncap_full``'s PO with the analyzer judge and with the oracle-truth judge, and the model before PO."""
    from aligncap_lib.preference.po_regularization import train_po

    rows: list[dict[str, Any]] = []
    for judge in ("analyzer", "truth"):
        folder = train_po(layout, "aligncap_full", cfg.seed, po=dataclasses.replace(po, judge_clues=judge))
        rows += _rows(folder, {"judge_clues": judge, "stage": folder.name}, (cfg.claim_split,))
    start = layout.model("no_po", cfg.seed) / "kd"
    return rows + _rows(start, {"judge_clues": "none (before PO)", "stage": "kd"}, (cfg.claim_split,))


def preference_size_rows(layout: Any, cfg: ExtrasConfig, po: Any) -> list[dict[str, Any]]:
    """``aligncap_full``'s PO on a seeded share of its pairs, on the claim split."""
    from aligncap_lib.preference.po_regularization import train_po

    rows: list[dict[str, Any]] = []
    for f in cfg.pref_fractions:
        folder = train_po(layout, "aligncap_full", cfg.seed, po=dataclasses.replace(po, pair_fraction=f))
        used = json.loads((folder / "results.json").read_text(encoding="utf-8"))["metrics"].get("pairs_used")
        rows += _rows(folder, {"fraction": f, "pairs": used, "seed": cfg.seed, "stage": folder.name},
                      (cfg.claim_split,))  # fmt: skip
    return rows


def run_extras(layout: Any, cfg: ExtrasConfig) -> dict[str, Any]:
    """Train and evaluate every extra (cached); returns the payload of ``extras.json``."""
    from aligncap_lib.preference.po_regularization import POConfig
    from aligncap_lib.training.stages import StageConfigs, train_teacher

    train_teacher(layout, preset=layout.preset)
    base = StageConfigs.for_preset(layout.preset)
    po = POConfig.for_preset(layout.preset)
    rows = kd_lambda_rows(layout, cfg, base)
    out: dict[str, Any] = {"seed": cfg.seed, "kd_lambda": rows}
    out["kd_lambda_choice"] = {**choose_lambda(rows, cfg.lambda_choices), "rule": choose_lambda.__doc__,
                               "in_use": base.kd.kd_lambda}  # fmt: skip
    out["data_size"] = data_size_rows(layout, cfg, base)
    if cfg.truth_judge:
        out["truth_judge"] = truth_judge_rows(layout, cfg, po)
    out["preference_size"] = preference_size_rows(layout, cfg, po)
    return out


def write_extras(layout: Any, cfg: ExtrasConfig) -> Path:
    """Run the extras and write ``results/<preset>/extras.json``; returns its path (the wall time is printed by
    ``aligncap reproduce --extras``, not stored: results files hold what another machine must reproduce)."""
    payload = run_extras(layout, cfg)
    path = layout.results / "extras.json"
    write_results(path, payload, config=cfg.to_dict())
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", default=None, help="smoke | cpu | paper (default: $ALIGNCAP_PRESET or cpu)"
    )
    parser.add_argument("--work", default=None, help="run folder (default runs/<preset>)")


def run(args: argparse.Namespace) -> int:
    """``aligncap extras``: run the extras and write ``extras.json`` (their figures: notebook 08, or
    ``aligncap reproduce --extras``)."""
    configure_threads()
    layout = RunLayout.for_preset(args.preset, args.work)
    path = write_extras(layout, ExtrasConfig.for_preset(layout.preset))
    print(f"extras: {path}")
    return 0
