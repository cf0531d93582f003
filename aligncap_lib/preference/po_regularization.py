"""PO-Regularization: candidates sampled from the model PO starts from, scored by a judge, paired and optimized
with DPO (plus an SFT term on the chosen caption) through trl's ``DPOTrainer``.

The judge (:mod:`aligncap_lib.preference.judges`) reads what exists for an unlabelled clip: the clues the acoustic
analyzer measures as ``aligncap caption`` does (``judge_clues="analyzer"``, the default:
:func:`aligncap_lib.captioner.inputs.deployment_clues`), the references and the transcript; never the corpus truth.
``judge_clues="truth"`` (the corpus attributes) is PO's upper bound, an extra of the reproduction, never a claim.

Pairs (``pairing="contradiction"``, the default): every two candidates of a clip whose judge scores differ by at least
the margin and whose chosen caption is less wrong: it contradicts the clues on no slot the rejected one does not, and
on fewer slots, or on the same ones while breaking fewer instruction rules. DPO then learns from factual and
faithfulness defects, never to prefer a contradiction. ``pairing="best_worst"``: one pair per clip (the best and
the worst candidate above the margin).

Where PO starts (the variant table, :mod:`aligncap_lib.captioner.variants`): the stage before ``po`` in the variant's
``stages``: ``aligncap_full`` from ``no_po``'s KD checkpoint, ``no_kd`` from its SFT model, ``no_clues`` from
its KD-without-clues model.

The reference model. With a LoRA model trl's reference is the adapter-*disabled* base. PO must stay close to
the model it starts from (SFT+KD), not to the text teacher under it, so the previous adapter is merged first
(``<start>/merged/``, a plain causal LM) and DPO trains a *fresh* adapter on it: disabling that adapter gives
back exactly the start model (tested: the reference log-probs equal the start model's). measured here: a PeftModel
passed alone silently uses the pre-KD base as reference.

Pairs are in trl's preference format (``prompt``, ``chosen``, ``rejected``); the prompt is the student's
speech-view prompt, speech units included, so DPO sees exactly what generation sees. trl tokenizes
``prompt + completion`` as one string; our prompts end on a punctuation token, so its ids equal those of
:func:`aligncap_lib.captioner.prompts.encode_example` (tested).

Layout: ``runs/<preset>/pairs/<variant>/seed<k>/`` (``candidates.json``, ``scores.json``, ``pairs.jsonl``,
``stats.json``) and the stage folder ``runs/<preset>/models/<variant>/seed<k>/po/`` like every trained stage,
plus ``log.json`` with trl's reward curves.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from aligncap_lib.captioner import inputs
from aligncap_lib.captioner.generation import generate_captions
from aligncap_lib.captioner.model import RuntimeConfig, load_model, runtime_flags, save_model, to_device
from aligncap_lib.captioner.prompts import example_prompt
from aligncap_lib.captioner.variants import clip_examples, get_variant
from aligncap_lib.core.presets import StageConfig, combined_hash, plumbing_field
from aligncap_lib.core.processes import per_device_batch, world
from aligncap_lib.core.reproducibility import (
    configure_threads,
    quiet_progress,
    seed_everything,
    sha256_file,
    write_json,
    write_results,
)
from aligncap_lib.core.run_layout import RunLayout, read_stage, run_stage
from aligncap_lib.preference import judges
from aligncap_lib.preference.human_preferences import load_human_preferences
from aligncap_lib.preference.judges import Judge, RubricJudge
from aligncap_lib.preference.llm_judge import LLMJudge
from aligncap_lib.training.stages import StageConfigs, evaluate_model, train_student

JUDGES: tuple[str, ...] = ("rubric", "llm", "human")


@dataclasses.dataclass(frozen=True)
class POConfig(StageConfig):
    """Candidates, judge, pairs and DPO. Defaults: the ``cpu`` preset (budget: 3 min candidates, 2 min DPO per
    run). The paper states none of these values; each is our choice with its reason."""

    stage: ClassVar[str] = "po"
    #: 2: pairs that never prefer a contradiction, the rubric's repetition rule (the pairs' cache key moves).
    protocol: ClassVar[int] = 2

    max_clips: int = 512  # at most about 512 pref clips (the cpu corpus has fewer)
    candidates: int = 4  # K samples per clip: best and worst of 4 already differ on most clips (measured)
    temperature: float = 1.0  # sampling from the model's own distribution: the pairs DPO can learn from
    top_p: float = 0.95  # drops the far tail (degenerate strings nobody would prefer or need to unlearn)
    max_new_tokens: int = 48  # as the captioner's evaluation
    judge: str = "rubric"  # offline default; "llm" needs an endpoint; "human" reads a preference file
    human_preferences: str | None = None  # JSONL of human pairs/ratings (judge "human")
    judge_clues: str = (
        "analyzer"  # what the rubric checks claims against: "analyzer" | "truth" (upper bound only)
    )
    margin: float = 0.1  # judge-score gap below which two candidates are too close to call (noise)
    #: "contradiction": all pairs above the margin whose chosen caption is less wrong (build_pairs; up to K(K-1)/2 per
    #: clip); "best_worst": the best and the worst candidate per clip
    pairing: str = "contradiction"
    pair_fraction: float = 1.0  # share of the pairs used: the preference-set-size sweep
    beta: float = 0.1  # trl's default DPO temperature; the paper gives none
    #: Weight of the SFT (negative log-likelihood) term on the chosen caption next to DPO's sigmoid loss (trl
    #: ``loss_type=["sigmoid", "sft"]``; RPO, Pang et al. 2024; trl 1.16 has no ``rpo_alpha``). 0 = plain DPO.
    #: Our choice: 1.0 (RPO's value). Why: plain DPO lowered CIDEr (en 1.98 -> 1.84) and raised Chinese repetition
    #: in the previous cpu run; the NLL term keeps the policy on its own chosen, fluent captions.
    sft_weight: float = 1.0
    steps: int = 60  # a prototype here: 60 DPO steps moved the tiny captioner
    batch_size: int = 8
    learning_rate: float = 5e-4  # a fresh LoRA on a tiny LM; 1e-3..3e-3 trained SFT stably, DPO is touchier
    warmup_ratio: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    max_length: int = 256  # prompt (<= ~130 with 100 units) + caption: the captioner's max_positions
    seed_offset: int = 1000  # sampling seeds: seed * seed_offset + k (k < K), apart from evaluation's
    progress: bool = plumbing_field(True)

    def validate(self) -> None:
        self._positive("max_clips", "candidates", "temperature", "max_new_tokens", "beta", "steps")
        self._positive("batch_size", "learning_rate", "lora_r", "lora_alpha", "max_length", "seed_offset")
        self._probability("top_p", "warmup_ratio", "pair_fraction")
        self._one_of("judge", JUDGES)
        self._one_of("judge_clues", ("analyzer", "truth"))
        self._one_of("pairing", ("contradiction", "best_worst"))
        self._require(self.sft_weight >= 0, f"sft_weight must be >= 0, got {self.sft_weight}")
        self._require(self.candidates >= 2, f"candidates must be >= 2 to form a pair, got {self.candidates}")
        self._require(self.margin >= 0, f"margin must be >= 0, got {self.margin}")
        self._require(self.pair_fraction > 0, "pair_fraction must be > 0")
        if self.judge == "human":
            self._require(
                bool(self.human_preferences), "judge 'human' needs human_preferences (a JSONL path)"
            )

    def sampling(self) -> dict[str, Any]:
        return {"strategy": "sample", "temperature": self.temperature, "top_p": self.top_p,
                "max_new_tokens": self.max_new_tokens}  # fmt: skip


def start_stage(variant: str) -> tuple[str, str]:
    """``(owner, stage)`` of the checkpoint PO starts from for ``variant``."""

    v = get_variant(variant)
    if "po" not in v.stages:
        raise ValueError(f"variant {variant!r} has no PO stage (stages: {v.stages})")
    i = v.stages.index("po")
    if i == 0:
        raise ValueError(f"variant {variant!r}: PO needs a trained stage before it")
    before = v.stages[i - 1]
    return v.owner(before), before


def sample_candidates(
    model: Any, tokenizer: Any, examples: Sequence[Any], cfg: POConfig, seed: int
) -> dict[str, list[str]]:
    """id -> ``cfg.candidates`` sampled captions (seeded: the same call gives the same candidates)."""

    out: dict[str, list[str]] = {ex.id: [] for ex in examples}
    for k in range(cfg.candidates):
        hyps = generate_captions(model, tokenizer, examples, cfg.sampling(), seed=seed * cfg.seed_offset + k)
        for cid, text in hyps.items():
            out[cid].append(text)
    return out


def build_pairs(
    prompts: Mapping[str, str],
    candidates: Mapping[str, Sequence[str]],
    scores: Mapping[str, Sequence[Any]],
    margin: float,
    pairing: str = "best_worst",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Preference pairs of each clip's judged candidates. ``scores[id][k]`` is a judge score (``.score``,
    ``.breakdown``, ``.contradicted``). ``pairing="best_worst"``: chosen = the best-scored candidate, rejected =
    the worst, kept when ``best - worst >= margin`` and the texts differ. ``pairing="contradiction"``: every two
    candidates with different texts and a score gap ``>= margin`` (chosen = the higher score) whose chosen caption
    is less wrong: its contradicted slots are a subset of the rejected one's, and a strict subset or its
    ``faithfulness`` is higher (a judge that reports no contradictions gives only faithfulness pairs). Returns ``(pairs, stats)``; stats:
    clips, pairs kept, kept at other margins (best vs worst), and the rejected captions' defect by criterion (a
    criterion where rejected scores below chosen: ``factuality`` = factual hallucination, ``faithfulness`` =
    faithfulness hallucination)."""
    if pairing not in ("best_worst", "contradiction"):
        raise ValueError(f"unknown pairing {pairing!r}; choose best_worst or contradiction")
    pairs: list[dict[str, Any]] = []
    gaps: list[float] = []
    defects: dict[str, int] = {}

    def add(cid: str, texts: list[str], judged: list[Any], best: int, worst: int) -> None:
        worse_on = sorted(
            c for c, v in judged[worst].breakdown.items() if v < judged[best].breakdown.get(c, v)
        )
        for c in worse_on:
            defects[c] = defects.get(c, 0) + 1
        pairs.append({"id": cid, "prompt": prompts[cid], "chosen": texts[best], "rejected": texts[worst],
                      "chosen_score": judged[best].score, "rejected_score": judged[worst].score,
                      "chosen_breakdown": judged[best].breakdown, "rejected_breakdown": judged[worst].breakdown,
                      "chosen_contradicted": list(getattr(judged[best], "contradicted", ())),
                      "rejected_contradicted": list(getattr(judged[worst], "contradicted", ())),
                      "rejected_worse_on": worse_on})  # fmt: skip

    for cid in sorted(candidates):
        texts, judged = list(candidates[cid]), list(scores[cid])
        if len(texts) != len(judged) or len(texts) < 2:
            raise ValueError(f"clip {cid!r}: {len(texts)} candidates but {len(judged)} scores")
        order = sorted(range(len(texts)), key=lambda k: (-judged[k].score, k))  # ties: first sample wins
        best, worst = order[0], order[-1]
        if texts[best] != texts[worst]:
            gaps.append(judged[best].score - judged[worst].score)
        if pairing == "best_worst":
            if texts[best] != texts[worst] and judged[best].score - judged[worst].score >= margin:
                add(cid, texts, judged, best, worst)
            continue
        seen: set[tuple[str, str]] = set()
        for i, hi in enumerate(order):
            for lo in order[i + 1 :]:
                if texts[hi] == texts[lo] or (texts[hi], texts[lo]) in seen:
                    continue
                if judged[hi].score - judged[lo].score < margin:
                    continue
                wrong_hi = set(getattr(judged[hi], "contradicted", ()))
                wrong_lo = set(getattr(judged[lo], "contradicted", ()))
                faith_hi = judged[hi].breakdown.get("faithfulness", 0.0)
                faith_lo = judged[lo].breakdown.get("faithfulness", 0.0)
                if not (wrong_hi < wrong_lo or (wrong_hi == wrong_lo and faith_hi > faith_lo)):
                    continue  # the chosen caption must not be wrong where the rejected one is right
                seen.add((texts[hi], texts[lo]))
                add(cid, texts, judged, hi, lo)
    stats = {
        "clips": len(candidates),
        "distinct_best_worst": len(gaps),
        "pairs": len(pairs),
        "pairing": pairing,
        "clips_with_pairs": len({p["id"] for p in pairs}),
        "margin": margin,
        "kept_at_margin": {str(m): sum(g >= m for g in gaps) for m in (0.0, 0.05, 0.1, 0.2, 0.3)},
        "rejected_worse_on": dict(sorted(defects.items())),
    }
    return pairs, stats


def subsample_pairs(pairs: Sequence[dict[str, Any]], fraction: float, seed: int) -> list[dict[str, Any]]:
    """A seeded ``fraction`` of ``pairs`` (at least 1), in their original order: the preference-size sweep."""
    import random

    if fraction >= 1.0:
        return list(pairs)
    keep = max(1, round(fraction * len(pairs)))
    chosen = set(random.Random(seed).sample(range(len(pairs)), keep))
    return [p for i, p in enumerate(pairs) if i in chosen]


def judge_by_name(name: str, **kwargs: Any) -> Judge:
    """The judge called ``name`` ("rubric" | "llm"), built with ``kwargs``."""
    if name == "rubric":
        return RubricJudge(**kwargs)
    if name == "llm":
        return LLMJudge(**kwargs)
    raise ValueError(
        f"unknown judge {name!r}; choose 'rubric' or 'llm' (human preferences are a file, not a judge)"
    )


def make_judge(cfg: POConfig, cache_dir: Path | None = None) -> Judge:
    """The configured judge; the LLM judge keeps its score cache in ``cache_dir`` (a re-run sends nothing
    twice)."""
    if cfg.judge == "llm":
        return judge_by_name("llm", cache_dir=cache_dir)
    return judge_by_name(cfg.judge)


def _start_dir(layout: Any, variant: str, seed: int, configs: Any) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) the stage PO starts from; returns its folder and its stage.json."""

    owner, stage = start_stage(variant)
    folder = train_student(layout, owner, seed, layout.preset, stage=stage, configs=configs)
    return folder, read_stage(folder) or {}


def judge_clues(records: Sequence[Mapping[str, Any]], how: str) -> dict[str, dict[str, str | None]]:
    """id -> the clues the judge checks claims against: ``analyzer`` (what ``aligncap caption`` measures,
    :func:`aligncap_lib.captioner.inputs.deployment_clues`) or ``truth`` (the corpus attributes and emotion: PO's
    upper bound, never behind a claim)."""
    if how == "analyzer":
        return inputs.deployment_clues(records)
    if how == "truth":
        from aligncap_lib.evaluation.hallucination import truth_from_record

        return {r["id"]: truth_from_record(r) for r in records}
    raise ValueError(f"unknown judge clues {how!r}; choose analyzer or truth")


def pref_examples(layout: Any, variant: str, po: POConfig) -> tuple[list[Any], dict[str, Any]]:
    """The student examples of the ``pref`` split (at most ``po.max_clips``, in manifest order) and the clip
    contexts the judge reads (``po.judge_clues``: the analyzer's clues by default; references, transcript)."""

    records = layout.records()
    pref = [r for r in records if r["split"] == "pref"][: po.max_clips]
    if not pref:
        raise RuntimeError(f"no `pref` clips in {layout.corpus}: the corpus has no preference split")
    units = inputs.unit_texts(layout, pref)
    # why all records: the analyzer's population norms are fitted on train (as for the student's clues)
    measured = inputs.deployment_clues(records)
    checked = measured if po.judge_clues == "analyzer" else judge_clues(pref, po.judge_clues)
    examples = clip_examples(pref, get_variant(variant), units=units, measured=measured, captions_per_clip=1,
                             teacher=None)  # fmt: skip
    contexts = {r["id"]: judges.ClipContext(id=r["id"], lang=r["lang"], measured=checked[r["id"]],
                                                       references=tuple(r["captions"]), transcript=r.get("text"))
                for r in pref}  # fmt: skip
    return examples, contexts


def ensure_pairs(
    layout: Any, variant: str, seed: int, po: POConfig, configs: Any = None, *, judge: Any = None
) -> Path:
    """Build (or reuse) the preference pairs of ``variant`` at ``seed``: ``runs/<preset>/pairs/<variant>/
    seed<k>/`` with ``candidates.json``, ``scores.json``, ``pairs.jsonl`` (trl format + scores) and
    ``stats.json``. ``judge`` overrides the configured one (tests)."""

    configs = configs or StageConfigs.for_preset(layout.preset)
    start, info = _start_dir(layout, variant, seed, configs)
    fingerprint = pairs_fingerprint(str(info.get("fingerprint", "")), po, variant, seed)

    def build(tmp: Path) -> dict[str, Any]:
        seed_everything(seed)
        examples, contexts = pref_examples(layout, variant, po)
        prompts = {ex.id: example_prompt(ex, "speech", "student") for ex in examples}
        if po.judge == "human":
            assert po.human_preferences is not None
            human = load_human_preferences(Path(po.human_preferences))
            pairs = [{**p, "prompt": prompts[p["id"]]} for p in human if p["id"] in prompts]
            stats = {"clips": len(prompts), "pairs": len(pairs), "source": "human",
                     "unknown_ids": sorted({p["id"] for p in human} - set(prompts))}  # fmt: skip
        else:
            model, tok = load_model(start / "merged", configs.runtime)
            candidates = sample_candidates(to_device(model, configs.runtime), tok, examples, po, seed)
            scorer = judge or make_judge(po, layout.work / "judge_cache")
            flat = [
                (cid, k, text) for cid, texts in sorted(candidates.items()) for k, text in enumerate(texts)
            ]
            judged = scorer.score_many([(text, contexts[cid]) for cid, _, text in flat])
            scores: dict[str, list[Any]] = {cid: [] for cid in candidates}
            for (cid, _, _), s in zip(flat, judged, strict=True):
                scores[cid].append(s)
            pairs, stats = build_pairs(prompts, candidates, scores, po.margin, po.pairing)
            write_json(tmp / "candidates.json", candidates)
            write_json(
                tmp / "scores.json", {cid: [dataclasses.asdict(s) for s in v] for cid, v in scores.items()}
            )
            stats["judge"] = getattr(scorer, "name", po.judge)
        with open(tmp / "pairs.jsonl", "w", encoding="utf-8") as f:
            for p in pairs:
                f.write(json.dumps(p, ensure_ascii=False, sort_keys=True) + "\n")
        write_json(tmp / "stats.json", stats)
        return {"pairs": len(pairs), "clips": stats["clips"]}

    # process 0 alone samples and judges (a paid LLM judge is called once); the others wait for the pairs
    name = f"seed{seed}" if po.judge_clues == "analyzer" else f"seed{seed}_{po.judge_clues}"
    folder, _ = run_stage(layout.pairs / variant / name, fingerprint, build, collective=False,
                          upstream={"start": start})  # fmt: skip
    return folder


#: POConfig fields that shape the pairs (the rest shape DPO): changing beta does not re-sample candidates.
def pairs_fingerprint(start_fingerprint: str, po: POConfig, variant: str, seed: int) -> str:
    """The pairs' cache key: the start stage, the pair settings and, for the human judge, the *contents* of the
    preference file (a file a lab fills in over time must be re-read; its path says nothing)."""
    fields = {k: v for k, v in po.result_fields().items() if k in _PAIR_FIELDS} | {"protocol": po.protocol}
    if po.judge == "human" and po.human_preferences:
        path = Path(po.human_preferences)
        if not path.is_file():
            raise FileNotFoundError(f"human preference file {path} does not exist")
        fields["human_preferences"] = sha256_file(path)
    return combined_hash(start_fingerprint, fields, {"variant": variant, "seed": seed})


_PAIR_FIELDS: tuple[str, ...] = ("max_clips", "candidates", "temperature", "top_p", "max_new_tokens", "judge",
                                 "human_preferences", "margin", "seed_offset", "judge_clues", "pairing")  # fmt: skip


def read_pairs(folder: Path) -> list[dict[str, Any]]:
    """The pairs of :func:`ensure_pairs`' folder (``pairs.jsonl``)."""
    with open(Path(folder) / "pairs.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def dpo_train(
    start: Path,
    pairs: Sequence[Mapping[str, Any]],
    po: POConfig,
    out_dir: Path,
    seed: int,
    *,
    lora_targets: Sequence[str] | None = None,
    callbacks: list[Any] | None = None,
    runtime: RuntimeConfig | None = None,
    global_batch: bool = False,
) -> tuple[Any, Any, list[dict[str, float]]]:
    """DPO on ``pairs`` from the merged model of stage folder ``start`` with a fresh LoRA adapter (module
    docstring: the reference is then the start model). Returns ``(peft model, tokenizer, log)``; the log is
    trl's per-step history (``loss``, ``rewards/chosen``, ``rewards/rejected``, ``rewards/accuracies``,
    ``rewards/margins``, ...). Not resumable: a killed PO run restarts (it is short; same seed, same result)."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    if not pairs:
        raise ValueError(
            f"no preference pairs to train on (from {start}): lower the margin or add candidates"
        )

    model, tok = load_model(Path(start) / "merged", runtime)
    cpu, bf16, checkpointing = runtime_flags(runtime)
    processes = world()[1]
    with quiet_progress():  # trl 1.16 sets deprecated TrainingArguments names (FutureWarnings)
        args = DPOConfig(
            output_dir=str(out_dir / "checkpoints"),
            max_steps=po.steps,
            # global_batch: po.batch_size pairs per optimizer step over all processes (kd_trainer.training_arguments)
            per_device_train_batch_size=per_device_batch(po.batch_size, processes)
            if global_batch
            else po.batch_size,
            learning_rate=po.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=round(po.warmup_ratio * po.steps),
            max_grad_norm=1.0,
            beta=po.beta,
            # DPO plus the NLL of the chosen caption (RPO) when sft_weight > 0 (POConfig.sft_weight)
            loss_type=["sigmoid", "sft"] if po.sft_weight > 0 else ["sigmoid"],
            loss_weights=[1.0, po.sft_weight] if po.sft_weight > 0 else None,
            max_length=po.max_length,
            seed=seed,
            data_seed=seed,
            logging_steps=max(1, min(5, po.steps // 10)),
            save_strategy="no",
            report_to="none",
            use_cpu=cpu,
            dataloader_num_workers=0,
            disable_tqdm=not po.progress,
            # measured here: same loss curve, ~15% faster; the reference is frozen. Single process only: trl caches the
            # precomputed log-probs of an in-memory dataset in a per-process temporary folder, which the other
            # processes of a multi-process run cannot read (tests/test_distributed.py)
            precompute_ref_log_probs=processes == 1,
            # trl 1.16 defaults both to True: bf16 rounded the CPU model's logits (~1e-3, the reference no longer
            # equalled the start model) and checkpointing only costs time on a tiny LM; the captioner config
            # decides (paper preset: both on)
            bf16=bf16,
            gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
            optim="adamw_torch",
        )
    lora = LoraConfig(
        r=po.lora_r,
        lora_alpha=po.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(lora_targets) if lora_targets else "all-linear",
        task_type="CAUSAL_LM",
    )
    data = Dataset.from_list([{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]}
                              for p in pairs])  # fmt: skip
    with quiet_progress(not po.progress):
        trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=lora,
                             callbacks=callbacks)  # fmt: skip
        if not po.progress:
            # why: without tqdm the Trainer prints every log dict, wall-clock runtimes included
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
            # why: in a notebook the Trainer also draws an HTML progress bar. transformers imports that module only
            # inside a notebook; importing it here failed on a GPU machine without IPython (results/paper/README.md)
            notebook = sys.modules.get("transformers.utils.notebook")
            if notebook is not None:
                trainer.remove_callback(notebook.NotebookProgressCallback)
        trainer.train()
    log = [{k: float(v) for k, v in h.items() if isinstance(v, (int, float))}
           for h in trainer.state.log_history if "loss" in h]  # fmt: skip
    return trainer.model, tok, log


def stage_name(po: POConfig) -> str:
    """``po``; ``po_f<fraction>`` for a preference-size sweep point (its own folder, the same pairs);
    ``po_truth`` (and ``po_truth_f<fraction>``) for the oracle-truth judge."""
    name = "po" if po.judge_clues == "analyzer" else f"po_{po.judge_clues}"
    return name if po.pair_fraction >= 1.0 else f"{name}_f{po.pair_fraction:g}"


def train_po(
    layout: Any,
    variant: str,
    seed: int,
    preset: str | None = None,
    *,
    configs: Any = None,
    po: POConfig | None = None,
    judge: Any = None,
    **_: Any,
) -> Path:
    """Stage ``po`` of ``variant`` at ``seed``: pairs (cached), DPO, evaluation; returns the stage folder
    ``runs/<preset>/models/<variant>/seed<k>/po/`` (``adapter/``, ``merged/``, ``hyps/``, ``eval/``,
    ``log.json``, ``pairs.json`` (statistics), ``results.json``)."""

    configs = configs or StageConfigs.for_preset(preset or layout.preset)
    ev, lora = configs.evaluation, configs.lora
    po = po or POConfig.for_preset(preset or layout.preset)
    start, info = _start_dir(layout, variant, seed, configs)
    pairs_dir = ensure_pairs(layout, variant, seed, po, configs, judge=judge)
    pairs_info = read_stage(pairs_dir) or {}
    fingerprint = combined_hash(str(info.get("fingerprint", "")), str(pairs_info.get("fingerprint", "")),
                                po.result_hash(), ev.result_hash(), lora.result_hash(),
                                {"variant": variant, "seed": seed})  # fmt: skip

    def build(tmp: Path) -> dict[str, Any]:
        seed_everything(seed)
        pairs = subsample_pairs(read_pairs(pairs_dir), po.pair_fraction, seed)
        model, tok, log = dpo_train(start, pairs, po, tmp, seed, lora_targets=lora.targets, runtime=configs.runtime,
                                    global_batch=True)  # fmt: skip
        write_json(tmp / "log.json", log)
        records = layout.records()
        v = get_variant(variant)
        units = inputs.unit_texts(layout, records)
        measured = inputs.deployment_clues(records)
        model.save_pretrained(tmp / "adapter", safe_serialization=True)
        metrics = {"evaluation": evaluate_model(model, tok, records, v, units, measured, configs, tmp, seed),
                   "pairs_used": len(pairs)}  # fmt: skip
        save_model(model.merge_and_unload(), tok, tmp / "merged")
        import shutil

        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
        config = {"po": po.to_dict(), "captioner": configs.captioner.to_dict(), "evaluation": ev.result_fields(),
                  "variant": variant, "stage": stage_name(po), "seed": seed, "start": str(start.name),
                  "decoding": configs.decoding.settings()}  # fmt: skip
        write_results(tmp / "results.json", metrics, config=config)
        last = log[-1] if log else {}
        return {"pairs_used": len(pairs), "final_loss": last.get("loss"),
                "reward_accuracy": last.get("rewards/accuracies")}  # fmt: skip

    folder, _rebuilt = run_stage(layout.model(variant, seed) / stage_name(po), fingerprint, build,
                                 upstream={"start": start, "pairs": pairs_dir})  # fmt: skip
    return folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", default="aligncap_full", help="a variant with a PO stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help="run folder (default runs/<preset>)")
    parser.add_argument(
        "--preset", default=None, help="smoke | cpu | paper (default: $ALIGNCAP_PRESET or cpu)"
    )


def run(args: argparse.Namespace) -> int:
    """``aligncap pairs``: build the preference pairs of one variant and seed, print their statistics."""

    configure_threads()
    layout = RunLayout.for_preset(args.preset, args.work)
    po = POConfig.for_preset(layout.preset)
    folder = ensure_pairs(layout, args.variant, args.seed, po)
    print(f"pairs of {args.variant} seed {args.seed}: {folder}")
    print(json.dumps(json.loads((folder / "stats.json").read_text(encoding="utf-8")), indent=2))
    return 0
