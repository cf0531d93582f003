"""Corpus figures and tables (notebook 01) on the tiny session corpus."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from aligncap_lib import corpus_plots  # noqa: E402
from aligncap_lib.attributes import ACOUSTIC_SLOTS, SLOT_BINS  # noqa: E402
from tests.fixtures_corpus import tiny_corpus  # noqa: E402,F401  (session fixture)


def test_examples_tables_and_embeddable_audio(tiny_corpus):  # noqa: F811
    records, report = corpus_plots.load_corpus(tiny_corpus)
    examples = corpus_plots.example_per_emotion(records, "en")
    assert len({r["emotion"] for r in examples}) == len(examples) >= 3
    assert all(r["lang"] == "en" and r["degradation"] is None for r in examples)
    table = corpus_plots.agreement_table(report)
    assert len(table) == sum(len(SLOT_BINS[s]) for s in ACOUSTIC_SLOTS)
    tables = corpus_plots.report_tables(report)
    assert "emotion" in tables["probe"].index
    splits = [r["split"] for r in corpus_plots.example_per_split(records, "zh")]
    assert splits == [s for s in corpus_plots.SPLIT_ORDER if s in splits] and len(splits) == 6
    clip = corpus_plots.playable(tiny_corpus, examples[0], 8000, 2.0)
    assert 0 < clip.size <= 16000


def test_figures_have_one_panel_per_example_and_slot(tiny_corpus):  # noqa: F811
    records, report = corpus_plots.load_corpus(tiny_corpus)
    examples = corpus_plots.example_per_emotion(records, "en")[:2]
    fig = corpus_plots.emotion_spectrograms(tiny_corpus, examples)
    assert len(fig.axes) == 2 * len(examples)  # spectrogram + f0 twin axis
    assert len(corpus_plots.attribute_distributions(records).axes) == 1 + len(ACOUSTIC_SLOTS)
    assert len(corpus_plots.agreement_chart(report).axes) == 1
