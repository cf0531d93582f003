r"""Ablations: every variant of the table over several seeds, and each of the paper's claims as a paired
difference with its interval and a plain verdict; the ``analyzer_clues`` extension read slot by slot.

The runner only schedules stages that already know how to cache themselves (:mod:`aligncap_lib.training.stages`,
:mod:`aligncap_lib.preference.po_regularization`), so a re-run trains nothing and a killed run continues where it stopped.
Shared work: the corpus, the tokenizer and the text teacher are trained once per preset; ``no_po`` *is*
``aligncap_full`` before PO, ``baseline_sft`` *is* ``no_kd`` before PO. The sweeps (KD weight, training-set size,
preference-set size, the oracle-truth judge) are extras of the reproduction (:mod:`aligncap_lib.analysis.extras`).

Claims (:data:`CLAIMS`; A - B on the same clips and seeds, hierarchical bootstrap over seeds, then clips):

| claim_id | claim | A | B | metrics (direction) |
|---|---|---|---|---|
| ``speech_matters`` | the captioner describes the clip it hears | ``aligncap_full`` | ``shuffled_speech`` | slot accuracy, CIDEr (up) |
| ``kd_gap`` | KD narrows the speech-text gap | ``no_po`` | ``baseline_sft`` | held-out KL(text \|\| speech) (down) |
| ``kd_captioning`` | KD improves zero-shot captioning | ``no_po`` | ``baseline_sft`` | BLEU@4, METEOR, ROUGE-L, CIDEr, slot accuracy (up) |
| ``po_hallucination`` | PO reduces hallucination | ``aligncap_full`` | ``no_po`` | factual hallucination, faithfulness violations, repetition (down) |
| ``clues_under_kd`` | caption clues under KD enrich description | ``aligncap_full`` | ``no_clues`` | slot accuracy (up), omission (down) |
| ``full_vs_sft`` | the full system beats plain SFT | ``aligncap_full`` | ``baseline_sft`` | BLEU@4, METEOR, ROUGE-L, CIDEr, slot accuracy (up), factual hallucination (down) |

Verdict per row: ``reproduced`` when the interval excludes 0 in the claimed direction, ``contradicted`` when it
excludes 0 the other way, ``inconclusive`` otherwise; ``both near zero`` when A and B are both below
:data:`NEAR_ZERO` (no evidence either way, however narrow the interval).
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
from aligncap_lib.evaluation.scoring import EvaluationConfig, evaluate_captions
from aligncap_lib.experiment.grid import train_variants
from aligncap_lib.export.inference import Captioner
from aligncap_lib.training.stage_results import final_stage_dir, stage_results, valid_kl_per_seed
from aligncap_lib.training.stages import StageConfigs, train_teacher

#: (claim_id, claim, A (variant, stage), B (variant, stage), metrics with +1 = higher is better, -1 = lower)
CLAIMS: tuple[tuple[str, str, tuple[str, str], tuple[str, str], tuple[tuple[str, int], ...]], ...] = (
    ("speech_matters", "the captioner describes the clip it hears", ("aligncap_full", "po"),
     ("shuffled_speech", "eval"), (("slot_accuracy", 1), ("cider", 1))),
    ("kd_captioning", "KD improves zero-shot captioning", ("no_po", "kd"), ("baseline_sft", "sft"),
     (("bleu_4", 1), ("meteor", 1), ("rouge_l", 1), ("cider", 1), ("slot_accuracy", 1))),
    ("po_hallucination", "PO reduces hallucination", ("aligncap_full", "po"), ("no_po", "kd"),
     (("factual_hallucination", -1), ("faithfulness_violation", -1), ("repetition", -1))),
    ("clues_under_kd", "caption clues under KD enrich fine-grained description", ("aligncap_full", "po"),
     ("no_clues", "po"), (("slot_accuracy", 1), ("omission", -1))),
    ("full_vs_sft", "the full system beats plain SFT", ("aligncap_full", "po"), ("baseline_sft", "sft"),
     (("bleu_4", 1), ("meteor", 1), ("rouge_l", 1), ("cider", 1), ("slot_accuracy", 1),
      ("factual_hallucination", -1))),
)  # fmt: skip
#: The KL claim: (claim_id, claim, A, B); measured on the claim split and on ``valid``.
KL_CLAIM: tuple[str, str, tuple[str, str], tuple[str, str]] = (
    "kd_gap", "KD narrows the speech-text gap", ("no_po", "kd"), ("baseline_sft", "sft"))  # fmt: skip
#: Every claim id, in the order of the claims table.
CLAIM_IDS: tuple[str, ...] = ("speech_matters", "kd_gap", "kd_captioning", "po_hallucination", "clues_under_kd",
                              "full_vs_sft")  # fmt: skip
#: Both sides below this: the verdict is "both near zero" (e.g. BLEU@4 against the unseen-phrasing references:
#: about 4e-6 for every trained variant at cpu, when those were the only test references).
NEAR_ZERO = 1e-3


@dataclasses.dataclass(frozen=True)
class AblationConfig(StageConfig):
    """What the ablation runs. Defaults: the ``cpu`` preset (at least 3 seeds per trained variant)."""

    stage: ClassVar[str] = "ablations"

    seeds: tuple[int, ...] = (0, 1, 2)
    variants: tuple[str, ...] = VARIANT_ORDER
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
    """Train and evaluate every variant x seed (cached stages reused); returns ``{(variant, stage, seed):
    folder}``."""

    preset = preset or layout.preset
    train_teacher(layout, preset=preset)
    base = StageConfigs.for_preset(preset)
    out: dict[tuple[str, str, int], Path] = {}
    for seed in cfg.seeds:
        out.update(train_variants(layout, list(cfg.variants), [seed], preset, stages=("sft", "kd", "po"),
                                  configs=cfg.seed_configs(base, seed)))  # fmt: skip
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
    """One row per (claim, split, language, metric): ``claim_id``, ``claim``, ``comparison``, ``split``,
    ``lang``, ``metric``, ``direction``, ``diff``, ``ci95``, ``a``, ``b``, ``n_seeds``, ``verdict``
    (:data:`CLAIMS`, then the KL claim on the claim split and ``valid``). Comparisons whose stages are missing are
    listed with verdict ``missing`` and the reason. Over ``cfg.seeds`` only: a seed folder left by an older
    configuration is never mixed in."""

    seeds = list(cfg.seeds)
    rows: list[dict[str, Any]] = []
    for claim_id, claim, a, b, metrics in CLAIMS:
        ra, rb = stage_results(layout, *a, seeds=seeds), stage_results(layout, *b, seeds=seeds)
        comparison = f"{a[0]} ({a[1]}) - {b[0]} ({b[1]})"
        for lang in ("en", "zh"):
            for metric, direction in metrics:
                row = {"claim_id": claim_id, "claim": claim, "comparison": comparison, "split": cfg.claim_split,
                       "lang": lang, "metric": metric, "direction": "higher" if direction > 0 else "lower"}  # fmt: skip
                try:
                    d = paired_over_seeds(ra, rb, cfg.claim_split, lang, metric, ev)
                except (ValueError, KeyError) as exc:
                    rows.append({**row, "verdict": "missing", "reason": str(exc)})
                    continue
                verdict = _verdict(d["ci95"][0], d["ci95"][1], direction)
                if max(abs(d["a"] or 0.0), abs(d["b"] or 0.0)) < NEAR_ZERO:
                    verdict = "both near zero"  # an interval of 1e-6 around 4e-6 is no evidence either way
                rows.append({**row, **d, "verdict": verdict})
        if claim_id == "speech_matters":  # the claims table's order: kd_gap second
            rows += kl_claim_rows(layout, cfg, ev)
    return rows


def kl_claim_rows(layout: Any, cfg: AblationConfig, ev: Any) -> list[dict[str, Any]]:
    """The ``kd_gap`` rows: the paired difference of the held-out KL, on the claim split and on ``valid``."""
    kl_id, kl_claim, a, b = KL_CLAIM
    rows = []
    for split in dict.fromkeys((cfg.claim_split, "valid")):  # the claim's split first, then valid
        row = {"claim_id": kl_id, "claim": kl_claim, "comparison": f"{a[0]} ({a[1]}) - {b[0]} ({b[1]})",
               "split": split, "lang": "both", "metric": "speech_text_kl", "direction": "lower"}  # fmt: skip
        try:
            d = kl_difference(layout, a, b, ev, list(cfg.seeds), split)
            rows.append({**row, **d, "verdict": _verdict(d["ci95"][0], d["ci95"][1], -1)})
        except (FileNotFoundError, ValueError) as exc:
            rows.append({**row, "verdict": "missing", "reason": str(exc)})
    return rows


def clue_reading(layout: Any, cfg: AblationConfig, ev: Any, seed: int | None = None) -> dict[str, Any]:
    """The ``analyzer_clues`` extension read slot by slot, at ``seed`` (default: the first) on the claim split.

    Each test clip's deployment-realistic analyzer clues with each slot dropped with the training dropout
    probability (``ScheduleConfig.clue_dropout``, seeded per clip), captioned with the clip's own speech and with
    another clip's (the ``shuffled_speech`` derangement). Per language and group (``given``: slots in the prompt;
    ``dropped``: slots left out), over the expected (clip, slot) items (a marked true bin, or the emotion):
    ``real`` and ``shuffled`` = the share stated as the corpus truth, ``diff`` = real - shuffled with its 95%
    interval (bootstrap over clips), ``analyzer`` = the share where the analyzer's own clue is the truth (what
    copying the prompt scores on given slots). On dropped slots only listening can beat shuffled speech.
    Cached under ``runs/<preset>/eval/clue_reading/seed<k>/`` by the stage's fingerprint."""
    from aligncap_lib.captioner.generation import generate_captions
    from aligncap_lib.captioner.variants import clip_examples, drop_clues, shuffled_units
    from aligncap_lib.core.reproducibility import write_json
    from aligncap_lib.evaluation.hallucination import parse_claims, slot_accuracy, truth_from_record

    seed = cfg.seeds[0] if seed is None else seed
    stage = layout.model("analyzer_clues", seed) / "kd"
    if read_stage(stage) is None:
        return {"skipped_reason": f"no analyzer_clues stage at seed {seed}", "seed": seed}
    configs = StageConfigs.for_preset(layout.preset)
    p = configs.schedule.clue_dropout
    split = cfg.claim_split
    fingerprint = combined_hash((read_stage(stage) or {}).get("fingerprint", ""), configs.decoding.result_hash(),
                                {"split": split, "dropout": p, "seed": seed})  # fmt: skip
    records = layout.records()
    measured = inputs.deployment_clues(records)

    def build(tmp: Path) -> dict[str, Any]:
        units = inputs.unit_texts(layout, records)
        model, tok = load_model(stage / "merged")
        v = get_variant("analyzer_clues")
        out: dict[str, Any] = {}
        for lang in ("en", "zh"):
            recs = [r for r in records if r["split"] == split and r["lang"] == lang]
            if not recs:
                continue
            given = {r["id"]: drop_clues(measured[r["id"]], p, 10_000 + seed, r["id"]) for r in recs}
            hyps = {}
            for name, u in (("real", units), ("shuffled", shuffled_units(recs, units, seed))):
                ex = clip_examples(recs, v, units=u, measured=given, captions_per_clip=1, teacher=None)
                hyps[name] = generate_captions(model, tok, ex, configs.decoding.settings(), seed=seed)
            out[lang] = {"given": {r["id"]: sorted(given[r["id"]]) for r in recs}, "hyps": hyps}
        write_json(tmp / "clue_reading.json", out)
        return {"langs": sorted(out)}

    folder, _ = run_stage(layout.work / "eval" / "clue_reading" / f"seed{seed}", fingerprint, build,
                          upstream={"student": stage})  # fmt: skip
    stored = json.loads((folder / "clue_reading.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in records}

    def share(stats: np.ndarray) -> float | None:
        return float(stats[:, 0].sum() / stats[:, 1].sum()) if stats[:, 1].sum() else None

    rows = []
    for lang, data in sorted(stored.items()):
        ids = sorted(data["given"])
        claims = {name: parse_claims([h[i] for i in ids], lang)[0] for name, h in data["hyps"].items()}
        # what copying the prompt states: the analyzer's measured clues
        claims["analyzer"] = [{s_: b for s_, b in measured[i].items() if b is not None} for i in ids]
        truths = [truth_from_record(by_id[i]) for i in ids]
        for group in ("given", "dropped"):
            # the group's slots only: slot_accuracy expects the known, marked true slots (and the emotion)
            masked = [{s_: t if (s_ in data["given"][i]) == (group == "given") else None for s_, t in truth.items()}
                      for i, truth in zip(ids, truths, strict=True)]  # fmt: skip
            stats = {name: bs.as_ratio_stats(*slot_accuracy(c, masked)) for name, c in claims.items()}
            iv = bs.paired_difference(stats["real"], stats["shuffled"], bs.ratio_statistic,
                                      n_resamples=ev.n_bootstrap, confidence=ev.confidence, seed=ev.bootstrap_seed)  # fmt: skip
            rows.append({"lang": lang, "group": group, "items": int(stats["real"][:, 1].sum()),
                         "real": share(stats["real"]), "shuffled": share(stats["shuffled"]),
                         "analyzer": share(stats["analyzer"]), "diff": iv.point, "ci95": [iv.low, iv.high],
                         "verdict": _verdict(iv.low, iv.high, 1)})  # fmt: skip
    return {"seed": seed, "split": split, "dropout": p, "rows": rows}


def dpo_logs(layout: Any, cfg: AblationConfig) -> dict[str, list[dict[str, Any]]]:
    """label -> trl's DPO log of each PO variant at the first seed (the reward curves)."""
    out = {}
    for v in ("aligncap_full", "no_kd", "no_clues"):
        path = layout.model(v, cfg.seeds[0]) / "po" / "log.json"
        if path.is_file():
            out[f"{v} seed{cfg.seeds[0]}"] = json.loads(path.read_text(encoding="utf-8"))
    return out
