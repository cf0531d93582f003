"""Tiny synthetic captioner pieces shared by the captioner, KD-trainer, variant and training tests (cached).

Fake clips: the speech units encode the emotion (unit block per emotion), the transcript is a short sentence,
and the caption names the emotion; enough for a 2-layer LM to learn something in a few dozen steps.
"""

from __future__ import annotations

import functools
import random
from typing import Any

from aligncap_lib.captioner.model import CaptionerConfig, build_model, train_tokenizer
from aligncap_lib.captioner.prompts import CaptionExample

EMOTIONS = ("happy", "sad", "angry", "neutral")
N_UNITS = 32
UNITS = tuple(f"<su_{i}>" for i in range(N_UNITS))
TINY = CaptionerConfig(vocab_size=300, n_layers=2, d_model=32, n_heads=2, d_ff=64, max_positions=128)


def fake_examples(n: int = 24, seed: int = 0, lang: str = "en") -> list[CaptionExample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        emo = EMOTIONS[i % len(EMOTIONS)]
        block = EMOTIONS.index(emo) * 8
        units = "".join(f"<su_{block + rng.randrange(8)}>" for _ in range(rng.randint(4, 12)))
        pitch = rng.choice(["high", "low"])
        caption = (
            f"The speaker sounds {emo} with a {pitch} voice."
            if lang == "en"
            else f"说话人听起来很{'开心' if emo == 'happy' else '平静'}。"
        )
        if i % 3 == 0:  # captions of different lengths: the accumulation test needs unequal token counts
            caption += " The tone stays like this from the first word to the very last word of it."
        out.append(
            CaptionExample(
                id=f"{lang}{i:03d}",
                lang=lang,
                caption=caption,
                transcript=f"sentence {i}",
                units=units,
                student_clues={"pitch_level": pitch},
                teacher_clues={"pitch_level": pitch, "emotion": emo},
            )
        )
    return out


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> Any:
    from aligncap_lib.captioner.prompts import example_prompt

    texts = []
    for ex in fake_examples(40) + fake_examples(8, lang="zh"):
        texts += [ex.caption, ex.transcript, example_prompt(ex, "text", "teacher")]
    return train_tokenizer(texts, UNITS, TINY.vocab_size)


def tiny_model(seed: int = 0) -> Any:
    return build_model(TINY, tiny_tokenizer(), seed=seed)
