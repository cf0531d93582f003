"""The integrity of an exported model folder: sha256 checksums of every file, verified before anything is
loaded, and the refusal of pickle-format files (unpickling can run arbitrary code).

Hidden entries (``.cache/``, ``.ipynb_checkpoints/``) are outside the checksums, but a pickle is refused
wherever it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from aligncap_lib.core.reproducibility import sha256_file

CHECKSUMS = "checksums.json"
#: Formats that can run code when loaded (pickle and its wrappers): never written, never loaded.
PICKLE_SUFFIXES: tuple[str, ...] = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


class ExportError(ValueError):
    """An export that must not be loaded (or written), naming the file and the reason."""


def export_files(directory: Path) -> list[str]:
    """Relative POSIX paths of the regular files under ``directory``, hidden ones (``.cache``) left out."""
    out = []
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append(rel.as_posix())
    return out


def refuse_pickles(directory: Path) -> None:
    """Raise :class:`ExportError` naming the first pickle-format file under ``directory`` (hidden included)."""
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES:
            raise ExportError(
                f"{p}: refusing a pickle-format file ({p.suffix}); an aligncap export holds only safetensors "
                "and JSON, because unpickling can run arbitrary code"
            )


def write_checksums(directory: Path | str) -> Path:
    """(Re)write ``checksums.json``: sha256 of every file but itself. Run it after editing the model card."""
    directory = Path(directory)
    sums = {rel: sha256_file(directory / rel) for rel in export_files(directory) if rel != CHECKSUMS}
    path = directory / CHECKSUMS
    path.write_text(json.dumps({"sha256": sums}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def verify_export(directory: Path | str) -> dict[str, str]:
    """Check an export before anything is loaded: no pickles, every file listed and unchanged, nothing
    missing, nothing unlisted. Returns the checksums; raises :class:`ExportError` naming the file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ExportError(f"{directory}: no such model folder")
    refuse_pickles(directory)
    path = directory / CHECKSUMS
    if not path.is_file():
        raise ExportError(
            f"{path}: missing; not an aligncap export (or an unsealed one: see write_checksums)"
        )
    try:
        sums = dict(json.loads(path.read_text(encoding="utf-8"))["sha256"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ExportError(f"{path}: unreadable checksums ({exc})") from None
    for rel, expected in sorted(sums.items()):
        f = directory / rel
        if not f.is_file():
            raise ExportError(f"{f}: listed in {CHECKSUMS} but missing")
        if sha256_file(f) != expected:
            raise ExportError(
                f"{f}: checksum mismatch (sha256 differs from {CHECKSUMS}): the file changed or is corrupt; "
                "re-export, or re-seal with exporter.write_checksums if you edited it on purpose"
            )
    extra = [rel for rel in export_files(directory) if rel != CHECKSUMS and rel not in sums]
    if extra:
        raise ExportError(
            f"{directory / extra[0]}: not listed in {CHECKSUMS} ({len(extra)} unlisted file(s))"
        )
    return sums
