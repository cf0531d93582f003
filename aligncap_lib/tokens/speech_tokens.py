"""Speech tokens: train (or load) the speech codec, tokenize the corpus, probe the tokens.

``aligncap tokenize --work runs/P [--preset P]`` builds ``runs/P/tokens/`` through :func:`run_layout.run_stage`:

- ``codec.safetensors``: the tokenizer artifact (the codec's full ``state_dict``, :mod:`speech_codec`), its
  sha256 in ``stage.json``;
- ``codes.safetensors``: clip id -> ``int16 [n_q, T]`` codes at 75 Hz;
- ``units.jsonl``: per clip ``{"id", "split", "lang", "units", "positions"}``, ``units`` being the text the LLM
  reads (:mod:`aligncap_lib.tokens.speech_units`);
- ``report.json``: skipped clips with reasons, codebook usage, how many clips were encoded or taken from cache.

The token cache (``runs/P/tokens_cache/``) survives rebuilds of the stage: a trained (or fitted) codec is keyed by
its settings and the checksums of the ``train`` audio, codes by the codec's sha256 and the audio's sha256, so a
re-run trains and tokenizes nothing twice. Then ``results/<preset>/probe.json`` (:mod:`aligncap_lib.tokens.token_probe`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from aligncap_lib.core.audio_io import AudioError, read_audio
from aligncap_lib.core.manifest import read_manifest
from aligncap_lib.core.presets import StageConfig, combined_hash, result_field
from aligncap_lib.core.reproducibility import configure_threads, seed_everything, write_results
from aligncap_lib.core.run_layout import RunLayout, read_stage, run_stage
from aligncap_lib.tokens import codebook_fitting, spectral_codec, speech_codec, speech_units, token_probe

#: "trained": the spectral RVQ codec trained here (:mod:`spectral_codec`, offline default); "pretrained": EnCodec
#: 24 kHz from a local checkpoint (``paper``); "random": random-weight EnCodec with fitted codebooks (the baseline
#: of notebook 02: it keeps energy and timing, little pitch).
CODEC_SOURCES = ("trained", "pretrained", "random")
#: The fields that make a trained codec (its cache key), and those that make the random baseline's.
TRAINED_FIELDS = ("n_q", "bins", "codec_dim", "codec_hidden", "codec_res", "codec_steps", "codec_batch",
                  "codec_crop", "codec_lr", "fine_weight", "fine_width", "commitment", "max_seconds", "seed")  # fmt: skip
RANDOM_FIELDS = ("n_q", "bins", "encoder_filters", "fit_method", "kmeans_iters", "fit_max_frames", "max_seconds",
                 "seed")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SpeechTokensConfig(StageConfig):
    """Speech tokenizer settings; defaults are the ``cpu`` preset's (our choices, each with its reason)."""

    stage: ClassVar[str] = "speech_tokens"
    #: 2: every clip is encoded alone (1 padded clips into batches of 4, which moved units: speech_codec.embed);
    #: 3: codebooks fitted and codes assigned with exact (centred float64) distances: the float32 expanded form
    #: picked the nearest centroid for only a third of the frames, so units depended on the CPU (codebook_fitting)
    #: 4: the trained spectral codec is the offline default (the random encoder kept energy only)
    protocol: ClassVar[int] = 4

    codec: str = result_field("trained")  # see CODEC_SOURCES; "pretrained" at paper
    pretrained_path: str | None = result_field(None)  # file or folder; None: the torch hub cache
    n_q: int = result_field(4)  # codebooks trained and stored (4 x 7 bits x 75 Hz = 2.1 kbps)
    # codes per codebook: 128 read pitch level better than 64 from codebook 0 (0.81 vs 0.67, notebook 02's story)
    bins: int = result_field(128)
    # the trained codec (spectral_codec); each value measured on the cpu corpus, probe on unseen voices
    codec_dim: int = result_field(64)  # latent width
    codec_hidden: int = result_field(256)  # channels of the SEANet residual stack
    codec_res: int = result_field(2)  # residual blocks in the encoder and in the decoder
    codec_steps: int = result_field(1500)  # about 3.5 min on 2 cores (budget: 8 min)
    codec_batch: int = result_field(32)  # windows per step
    codec_crop: int = result_field(75)  # frames per window (1 s)
    codec_lr: float = result_field(2e-3)  # Adam peak of a one-cycle schedule
    fine_weight: float = result_field(
        6.0
    )  # weight of the fine-structure (harmonics) term: 0 -> pitch at chance
    fine_width: int = result_field(21)  # bins of the envelope's moving average (328 Hz > the highest f0 here)
    commitment: float = result_field(0.25)  # VQ commitment weight (SoundStream's and VQ-VAE's usual value)
    # the random-encoder baseline ("random")
    encoder_filters: int = result_field(16)  # SEANet base width; EnCodec's 32 is ~3x slower, random anyway
    fit_method: str = result_field("kmeans")  # "kmeans" or encodec's "ema"
    kmeans_iters: int = result_field(15)  # Lloyd iterations; the assignment moves < 1% after ~10
    fit_max_frames: int = result_field(60_000)  # train frames drawn for fitting (~13 min of speech)
    # codebooks the LLM reads: 2 read pitch level 0.85 vs 0.81 for codebook 0 alone, at the same cap of 100 unit
    # tokens (so the LLM's cost is unchanged; each position then spans ~4-5 frames of a 3 s clip)
    unit_codebooks: int = result_field(2)
    # frames per position at least (37.5 Hz); with 2 codebooks a 2-3 s clip reaches the cap and spans 3-5 frames
    stack: int = result_field(2)
    max_positions: int = result_field(100)  # cap on unit tokens per clip (stride grows beyond it)
    dedup: bool = result_field(False)  # collapsing repeats loses the clock that speaking rate needs
    max_seconds: float = result_field(60.0)  # longer clips are rejected (audio_io's rule)
    probe_c: float = result_field(0.03)  # inverse L2 strength, by 4-fold CV grouped by voice on train (cpu)
    seed: int = result_field(0)

    def validate(self) -> None:
        self._one_of("codec", CODEC_SOURCES)
        self._one_of("fit_method", codebook_fitting.FIT_METHODS)
        self._positive("n_q", "bins", "encoder_filters", "kmeans_iters", "fit_max_frames", "unit_codebooks")
        self._positive("codec_dim", "codec_hidden", "codec_steps", "codec_batch", "codec_crop", "codec_lr")
        self._require(self.codec_res >= 0 and self.fine_weight >= 0 and self.commitment >= 0,
                      "codec_res, fine_weight and commitment must be >= 0")  # fmt: skip
        self._require(self.fine_width % 2 == 1, f"fine_width must be odd, got {self.fine_width}")
        self._positive("stack", "max_positions", "max_seconds", "probe_c")
        self._require(self.bins & (self.bins - 1) == 0, f"bins must be a power of 2, got {self.bins}")
        self._require(self.unit_codebooks <= self.n_q, "unit_codebooks must be <= n_q")
        self._require(self.max_positions >= self.unit_codebooks, "max_positions must hold one position")
        if self.codec == "pretrained":
            self._require(self.bins == 1024 and self.n_q <= 32 and self.encoder_filters == 32,
                          "pretrained EnCodec has 32 codebooks of 1024 codes and 32 encoder filters")  # fmt: skip

    @property
    def max_frames(self) -> int:
        return speech_codec.n_frames(int(self.max_seconds * speech_codec.SAMPLE_RATE))


def speech_unit_vocabulary(config: SpeechTokensConfig) -> list[str]:
    """The tokens the captioner adds to its tokenizer (unit tokens, then stride tokens)."""
    c = config
    return speech_units.vocabulary(c.unit_codebooks, c.bins, c.stack, c.max_positions, c.max_frames)


def unit_vocabulary(layout: RunLayout) -> list[str]:
    """The added tokens for the tokens built in ``layout.tokens`` (their saved config), else for the preset."""
    saved = Path(layout.tokens) / "config.json"
    if saved.is_file():
        config = SpeechTokensConfig(**json.loads(saved.read_text(encoding="utf-8")))
    else:
        config = SpeechTokensConfig.for_preset(layout.preset)
    return speech_unit_vocabulary(config)


def units_to_text(codes: torch.Tensor, config: SpeechTokensConfig) -> str:
    """Codes ``[n_q, T]`` at 75 Hz -> the speech part of a prompt (see :mod:`speech_units`)."""
    return speech_units.units_to_text(
        codes, unit_codebooks=config.unit_codebooks, stack=config.stack,
        max_positions=config.max_positions, dedup=config.dedup,
    )  # fmt: skip


#: The manifest fields the tokens stage reads (a bring-your-own manifest needs no more).
MANIFEST_FIELDS: tuple[str, ...] = ("id", "audio")


def read_rows(manifest: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The manifest's rows with an id and an audio path, and the bad lines it skipped (named)."""
    return read_manifest(manifest, required=MANIFEST_FIELDS)


def load_clip(path: Path, config: SpeechTokensConfig) -> np.ndarray:
    """Mono float32 ``[samples]`` at 24 kHz; ``AudioError`` naming the file when it cannot be tokenized."""
    wave, _, _ = read_audio(path, target_rate=speech_codec.SAMPLE_RATE, max_seconds=config.max_seconds)
    if len(wave) < speech_codec.HOP:
        raise AudioError(path, f"shorter than one 75 Hz frame ({len(wave)} < {speech_codec.HOP} samples)")
    return wave


def _embed_many(model: speech_codec.Codec, waves: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    # speech_codec.embed encodes each clip alone: a clip's units do not depend on the others of the call
    return dict(zip(waves, speech_codec.embed(model, list(waves.values())), strict=True))


def codec_key(config: SpeechTokensConfig, train_checksums: list[str]) -> str:
    """Cache key of a trained or fitted codec: its settings (:data:`TRAINED_FIELDS` or :data:`RANDOM_FIELDS`),
    the protocol and the checksums of the ``train`` audio."""
    names = TRAINED_FIELDS if config.codec == "trained" else RANDOM_FIELDS
    fields = {f: getattr(config, f) for f in names} | {"codec": config.codec, "protocol": config.protocol}
    return combined_hash(fields, {"train": sorted(train_checksums)})


def train_codec(config: SpeechTokensConfig, waves: list[np.ndarray]) -> tuple[Any, dict[str, Any]]:
    """A spectral codec trained on ``waves`` (the ``train`` clips) with ``config``'s settings; ``(model, info)``."""
    model = spectral_codec.build(n_q=config.n_q, bins=config.bins, dim=config.codec_dim,
                                 hidden=config.codec_hidden, n_res=config.codec_res, seed=config.seed)  # fmt: skip
    spectra = [spectral_codec.log_spectrogram(w) for w in waves]
    info = spectral_codec.train_codec(
        model, spectra, steps=config.codec_steps, batch_size=config.codec_batch, crop=config.codec_crop,
        lr=config.codec_lr, fine_weight=config.fine_weight, fine_width=config.fine_width,
        commitment=config.commitment, seed=config.seed,
    )  # fmt: skip
    return model, info


def fit_random_codebooks(
    model: Any, config: SpeechTokensConfig, frames: list[torch.Tensor]
) -> dict[str, Any]:
    """Fit ``model``'s RVQ codebooks on up to ``fit_max_frames`` of ``frames`` (per clip ``[T, D]``) with
    ``config``'s method; returns ``{"codes_used_on_fit", "fit_frames"}``."""
    fit = codebook_fitting.subsample_frames(frames, config.fit_max_frames, config.seed)
    used = codebook_fitting.fit_quantizer(model.quantizer, fit, method=config.fit_method, n_q=config.n_q,
                                          iters=config.kmeans_iters, seed=config.seed)  # fmt: skip
    return {"codes_used_on_fit": used, "fit_frames": len(fit)}


def fit_random_codec(
    config: SpeechTokensConfig, waves: dict[str, np.ndarray]
) -> tuple[Any, dict[str, Any], dict[str, torch.Tensor]]:
    """The random-encoder baseline: seeded random EnCodec, codebooks fitted on the frames of ``waves``.

    Returns ``(model, info, frames)``: ``frames`` (clip id -> ``[T, D]``) are the encoder frames computed here, for
    the caller to quantize rather than encode again."""
    model = speech_codec.build_codec(n_q=config.n_q, bins=config.bins, encoder_filters=config.encoder_filters,
                                     seed=config.seed)  # fmt: skip
    start = time.perf_counter()
    embedded = _embed_many(model, waves)
    info = fit_random_codebooks(model, config, [embedded[k] for k in sorted(embedded)])
    info["fit_s"] = round(time.perf_counter() - start, 1)
    return model, info, embedded


def get_codec(
    config: SpeechTokensConfig, clips: dict[str, dict[str, Any]], cache: Path
) -> tuple[Any, str, dict]:
    """``(model, sha256, info)``: the pretrained codec, or the trained (or random-baseline) one, from cache or
    made now on the ``train`` clips. ``info["embedded"]`` holds encoder frames computed here (the random baseline's
    train clips), to be quantized, not encoded again."""
    if config.codec == "pretrained":
        path = speech_codec.find_pretrained(config.pretrained_path)
        if path is None:
            raise FileNotFoundError(
                f"no {speech_codec.PRETRAINED_NAME} at {config.pretrained_path!r} or in the hub cache"
            )
        model: Any = speech_codec.load_pretrained(path)
        art = cache / "codecs" / f"pretrained-{speech_codec.sha256_file(path)[:16]}.safetensors"
        if not art.exists():
            speech_codec.save_artifact(model, art, {"source": str(path.name)})
        return model, speech_codec.sha256_file(art), {"fitted": False, "artifact": art, "embedded": {}}
    train = {k: c for k, c in clips.items() if c["split"] == "train"}
    key = codec_key(config, [c["sha256"] for c in train.values()])
    art = cache / "codecs" / f"{config.codec}-{key}.safetensors"
    if art.exists():
        model, extra = speech_codec.load_artifact(art)
        return (
            model,
            speech_codec.sha256_file(art),
            {"fitted": False, "artifact": art, "embedded": {}, **extra},
        )
    if not train:
        raise ValueError("no usable train clips to train the tokenizer on")
    waves = {k: train[k]["wave"] for k in sorted(train)}
    embedded: dict[str, torch.Tensor] = {}
    if config.codec == "trained":
        model, extra = train_codec(config, list(waves.values()))
    else:
        model, extra, embedded = fit_random_codec(config, waves)
    speech_codec.save_artifact(model, art, extra)
    return (
        model,
        speech_codec.sha256_file(art),
        {"fitted": True, "artifact": art, "embedded": embedded, **extra},
    )


def build_tokens(config: SpeechTokensConfig, manifest: Path, out: Path, cache: Path) -> dict[str, Any]:
    """Tokenize every clip of ``manifest`` into ``out`` (see the module docstring); bad clips are skipped and
    reported. Returns the summary stored in ``stage.json``."""
    from safetensors.torch import save_file

    torch.manual_seed(config.seed)  # each stage seeds itself (a cached stage must not shift the next one)
    rows, manifest_errors = read_rows(manifest)
    skipped: dict[str, str] = {}
    clips: dict[str, dict[str, Any]] = {}
    for row in rows:
        path = manifest.parent / row["audio"]
        try:
            wave = load_clip(path, config)
        except AudioError as exc:
            skipped[row["id"]] = exc.reason
            continue
        clips[row["id"]] = {"split": row.get("split"), "wave": wave, "sha256": speech_codec.sha256_file(path)}
    model, codec_sha, info = get_codec(config, clips, cache)
    code_dir = cache / "codes" / codec_sha[:16]
    codes: dict[str, torch.Tensor] = {}
    todo: dict[str, np.ndarray] = {}
    cached = 0
    for cid, clip in clips.items():
        f = code_dir / f"{clip['sha256']}.npy"
        if f.exists():
            codes[cid] = torch.from_numpy(np.load(f).astype(np.int64))
            cached += 1
        elif cid in info["embedded"]:
            codes[cid] = speech_codec.quantize(model, info["embedded"][cid], config.n_q)
        else:
            todo[cid] = clip["wave"]
    for cid, frames in _embed_many(model, todo).items():
        codes[cid] = speech_codec.quantize(model, frames, config.n_q)
    code_dir.mkdir(parents=True, exist_ok=True)
    for cid, c in codes.items():
        f = code_dir / f"{clips[cid]['sha256']}.npy"
        if not f.exists():
            np.save(f, c.numpy().astype(np.int16))
    shutil.copyfile(info["artifact"], out / "codec.safetensors")
    (out / "config.json").write_text(
        json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    ids = [r["id"] for r in rows if r["id"] in codes]
    save_file({cid: codes[cid].to(torch.int16).contiguous() for cid in ids}, str(out / "codes.safetensors"))
    with open(out / "units.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            if r["id"] in codes:
                text = units_to_text(codes[r["id"]], config)
                rec = {"id": r["id"], "split": r.get("split"), "lang": r.get("lang"), "units": text,
                       "positions": speech_units.count_positions(text)}  # fmt: skip
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    usage = (
        [int(len(torch.unique(torch.cat([codes[c][q] for c in ids])))) for q in range(config.n_q)]
        if ids
        else []
    )
    report = {"clips": len(rows), "tokenized": len(ids), "skipped": skipped, "encoded": len(todo) + len(info["embedded"]),
              "from_cache": cached, "codec_sha256": codec_sha, "codes_used": usage, "fitted_now": info["fitted"],
              "codec_training": {k: info[k] for k in ("train_s", "steps", "loss_first", "loss_last", "fit_s")
                                 if k in info}}  # fmt: skip
    if manifest_errors:  # lines with no usable id or audio path: skipped, named here
        report["manifest_errors"] = manifest_errors
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    summary = {k: v for k, v in report.items() if k not in ("skipped", "manifest_errors")}
    return summary | {"skipped": len(skipped) + len(manifest_errors)}


def load_units(tokens_dir: Path) -> dict[str, str]:
    """Clip id -> speech-unit text, from a built ``tokens/`` folder (what the captioner reads)."""
    with open(Path(tokens_dir) / "units.jsonl", encoding="utf-8") as f:
        return {rec["id"]: rec["units"] for rec in map(json.loads, f)}


def load_codes(tokens_dir: Path) -> dict[str, torch.Tensor]:
    """Clip id -> codes ``LongTensor [n_q, T]`` at 75 Hz, from a built ``tokens/`` folder."""
    from safetensors.torch import load_file

    return {k: v.long() for k, v in load_file(str(Path(tokens_dir) / "codes.safetensors")).items()}


def probe_tokens(config: SpeechTokensConfig, manifest: Path, tokens_dir: Path) -> dict[str, Any]:
    """The probe of :mod:`token_probe` on the unit texts of ``tokens_dir`` (clips skipped there are left out)."""

    units = load_units(tokens_dir)
    rows = [r for r in read_rows(manifest)[0] if r["id"] in units]
    feats = speech_units.pooled_statistics([units[r["id"]] for r in rows], config.unit_codebooks, config.bins)
    return token_probe.probe_all(rows, feats, c=config.probe_c)


def tokenize_stage(
    layout: RunLayout, config: SpeechTokensConfig, *, force: bool = False
) -> tuple[Path, bool]:
    """Build (or reuse) ``layout.tokens`` from ``layout.corpus``; returns ``(tokens_dir, rebuilt)``."""
    manifest = layout.corpus / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(
            f"no corpus manifest at {manifest}; run `aligncap corpus --work {layout.work}` first"
        )
    corpus_fp = (read_stage(layout.corpus) or {}).get("fingerprint") or speech_codec.sha256_file(manifest)
    fingerprint = combined_hash(config.result_hash(), corpus_fp)
    cache = layout.work / "tokens_cache"
    return run_stage(
        layout.tokens, fingerprint, lambda tmp: build_tokens(config, manifest, tmp, cache), force=force
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--work", required=True, help="run folder, e.g. runs/cpu (reads corpus/, writes tokens/)"
    )
    parser.add_argument(
        "--preset", default=None, help="smoke, cpu or paper (default: $ALIGNCAP_PRESET or cpu)"
    )
    parser.add_argument(
        "--pretrained", default=None, help="path of encodec_24khz-d7cc33bc.th (or its folder)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the stage is up to date")
    parser.add_argument("--no-probe", action="store_true", help="skip results/<preset>/probe.json")


def run(args: argparse.Namespace) -> int:

    layout = RunLayout.for_preset(args.preset, args.work)
    overrides: dict[str, Any] = {}
    if args.pretrained:
        overrides = {
            "codec": "pretrained",
            "pretrained_path": args.pretrained,
            "bins": 1024,
            "encoder_filters": 32,
        }
    config = SpeechTokensConfig.for_preset(layout.preset, **overrides)
    configure_threads()
    seed_everything(config.seed)
    tokens_dir, rebuilt = tokenize_stage(layout, config, force=args.force)
    summary = (read_stage(tokens_dir) or {}).get("summary", {})
    print(
        f"tokens: {tokens_dir} ({'built' if rebuilt else 'up to date'}); {json.dumps(summary, sort_keys=True)}"
    )
    if not args.no_probe:
        probe = probe_tokens(config, layout.corpus / "manifest.jsonl", tokens_dir)
        path = write_results(layout.results / "probe.json", probe, config=config.to_dict())
        for slot, e in probe.items():
            print(f"  {slot:16s} accuracy {e['accuracy']}  chance {e['chance']}  ceiling {e['ceiling']}")
        print(f"probe: {path}")
    return 0
