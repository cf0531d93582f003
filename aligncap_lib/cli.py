"""The ``aligncap`` command: the batch face of each stage.

Each subcommand lives in its stage's module, which provides ``add_arguments(parser)`` and ``run(args) -> int``.
Only the chosen subcommand's module is imported, so ``aligncap --help`` is fast and a stage that needs heavy
libraries (torch, Java) costs nothing to the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: name -> (module, one-line help). In pipeline order.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "corpus": (
        "aligncap_lib.corpus.speech_corpus",
        "generate and measure the synthetic emotional-speech corpus",
    ),
    "tokenize": (
        "aligncap_lib.tokens.speech_tokens",
        "fit the speech tokenizer, tokenize the corpus, probe the tokens",
    ),
    "clues": (
        "aligncap_lib.clues.emotion_clues",
        "parse emotional clues from captions or measure them from audio",
    ),
    "evaluate": (
        "aligncap_lib.evaluation.scoring",
        "score captions: BLEU, METEOR, ROUGE-L, CIDEr, hallucination",
    ),
    "train": ("aligncap_lib.experiment.grid", "train the text teacher, SFT, KD or PO stage of a variant"),
    "pairs": (
        "aligncap_lib.preference.po_regularization",
        "sample candidates, judge them and build preference pairs",
    ),
    "extras": (
        "aligncap_lib.analysis.extras",
        "the sweeps beyond the default run: KD weight, data size, oracle-truth judge, preference-set size",
    ),
    "caption": ("aligncap_lib.export.inference", "caption your own audio files with an exported model"),
    "export": (
        "aligncap_lib.export.exporter",
        "export a trained variant as a shareable model folder (model card, checksums)",
    ),
    "reproduce": ("aligncap_lib.reproduce", "run the notebooks in order with papermill"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aligncap",
        description="AlignCap companion: speech emotion captioning with KD- and PO-Regularization.",
        epilog="Each subcommand takes --work runs/<preset> (or explicit paths) so that they chain.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    cmds = SUBCOMMANDS
    parser = build_parser(command if command in cmds else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(cmds[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
