"""Preference (notebook 06): PO-Regularization. Candidates sampled from the student, scored by a judge, turned
into preference pairs, and DPO (trl) on them.

``po_regularization`` is the stage (pairs, DPO; ``aligncap pairs``); ``judges`` (the rubric judge and the judge
interface), ``llm_judge`` (an OpenAI-compatible judge), ``judge_checks`` (judges against the synthetic truth and
SECap) and ``human_preferences`` (the file a lab fills in).
"""

from aligncap_lib.preference.judges import ClipContext, JudgeScore, RubricJudge
from aligncap_lib.preference.po_regularization import POConfig, build_pairs, dpo_train, ensure_pairs, train_po

__all__ = [
    "ClipContext",
    "JudgeScore",
    "POConfig",
    "RubricJudge",
    "build_pairs",
    "dpo_train",
    "ensure_pairs",
    "train_po",
]
