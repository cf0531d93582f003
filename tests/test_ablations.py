"""The ablation runner's bookkeeping: verdicts, config validation, and claims on a run with missing stages."""

from __future__ import annotations

import pytest

from aligncap_lib.analysis.ablations import CLAIMS, KL_CLAIM, AblationConfig, _verdict, claims
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
    with pytest.raises(ValueError, match="sweep_seeds"):
        AblationConfig(seeds=(0,), sweep_seeds=(1,))
    with pytest.raises(ValueError, match="pref_fractions"):
        AblationConfig(pref_fractions=(0.0, 1.0))


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
    assert all(r.get("reason") for r in rows) and rows[-1]["claim"] == KL_CLAIM


def test_clue_source_comparison_on_an_empty_run_is_missing(tmp_path) -> None:
    from aligncap_lib.analysis.ablations import clue_source_comparison

    rows = clue_source_comparison(
        RunLayout(preset="smoke", work=tmp_path), AblationConfig(seeds=(0,)), EvaluationConfig(n_bootstrap=20)
    )
    assert [r["verdict"] for r in rows] == ["missing"] and "aligncap_full" in rows[0]["reason"]


def test_secap_dev_rows_without_data_say_why(tmp_path, monkeypatch) -> None:
    from aligncap_lib.analysis import ablations

    monkeypatch.setattr(ablations, "find_secap_dir", lambda path=None, with_results=False: None)
    out = ablations.secap_dev_rows(RunLayout(preset="smoke", work=tmp_path), AblationConfig(seeds=(0,)))
    assert out == {
        "skipped_reason": "no SECap data: set $SECAP_DIR (or put secap-dev in a shared/ folder next to the clone)"
    }
