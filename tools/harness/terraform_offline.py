"""Run Terraform on a synthesized stack without AWS: validate, plan, and apply into an emulator.

The stack's own output is never touched. A scratch copy is rewritten with only what running
offline needs:
- the provider version, to the one in the local filesystem mirror (no registry here);
- the backend, to local state;
- for plans, dummy credentials and the provider's skip flags;
- for the emulator, every service endpoint pointed at it.

    python -m tools.harness.terraform_offline validate [--env NAME]
    python -m tools.harness.terraform_offline plan [--env NAME]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = Path("registry.terraform.io/hashicorp/aws")
MIRROR_CANDIDATES = ("/opt/tf-plugins", "/usr/share/terraform/plugins", "~/.terraform.d/plugins")
#: AWS provider endpoint keys of every service the stacks use (codeconnections: see emulator_document).
EMULATED_SERVICES = (
    "appautoscaling", "cloudwatch", "codebuild", "codedeploy", "codepipeline", "codestarnotifications", "ec2", "events",
    "backup", "ecr", "ecs", "elbv2", "iam", "kms", "lambda", "logs", "rds", "route53", "s3", "secretsmanager", "sns",
    "servicediscovery", "sts", "wafv2",
)  # fmt: skip
#: What every offline provider gets: dummy keys, and no call to AWS to check them or the region.
OFFLINE_PROVIDER = {
    "access_key": "offline",
    "secret_key": "offline",
    "skip_credentials_validation": True,
    "skip_metadata_api_check": True,
    "skip_region_validation": True,
}


@dataclass(frozen=True)
class Toolchain:
    terraform: str
    mirror: Path
    provider_version: str


def find_toolchain() -> Toolchain | str:
    """The Terraform binary and provider mirror, or the reason they cannot be used."""
    binary = shutil.which("terraform")
    if binary is None:
        return "terraform is not on PATH"
    candidates = [os.environ.get("BLUEGREEN_TF_MIRROR", ""), *MIRROR_CANDIDATES]
    for candidate in filter(None, candidates):
        versions = sorted((Path(candidate).expanduser() / PROVIDER).glob("*/linux_amd64"))
        if versions:
            return Toolchain(binary, Path(candidate).expanduser(), versions[-1].parent.name)
    return f"no filesystem mirror of hashicorp/aws in {', '.join(c for c in candidates if c)} (set BLUEGREEN_TF_MIRROR)"


def offline_document(document: dict[str, Any], provider_version: str, *, plan: bool) -> dict[str, Any]:
    """The stack with the mirrored provider and local state; with ``plan``, dummy credentials too."""
    result = copy.deepcopy(document)
    result["terraform"].pop("backend", None)
    result["terraform"]["required_providers"]["aws"]["version"] = provider_version
    if plan:
        result = _plan_without_generated_passwords(result)
        for provider in result["provider"]["aws"]:
            # No STS to ask; the account id is not needed to plan. (Not used against the
            # emulator: the provider would then miss the account and diff forever.)
            provider.update(OFFLINE_PROVIDER, skip_requesting_account_id=True)
            provider.pop("allowed_account_ids", None)  # cannot be checked without asking STS
    return result


#: Stands in for a password Secrets Manager would generate: write-only arguments never reach the
#: plan or the state, so the plan's shape does not depend on the value.
OFFLINE_PASSWORD = "offline-plan-only-password"  # noqa: S105 - a stand-in, never deployed


def _plan_without_generated_passwords(document: dict[str, Any]) -> dict[str, Any]:
    """Terraform opens ephemeral resources while planning; offline, nothing can answer
    GetRandomPassword. Replace each generated password by a literal (write-only targets only)."""
    passwords = document.pop("ephemeral", {}).get("aws_secretsmanager_random_password", {})
    if not passwords:
        return document
    references = [f"ephemeral.aws_secretsmanager_random_password.{name}.random_password" for name in passwords]

    def replace(value: Any) -> Any:
        if isinstance(value, str):
            for reference in references:
                value = value.replace(reference, f'"{OFFLINE_PASSWORD}"')
            return value
        if isinstance(value, dict):
            return {k: replace(v) for k, v in value.items()}
        if isinstance(value, list):
            return [replace(v) for v in value]
        return value

    replaced: dict[str, Any] = replace(document)
    return replaced


def emulator_document(document: dict[str, Any], provider_version: str, endpoint: str) -> dict[str, Any]:
    """The stack pointed at an AWS emulator listening on ``endpoint``."""
    result = offline_document(document, provider_version, plan=False)
    for provider in result["provider"]["aws"]:
        provider.update(
            OFFLINE_PROVIDER,
            s3_use_path_style=True,
            # One HTTP 500 from the emulator otherwise keeps the provider retrying for 10+ minutes.
            max_retries=2,
            endpoints=[{service: endpoint for service in EMULATED_SERVICES}],
        )
    return result


def without_deletion_protection(document: dict[str, Any]) -> dict[str, Any]:
    """What an operator does before destroying: switch deletion protection and prevent_destroy off."""
    result = copy.deepcopy(document)
    for resources in result["resource"].values():
        for body in resources.values():
            body.get("lifecycle", {}).pop("prevent_destroy", None)
    for cluster in result["resource"].get("aws_rds_cluster", {}).values():
        cluster["deletion_protection"] = False
        cluster["skip_final_snapshot"] = True
    for balancer in result["resource"].get("aws_lb", {}).values():
        balancer["enable_deletion_protection"] = False
    return result


def needs_newer_provider(document: dict[str, Any], provider_version: str) -> str | None:
    """Why the mirrored provider cannot run this stack, or None if it can."""
    major, minor = (int(part) for part in provider_version.split(".")[:2])
    services = document.get("resource", {}).get("aws_ecs_service", {}).values()
    if (major, minor) < (6, 4) and any("deployment_configuration" in s for s in services):
        return f"ECS-native blue/green (deployment_configuration.strategy) needs hashicorp/aws >= 6.4; the mirror has {provider_version}"  # noqa: E501
    return None


def resource_count(document: dict[str, Any]) -> int:
    return sum(len(resources) for resources in document.get("resource", {}).values())


class Workspace:
    """A scratch folder holding one rewritten copy of a stack, and Terraform run in it."""

    def __init__(self, toolchain: Toolchain, folder: Path) -> None:
        self.toolchain = toolchain
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        rc = folder / "cli.tfrc"
        rc.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{toolchain.mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
        )
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(rc),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(folder / ".terraform"),
        }

    def write(self, document: dict[str, Any], stack_folder: Path | None = None) -> None:
        """Write the rewritten stack; copy its cdktf assets (e.g. Lambda archives) from ``stack_folder``."""
        (self.folder / "main.tf.json").write_text(json.dumps(document, indent=1))
        if stack_folder is not None and (stack_folder / "assets").is_dir():
            shutil.copytree(stack_folder / "assets", self.folder / "assets", dirs_exist_ok=True)

    def run(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.toolchain.terraform, *args, "-no-color"],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def init(self) -> subprocess.CompletedProcess[str]:
        return self.run("init", "-backend=false", "-input=false")

    def validate(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.run("validate", "-json").stdout)
        return report

    def plan(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("plan", "-input=false", "-lock=false", "-out=plan.bin", *extra)

    def show_plan(self) -> dict[str, Any]:
        shown = self.run("show", "-json", "plan.bin")
        plan: dict[str, Any] = json.loads(shown.stdout)
        return plan


def stack_files(envs: list[str]) -> dict[str, Path]:
    """Synthesize the environments (one process) and return their cdk.tf.json files."""
    out = Path(tempfile.mkdtemp(prefix="bluegreen-synth-"))
    args = [sys.executable, "main.py", "--outdir", str(out), *(a for env in envs for a in ("--env", env))]
    listed = subprocess.run([*args, "--list-stacks"], cwd=ROOT, capture_output=True, text=True, check=True)
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return {name: out / "stacks" / name / "cdk.tf.json" for name in listed.stdout.split()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["validate", "plan"])
    parser.add_argument("--env", action="append", default=[], help="environment (repeatable; default: all)")
    args = parser.parse_args(argv)
    toolchain = find_toolchain()
    if isinstance(toolchain, str):
        print(f"cannot run Terraform offline: {toolchain}", file=sys.stderr)
        return 2
    failed = 0
    for name, file in stack_files(args.env).items():
        document = json.loads(file.read_text())
        reason = needs_newer_provider(document, toolchain.provider_version)
        if reason:
            print(f"{name}: skipped: {reason}")
            continue
        workspace = Workspace(toolchain, Path(tempfile.mkdtemp(prefix=f"{name}-")))
        workspace.write(
            offline_document(document, toolchain.provider_version, plan=args.command == "plan"), file.parent
        )
        init = workspace.init()
        if init.returncode != 0:
            print(f"{name}: terraform init failed\n{init.stderr}", file=sys.stderr)
            failed += 1
            continue
        if args.command == "validate":
            report = workspace.validate()
            print(f"{name}: {'valid' if report['valid'] else 'INVALID'}")
            for diagnostic in report["diagnostics"]:
                print(f"  {diagnostic['severity']}: {diagnostic['summary']} {diagnostic.get('detail', '')}")
            failed += not report["valid"]
        else:
            result = workspace.plan()
            summary = next((line for line in result.stdout.splitlines() if line.startswith("Plan:")), result.stderr)
            print(f"{name}: {summary} (synthesized: {resource_count(document)} resources)")
            failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
