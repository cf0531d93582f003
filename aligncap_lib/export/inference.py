"""Caption your own audio: the ``aligncap caption`` command and the Python API.

::

    from aligncap_lib.export.inference import Captioner
    captioner = Captioner.from_pretrained("runs/cpu/export")
    captioner.caption("my_clip.wav")              # -> "The speaker sounds ..."

One clip's path: read (:mod:`audio_io`: any rate, channels mixed to mono, bad files named) -> 24 kHz ->
the exported speech codec -> unit text (:func:`speech_tokens.units_to_text`) -> acoustic clues measured
by the analyzer with the exported norms (at the file's own rate; speaking rate blind, there is no
transcript) -> the student prompt (:func:`caption_prompts.example_prompt`) -> the evaluation's decoding
(:func:`caption_generation.generate_captions` with the stage's recorded settings). From the prompt on it is
the evaluation's code, so the same units and clues give the evaluation's caption.

Each clip is encoded alone: the fitted codebooks hold near-duplicate centroids, and the float noise of
padding a clip into a batch (~1e-8) flipped codebook-0 codes between them (measured: a third of the
positions), so batched encoding would make a file's caption depend on the other files of the call.
Captions are generated in batches of ``batch_size`` (left-padded, as in the evaluation).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aligncap_lib.captioner.generation import generate_captions
from aligncap_lib.captioner.model import load_model
from aligncap_lib.captioner.prompts import TEMPLATES, CaptionExample
from aligncap_lib.clues.acoustic_analyzer import analyze
from aligncap_lib.core.attributes import validate_slot
from aligncap_lib.core.audio_io import AudioError, read_audio, resample, validate_waveform
from aligncap_lib.core.reproducibility import configure_threads, quiet_progress
from aligncap_lib.export.exporter import ExportError, as_norms, load_export, stage_settings
from aligncap_lib.tokens import speech_codec
from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig, units_to_text

#: Suffixes collected from folders (libsndfile >= 1.1 reads all of them; files named explicitly are always tried).
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
CLUE_SOURCES: tuple[str, ...] = ("acoustic", "none")

Audio = str | Path | np.ndarray


@dataclasses.dataclass(frozen=True)
class CaptionResult:
    """One input's outcome: ``caption`` and ``clues`` (slot -> bin, None when the prompt had none) and
    ``seconds`` (the audio's duration), or ``error`` (the reason) with the rest None."""

    path: str
    caption: str | None
    clues: dict[str, str | None] | None
    seconds: float | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"path": self.path, "caption": self.caption, "clues": self.clues, "seconds": self.seconds}
        return out if self.error is None else {**out, "error": self.error}


class Captioner:
    """A speech emotion captioner: the LM, its tokenizer, the speech tokenizer and the analyzer norms."""

    def __init__(self, model: Any, tokenizer: Any, codec: Any, tokens_config: Any, norms: Any,
                 info: Mapping[str, Any]) -> None:  # fmt: skip
        self.model, self.tokenizer, self.codec = model.eval(), tokenizer, codec
        self.tokens_config, self.norms, self.info = tokens_config, norms, dict(info)
        self.decoding: dict[str, Any] = dict(info["decoding"])
        self.default_clues: str = info["default_clues"]

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, verify: bool = True) -> Captioner:
        """Load an export (:mod:`aligncap_lib.export.exporter`): checksums verified, pickles refused, CPU, no network."""

        e = load_export(directory, verify=verify)
        return cls(e.model, e.tokenizer, e.codec, e.tokens_config, e.norms, e.info)

    @classmethod
    def from_stage(cls, stage_dir: str | Path, tokens_dir: str | Path, records_or_norms: Any) -> Captioner:
        """The same captioner straight from a trained stage folder (``merged/``, ``results.json``), the tokens
        folder and the analyzer norms (or the corpus records to fit them on), before any export."""

        stage_dir, tokens_dir = Path(stage_dir), Path(tokens_dir)
        settings = stage_settings(json.loads((stage_dir / "results.json").read_text(encoding="utf-8")))
        with quiet_progress():
            model, tok = load_model(stage_dir / "merged")
        config = SpeechTokensConfig(**json.loads((tokens_dir / "config.json").read_text(encoding="utf-8")))
        codec, _ = speech_codec.load_artifact(tokens_dir / "codec.safetensors")
        return cls(model, tok, codec, config, as_norms(records_or_norms), settings)

    # -- one clip -----------------------------------------------------------------------------------------
    def load(self, audio: Audio, sample_rate: int | None = None) -> tuple[np.ndarray, int, str]:
        """``(wave float32 [T] mono, rate Hz, item name)`` of a path or an array ``[T]``, ``[T, C]`` or
        ``[C, T]`` (C <= 8: torchaudio's layout); raises ``AudioError`` naming the item."""

        limit = self.tokens_config.max_seconds
        if isinstance(audio, (str, Path)):
            if sample_rate is not None:
                raise ValueError(f"{audio}: sample_rate is read from the file; pass it only with arrays")
            wave, rate, _ = read_audio(audio, max_seconds=limit)
            return wave, rate, str(audio)
        if sample_rate is None:
            raise AudioError("<array>", "a waveform needs sample_rate= (Hz)")
        x = np.asarray(audio)
        if x.ndim == 2 and x.shape[0] <= 8 < x.shape[1]:
            x = x.T
        return validate_waveform(x, sample_rate, max_seconds=limit), int(sample_rate), "<array>"

    def units(self, wave: np.ndarray, sample_rate: int, item: str = "<array>") -> str:
        """The unit text the LM reads for ``wave`` float [T] at ``sample_rate`` Hz (encoded alone)."""

        x = resample(wave, sample_rate, speech_codec.SAMPLE_RATE)
        if len(x) < speech_codec.HOP:  # the tokenizer stage's rule (speech_tokens.load_clip)
            raise AudioError(item, f"shorter than one 75 Hz frame ({len(x)} < {speech_codec.HOP} samples)")
        codes = speech_codec.encode(self.codec, [x], self.tokens_config.n_q)[0]
        return units_to_text(codes, self.tokens_config)

    def clues_for(self, wave: np.ndarray, sample_rate: int, lang: str, clues: Any = None) -> dict | None:
        """The prompt's clues: measured (``acoustic``), none (``"none"`` -> None), or a given slot -> bin map.
        ``None`` means the model's default (``acoustic`` when it was trained with clues)."""

        if isinstance(clues, Mapping):
            for slot, value in clues.items():
                validate_slot(slot, value)
            return dict(clues)
        source = self.default_clues if clues is None else clues
        if source not in CLUE_SOURCES:
            raise ValueError(
                f"unknown clue source {source!r}; choose one of {CLUE_SOURCES} or pass a mapping"
            )
        return analyze(wave, sample_rate, lang, self.norms) if source == "acoustic" else None

    def example(self, audio: Audio, sample_rate: int | None = None, *, lang: str = "en", clues: Any = None,
                key: str = "0") -> tuple[Any, float]:  # fmt: skip
        """``(CaptionExample, seconds)``: what the LM reads for one clip (the student's speech view)."""

        if lang not in TEMPLATES:
            raise ValueError(f"unknown language {lang!r}; choose one of {tuple(TEMPLATES)}")
        wave, rate, item = self.load(audio, sample_rate)
        ex = CaptionExample(id=key, lang=lang, caption="", units=self.units(wave, rate, item),
                            student_clues=self.clues_for(wave, rate, lang, clues))  # fmt: skip
        return ex, len(wave) / rate

    def caption_examples(self, examples: Sequence[Any], batch_size: int = 32) -> dict[str, str]:
        """id -> caption for prepared :class:`CaptionExample` s, with the stage's decoding (the evaluation's call)."""

        return generate_captions(self.model, self.tokenizer, list(examples), self.decoding,
                                 batch_size=batch_size, seed=int(self.info.get("seed") or 0))  # fmt: skip

    def caption(
        self, audio: Audio, sample_rate: int | None = None, *, lang: str = "en", clues: Any = None
    ) -> str:
        """The caption of one file or waveform; raises ``AudioError``/``ValueError`` naming a bad input."""
        ex, _ = self.example(audio, sample_rate, lang=lang, clues=clues)
        return self.caption_examples([ex])[ex.id]

    # -- many clips ---------------------------------------------------------------------------------------
    def iter_captions(self, audios: Sequence[Audio], sample_rate: int | None = None, *, lang: str = "en",
                      clues: Any = None, batch_size: int = 16, progress: bool = False) -> Iterator[CaptionResult]:  # fmt: skip
        """One :class:`CaptionResult` per input, in order, yielded batch by batch; a bad input gives an error
        result and the others are still captioned."""
        from tqdm import tqdm  # plain tqdm: always stderr (tqdm.auto would draw a widget in notebooks)

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        bar = tqdm(total=len(audios), unit="file", file=sys.stderr, disable=not progress, desc="captioning")
        try:
            for start in range(0, len(audios), batch_size):
                chunk = list(enumerate(audios[start : start + batch_size], start))
                ready: dict[int, tuple[Any, float]] = {}
                failed: dict[int, str] = {}
                for i, audio in chunk:
                    try:
                        ready[i] = self.example(audio, sample_rate, lang=lang, clues=clues, key=str(i))
                    except (AudioError, ValueError, RuntimeError, OSError) as exc:  # named, never fatal
                        failed[i] = getattr(exc, "reason", None) or str(exc)
                    bar.update(1)  # reading, tokenizing and measuring dominate; generation follows per batch
                caps = self._generate(ready, failed, batch_size)
                for i, audio in chunk:
                    name = str(audio) if isinstance(audio, (str, Path)) else f"<array {i}>"
                    if i in failed:
                        yield CaptionResult(name, None, None, None, failed[i])
                    else:
                        ex, seconds = ready[i]
                        clue_map = None if ex.student_clues is None else dict(ex.student_clues)
                        yield CaptionResult(name, caps[str(i)], clue_map, round(seconds, 3))
        finally:
            bar.close()

    def _generate(self, ready: dict[int, tuple[Any, float]], failed: dict[int, str], batch_size: int) -> dict[str, str]:  # fmt: skip
        """Captions of a batch; if the batch fails, each example alone, so one bad item loses nothing else."""
        examples = [ex for ex, _ in ready.values()]
        try:
            return self.caption_examples(examples, batch_size) if examples else {}
        except (RuntimeError, ValueError):
            caps: dict[str, str] = {}
            for i, (ex, _) in list(ready.items()):
                try:
                    caps.update(self.caption_examples([ex]))
                except (RuntimeError, ValueError) as exc:
                    failed[i] = f"caption generation failed ({exc})"
                    del ready[i]
            return caps

    def caption_batch(self, audios: Sequence[Audio], sample_rate: int | None = None, **kwargs: Any) -> list[CaptionResult]:  # fmt: skip
        """:meth:`iter_captions` as a list."""
        return list(self.iter_captions(audios, sample_rate, **kwargs))


def collect_audio(paths: Sequence[str | Path]) -> tuple[list[Path], list[CaptionResult]]:
    """Files to caption: files as given, folders searched recursively for ``AUDIO_SUFFIXES`` (sorted, hidden
    entries skipped). A folder without audio is an error result; a missing path is left to the reader to name."""
    files: list[Path] = []
    errors: list[CaptionResult] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))  # fmt: skip
            if not found:
                errors.append(
                    CaptionResult(str(p), None, None, None, f"no audio files ({', '.join(AUDIO_SUFFIXES)})")
                )
            files += found
        else:
            files.append(p)
    return files, errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="audio files and/or folders (searched recursively)"
    )
    parser.add_argument("--model", required=True, help="an exported model folder (e.g. runs/cpu/export)")
    parser.add_argument(
        "--clues",
        choices=CLUE_SOURCES,
        default=None,
        help="clue source (default: the model's own: acoustic if it was trained with clues)",
    )
    parser.add_argument(
        "--lang", choices=("en", "zh"), default="en", help="language of the speech and caption"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='one JSON line per file: {"path", "caption", "clues", "seconds" (audio duration)}',
    )
    parser.add_argument("--batch-size", type=int, default=16, help="captions generated per batch")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")  # fmt: skip


def run(args: argparse.Namespace) -> int:

    configure_threads()
    if args.batch_size < 1:
        print(f"aligncap caption: --batch-size must be >= 1, got {args.batch_size}", file=sys.stderr)
        return 2
    try:
        captioner = Captioner.from_pretrained(args.model)
    except (ExportError, OSError) as exc:
        print(f"aligncap caption: cannot load the model: {exc}", file=sys.stderr)
        return 2
    files, errors = collect_audio(args.paths)
    n_ok = 0

    def emit(r: CaptionResult) -> None:
        if args.json:
            print(json.dumps(r.to_json(), ensure_ascii=False), flush=True)
        elif r.error is not None:
            print(f"error: {r.path}: {r.error}", file=sys.stderr, flush=True)
        else:
            print(f"{r.path}\t{r.caption}", flush=True)

    for r in errors:
        emit(r)
    results = captioner.iter_captions(files, lang=args.lang, clues=args.clues, batch_size=args.batch_size,
                                      progress=not args.no_progress)  # fmt: skip
    for r in results:
        emit(r)
        if r.error is None:
            n_ok += 1
        else:
            errors.append(r)
    print(f"captioned {n_ok} file(s), {len(errors)} failed", file=sys.stderr)
    return 1 if errors else 0
