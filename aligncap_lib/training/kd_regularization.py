"""KD-Regularization: the divergence between the caption distributions given text and given speech.

AlignCap's first property (paper, abstract): minimise the divergence between the LLM's next-token
distributions over the caption given the *text* input (teacher: transcript + emotional clues parsed from the
reference caption: privileged information) and given the *speech* input (student: speech units and the
instruction; the ``analyzer_clues`` extension also reads measured clues), as a knowledge
distillation regulariser next to the usual cross-entropy (and :func:`speech_text_kl`, the same divergence measured
on held-out clips):

    L = CE(student) + lambda * D(p_T, p_S),  summed over caption positions only

where, per caption position t with temperature tau, p_T = softmax(z_T / tau), p_S = softmax(z_S / tau) and

    forward KL   D = KL(p_T || p_S) = sum_v p_T(v) [log p_T(v) - log p_S(v)]
    reverse KL   D = KL(p_S || p_T)
    generalized JSD (Agarwal et al. 2024, "On-policy distillation", eq. 1; trl's ``generalized_jsd_loss``)
                 D = beta KL(p_T || M) + (1 - beta) KL(p_S || M),  M = beta p_T + (1 - beta) p_S

The teacher is the frozen base LM read through peft's ``disable_adapter()`` (no second copy; see
:mod:`aligncap_lib.training.kd_trainer`). This module holds the pure function and the stage config.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from aligncap_lib.captioner.prompts import IGNORE_INDEX, CaptionCollator, CaptionExample, encode_example
from aligncap_lib.core.presets import StageConfig

DIVERGENCES: tuple[str, ...] = ("forward_kl", "reverse_kl", "jsd")
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")


def divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    kind: str = "forward_kl",
    beta: float = 0.5,
    temperature: float = 1.0,
    reduction: str = "mean",
    num_items: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """The per-position divergence D(p_T, p_S) of the module docstring, masked and reduced.

    ``student_logits``, ``teacher_logits``: float [..., V] (same shape; e.g. [N, V] caption positions or
    [B, T, V]). ``mask``: bool [...] (True = a caption position that counts); None counts every position.
    ``kind``: ``forward_kl`` | ``reverse_kl`` | ``jsd`` (``beta`` in [0, 1]: 0 gives forward KL, 1 reverse KL,
    as in trl). ``temperature`` > 0 divides both logits. ``reduction``: ``mean`` over counted positions
    (``sum / num_items`` when ``num_items`` is given: the token count of the whole accumulated batch, so that
    gradient accumulation equals one full batch), ``sum``, or ``none`` (a tensor [...] with masked positions
    set to 0). Result in nats. Gradients flow into both logits; detach the teacher's yourself.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ"
        )
    if kind not in DIVERGENCES:
        raise ValueError(f"unknown divergence {kind!r}; choose one of {DIVERGENCES}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {REDUCTIONS}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if mask is not None and mask.shape != student_logits.shape[:-1]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match logits {tuple(student_logits.shape[:-1])}")

    dtype = torch.promote_types(student_logits.dtype, torch.float32)  # half logits: KL in float32
    log_s = F.log_softmax(student_logits.to(dtype) / temperature, dim=-1)
    log_t = F.log_softmax(teacher_logits.to(dtype) / temperature, dim=-1)
    if kind == "jsd" and beta in (0.0, 1.0):  # the mixture collapses onto one side: trl's convention
        kind = "forward_kl" if beta == 0.0 else "reverse_kl"
    if kind == "forward_kl":
        per_pos = _kl(log_t, log_s)
    elif kind == "reverse_kl":
        per_pos = _kl(log_s, log_t)
    else:
        log_m = torch.logsumexp(
            torch.stack([log_t + math.log(beta), log_s + math.log1p(-beta)]), dim=0
        )  # log(beta p_T + (1 - beta) p_S), computed in log space for stability
        per_pos = beta * _kl(log_t, log_m) + (1.0 - beta) * _kl(log_s, log_m)

    if mask is not None:
        per_pos = per_pos * mask.to(per_pos.dtype)
    if reduction == "none":
        return per_pos
    total = per_pos.sum()
    if reduction == "sum":
        return total
    if num_items is not None:
        return total / num_items
    count = mask.sum() if mask is not None else torch.tensor(per_pos.numel())
    return total / count.clamp_min(1).to(total.dtype)  # an empty mask gives 0, not 0/0


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last axis from log-probabilities: [..., V] -> [...]."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def caption_logits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The next-token logits that predict caption tokens, flattened in reading order.

    ``logits``: [B, T, V]; ``labels``: long [B, T] with ``IGNORE_INDEX`` outside the caption (prompt, padding).
    Returns ``(logits [N, V], targets [N])`` where N is the number of caption tokens. Two views of one batch
    whose captions share their token ids (text and speech prompt) give row-aligned outputs, whatever their
    prompt lengths: this is how the teacher's and the student's positions are paired.
    """
    shifted_logits, shifted_labels = logits[:, :-1], labels[:, 1:]
    keep = shifted_labels != IGNORE_INDEX
    return shifted_logits[keep], shifted_labels[keep]


def speech_text_kl(
    model: Any,
    tokenizer: Any,
    examples: Sequence[CaptionExample],
    *,
    max_caption_tokens: int = 64,
    batch_size: int = 32,
    teacher: Any | None = None,
    student_view: str = "speech",
) -> np.ndarray:
    """Per-example mean KL(p_text || p_student) over the caption tokens (teacher forcing on the reference
    caption), in nats: float [N]. The text view (with ``teacher_clues``) is read by ``teacher`` if given, else by
    ``model`` itself (adapter disabled when ``model`` is a peft model, so this measures the student against the
    frozen base). The student side is ``model`` on ``student_view`` (``speech``; ``text`` with the examples'
    ``student_clues``: the KD floor, :func:`aligncap_lib.training.stages.kd_floor`).

    The measured alignment: a KD student should have a lower value than the student trained without KD.
    """
    collate = CaptionCollator(tokenizer.pad_token_id)
    values: list[float] = []
    model.eval()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        feats = [
            encode_example(
                tokenizer,
                ex,
                input_view=student_view,
                teacher_view="text",
                max_caption_tokens=max_caption_tokens,
            )
            for ex in chunk
        ]
        batch = {k: v.to(model.device) for k, v in collate(feats).items()}
        with torch.no_grad():
            s_logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            t_inputs = {
                "input_ids": batch["teacher_input_ids"],
                "attention_mask": batch["teacher_attention_mask"],
            }
            if teacher is not None:
                t_logits = teacher(**t_inputs).logits
            elif hasattr(model, "disable_adapter"):
                with model.disable_adapter():
                    t_logits = model(**t_inputs).logits
            else:
                t_logits = model(**t_inputs).logits
        s, _ = caption_logits(s_logits.float(), batch["labels"])  # the divergence in fp32 under bf16 too
        t, _ = caption_logits(t_logits.float(), batch["teacher_labels"])
        per_token = divergence(s, t, reduction="none")
        lengths = (batch["labels"][:, 1:] != -100).sum(1).tolist()
        values.extend(p.mean().item() for p in torch.split(per_token, lengths))
    return np.asarray(values, dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class KDConfig(StageConfig):
    """KD-Regularization (the student's adapter: :class:`aligncap_lib.captioner.model.LoRAConfig`). Defaults are the
    ``cpu`` preset; the paper states none of them."""

    stage: ClassVar[str] = "kd"

    #: Weight of the divergence next to CE, chosen on ``valid`` from {0.3, 1, 3} by the extras' rule (highest mean
    #: valid CIDEr over the languages; within 0.01, the smaller lambda: analysis.extras.choose_lambda), speech-only
    #: students, seed 0, before the committed run: valid CIDEr 0.3: 1.231, 1: 1.178, 3: 1.241 (lambda 0, SFT:
    #: 1.238); valid KL 0.725 / 0.712 / 0.712 (SFT 0.717). The three are within one seed's noise.
    kd_lambda: float = 0.3
    #: Forward KL (teacher -> student) is the classic KD objective (Hinton et al. 2015) and the mode-covering
    #: direction, which fits a student that must cover every phrasing the teacher would use.
    kind: str = "forward_kl"
    #: Only used by ``jsd``; trl's GKD default is 0.5.
    beta: float = 0.5
    #: 1.0: the teacher's distributions are already soft (many paraphrases); trl GKD's default is also 0.9-1.0.
    temperature: float = 1.0

    def validate(self) -> None:
        self._one_of("kind", DIVERGENCES)
        self._probability("beta")
        self._positive("temperature")
        self._require(self.kd_lambda >= 0, f"kd_lambda must be >= 0, got {self.kd_lambda}")
