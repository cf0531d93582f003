"""The `aligncap` command: help lists every stage subcommand, each module speaks the CLI protocol."""

from __future__ import annotations

import shutil
import subprocess
import sys

from aligncap_lib import cli


def test_help_lists_available_subcommands(capsys):
    assert cli.main([]) == 0
    text = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in text


def test_console_script_is_installed():
    exe = shutil.which("aligncap") or shutil.which(
        "aligncap", path=str(__import__("pathlib").Path(sys.executable).parent)
    )
    assert exe, "the `aligncap` console script is not on PATH"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "reproduce" in out.stdout


def test_every_listed_module_provides_the_cli_protocol():
    import importlib

    for name, (module, _) in cli.SUBCOMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(getattr(mod, "add_arguments", None)), f"{module} lacks add_arguments for `{name}`"
        assert callable(getattr(mod, "run", None)), f"{module} lacks run for `{name}`"
