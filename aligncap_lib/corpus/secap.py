"""Real data: a loader for the SECap layout (thuhcsi/SECap, commit 1743904), used for evaluation only.

Layout (``root`` = a SECap clone or ``../shared/secap-dev``)::

    dataset/wav.scp            <id> dataset/wav/<id>.wav      (Kaldi style, path relative to root)
    dataset/text.txt           <id> <transcript>              (may lack some ids: text is then "")
    dataset/fid2captions.json  {id: caption}                  (one human caption per utterance, Chinese)
    result/result.txt          blocks: file: / origin: / result: ... result5:   (SECap's own outputs)

Records have the manifest's shape (:mod:`aligncap_lib.core.manifest`): ``audio`` is an absolute path, ``lang`` is
``zh``, ``voice`` is ``unknown``, ``voice_family`` the id's source (``tx_emotion``, ``tx_emulate``,
``tx_xiao``), ``emotion`` and every attribute ``None`` (reference clues come later from the clue parser),
``measurements`` empty, ``captions`` the one human caption.

Splits: ``secap_dev`` = every 6th id of the sorted ids (index 0, 6, 12, ...), ``secap_test`` = the rest,
scored only when asked for. A folder holding only the dev subset (at most 100 ids, like
``../shared/secap-dev``, which *is* every 6th of the 600) is all ``secap_dev``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.core.reproducibility import repo_root

SECAP_ENV = "SECAP_DIR"
SPLITS = ("secap_dev", "secap_test")
DEV_ONLY_MAX_IDS = 100


def find_secap_dir(path: str | os.PathLike[str] | None = None, *, with_results: bool = False) -> Path | None:
    """The SECap root: ``path``, else ``$SECAP_DIR``, else ``shared/secap-dev`` next to the clone; None when none
    of them holds ``dataset/wav.scp`` (and, ``with_results``, SECap's own outputs ``result/result.txt``)."""

    candidates = [path, os.environ.get(SECAP_ENV)]
    with contextlib.suppress(RuntimeError):  # outside a clone: only explicit paths count
        candidates.append(repo_root().parent / "shared" / "secap-dev")
    for cand in candidates:
        if cand and (Path(cand) / "dataset" / "wav.scp").is_file():
            if with_results and not (Path(cand) / "result" / "result.txt").is_file():
                continue
            return Path(cand).resolve()
    return None


def _read_lines(path: Path, errors: list[str]) -> list[tuple[int, str]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.append(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})")
        return []
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _two_columns(path: Path, errors: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in _read_lines(path, errors):
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            errors.append(f"{path.name}:{n}: expected '<id> <value>', got {line[:60]!r}")
            continue
        out[parts[0]] = parts[1].strip()
    return out


def split_of(index: int, n_ids: int) -> str:
    """Split of the ``index``-th sorted id among ``n_ids`` (see the module docstring)."""
    if n_ids <= DEV_ONLY_MAX_IDS:
        return "secap_dev"
    return "secap_dev" if index % 6 == 0 else "secap_test"


def load_secap(
    root: str | os.PathLike[str] | None = None, split: str = "secap_dev"
) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of ``split`` (``secap_dev``, ``secap_test`` or ``all``) and the problems found.

    Bad items (no caption, missing audio file, malformed lines, non-UTF-8 files) are skipped and reported as
    ``errors``; everything else loads. Raises FileNotFoundError naming the places searched when no root exists.
    """
    if split not in (*SPLITS, "all"):
        raise ValueError(f"unknown SECap split {split!r}; allowed: {SPLITS + ('all',)}")
    base = find_secap_dir(root)
    if base is None:
        raise FileNotFoundError(
            f"SECap data not found (looked at {root!r}, ${SECAP_ENV}, ../shared/secap-dev); see data_cards/secap_test.md"
        )
    errors: list[str] = []
    wavs = _two_columns(base / "dataset" / "wav.scp", errors)
    texts = (
        _two_columns(base / "dataset" / "text.txt", errors)
        if (base / "dataset" / "text.txt").is_file()
        else {}
    )
    try:
        captions = json.loads((base / "dataset" / "fid2captions.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{base / 'dataset' / 'fid2captions.json'}: unreadable ({exc})") from None
    ids = sorted(wavs)
    records = []
    for i, fid in enumerate(ids):
        s = split_of(i, len(ids))
        if split != "all" and s != split:
            continue
        audio = (base / wavs[fid]).resolve()
        if not audio.is_file():
            errors.append(f"{fid}: audio file missing ({wavs[fid]})")
            continue
        caption = captions.get(fid)
        if not isinstance(caption, str) or not caption.strip():
            errors.append(f"{fid}: no caption in fid2captions.json")
            continue
        records.append(
            {
                "id": fid,
                "audio": str(audio),
                "lang": "zh",
                "split": s,
                "voice": "unknown",
                "voice_family": re.sub(r"_\d.*$", "", fid),
                "text": texts.get(fid, ""),
                "emotion": None,
                "attributes": dict.fromkeys(SLOTS),
                "measurements": {},
                "captions": [caption.strip()],
            }
        )
    return records, errors


def parse_results(path: str | os.PathLike[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """SECap's ``result/result.txt``: id -> ``{"origin": str, "results": [result, result2, ...]}``.

    Evaluation scores ``results[0]`` (the first ``result:`` line) as the peer row. Malformed blocks are skipped
    and reported.
    """
    out: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    block: dict[str, str] = {}
    p = Path(path)

    def flush() -> None:
        if not block:
            return
        fid = Path(block.get("file", "")).stem
        results = [block[k] for k in ("result", "result2", "result3", "result4", "result5") if k in block]
        if not fid or "origin" not in block or not results:
            errors.append(f"{p.name}: incomplete block {block.get('file', '?')!r}")
        else:
            out[fid] = {"origin": block["origin"], "results": results}
        block.clear()

    for _, line in _read_lines(p, errors) + [(0, "")]:
        m = re.match(r"^(file|origin|result\d?):\s*(.*)$", line)
        if line == "" or (m and m.group(1) == "file"):
            flush()
        if m:
            block[m.group(1)] = m.group(2).strip()
        elif line:
            errors.append(f"{p.name}: unexpected line {line[:60]!r}")
    flush()
    return out, errors
