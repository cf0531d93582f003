"""Export a trained stage as one self-contained folder: CPU, no network, safetensors and JSON only, checksummed.

Layout (``FORMAT_VERSION`` 1). The root is a Hugging Face model folder, so ``AutoModelForCausalLM`` and
``AutoTokenizer.from_pretrained(DIR)`` read the captioner directly; the rest is what audio needs first::

    README.md                      the model card (YAML front matter + markdown, see model_card.py)
    config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json
                                   the merged causal LM (LoRA and speech-unit embeddings merged in) + tokenizer
    speech_tokenizer/codec.safetensors   the whole speech codec (speech_codec.save_artifact format)
    speech_tokenizer/config.json         its SpeechTokensConfig (how codes become unit text)
    analyzer_norms.json            the acoustic analyzer's fitted norms (acoustic_analyzer.AnalyzerNorms)
    aligncap.json                  variant, stage, seed, preset, decoding, default clue source, configs, provenance
    metrics.json                   the stage's evaluation metrics with bootstrap intervals
    checksums.json                 sha256 of every other file

Loading (:func:`load_export`) refuses pickle files anywhere in the folder, a missing, changed or unlisted
file (after editing the card, re-seal with :func:`write_checksums`), and a tokenizer that lacks the speech
tokenizer's unit tokens.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aligncap_lib.captioner.variants import get_variant
from aligncap_lib.clues.acoustic_analyzer import AnalyzerNorms, fit_norms
from aligncap_lib.core.presets import combined_hash
from aligncap_lib.core.reproducibility import configure_threads, quiet_progress
from aligncap_lib.core.run_layout import RunLayout, read_stage
from aligncap_lib.export import model_card
from aligncap_lib.export.integrity import (  # noqa: F401  (re-exported: the export's public API)
    CHECKSUMS,
    PICKLE_SUFFIXES,
    ExportError,
    export_files,
    refuse_pickles,
    sha256_file,
    verify_export,
    write_checksums,
)
from aligncap_lib.tokens import speech_codec
from aligncap_lib.tokens.speech_tokens import SpeechTokensConfig, speech_unit_vocabulary
from aligncap_lib.training.stage_results import final_stage_dir

FORMAT = "aligncap-export"
FORMAT_VERSION = 1
INFO = "aligncap.json"
NORMS = "analyzer_norms.json"
METRICS = "metrics.json"
CODEC = "speech_tokenizer/codec.safetensors"
TOKENS_CONFIG = "speech_tokenizer/config.json"


@dataclasses.dataclass
class ExportedModel:
    """What :func:`load_export` returns: the LM, its tokenizer, the codec, the configs and the norms."""

    model: Any
    tokenizer: Any
    codec: Any
    tokens_config: Any  # speech_tokens.SpeechTokensConfig
    norms: Any  # acoustic_analyzer.AnalyzerNorms
    info: dict[str, Any]


def stage_settings(results: Mapping[str, Any]) -> dict[str, Any]:
    """What inference needs from a stage's ``results.json``: variant, stage, seed, decoding and
    the default clue source (``acoustic`` when the variant's student was trained with clues, else ``none``)."""

    cfg = results.get("config", {})
    missing = [k for k in ("variant", "stage", "decoding") if k not in cfg]
    if missing:
        raise ExportError(f"results.json config lacks {missing}: is this a trained captioner stage?")
    clues = get_variant(cfg["variant"]).student_clues
    return {"trained_as": cfg["variant"], "stage": cfg["stage"], "seed": cfg.get("seed"),
            "decoding": dict(cfg["decoding"]), "default_clues": "acoustic" if clues else "none"}  # fmt: skip


def as_norms(records_or_norms: Any) -> Any:
    """AnalyzerNorms from train records (fitted exactly as :func:`captioner.inputs.deployment_clues` fits them:
    on the records whose split is ``train``), from norms, their JSON dict, or a JSON file path."""

    x = records_or_norms
    if isinstance(x, AnalyzerNorms):
        return x
    if isinstance(x, (str, Path)):
        return AnalyzerNorms.load(Path(x))
    if isinstance(x, Mapping):
        return AnalyzerNorms.from_json(x)
    train = [r for r in x if r.get("split") == "train"]
    if not train:
        raise ValueError("no train records to fit the analyzer norms on")
    return fit_norms(train)


def _copy_model(merged: Path, out: Path) -> None:
    refuse_pickles(merged)
    if not (merged / "model.safetensors").is_file() and not list(merged.glob("model-*.safetensors")):
        raise ExportError(f"{merged}: no safetensors weights (is the stage finished?)")
    for rel in export_files(merged):
        if "/" in rel:
            raise ExportError(f"{merged / rel}: unexpected subfolder in a merged model folder")
        shutil.copyfile(merged / rel, out / rel)


def _write_json(path: Path, payload: Any) -> None:
    # floats unrounded: the norms must predict exactly as the in-memory ones
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def export_model(
    stage_dir: Path | str,
    tokens_dir: Path | str,
    records_or_norms: Any,
    out_dir: Path | str,
    *,
    results: Mapping[str, Any] | Path | None = None,
    preset: str | None = None,
    variant: str | None = None,
    records: Sequence[Mapping[str, Any]] | None = None,
    fingerprint: str = "",
) -> Path:
    """Export ``stage_dir`` (``merged/``, ``results.json``, ``eval/``) with the speech tokenizer of
    ``tokens_dir`` and the analyzer norms (see :func:`as_norms`) into ``out_dir`` (replaced atomically; an
    existing folder that is not an export is refused). ``results``: default ``stage_dir/results.json``;
    ``variant``: the name to publish (default the trained one); ``records``: the corpus, for the card's
    training-data counts (taken from ``records_or_norms`` when that is records). Returns ``out_dir``."""

    stage_dir, tokens_dir, out_dir = Path(stage_dir), Path(tokens_dir), Path(out_dir)
    res: Mapping[str, Any] = (
        results
        if isinstance(results, Mapping)
        else json.loads(Path(results or stage_dir / "results.json").read_text(encoding="utf-8"))
    )
    settings = stage_settings(res)
    if records is None and isinstance(records_or_norms, Sequence) and not isinstance(records_or_norms, str):
        records = records_or_norms
    norms = as_norms(records_or_norms)
    for need in (tokens_dir / "codec.safetensors", tokens_dir / "config.json", stage_dir / "merged"):
        if not need.exists():
            raise ExportError(f"{need}: missing (tokenize and train first)")
    if out_dir.exists() and not (out_dir / INFO).is_file():
        raise ExportError(f"{out_dir}: exists and is not an aligncap export; refusing to replace it")
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _copy_model(stage_dir / "merged", tmp)
        (tmp / "speech_tokenizer").mkdir()
        shutil.copyfile(tokens_dir / "codec.safetensors", tmp / CODEC)
        shutil.copyfile(tokens_dir / "config.json", tmp / TOKENS_CONFIG)
        _write_json(tmp / NORMS, norms.to_json())
        metrics = model_card.stage_metrics(stage_dir, res)
        _write_json(tmp / METRICS, metrics)
        info = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "variant": variant or settings["trained_as"],
            "preset": preset,
            **settings,
            "languages": ["en", "zh"],
            "configs": {
                k: res["config"][k] for k in ("captioner", "kd", "po", "evaluation") if k in res["config"]
            },
            "source": {
                "stage": "/".join(stage_dir.parts[-3:]),  # <owner>/seed<k>/<stage>: no absolute paths
                "stage_fingerprint": fingerprint,
                "codec_sha256": sha256_file(tokens_dir / "codec.safetensors"),
                "training_environment": res.get("environment", {}),
            },
        }
        _write_json(tmp / INFO, info)
        (tmp / "README.md").write_text(model_card.render(info, metrics, tmp, records), encoding="utf-8")
        write_checksums(tmp)
        load_export(tmp)  # an export that cannot be loaded is never put in place
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def export_variant(
    layout: Any, variant: str = "aligncap_full", seed: int = 0, out: Path | None = None
) -> Path:
    """Export the final stage of ``variant`` at ``seed`` (:func:`aligncap_lib.training.stage_results.final_stage_dir`: for
    ``aligncap_full`` its ``po`` stage once trained, else ``no_po``'s shared ``kd`` stage) to ``out`` (default
    ``runs/<preset>/export``).
    Reused when the stage, speech tokenizer and corpus are unchanged (an intact export is not rewritten)."""

    stage = final_stage_dir(layout, variant, seed)
    if stage is None or not (stage / "merged").is_dir():
        raise FileNotFoundError(
            f"no trained stage of {variant!r} seed {seed} under {layout.work / 'models'}: "
            f"run `aligncap train --stage kd --variant {variant} --seed {seed}` first"
        )
    out = Path(out) if out is not None else Path(layout.export)
    fingerprint = combined_hash(
        str((read_stage(stage) or {}).get("fingerprint", "")),
        sha256_file(layout.tokens / "codec.safetensors"),
        sha256_file(layout.corpus / "manifest.jsonl"),
        {"variant": variant, "seed": seed, "preset": layout.preset, "format_version": FORMAT_VERSION},
    )
    try:
        info = json.loads((out / INFO).read_text(encoding="utf-8"))
        if info["source"]["stage_fingerprint"] == fingerprint:
            verify_export(out)
            return out
    except (OSError, KeyError, json.JSONDecodeError, ExportError):
        pass  # absent, stale or damaged: export again
    records = layout.records()
    return export_model(stage, layout.tokens, records, out, preset=layout.preset, variant=variant,
                        fingerprint=fingerprint)  # fmt: skip


def load_export(directory: Path | str, *, verify: bool = True) -> ExportedModel:
    """Load an export on CPU, offline (``local_files_only``, safetensors only) after :func:`verify_export`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = Path(directory)
    if verify:
        verify_export(directory)
    else:
        refuse_pickles(directory)  # never skipped
    info = json.loads((directory / INFO).read_text(encoding="utf-8"))
    if info.get("format") != FORMAT or int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise ExportError(f"{directory / INFO}: format {info.get('format')} v{info.get('format_version')} "
                          f"is not one this library reads ({FORMAT} v{FORMAT_VERSION})")  # fmt: skip
    tokens_config = SpeechTokensConfig(**json.loads((directory / TOKENS_CONFIG).read_text(encoding="utf-8")))
    codec, _ = speech_codec.load_artifact(directory / CODEC)
    with quiet_progress():  # no "Loading weights" bar on the command's stderr or in a notebook
        model = AutoModelForCausalLM.from_pretrained(
            str(directory), local_files_only=True, use_safetensors=True
        ).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    vocab = tokenizer.get_vocab()
    missing = [u for u in speech_unit_vocabulary(tokens_config) if u not in vocab]
    if missing:
        raise ExportError(f"{directory}: the tokenizer lacks {len(missing)} unit token(s) of the speech "
                          f"tokenizer, e.g. {missing[:3]}: model and speech tokenizer do not belong together")  # fmt: skip
    norms = AnalyzerNorms.load(directory / NORMS)
    return ExportedModel(model, tokenizer, codec, tokens_config, norms, info)


def add_arguments(parser: Any) -> None:
    parser.add_argument("--work", default=None, help="run folder (default runs/<preset>)")
    parser.add_argument(
        "--preset", default=None, help="smoke | cpu | paper (default: $ALIGNCAP_PRESET or cpu)"
    )
    parser.add_argument("--variant", default="aligncap_full", help="variant whose final stage is exported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="export folder (default <work>/export)")


def run(args: Any) -> int:

    configure_threads()
    layout = RunLayout.for_preset(args.preset, args.work)
    try:
        out = export_variant(layout, args.variant, args.seed, Path(args.out) if args.out else None)
    except (ExportError, FileNotFoundError) as exc:
        print(f"aligncap export: {exc}", file=sys.stderr)
        return 2
    print(f"exported {args.variant} seed {args.seed}: {out}")
    return 0
