"""Corpus figures and tables (notebook 01) on the tiny session corpus."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from aligncap_lib.core.attributes import ACOUSTIC_SLOTS, SLOT_BINS  # noqa: E402
from aligncap_lib.figures import corpus_figures  # noqa: E402
from tests.fixtures_corpus import tiny_corpus  # noqa: E402,F401  (session fixture)


def test_examples_tables_and_embeddable_audio(tiny_corpus):  # noqa: F811
    records, report = corpus_figures.load_corpus(tiny_corpus)
    examples = corpus_figures.example_per_emotion(records, "en")
    assert len({r["emotion"] for r in examples}) == len(examples) >= 3
    assert all(r["lang"] == "en" and r["degradation"] is None for r in examples)
    table = corpus_figures.agreement_table(report)
    assert len(table) == sum(len(SLOT_BINS[s]) for s in ACOUSTIC_SLOTS)
    tables = corpus_figures.report_tables(report)
    assert "emotion" in tables["probe"].index
    splits = [r["split"] for r in corpus_figures.example_per_split(records, "zh")]
    assert splits == [s for s in corpus_figures.SPLIT_ORDER if s in splits] and len(splits) == 6
    clip = corpus_figures.playable(tiny_corpus, examples[0], 8000, 2.0)
    assert 0 < clip.size <= 16000


def test_figures_have_one_panel_per_example_and_slot(tiny_corpus):  # noqa: F811
    records, report = corpus_figures.load_corpus(tiny_corpus)
    examples = corpus_figures.example_per_emotion(records, "en")[:2]
    fig = corpus_figures.emotion_spectrograms(tiny_corpus, examples)
    assert len(fig.axes) == 2 * len(examples)  # spectrogram + f0 twin axis
    assert len(corpus_figures.attribute_distributions(records).axes) == 1 + len(ACOUSTIC_SLOTS)
    assert len(corpus_figures.agreement_chart(report).axes) == 1


def test_agreement_chart_names_each_bin_once_and_each_slot_under_its_group(tiny_corpus):  # noqa: F811
    _, report = corpus_figures.load_corpus(tiny_corpus)
    ax = corpus_figures.agreement_chart(report).axes[0]
    bins = [t.get_text() for t in ax.get_xticklabels()]
    assert bins == [b for s in ACOUSTIC_SLOTS for b in SLOT_BINS[s]]  # no "slot\nbin" labels that collide
    groups = {t.get_text(): t.get_position()[0] for t in ax.texts}
    assert list(groups) == list(ACOUSTIC_SLOTS)
    ticks = ax.get_xticks()
    gaps = np.diff(ticks)
    assert gaps.max() > gaps.min()  # a gap between the slots' groups
