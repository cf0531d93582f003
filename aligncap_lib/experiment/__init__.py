"""The experiment grid (notebooks 05-07): every stage of every variant and seed in dependency order, and the
``aligncap train`` command."""

from aligncap_lib.experiment.grid import STAGES, stage_plan, train_variants

__all__ = ["STAGES", "stage_plan", "train_variants"]
