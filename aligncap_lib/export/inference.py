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

Long audio is captioned in segments (:func:`segment_bounds`): a file longer than ``segment_seconds``
(:data:`SEGMENT_SECONDS`) is cut into equal segments at most that long, each captioned alone as a clip, with its
start and end in the result. The model heard clips of 0.8-7.1 s; a longer clip would be read with a wider unit
stride than any training clip had (``speech_units.stride_for``), so we segment rather than stretch.

Each clip is encoded alone: the fitted codebooks hold near-duplicate centroids, and the float noise of
padding a clip into a batch (~1e-8) flipped codebook-0 codes between them (measured: a third of the
positions), so batched encoding would make a file's caption depend on the other files of the call.
Captions are generated in batches of ``batch_size`` (left-padded, as in the evaluation).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
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
from aligncap_lib.core.reproducibility import configure_threads, quiet_progress, repo_root
from aligncap_lib.export.exporter import ExportError, as_norms, load_export, stage_settings
from aligncap_lib.tokens import speech_codec
from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig, units_to_text

#: Suffixes collected from folders (libsndfile >= 1.1 reads all of them; files named explicitly are always tried).
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
CLUE_SOURCES: tuple[str, ...] = ("acoustic", "none")
#: The committed model (the cpu reproduction's exported ``aligncap_full``, seed 0), relative to the repository
#: root: ``aligncap caption`` uses it when no ``--model`` is given.
DEFAULT_MODEL = Path("models") / "cpu" / "aligncap_full"
#: Segment length in seconds (our choice): the training clips are 0.8-7.1 s long (median 2.4 s, 95th percentile
#: 4.9 s, cpu corpus), so a segment of at most 6 s stays inside the lengths the model heard.
SEGMENT_SECONDS = 6.0
#: The longest file read (a memory guard: one hour of 48 kHz float32 audio is 0.7 GB).
MAX_FILE_SECONDS = 3600.0

Audio = str | Path | np.ndarray
#: The segments of one input in :meth:`Captioner.iter_captions`: ``(result key, start s, end s)``.
_Plan = list[tuple[str, float | None, float | None]]


@dataclasses.dataclass(frozen=True)
class CaptionResult:
    """One segment's outcome (a short file is one segment): ``caption`` and ``clues`` (slot -> bin, None when
    the prompt had none), ``seconds`` (the whole audio's duration), ``start`` and ``end`` (the segment, in
    seconds from the audio's start), or ``error`` (the reason) with the caption and clues None. A file that could
    not be read has one error result with ``start``/``end`` None."""

    path: str
    caption: str | None
    clues: dict[str, str | None] | None
    seconds: float | None
    error: str | None = None
    start: float | None = None
    end: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"path": self.path, "start": self.start, "end": self.end, "caption": self.caption,
               "clues": self.clues, "seconds": self.seconds}  # fmt: skip
        return out if self.error is None else {**out, "error": self.error}


def segment_bounds(n_samples: int, sample_rate: int, segment_seconds: float = SEGMENT_SECONDS) -> list[tuple[int, int]]:  # fmt: skip
    """``[(start, end), ...]`` sample indices of the segments of ``n_samples`` samples: one segment when the
    audio is at most ``segment_seconds`` long, else ``ceil(duration / segment_seconds)`` equal segments (integer
    arithmetic: the same bounds on every machine)."""
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}")
    longest = int(segment_seconds * sample_rate)
    n = max(1, math.ceil(n_samples / longest)) if longest > 0 else 1
    return [(k * n_samples // n, (k + 1) * n_samples // n) for k in range(n)]


class Captioner:
    """A speech emotion captioner: the LM, its tokenizer, the speech tokenizer and the analyzer norms."""

    def __init__(self, model: Any, tokenizer: Any, codec: Any, tokens_config: Any, norms: Any,
                 info: Mapping[str, Any], segment_seconds: float = SEGMENT_SECONDS) -> None:  # fmt: skip
        if segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}")
        self.model, self.tokenizer, self.codec = model.eval(), tokenizer, codec
        self.tokens_config, self.norms, self.info = tokens_config, norms, dict(info)
        self.decoding: dict[str, Any] = dict(info["decoding"])
        self.default_clues: str = info["default_clues"]
        self.segment_seconds = float(segment_seconds)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, verify: bool = True,
                        segment_seconds: float = SEGMENT_SECONDS) -> Captioner:  # fmt: skip
        """Load an export (:mod:`aligncap_lib.export.exporter`): checksums verified, pickles refused, CPU, no network."""

        e = load_export(directory, verify=verify)
        return cls(e.model, e.tokenizer, e.codec, e.tokens_config, e.norms, e.info, segment_seconds)

    @classmethod
    def default(cls, **kwargs: Any) -> Captioner:
        """The committed model (:data:`DEFAULT_MODEL`): the cpu reproduction's ``aligncap_full``, seed 0;
        ``kwargs`` go to :meth:`from_pretrained`."""
        return cls.from_pretrained(repo_root() / DEFAULT_MODEL, **kwargs)

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

        if isinstance(audio, (str, Path)):
            if sample_rate is not None:
                raise ValueError(f"{audio}: sample_rate is read from the file; pass it only with arrays")
            wave, rate, _ = read_audio(audio, max_seconds=MAX_FILE_SECONDS)
            return wave, rate, str(audio)
        if sample_rate is None:
            raise AudioError("<array>", "a waveform needs sample_rate= (Hz)")
        x = np.asarray(audio)
        if x.ndim == 2 and x.shape[0] <= 8 < x.shape[1]:
            x = x.T
        return validate_waveform(x, sample_rate, max_seconds=MAX_FILE_SECONDS), int(sample_rate), "<array>"

    def segments(self, wave: np.ndarray, sample_rate: int) -> list[tuple[float, float, np.ndarray]]:
        """``[(start s, end s, segment wave), ...]`` of a loaded wave (:func:`segment_bounds`)."""
        return [(round(a / sample_rate, 3), round(b / sample_rate, 3), wave[a:b])
                for a, b in segment_bounds(len(wave), sample_rate, self.segment_seconds)]  # fmt: skip

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
        """``(CaptionExample, seconds)``: what the LM reads for one clip (the student's speech view). A clip longer
        than ``segment_seconds`` is refused here: :meth:`caption_segments` and :meth:`caption_batch` segment it."""

        if lang not in TEMPLATES:
            raise ValueError(f"unknown language {lang!r}; choose one of {tuple(TEMPLATES)}")
        wave, rate, item = self.load(audio, sample_rate)
        if len(segment_bounds(len(wave), rate, self.segment_seconds)) > 1:
            raise ValueError(f"{item}: {len(wave) / rate:.1f} s is longer than one segment "
                             f"({self.segment_seconds:g} s); use caption_segments() or caption_batch()")  # fmt: skip
        return self._clip_example(wave, rate, item, lang, clues, key), len(wave) / rate

    def _clip_example(self, wave: np.ndarray, rate: int, item: str, lang: str, clues: Any, key: str) -> Any:
        return CaptionExample(id=key, lang=lang, caption="", units=self.units(wave, rate, item),
                              student_clues=self.clues_for(wave, rate, lang, clues))  # fmt: skip

    def caption_examples(self, examples: Sequence[Any], batch_size: int = 32) -> dict[str, str]:
        """id -> caption for prepared :class:`CaptionExample` s, with the stage's decoding (the evaluation's call)."""

        return generate_captions(self.model, self.tokenizer, list(examples), self.decoding,
                                 batch_size=batch_size, seed=int(self.info.get("seed") or 0))  # fmt: skip

    def caption(
        self, audio: Audio, sample_rate: int | None = None, *, lang: str = "en", clues: Any = None
    ) -> str:
        """The caption of one clip (at most ``segment_seconds`` long; longer audio: :meth:`caption_segments`);
        raises ``AudioError``/``ValueError`` naming a bad input."""
        ex, _ = self.example(audio, sample_rate, lang=lang, clues=clues)
        return self.caption_examples([ex])[ex.id]

    def caption_segments(self, audio: Audio, sample_rate: int | None = None, **kwargs: Any) -> list[CaptionResult]:  # fmt: skip
        """One :class:`CaptionResult` per segment of one file or waveform, in time order (one for a short clip)."""
        return self.caption_batch([audio], sample_rate, **kwargs)

    # -- many clips ---------------------------------------------------------------------------------------
    def iter_captions(self, audios: Sequence[Audio], sample_rate: int | None = None, *, lang: str = "en",
                      clues: Any = None, batch_size: int = 16, progress: bool = False) -> Iterator[CaptionResult]:  # fmt: skip
        """One :class:`CaptionResult` per segment of each input (one for a clip up to ``segment_seconds``), in
        order, yielded batch by batch; a bad input or segment gives an error result naming it, and the others
        are still captioned."""
        from tqdm import tqdm  # plain tqdm: always stderr (tqdm.auto would draw a widget in notebooks)

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if lang not in TEMPLATES:
            raise ValueError(f"unknown language {lang!r}; choose one of {tuple(TEMPLATES)}")
        bar = tqdm(total=len(audios), unit="file", file=sys.stderr, disable=not progress, desc="captioning")
        try:
            for first in range(0, len(audios), batch_size):
                # (name, duration, [(key, start, end)]): a file-level error is one key without start and end
                planned: list[tuple[str, float | None, _Plan]] = []
                ready: dict[str, Any] = {}
                failed: dict[str, str] = {}
                for i, audio in enumerate(audios[first : first + batch_size], first):
                    name = str(audio) if isinstance(audio, (str, Path)) else f"<array {i}>"
                    try:
                        wave, rate, item = self.load(audio, sample_rate)
                    except (AudioError, ValueError, RuntimeError, OSError) as exc:  # named, never fatal
                        failed[f"{i}"] = getattr(exc, "reason", None) or str(exc)
                        planned.append((name, None, [(f"{i}", None, None)]))
                        bar.update(1)
                        continue
                    parts = self.segments(wave, rate)
                    plan: _Plan = []
                    for k, (a, b, seg) in enumerate(parts):
                        key = f"{i}.{k}"
                        where = item if len(parts) == 1 else f"{item} [{a:.2f}-{b:.2f} s]"
                        try:
                            seg = validate_waveform(seg, rate, item=where, max_seconds=None)
                            ready[key] = self._clip_example(seg, rate, where, lang, clues, key)
                        except (AudioError, ValueError, RuntimeError, OSError) as exc:
                            failed[key] = getattr(exc, "reason", None) or str(exc)
                        plan.append((key, a, b))
                    planned.append((name, round(len(wave) / rate, 3), plan))
                    bar.update(1)  # reading, tokenizing and measuring dominate; generation follows per batch
                caps = self._generate(ready, failed, batch_size)
                for name, seconds, plan in planned:
                    for key, start, end in plan:
                        if key in failed:
                            yield CaptionResult(name, None, None, seconds, failed[key], start, end)
                        else:
                            ex = ready[key]
                            clue_map = None if ex.student_clues is None else dict(ex.student_clues)
                            yield CaptionResult(name, caps[key], clue_map, seconds, None, start, end)
        finally:
            bar.close()

    def _generate(self, ready: dict[str, Any], failed: dict[str, str], batch_size: int) -> dict[str, str]:
        """Captions of a batch; if the batch fails, each example alone, so one bad item loses nothing else."""
        examples = list(ready.values())
        try:
            return self.caption_examples(examples, batch_size) if examples else {}
        except (RuntimeError, ValueError):
            caps: dict[str, str] = {}
            for key, ex in list(ready.items()):
                try:
                    caps.update(self.caption_examples([ex]))
                except (RuntimeError, ValueError) as exc:
                    failed[key] = f"caption generation failed ({exc})"
                    del ready[key]
            return caps

    def caption_batch(self, audios: Sequence[Audio], sample_rate: int | None = None, **kwargs: Any) -> list[CaptionResult]:  # fmt: skip
        """:meth:`iter_captions` as a list."""
        return list(self.iter_captions(audios, sample_rate, **kwargs))


def collect_audio(paths: str | Path | Sequence[str | Path]) -> tuple[list[Path], list[CaptionResult]]:
    """Files to caption: files as given, folders searched recursively for ``AUDIO_SUFFIXES`` (sorted, hidden
    entries skipped). A single path may be given alone (a string is never read as a list of characters). A
    folder without audio, or one that cannot be listed, is an error result naming it; a missing path is left to
    the reader to name."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    errors: list[CaptionResult] = []
    for p in map(Path, paths):
        if not p.is_dir():
            files.append(p)
            continue
        try:
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))  # fmt: skip
        except OSError as exc:  # a folder (or one inside it) that cannot be read
            errors.append(CaptionResult(str(p), None, None, None, f"cannot list the folder ({exc})"))
            continue
        if not found:
            errors.append(
                CaptionResult(str(p), None, None, None, f"no audio files ({', '.join(AUDIO_SUFFIXES)})")
            )
        files += found
    return files, errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="audio files and/or folders (searched recursively)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"an exported model folder (default: the committed {DEFAULT_MODEL.as_posix()}, the cpu "
        "reproduction's aligncap_full, seed 0; your own: runs/cpu/export after `aligncap export`)",
    )
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
        help='one JSON line per segment: {"path", "start", "end", "caption", "clues", "seconds" (the '
        "file's duration)}",
    )
    parser.add_argument(
        "--segment-seconds",
        type=float,
        default=SEGMENT_SECONDS,
        help=f"audio longer than this is captioned in equal segments at most this long (default "
        f"{SEGMENT_SECONDS:g}: the training clips are 0.8-7.1 s)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="captions generated per batch")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")  # fmt: skip


def run(args: argparse.Namespace) -> int:

    configure_threads()
    if args.batch_size < 1:
        print(f"aligncap caption: --batch-size must be >= 1, got {args.batch_size}", file=sys.stderr)
        return 2
    if args.segment_seconds <= 0:
        print(f"aligncap caption: --segment-seconds must be > 0, got {args.segment_seconds}", file=sys.stderr)
        return 2
    try:
        captioner = (Captioner.from_pretrained(args.model, segment_seconds=args.segment_seconds) if args.model
                     else Captioner.default(segment_seconds=args.segment_seconds))  # fmt: skip
    except (ExportError, OSError) as exc:
        hint = "" if args.model else " (the committed default model; pass --model to use another)"
        print(f"aligncap caption: cannot load the model{hint}: {exc}", file=sys.stderr)
        return 2
    files, errors = collect_audio(args.paths)
    failed_files = {r.path for r in errors}
    captioned_files: set[str] = set()
    n_segments = 0

    def emit(r: CaptionResult) -> None:
        if args.json:
            print(json.dumps(r.to_json(), ensure_ascii=False), flush=True)
            return
        where = r.path
        if r.start is not None and r.end is not None and (r.start > 0 or r.end < (r.seconds or 0)):
            where = f"{r.path} [{r.start:.2f}-{r.end:.2f} s]"
        if r.error is not None:
            print(f"error: {where}: {r.error}", file=sys.stderr, flush=True)
        else:
            print(f"{where}\t{r.caption}", flush=True)

    for r in errors:
        emit(r)
    results = captioner.iter_captions(files, lang=args.lang, clues=args.clues, batch_size=args.batch_size,
                                      progress=not args.no_progress)  # fmt: skip
    for r in results:
        emit(r)
        if r.error is None:
            n_segments += 1
            captioned_files.add(r.path)
        else:
            failed_files.add(r.path)
    n_ok = len(captioned_files - failed_files)
    print(f"captioned {n_ok} file(s) in {n_segments} segment(s), {len(failed_files)} failed", file=sys.stderr)
    return 1 if failed_files else 0
