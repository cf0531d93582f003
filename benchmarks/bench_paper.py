"""Paper-preset throughput: KD or DPO training steps of a paper-size LM, tokens per second and peak memory.

    python benchmarks/bench_paper.py [--stage kd|po] [--size 0.5b|7b] [--steps 10] [--batch 32] [--seq 600]
                                     [--layers N] [--out results/paper/throughput.json]

No weights can be downloaded here, so the LM is *built from its architecture with random weights*: the speed and
memory of a step do not depend on the weights' values, only on the shapes, dtype and kernels. The step is the
``paper`` preset's KD step: the captioner config of the preset (bf16 base weights and autocast, gradient
checkpointing with the LoRA input-gradient fix, SDPA attention), the KD config's LoRA (r 16 on every linear layer of
the blocks), and the KD stage's own loss, ``CaptionTrainer.compute_loss`` (student forward on speech-unit prompts,
teacher forward through ``disable_adapter()``, CE plus the divergence over the caption tokens), then backward and
AdamW. Tokens per second counts the student's and the teacher's tokens together. ``--stage po`` times the PO
stage's DPO step instead: the policy (a fresh LoRA, the PO config's r) forward and backward on the chosen and the
rejected sequence of each pair, per-token log-probs by trl's ``selective_log_softmax`` (as DPOTrainer computes
them), the sigmoid DPO loss (trl's formula, written out) against reference log-probs computed once before the timed
steps (the PO stage precomputes them too). Tokens per second counts both sequences of a pair. ``--layers``
truncates the model (a CPU check of the script itself; not a paper-size number: bf16 on this CPU took 93 s per step
for one layer at batch 2 x 64 tokens, measured, so CPU numbers mean nothing here).

Until 2026-11-26 (results/paper before then) both steps cast the full logits to fp32 before picking the caption
positions, which neither the KD stage nor trl does: an fp32 copy of [batch, tokens, 151,936], 11.6 GB for the
0.5B KD step at batch 32.

Architectures: Qwen2.5-0.5B and Qwen2.5-7B, dimensions as in their published ``config.json`` (written here so that
no hub access is needed; check them against the hub before quoting a number for another model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

#: Published Qwen2.5 dimensions (hidden, intermediate, layers, heads, kv heads, vocabulary, tied embeddings).
SIZES: dict[str, dict[str, int | bool]] = {
    "0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True},
    "7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False},
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=("kd", "po"), default="kd", help="KD step or DPO step")
    ap.add_argument("--size", choices=sorted(SIZES), default="0.5b")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (after 2 warm-up steps)")
    ap.add_argument(
        "--batch",
        type=int,
        default=None,
        help="sequences (KD) or pairs (PO) per step; default: the paper preset's batch_size of the stage",
    )
    ap.add_argument(
        "--seq", type=int, default=600, help="student tokens per sequence (speech units + caption)"
    )
    ap.add_argument("--caption", type=int, default=40, help="caption tokens per sequence (the KD positions)")
    ap.add_argument("--layers", type=int, default=None, help="truncate the model (CPU check of the script)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here (e.g. results/paper/...)")
    a = ap.parse_args()

    import peft
    import torch
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from aligncap_lib.captioner.model import LoRAConfig, RuntimeConfig, attach_lora, torch_dtype
    from aligncap_lib.core.processes import use_cpu
    from aligncap_lib.preference.po_regularization import POConfig
    from aligncap_lib.training.kd_regularization import KDConfig
    from aligncap_lib.training.kd_trainer import CaptionTrainer, ScheduleConfig, training_arguments

    torch.set_num_threads(a.threads)
    cap, kd, po = (
        RuntimeConfig.for_preset("paper"),
        KDConfig.for_preset("paper"),
        POConfig.for_preset("paper"),
    )
    if a.batch is None:
        a.batch = ScheduleConfig.for_preset("paper").batch_size if a.stage == "kd" else po.batch_size
    lora = LoRAConfig.for_preset("paper")
    if a.stage != "kd":  # the DPO adapter's own rank, on the student's targets
        lora = dataclasses.replace(lora, r=po.lora_r, alpha=po.lora_alpha, dropout=0.0)
    r = lora.r
    device = "cpu" if use_cpu(cap.device) else "cuda"
    dims = dict(SIZES[a.size])
    if a.layers:
        dims["num_hidden_layers"] = a.layers
    config = Qwen2Config(**dims, attn_implementation=cap.attn_implementation)  # type: ignore[arg-type,call-arg]
    torch.manual_seed(0)
    with torch.device(device):
        base = Qwen2ForCausalLM(config).to(torch_dtype(cap))
    vocab = int(dims["vocab_size"])
    n_params = sum(p.numel() for p in base.parameters())
    model = attach_lora(base, list(range(vocab - 2048, vocab)), lora,
                        gradient_checkpointing=cap.gradient_checkpointing)  # fmt: skip
    if cap.gradient_checkpointing:  # transformers 5 renamed it activation checkpointing
        enable = (
            getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        )
        enable({"use_reentrant": False})  # first parameter of both: the checkpoint function's kwargs
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=cap.precision == "bf16")
    t_len = a.caption + 60  # KD teacher: transcript + clue prompt + caption
    if a.stage == "kd":
        s_ids = torch.randint(0, vocab, (a.batch, a.seq), generator=gen).to(device)
        t_ids = torch.randint(0, vocab, (a.batch, t_len), generator=gen).to(device)
        t_ids[:, -a.caption :] = s_ids[:, -a.caption :]
        s_lab, t_lab = torch.full_like(s_ids, -100), torch.full_like(t_ids, -100)
        s_lab[:, -a.caption :], t_lab[:, -a.caption :] = s_ids[:, -a.caption :], s_ids[:, -a.caption :]

        inputs = {"input_ids": s_ids, "attention_mask": torch.ones_like(s_ids), "labels": s_lab,
                  "teacher_input_ids": t_ids, "teacher_attention_mask": torch.ones_like(t_ids),
                  "teacher_labels": t_lab}  # fmt: skip
        # the KD stage's own loss (CaptionTrainer.compute_loss: CE + lambda x divergence over the caption tokens)
        args = training_arguments(Path(tempfile.mkdtemp()), seed=0, steps=a.steps + 2, batch_size=a.batch,
                                  grad_accum=1, lr=1e-4, warmup_ratio=0.0, weight_decay=0.0, max_grad_norm=1.0,
                                  progress=False, runtime=cap)  # fmt: skip
        trainer = CaptionTrainer(model=model, args=args, kd_lambda=kd.kd_lambda, kd_kind=kd.kind,
                                 kd_beta=kd.beta, kd_temperature=kd.temperature)  # fmt: skip

        def step_loss() -> torch.Tensor:
            return trainer.compute_loss(model, inputs, num_items_in_batch=a.batch * a.caption)

        tokens = a.batch * (a.seq + t_len)
    else:  # rows 0..B-1 chosen, B..2B-1 rejected: one prompt, two completions of --caption tokens
        prompt = torch.randint(0, vocab, (a.batch, a.seq - a.caption), generator=gen)
        done = torch.randint(0, vocab, (2 * a.batch, a.caption), generator=gen)
        ids = torch.cat([prompt.repeat(2, 1), done], dim=1).to(device)
        lab = torch.full_like(ids, -100)
        lab[:, -a.caption :] = ids[:, -a.caption :]

        from trl.trainer.utils import selective_log_softmax  # trl's own per-token log-probs (no fp32 copy)

        def seq_logp() -> torch.Tensor:
            per_token = selective_log_softmax(model(input_ids=ids).logits[:, :-1], ids[:, 1:])
            return (per_token * (lab[:, 1:] != -100)).sum(1)

        with torch.no_grad(), model.disable_adapter(), autocast:
            ref = seq_logp()

        def step_loss() -> torch.Tensor:
            logp = seq_logp() - ref
            margin = logp[: a.batch] - logp[a.batch :]
            return -torch.nn.functional.logsigmoid(po.beta * margin).mean()

        tokens = 2 * a.batch * a.seq
    times = []
    for _ in range(a.steps + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = step_loss()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    step_s = sorted(times[2:])[len(times[2:]) // 2]
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
        reserved = torch.cuda.max_memory_reserved() / 2**30
        where = torch.cuda.get_device_name()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        reserved = peak
        where = f"CPU ({platform.processor() or platform.machine()}, {a.threads} threads)"
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device": where,
        "stage": a.stage,
        "size": a.size,
        "layers": int(dims["num_hidden_layers"]),
        "parameters": n_params,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "weights": "random (built from the architecture; no download possible)",
        "precision": cap.precision,
        "gradient_checkpointing": cap.gradient_checkpointing,
        "batch": a.batch,
        "batch_unit": "sequences" if a.stage == "kd" else "preference pairs (2 sequences each)",
        "student_tokens": a.seq,
        "teacher_tokens": t_len if a.stage == "kd" else 0,
        "lora_r": r,
        "median_step_s": round(step_s, 4),
        "tokens_per_s": round(tokens / step_s, 1),
        "peak_memory_gib": round(peak, 2),
        "peak_memory_kind": "torch.cuda.max_memory_allocated" if device == "cuda" else "process max RSS",
        "peak_reserved_gib": round(reserved, 2),
        "step_s_all": [round(t, 4) for t in times],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }
    print(json.dumps(result, indent=2))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
