"""The environment: pins agree between pyproject.toml and environment.yml; the torchaudio trap is closed."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml


def _pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", req.strip())
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_agrees_with_pyproject(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    py = _pins(declared)
    assert len(py) == len(declared), "every pyproject dependency is pinned with =="
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip_section)
    assert conda == py, f"differ: {sorted(set(conda.items()) ^ set(py.items()))}"
    assert "-e ." in pip_section
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


def test_gpu_extras_stay_out_of_the_default_install(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[=<>]", d)[0].lower() for d in project["dependencies"]}
    assert "deepspeed" not in names and "deepspeed" in project["optional-dependencies"]["gpu"][0]


def test_encodec_imports_and_builds_offline():
    # A fresh interpreter, as a user would: the torchaudio native-library trap shows up at import time.
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from encodec import EncodecModel\n"
        "m = EncodecModel.encodec_model_24khz(pretrained=False)\n"
        "print(m.sample_rate, sum(p.numel() for p in m.parameters()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rate, params = out.stdout.split()
    assert rate == "24000" and int(params) > 10_000_000
