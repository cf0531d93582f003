"""Model export: the round trip (same weights, same greedy captions as the stage before export, the
evaluation's captions from the evaluation's inputs), the folder's contents and card, determinism, and the
refusals (pickles, changed, missing or unlisted files, stand-in units)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from aligncap_lib.export import exporter
from aligncap_lib.export.exporter import ExportError, export_model, export_variant, verify_export
from aligncap_lib.export.inference import Captioner
from tests.fixtures_corpus import tiny_corpus  # noqa: F401  (session fixture)
from tests.fixtures_model import smoke_model  # noqa: F401  (session fixture)


def _test_clips(m, lang: str = "en") -> list[dict]:
    return [r for r in m.records if r["split"] == "test_zeroshot" and r["lang"] == lang]


@pytest.fixture(scope="module")
def exported(smoke_model):  # noqa: F811
    return Captioner.from_pretrained(smoke_model.export)


def test_export_round_trip_same_weights_units_clues_and_captions(smoke_model, exported) -> None:  # noqa: F811
    m = smoke_model
    before = Captioner.from_stage(m.stage, m.layout.tokens, m.records)
    a, b = before.model.state_dict(), exported.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    paths = [m.layout.corpus / r["audio"] for r in _test_clips(m) + _test_clips(m, "zh")]
    captions = set()
    for lang in ("en", "zh"):
        one = before.caption_batch(paths, lang=lang, batch_size=3)
        two = exported.caption_batch(paths, lang=lang, batch_size=3)
        assert [r.to_json() for r in one] == [r.to_json() for r in two]
        assert all(r.error is None and r.clues is not None for r in two)
        captions |= {r.caption for r in two}
        # what the LM read: the same units and clues per clip
        assert [before.example(p, lang=lang) for p in paths[:3]] == [
            exported.example(p, lang=lang) for p in paths[:3]
        ]
    # the smoke student writes one caption per language, so check below the argmax: its next-token logits
    # depend on the clip, and are bit-identical before and after export
    from aligncap_lib.captioner.prompts import example_prompt

    logits = {}
    for name, cap in (("before", before), ("after", exported)):
        for i, p in enumerate(paths[:2]):
            ex, _ = cap.example(p, lang="en")
            enc = cap.tokenizer(
                example_prompt(ex, "speech", "student"), add_special_tokens=False, return_tensors="pt"
            )
            with torch.no_grad():
                logits[name, i] = cap.model(**enc).logits[0, -1]
    assert torch.equal(logits["before", 0], logits["after", 0]) and torch.equal(
        logits["before", 1], logits["after", 1]
    )
    assert not torch.allclose(logits["after", 0], logits["after", 1])
    assert len(captions) >= 2, captions


def test_exported_model_reproduces_the_evaluation_captions(smoke_model, exported) -> None:  # noqa: F811
    """From the evaluation's own examples (its units and clues), the export writes the stage's stored hyps."""
    from aligncap_lib.captioner import inputs
    from aligncap_lib.captioner.variants import clip_examples, get_variant

    m = smoke_model
    units = inputs.unit_texts(m.layout, m.records)
    measured = inputs.deployment_clues(m.records)
    for lang in ("en", "zh"):
        recs = _test_clips(m, lang)
        ex = clip_examples(recs, get_variant("analyzer_clues"), units=units, measured=measured, captions_per_clip=1,
                           teacher=None)  # fmt: skip
        stored = json.loads((m.stage / "hyps" / f"test_zeroshot_{lang}.json").read_text(encoding="utf-8"))
        assert exported.caption_examples(ex) == stored


def test_export_folder_card_and_metrics(smoke_model) -> None:  # noqa: F811
    out = smoke_model.export
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"README.md", "checksums.json", "aligncap.json", "metrics.json", "analyzer_norms.json",
            "model.safetensors", "config.json", "speech_tokenizer/codec.safetensors",
            "speech_tokenizer/config.json"} <= files  # fmt: skip
    assert not [f for f in files if Path(f).suffix in exporter.PICKLE_SUFFIXES]
    sums = json.loads((out / "checksums.json").read_text())["sha256"]
    assert set(sums) == files - {"checksums.json"}
    # the whole fitted codec, byte for byte
    assert sums["speech_tokenizer/codec.safetensors"] == exporter.sha256_file(
        smoke_model.layout.tokens / "codec.safetensors"
    )
    info = json.loads((out / "aligncap.json").read_text())
    assert (info["variant"], info["trained_as"], info["stage"], info["preset"]) == (
        "analyzer_clues", "analyzer_clues", "kd", "smoke")  # fmt: skip
    assert info["default_clues"] == "acoustic" and info["decoding"]["strategy"] == "greedy"
    assert str(smoke_model.layout.work) not in (out / "aligncap.json").read_text()  # no absolute paths
    card = (out / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] == "mit" and set(front["language"]) == {"en", "zh"}
    results = front["model-index"][0]["results"]
    assert {r["dataset"]["split"] for r in results} == {"test_zeroshot"}
    n_en = sum(r["split"] == "train" and r["lang"] == "en" for r in smoke_model.layout.records())
    for needle in ("preset `smoke`", "synthetic", "Limitations", "Intended use", f"{n_en} English"):
        assert needle in card
    metrics = json.loads((out / "metrics.json").read_text())
    cell = metrics["splits"]["test_zeroshot/en"]
    stored = json.loads((smoke_model.stage / "results.json").read_text())["metrics"]["evaluation"]
    for name in ("cider", "rouge_l", "slot_accuracy"):
        lo, hi = cell[name]["ci95"]
        assert lo <= cell[name]["value"] <= hi
        assert cell[name]["value"] == pytest.approx(stored["test_zeroshot/en"][name], abs=1e-6)
        assert f"{cell[name]['value']:.3f} [{lo:.3f}, {hi:.3f}]" in card


def test_export_is_deterministic_and_reused(smoke_model, tmp_path) -> None:  # noqa: F811
    m = smoke_model
    again = export_model(m.stage, m.layout.tokens, m.records, tmp_path / "again", preset="smoke",
                         variant="analyzer_clues", fingerprint=json.loads((m.export / "aligncap.json").read_text())
                         ["source"]["stage_fingerprint"])  # fmt: skip
    assert (again / "checksums.json").read_bytes() == (m.export / "checksums.json").read_bytes()
    stamp = (m.export / "checksums.json").stat().st_mtime_ns
    assert export_variant(m.layout, "analyzer_clues", 0) == m.export
    assert (m.export / "checksums.json").stat().st_mtime_ns == stamp  # intact and current: not rewritten


@pytest.fixture
def copy(smoke_model, tmp_path) -> Path:  # noqa: F811
    return Path(shutil.copytree(smoke_model.export, tmp_path / "export"))


@pytest.mark.parametrize("name", ["pytorch_model.bin", "speech_tokenizer/codec.pt", "norms.pkl", "x.pth"])
def test_pickle_files_are_refused(copy: Path, name: str) -> None:
    (copy / name).write_bytes(b"\x80\x04K\x01.")  # a valid pickle of the integer 1
    with pytest.raises(ExportError, match="pickle"):
        Captioner.from_pretrained(copy)
    with pytest.raises(ExportError, match="pickle"):  # even unverified
        Captioner.from_pretrained(copy, verify=False)


def test_changed_missing_and_unlisted_files_are_refused(copy: Path) -> None:
    norms = copy / "analyzer_norms.json"
    original = norms.read_bytes()
    norms.write_bytes(original.replace(b"0", b"1", 1))
    with pytest.raises(ExportError, match=r"analyzer_norms.json: checksum mismatch"):
        Captioner.from_pretrained(copy)
    norms.write_bytes(original)
    verify_export(copy)
    (copy / "speech_tokenizer" / "config.json").unlink()
    with pytest.raises(ExportError, match="listed in checksums.json but missing"):
        verify_export(copy)
    shutil.copyfile(copy / "config.json", copy / "speech_tokenizer" / "config.json")  # any content
    with pytest.raises(ExportError, match="checksum mismatch"):
        verify_export(copy)


def test_editing_the_card_needs_resealing(copy: Path) -> None:
    (copy / "README.md").write_text((copy / "README.md").read_text() + "\nMy note.\n")
    (copy / "notes.txt").write_text("hello")
    with pytest.raises(ExportError):
        verify_export(copy)
    exporter.write_checksums(copy)
    assert "notes.txt" in verify_export(copy)


def test_a_pickled_stage_is_not_exported(smoke_model, tmp_path) -> None:  # noqa: F811
    m = smoke_model
    stage = Path(shutil.copytree(m.stage, tmp_path / "stage"))
    (stage / "merged" / "training_args.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ExportError, match="pickle"):
        export_model(stage, m.layout.tokens, m.records, tmp_path / "b")
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.tmp").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("...")
    with pytest.raises(ExportError, match="not an aligncap export"):
        export_model(m.stage, m.layout.tokens, m.records, tmp_path / "mine")


def test_export_command(smoke_model, tmp_path, monkeypatch, capsys) -> None:  # noqa: F811
    from aligncap_lib import cli

    monkeypatch.setitem(
        cli.SUBCOMMANDS, "export", ("aligncap_lib.export.exporter", "export a trained variant")
    )
    work = str(smoke_model.layout.work)
    out = str(tmp_path / "e")
    assert (
        cli.main(["export", "--work", work, "--preset", "smoke", "--variant", "analyzer_clues", "--out", out])
        == 0
    )
    assert "exported analyzer_clues seed 0" in capsys.readouterr().out
    verify_export(tmp_path / "e")
    assert (
        cli.main(["export", "--work", work, "--preset", "smoke", "--seed", "5", "--out", str(tmp_path / "f")])
        == 2
    )
    assert "no trained stage of 'aligncap_full' seed 5" in capsys.readouterr().err


def test_stage_settings_of_a_po_stage() -> None:
    """A clue-reading variant defaults to acoustic clues, a clue-less one (every student but the extension) to
    none."""
    po = {
        "config": {"variant": "aligncap_full", "stage": "po", "seed": 1, "decoding": {"strategy": "greedy"}}
    }
    s = exporter.stage_settings(po)
    assert (s["stage"], s["default_clues"], s["seed"]) == ("po", "none", 1)
    ext = {"config": {"variant": "analyzer_clues", "stage": "kd", "decoding": {}}}
    assert exporter.stage_settings(ext)["default_clues"] == "acoustic"
    sft = {"config": {"variant": "baseline_sft", "stage": "sft", "decoding": {}}}
    assert exporter.stage_settings(sft)["default_clues"] == "none"
    with pytest.raises(ExportError, match="lacks"):
        exporter.stage_settings({"config": {"variant": "no_po"}})
