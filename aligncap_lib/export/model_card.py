"""The exported model's card: metrics with intervals from the stage's stored evaluation, and the ``README.md``
in the Hugging Face layout (YAML front matter with a ``model-index``, then markdown).

Front-matter values are written as JSON scalars and lists (valid YAML), so no caption, path or version
string can break the YAML.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aligncap_lib.evaluation.result_store import load_results
from aligncap_lib.evaluation.scoring import EvaluationConfig, compute_intervals

#: Metrics on the card (the paper's table columns that work offline, then ours; see results_summary).
CARD_METRICS: tuple[str, ...] = (
    "bleu_4", "meteor", "rouge_l", "cider", "similarity", "slot_accuracy", "factual_hallucination",
)  # fmt: skip
NAMES = {"bleu_4": "BLEU-4", "meteor": "METEOR", "rouge_l": "ROUGE-L", "cider": "CIDEr",
         "similarity": "Sentence similarity", "slot_accuracy": "Slot accuracy",
         "factual_hallucination": "Factual hallucination rate"}  # fmt: skip


def stage_metrics(stage_dir: Path, results: Mapping[str, Any]) -> dict[str, Any]:
    """``{"splits": {"<split>/<lang>": {"n_clips", <metric>: {"value", "ci95"} | None}}, "interval": {...},
    "valid_speech_text_kl": ...}`` from ``stage_dir/eval/*.json`` (per-clip statistics; nothing is rescored)
    with the stage's own evaluation config (resamples, confidence, bootstrap seed)."""

    known = {f.name for f in dataclasses.fields(EvaluationConfig)}
    ev_fields = results.get("config", {}).get("evaluation") or {}
    ev = EvaluationConfig(**{k: v for k, v in ev_fields.items() if k in known})
    splits: dict[str, Any] = {}
    for (split, lang), res in sorted(load_results(Path(stage_dir)).items()):
        kept = dataclasses.replace(res, stats={k: v for k, v in res.stats.items() if k in CARD_METRICS})
        intervals = compute_intervals(kept, ev)
        cell: dict[str, Any] = {"n_clips": len(res.ids)}
        for m in CARD_METRICS:
            value, iv = res.metrics.get(m), intervals.get(m)
            cell[m] = None if value is None else {
                "value": float(value), "ci95": None if iv is None else [float(iv.low), float(iv.high)]}  # fmt: skip
        splits[f"{split}/{lang}"] = cell
    out: dict[str, Any] = {
        "splits": splits,
        "interval": {"method": "percentile bootstrap over clips (one training seed)",
                     "confidence": ev.confidence, "n_resamples": ev.n_bootstrap, "seed": ev.bootstrap_seed},
    }  # fmt: skip
    kl = results.get("metrics", {}).get("valid_speech_text_kl")
    if kl:
        out["valid_speech_text_kl"] = kl
    return out


def parameter_count(directory: Path) -> int:
    """Parameters of the safetensors weights in ``directory``, read from the file headers (nothing loaded)."""
    from safetensors import safe_open

    total = 0
    for f in sorted(Path(directory).glob("model*.safetensors")):
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 (safe_open is not a mapping)
                n = 1
                for d in fh.get_slice(key).get_shape():
                    n *= int(d)
                total += n
    return total


def _yaml(key: str, value: Any, indent: int = 0) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        return [f"{pad}{key}:"] + [line for k, v in value.items() for line in _yaml(k, v, indent + 2)]
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        lines = [f"{pad}{key}:"]
        for item in value:
            sub = [line for k, v in item.items() for line in _yaml(k, v, indent + 4)]
            lines += [f"{pad}  - {sub[0].lstrip()}", *sub[1:]]
        return lines
    return [f"{pad}{key}: {json.dumps(value, ensure_ascii=False)}"]


def _fmt(cell: Any) -> str:
    if not cell:
        return "n/a"
    ci = cell.get("ci95")
    return f"{cell['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _clue_words(default_clues: str) -> str:
    """How the card says what the prompt holds besides the speech."""
    if default_clues == "acoustic":
        return ", adds the acoustic clues the analyzer measures from the audio (speaking rate blind),"
    return " and nothing else (no clues: it was trained to hear the speech),"


def _procedure(info: Mapping[str, Any]) -> str:
    kd = ("a text teacher, then the student on speech units trained with cross-modal KD-Regularization "
          "(cross-entropy + lambda x KL to the teacher's text view)")  # fmt: skip
    if info["stage"] == "po":
        po = info.get("configs", {}).get("po") or {}
        return (f"{kd}, then PO-Regularization (DPO on preference pairs judged by `{po.get('judge')}`, "
                f"{po.get('steps')} steps) on the merged KD model.")  # fmt: skip
    return (
        kd + "."
        if info["stage"] == "kd"
        else f"supervised fine-tuning on speech units (stage `{info['stage']}`)."
    )


def _front_matter(info: Mapping[str, Any], metrics: Mapping[str, Any], name: str) -> str:
    results = []
    for key, cell in metrics["splits"].items():
        split, lang = key.split("/")
        values = [{"type": m, "name": NAMES[m], "value": round(cell[m]["value"], 4)}
                  for m in CARD_METRICS if cell.get(m)]  # fmt: skip
        if values:
            results.append({
                "task": {"type": "audio-captioning", "name": "Speech emotion captioning"},
                "dataset": {"name": f"aligncap synthetic corpus ({info.get('preset')}), {split} {lang}",
                            "type": "aligncap-synthetic", "split": split},
                "metrics": values})  # fmt: skip
    base = (info.get("configs", {}).get("captioner") or {}).get("base_model") or ""
    meta: dict[str, Any] = {"language": list(info.get("languages", ["en", "zh"])), "license": "mit",
                            "library_name": "transformers",
                            "tags": ["aligncap", "speech-emotion-captioning", "audio", "safetensors"]}  # fmt: skip
    if base:
        meta["base_model"] = base
    lines = ["---"] + [line for k, v in meta.items() for line in _yaml(k, v)]
    if results:
        lines += _yaml("model-index", [{"name": name, "results": results}])
    return "\n".join(lines + ["---"])


def render(
    info: Mapping[str, Any],
    metrics: Mapping[str, Any],
    directory: Path,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The card's text: front matter, usage, files, training data, procedure, evaluation, limitations."""
    cap = info.get("configs", {}).get("captioner") or {}
    preset, variant = info.get("preset") or "unknown", info["variant"]
    name = f"aligncap-{preset}-{variant}-seed{info.get('seed')}"
    params = parameter_count(directory)
    lm = (f"`{cap['base_model']}` with LoRA merged in" if cap.get("base_model") else
          f"a small Qwen2-architecture LM trained from scratch ({cap.get('n_layers')} layers, "
          f"d={cap.get('d_model')})")  # fmt: skip
    shared = (
        ""
        if variant == info["trained_as"]
        else (
            f" (this stage was trained as `{info['trained_as']}`, whose `{info['stage']}` stage `{variant}` shares)"
        )
    )
    data = "the synthetic emotional-speech corpus of this companion (espeak-ng voices, English and Mandarin)"
    if records:
        train = [r for r in records if r.get("split") == "train"]
        by_lang = {lang: sum(r.get("lang") == lang for r in train) for lang in ("en", "zh")}
        data += f": {len(train)} train clips ({by_lang['en']} English, {by_lang['zh']} Mandarin)"
    iv = metrics["interval"]
    rows = [f"| {key} | {cell['n_clips']} | " + " | ".join(_fmt(cell.get(m)) for m in CARD_METRICS) + " |"
            for key, cell in metrics["splits"].items()]  # fmt: skip
    kl = metrics.get("valid_speech_text_kl")
    env = info.get("source", {}).get("training_environment", {})
    return "\n".join([
        _front_matter(info, metrics, name), "",
        f"# {name}", "",
        f"A speech emotion captioner from the aligncap companion of *AlignCap: Aligning Speech Emotion Captioning "
        f"to Human Preferences* (Liang, Shi, Chen, EMNLP 2024, arXiv:2410.19134): variant `{variant}`, stage "
        f"`{info['stage']}`{shared}, seed {info.get('seed')}, preset `{preset}`. It reads a speech clip as "
        f"RVQ speech units (the codec of its tokens stage){_clue_words(info['default_clues'])} and writes one "
        "sentence about the speaker's emotion and voice. Audio longer than 6 s is captioned in segments.", "",
        "## How to use", "",
        "```python", "from aligncap_lib.export.inference import Captioner",
        "captioner = Captioner.from_pretrained(\"path/to/this/folder\")",
        "print(captioner.caption(\"my_clip.wav\", lang=\"en\"))  # caption_segments() for longer audio", "```", "",
        "or `aligncap caption my_clip.wav my_folder/ --model path/to/this/folder --json`. Loading needs the "
        "`aligncap_lib` package (CPU, no network); it verifies `checksums.json` and refuses pickle files.", "",
        "## Files", "",
        "- `model.safetensors`, `config.json`, `tokenizer*.json`: the captioner LM ("
        f"{params:,} parameters, {lm}; the speech-unit embeddings are part of it)",
        "- `speech_tokenizer/`: the whole speech codec (its state in safetensors, its config)",
        "- `analyzer_norms.json`: the acoustic analyzer's fitted norms (rate calibration, emotion models)",
        "- `aligncap.json` (configs, decoding, provenance), `metrics.json`, `checksums.json` (sha256 of every file)", "",
        "## Training data", "",
        f"Trained on {data}, labelled by Praat measurement; no human speech. See `data_cards/synthetic_corpus.md` "
        "in the companion repository.", "",
        "## Training procedure", "",
        f"Preset `{preset}`: {_procedure(info)} Decoding: `{json.dumps(info['decoding'])}`. Full configs: "
        "`aligncap.json`.", "",
        "## Evaluation", "",
        f"Held-out splits of the synthetic corpus, scored by the stage's own evaluation. Each value has its "
        f"{iv['confidence']:.0%} interval: {iv['method']}, {iv['n_resamples']} resamples.", "",
        "| split/lang | clips | " + " | ".join(NAMES[m] for m in CARD_METRICS) + " |",
        "|---|---|" + "---|" * len(CARD_METRICS), *rows, "",
        *([f"Held-out speech-vs-text KL (valid): {kl['mean']:.4f} [{kl['ci95'][0]:.4f}, {kl['ci95'][1]:.4f}].", ""]
          if kl else []),
        "## Limitations", "",
        "- Trained on synthetic speech only (espeak-ng voices with scripted prosody): captions of real "
        "recordings are out of domain, and emotion in particular is judged from a few prosodic cues.",
        "- On the CPU presets (`smoke`, `cpu`) the LM is a small model trained from scratch on template "
        "captions: its wording is narrow, and `smoke` models are plumbing checks, not captioners.",
        "- Clues at inference are measured blind (no transcript: speaking rate from vowel nuclei), while the "
        "evaluation above read the corpus measurements; clips longer than the speech tokenizer's limit are rejected.",
        "- Speaker gender is inferred from pitch for the pitch-level norm; a high male or low female voice "
        "may get the other family's norm.", "",
        "## Intended use", "",
        "Research on speech emotion captioning and reproduction of AlignCap's pipeline. Not for decisions "
        "about people (hiring, health, security), not for surveillance, not a clinical tool.", "",
        "## Provenance", "",
        f"Exported from `{info['source']['stage']}`; codec sha256 `{info['source']['codec_sha256'][:16]}`; "
        f"trained at commit `{env.get('git_commit')}` with torch {env.get('packages', {}).get('torch')}, "
        f"transformers {env.get('packages', {}).get('transformers')}.", "",
        "## Citation", "",
        "Liang, Z., Shi, H., Chen, H. (2024). AlignCap: Aligning Speech Emotion Captioning to Human "
        "Preferences. EMNLP 2024. arXiv:2410.19134.", "",
    ])  # fmt: skip
