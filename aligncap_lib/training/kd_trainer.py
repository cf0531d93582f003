"""Training the captioner with ``transformers.Trainer``: CE, and CE + lambda * KD over caption positions.

:class:`CaptionTrainer` computes, per batch, ``CE(student) + kd_lambda * D(p_T, p_S)`` (see
:mod:`aligncap_lib.training.kd_regularization`) where the student is the LoRA-adapted model reading ``input_ids`` (the
speech view) and the teacher is *the same module with its adapter disabled* (peft ``disable_adapter()``, no
second copy) reading ``teacher_input_ids`` (the text view). Both sums run over caption tokens only and are
divided by the caption-token count of the whole accumulated batch (``num_items_in_batch``), so two
accumulated half-batches give the same update as one full batch (tested). With ``kd_lambda = 0`` and no
teacher view the same class trains the text teacher or an SFT student.

Logged every ``logging_steps``: ``ce``, ``kl`` (the teacher-student divergence on the training batch, also
for students trained without KD when their batches carry a teacher view: the per-step alignment curve).
Accelerate / DeepSpeed apply through ``Trainer`` unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from aligncap_lib.captioner.model import runtime_flags
from aligncap_lib.captioner.prompts import CaptionCollator
from aligncap_lib.core.presets import StageConfig, plumbing_field
from aligncap_lib.core.processes import per_device_batch, world
from aligncap_lib.training.kd_regularization import caption_logits, divergence


@dataclasses.dataclass(frozen=True)
class ScheduleConfig(StageConfig):
    """The students' training schedule (SFT and KD). Defaults: the ``cpu`` preset. measured here: warmup + cosine +
    clipping. Budget: 150 steps x 16 at 0.44 s (SFT) / 0.59 s (KD) per step measured by benchmarks/bench_kd.py:
    66 / 89 s on 2 idle cores, so the grid of trainings fits the 60-minute cpu budget."""

    stage: ClassVar[str] = "schedule"

    steps: int = 150
    batch_size: int = 16  # the global batch: all processes together
    grad_accum: int = 1
    learning_rate: float = 2e-3  # LoRA on a tiny LM tolerates a large LR; 1e-3..3e-3 were stable
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    captions_per_clip: int = 3  # each reference caption of a train clip is one example
    #: Per-slot clue dropout of a clue-reading student (``analyzer_clues``) in training: each analyzer clue of an
    #: example is left out with this probability (variants.drop_clues), so that the student cannot caption from the
    #: prompt alone and must also listen. Our choice: 0.5, every slot given as often as withheld.
    clue_dropout: float = 0.5
    #: Share of the paired training clips used (nested seeded subsets per language, extras.subset_fraction): the
    #: data-size curve of the extras; 1.0 = all.
    train_fraction: float = 1.0
    save_steps: int = plumbing_field(
        100
    )  # resume granularity; resume is exact, so results do not depend on it
    progress: bool = plumbing_field(True)

    def validate(self) -> None:
        self._positive(
            "steps", "batch_size", "grad_accum", "learning_rate", "captions_per_clip", "save_steps"
        )
        self._probability("warmup_ratio")
        self._require(self.max_grad_norm > 0, "max_grad_norm must be > 0")
        self._probability("clue_dropout")
        self._require(
            0 < self.train_fraction <= 1, f"train_fraction must be in (0, 1], got {self.train_fraction}"
        )


class CaptionTrainer(Trainer):
    """``Trainer`` with the KD-regularised caption loss. Extra arguments: ``kd_lambda`` (0 = CE only),
    ``kd_kind``, ``kd_beta``, ``kd_temperature``; batches come from
    :class:`aligncap_lib.captioner.prompts.CaptionCollator`."""

    #: compute_loss divides by the accumulated caption-token count itself (see training_step in Trainer).
    loss_is_scaled_for_ga = True

    def __init__(
        self,
        *args: Any,
        kd_lambda: float = 0.0,
        kd_kind: str = "forward_kl",
        kd_beta: float = 0.5,
        kd_temperature: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kd_lambda, self.kd_kind, self.kd_beta, self.kd_temperature = (
            kd_lambda,
            kd_kind,
            kd_beta,
            kd_temperature,
        )
        self._sums: dict[str, float] = {"ce": 0.0, "kl": 0.0, "n_ce": 0.0, "n_kl": 0.0}
        if kd_lambda > 0 and not hasattr(self.model, "disable_adapter"):
            # why: the frozen teacher is the base with the adapter switched off; without an adapter the student
            # would be its own teacher and the KL term a silent zero
            raise ValueError(
                f"KD (kd_lambda={kd_lambda}) needs a peft model whose adapter can be disabled for the teacher; "
                f"got {type(self.model).__name__}"
            )

    def _teacher_logits(self, model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad(), self.accelerator.unwrap_model(model).disable_adapter():
            return model(
                input_ids=inputs["teacher_input_ids"], attention_mask=inputs["teacher_attention_mask"]
            ).logits

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        s_logits, targets = caption_logits(out.logits, inputs["labels"])
        # without a count from Trainer: a per-batch mean divided by the accumulation steps
        n: torch.Tensor | int = (
            targets.numel() * self.current_gradient_accumulation_steps
            if num_items_in_batch is None
            else num_items_in_batch
        )
        ce_sum = F.cross_entropy(s_logits.float(), targets, reduction="sum")
        loss = ce_sum / n
        self._sums["ce"] += ce_sum.item()
        self._sums["n_ce"] += targets.numel()
        has_teacher = "teacher_input_ids" in inputs
        log_now = self.args.logging_steps and (self.state.global_step + 1) % int(self.args.logging_steps) == 0
        if has_teacher and (self.kd_lambda > 0 or log_now):
            t_logits, t_targets = caption_logits(
                self._teacher_logits(model, inputs), inputs["teacher_labels"]
            )
            if not torch.equal(t_targets, targets):
                raise ValueError("teacher and student batches carry different caption tokens")
            kl_sum = divergence(
                s_logits,
                t_logits.detach(),
                kind=self.kd_kind,
                beta=self.kd_beta,
                temperature=self.kd_temperature,
                reduction="sum",
            )
            if self.kd_lambda > 0:
                loss = loss + self.kd_lambda * kl_sum / n
            self._sums["kl"] += kl_sum.item()
            self._sums["n_kl"] += targets.numel()
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            # n counts the caption tokens of every process (Trainer gathers them) while DDP/DeepSpeed average the
            # gradients over processes: scale back, as Trainer.compute_loss does, so that the update is the token
            # mean of the global batch whatever each process's token count (tests/test_distributed.py)
            loss = loss * self.accelerator.num_processes
        return (loss, out) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:  # a training log: add the caption CE and KL since the last log (nats per token)
            # this process's sums plus the other processes' (Trainer calls log on every process)
            totals = self.accelerator.reduce(
                torch.tensor([self._sums[k] for k in ("ce", "n_ce", "kl", "n_kl")], dtype=torch.float64,
                             device=self.args.device), reduction="sum"
            ).tolist()  # fmt: skip
            s = dict(zip(("ce", "n_ce", "kl", "n_kl"), totals, strict=True))
            logs["ce"] = s["ce"] / s["n_ce"] if s["n_ce"] else math.nan
            if s["n_kl"]:
                logs["kl"] = s["kl"] / s["n_kl"]
            self._sums = {k: 0.0 for k in s}
        super().log(logs, *args, **kwargs)


def training_arguments(
    out_dir: Path,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    grad_accum: int,
    lr: float,
    warmup_ratio: float,
    weight_decay: float,
    max_grad_norm: float,
    save_steps: int | None = None,
    logging_steps: int = 10,
    progress: bool = True,
    runtime: Any = None,
    global_batch: bool = False,
) -> TrainingArguments:
    """``TrainingArguments`` for the captioner: warmup + cosine + clipping (measured here: a constant LR teacher
    ignored its clues), seeded data order, checkpoints in safetensors for resume.

    ``runtime`` (a :class:`aligncap_lib.captioner.model.RuntimeConfig`, or None for fp32 on the CPU) gives the
    device, precision and gradient checkpointing. With ``global_batch`` ``batch_size`` is the batch of all
    processes together and each process takes its share (:func:`aligncap_lib.core.processes.per_device_batch`), so
    a multi-process run makes the same optimizer steps as a single-process one."""

    cpu, bf16, checkpointing = runtime_flags(runtime)
    per_device = per_device_batch(batch_size, world()[1]) if global_batch else batch_size
    return TrainingArguments(
        output_dir=str(out_dir),
        max_steps=steps,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=grad_accum,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        warmup_steps=max(0, round(warmup_ratio * steps)),
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,
        seed=seed,
        data_seed=seed,
        logging_steps=logging_steps,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or steps,
        save_total_limit=1,
        report_to="none",
        use_cpu=cpu,
        bf16=bf16,  # autocast; the LoRA weights and optimizer states stay fp32
        # non-reentrant checkpointing gives the frozen base's inputs gradients itself; the LoRA input-gradient
        # fix (enable_input_require_grads) is applied too, in captioner.attach_lora, for the reentrant kind
        activation_checkpointing=checkpointing,  # transformers 5's name for gradient checkpointing
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        dataloader_num_workers=0,
        remove_unused_columns=False,  # the collator's teacher_* keys reach compute_loss
        disable_tqdm=not progress,
        optim="adamw_torch",
    )


def train(
    model: Any,
    tokenizer: Any,
    features: Sequence[dict[str, list[int]]],
    args: TrainingArguments,
    *,
    kd_lambda: float = 0.0,
    kd_kind: str = "forward_kl",
    kd_beta: float = 0.5,
    kd_temperature: float = 1.0,
    resume: bool = True,
    callbacks: list[Any] | None = None,
) -> tuple[Any, list[dict[str, float]]]:
    """Train ``model`` on encoded ``features`` (see :func:`aligncap_lib.captioner.prompts.encode_example`);
    resumes from the newest checkpoint in ``args.output_dir`` when ``resume``. Returns ``(model, log)``, the
    log being Trainer's training log history (``step``, ``loss``, ``ce``, ``kl``, ``learning_rate``, ...)."""
    from transformers.trainer_utils import get_last_checkpoint

    if not features:
        raise ValueError("no training examples")
    trainer = CaptionTrainer(
        model=model,
        args=args,
        train_dataset=list(features),
        data_collator=CaptionCollator(tokenizer.pad_token_id),
        kd_lambda=kd_lambda,
        kd_kind=kd_kind,
        kd_beta=kd_beta,
        kd_temperature=kd_temperature,
        callbacks=callbacks,
    )
    last = get_last_checkpoint(args.output_dir) if resume and Path(str(args.output_dir)).is_dir() else None
    trainer.train(resume_from_checkpoint=last)
    history = [h for h in trainer.state.log_history if "loss" in h or "ce" in h]
    return trainer.model, history
