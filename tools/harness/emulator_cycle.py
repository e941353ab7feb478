"""Apply a stack into moto, re-plan it (no changes expected), destroy it: the emulator cycle.

    python -m tools.harness.emulator_cycle [ENV ...] [--keep DIR]    # default: every shipped environment
    python -m tools.harness.emulator_cycle path/to/config.yaml       # any config file
    python -m tools.harness.emulator_cycle ENV --upgrade-from OLD_OUTDIR

--upgrade-from applies the stack an earlier version synthesized into OLD_OUTDIR (with
``--synthesize-only --outdir``, run in that version's checkout), then plans this version's stack
against it: the upgrade passes when nothing is destroyed or replaced (``moved`` blocks carry every
resource whose address changed), and the cycle then re-plans and destroys as usual.

Set BLUEGREEN_TF_LOG=DEBUG to keep each Terraform step's provider log (<step>.tflog) beside <step>.log.

What a real account already holds before `cdktf deploy` (README, "Deploying") is created in the
emulator first, and a scratch copy of the stack points at it:
- the ACM certificate of the HTTPS listeners, in each region (a self-signed one is imported);
- the public hosted zone of DNS failover records (created empty);
- the CodeConnections connection (moto has no such service: the stacks are synthesized with an
  existing connection's ARN, as `pipeline.connection_arn` allows).
The product's own output is never modified; emulator defects are patched in tools/harness/emulator_patches.py.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.harness.terraform_offline import (
    ROOT,
    Toolchain,
    Workspace,
    emulator_document,
    find_toolchain,
    resource_count,
    without_deletion_protection,
)

#: The stand-in for a connection approved once in the console (README, "Deploying", step 3).
CONNECTION_ID = "00000000-0000-4000-8000-00000000c0de"
#: Bounded waits, in seconds.
EMULATOR_START_TIMEOUT = 60
APPLY_TIMEOUT = 600
PLAN_TIMEOUT = 300
DESTROY_TIMEOUT = 600
PARALLELISM = "-parallelism=20"


#: Endpoint keys that are aliases of another key (hashicorp/aws 5.100 warns when both are set).
ENDPOINT_ALIASES = frozenset((
    "amg", "appintegrationsservice", "applicationautoscaling", "appregistry", "beanstalk", "cloudcontrolapi",
    "cloudhsm", "cloudwatchevents", "cloudwatchevidently", "cloudwatchlog", "cloudwatchlogs",
    "cloudwatchobservabilityaccessmanager", "cloudwatchrum", "cognitoidentityprovider", "config",
    "costandusagereportservice", "costexplorer", "databasemigration", "databasemigrationservice", "deploy",
    "directoryservice", "elasticloadbalancing", "elasticloadbalancingv2", "elasticsearchservice", "es", "eventbridge",
    "gluedatabrew", "inspectorv2", "lex", "lexmodelbuilding", "lexmodelbuildingservice", "lexmodelsv2",
    "locationservice", "managedgrafana", "msk", "opensearchingestion", "opensearchservice", "prometheus",
    "prometheusservice", "recyclebin", "redshiftdataapiservice", "resourcegroupstagging", "s3api", "sdb",
    "serverlessapplicationrepository", "serverlessapprepo", "stepfunctions", "transcribeservice",
))  # fmt: skip


def all_services_at(document: dict[str, Any], endpoint_keys: list[str]) -> dict[str, Any]:
    """Every endpoint the provider knows pointed at the emulator: no request can leave for a real AWS endpoint.

    (terraform_offline.EMULATED_SERVICES lists the services of the stacks so far; a stack that starts
    using another service must not reach out, it must fail against the emulator.)
    """
    result = copy.deepcopy(document)
    for provider in result["provider"]["aws"]:
        endpoints = provider["endpoints"][0]
        emulator = next(iter(endpoints.values()))
        endpoints.update({key: emulator for key in endpoint_keys if key not in ENDPOINT_ALIASES})
    return result


def connection_arn(region: str, account_id: str) -> str:
    return f"arn:aws:codeconnections:{region}:{account_id}:connection/{CONNECTION_ID}"


@dataclass(frozen=True)
class Target:
    """One environment to cycle: its synthesized stack and the account and region it must run in."""

    env: str
    account_id: str
    region: str
    stack: Path


def config_file(env: str) -> Path:
    """A shipped environment's config, or (a path ending in .yaml) any config file."""
    from config import config_path

    return Path(env) if env.endswith((".yaml", ".yml")) else config_path(env)


def _synthesize_here(envs: list[str], outdir: Path) -> None:
    """In this process: load the configs, point them at an existing connection, synthesize."""
    import main
    from config import load_config

    configs = []
    for env in envs:
        config = load_config(config_file(env))
        pipeline = config.pipeline.model_copy(
            update={"connection_arn": connection_arn(config.region, config.account_id)}
        )
        configs.append(config.model_copy(update={"pipeline": pipeline}))
    main.synthesize(configs, str(outdir))


def synthesize(envs: list[str], outdir: Path) -> dict[str, Target]:
    """Synthesize the environments for the emulator in one subprocess (the provider bindings load once)."""
    from config import load_config

    subprocess.run(
        [sys.executable, "-m", "tools.harness.emulator_cycle", "--synthesize-only", "--outdir", str(outdir), *envs],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    targets = {}
    for env in envs:
        config = load_config(config_file(env))
        stack = outdir / "stacks" / config.names.prefix / "cdk.tf.json"
        targets[env] = Target(env, config.account_id, config.region, stack)
    return targets


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Emulator:
    """moto's server on 127.0.0.1, started with the patches, for one account."""

    def __init__(self, account_id: str, log: Path, port: int | None = None) -> None:
        self.account_id = account_id
        self.port = port or free_port()
        self.log = log
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = EMULATOR_START_TIMEOUT) -> None:
        args = [
            sys.executable,
            "-m",
            "tools.harness.aws_emulator",
            "--port",
            str(self.port),
            "--account-id",
            self.account_id,
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"emulator did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def patches(self) -> list[str]:
        """The patch names the server printed at start-up."""
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("emulator patches: "):
                return [name for name in line.removeprefix("emulator patches: ").split(", ") if name != "none"]
        return []

    def client(self, service: str, region: str) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="offline",
            aws_secret_access_key="offline",  # noqa: S106 - the emulator's dummy credentials
        )


@contextlib.contextmanager
def running_emulator(account_id: str, log: Path) -> Iterator[Emulator]:
    emulator = Emulator(account_id, log)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def self_signed_certificate(domain: str) -> tuple[bytes, bytes]:
    """A PEM certificate and its private key, valid for a year."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), pem_key


def create_prerequisites(emulator: Emulator, target: Target, document: dict[str, Any]) -> dict[str, str]:
    """What the account holds before the stack is applied: a certificate in each region the stack
    uses (the DR region's too), and the hosted zone of failover records. Returns what the scratch
    copy must use instead of the config's placeholders."""
    regions = {
        "aws" if "alias" not in provider else f"aws.{provider['alias']}": provider["region"]
        for provider in document["provider"]["aws"]
    }
    prerequisites = {}
    for provider, region in regions.items():
        certificate, key = self_signed_certificate(f"{target.env}.bluegreen.example")
        imported = emulator.client("acm", region).import_certificate(Certificate=certificate, PrivateKey=key)
        prerequisites[f"certificate:{provider}"] = str(imported["CertificateArn"])
    # The public hosted zone DNS failover records go into (dr.failover.hosted_zone_id).
    for record in document["resource"].get("aws_route53_record", {}).values():
        if record["zone_id"] not in prerequisites:
            zone = emulator.client("route53", target.region).create_hosted_zone(
                Name=record["name"].split(".", 1)[1], CallerReference=str(time.time())
            )
            prerequisites[record["zone_id"]] = str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]
    return prerequisites


def pointed_at_prerequisites(document: dict[str, Any], prerequisites: dict[str, str]) -> dict[str, Any]:
    """The stack using the emulator's certificates (of each listener's region) and hosted zone
    (the scratch copy only)."""
    for listener in document["resource"].get("aws_lb_listener", {}).values():
        if listener.get("certificate_arn"):
            listener["certificate_arn"] = prerequisites[f"certificate:{listener.get('provider', 'aws')}"]
    for record in document["resource"].get("aws_route53_record", {}).values():
        record["zone_id"] = prerequisites[record["zone_id"]]
    return document


def plan_diff(output: str) -> str:
    """The resource changes of a plan's output (from the first "# ..." to the "Plan:" summary)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("# ")), None)
    end = next((i for i, line in enumerate(lines) if line.startswith("Plan:")), None)
    if start is None or end is None:
        return ""
    return "\n".join(lines[start : end + 1])


def ready_for_teardown(document: dict[str, Any]) -> dict[str, Any]:
    """What an operator changes before destroying: deletion protection off, and buckets that still hold
    logs (ALB and S3 access logs, written all along) emptied on delete, as AWS refuses to delete them otherwise."""
    result = without_deletion_protection(document)
    for bucket in result["resource"].get("aws_s3_bucket", {}).values():
        bucket["force_destroy"] = True
    return result


@dataclass
class Step:
    name: str
    returncode: int
    seconds: float
    log: Path

    def tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@dataclass
class CycleResult:
    env: str
    resources: int
    patches: list[str]
    steps: dict[str, Step] = field(default_factory=dict)

    def summary(self) -> str:
        timings = ", ".join(f"{s.name} {s.seconds:.0f} s (exit {s.returncode})" for s in self.steps.values())
        return f"{self.env}: {self.resources} resources; {timings}"


class Cycle:
    """apply -> plan -detailed-exitcode -> destroy of one environment in a running emulator."""

    def __init__(self, toolchain: Toolchain, target: Target, emulator: Emulator, folder: Path) -> None:
        self.target = target
        self.emulator = emulator
        self.workspace = Workspace(toolchain, folder)
        self.toolchain = toolchain
        stack: dict[str, Any] = json.loads(target.stack.read_text())
        self.document = emulator_document(stack, toolchain.provider_version, emulator.endpoint)
        self.result = CycleResult(target.env, resource_count(stack), emulator.patches())

    def step(self, name: str, *args: str, timeout: int) -> Step:
        """Run terraform, streaming its output to <folder>/<name>.log (watch long runs with tail -f)."""
        log = self.workspace.folder / f"{name}.log"
        env = dict(self.workspace.env)
        if os.environ.get("BLUEGREEN_TF_LOG"):  # e.g. DEBUG: the provider's requests, to <name>.tflog
            env.update(TF_LOG=os.environ["BLUEGREEN_TF_LOG"], TF_LOG_PATH=str(log.with_suffix(".tflog")))
        started = time.monotonic()
        with log.open("w") as out:
            try:
                returncode = subprocess.run(
                    [self.toolchain.terraform, *args, "-no-color"],
                    cwd=self.workspace.folder,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                out.write(f"\n[harness] terraform {name} timed out after {timeout} s\n")
                returncode = -1
        result = Step(name, returncode, time.monotonic() - started, log)
        self.result.steps[name] = result
        return result

    def prepare(self) -> Step:
        """Prerequisites in the emulator, the scratch copy pointed at them and at the emulator, init."""
        prerequisites = create_prerequisites(self.emulator, self.target, self.document)
        self.document = pointed_at_prerequisites(self.document, prerequisites)
        self.workspace.write(self.document, self.target.stack.parent)
        init = self.step("init", "init", "-backend=false", "-input=false", timeout=120)
        if init.returncode == 0:
            self.document = all_services_at(self.document, self.provider_endpoint_keys())
            self.workspace.write(self.document, self.target.stack.parent)
        return init

    def provider_endpoint_keys(self) -> list[str]:
        """The endpoint keys of the initialised AWS provider's configuration schema."""
        shown = self.workspace.run("providers", "schema", "-json", timeout=120)
        schemas: dict[str, Any] = json.loads(shown.stdout)["provider_schemas"]
        aws = next(schema for address, schema in schemas.items() if address.endswith("/hashicorp/aws"))
        return sorted(aws["provider"]["block"]["block_types"]["endpoints"]["block"]["attributes"])

    def apply(self) -> Step:
        return self.step("apply", "apply", "-auto-approve", "-input=false", PARALLELISM, timeout=APPLY_TIMEOUT)

    def replan(self) -> Step:
        return self.step(
            "replan", "plan", "-detailed-exitcode", "-input=false", "-lock=false", PARALLELISM, timeout=PLAN_TIMEOUT
        )

    def plan_of(self, document: dict[str, Any], name: str) -> dict[str, Any]:
        """The JSON plan of ``document`` against what is applied (the workspace's own copy is put back)."""
        self.workspace.write(document, self.target.stack.parent)
        try:
            step = self.step(name, "plan", "-input=false", "-lock=false", "-out=preflight.plan", timeout=PLAN_TIMEOUT)
            if step.returncode != 0:
                raise RuntimeError(f"terraform plan ({name}) failed:\n{step.tail()}")
            shown: dict[str, Any] = json.loads(self.workspace.run("show", "-json", "preflight.plan").stdout)
            return shown
        finally:
            self.workspace.write(self.document, self.target.stack.parent)

    def destroy(self) -> Step:
        """As an operator would: protection off and buckets emptied on delete (apply), then destroy.

        Both run without a refresh: the re-plan just proved the state matches the emulator.
        """
        self.document = ready_for_teardown(self.document)
        self.workspace.write(self.document, self.target.stack.parent)
        args = ("-auto-approve", "-input=false", "-refresh=false", PARALLELISM)
        unprotect = self.step("unprotect", "apply", *args, timeout=APPLY_TIMEOUT)
        if unprotect.returncode != 0:
            return unprotect
        return self.step("destroy", "destroy", *args, timeout=DESTROY_TIMEOUT)


def upgrade_changes(plan: dict[str, Any]) -> tuple[list[str], int]:
    """What a plan destroys or replaces (address and actions), and how many resources it moves."""
    destroyed = [
        f"{change['address']} {'/'.join(change['change']['actions'])}"
        for change in plan.get("resource_changes", [])
        if "delete" in change["change"]["actions"]
    ]
    moved = sum(1 for change in plan.get("resource_changes", []) if change.get("previous_address"))
    return destroyed, moved


def upgrade(toolchain: Toolchain, old: Target, new: Target, folder: Path) -> CycleResult:
    """Apply ``old``, plan ``new`` over it (nothing destroyed or replaced), apply it, re-plan, destroy."""
    folder.mkdir(parents=True, exist_ok=True)
    with running_emulator(old.account_id, folder / "moto.log") as emulator:
        cycle = Cycle(toolchain, old, emulator, folder / "terraform")
        if cycle.prepare().returncode != 0 or cycle.apply().returncode != 0:
            return cycle.result
        stack: dict[str, Any] = json.loads(new.stack.read_text())
        document = emulator_document(stack, toolchain.provider_version, emulator.endpoint)
        document = pointed_at_prerequisites(document, create_prerequisites(emulator, new, document))
        document = all_services_at(document, cycle.provider_endpoint_keys())
        destroyed, moved = upgrade_changes(cycle.plan_of(document, "upgrade-plan"))
        log = folder / "upgrade.txt"
        log.write_text(f"moved: {moved}\ndestroyed or replaced: {len(destroyed)}\n" + "\n".join(destroyed))
        cycle.result.steps["upgrade"] = Step("upgrade", 1 if destroyed else 0, 0.0, log)
        if destroyed:
            return cycle.result
        cycle.document, cycle.target = document, new
        cycle.workspace.write(document, new.stack.parent)
        for action in (cycle.apply, cycle.replan, cycle.destroy):
            if action().returncode != 0:
                break
        cycle.result.resources = resource_count(stack)
        return cycle.result


def run(toolchain: Toolchain, target: Target, folder: Path) -> CycleResult:
    """The whole cycle for one environment, stopping at the first failed step."""
    folder.mkdir(parents=True, exist_ok=True)
    with running_emulator(target.account_id, folder / "moto.log") as emulator:
        cycle = Cycle(toolchain, target, emulator, folder / "terraform")
        for action in (cycle.prepare, cycle.apply, cycle.replan, cycle.destroy):
            if action().returncode != 0:
                break
        return cycle.result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("envs", nargs="*", help="environments (default: every shipped one)")
    parser.add_argument("--outdir", type=Path, help="where to synthesize (default: a temporary folder)")
    parser.add_argument("--keep", type=Path, help="folder for logs and Terraform state (default: temporary)")
    parser.add_argument("--upgrade-from", type=Path, help="an earlier version's --synthesize-only outdir")
    parser.add_argument("--synthesize-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from config import shipped_environments

    envs = args.envs or shipped_environments()
    outdir = args.outdir or Path(tempfile.mkdtemp(prefix="bluegreen-emulator-synth-"))
    if args.synthesize_only:
        _synthesize_here(envs, outdir)
        return 0
    toolchain = find_toolchain()
    if isinstance(toolchain, str):
        print(f"cannot run the emulator cycle: {toolchain}", file=sys.stderr)
        return 2
    keep = args.keep or Path(tempfile.mkdtemp(prefix="bluegreen-emulator-"))
    failed = 0
    for env, target in synthesize(envs, outdir).items():
        if args.upgrade_from:
            old = Target(env, target.account_id, target.region, args.upgrade_from / target.stack.relative_to(outdir))
            result = upgrade(toolchain, old, target, keep / env)
            print((keep / env / "upgrade.txt").read_text() if (keep / env / "upgrade.txt").exists() else "")
        else:
            result = run(toolchain, target, keep / env)
        print(result.summary(), flush=True)
        for step in result.steps.values():
            if step.returncode not in (0,):
                print(f"  {step.name} failed; log: {step.log}\n{step.tail(3000)}")
        failed += any(step.returncode != 0 for step in result.steps.values())
    print(f"logs: {keep}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
