"""The ablation runner's bookkeeping: verdicts, config validation, and claims on a run with missing stages."""

from __future__ import annotations

import pytest

from aligncap_lib.analysis.ablations import CLAIM_IDS, CLAIMS, KL_CLAIM, AblationConfig, _verdict, claims
from aligncap_lib.core.run_layout import RunLayout
from aligncap_lib.evaluation.scoring import EvaluationConfig


@pytest.mark.parametrize(
    ("lo", "hi", "direction", "verdict"),
    [
        (0.1, 0.3, 1, "reproduced"),
        (-0.3, -0.1, -1, "reproduced"),
        (-0.3, -0.1, 1, "contradicted"),
        (0.1, 0.3, -1, "contradicted"),
        (-0.1, 0.2, 1, "inconclusive"),
        (0.0, 0.2, 1, "inconclusive"),  # an interval touching 0 does not exclude it
        (float("nan"), 0.2, 1, "undefined"),
    ],
)
def test_verdicts(lo: float, hi: float, direction: int, verdict: str) -> None:
    assert _verdict(lo, hi, direction) == verdict


def test_config_validates() -> None:
    assert AblationConfig.for_preset("smoke").seeds == (0,)
    assert len(AblationConfig.for_preset("cpu").seeds) >= 3  # at least 3 seeds at cpu
    with pytest.raises(ValueError, match="unknown variant"):
        AblationConfig(variants=("no_such",))
    from aligncap_lib.analysis.extras import ExtrasConfig

    with pytest.raises(ValueError, match="pref_fractions"):
        ExtrasConfig(pref_fractions=(0.0, 1.0))
    with pytest.raises(ValueError, match="lambda_choices"):
        ExtrasConfig(lambda_choices=(10.0,))
    assert ExtrasConfig.for_preset("cpu").kd_lambdas == (0.0, 0.3, 1.0, 3.0)


def test_later_seeds_score_the_claim_split_only() -> None:
    from aligncap_lib.training.stages import StageConfigs

    cfg = AblationConfig(seeds=(0, 1, 2))
    base = StageConfigs.for_preset("cpu")
    assert cfg.seed_configs(base, 0) is base  # the first seed: every split
    cap1 = cfg.seed_configs(base, 1).evaluation
    assert cap1.splits == ("test_zeroshot",) and cap1.result_hash() != base.evaluation.result_hash()
    assert cfg.seed_configs(base, 2)._replace(evaluation=base.evaluation) == base  # the rest unchanged
    assert AblationConfig(later_seed_splits=()).seed_configs(base, 2) is base
    with pytest.raises(ValueError, match="must hold claim_split"):
        AblationConfig(later_seed_splits=("test_seen",))
    with pytest.raises(ValueError, match="unknown split"):
        AblationConfig(later_seed_splits=("test_zeroshot", "dev"))


def test_claims_on_an_empty_run_are_listed_as_missing(tmp_path) -> None:
    rows = claims(
        RunLayout(preset="smoke", work=tmp_path), AblationConfig(seeds=(0,)), EvaluationConfig(n_bootstrap=20)
    )
    expected = sum(2 * len(metrics) for *_, metrics in CLAIMS) + 2  # + the KL on the claim split and on valid
    assert len(rows) == expected and {r["verdict"] for r in rows} == {"missing"}
    assert all(r.get("reason") for r in rows)
    # every row names its claim id, in the order, with the fields the results file promises
    assert list(dict.fromkeys(r["claim_id"] for r in rows)) == list(CLAIM_IDS)
    assert CLAIM_IDS == ("speech_matters", "kd_gap", "kd_captioning", "po_hallucination", "clues_under_kd",
                         "full_vs_sft")  # fmt: skip
    assert all({"claim_id", "comparison", "split", "lang", "metric", "verdict"} <= set(r) for r in rows)
    kl = [r for r in rows if r["claim_id"] == KL_CLAIM[0]]
    assert [r["split"] for r in kl] == ["test_zeroshot", "valid"] and kl[0]["comparison"] == (
        "no_po (kd) - baseline_sft (sft)"
    )
    metrics = {(r["claim_id"], r["metric"]) for r in rows}
    assert ("po_hallucination", "repetition") in metrics and ("speech_matters", "slot_accuracy") in metrics
    assert {m for c, m in metrics if c == "full_vs_sft"} == {"bleu_4", "meteor", "rouge_l", "cider",
                                                             "slot_accuracy", "factual_hallucination"}  # fmt: skip


def test_clue_reading_without_the_extension_says_why(tmp_path) -> None:
    from aligncap_lib.analysis.ablations import clue_reading

    out = clue_reading(
        RunLayout(preset="smoke", work=tmp_path), AblationConfig(seeds=(0,)), EvaluationConfig(n_bootstrap=20)
    )
    assert out == {"skipped_reason": "no analyzer_clues stage at seed 0", "seed": 0}


def test_secap_dev_rows_without_data_say_why(tmp_path, monkeypatch) -> None:
    from aligncap_lib.analysis import ablations

    monkeypatch.setattr(ablations, "find_secap_dir", lambda path=None, with_results=False: None)
    out = ablations.secap_dev_rows(RunLayout(preset="smoke", work=tmp_path), AblationConfig(seeds=(0,)))
    assert out == {
        "skipped_reason": "no SECap data: set $SECAP_DIR (or put secap-dev in a shared/ folder next to the clone)"
    }


def test_extras_subsets_are_nested_per_language_and_lambda_rule() -> None:
    from aligncap_lib.analysis.extras import choose_lambda, subset_fraction

    recs = [{"id": f"{lang}_{i}", "lang": lang} for lang in ("en", "zh") for i in range(40)]
    quarter, half = subset_fraction(recs, 0.25), subset_fraction(recs, 0.5)
    assert {r["id"] for r in quarter} < {r["id"] for r in half}  # nested
    assert sum(r["lang"] == "en" for r in quarter) == sum(r["lang"] == "zh" for r in quarter) == 10
    assert subset_fraction(recs, 1.0) == recs and len(subset_fraction(recs, 0.001)) == 2
    with pytest.raises(ValueError, match="fraction"):
        subset_fraction(recs, 0.0)

    def row(lam: float, lang: str, value: float, split: str = "valid") -> dict:
        return {"kd_lambda": lam, "split": split, "lang": lang, "metric": "cider", "value": value}

    rows = [row(0.3, "en", 1.0), row(0.3, "zh", 1.2), row(1.0, "en", 1.2), row(1.0, "zh", 1.005),
            row(3.0, "en", 0.5), row(3.0, "zh", 0.5), row(3.0, "en", 9.0, "test_zeroshot")]  # fmt: skip
    out = choose_lambda(rows, (0.3, 1.0, 3.0))
    assert out["chosen"] == 0.3  # 1.1025 vs 1.1: within 0.01, the smaller lambda; test rows are never read
    assert choose_lambda(rows, (3.0,))["chosen"] == 3.0 and choose_lambda([], (1.0,))["chosen"] is None
