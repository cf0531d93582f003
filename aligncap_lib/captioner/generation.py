"""Batched caption generation (greedy, beam, sampling) with the decoding settings.

Decoding settings are :class:`DecodingConfig`; its :meth:`DecodingConfig.settings` dict is stored next to every
result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from aligncap_lib.captioner.prompts import CaptionExample, example_prompt
from aligncap_lib.core.presets import StageConfig

DECODING_STRATEGIES: tuple[str, ...] = ("greedy", "beam", "sample")


@dataclasses.dataclass(frozen=True)
class DecodingConfig(StageConfig):
    """How evaluation and inference captions are decoded (recorded with every result). Defaults: ``cpu``."""

    stage: ClassVar[str] = "decoding"

    strategy: str = "greedy"
    num_beams: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 48

    def validate(self) -> None:
        self._one_of("strategy", DECODING_STRATEGIES)
        self._positive("num_beams", "temperature", "max_new_tokens")
        self._probability("top_p")

    def settings(self) -> dict[str, Any]:
        """The settings as recorded with every result and passed to :func:`generate_captions`."""
        out: dict[str, Any] = {"strategy": self.strategy, "max_new_tokens": self.max_new_tokens}
        if self.strategy == "beam":
            out["num_beams"] = self.num_beams
        if self.strategy == "sample":
            out.update(temperature=self.temperature, top_p=self.top_p)
        return out


def generate_captions(
    model: Any,
    tokenizer: Any,
    examples: Sequence[CaptionExample],
    settings: Mapping[str, Any],
    *,
    view: str = "speech",
    role: str = "student",
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, str]:
    """id -> generated caption for each example's prompt in ``view`` (left-padded batches).

    ``settings``: ``strategy`` greedy | beam | sample, ``max_new_tokens``, and ``num_beams`` (beam) or
    ``temperature``/``top_p`` (sample). Sampling draws from a generator seeded with ``seed`` at the start,
    so the same call gives the same captions.
    """
    strategy = settings.get("strategy", "greedy")
    kwargs: dict[str, Any] = {"max_new_tokens": int(settings.get("max_new_tokens", 48)), "do_sample": False}
    if strategy == "beam":
        kwargs.update(num_beams=int(settings.get("num_beams", 4)), early_stopping=True)
    elif strategy == "sample":
        kwargs.update(
            do_sample=True,
            temperature=float(settings["temperature"]),
            top_p=float(settings["top_p"]),
            top_k=0,
        )
    elif strategy != "greedy":
        raise ValueError(f"unknown decoding strategy {strategy!r}; choose greedy, beam or sample")
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues every row from its last prompt token
    out: dict[str, str] = {}
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for start in range(0, len(examples), batch_size):
                chunk = examples[start : start + batch_size]
                prompts = [example_prompt(ex, view, role) for ex in chunk]
                enc = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
                enc = enc.to(model.device)  # a GPU model (paper preset) generates on its device
                with torch.no_grad():
                    gen = model.generate(
                        **enc,
                        pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=tokenizer.eos_token_id,
                        **kwargs,
                    )
                texts = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
                out.update({ex.id: t.strip() for ex, t in zip(chunk, texts, strict=True)})
    finally:
        tokenizer.padding_side = side
    return out
