"""The ``repetition`` metric and the decoding's anti-repetition processors."""

from __future__ import annotations

import json

import pytest
import torch

from aligncap_lib.captioner.generation import GeneratedNoRepeatNGram, anti_repetition
from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.evaluation.repetition import repeats, repetition_reason
from aligncap_lib.evaluation.scoring import EvaluationConfig, evaluate_captions
from tests.fixtures_corpus import tiny_corpus  # noqa: F401  (session fixture)


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        (
            "The speaker sounds fearful, with a shaky voice, a moderate pace and a moderate pace.",
            "en",
            "slot",
        ),
        ("The speaker talks with a low volume, a slow pace, a low volume, sounding sad.", "en", "slot"),
        ("The speaker talks with a voice, and the speaker talks with no pause.", "en", "ngram"),
        (
            "The speaker talks with a strongly varying pitch, a high pitch, a high volume, sounding surprised.",
            "en",
            None,
        ),
        ("The speaker sounds calm.", "en", None),
        ("语速较快，语速较快，语速较快，情绪中透露出喜悦", "zh", "slot"),
        ("说话人声音低沉，说话缓慢，声音低沉，情绪低落。", "zh", "slot"),
        ("很好，很好，情绪平静。", "zh", "clause"),
        (
            "声调平直，声音发虚，音高正常，语速偏慢，整体上悲伤难过。",
            "zh",
            None,
        ),  # two emotion words, no repeat
        ("声音高亢，声音带着气声，语速较快，情绪中透露出喜悦。", "zh", None),  # 声音 twice is not a repeat
    ],
)
def test_repetition_reasons(text, lang, reason):
    assert repetition_reason(text, lang) == reason
    assert repeats(text, lang) == (reason is not None)


def test_repetition_rejects_unknown_language():
    with pytest.raises(ValueError, match="fr"):
        repeats("bonjour", "fr")


def test_reference_captions_never_repeat(tiny_corpus):  # noqa: F811
    records, _ = read_manifest(tiny_corpus / "manifest.jsonl")
    for r in records:
        for caption in [*r["captions"], *r.get("captions_unseen_phrasing", [])]:
            assert not repeats(caption, r["lang"]), (r["id"], caption)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_repetition_is_a_metric_with_an_interval(lang):
    refs = (
        {"a": ["A calm voice."], "b": ["A sad voice."]}
        if lang == "en"
        else {"a": ["情绪平静。"], "b": ["情绪低落。"]}
    )
    hyps = (
        {"a": "A calm voice, a calm voice.", "b": "A sad voice."}
        if lang == "en"
        else {"a": "情绪平静，情绪平静。", "b": "情绪低落。"}
    )
    res = evaluate_captions(refs, hyps, lang, config=EvaluationConfig(meteor=False, similarity=False))
    assert res.metrics["repetition"] == 0.5
    assert "repetition" in res.intervals and json.dumps(res.to_json())


def _scores(vocab: int = 6) -> torch.Tensor:
    return torch.zeros((1, vocab))


def test_no_repeat_ngram_ignores_the_prompt_and_exempts_punctuation():
    prompt = torch.tensor([[3, 3, 3]])  # the prompt repeats token 3: never a reason to ban it
    proc = GeneratedNoRepeatNGram(1, prompt_length=3, exempt=[5])
    assert torch.isfinite(proc(prompt, _scores())).all()
    generated = torch.tensor([[3, 3, 3, 2, 5]])  # generated so far: 2 and the punctuation token 5
    out = proc(generated, _scores())
    assert out[0, 2] == -float("inf") and torch.isfinite(out[0, [0, 1, 3, 4, 5]]).all()


def test_anti_repetition_reads_per_language_settings():
    settings = {"repetition_penalty": 1.0, "no_repeat_ngram_size": {"en": 3, "zh": 1}}
    (en,) = anti_repetition(settings, 4, "en")
    (zh,) = anti_repetition(settings, 4, "zh")
    assert (en.ngram_size, zh.ngram_size) == (3, 1)
    assert len(anti_repetition({"repetition_penalty": 1.2}, 4, "en")) == 1
    assert len(anti_repetition({}, 4, "en")) == 0
