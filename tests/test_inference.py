"""Captioning your own audio with an exported smoke model: the command on a folder with bad files, JSON lines,
formats, sample rates and channel layouts, waveform input, clue sources, batch independence, SECap files."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aligncap_lib import cli
from aligncap_lib.core.attributes import SLOTS
from aligncap_lib.core.audio_io import AudioError, resample
from aligncap_lib.export.inference import DEFAULT_MODEL, Captioner, segment_bounds
from tests.fixtures_corpus import tiny_corpus  # noqa: F401  (session fixture)
from tests.fixtures_model import smoke_model  # noqa: F401  (session fixture)


@pytest.fixture(scope="module")
def captioner(smoke_model) -> Captioner:  # noqa: F811
    return Captioner.from_pretrained(smoke_model.export)


@pytest.fixture(scope="module")
def clips(smoke_model) -> list[Path]:  # noqa: F811
    recs = [r for r in smoke_model.records if r["split"] == "test_zeroshot" and r["lang"] == "en"]
    return [smoke_model.layout.corpus / r["audio"] for r in recs[:3]]


def test_cli_on_a_folder_with_bad_files(smoke_model, captioner, clips, tmp_path, capsys) -> None:  # noqa: F811
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    good = [shutil.copyfile(c, folder / ("sub" if i else "") / c.name) for i, c in enumerate(clips)]
    (folder / "bad.wav").write_text("not audio at all")
    sf.write(folder / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    (folder / "notes.txt").write_text("not collected: not an audio suffix")
    rc = cli.main(["caption", str(folder), "--model", str(smoke_model.export), "--json", "--batch-size", "2",
                   "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert rc == 1 and "captioned 3 file(s) in 3 segment(s), 2 failed" in captured.err
    by_name = {Path(d["path"]).name: d for d in lines}
    assert set(by_name) == {"bad.wav", "silent.wav", *(p.name for p in good)}
    assert "unreadable" in by_name["bad.wav"]["error"] and "silent" in by_name["silent.wav"]["error"]
    api = captioner.caption_batch(sorted(good))
    for r in api:
        d = by_name[Path(r.path).name]
        assert set(d) == {"path", "start", "end", "caption", "clues", "seconds"} and set(d["clues"]) == set(
            SLOTS
        )
        assert (d["caption"], d["clues"], d["seconds"]) == (r.caption, r.clues, r.seconds)  # CLI == API
        assert d["seconds"] == pytest.approx(sf.info(d["path"]).duration, abs=1e-3)
        assert (d["start"], d["end"]) == (0.0, d["seconds"])  # a short clip is one segment


def test_console_script_text_mode_progress_and_exit_status(smoke_model, clips, tmp_path, capsys) -> None:  # noqa: F811
    exe = Path(sys.executable).with_name("aligncap")
    missing = tmp_path / "missing.wav"
    out = subprocess.run([str(exe), "caption", str(clips[0]), str(missing), "--model", str(smoke_model.export)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "ALIGNCAP_THREADS": "1"})  # fmt: skip
    assert out.returncode == 1, out.stderr
    path, caption = out.stdout.strip().split("\t")
    assert path == str(clips[0]) and isinstance(caption, str)
    assert f"error: {missing}: missing" in out.stderr and "captioning" in out.stderr  # the tqdm bar
    assert cli.main(["caption", str(clips[0]), "--model", str(tmp_path)]) == 2
    assert "cannot load the model" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["caption", str(empty), "--model", str(smoke_model.export), "--no-progress"]) == 1
    assert f"error: {empty}: no audio files" in capsys.readouterr().err


def test_rates_channels_and_formats(captioner, clips, tmp_path) -> None:
    wave, rate = sf.read(clips[0], dtype="float32")
    versions = {}
    for name, new_rate, fmt in (("r16k.wav", 16000, "WAV"), ("r44k.wav", 44100, "WAV"), ("r48k.flac", 48000, "FLAC"),
                                ("r8k.ogg", 8000, "OGG"), ("r22k.mp3", rate, "MP3")):  # fmt: skip
        if fmt not in sf.available_formats():
            continue
        x = resample(wave, rate, new_rate)
        sf.write(tmp_path / name, x, new_rate, format=fmt)
        versions[name] = x
    sf.write(tmp_path / "stereo44k.wav", np.stack([versions["r44k.wav"]] * 2, axis=1), 44100)
    paths = [tmp_path / n for n in [*versions, "stereo44k.wav"]]
    results = {Path(r.path).name: r for r in captioner.caption_batch(paths)}
    duration = len(wave) / rate
    for name, r in results.items():
        assert r.error is None, (name, r.error)
        assert r.seconds == pytest.approx(duration, abs=0.06 if name.endswith(".mp3") else 2e-3)
        assert set(r.clues) == set(SLOTS)
    # stereo with identical channels reads as the mono file: the same units and clues, so the same caption
    assert captioner.example(tmp_path / "stereo44k.wav") == captioner.example(tmp_path / "r44k.wav")
    assert results["stereo44k.wav"] == dataclasses.replace(
        results["r44k.wav"], path=str(tmp_path / "stereo44k.wav")
    )


def test_waveform_input_equals_file_input(captioner, clips) -> None:
    wave, rate = sf.read(clips[0], dtype="float32")
    from_file = captioner.example(clips[0])
    assert captioner.example(wave, rate) == from_file
    stereo = np.stack([wave, wave])  # [C, T], torchaudio's layout
    assert captioner.example(stereo, rate) == captioner.example(stereo.T, rate) == from_file
    assert captioner.caption(wave, rate) == captioner.caption(clips[0])


def test_a_file_is_captioned_the_same_alone_or_in_a_batch(captioner, clips) -> None:
    together = captioner.caption_batch(clips, batch_size=3)
    alone = [captioner.caption_batch([c], batch_size=1)[0] for c in clips]
    assert together == alone


def test_bad_inputs_are_named(captioner, clips) -> None:
    with pytest.raises(AudioError, match="NaN"):
        captioner.caption(np.full(24000, np.nan, dtype=np.float32), 24000)
    with pytest.raises(AudioError, match="shorter than one 75 Hz frame"):
        captioner.caption(np.full(100, 0.1, dtype=np.float32), 24000)
    with pytest.raises(AudioError, match="sample_rate"):
        captioner.caption(np.ones(24000, dtype=np.float32))
    with pytest.raises(ValueError, match="only with arrays"):
        captioner.caption(clips[0], 16000)
    with pytest.raises(ValueError, match="unknown clue source"):
        captioner.caption(clips[0], clues="caption")
    with pytest.raises(ValueError, match="unknown language"):
        captioner.caption(clips[0], lang="fr")
    results = captioner.caption_batch([clips[0], clips[0].with_name("nope.wav"), clips[1]])
    assert [r.error is None for r in results] == [True, False, True] and "missing" in results[1].error


def test_clue_sources(captioner, clips) -> None:
    from aligncap_lib.captioner.prompts import example_prompt

    measured, _ = captioner.example(clips[0])
    assert captioner.default_clues == "acoustic" and set(measured.student_clues) == set(SLOTS)
    none, _ = captioner.example(clips[0], clues="none")
    assert none.student_clues is None and "clues" not in example_prompt(none, "speech", "student")
    given = {"pitch_level": "high", "emotion": "happy"}
    ex, _ = captioner.example(clips[0], clues=given)
    assert "high pitch" in example_prompt(ex, "speech", "student") and ex.units == measured.units
    r = captioner.caption_batch([clips[0]], clues={"pitch_level": "purple"})[0]
    assert r.error is not None and "purple" in r.error
    assert captioner.caption_batch([clips[0]], clues="none")[0].clues is None


def test_secap_dev_files(captioner) -> None:
    from aligncap_lib.corpus.secap import find_secap_dir

    root = find_secap_dir()
    if root is None:
        pytest.skip("../shared/secap-dev (or $SECAP_DIR) is absent: real-data check not run")
    wavs = sorted((root / "dataset" / "wav").glob("*.wav"))[:3]
    results = captioner.caption_batch(wavs, lang="zh")
    for path in wavs:  # real utterances run 2-12 s: the longer ones come in segments
        segs = [r for r in results if r.path == str(path)]
        assert segs and all(r.error is None and isinstance(r.caption, str) for r in segs)
        assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(sf.info(path).duration, abs=1e-3)
        assert all(r.seconds == segs[-1].end and set(r.clues) == set(SLOTS) for r in segs)


def test_a_generation_failure_loses_only_its_item(captioner, clips, monkeypatch) -> None:
    real = Captioner.caption_examples

    def flaky(self, examples, batch_size=32):  # noqa: ANN001
        if any(ex.id == "1.0" for ex in examples):  # input 1, segment 0
            raise RuntimeError("simulated failure on item 1")
        return real(self, examples, batch_size)

    monkeypatch.setattr(Captioner, "caption_examples", flaky)
    results = captioner.caption_batch(clips, batch_size=3)
    assert [r.error is None for r in results] == [True, False, True]
    assert "simulated failure" in results[1].error and results[0].caption and results[2].caption


def test_inference_reads_the_units_of_the_tokenize_stage(smoke_model, captioner) -> None:  # noqa: F811
    """A corpus clip captioned from its file reads exactly the units the evaluation read (both encode each clip
    alone; the padded batches of the old tokenize stage changed about a third of a clip's units)."""
    from aligncap_lib.tokens.speech_tokens import load_units

    stage_units = load_units(smoke_model.layout.tokens)
    recs = [r for r in smoke_model.records if r["id"] in stage_units][:12]
    assert len(recs) == 12
    for r in recs:
        wave, rate, item = captioner.load(smoke_model.layout.corpus / r["audio"])
        assert captioner.units(wave, rate, item) == stage_units[r["id"]], r["id"]


def test_segment_bounds_cover_the_audio_in_equal_segments() -> None:
    assert segment_bounds(16000 * 6, 16000, 6.0) == [(0, 96000)]  # exactly one segment long
    bounds = segment_bounds(16000 * 90 + 7, 16000, 6.0)
    assert len(bounds) == 16 and bounds[0][0] == 0 and bounds[-1][1] == 16000 * 90 + 7
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))  # contiguous, no sample lost
    lengths = {b - a for a, b in bounds}
    assert max(lengths) - min(lengths) <= 1 and max(lengths) <= 6 * 16000
    with pytest.raises(ValueError, match="segment_seconds"):
        segment_bounds(100, 16000, 0.0)


@pytest.fixture(scope="module")
def long_file(clips, tmp_path_factory) -> Path:
    """90 s of speech: the three test clips, each followed by 0.5 s of faint noise, repeated."""
    rng = np.random.default_rng(0)
    parts = []
    rate = sf.info(clips[0]).samplerate
    while sum(len(p) for p in parts) < 90 * rate:
        for c in clips:
            wave, r = sf.read(c, dtype="float32")
            assert r == rate
            parts += [wave, (rng.standard_normal(rate // 2) * 1e-3).astype(np.float32)]
    path = tmp_path_factory.mktemp("long") / "ninety.wav"
    sf.write(path, np.concatenate(parts)[: 90 * rate], rate)
    return path


def test_a_90_second_file_is_captioned_in_segments(smoke_model, captioner, long_file, capsys) -> None:  # noqa: F811
    rc = cli.main(["caption", str(long_file), "--model", str(smoke_model.export), "--json", "--no-progress"])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert rc == 0 and "captioned 1 file(s) in 15 segment(s), 0 failed" in captured.err
    assert len(lines) == 15 and all(d["error"] is None if "error" in d else True for d in lines)
    assert [d["start"] for d in lines] == [6.0 * k for k in range(15)] and lines[-1]["end"] == 90.0
    assert all(d["seconds"] == 90.0 and isinstance(d["caption"], str) and d["caption"] for d in lines)
    api = captioner.caption_segments(long_file)
    assert [(r.start, r.end, r.caption) for r in api] == [(d["start"], d["end"], d["caption"]) for d in lines]
    # a segment is captioned as the same audio given alone as a clip
    wave, rate = sf.read(long_file, dtype="float32")
    third = captioner.caption(wave[12 * rate : 18 * rate], rate)
    assert third == lines[2]["caption"]
    with pytest.raises(ValueError, match="caption_segments"):
        captioner.caption(long_file)
    rc = cli.main(["caption", str(long_file), "--model", str(smoke_model.export), "--segment-seconds", "30",
                   "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert rc == 0 and [line.split("\t")[0] for line in out] == [
        f"{long_file} [{a:.2f}-{a + 30:.2f} s]" for a in (0, 30, 60)
    ]


def test_the_committed_model_captions_out_of_the_box(clips, capsys) -> None:
    from aligncap_lib.core.reproducibility import repo_root
    from aligncap_lib.export.integrity import export_files, verify_export

    folder = repo_root() / DEFAULT_MODEL
    verify_export(folder)  # every file checksummed, no pickles
    files = export_files(folder)
    assert all(f.endswith((".safetensors", ".json", ".md")) for f in files), files
    size = sum((folder / f).stat().st_size for f in files)
    assert size <= 30 * 1024 * 1024, f"{size} bytes"
    info = json.loads((folder / "aligncap.json").read_text(encoding="utf-8"))
    assert (info["variant"], info["seed"], info["preset"]) == ("aligncap_full", 0, "cpu")
    for lang in ("en", "zh"):
        rc = cli.main(["caption", str(clips[0]), "--lang", lang, "--no-progress"])  # no --model: the default
        out = capsys.readouterr().out
        path, caption = out.strip().split("\t")
        assert rc == 0 and path == str(clips[0]) and caption.strip()


def test_collect_audio_takes_one_path_and_names_an_unreadable_folder(tmp_path, monkeypatch) -> None:
    from aligncap_lib.export import inference

    clip = tmp_path / "a.wav"
    sf.write(clip, np.full(1600, 0.1, dtype=np.float32), 16000)
    assert inference.collect_audio(str(clip)) == ([clip], [])  # a string, not its characters
    assert inference.collect_audio(tmp_path) == ([clip], [])

    def denied(self, pattern):  # noqa: ANN001
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "rglob", denied)
    files, errors = inference.collect_audio([tmp_path, clip])
    assert files == [clip] and errors[0].path == str(tmp_path) and "cannot list the folder" in errors[0].error
