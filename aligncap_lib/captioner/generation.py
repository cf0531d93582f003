"""Batched caption generation (greedy, beam, sampling) with the decoding settings.

Decoding settings are :class:`DecodingConfig`; its :meth:`DecodingConfig.settings` dict is stored next to every
result.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from transformers import LogitsProcessorList, NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor

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
    #: Anti-repetition, over the *generated* tokens only (the prompt's speech units and clue words may be
    #: repeated freely): transformers' ``RepetitionPenaltyLogitsProcessor`` with ``prompt_ignore_length`` and its
    #: ``NoRepeatNGramLogitsProcessor`` applied from the first generated token, per language (punctuation tokens
    #: exempt: every clause ends in one). Chosen on ``valid`` (never a test split) by
    #: ``benchmarks/choose_decoding.py``, whose table is in docs/method.md: English no repeated token 3-gram
    #: (" a high pitch" twice), Chinese no repeated token (a slot phrase such as 语速较快 is one token of the
    #: captioner's vocabulary; no training caption repeats a non-punctuation token), no penalty (1.2 cost 0.03 (zh)
    #: to 0.10 (en) slot accuracy: it also penalises " a" and "，"). 1.0 / 0 = off.
    repetition_penalty: float = 1.0
    no_repeat_ngram_size_en: int = 3
    no_repeat_ngram_size_zh: int = 1

    def validate(self) -> None:
        self._one_of("strategy", DECODING_STRATEGIES)
        self._positive("num_beams", "temperature", "max_new_tokens")
        self._probability("top_p")
        self._require(
            1.0 <= self.repetition_penalty <= 3.0,
            f"repetition_penalty must be in [1, 3] (1 = off), got {self.repetition_penalty!r}",
        )
        for lang in ("en", "zh"):
            size = getattr(self, f"no_repeat_ngram_size_{lang}")
            self._require(size >= 0, f"no_repeat_ngram_size_{lang} must be >= 0 (0 = off), got {size!r}")

    def settings(self) -> dict[str, Any]:
        """The settings as recorded with every result and passed to :func:`generate_captions`."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "no_repeat_ngram_size": {"en": self.no_repeat_ngram_size_en, "zh": self.no_repeat_ngram_size_zh},
        }
        if self.strategy == "beam":
            out["num_beams"] = self.num_beams
        if self.strategy == "sample":
            out.update(temperature=self.temperature, top_p=self.top_p)
        return out


class GeneratedNoRepeatNGram(NoRepeatNGramLogitsProcessor):
    """transformers' ``NoRepeatNGramLogitsProcessor`` over the tokens after the first ``prompt_length`` (the
    left-padded prompt): a decoder-only model's prompt is part of ``input_ids``, and the stock processor would
    forbid every n-gram of the speech units and the clue prompt too. Tokens in ``exempt`` (punctuation) are
    never banned."""

    def __init__(self, ngram_size: int, prompt_length: int, exempt: Sequence[int] = ()) -> None:
        super().__init__(ngram_size)
        self.prompt_length = int(prompt_length)
        self.exempt = torch.as_tensor(sorted(set(exempt)), dtype=torch.long)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        keep = scores[:, self.exempt].clone() if self.exempt.numel() else None
        out = super().__call__(input_ids[:, self.prompt_length :], scores)
        if keep is not None:
            out[:, self.exempt] = keep
        return out


def punctuation_ids(tokenizer: Any) -> list[int]:
    """Ids of the vocabulary's tokens made of punctuation and spaces only (exempt from the no-repeat rule);
    computed once per tokenizer object (a 150k-token vocabulary takes seconds to decode)."""
    import unicodedata

    cached = getattr(tokenizer, "_aligncap_punctuation_ids", None)
    if cached is not None and cached[0] == len(tokenizer):
        return list(cached[1])
    out = []
    for tok_id in range(len(tokenizer)):
        text = tokenizer.decode([tok_id])
        if text.strip() and all(unicodedata.category(c).startswith("P") or c.isspace() for c in text):
            out.append(tok_id)
    with contextlib.suppress(AttributeError):  # a tokenizer that takes no attributes is simply not cached
        tokenizer._aligncap_punctuation_ids = (len(tokenizer), tuple(out))
    return out


def anti_repetition(
    settings: Mapping[str, Any], prompt_length: int, lang: str, exempt: Sequence[int] = ()
) -> LogitsProcessorList:
    """The logits processors of ``settings``' ``repetition_penalty`` and ``no_repeat_ngram_size`` (a number, or
    language -> number) for captions in ``lang``, over the generated tokens only (empty when both are off)."""
    out = LogitsProcessorList()
    penalty = float(settings.get("repetition_penalty", 1.0))
    if penalty != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=int(prompt_length)))
    size = settings.get("no_repeat_ngram_size", 0)
    size = int(size.get(lang, 0) if isinstance(size, Mapping) else size)
    if size > 0:
        out.append(GeneratedNoRepeatNGram(size, prompt_length, exempt))
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

    ``settings``: ``strategy`` greedy | beam | sample, ``max_new_tokens``, ``num_beams`` (beam) or
    ``temperature``/``top_p`` (sample), and optionally ``repetition_penalty`` / ``no_repeat_ngram_size``
    (over the generated tokens only; see :class:`DecodingConfig`). Sampling draws from a generator seeded with
    ``seed`` at the start, so the same call gives the same captions.
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
    exempt = punctuation_ids(tokenizer) if settings.get("no_repeat_ngram_size") else []
    # one language per batch: the anti-repetition settings are per language
    batches = []
    for lang in dict.fromkeys(ex.lang for ex in examples):
        group = [ex for ex in examples if ex.lang == lang]
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for chunk in batches:
                prompts = [example_prompt(ex, view, role) for ex in chunk]
                enc = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
                enc = enc.to(model.device)  # a GPU model (paper preset) generates on its device
                with torch.no_grad():
                    gen = model.generate(
                        **enc,
                        pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=tokenizer.eos_token_id,
                        logits_processor=anti_repetition(
                            settings, enc["input_ids"].shape[1], chunk[0].lang, exempt
                        ),
                        **kwargs,
                    )
                texts = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
                out.update({ex.id: t.strip() for ex, t in zip(chunk, texts, strict=True)})
    finally:
        tokenizer.padding_side = side
    return out
