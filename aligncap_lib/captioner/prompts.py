"""Prompt templates of the captioner (EN, ZH), example encoding and the batch collator.

Two views of one clip share one tokenized caption (KD pairs their positions, see
:func:`aligncap_lib.training.kd_regularization.caption_logits`):

- ``speech`` view (the student, at training and inference)::

    <|lang_en|> Describe the speaker's emotion and voice in one sentence. [Acoustic clues: high pitch, ...]
    Speech: <|speech|><su_12><su_7>...<|/speech|> Caption:

- ``text`` view (the text teacher; the pretrained LLM's native input)::

    <|lang_en|> Describe the speaker's emotion and voice in one sentence. [Acoustic clues: high pitch, ...]
    Transcript: "..." Caption:

Chinese uses the same frame in Chinese (``用一句话描述说话人的情绪和声音。… 语音：… 描述：``). The bracketed
clue prompt is :func:`aligncap_lib.clues.emotion_clues.acoustic_prompt` and is left out when a variant uses no
clues. The caption follows, then EOS; only caption tokens (and EOS) carry a loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from aligncap_lib.captioner.model import LANG_TAGS, SPEECH_CLOSE, SPEECH_OPEN
from aligncap_lib.clues.emotion_clues import acoustic_prompt

#: The label of every non-caption position (prompt, padding): no loss there; PyTorch's cross-entropy default.
IGNORE_INDEX = -100
VIEWS: tuple[str, ...] = ("speech", "text")

#: language -> (instruction, speech frame, text frame, caption cue)
TEMPLATES: Mapping[str, tuple[str, str, str, str]] = {
    "en": (
        "Describe the speaker's emotion and voice in one sentence.",
        "Speech: " + SPEECH_OPEN + "{units}" + SPEECH_CLOSE,
        'Transcript: "{transcript}"',
        "Caption:",
    ),
    "zh": (
        "用一句话描述说话人的情绪和声音。",
        "语音：" + SPEECH_OPEN + "{units}" + SPEECH_CLOSE,
        "文本：“{transcript}”",
        "描述：",
    ),
}


@dataclass(frozen=True)
class CaptionExample:
    """One (clip, caption) pair with what each view needs. ``units``: the speech-unit text of the clip (e.g.
    ``<su_3><su_9>``, already capped); ``student_clues``/``teacher_clues``: slot -> bin, or None for no clue
    prompt in that view."""

    id: str
    lang: str
    caption: str
    transcript: str = ""
    units: str = ""
    student_clues: Mapping[str, str | None] | None = None
    teacher_clues: Mapping[str, str | None] | None = None


def build_prompt(
    lang: str,
    view: str,
    *,
    units: str = "",
    transcript: str = "",
    clues: Mapping[str, str | None] | None = None,
) -> str:
    """The prompt text of one view (module docstring). ``clues`` None leaves the clue prompt out."""

    if lang not in TEMPLATES:
        raise ValueError(f"no prompt template for language {lang!r}; choose one of {tuple(TEMPLATES)}")
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {VIEWS}")
    instruction, speech, text, cue = TEMPLATES[lang]
    sep = " " if lang == "en" else ""
    parts = [LANG_TAGS[lang], instruction]
    if clues is not None:
        parts.append(acoustic_prompt(clues, lang))
    parts.append(speech.format(units=units) if view == "speech" else text.format(transcript=transcript))
    parts.append(cue)
    return sep.join(parts[:1]) + " " + sep.join(parts[1:])


def example_prompt(ex: CaptionExample, view: str, role: str) -> str:
    """The prompt of ``ex`` in ``view`` with the clues of ``role`` ("student" or "teacher")."""
    clues = ex.student_clues if role == "student" else ex.teacher_clues
    return build_prompt(ex.lang, view, units=ex.units, transcript=ex.transcript, clues=clues)


def encode_caption(tokenizer: Any, caption: str, max_tokens: int) -> list[int]:
    """Caption ids (truncated to ``max_tokens``) + EOS: tokenized once and shared by both views."""
    ids = tokenizer(caption, add_special_tokens=False)["input_ids"][:max_tokens]
    return [*ids, tokenizer.eos_token_id]


def encode_example(
    tokenizer: Any,
    ex: CaptionExample,
    *,
    input_view: str,
    teacher_view: str | None,
    max_caption_tokens: int,
    input_role: str = "student",
) -> dict[str, list[int]]:
    """Token ids of one example: ``input_ids``/``labels`` of the trained view, plus ``teacher_input_ids``/
    ``teacher_labels`` (the teacher's view, same caption ids) when ``teacher_view`` is given."""
    caption = encode_caption(tokenizer, ex.caption, max_caption_tokens)
    out: dict[str, list[int]] = {}
    views = [("", input_view, input_role)] + ([("teacher_", teacher_view, "teacher")] if teacher_view else [])
    for prefix, view, role in views:
        prompt = tokenizer(example_prompt(ex, view, role), add_special_tokens=False)["input_ids"]
        out[prefix + "input_ids"] = prompt + caption
        out[prefix + "labels"] = [IGNORE_INDEX] * len(prompt) + caption
    return out


class CaptionCollator:
    """Right-pads each view of a list of encoded examples into tensors [B, T] (``labels`` padded with
    ``IGNORE_INDEX``, ``attention_mask`` 1 on real tokens). Keys without a ``teacher_`` prefix feed the
    trained model; ``teacher_*`` keys feed the frozen teacher. Written here because transformers' and trl's padding
    collators pad one view (``input_ids``/``labels``), not the second ``teacher_*`` view KD reads."""

    def __init__(self, pad_id: int, max_length: int | None = None) -> None:
        self.pad_id, self.max_length = pad_id, max_length

    def __call__(self, features: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        prefixes = [""] + (["teacher_"] if "teacher_input_ids" in features[0] else [])
        for prefix in prefixes:
            ids = [list(f[prefix + "input_ids"]) for f in features]
            labels = [list(f[prefix + "labels"]) for f in features]
            longest = max(map(len, ids))
            if self.max_length is not None and longest > self.max_length:
                raise ValueError(
                    f"a {prefix or 'student '}sequence has {longest} tokens > {self.max_length}; "
                    "lower the speech-unit cap or max_caption_tokens"
                )
            pad = [longest - len(x) for x in ids]
            batch[prefix + "input_ids"] = torch.tensor(
                [x + [self.pad_id] * p for x, p in zip(ids, pad, strict=True)]
            )
            batch[prefix + "labels"] = torch.tensor(
                [y + [IGNORE_INDEX] * p for y, p in zip(labels, pad, strict=True)]
            )
            batch[prefix + "attention_mask"] = torch.tensor(
                [[1] * len(x) + [0] * p for x, p in zip(ids, pad, strict=True)]
            )
        return batch
