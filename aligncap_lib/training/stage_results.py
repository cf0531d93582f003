"""Where each variant's trained stages are in a run folder, and what they stored: the final stage of a variant at a
seed (never one built on an upstream stage that has since been rebuilt), the seeds a variant has, and a stage's
stored evaluation results and held-out KL."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aligncap_lib.captioner.variants import get_variant
from aligncap_lib.core.run_layout import chain_is_current, read_stage
from aligncap_lib.evaluation.result_store import load_results


def final_stage_dir(layout: Any, variant: str, seed: int) -> Path | None:
    """The folder of the last finished stage of ``variant`` at ``seed`` whose chain is current (None if there is
    none). A stage built on an upstream stage that has since been rebuilt is read as not trained: reading it would
    report, say, a PO stage as the PO of a KD student it never started from."""

    v = get_variant(variant)
    candidates = [(layout.model(v.owner(s), seed) / s) for s in reversed(v.stages)] if v.stages else []
    candidates.append(layout.model(variant, seed) / "eval")
    for c in candidates:
        if read_stage(c) is None or not (c / "eval").is_dir():
            continue
        if chain_is_current(c):
            return c
        print(f"summary: {variant} seed {seed}: its {c.name} stage was built on an upstream stage since rebuilt; "
              "read as not trained")  # fmt: skip
    return None


def seeds_of(layout: Any, variant: str) -> list[int]:
    found: set[int] = set()
    for owner in {variant, *get_variant(variant).shares.values()}:
        folder = layout.work / "models" / owner
        if folder.is_dir():
            found |= {int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"seed(\d+)", p.name))}
    return sorted(s for s in found if final_stage_dir(layout, variant, s) is not None)


def stage_results(
    layout: Any, variant: str, stage: str | None = None, seeds: Sequence[int] | None = None
) -> dict[int, dict[tuple[str, str], Any]]:
    """seed -> (split, lang) -> stored result of ``variant``'s ``stage`` (default: its final stage)."""
    out = {}
    for seed in seeds if seeds is not None else seeds_of(layout, variant):
        if stage is None:
            folder = final_stage_dir(layout, variant, seed)
        else:
            v = get_variant(variant)
            folder = layout.model(v.owner(stage) if stage in v.stages else variant, seed) / stage
        if folder is not None and (folder / "eval").is_dir():
            out[seed] = load_results(folder)
    return out


def valid_kl_per_seed(
    layout: Any, variant: str, stage: str, seeds: Sequence[int] | None = None, split: str = "valid"
) -> dict[int, dict[str, Any]]:
    """seed -> the stored ``<split>_kl.json`` (``{"ids", "kl"}``: the held-out speech-vs-text KL on ``split``,
    ``valid`` or the claim split) of ``variant``'s ``stage`` (the folder of the variant that owns it), over
    ``seeds`` (default: every seed folder of the variant, else seed 0); seeds without the file are left out."""
    owner = get_variant(variant).owner(stage)
    found = {}
    for seed in (seeds_of(layout, variant) or [0]) if seeds is None else seeds:
        path = layout.model(owner, seed) / stage / f"{split}_kl.json"
        if path.is_file():
            found[seed] = json.loads(path.read_text(encoding="utf-8"))
    return found
