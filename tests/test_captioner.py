"""Captioner: tokenizer, prompts, model build/load, LoRA with trainable speech units, KD trainer, generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_captioner import UNITS, fake_examples, tiny_model, tiny_tokenizer

from aligncap_lib.captioner.generation import generate_captions
from aligncap_lib.captioner.model import (
    CaptionerConfig,
    LoRAConfig,
    attach_lora,
    build_model,
    count_parameters,
    load_model,
    save_model,
    unit_token_ids,
)
from aligncap_lib.captioner.prompts import CaptionCollator, build_prompt, encode_example
from aligncap_lib.training.kd_regularization import speech_text_kl
from aligncap_lib.training.kd_trainer import train, training_arguments


def _lora(model):
    torch.manual_seed(0)  # LoRA A matrices are drawn from the global stream
    lora = LoRAConfig(r=4, alpha=8, dropout=0.0, targets=("q_proj", "v_proj", "up_proj"))
    return attach_lora(model, unit_token_ids(tiny_tokenizer(), UNITS), lora)


def _features(examples, teacher_view="text", input_view="speech"):
    tok = tiny_tokenizer()
    return [
        encode_example(tok, ex, input_view=input_view, teacher_view=teacher_view, max_caption_tokens=40)
        for ex in examples
    ]


def test_tokenizer_keeps_units_and_tags_whole() -> None:
    tok = tiny_tokenizer()
    ids = tok("<|lang_en|> x<su_3><su_31>", add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces[0] == "<|lang_en|>" and pieces[-2:] == ["<su_3>", "<su_31>"]
    assert len(set(unit_token_ids(tok, UNITS))) == len(UNITS)
    assert tok.decode(tok("说话人很开心。", add_special_tokens=False)["input_ids"]) == "说话人很开心。"
    with pytest.raises(ValueError, match="not in the tokenizer"):
        unit_token_ids(tok, ["<su_999>"])


def test_prompts_per_language_and_view() -> None:
    clues = {"pitch_level": "high", "emotion": None}
    en = build_prompt("en", "speech", units="<su_1>", clues=clues)
    assert en.startswith("<|lang_en|> Describe") and "Acoustic clues: high pitch." in en and "<su_1>" in en
    assert "Transcript" not in en and en.endswith("Caption:")
    zh = build_prompt("zh", "text", transcript="你好")
    assert "<|lang_zh|>" in zh and "你好" in zh and "声学线索" not in zh and zh.endswith("描述：")
    with pytest.raises(ValueError, match="language"):
        build_prompt("fr", "speech")


def test_both_views_share_caption_ids_and_mask_the_prompt() -> None:
    ex = fake_examples(1)[0]
    f = _features([ex])[0]
    cap = [t for t in f["labels"] if t != -100]
    assert cap == [t for t in f["teacher_labels"] if t != -100]
    assert cap[-1] == tiny_tokenizer().eos_token_id
    assert f["input_ids"][-len(cap) :] == cap and f["teacher_input_ids"][-len(cap) :] == cap
    assert f["input_ids"] != f["teacher_input_ids"]
    batch = CaptionCollator(tiny_tokenizer().pad_token_id)(_features(fake_examples(3)))
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    assert ((batch["attention_mask"] == 0) <= (batch["labels"] == -100)).all()


def test_cpu_model_size_matches_findings() -> None:
    model = build_model(CaptionerConfig(vocab_size=2000), tiny_tokenizer())  # real size, tiny vocab
    assert 2.0e6 < count_parameters(model) < 4.5e6


def test_lora_trains_unit_embeddings_and_leaves_the_teacher_frozen() -> None:
    torch.manual_seed(0)
    model = _lora(tiny_model())
    tok, ex = tiny_tokenizer(), fake_examples(8)
    batch = CaptionCollator(tok.pad_token_id)(_features(ex))
    text = {"input_ids": batch["teacher_input_ids"], "attention_mask": batch["teacher_attention_mask"]}
    with model.disable_adapter(), torch.no_grad():
        before = model(**text).logits.clone()
    unit_ids = unit_token_ids(tok, UNITS)
    emb_before = model.get_input_embeddings()(torch.tensor(unit_ids)).detach().clone()
    args = training_arguments(
        Path("/nonexistent-not-written"),
        seed=0,
        steps=3,
        batch_size=4,
        grad_accum=1,
        lr=1e-2,
        warmup_ratio=0.0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        progress=False,
        logging_steps=1,
    )
    model, log = train(model, tok, _features(ex), args, kd_lambda=1.0, resume=False)
    emb_after = model.get_input_embeddings()(torch.tensor(unit_ids)).detach()
    assert (emb_after - emb_before).abs().amax(1).gt(0).sum() > 0  # speech-unit rows moved
    with model.disable_adapter(), torch.no_grad():
        after = model(**text).logits
    torch.testing.assert_close(before, after)  # the teacher (base, text view) is untouched
    assert log and "ce" in log[-1] and "kl" in log[-1]


def test_kd_without_an_adapter_is_refused() -> None:
    """The teacher is the adapter-disabled base: with no adapter the student would be its own teacher."""
    args = training_arguments(Path("/nonexistent-not-written"), seed=0, steps=1, batch_size=2, grad_accum=1,
                              lr=1e-3, warmup_ratio=0.0, weight_decay=0.0, max_grad_norm=1.0, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="adapter"):
        train(tiny_model(), tiny_tokenizer(), _features(fake_examples(2)), args, kd_lambda=0.5, resume=False)


def test_two_accumulated_half_batches_equal_one_full_batch(tmp_path: Path) -> None:
    """Same data, one SGD step: batch 4 vs 2 x 2 accumulated (unequal caption lengths; SGD so that a wrong
    scale is not hidden by Adam's normalisation)."""
    feats = _features(fake_examples(4))
    params = []
    for bs, ga in ((4, 1), (2, 2)):
        model = _lora(tiny_model())
        args = training_arguments(
            tmp_path / f"b{bs}",
            seed=0,
            steps=1,
            batch_size=bs,
            grad_accum=ga,
            lr=0.5,
            warmup_ratio=0.0,
            weight_decay=0.0,
            max_grad_norm=1e9,
            progress=False,
        )
        args.optim = "sgd"
        model, _ = train(model, tiny_tokenizer(), feats, args, kd_lambda=0.7, resume=False)
        params.append({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
    start = {n: p for n, p in _lora(tiny_model()).named_parameters() if p.requires_grad}
    moved = sum((params[0][n] - start[n]).abs().sum().item() for n in start)
    assert moved > 1e-3
    for name in params[0]:
        torch.testing.assert_close(params[0][name], params[1][name], rtol=1e-5, atol=1e-7, msg=name)


def test_generation_strategies_and_save_load(tmp_path: Path) -> None:
    tok, model = tiny_tokenizer(), tiny_model()
    ex = fake_examples(5)
    greedy = generate_captions(model, tok, ex, {"strategy": "greedy", "max_new_tokens": 6}, batch_size=2)
    assert set(greedy) == {e.id for e in ex}
    # batching (left padding) does not change greedy captions
    assert greedy == generate_captions(
        model, tok, ex, {"strategy": "greedy", "max_new_tokens": 6}, batch_size=5
    )
    beam = generate_captions(model, tok, ex[:2], {"strategy": "beam", "num_beams": 3, "max_new_tokens": 6})
    assert set(beam) == {e.id for e in ex[:2]}
    s = {"strategy": "sample", "temperature": 1.0, "top_p": 0.9, "max_new_tokens": 6}
    assert generate_captions(model, tok, ex, s, seed=1) == generate_captions(model, tok, ex, s, seed=1)
    with pytest.raises(ValueError, match="strategy"):
        generate_captions(model, tok, ex, {"strategy": "nucleus"})
    save_model(model, tok, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    loaded, tok2 = load_model(tmp_path / "m")  # the `paper` path: any HF causal LM folder
    assert generate_captions(loaded, tok2, ex, {"strategy": "greedy", "max_new_tokens": 6}) == greedy


def test_paper_path_loads_a_saved_causal_lm(tmp_path: Path) -> None:
    save_model(tiny_model(), tiny_tokenizer(), tmp_path / "hub")
    cfg = CaptionerConfig(base_model=str(tmp_path / "hub"))
    from aligncap_lib.captioner.model import load_base_tokenizer

    tok = load_base_tokenizer(cfg, [], [*UNITS, "<su_new>"])
    model = build_model(cfg, tok)
    assert model.get_input_embeddings().weight.shape[0] >= len(tok) == len(tiny_tokenizer()) + 1


def test_speech_text_kl_uses_the_adapter_disabled_base_as_teacher() -> None:
    model, tok = tiny_model(), tiny_tokenizer()
    ex = fake_examples(4)
    kl = speech_text_kl(model, tok, ex, teacher=model)
    assert kl.shape == (4,) and (kl > 0).all()
    peft_model = _lora(tiny_model())
    with torch.no_grad():  # move the adapter so that student and base differ
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.add_(0.5)
    own = speech_text_kl(peft_model, tok, ex)  # teacher = peft_model with its adapter disabled
    np.testing.assert_allclose(own, speech_text_kl(peft_model, tok, ex, teacher=tiny_model()), rtol=1e-5)
    assert not np.allclose(own, kl)


def test_config_validates() -> None:
    from aligncap_lib.captioner.generation import DecodingConfig

    with pytest.raises(ValueError, match="strategy"):
        DecodingConfig(strategy="nucleus")
    with pytest.raises(ValueError, match="divisible"):
        CaptionerConfig(d_model=30, n_heads=4)
    assert DecodingConfig().settings() == {
        "strategy": "greedy",
        "max_new_tokens": 48,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": {"en": 3, "zh": 1},
    }
    with pytest.raises(ValueError, match="repetition_penalty"):
        DecodingConfig(repetition_penalty=0.5)
    with pytest.raises(ValueError, match="no_repeat_ngram_size_zh"):
        DecodingConfig(no_repeat_ngram_size_zh=-1)
    assert DecodingConfig(strategy="beam").settings()["num_beams"] == 4


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("view", "role"), [("text", "teacher"), ("speech", "student"), ("text", "student")])
def test_generation_reads_exactly_the_training_prompt(lang: str, view: str, role: str) -> None:
    """The teacher gate generates from the prompt it was trained on: same ids (no BOS, no extra space), the
    caption following ``Caption:``/``描述：`` directly (a gate at 0.30 was once checked against this)."""
    from aligncap_lib.captioner.prompts import example_prompt

    tok = tiny_tokenizer()
    for ex in fake_examples(6, lang=lang):
        feats = encode_example(
            tok, ex, input_view=view, input_role=role, teacher_view=None, max_caption_tokens=200
        )
        n_prompt = sum(1 for y in feats["labels"] if y == -100)
        at_generation = tok([example_prompt(ex, view, role)], add_special_tokens=False)["input_ids"][0]
        assert feats["input_ids"][:n_prompt] == at_generation
        caption = feats["input_ids"][n_prompt:-1]
        assert tok.decode(caption, skip_special_tokens=True) == ex.caption  # decodes to the parser's text
