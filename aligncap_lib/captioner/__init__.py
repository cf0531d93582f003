"""The captioner (notebook 05): a causal LM that reads an instruction, optional clues and speech units, and
writes a caption.

``model`` (the LM, its tokenizer, LoRA, runtime), ``prompts`` (the speech and text views of a clip), ``inputs``
(what the captioner reads per clip, from the upstream stages), ``generation`` (decoding) and ``variants`` (the
ablation variants: what each reads and how it trains).
"""

from aligncap_lib.captioner.generation import DecodingConfig, generate_captions
from aligncap_lib.captioner.model import (
    CaptionerConfig,
    LoRAConfig,
    RuntimeConfig,
    attach_lora,
    build_model,
    load_model,
    save_model,
)
from aligncap_lib.captioner.prompts import CaptionExample, build_prompt, example_prompt
from aligncap_lib.captioner.variants import VARIANTS, Variant, clip_examples, get_variant

__all__ = [
    "VARIANTS", "CaptionExample", "CaptionerConfig", "DecodingConfig", "LoRAConfig", "RuntimeConfig", "Variant",
    "attach_lora", "build_model", "build_prompt", "clip_examples", "example_prompt", "generate_captions",
    "get_variant", "load_model", "save_model",
]  # fmt: skip
