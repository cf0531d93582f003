"""The captioner: a causal LM that reads an instruction, optional clues and speech units, and writes a caption.

CPU presets (``base_model = ""``): a small Qwen2-architecture LM built from a transformers config (4 layers,
d=256, about 3-4M parameters; measured here: about 6k tokens/s on 2 cores) with a byte-level BPE tokenizer trained
here with ``tokenizers`` on the ``train`` split's text side only (captions, transcripts, the prompt templates),
plus the speech-unit tokens and our special tokens. It is first trained on text (:mod:`aligncap_lib.training.text_teacher`)
so that it plays the part of the pretrained LLM.

``paper`` preset: ``base_model`` names any Hugging Face causal LM by local path or hub id; its own tokenizer
is kept and the speech-unit and special tokens are added (embeddings resized).

The student is this LM with LoRA (peft) and the speech-unit embeddings trainable through peft's
``trainable_token_indices`` (measured here: plain LoRA leaves added-token embeddings untrained).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from aligncap_lib.core.presets import StageConfig, plumbing_field
from aligncap_lib.core.processes import use_cpu
from aligncap_lib.core.reproducibility import quiet_progress

#: Special tokens of our tokenizer (a hub tokenizer keeps its own EOS/pad and gets the language tags).
EOS, PAD = "<|endoftext|>", "<|pad|>"
LANG_TAGS: dict[str, str] = {"en": "<|lang_en|>", "zh": "<|lang_zh|>"}
SPEECH_OPEN, SPEECH_CLOSE = "<|speech|>", "<|/speech|>"
SPECIAL_TOKENS: tuple[str, ...] = (EOS, PAD, *LANG_TAGS.values(), SPEECH_OPEN, SPEECH_CLOSE)


@dataclasses.dataclass(frozen=True)
class CaptionerConfig(StageConfig):
    """The captioner LM and its tokenizer: architecture only (its training schedule is
    :class:`aligncap_lib.training.kd_trainer.ScheduleConfig`, its decoding :class:`aligncap_lib.captioner.generation.DecodingConfig`,
    where and how it runs :class:`RuntimeConfig`). Defaults: the ``cpu`` preset."""

    stage: ClassVar[str] = "captioner"

    #: "" builds the tiny LM below; otherwise a local path or hub id of a causal LM (``paper`` preset).
    base_model: str = ""
    vocab_size: int = 2000  # BPE merges on ~1.4k train clips x 3 captions: enough for whole words in EN
    n_layers: int = 4  # measured here: 4 layers, d=256 trained in seconds and carried the task
    d_model: int = 256
    n_heads: int = 4
    d_ff: int = 512
    max_positions: int = 256  # prompt (<= ~130 with 100 speech units) + caption (<= ~60)
    max_caption_tokens: int = 64

    def validate(self) -> None:
        self._positive("vocab_size", "n_layers", "d_model", "n_heads", "d_ff", "max_positions")
        self._positive("max_caption_tokens")
        self._require(self.d_model % self.n_heads == 0, f"d_model {self.d_model} not divisible by n_heads")


@dataclasses.dataclass(frozen=True)
class RuntimeConfig(StageConfig):
    """Where and how the LM runs. CPU presets: fp32 on the CPU, as every committed result; ``paper``: a GPU,
    bf16 autocast (base weights stored in bf16, LoRA weights and optimizer states fp32), gradient checkpointing."""

    stage: ClassVar[str] = "runtime"

    device: str = "cpu"  # "cpu" | "cuda" | "auto" (a GPU when torch sees one)
    precision: str = "fp32"  # "fp32" | "bf16"
    attn_implementation: str = "sdpa"  # transformers' default on torch 2.x; "eager" to debug
    gradient_checkpointing: bool = plumbing_field(False)  # memory for time: the same numbers (non-reentrant)

    def validate(self) -> None:
        self._one_of("device", ("cpu", "cuda", "auto"))
        self._one_of("precision", ("fp32", "bf16"))
        self._one_of("attn_implementation", ("sdpa", "eager", "flash_attention_2"))


@dataclasses.dataclass(frozen=True)
class LoRAConfig(StageConfig):
    """The student's LoRA adapter (SFT, KD and the DPO start's targets): one owner, hashed by every stage that
    trains an adapter. Defaults: the ``cpu`` preset; the paper states none of them."""

    stage: ClassVar[str] = "lora"

    #: rank/alpha: twice peft's examples' r=8, alpha=16 (a new input modality through a 4-layer LM);
    #: dropout 0 keeps resume and seeds bit-exact.
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    #: every linear layer of the tiny LM (attention and MLP): with 4 layers, attention alone was too little
    #: capacity to learn a new input modality.
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

    def validate(self) -> None:
        self._probability("dropout")
        self._positive("r", "alpha")
        self._require(len(self.targets) > 0, "targets must name at least one module")


def train_tokenizer(texts: Iterable[str], unit_tokens: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (``PreTrainedTokenizerFast``) trained on ``texts`` (the ``train`` split's
    text side only), with our special tokens and the speech-unit tokens (e.g. ``<su_17>``) added whole.

    Deterministic for the same texts (order included) and vocabulary size.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    if not texts:
        raise ValueError("train_tokenizer: no training text (is the train split empty?)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte stays encodable (unseen Chinese)
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD)
    return add_captioner_tokens(fast, unit_tokens)


def add_captioner_tokens(tokenizer: Any, unit_tokens: Sequence[str]) -> Any:
    """Add the language tags, speech brackets and speech units (whole tokens) to any tokenizer; returns it."""
    from tokenizers import AddedToken

    missing = [t for t in SPECIAL_TOKENS if t not in tokenizer.get_vocab() and t not in (EOS, PAD)]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    if tokenizer.pad_token is None:  # hub LMs often have none; padding positions are masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    new_units = [u for u in unit_tokens if u not in tokenizer.get_vocab()]
    tokenizer.add_tokens([AddedToken(u, normalized=False, single_word=False) for u in new_units])
    return tokenizer


def unit_token_ids(tokenizer: Any, unit_tokens: Sequence[str]) -> list[int]:
    """Vocabulary ids of the speech-unit tokens (for ``trainable_token_indices``)."""
    vocab = tokenizer.get_vocab()
    missing = [u for u in unit_tokens if u not in vocab]
    if missing:
        raise ValueError(f"{len(missing)} speech-unit token(s) not in the tokenizer, e.g. {missing[:3]}")
    return [vocab[u] for u in unit_tokens]


def build_model(
    cfg: CaptionerConfig, tokenizer: Any, *, seed: int = 0, runtime: RuntimeConfig | None = None
) -> Any:
    """The base LM: the tiny Qwen2 LM from ``cfg`` (random init from ``seed``), or ``cfg.base_model`` loaded
    with its embeddings resized to ``len(tokenizer)``, stored in ``runtime``'s precision (default fp32, SDPA).
    Dropout is 0 (bit-exact resume and seeds)."""
    runtime = runtime or RuntimeConfig()
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

    if cfg.base_model:
        model = AutoModelForCausalLM.from_pretrained(
            cfg.base_model, dtype=torch_dtype(runtime), attn_implementation=runtime.attn_implementation
        )
        if model.get_input_embeddings().weight.shape[0] < len(tokenizer):  # type: ignore[index]
            model.resize_token_embeddings(len(tokenizer))
        return model
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=False,  # the speech-unit rows of the input embedding train alone (peft)
        attention_dropout=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation=runtime.attn_implementation,  # type: ignore[call-arg]  # a PretrainedConfig kwarg
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Qwen2ForCausalLM(config).to(torch_dtype(runtime))


def runtime_flags(runtime: RuntimeConfig | None = None) -> tuple[bool, bool, bool]:
    """``(use_cpu, bf16, gradient_checkpointing)`` of a :class:`RuntimeConfig` for the trainers' arguments; ``None``: fp32 on the CPU without checkpointing (the tests' tiny models)."""

    if runtime is None:
        return True, False, False
    return use_cpu(runtime.device), runtime.precision == "bf16", runtime.gradient_checkpointing


def torch_dtype(runtime: RuntimeConfig | None) -> Any:
    """The dtype the base LM's weights are stored in: bf16 under ``precision="bf16"`` (Trainer's autocast does
    the arithmetic; peft keeps the adapter in fp32), else fp32. ``runtime`` None: fp32."""
    import torch

    return torch.bfloat16 if runtime is not None and runtime.precision == "bf16" else torch.float32


def load_base_tokenizer(cfg: CaptionerConfig, texts: Iterable[str], unit_tokens: Sequence[str]) -> Any:
    """Our trained tokenizer (tiny LM) or the hub model's own tokenizer with our tokens added (``paper``)."""
    if cfg.base_model:
        from transformers import AutoTokenizer

        return add_captioner_tokens(AutoTokenizer.from_pretrained(cfg.base_model), unit_tokens)
    return train_tokenizer(texts, unit_tokens, cfg.vocab_size)


def attach_lora(
    model: Any, unit_ids: Sequence[int], lora: LoRAConfig, *, gradient_checkpointing: bool = False
) -> Any:
    """Wrap ``model`` with a LoRA adapter named ``default`` whose speech-unit embedding rows (``unit_ids``)
    train too; ``disable_adapter()`` then gives back the unchanged base (the KD teacher).

    With ``gradient_checkpointing`` the LoRA input-gradient fix is applied first: the frozen embedding's output
    gets ``requires_grad``, without which reentrant checkpointing of a frozen base passes no gradient to the
    adapters (peft's ``prepare_model_for_kbit_training`` does the same)."""
    from peft import LoraConfig, get_peft_model

    if gradient_checkpointing:
        model.enable_input_require_grads()

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.targets),
        trainable_token_indices={"embed_tokens": list(unit_ids)},
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def save_model(model: Any, tokenizer: Any, directory: Path) -> Path:
    """Save a plain (merged) causal LM and its tokenizer in safetensors; returns ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def load_model(directory: Path | str, runtime: RuntimeConfig | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a folder written by :func:`save_model` (or any HF causal-LM folder); with a
    :class:`RuntimeConfig` in its precision and attention implementation (default fp32, SDPA)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": torch_dtype(runtime)}
    if runtime is not None:
        kwargs["attn_implementation"] = runtime.attn_implementation
    with quiet_progress():  # transformers 5 draws a "Loading weights" bar on stderr for every load
        model = AutoModelForCausalLM.from_pretrained(str(directory), **kwargs)
        return model.eval(), AutoTokenizer.from_pretrained(str(directory))


def to_device(model: Any, runtime: RuntimeConfig | None = None) -> Any:
    """``model`` on the GPU when ``runtime`` runs there, else unchanged (CPU)."""

    return model if runtime is None or use_cpu(runtime.device) else model.to("cuda")


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
