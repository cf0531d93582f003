"""Analysis (notebooks 05-07): ``results/<preset>/summary.json`` with intervals over seeds and clips, paired
differences, and the ablations with their claims and verdicts."""

from aligncap_lib.analysis.ablations import AblationConfig, claims, run_ablations
from aligncap_lib.analysis.results_summary import build_summary, paired_over_seeds, write_summary

__all__ = ["AblationConfig", "build_summary", "claims", "paired_over_seeds", "run_ablations", "write_summary"]
