"""Paper figures (notebook 08) on small synthetic result dicts, and render_all on the smoke results."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from aligncap_lib.core.run_layout import RunLayout  # noqa: E402
from aligncap_lib.figures import (  # noqa: E402
    ablation_figures,
    claim_figures,
    example_figures,
    paper_figures,
    po_figures,
    token_figures,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _title(fig) -> str:
    return " ".join([fig._suptitle.get_text() if fig._suptitle else ""] + [a.get_title() for a in fig.axes])


def _cell(mean, lo=None, hi=None, n=2):
    return {"mean": mean, "ci95": [mean if lo is None else lo, mean if hi is None else hi], "n_seeds": n}


SUMMARY = {
    "aggregate": {
        "trivial_random": {"test_zeroshot": {"en": {"cider": _cell(0.05, 0.02, 0.08)}}},
        "baseline_sft": {
            "test_zeroshot": {
                "en": {
                    "cider": _cell(0.2, 0.1, 0.3),
                    "factual_hallucination_rate": _cell(0.4),
                    "factual_hallucination_emotion": {"mean": None, "ci95": [None, None]},
                    "omission_rate": _cell(0.9),
                },
                "zh": {"cider": _cell(0.1)},
            }
        },
        "aligncap_full": {
            "test_zeroshot": {"en": {"cider": _cell(0.3, 0.25, 0.35), "slot_accuracy": _cell(0.6)}}
        },
        "not_a_variant": {"secap_dev": {"zh": {"cider": _cell(0.01)}}},
    }
}


def test_number_and_interval_tolerate_missing_and_broken_values():
    assert claim_figures.number(None) is None and claim_figures.number(float("nan")) is None
    assert claim_figures.number(True) is None and claim_figures.number("0.3") is None
    assert claim_figures.interval({"mean": 0.5, "ci95": [0.4, 0.7]}) == (0.5, 0.4, 0.7)
    assert claim_figures.interval({"diff": -0.1, "ci95": [None, None]}) == (-0.1, -0.1, -0.1)
    assert claim_figures.interval({"mean": None, "ci95": [0, 1]}) is None
    assert claim_figures.interval(None) is None
    # an interval that does not contain its mean (a rounding artefact) is widened to contain it
    assert claim_figures.interval({"mean": 0.5, "ci95": [0.6, 0.7]}) == (0.5, 0.5, 0.7)


@pytest.mark.parametrize(("p", "n"), [(0.0, 10), (0.5, 19), (1.0, 171), (0.3, 1000)])
def test_wilson_interval_contains_p_stays_in_unit_range_and_narrows_with_n(p, n):
    lo, hi = claim_figures.wilson(p, n)
    assert 0.0 <= lo <= p <= hi <= 1.0
    lo4, hi4 = claim_figures.wilson(p, 4 * n)
    assert hi4 - lo4 < hi - lo


def test_probe_figure_has_a_row_per_slot_with_an_accuracy_in_slot_order():
    probe = {
        "rate": {"accuracy": 0.8, "chance": 0.4, "ceiling": 0.9, "n_test": 50},
        "emotion": {"accuracy": 0.3, "chance": 0.17, "ceiling": None, "n_test": 50},
        "pitch_level": {"accuracy": 0.5, "chance": 0.33, "ceiling": 0.87, "n_test": 50},
        "loudness": {"accuracy": None, "chance": 0.4},
    }
    fig = token_figures.probe_vs_chance(probe)
    labels = [t.get_text().split(" ")[0] for t in fig.axes[0].get_yticklabels()]
    assert labels == ["pitch_level", "rate", "emotion"]  # attributes.SLOTS order, loudness (None) left out
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(legend) == [
        "ceiling (Praat features)",
        "chance",
        "speech tokens (the better of a linear and a tree probe)",
    ]
    assert "nothing to show" in _title(token_figures.probe_vs_chance({"rate": {"accuracy": None}}))


def test_kl_figure_pairs_kd_with_sft_per_student_input_and_colours_by_stage():
    kl = {
        "baseline_sft (sft)": {"mean": 0.3, "ci95": [0.2, 0.4], "per_seed": {"0": 0.25, "1": 0.35}},
        "analyzer_clues (sft)": {"mean": 0.2, "ci95": [0.15, 0.25], "per_seed": {"0": 0.2}},
        "no_po (kd)": {"mean": 0.1, "ci95": [0.05, 0.15], "per_seed": {"0": 0.1}},
        "no_clues (kd)": {"mean": 0.15, "ci95": [0.1, 0.2]},
        "broken (kd)": {"mean": None},
    }
    fig = claim_figures.speech_text_kl(kl)
    ax = fig.axes[0]
    labels = [t.get_text().split("  ")[0] for t in ax.get_yticklabels()]
    assert labels == ["analyzer_clues (sft)", "no_clues (kd)", "no_po (kd)", "baseline_sft (sft)"]
    colors = [to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors == [claim_figures.NO_KD_COLOR, claim_figures.KD_COLOR, claim_figures.KD_COLOR,
                      claim_figures.NO_KD_COLOR]  # fmt: skip
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.2, 0.15, 0.1, 0.3])
    assert "nothing to show" in _title(claim_figures.speech_text_kl({}))


def test_ablation_bars_draw_means_with_their_intervals_in_variant_order():
    fig = ablation_figures.ablation_bars(SUMMARY, metrics=("cider", "slot_accuracy", "bleu_4"))
    cells = ablation_figures.cells_of(SUMMARY["aggregate"])
    assert cells == [("test_zeroshot", "en"), ("test_zeroshot", "zh"), ("secap_dev", "zh")]
    assert len(fig.axes) == 2 * len(cells)  # bleu_4 exists nowhere: no row for it
    ax = fig.axes[0]  # cider, test_zeroshot/en
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["trivial_random", "baseline_sft", "aligncap_full"] and labels[-1] == "not_a_variant"
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.05, 0.2, 0.3])
    segments = np.concatenate([c.get_segments() for c in ax.collections if hasattr(c, "get_segments")])
    spans = sorted((round(s[0][0], 6), round(s[1][0], 6)) for s in segments if s[0][1] == s[1][1])
    assert (0.1, 0.3) in spans and (0.25, 0.35) in spans
    assert any(t.get_text().strip() == "n/a" for t in ax.texts)  # not_a_variant has no zero-shot cell
    assert "nothing to show" in _title(ablation_figures.ablation_bars({"aggregate": {}}))
    assert "nothing to show" in _title(ablation_figures.ablation_bars({}))


def test_ablation_bars_draw_range_rows_as_a_band_and_share_one_axis_per_metric():
    aggregate = {
        "content_oracle": {"t": {"en": {"cider": _cell(2.0)}, "zh": {"cider": _cell(1.5)}}},
        "wrong_content": {"t": {"en": {"cider": _cell(0.4)}, "zh": {"cider": _cell(0.3)}}},
        "baseline_sft": {"t": {"en": {"cider": _cell(1.0), "repetition": _cell(2e-6)}, "zh": {"cider": _cell(0.9)}}},
    }  # fmt: skip
    fig = ablation_figures.ablation_bars({"aggregate": aggregate})
    cider_en, cider_zh, rep_en, _ = fig.axes  # rows: the FIGURE_METRICS present (cider, repetition)
    assert [t.get_text() for t in cider_en.get_yticklabels()] == ["baseline_sft"]  # range rows are no bars
    (band,) = [p for p in cider_en.patches if p.get_height() == 1]  # axvspan: the full height in axes units
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx(
        (0.4, 2.0)
    )  # wrong -> right content
    assert cider_en.get_xlim() == cider_zh.get_xlim() and cider_en.get_xlim()[1] >= 2.0  # one axis per metric
    fig.canvas.draw()
    assert "e-" not in rep_en.xaxis.get_offset_text().get_text()  # no "1e-6" multiplier at the corner
    assert "higher is better" in cider_en.get_ylabel() and "lower is better" in rep_en.get_ylabel()


def test_slot_heatmaps_show_per_slot_means_and_mark_undefined_cells():
    fig = ablation_figures.slot_heatmaps(SUMMARY, "test_zeroshot", "en")
    titles = [a.get_title() for a in fig.axes]
    assert titles == [
        "factual hallucination (lower is better)",
        "omission (lower is better)",
    ]  # no per-slot acc
    slots = [t.get_text().replace("\n", "_") for t in fig.axes[0].get_xticklabels()]
    assert slots == ["rate", "emotion"]
    grid = fig.axes[0].images[0].get_array()
    variants = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    row = variants.index("baseline_sft")
    assert grid[row, 0] == pytest.approx(0.4) and np.ma.is_masked(grid[row, 1])
    assert "n/a" in {t.get_text() for t in fig.axes[0].texts}
    assert "nothing to show" in _title(ablation_figures.slot_heatmaps(SUMMARY, "test_seen", "en"))


def test_preference_curve_is_the_mean_over_seeds_with_the_min_max_band():
    rows = [
        {"fraction": f, "pairs": int(f * 80), "seed": s, "split": "test_zeroshot", "lang": "en", "metric": "cider",
         "value": f + 0.1 * s}
        for f in (0.25, 1.0, 0.5) for s in (0, 1)
    ]  # fmt: skip
    rows.append(
        {"fraction": 0.5, "seed": 2, "split": "test_zeroshot", "lang": "en", "metric": "cider", "value": None}
    )
    fig = claim_figures.preference_size_curve(rows)
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [0.25, 0.5, 1.0]
    assert list(line.get_ydata()) == pytest.approx([0.3, 0.55, 1.05])
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(0.25) and band[:, 1].max() == pytest.approx(1.1)
    assert "mean over 2 seeds" in _title(fig)
    one = claim_figures.preference_size_curve([r for r in rows if r["seed"] == 0])
    assert "one seed (seed 0)" in _title(one) and not one.axes[0].collections  # no band that is not there
    assert "nothing to show" in _title(claim_figures.preference_size_curve([{"fraction": None, "value": 1}]))


def test_claim_rows_are_drawn_per_claim_and_missing_values_are_written_out():
    claims = [
        {"claim": "KD helps", "comparison": "a - b", "split": "t", "lang": "en", "metric": "cider",
         "diff": 0.1, "ci95": [0.05, 0.2], "verdict": "reproduced", "direction": "higher"},
        {"claim": "KD helps", "comparison": "a - b", "split": "t", "lang": "zh", "metric": "cider",
         "diff": None, "ci95": [None, None], "verdict": "undefined"},
        {"claim": "PO helps", "comparison": "c - d", "split": "t", "lang": "en", "metric": "factual_hallucination",
         "diff": 0.02, "ci95": [0.01, 0.03], "verdict": "contradicted", "direction": "lower"},
    ]  # fmt: skip
    fig = claim_figures.claim_differences(claims)
    assert len(fig.axes) == 2
    assert "no value (undefined)" in {t.get_text().strip() for t in fig.axes[0].texts}
    point = fig.axes[1].lines[0]
    assert to_hex(point.get_color()) == claim_figures.VERDICT_COLORS["contradicted"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [f"{v}: {claim_figures.VERDICT_MEANINGS[v]}" for v in ("reproduced", "contradicted")]
    assert "contradicted" in {t.get_text() for t in fig.axes[1].texts}  # the verdict beside its row
    assert "nothing to show" in _title(claim_figures.claim_differences([]))


def test_dpo_curves_give_each_model_one_colour_name_every_line_and_skip_empty_logs():
    log = [{"step": i, "loss": 0.69 - 0.01 * i, "rewards/chosen": 0.1 * i, "rewards/rejected": -0.1 * i,
            "rewards/margins": 0.2 * i, "rewards/accuracies": 0.5} for i in range(1, 5)]  # fmt: skip
    logs = {"full seed0": log, "no_kd seed0": log[:2], "empty": [], "junk": None}
    fig = po_figures.dpo_reward_curves(logs)
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 2
    rewards = fig.axes[3].get_lines()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [ln.get_label() for ln in rewards if not ln.get_label().startswith("_")]
    assert legend == [
        "full seed0: chosen",
        "full seed0: rejected",
        "no_kd seed0: chosen",
        "no_kd seed0: rejected",
    ]
    colour = {ln.get_label(): ln.get_color() for ax in fig.axes for ln in ax.get_lines()}
    assert colour["full seed0"] == colour["full seed0: chosen"] == colour["full seed0: rejected"]
    assert colour["no_kd seed0"] == colour["no_kd seed0: rejected"] != colour["full seed0"]
    assert "nothing to show" in _title(po_figures.dpo_reward_curves({}))


def test_wrap_counts_cjk_characters_double_and_keeps_every_character():
    zh = "说话人的音调很高，语速很快，听起来非常开心。"
    lines = example_figures.wrap(zh, 10)
    assert "".join(lines) == zh and all(sum(2 for _ in ln) <= 10 for ln in lines)
    en = "a quavering voice with a shrill register and a hushed delivery"
    assert " ".join(example_figures.wrap(en, 20)) == en


EXAMPLES = [
    {"clip": "en_1", "split": "test_zeroshot", "lang": "en", "reference": "A calm voice.", "no_po": "A calm voice.",
     "aligncap_full": "A sad voice.", "baseline_sft": None},
    {"clip": "zh_1", "split": "secap_dev", "lang": "zh", "reference": "他很开心。", "aligncap_full": "她很难过。"},
]  # fmt: skip


def test_example_table_without_a_cjk_font_drops_chinese_rows_and_says_so(monkeypatch):
    monkeypatch.setattr(example_figures, "cjk_font", lambda: None)
    fig = example_figures.example_table(EXAMPLES)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "1 Chinese example(s) left out" in _title(fig)
    assert not any(example_figures.has_cjk(t) for t in texts)
    sources = [t for t in texts if t in ("reference", "baseline_sft", "no_po", "aligncap_full")]
    assert sources == ["reference", "baseline_sft", "no_po", "aligncap_full"]  # variant order, None kept
    assert "(no caption)" in texts
    only_zh = example_figures.example_table(EXAMPLES[1:])
    assert "nothing to show" in _title(only_zh)


def test_example_table_with_a_cjk_font_keeps_chinese_rows():
    with pytest.warns(UserWarning, match="missing from font"):  # DejaVu stands in for a CJK font here
        fig = example_figures.example_table(EXAMPLES, font="DejaVu Sans")
        fig.canvas.draw()
    assert any("他很开心" in t.get_text() for t in fig.axes[0].texts)
    assert "left out" not in _title(fig)


def test_cjk_font_falls_back_to_fontconfig_for_fonts_matplotlib_has_not_cached(tmp_path, monkeypatch):
    import subprocess

    import matplotlib as mpl

    font = tmp_path / "StandIn.ttf"  # a copy, so that matplotlib's cached font list does not hold it
    shutil.copy(Path(mpl.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    monkeypatch.setattr(example_figures, "_has_cjk_glyphs", lambda path: path == str(font))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/fc-list")
    monkeypatch.setattr(
        subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, f"{font}:\n", "")
    )
    example_figures.cjk_font.cache_clear()
    try:
        assert example_figures.cjk_font() == "DejaVu Sans"
    finally:
        example_figures.cjk_font.cache_clear()


class _TmpLayout(RunLayout):
    @property
    def figures(self) -> Path:
        return self.work / "figures"


def test_load_inputs_unwraps_write_results_files_and_reports_problems(tmp_path):
    (tmp_path / "probe.json").write_text(json.dumps({"metrics": {"rate": {"accuracy": 0.5}}, "config": {}}))
    (tmp_path / "summary.json").write_text(json.dumps({"runs": [], "aggregate": {}, "config": {}}))
    (tmp_path / "kd.json").write_text("{not json")
    payloads, problems = paper_figures.load_inputs(tmp_path)
    assert payloads["probe"] == {"rate": {"accuracy": 0.5}} and "aggregate" in payloads["summary"]
    assert (
        problems["kd"].startswith("kd.json unreadable") and problems["ablations"] == "ablations.json missing"
    )


def test_render_all_on_partial_results_renders_what_exists_and_lists_the_rest(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "probe.json").write_text(json.dumps({"metrics": {"rate": {"accuracy": 0.5, "chance": 0.3}}}))
    (results / "summary.json").write_text(json.dumps(SUMMARY))
    (results / "ablations.json").write_text(
        json.dumps({"metrics": {"claims": []}})
    )  # keys missing: placeholders
    out = paper_figures.render_all(results, _TmpLayout(preset="smoke", work=tmp_path / "work"))
    assert out["speech_text_kl"] == "skipped: kd.json missing"
    failed = {k: v for k, v in out.items() if isinstance(v, str) and not v.startswith("skipped")}
    assert not failed
    drawn = {k for k, v in out.items() if isinstance(v, dict)}
    assert {"pipeline_overview", "probe_vs_chance", "ablation_bars", "example_captions", "dpo_reward_curves",
            "slot_metrics_test_zeroshot_en", "slot_metrics_secap_dev_zh"} <= drawn  # fmt: skip
    for name in drawn:
        assert out[name]["png"].stat().st_size > 1000 and out[name]["pdf"].stat().st_size > 1000  # type: ignore[index]


def _index_names(repo: Path) -> set[str]:
    """The figure names of ``docs/figures.md``: the first cell of each table row."""
    text = (repo / "docs" / "figures.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9_<>\-]+)` \|", text, flags=re.MULTILINE))


def _notebook_figures(repo: Path) -> set[str]:
    """The names the notebooks pass to ``save_fig`` (notebook 08 saves through ``render_all`` instead)."""
    names: set[str] = set()
    for path in sorted((repo / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        names |= set(re.findall(r"save_fig\(\s*fig,\s*\"([a-z0-9_\-]+)\"", code))
    return names


def test_the_figure_index_lists_exactly_the_figures_the_project_writes(repo):
    index = _index_names(repo)
    per_cell = {f"{name}_<split>_<lang>" for name in paper_figures.PER_CELL_FIGURES}
    written = set(paper_figures.FIGURES) | per_cell | _notebook_figures(repo)
    assert not written - index, f"figures missing from docs/figures.md: {sorted(written - index)}"
    assert not index - written, f"docs/figures.md lists figures nothing writes: {sorted(index - written)}"


def _looks_drawn(png: Path) -> bool:
    """A PNG with ink on at least 3% of its pixels and 250+ distinct colours (a placeholder, one line of text
    on white, has under 2% and ~240); so an empty or collapsed figure fails."""
    from matplotlib.image import imread

    rgb = (imread(png)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    return (rgb.min(axis=1) < 200).mean() >= 0.03 and len(np.unique(rgb, axis=0)) >= 250


@pytest.mark.slow  # smoke: about 6 s idle; cpu (committed, so CI always runs it): about 15 s
@pytest.mark.parametrize("preset", ["smoke", "cpu"])
def test_render_all_on_real_results(tmp_path, repo, preset, monkeypatch):
    source = repo / "results" / preset
    if not (source / "summary.json").is_file():
        pytest.skip(f"results/{preset}/ not built (run the {preset} notebooks 00-07 first)")
    results = tmp_path / "results"
    shutil.copytree(source, results)

    def no_placeholder(title: str, reason: str):
        raise AssertionError(f"placeholder drawn: {title}: {reason}")

    for module in (claim_figures, ablation_figures, example_figures, po_figures, token_figures):
        monkeypatch.setattr(module, "placeholder", no_placeholder, raising=False)
    out = paper_figures.render_all(results, _TmpLayout(preset=preset, work=tmp_path / "work"))
    assert not [v for v in out.values() if isinstance(v, str) and v.startswith("failed")], out
    if preset == "cpu":  # the committed run has every input: every figure is drawn, none is empty
        assert all(isinstance(v, dict) for v in out.values()), out
        assert not [k for k, v in out.items() if not _looks_drawn(v["png"])]  # type: ignore[index]
    index = _index_names(repo)
    assert all(
        k in index or re.sub(r"^slot_metrics_.*", "slot_metrics_<split>_<lang>", k) in index for k in out
    )
    payloads, _ = paper_figures.load_inputs(results)
    cells = ablation_figures.cells_of(payloads["summary"]["aggregate"])
    assert {f"slot_metrics_{s}_{la}" for s, la in cells} <= set(out)
    assert all(v.startswith("skipped") for v in out.values() if isinstance(v, str))
    assert sorted(p.name for p in (tmp_path / "work" / "figures").iterdir()) == sorted(
        f"{k}.{ext}" for k, v in out.items() if isinstance(v, dict) for ext in ("png", "pdf")
    )


def test_tokens_overview_numbers_each_unit_change_under_the_f0_contour():
    from aligncap_lib.tokens import speech_units

    sr, seconds = 16_000, 0.8
    t = np.arange(int(sr * seconds)) / sr
    wave = (0.3 * np.sin(2 * np.pi * 200 * t) * (t < 0.5)).astype(np.float32)  # 0.5 s at 200 Hz, then silence
    n_t = int(seconds * 75)
    codes = torch.zeros(4, n_t, dtype=torch.long)
    codes[0, : n_t // 2], codes[1, : n_t // 4] = 7, 3  # one change per kept codebook
    units = speech_units.units_to_text(codes, unit_codebooks=2, stack=4, max_positions=400)
    fig = token_figures.tokens_overview(wave, sr, codes, units, "synthetic")
    spec, strip, spec_f0, strip_f0 = fig.axes  # the twin axes come after the two panels
    numbers = sorted((round(x.get_position()[1]), x.get_text()) for x in strip.texts)
    assert numbers == [(0, "0"), (0, "7"), (1, "0"), (1, "3")]  # a number where a run starts, per codebook
    f0 = spec_f0.lines[0].get_ydata()
    assert np.nanmedian(f0) == pytest.approx(200, rel=0.02) and np.isnan(f0[-10:]).all()  # silence: unvoiced
    assert np.array_equal(
        strip_f0.lines[0].get_ydata(), f0, equal_nan=True
    )  # the same contour over the strip
    assert spec.get_title() == "synthetic"
