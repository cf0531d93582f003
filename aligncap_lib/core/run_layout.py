"""The run layout shared by commands and notebooks, and the stage cache.

::

    runs/<preset>/corpus                  the speech corpus (manifest.jsonl + audio)
    runs/<preset>/tokens                  the fitted speech tokenizer and the token cache
    runs/<preset>/clues                   the acoustic analyzer's norms (fitted on the corpus train split)
    runs/<preset>/teacher                 the text teacher LM and its tokenizer
    runs/<preset>/models/<variant>/seed<k>  captioner checkpoints
    runs/<preset>/pairs                   preference candidates and pairs
    runs/<preset>/eval                    generated captions and per-clip scores
    runs/<preset>/notebooks               executed copies of the notebooks
    runs/<preset>/export                  the exported model

A stage writes into a temporary sibling folder and renames it into place with a ``stage.json`` that records
the *fingerprint* (hash of the result-affecting config fields and of the upstream fingerprints). A re-run
whose fingerprint matches reuses the folder; any change rebuilds that stage and, through the fingerprints,
every stage after it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.core.presets import resolve_preset
from aligncap_lib.core.processes import barrier, is_main_process, rank_suffix
from aligncap_lib.core.reproducibility import repo_root

STAGE_FILE = "stage.json"


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """Paths of one preset's run. ``work`` defaults to ``<repo>/runs/<preset>``."""

    preset: str
    work: Path

    @classmethod
    def for_preset(cls, preset: str | None = None, work: str | Path | None = None) -> RunLayout:
        name = resolve_preset(preset)
        root = repo_root()
        path = Path(work) if work is not None else root / "runs" / name
        if not path.is_absolute():
            path = (Path.cwd() / path).resolve()
        return cls(preset=name, work=path)

    @property
    def corpus(self) -> Path:
        return self.work / "corpus"

    def records(self) -> list[dict[str, Any]]:
        """The corpus manifest's valid records (a bad line is skipped, as :func:`manifest.read_manifest` does);
        ``RuntimeError`` naming the command to run when there is no corpus yet."""
        path = self.corpus / "manifest.jsonl"
        if not path.is_file():
            raise RuntimeError(
                f"no corpus manifest at {path}: run `aligncap corpus --work {self.work}` first"
            )
        return read_manifest(path)[0]

    @property
    def tokens(self) -> Path:
        return self.work / "tokens"

    @property
    def clues(self) -> Path:
        return self.work / "clues"

    @property
    def teacher(self) -> Path:
        return self.work / "teacher"

    @property
    def pairs(self) -> Path:
        return self.work / "pairs"

    @property
    def eval(self) -> Path:
        return self.work / "eval"

    @property
    def notebooks(self) -> Path:
        return self.work / "notebooks"

    @property
    def export(self) -> Path:
        return self.work / "export"

    def model(self, variant: str, seed: int) -> Path:
        if not variant or "/" in variant:
            raise ValueError(f"bad variant name {variant!r}")
        return self.work / "models" / variant / f"seed{seed}"

    @property
    def results(self) -> Path:
        """``results/<preset>/`` in the repository (committed for ``cpu``, git-ignored for ``smoke``)."""
        return repo_root() / "results" / self.preset

    @property
    def figures(self) -> Path:
        """``figures/`` for the committed presets, ``figures/<preset>/`` for the others."""
        root = repo_root() / "figures"
        return root if self.preset == "cpu" else root / self.preset


def read_stage(directory: Path) -> dict[str, Any] | None:
    """The ``stage.json`` of a finished stage folder, or None when it is absent or unreadable."""
    path = Path(directory) / STAGE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def upstream_record(directory: Path, upstream: Mapping[str, Path] | None) -> dict[str, dict[str, str]]:
    """``{name: {"path", "fingerprint"}}`` of the finished stages ``directory`` was built from (paths relative to
    ``directory``, so a run folder can be moved), for ``stage.json``; :func:`chain_is_current` reads it back."""
    out = {}
    for name, up in sorted((upstream or {}).items()):
        info = read_stage(up)
        if info is None:
            raise RuntimeError(f"upstream stage {name!r} at {up} is not finished")
        out[name] = {"path": os.path.relpath(Path(up).resolve(), Path(directory).resolve()),
                     "fingerprint": str(info.get("fingerprint", ""))}  # fmt: skip
    return out


def chain_is_current(directory: Path) -> bool:
    """True when ``directory`` is a finished stage and every upstream stage it recorded still holds the
    fingerprint it was built from, all the way up. A stage built before upstreams were recorded counts as
    current (nothing to check). Why: a notebook that rebuilds the KD student but not the PO stage on top of it
    must not report that PO stage as the new one's."""
    info = read_stage(directory)
    if info is None:
        return False
    for rec in (info.get("upstream") or {}).values():
        up = (Path(directory) / rec["path"]).resolve()
        now = read_stage(up)
        if now is None or now.get("fingerprint") != rec["fingerprint"] or not chain_is_current(up):
            return False
    return True


def is_fresh(directory: Path, fingerprint: str) -> bool:
    """True when ``directory`` holds a finished stage with exactly this fingerprint."""
    info = read_stage(directory)
    return info is not None and info.get("fingerprint") == fingerprint


def run_stage(
    directory: Path,
    fingerprint: str,
    build: Callable[[Path], dict[str, Any] | None],
    *,
    force: bool = False,
    collective: bool = True,
    upstream: Mapping[str, Path] | None = None,
) -> tuple[Path, bool]:
    """Build a stage into ``directory`` unless a finished one with ``fingerprint`` is there.

    ``build(tmp_dir)`` writes the stage's files into ``tmp_dir`` and may return a small JSON-able summary that
    is stored in ``stage.json``. Returns ``(directory, rebuilt)``. A build that raises leaves the previous
    folder untouched and removes its temporary folder.

    Under ``accelerate launch`` every process runs ``build`` (its Trainer steps are collective), each into a
    private ``.tmp.rank<k>`` folder; process 0's becomes the stage and the others' are deleted. The processes
    wait for each other before the freshness check (so they all decide alike) and after the rename (so none
    reads a stage before it exists). A stage with no collective step (``collective=False``: e.g. sampling and
    judging preference candidates, where a paid judge must not be called once per process) is built by process 0
    alone while the others wait. ``upstream`` names the finished stages the build reads; ``stage.json`` records
    their fingerprints (:func:`chain_is_current`).
    """

    directory = Path(directory)
    barrier()
    if not force and is_fresh(directory, fingerprint):
        return directory, False
    if not collective and not is_main_process():
        barrier()  # process 0's closing barrier below: the stage exists from here on
        return directory, True
    tmp = directory.with_name(directory.name + ".tmp" + rank_suffix())
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    start = time.perf_counter()
    try:
        summary = build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if is_main_process():
        info = {
            "fingerprint": fingerprint,
            "summary": summary or {},
            "seconds": round(time.perf_counter() - start, 2),
        }
        if upstream:
            info["upstream"] = upstream_record(directory, upstream)
        (tmp / STAGE_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    publish(tmp, directory)
    return directory, True


def publish(built: Path, directory: Path) -> None:
    """End a stage build: process 0 moves its finished folder ``built`` to ``directory`` (replacing an older
    one); any other process deletes its private scratch folder ``built``; then every process waits, so that
    none reads the stage before it exists (a no-op wait in a single-process run)."""

    if is_main_process():
        if directory.exists():
            shutil.rmtree(directory)
        built.rename(directory)
    else:
        shutil.rmtree(built, ignore_errors=True)
    barrier()
