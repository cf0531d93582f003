"""Time per step and peak memory: SFT step vs KD step (teacher = adapter-disabled base) vs naive KD holding a
second model copy as teacher. Goals: KD <= 1.5x the time and <= 1.15x the peak memory of SFT.

    python benchmarks/bench_kd.py [--steps 20] [--batch 16] [--threads 2]

Each mode runs in a fresh subprocess so that peak RSS (ru_maxrss) belongs to that mode alone. Synthetic
batches at the cpu preset's model size (4 layers, d=256) with ~100 speech units + a 30-token caption.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one(mode: str, steps: int, batch: int, threads: int) -> dict[str, float]:
    import copy

    import torch

    from aligncap_lib.captioner.model import CaptionerConfig, LoRAConfig, attach_lora, build_model
    from aligncap_lib.training.kd_regularization import caption_logits, divergence

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class _Tok:  # the model only needs the vocabulary size and special ids
        def __len__(self) -> int:
            return 3000

        eos_token_id, pad_token_id = 0, 1

    cfg = CaptionerConfig()
    base = build_model(cfg, _Tok())
    teacher_copy = copy.deepcopy(base).eval() if mode == "naive_kd" else None
    model = attach_lora(base, list(range(2000, 3000)), LoRAConfig())
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    s_ids = torch.randint(2, 3000, (batch, 130))
    t_ids = torch.randint(2, 2000, (batch, 70))
    s_lab, t_lab = torch.full_like(s_ids, -100), torch.full_like(t_ids, -100)
    s_lab[:, -30:], t_lab[:, -30:] = s_ids[:, -30:], s_ids[:, -30:]
    t_ids[:, -30:] = s_ids[:, -30:]
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        s_logits, targets = caption_logits(model(input_ids=s_ids).logits, s_lab)
        loss = torch.nn.functional.cross_entropy(s_logits, targets)
        if mode != "sft":
            with torch.no_grad():
                if teacher_copy is not None:
                    t = teacher_copy(input_ids=t_ids).logits
                else:
                    with model.disable_adapter():
                        t = model(input_ids=t_ids).logits
            loss = loss + divergence(s_logits, caption_logits(t, t_lab)[0])
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"s_per_step": sorted(times[2:])[len(times[2:]) // 2], "peak_mb": peak_mb}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.mode:
        print(json.dumps(one(a.mode, a.steps, a.batch, a.threads)))
        return
    res = {}
    for mode in ("sft", "kd", "naive_kd"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--mode",
                mode,
                "--steps",
                str(a.steps),
                "--batch",
                str(a.batch),
                "--threads",
                str(a.threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        res[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    for mode, r in res.items():
        print(
            f"{mode:9s} {r['s_per_step']:.3f} s/step ({r['s_per_step'] / res['sft']['s_per_step']:.2f}x SFT)  "
            f"peak {r['peak_mb']:.0f} MB ({r['peak_mb'] / res['sft']['peak_mb']:.2f}x SFT)"
        )


if __name__ == "__main__":
    main()
