"""Terraform itself accepts every environment: `terraform validate` against the real AWS provider.

Runs offline: the provider comes from a local filesystem mirror (hashicorp/aws 5.100.0 on these
machines; the bindings pin 6.25.0, so a scratch copy is pointed at the mirrored version and at a
local backend). The product's own output is never modified. Skipped, with the reason shown, where
Terraform or the mirror is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SynthesizedStack

MIRROR_CANDIDATES = [os.environ.get("BLUEGREEN_TF_MIRROR", ""), "/opt/tf-plugins", "/usr/share/terraform/plugins"]
PROVIDER = Path("registry.terraform.io/hashicorp/aws")


def find_mirror() -> tuple[Path, str] | None:
    for candidate in filter(None, MIRROR_CANDIDATES):
        versions = sorted((Path(candidate) / PROVIDER).glob("*/linux_amd64"))
        if versions:
            return Path(candidate), versions[-1].parent.name
    return None


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str], str]:
    binary = shutil.which("terraform")
    mirror = find_mirror()
    if binary is None:
        pytest.skip("terraform is not on PATH")
    if mirror is None:
        pytest.skip(f"no filesystem mirror of hashicorp/aws in {[c for c in MIRROR_CANDIDATES if c]}")
    path, version = mirror
    rc = tmp_path_factory.mktemp("tf") / "cli.tfrc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{path}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
        '  direct { exclude = ["registry.terraform.io/hashicorp/aws"] }\n}\n'
    )
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return binary, env, version


def offline_copy(stack: SynthesizedStack, folder: Path, provider_version: str) -> None:
    """Scratch copy: only the provider version and the backend change."""
    document = json.loads(stack.file.read_text())
    document["terraform"].pop("backend", None)
    document["terraform"]["required_providers"]["aws"]["version"] = provider_version
    (folder / "main.tf.json").write_text(json.dumps(document))


@pytest.mark.slow
def test_terraform_validate_accepts_the_stack(
    stack: SynthesizedStack, terraform: tuple[str, dict[str, str], str], tmp_path: Path
) -> None:
    binary, env, version = terraform
    offline_copy(stack, tmp_path, version)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args, "-no-color"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    init = run("init", "-backend=false", "-input=false")
    assert init.returncode == 0, init.stderr[-3000:]
    report = json.loads(run("validate", "-json").stdout)
    problems = [f"{d['severity']}: {d['summary']}: {d.get('detail', '')[:300]}" for d in report["diagnostics"]]
    assert report["valid"] is True, "\n".join(problems)
    assert [p for p in problems if p.startswith("error")] == []
