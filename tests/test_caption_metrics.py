"""pycocoevalcap parity and the per-clip sufficient statistics behind the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from aligncap_lib.corpus.secap import find_secap_dir
from aligncap_lib.evaluation.ngram_metrics import (
    bleu_from_stats,
    meteor_from_stats,
    score_ngrams,
    spice_status,
)
from aligncap_lib.evaluation.peer_rows import read_secap_results
from aligncap_lib.evaluation.segmentation import tokenize_captions

EN_REFS = {
    "a": ["the man speaks fast and loud", "an angry man shouts quickly"],
    "b": ["a woman speaks softly and sadly"],
    "c": ["the voice is calm and steady"],
}
EN_HYPS = {
    "a": "the man speaks quickly and angrily",
    "b": "a happy woman talks loudly",
    "c": "the voice is calm and steady",
}


_DIRECT_METEOR = None


def _direct(refs, hyps):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge

    gts, res = {k: list(v) for k, v in refs.items()}, {k: [v] for k, v in hyps.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    global _DIRECT_METEOR
    if _DIRECT_METEOR is None:  # one JVM (about 8 s to start) for the module, like ours
        _DIRECT_METEOR = Meteor()
    m, _ = _DIRECT_METEOR.compute_score(gts, res)
    return {
        **{f"bleu_{k + 1}": b for k, b in enumerate(bleu)},
        "meteor": m,
        "rouge_l": Rouge().compute_score(gts, res)[0],
        "cider": Cider().compute_score(gts, res)[0],
    }


def _assert_parity(refs, hyps):
    ours = score_ngrams(refs, hyps)
    direct = _direct(refs, hyps)
    for key, value in direct.items():
        assert ours.corpus[key] == pytest.approx(value, abs=1e-6), key
    # The statistics resampled by the bootstrap reproduce the corpus values.
    np.testing.assert_allclose(
        bleu_from_stats(ours.bleu_stats.sum(0)), [direct[f"bleu_{k}"] for k in range(1, 5)], atol=1e-9
    )
    assert meteor_from_stats(ours.meteor_stats.sum(0)) == pytest.approx(direct["meteor"], abs=1e-6)
    np.testing.assert_allclose(meteor_from_stats(ours.meteor_stats), ours.meteor, atol=1e-6)
    assert ours.cider.mean() == pytest.approx(direct["cider"], abs=1e-9)


def test_parity_english_tokens():
    _assert_parity(EN_REFS, EN_HYPS)


@pytest.mark.secap
def test_parity_on_secap_dev_every_ngram_metric_equals_pycocoevalcap():
    found = find_secap_dir(with_results=True)
    if found is None:
        pytest.skip("secap-dev not found (../shared/secap-dev or $SECAP_DIR)")
    refs, hyps = read_secap_results(found)
    assert len(hyps) == 100
    for view in ("primary", "jieba"):
        r = tokenize_captions({k: [v] for k, v in refs.items()}, "zh", view)
        h = {k: v[0] for k, v in tokenize_captions({k: [v] for k, v in hyps.items()}, "zh", view).items()}
        _assert_parity(r, h)


def test_identical_caption_scores_perfectly():
    s = score_ngrams({"x": ["a b c d e"]}, {"x": "a b c d e"})
    assert s.corpus["bleu_4"] == pytest.approx(1.0, abs=1e-6)
    assert s.corpus["meteor"] > 0.99 and s.corpus["rouge_l"] == pytest.approx(1.0)


def test_bleu_from_stats_applies_brevity_penalty():
    long = np.array([4, 3, 2, 1, 4, 3, 2, 1, 4, 8], float)
    assert bleu_from_stats(long)[0] == pytest.approx(np.exp(1 - 2), rel=1e-6)


def test_mismatched_ids_are_refused():
    with pytest.raises(ValueError, match="same ids"):
        score_ngrams({"a": ["x"]}, {"b": "x"})


def test_spice_is_null_with_a_reason_and_never_downloads():
    assert "English" in spice_status("zh")
    reason = spice_status("en")
    assert reason is None or "download" in reason
