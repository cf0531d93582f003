"""Training (notebook 05): the text teacher, KD-Regularization and the SFT and KD students.

``stages`` (the trained stages of one variant and seed, cached and resumable), ``text_teacher`` (the LM trained
on transcripts and caption clues: KD's teacher), ``kd_regularization`` (the divergence, the loss's config and the
held-out speech-vs-text KL), ``kd_trainer`` (the ``Trainer`` subclass and the schedule), ``baselines`` (the
variants that train nothing) and ``stage_results`` (where each variant's stages are and what they stored).
"""

from aligncap_lib.training.kd_regularization import KDConfig, divergence, speech_text_kl
from aligncap_lib.training.kd_trainer import ScheduleConfig
from aligncap_lib.training.stages import StageConfigs, read_log, train_student, train_teacher
from aligncap_lib.training.text_teacher import TeacherConfig, ensure_teacher

__all__ = [
    "KDConfig", "ScheduleConfig", "StageConfigs", "TeacherConfig", "divergence", "ensure_teacher", "read_log",
    "speech_text_kl", "train_student", "train_teacher",
]  # fmt: skip
