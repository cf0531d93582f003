"""Per-clip evaluation results stored as JSON (no pickles): the round trip keeps every metric, statistic and
interval exactly; an unnamed statistic function is refused."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from aligncap_lib.evaluation import bootstrap as bs
from aligncap_lib.evaluation.result_store import load_results, read_result, save_result
from aligncap_lib.evaluation.scoring import EvaluationConfig, evaluate_captions

REFS = {
    "a": ["The speaker sounds angry, with a high pitch and a fast speaking rate."],
    "b": ["A sad voice with a low pitch and a slow pace."],
    "c": ["The speaker talks with a loud voice, sounding happy."],
}
HYPS = {
    "a": "The speaker sounds angry with a high pitch.",
    "b": "A happy voice with a low pitch.",
    "c": "A loud voice.",
}


@pytest.fixture(scope="module")
def result():
    cfg = EvaluationConfig(meteor=False, similarity=False, n_bootstrap=50)
    return evaluate_captions(REFS, HYPS, "en", config=cfg, intervals=False)


def test_round_trip_is_exact(result, tmp_path: Path) -> None:
    path = save_result(result, tmp_path / "eval" / "test_zeroshot_en.json")
    assert path.read_text(encoding="utf-8").startswith("{")  # JSON, not a pickle
    back = read_result(path)
    assert back.ids == result.ids and back.lang == result.lang and back.metrics == result.metrics
    assert set(back.stats) == set(result.stats) and set(back.statistics) == set(result.statistics)
    for key, st in result.stats.items():
        assert back.stats[key].dtype == st.dtype and np.array_equal(back.stats[key], st, equal_nan=True)
        same = np.asarray(result.statistics[key](st.sum(0)), dtype=float)
        assert np.array_equal(np.asarray(back.statistics[key](st.sum(0)), dtype=float), same, equal_nan=True)
    # the summary's intervals from the stored result equal those of the fresh one
    a = bs.bootstrap_interval(result.stats["bleu_4"], result.statistics["bleu_4"], n_resamples=50, seed=0)
    b = bs.bootstrap_interval(back.stats["bleu_4"], back.statistics["bleu_4"], n_resamples=50, seed=0)
    assert (a.low, a.point, a.high) == (b.low, b.point, b.high)
    assert load_results(tmp_path)[("test_zeroshot", "en")].metrics == result.metrics


def test_unnamed_statistic_is_refused(result, tmp_path: Path) -> None:
    import dataclasses

    odd = dataclasses.replace(
        result, statistics={**result.statistics, "x": functools.partial(np.mean, axis=0)}
    )
    with pytest.raises(ValueError, match="no JSON name"):
        save_result(odd, tmp_path / "x.json")


def test_both_reference_sets_are_scored_and_stored(tmp_path: Path) -> None:
    """Test clips are scored against the main references and, stored apart, the unseen-phrasing set; records
    without a second set (valid, real data) get the main scoring only."""
    from aligncap_lib.training.stages import score_hyps

    truth = {"pitch_level": "high", "emotion": "angry"}
    recs = [
        {"id": i, "lang": "en", "split": "test_zeroshot", "text": "t", "emotion": "angry", "attributes": truth,
         "captions": REFS[i], "captions_unseen_phrasing": ["This person talks with an elevated pitch."]}
        for i in REFS
    ]  # fmt: skip
    cfg = EvaluationConfig(meteor=False, similarity=False)
    main = score_hyps(HYPS, recs, "en", cfg, tmp_path, "test_zeroshot_en")
    assert (tmp_path / "eval" / "unseen_phrasing" / "test_zeroshot_en.json").is_file()
    both = {
        name: load_results(tmp_path, name)[("test_zeroshot", "en")] for name in ("main", "unseen_phrasing")
    }
    assert both["main"].metrics["cider"] == main["cider"] != both["unseen_phrasing"].metrics["cider"]
    # the slot metrics read the corpus truth, not the references: the same under both sets
    assert both["main"].metrics["slot_accuracy"] == both["unseen_phrasing"].metrics["slot_accuracy"]
    with pytest.raises(ValueError, match="unknown reference set"):
        load_results(tmp_path, "heldout")
    plain = [{k: v for k, v in r.items() if k != "captions_unseen_phrasing"} for r in recs]
    score_hyps(HYPS, plain, "en", cfg, tmp_path / "plain", "valid_en")
    assert not (tmp_path / "plain" / "eval" / "unseen_phrasing").exists()
