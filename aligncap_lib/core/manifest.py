"""The manifest: the corpus's one-clip-a-line JSON format, which is also the bring-your-own-data contract.

Each line of ``manifest.jsonl`` is a JSON object with at least:

=================  ==============================================================================
``id``             unique string
``audio``          path of the audio file relative to the manifest (any format :mod:`audio_io` reads)
``lang``           ``en`` or ``zh``
``split``          e.g. ``train``, ``valid``, ``pref``, ``test_seen``, ``test_zeroshot``, ``test_crossdomain``
``voice``          speaker id; ``voice_family`` its family (e.g. ``female_a``)
``text``           the transcript
``emotion``        one of ``attributes.EMOTIONS``
``attributes``     slot -> bin, or null where unknown/unverifiable (all six slots of ``attributes.SLOTS``)
``measurements``   name -> number (``prosody.measure`` names; null for undefined)
``captions``       list of reference captions (1 or more strings)
=================  ==============================================================================

The synthetic corpus adds ``caption_slots``, ``captions_unseen_phrasing`` (test clips: a second reference set
in a phrasing no model reads, see :mod:`aligncap_lib.corpus.reference_captions`) with its
``caption_slots_unseen_phrasing``, ``intended``, ``degradation``, ``gender``, ``text_tone`` and a
few more. Your own data needs only the fields above (``attributes`` may be all null and ``measurements``
empty): :func:`read_manifest` checks each line and skips bad ones, reporting them by line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from aligncap_lib.core.attributes import validate_attributes

#: The corpus's languages and splits (every stage reads these; the manifest's ``lang`` and ``split`` fields).
LANGS: tuple[str, ...] = ("en", "zh")
SPLITS: tuple[str, ...] = ("train", "valid", "pref", "test_seen", "test_zeroshot", "test_crossdomain")

REQUIRED = (
    "id",
    "audio",
    "lang",
    "split",
    "voice",
    "voice_family",
    "text",
    "emotion",
    "attributes",
    "measurements",
    "captions",
)


def write_manifest(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """One sorted-key JSON object a line, UTF-8, in the given order (byte-stable for equal records)."""
    path = Path(path)
    lines = [json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def check_record(record: Any, *, item: str, required: Sequence[str] = REQUIRED) -> dict[str, Any]:
    """Validate one manifest record's ``required`` fields (all of :data:`REQUIRED` by default; a stage that reads
    fewer asks for fewer); raises ValueError naming ``item`` (e.g. ``manifest.jsonl:12``)."""
    if not isinstance(record, dict):
        raise ValueError(f"{item}: a line must be a JSON object, got {type(record).__name__}")
    missing = [k for k in ("id", *required) if k not in record]
    if missing:
        raise ValueError(f"{item}: missing field(s) {sorted(set(missing))}")
    for key in ("id", "audio", "lang", "split", "voice"):
        if key in required and (not isinstance(record[key], str) or not record[key]):
            raise ValueError(f"{item}: field {key!r} must be a non-empty string")
    if "text" in required and not isinstance(record["text"], str):
        raise ValueError(f"{item}: field 'text' must be a string (may be empty when unknown)")
    if "captions" in required and (
        not isinstance(record["captions"], list) or not all(isinstance(c, str) for c in record["captions"])
    ):
        raise ValueError(f"{item}: 'captions' must be a list of strings")
    if "measurements" in required and not isinstance(record["measurements"], dict):
        raise ValueError(f"{item}: 'measurements' must be an object")
    if "attributes" in required:
        if not isinstance(record["attributes"], dict):
            raise ValueError(f"{item}: 'attributes' must be an object")
        validate_attributes(record["attributes"], item=item)
    return record


def read_manifest(
    path: Path, *, required: Sequence[str] = REQUIRED
) -> tuple[list[dict[str, Any]], list[str]]:
    """Read and check a manifest (the one reader): returns ``(records, errors)``; a bad line (not UTF-8, not JSON,
    missing or wrong ``required`` fields, duplicate id) is skipped and named in ``errors`` as
    ``<file>:<line>: reason``."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    seen: set[str] = set()
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            item = f"{path.name}:{n}"
            if not raw.strip():
                continue
            try:
                record = check_record(json.loads(raw.decode("utf-8")), item=item, required=required)
            except UnicodeDecodeError:
                errors.append(f"{item}: not UTF-8")
                continue
            except json.JSONDecodeError as exc:
                errors.append(f"{item}: not JSON ({exc.msg})")
                continue
            except ValueError as exc:
                errors.append(str(exc))
                continue
            if record["id"] in seen:
                errors.append(f"{item}: duplicate id {record['id']!r}")
                continue
            seen.add(record["id"])
            records.append(record)
    return records, errors


def audio_path(manifest: Path, record: dict[str, Any]) -> Path:
    """The absolute audio path of a record (``audio`` is relative to the manifest's folder)."""
    return (Path(manifest).parent / record["audio"]).resolve()


def as_hf_dataset(manifest: Path, split: str | None = None) -> Any:
    """The manifest as a Hugging Face ``datasets.Dataset`` (``audio`` made absolute; nested dicts kept as
    structs). Audio is not decoded here: read it with ``audio_io.read_audio`` (the one audio reader)."""
    import datasets

    records, errors = read_manifest(manifest)
    if errors:
        raise ValueError(f"{manifest}: {len(errors)} bad line(s), first: {errors[0]}")
    rows = [
        dict(r, audio=str(audio_path(manifest, r))) for r in records if split is None or r["split"] == split
    ]
    common = set.intersection(*(set(r) for r in rows)) if rows else set(REQUIRED)
    return datasets.Dataset.from_list(
        [{k: r[k] for k in sorted(common) if not k.startswith("caption_slots")} for r in rows]
    )
