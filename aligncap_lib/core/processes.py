"""Process helpers for multi-process runs (``accelerate launch``, ``torchrun``): who am I, wait for the others,
split a global batch. A plain ``python`` run is process 0 of 1 and every helper is a no-op there.

Why not accelerate's ``PartialState`` for :func:`world`: constructing it opens the process group, and a stage must
know its rank (for its scratch folder) before it has decided its device; the launchers' ``RANK``/``WORLD_SIZE``
are what ``PartialState`` reads too. :func:`start_process_group` does construct it, once the device is known.
How the stages use these and why a 2-process run equals a 1-process one: :mod:`aligncap_lib.distributed_check`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


def world() -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (torchrun / accelerate set ``RANK`` and
    ``WORLD_SIZE``); ``(0, 1)`` for a plain ``python`` run. Read before Trainer starts the process group."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on process 0 (and in a plain single-process run)."""
    return world()[0] == 0


def rank_suffix() -> str:
    """``""`` on process 0, ``".rank<k>"`` on the others: the suffix of a process's private scratch folder."""
    rank = world()[0]
    return "" if rank == 0 else f".rank{rank}"


def use_cpu(device: str) -> bool:
    """Whether a stage with ``device`` (``"cpu"``, ``"cuda"`` or ``"auto"``) runs on the CPU: ``"auto"`` takes a
    GPU when torch sees one. ``"cuda"`` without a GPU is a clear error."""
    import torch

    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be cpu, cuda or auto, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU (a CPU torch build?)")
    return device == "cpu" or not torch.cuda.is_available()


def start_process_group(device: str = "auto") -> None:
    """Open the process group now when launched with several processes (``accelerate launch``, ``torchrun``),
    so that stages can :func:`barrier` before Trainer would open it; a no-op in a single-process run."""
    if world()[1] > 1:
        from accelerate import PartialState

        PartialState(cpu=use_cpu(device))


def barrier() -> None:
    """Wait for every process (a no-op without an open process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def per_device_batch(global_batch: int, processes: int) -> int:
    """``global_batch / processes``; a clear error when it does not divide (the runs would not be comparable)."""
    if global_batch < 1 or processes < 1:
        raise ValueError(f"global batch {global_batch} and processes {processes} must be >= 1")
    if global_batch % processes:
        raise ValueError(f"global batch {global_batch} is not divisible by {processes} processes")
    return global_batch // processes


def whole_batches(items: Sequence[Any], global_batch: int) -> list[Any]:
    """The first ``len(items) // global_batch * global_batch`` items (module docstring: no short batch)."""
    keep = len(items) // global_batch * global_batch
    if keep == 0:
        raise ValueError(f"{len(items)} examples are fewer than one global batch of {global_batch}")
    return list(items[:keep])


def end_process_group() -> None:
    """Wait for every process, then close the process group Trainer opened. Why: with gloo's threads still alive
    at interpreter exit, a process now and then aborted after finishing its work ("terminate called without an
    active exception", exit -6: 2 of about 10 two-process launches here)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
