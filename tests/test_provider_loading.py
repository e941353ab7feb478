"""The lazy provider loader (modules/_provider.py) changes nothing in the output, only the cost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SynthesizedStack

NAIVE = """
import sys
import cdktf_cdktf_provider_aws  # the package __init__: all ~2,200 submodules
import main
from config import load_config
main.synthesize([load_config("config/prod.yaml")], sys.argv[1])
"""


@pytest.mark.slow
def test_lazy_loading_synthesizes_byte_identical_json(synthesized: dict[str, SynthesizedStack], tmp_path: Path) -> None:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    subprocess.run([sys.executable, "-c", NAIVE, str(tmp_path)], cwd=ROOT, env=env, check=True, timeout=600)
    naive = (tmp_path / "stacks" / "bluegreen-prod" / "cdk.tf.json").read_bytes()
    assert naive == synthesized["prod"].file.read_bytes()
