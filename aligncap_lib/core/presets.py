"""Stage configs and presets.

Each stage owns one frozen dataclass config (in its own module) that subclasses :class:`StageConfig` and
validates itself. A *preset* is a named set of overrides per stage, listed in :data:`PRESETS` so that the
differences between ``smoke``, ``cpu`` and ``paper`` can be read in one place.

Precedence of the preset name: papermill's ``-p preset`` (a non-empty notebook
parameter) over the ``ALIGNCAP_PRESET`` environment variable over the default, ``cpu``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

PRESET_NAMES: tuple[str, ...] = ("smoke", "cpu", "paper")
DEFAULT_PRESET = "cpu"
PRESET_ENV = "ALIGNCAP_PRESET"


def resolve_preset(preset: str | None = None) -> str:
    """The preset to use: ``preset`` if given, else ``$ALIGNCAP_PRESET``, else ``cpu``.

    Raises ``ValueError`` naming the bad value and where it came from.
    """
    if preset:
        name, source = preset, "the 'preset' parameter"
    elif os.environ.get(PRESET_ENV):
        name, source = os.environ[PRESET_ENV], f"${PRESET_ENV}"
    else:
        name, source = DEFAULT_PRESET, "the default"
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r} (from {source}); choose one of {', '.join(PRESET_NAMES)}")
    return name


def result_field(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A config field that changes results (the default for every field); included in the config hash."""
    return dataclasses.field(default=default, **kwargs)


def added_field(default: Any, **kwargs: Any) -> Any:
    """A result-affecting field added after results were committed, whose ``default`` reproduces the earlier
    behaviour exactly: it enters :meth:`StageConfig.result_hash` only when set to another value, so adding it
    neither invalidates the run cache nor marks committed results as stale."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["hash_default"] = False
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def plumbing_field(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A config field that cannot change any result (progress bars, batch sizes of pure inference, paths).

    It is left out of :meth:`StageConfig.result_hash`, so changing it neither invalidates the run cache nor
    marks committed results as stale.
    """
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["affects_result"] = False
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


C = TypeVar("C", bound="StageConfig")


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """Base of every stage config: frozen, self-validating, hashable by its result-affecting fields."""

    #: The stage's key in :data:`PRESETS` (set by each subclass).
    stage: ClassVar[str] = ""
    #: Bumped by a stage whose code changes its results with no config change (e.g. speech tokens 2: each clip
    #: encoded alone); part of :meth:`result_hash` from 2 on, so caches and committed results notice.
    protocol: ClassVar[int] = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` with a clear message when a field is out of range. Subclasses extend this."""

    # -- helpers for subclasses' validate() ------------------------------------------------------------
    def _require(self, condition: bool, message: str) -> None:
        if not condition:
            raise ValueError(f"{type(self).__name__}: {message}")

    def _positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            self._require(value > 0, f"{name} must be > 0, got {value!r}")

    def _probability(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            self._require(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value!r}")

    def _one_of(self, name: str, allowed: tuple[Any, ...]) -> None:
        value = getattr(self, name)
        self._require(value in allowed, f"{name} must be one of {allowed}, got {value!r}")

    # -- identity ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All fields, JSON-ready (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=_json_default))

    def result_fields(self) -> dict[str, Any]:
        """The fields that can change a result (everything not declared with :func:`plumbing_field`)."""
        full = self.to_dict()
        return {
            f.name: full[f.name] for f in dataclasses.fields(self) if f.metadata.get("affects_result", True)
        }

    def result_hash(self) -> str:
        """A short, stable hash of the result-affecting fields, the stage name and its :attr:`protocol`
        (:func:`added_field` fields at their default and protocol 1 are left out: hashes stay as they were)."""
        defaults = {
            f.name for f in dataclasses.fields(self)
            if not f.metadata.get("hash_default", True) and getattr(self, f.name) == f.default
        }  # fmt: skip
        fields = {k: v for k, v in self.result_fields().items() if k not in defaults}
        body: dict[str, Any] = {"stage": self.stage, "fields": fields}
        if self.protocol != 1:
            body["protocol"] = self.protocol
        payload = json.dumps(body, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @classmethod
    def for_preset(cls: type[C], preset: str | None = None, **overrides: Any) -> C:
        """The config of this stage at ``preset`` (resolved as :func:`resolve_preset`), plus ``overrides``."""
        name = resolve_preset(preset)
        preset_overrides = dict(PRESETS[name].get(cls.stage, {}))
        preset_overrides.update(overrides)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(preset_overrides) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {unknown} in preset {name!r} or overrides")
        return cls(**preset_overrides)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable in a config: {value!r}")


def combined_hash(*parts: str | Mapping[str, Any]) -> str:
    """Hash several config hashes (or JSON-able mappings) into one cache key."""
    payload = json.dumps([p if isinstance(p, str) else dict(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


#: Preset -> stage -> field overrides. A field not listed keeps the default of its stage config, which is
#: the ``cpu`` value unless stated otherwise in that config. Stages add their entries as they land.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        # speech_tokens: seconds, not minutes: a narrow codec trained for a few steps, 2 small codebooks; the
        # random baseline with a narrow encoder and few k-means iterations.
        "speech_tokens": {
            "n_q": 2,
            "bins": 32,
            "codec_hidden": 64,
            "codec_res": 1,
            "codec_steps": 60,
            "codec_batch": 8,
            "encoder_filters": 8,
            "kmeans_iters": 5,
            "fit_max_frames": 5000,
        },
        # corpus: both languages, every split non-empty, about 30 s on 2 cores.
        "corpus": {
            "n_train": 48,
            "n_valid": 6,
            "n_pref": 6,
            "n_test_seen": 12,
            "n_test_zeroshot": 12,
            "n_test_crossdomain": 8,
            "opensmile_clips": 24,
        },
        # captioner/teacher/kd: plumbing in seconds; the smoke teacher cannot follow clues, so its
        # gate is off (0.0) here and on at cpu. Units: the smoke speech tokens of notebook 02.
        "captioner": {"vocab_size": 800, "n_layers": 2, "d_model": 64, "n_heads": 2, "d_ff": 128},
        "schedule": {"steps": 8, "batch_size": 8, "save_steps": 4},
        "evaluation": {"splits": ("test_zeroshot",)},
        "decoding": {"max_new_tokens": 24},
        "teacher": {
            "steps": 40,
            "batch_size": 16,
            "gate_threshold": 0.0,
        },
        "lora": {"r": 4, "alpha": 8},
        # po: every pref clip of the smoke corpus, 3 samples, a few DPO steps
        "po": {
            "candidates": 3,
            "max_new_tokens": 24,
            "steps": 4,
            "batch_size": 2,
            "lora_r": 4,
            "lora_alpha": 8,
            "margin": 0.0,
            # the smoke models state almost no clue, so pairs that contradict different slots are rare
            "pairing": "best_worst",
            "progress": False,  # no Trainer progress display in the committed smoke notebooks
        },
        # ablations: one seed
        "ablations": {"seeds": (0,), "secap_clips": 12},
        # extras: two points per sweep
        "extras": {
            "kd_lambdas": (0.0, 1.0),
            "lambda_choices": (1.0,),
            "data_fractions": (0.5, 1.0),
            "pref_fractions": (0.5, 1.0),
            "progress": False,
        },
    },
    "cpu": {},
    "paper": {
        # speech_tokens: pretrained EnCodec 24 kHz (torch hub cache or --pretrained PATH), 8 of its codebooks
        # (6 kbps, its standard setting) of 1,024 codes, the first 2 read by the LLM, 37.5 positions/s.
        "speech_tokens": {
            "codec": "pretrained",
            "n_q": 8,
            "bins": 1024,
            "encoder_filters": 32,
            "unit_codebooks": 2,
            "max_positions": 400,
        },
        # corpus: about 10x the cpu corpus (6,000 clips per language), for a GPU machine with more cores.
        "corpus": {
            "n_train": 4600,
            "n_valid": 200,
            "n_pref": 600,
            "n_test_seen": 600,
            "n_test_zeroshot": 800,
            "n_test_crossdomain": 600,
            "opensmile_clips": 1000,
        },
        # captioner: any HF causal LM by hub id or local path; our choice of a small open one.
        # runtime: a GPU when present, bf16 autocast with bf16-stored base weights, gradient
        # checkpointing (non-reentrant, plus the LoRA input-gradient fix), SDPA attention. Memory and time of a
        # KD step of a 0.5B and a 7B LM on an H200 (random weights): results/paper/README.md.
        "captioner": {"base_model": "Qwen/Qwen2.5-0.5B", "max_positions": 1024},
        "schedule": {"steps": 3000, "batch_size": 32, "learning_rate": 2e-4},
        "runtime": {
            "device": "auto",
            "precision": "bf16",
            "gradient_checkpointing": True,
            "attn_implementation": "sdpa",
        },
        "teacher": {"steps": 2000, "learning_rate": 5e-5},
        # po: DPO's max_length truncates prompt + caption; it must hold what the captioner trains on (400 units
        # alone overflow the cpu value of 256, which cut the speech prompt of every pair; found while adding the
        # DPO step to bench_paper.py)
        "po": {"max_length": 1024},
    },
}

#: Modules that define stage configs, in pipeline order (imported on demand by :func:`stage_configs`).
STAGE_MODULES: tuple[str, ...] = (
    "aligncap_lib.corpus.speech_corpus",
    "aligncap_lib.tokens.speech_tokens",
    "aligncap_lib.clues.emotion_clues",
    "aligncap_lib.evaluation.scoring",
    "aligncap_lib.captioner.model",
    "aligncap_lib.captioner.generation",
    "aligncap_lib.training.kd_trainer",
    "aligncap_lib.training.text_teacher",
    "aligncap_lib.training.kd_regularization",
    "aligncap_lib.preference.po_regularization",
    "aligncap_lib.analysis.ablations",
    "aligncap_lib.analysis.extras",
    "aligncap_lib.export.inference",
)

#: The ``cpu`` preset's wall-clock budget per stage in minutes on 2 cores; the
#: README repeats it and ``results/cpu/timings.json`` checks it.
#: Rebalanced when the codec began to be trained here (the total stays 60): corpus 5 -> 3 (measured 1.9 min),
#: speech tokens 4 -> 7 (codec training 3.8 min, tokenizing, probes and notebook 02's comparison: 6.6 min), text
#: teacher 9 -> 13, generation and metrics 12 -> 8, figures 3 -> 2 (notebooks 00, 08 and 09: 0.6 min).
CPU_BUDGET_MINUTES: dict[str, float] = {
    "corpus": 3,
    "speech tokens": 7,
    "text teacher": 13,  # 3,000 steps: about 12.5 min idle with the gate (2,000 steps passed it by noise only)
    "captioner trainings": 17,  # 12 trainings (4 trained variants x 3 seeds) of 150 steps, 66-89 s each idle
    "preference candidates": 4,
    "DPO runs": 6,
    "generation and metrics": 8,
    "figures and kernel start-up": 2,
}


def stage_configs() -> dict[str, type[StageConfig]]:
    """Stage name -> config class, from :data:`STAGE_MODULES` (imported here by name: the configs live in the stage
    subpackages above ``core``)."""
    for module in STAGE_MODULES:
        importlib.import_module(module)
    found: dict[str, type[StageConfig]] = {}
    stack = list(StageConfig.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.stage:
            if cls.stage in found and found[cls.stage] is not cls:
                raise ValueError(f"two configs claim stage {cls.stage!r}: {found[cls.stage]} and {cls}")
            found[cls.stage] = cls
    return found


def preset_table() -> list[dict[str, Any]]:
    """One row per overridden field: ``{"stage", "field", "smoke", "cpu", "paper"}`` (effective values)."""
    rows: list[dict[str, Any]] = []
    configs = stage_configs()
    for stage, cls in configs.items():
        fields = sorted({f for p in PRESET_NAMES for f in PRESETS[p].get(stage, {})})
        built = {p: cls.for_preset(p).to_dict() for p in PRESET_NAMES}
        rows.extend({"stage": stage, "field": f, **{p: built[p][f] for p in PRESET_NAMES}} for f in fields)
    return rows
