"""The ``paper`` preset's runtime on a model saved with ``save_pretrained``: bf16 weights
and autocast, gradient checkpointing with the LoRA input-gradient fix, SDPA, ``device="auto"``. On this CPU the
steps run on the CPU; on a machine with a GPU the same tests run the KD Trainer and trl's DPOTrainer on it
(``results/paper/README.md``: how they were run on an H200). Nothing here requires a GPU."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from tiny_captioner import UNITS, fake_examples, tiny_model, tiny_tokenizer

from aligncap_lib.captioner.model import (
    CaptionerConfig,
    LoRAConfig,
    RuntimeConfig,
    attach_lora,
    build_model,
    save_model,
    unit_token_ids,
)
from aligncap_lib.captioner.prompts import encode_example, example_prompt
from aligncap_lib.training.kd_trainer import train, training_arguments


def _paper_config(folder: Path) -> tuple[CaptionerConfig, RuntimeConfig]:
    cfg, rt = CaptionerConfig.for_preset("paper", base_model=str(folder)), RuntimeConfig.for_preset("paper")
    assert (rt.precision, rt.gradient_checkpointing, rt.attn_implementation, rt.device) == (
        "bf16",
        True,
        "sdpa",
        "auto",
    )
    return cfg, rt


def test_paper_preset_runtime_trains_a_local_checkpoint(tmp_path: Path) -> None:
    """A model saved with save_pretrained goes through exactly the paper preset's code: its
    captioner config (bf16 weights and autocast, gradient checkpointing with the LoRA input-gradient fix, SDPA,
    device auto = the CPU here), the LoRA student and the KD Trainer."""
    save_model(tiny_model(), tiny_tokenizer(), tmp_path / "hub")
    cfg, runtime = _paper_config(tmp_path / "hub")
    from aligncap_lib.captioner.model import load_base_tokenizer

    tok = load_base_tokenizer(cfg, [], UNITS)
    base = build_model(cfg, tok, runtime=runtime)
    assert base.dtype == torch.bfloat16 and base.config._attn_implementation == "sdpa"
    model = attach_lora(base, unit_token_ids(tok, UNITS), LoRAConfig(r=4, alpha=8, targets=("q_proj", "v_proj")),
                        gradient_checkpointing=True)  # fmt: skip
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert lora and all(p.dtype == torch.float32 for p in lora.values())  # peft keeps the adapter in fp32
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    args = training_arguments(tmp_path / "ckpt", seed=0, steps=2, batch_size=4, grad_accum=1, lr=1e-2,
                              warmup_ratio=0.0, weight_decay=0.0, max_grad_norm=1.0, logging_steps=1,
                              progress=False, runtime=runtime, global_batch=True)  # fmt: skip
    assert args.bf16 and args.activation_checkpointing and args.use_cpu == (not torch.cuda.is_available())
    feats = [encode_example(tok, ex, input_view="speech", teacher_view="text", max_caption_tokens=40)
             for ex in fake_examples(8)]  # fmt: skip
    trained, log = train(model, tok, feats, args, kd_lambda=0.5, resume=False)
    assert len(log) == 2 and all(np.isfinite(h["loss"]) and np.isfinite(h["kl"]) for h in log)
    after = dict(trained.named_parameters())
    assert any(
        not torch.equal(after[n].detach().cpu(), p.cpu()) for n, p in lora.items()
    )  # gradients reached the adapter
    assert all(
        torch.equal(after[n].detach().cpu(), p.cpu()) for n, p in frozen.items()
    )  # the base stayed frozen
    assert next(trained.parameters()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_paper_preset_runtime_runs_dpo_on_a_local_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """The PO stage's ``dpo_train`` (trl's DPOTrainer, a fresh LoRA) under the paper runtime: the start model is
    loaded in bf16 with SDPA, trl gets bf16 and gradient checkpointing, the adapter moves and the reference (the
    adapter-disabled start model) stays the start model. Without IPython, as on the GPU machine where dpo_train
    first failed importing transformers' notebook progress bar."""
    monkeypatch.setitem(sys.modules, "IPython", None)  # None in sys.modules: its import raises
    monkeypatch.delitem(sys.modules, "transformers.utils.notebook", raising=False)
    from aligncap_lib.captioner.model import load_model
    from aligncap_lib.preference.po_regularization import POConfig, dpo_train

    save_model(tiny_model(), tiny_tokenizer(), tmp_path / "start" / "merged")
    _, runtime = _paper_config(tmp_path / "start" / "merged")
    examples = fake_examples(8)
    pairs = [{"prompt": example_prompt(ex, "speech", "student"), "chosen": ex.caption,
              "rejected": examples[(i + 1) % len(examples)].caption} for i, ex in enumerate(examples)]  # fmt: skip
    po = POConfig.for_preset("paper", steps=2, batch_size=4, learning_rate=1e-2, progress=False)
    model, tok, log = dpo_train(tmp_path / "start", pairs, po, tmp_path / "po", seed=0,
                                lora_targets=("q_proj", "v_proj"), runtime=runtime)  # fmt: skip
    assert log and all(math.isfinite(h["loss"]) for h in log)
    # the SFT term on the chosen caption is in the loss: at the first step the policy is the reference, so DPO's
    # sigmoid loss alone is ln 2; the chosen captions' NLL under an untrained LM adds several nats
    assert po.sft_weight > 0 and log[0]["loss"] > math.log(2) + 1.0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_weights = [p for n, p in model.named_parameters() if not p.requires_grad and p.ndim == 2]
    assert base_weights and all(p.dtype == torch.bfloat16 and p.device.type == device for p in base_weights)
    ids = tok(pairs[0]["prompt"] + pairs[0]["chosen"], return_tensors="pt", add_special_tokens=False)
    ids = ids["input_ids"].to(device)
    start, _ = load_model(tmp_path / "start" / "merged", runtime)
    model.eval()
    with torch.no_grad():
        with model.disable_adapter():
            reference = model(input_ids=ids).logits.float()
        np.testing.assert_allclose(
            reference.cpu(), start.to(device)(input_ids=ids).logits.float().cpu(), atol=1e-3
        )
        assert not torch.equal(model(input_ids=ids).logits.float(), reference)  # DPO moved the adapter
