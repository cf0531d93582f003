"""aligncap_lib: the library behind the AlignCap companion notebooks (Liang, Shi, Chen, EMNLP 2024,
arXiv 2410.19134).

One subpackage per stage of the paper's pipeline, in the order imports may go (a module imports only from its own
subpackage and those before it; ``.importlinter`` checks this in CI). Each subpackage's ``__init__`` is its public
face.

=============  ============================================================================  ========
subpackage     what it holds                                                                  notebook
=============  ============================================================================  ========
``core``       stage configs and presets, the run folder and its stage cache, seeds and        00
               results JSON, audio I/O, the manifest and the slot schema, process helpers
``corpus``     the synthetic espeak-ng corpus (render, measure, verify, label, caption) and   01
               the real SECap data
``tokens``     speech tokens: the codec (trained here or EnCodec), the units the LLM reads,   02
               the probe
``clues``      the emotion grammar parser (clues from captions) and the acoustic analyzer     03
               (clues from audio)
``evaluation`` BLEU@4, METEOR, ROUGE-L, CIDEr, slot metrics, hallucination, intervals         04
``captioner``  the LM, its prompts, its inputs, decoding, the ablation variants               05
``training``   the text teacher, KD-Regularization, the SFT and KD students, baselines        05
``preference`` PO-Regularization: judges, preference pairs, DPO                               06
``experiment`` the variant x seed grid and ``aligncap train``                                 05-07
``export``     a trained variant as a shareable folder; captioning your own audio            09
``analysis``   the summary over seeds and clips, ablations and claims                         05-07
``figures``    every figure, drawn from ``results/``                                          08
=============  ============================================================================  ========

Above them: ``cli`` (the ``aligncap`` command), ``reproduce`` (every notebook through papermill) and
``distributed_check`` (a 2-process run of the KD and DPO stages against a 1-process one).
"""

import warnings as _warnings

__version__ = "0.1.0.dev0"

# why: libraries import tqdm.auto, which warns once per kernel that ipywidgets is missing (we do not need the
# widget: progress goes to stderr or is off); the warning would land in every notebook's stderr
_warnings.filterwarnings("ignore", message="IProgress not found")
