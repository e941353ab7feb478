"""The optional load test: the script against the real app, and how each stack runs it."""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hooks import load_test
from modules.load_test import build_timeout_minutes
from tests.app_support import ServiceProcess, free_port
from tests.conftest import ROOT, SynthesizedStack, every_service, policy

QUICK = load_test.Limits(duration_seconds=2, concurrency=3, max_error_percent=1.0, max_p99_ms=2000)


def test_p99_is_a_latency_that_happened() -> None:
    assert load_test.p99([]) == 0.0
    assert load_test.p99([5.0]) == 5.0
    assert load_test.p99([float(ms) for ms in range(1, 101)]) == 99.0
    assert load_test.p99([1.0] * 98 + [50.0, 900.0]) == 50.0


def test_healthy_green_passes_its_budget(green: ServiceProcess) -> None:
    summary = load_test.run(green.url, QUICK)
    assert summary.failures == [] and summary.errors == 0
    assert summary.requests >= 5 * QUICK.concurrency  # every user finished at least one whole scenario
    writes = [e for e in green.logs() if e.get("path") == "/notes" and e.get("method") == "POST"]
    assert writes and all(e["status"] == 201 for e in writes)


def test_a_slow_green_fails_on_p99(green: ServiceProcess) -> None:
    summary = load_test.run(green.url, load_test.Limits(1, 2, max_error_percent=100, max_p99_ms=0.001))
    assert len(summary.failures) == 1 and summary.failures[0].startswith("p99 ")


def test_a_draining_green_fails_on_errors(green: ServiceProcess) -> None:
    green.process.send_signal(signal.SIGTERM)  # still serving, /ready answers 503
    time.sleep(0.5)
    summary = load_test.run(green.url, QUICK)
    assert summary.errors > 0 and any(f.startswith("error rate") for f in summary.failures)


def test_an_unreachable_green_fails() -> None:
    limits = load_test.Limits(1, 2, max_error_percent=50, max_p99_ms=10_000, request_timeout_seconds=1)
    summary = load_test.run(f"http://127.0.0.1:{free_port()}", limits)
    assert summary.error_percent == 100.0 and summary.failures


# --- TLS: green's certificate is verified for the service's name, reached through the ALB's ---
#
# A TLS front on 127.0.0.1 plays the ALB: it terminates TLS with a certificate for a service name
# (issued by a throwaway CA, trusted only by these tests) and forwards the bytes to the real app.

SERVICE_NAME = "notes.example.test"


@dataclass(frozen=True)
class TestCA:
    """A throwaway certificate authority; ``file`` is its certificate, for ``cafile``."""

    __test__ = False  # not a test class
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    file: Path

    @classmethod
    def create(cls, folder: Path) -> TestCA:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bluegreen test CA")])
        certificate = (
            _builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        file = folder / "ca.pem"
        file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(key, certificate, file)

    def issue(self, dns_name: str, folder: Path) -> tuple[Path, Path]:
        """(certificate file, key file) of a server certificate for ``dns_name`` only."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            _builder(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]),
                self.certificate.subject,
                key.public_key(),
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = folder / f"{dns_name}.pem", folder / f"{dns_name}.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file

    def context(self) -> ssl.SSLContext:
        """What a client that trusts this CA uses: host names checked, as in production."""
        return ssl.create_default_context(cafile=str(self.file))


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


@dataclass
class TlsFront:
    """What the front saw: the SNI names and Host headers clients sent it."""

    port: int
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@contextmanager
def tls_front(backend_port: int, cert_file: Path, key_file: Path) -> Iterator[TlsFront]:
    """Terminate TLS on 127.0.0.1 with the given certificate and pass the bytes to the backend."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    front = TlsFront(listener.getsockname()[1])
    context.sni_callback = lambda _sock, name, _context: front.server_names.append(name)

    def relay(client: socket.socket) -> None:
        try:
            tls = context.wrap_socket(client, server_side=True)
        except OSError:  # the client refused the certificate
            client.close()
            return
        with tls, socket.create_connection(("127.0.0.1", backend_port)) as upstream:
            first = True
            while True:
                readable, _, _ = select.select([tls, upstream], [], [], 30)
                if not readable:
                    return
                for source in readable:
                    target = upstream if source is tls else tls
                    try:
                        data = source.recv(65536)
                        while source is tls and tls.pending():
                            data += tls.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if source is tls and first:
                        first = False
                        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                        front.hosts += [
                            line.split(":", 1)[1].strip() for line in head if line.lower().startswith("host:")
                        ]
                    target.sendall(data)

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=relay, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield front
    finally:
        listener.close()


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA.create(tmp_path)


def test_https_is_verified_for_the_service_name_while_connecting_to_the_address(
    green: ServiceProcess, ca: TestCA, tmp_path: Path
) -> None:
    with tls_front(green.port, *ca.issue(SERVICE_NAME, tmp_path)) as front:
        status, body = load_test.request("GET", f"{front.url}/version", None, 5, SERVICE_NAME, context=ca.context())
    assert status == 200 and "version" in body
    assert front.server_names == [SERVICE_NAME]  # SNI: the ALB picks the service's certificate
    assert front.hosts == [f"{SERVICE_NAME}:{front.port}"]  # and the listener rules see the service's host


def test_a_certificate_for_another_name_is_refused(green: ServiceProcess, ca: TestCA, tmp_path: Path) -> None:
    """Trusted chain, wrong name: refused; so is the right certificate checked against the address."""
    refused = pytest.raises(OSError, match="certificate verify failed")
    with tls_front(green.port, *ca.issue("other.example.test", tmp_path)) as front, refused:
        load_test.request("GET", f"{front.url}/ready", None, 5, SERVICE_NAME, context=ca.context())
    assert front.hosts == []  # refused at the handshake: no request was sent
    with tls_front(green.port, *ca.issue(SERVICE_NAME, tmp_path)) as front, refused:
        load_test.request("GET", f"{front.url}/ready", None, 5, context=ca.context())  # checked for 127.0.0.1
    assert front.hosts == []


def test_by_default_only_the_system_trust_store_is_trusted(green: ServiceProcess, ca: TestCA, tmp_path: Path) -> None:
    assert load_test.tls_context().check_hostname and load_test.tls_context().verify_mode == ssl.CERT_REQUIRED
    refused = pytest.raises(OSError, match="certificate verify failed")
    with tls_front(green.port, *ca.issue(SERVICE_NAME, tmp_path)) as front, refused:
        load_test.request("GET", f"{front.url}/ready", None, 5, SERVICE_NAME)  # the test CA is not in it


def test_plain_http_ignores_the_tls_name(green: ServiceProcess) -> None:
    assert load_test.request("GET", f"{green.url}/ready", None, 5, SERVICE_NAME)[0] == 200


def test_the_load_test_verifies_green_for_test_hostname(green: ServiceProcess, ca: TestCA, tmp_path: Path) -> None:
    """As CodeBuild runs it (plain python3, the system trust store: here, the test CA via SSL_CERT_FILE)."""
    budget = {"DURATION_SECONDS": "1", "CONCURRENCY": "2", "MAX_ERROR_PERCENT": "1", "MAX_P99_MS": "5000"}

    def run(hostname: str) -> tuple[int, dict[str, object]]:
        env = {**os.environ, **budget, "TEST_URL": front.url, "TEST_HOSTNAME": hostname, "SSL_CERT_FILE": str(ca.file)}
        done = subprocess.run(
            [sys.executable, str(ROOT / "hooks" / "load_test.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, json.loads(done.stdout.splitlines()[-1])

    with tls_front(green.port, *ca.issue(SERVICE_NAME, tmp_path)) as front:
        passed, summary = run(SERVICE_NAME)
        assert passed == 0 and summary["errors"] == 0 and summary["requests"], summary
        assert set(front.server_names) == {SERVICE_NAME}
        reached = len(front.hosts)
        failed, summary = run("other.example.test")
        assert failed == 1 and summary["error_percent"] == 100.0
        assert len(front.hosts) == reached  # refused at the handshake: no request was sent


# --- The stacks ---


def load_test_stacks(synthesized: dict[str, SynthesizedStack]) -> list[SynthesizedStack]:
    """Every service with a load test, its stack focused on it."""
    return [s for _, s in every_service(synthesized) if s.spec.deployment.load_test is not None]


def project(stack: SynthesizedStack) -> dict[str, object]:
    return stack.service().one("aws_codebuild_project", "load_test/project").body


def buildspec_command(stack: SynthesizedStack) -> str:
    """The build's one command, as CodeBuild's shell receives it (Terraform's $${ escape undone)."""
    spec = yaml.safe_load(str(project(stack)["source"]["buildspec"]).replace("$${", "${").replace("%%{", "%{"))  # type: ignore[index]
    (command,) = spec["phases"]["build"]["commands"]
    return str(command)


def test_shipped_configs_cover_both_controllers(synthesized: dict[str, SynthesizedStack]) -> None:
    controllers = {s.spec.deployment.controller for s in load_test_stacks(synthesized)}
    assert controllers == {"codedeploy", "ecs"}
    assert synthesized["prod"].config.deployment.load_test is None  # prod's canary and alarms guard it
    for _, stack in every_service(synthesized):
        if stack.spec.route is not None and stack.spec.deployment.load_test is None:
            assert not [
                p for p in stack.of_type("aws_codebuild_project") if stack.service().local(p).startswith("load_test/")
            ]
            assert (
                "LOAD_TEST_PROJECT"
                not in stack.service()
                .one("aws_lambda_function", "deployment_hooks/test_traffic")
                .body["environment"]["variables"]
            )


def test_the_build_runs_the_repositorys_script_with_the_configured_budget(
    synthesized: dict[str, SynthesizedStack],
) -> None:
    for stack in load_test_stacks(synthesized):
        config = stack.spec.deployment.load_test
        assert config is not None
        body = project(stack)
        command = buildspec_command(stack)
        delimiter = command.splitlines()[0].split("<<'")[1].rstrip("'")
        assert command.splitlines()[-1] == delimiter
        script = "\n".join(command.splitlines()[1:-1]) + "\n"
        assert script == (ROOT / "hooks" / "load_test.py").read_text()
        variables = {v["name"]: v["value"] for v in body["environment"]["environment_variable"]}  # type: ignore[index]
        hook = stack.service().one("aws_lambda_function", "deployment_hooks/test_traffic").body
        assert variables == {
            "TEST_URL": hook["environment"]["variables"]["TEST_URL"],
            "DURATION_SECONDS": str(config.duration_seconds),
            "CONCURRENCY": str(config.concurrency),
            "MAX_ERROR_PERCENT": str(config.max_error_percent),
            "MAX_P99_MS": str(config.max_p99_ms),
        }
        assert body["build_timeout"] == math.ceil(config.duration_seconds / 60) + 5
        assert body["source"]["type"] == "NO_SOURCE" and body["artifacts"]["type"] == "NO_ARTIFACTS"  # type: ignore[index]
        assert "privileged_mode" not in body["environment"]  # no Docker daemon: it only sends requests
        # By reference: the hook is created after the project it starts.
        load_test_project = stack.service().one("aws_codebuild_project", "load_test/project")
        assert hook["environment"]["variables"]["LOAD_TEST_PROJECT"] == load_test_project.ref("name")


def test_the_buildspec_command_runs_the_load_test_in_a_shell(
    synthesized: dict[str, SynthesizedStack], green: ServiceProcess
) -> None:
    """What CodeBuild would run, run here against the real app: exit 0 within budget, 1 outside."""
    command = buildspec_command(load_test_stacks(synthesized)[0])
    budget = {"DURATION_SECONDS": "2", "CONCURRENCY": "2", "MAX_ERROR_PERCENT": "1", "MAX_P99_MS": "2000"}
    passed = subprocess.run(
        ["/bin/sh", "-c", command],
        env={**os.environ, **budget, "TEST_URL": green.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert passed.returncode == 0, passed.stderr
    summary = json.loads(passed.stdout.splitlines()[-1])
    assert summary["failures"] == [] and summary["requests"] > 0
    failed = subprocess.run(
        ["/bin/sh", "-c", command],
        env={**os.environ, **budget, "TEST_URL": f"http://127.0.0.1:{free_port()}", "REQUEST_TIMEOUT_SECONDS": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1 and json.loads(failed.stdout.splitlines()[-1])["failures"]


def test_the_build_runs_privately_with_the_hooks_narrow_egress(synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in load_test_stacks(synthesized):
        vpc = project(stack)["vpc_config"]
        hook = stack.service().one("aws_lambda_function", "deployment_hooks/test_traffic").body["vpc_config"]
        assert vpc["subnets"] == hook["subnet_ids"] and vpc["security_group_ids"] == hook["security_group_ids"]  # type: ignore[index]
        assert all("networking_private_" in s for s in vpc["subnets"])  # type: ignore[index]


def test_the_load_test_role_can_only_log_and_attach_to_the_vpc(synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in load_test_stacks(synthesized):
        role = stack.service().one("aws_iam_role", "roles/load_test")
        assert project(stack)["service_role"] == role.ref("arn")
        policies = [r for r in stack.of_type("aws_iam_role_policy") if r.body["role"] == role.ref("name")]
        assert sorted(stack.service().local(p) for p in policies) == ["load_test/vpc_access", "role_policies/load_test"]
        statements = [s for p in policies for s in policy(p.body["policy"])["Statement"]]
        actions = {a for s in statements for a in s["Action"]}
        assert {a.split(":")[0] for a in actions} == {"logs", "kms", "ec2"}
        # CodeBuild checks the VPC permissions when the project is created: they come first.
        vpc_access = stack.service().one("aws_iam_role_policy", "load_test/vpc_access")
        assert f"{vpc_access.type}.{vpc_access.id}" in project(stack)["depends_on"]  # type: ignore[operator]
        eni = next(s for s in statements if s["Sid"] == "LetCodeBuildUseTheInterface")
        assert eni["Condition"]["StringEquals"] == {"ec2:AuthorizedService": "codebuild.amazonaws.com"}
        subnets = (
            stack.service().one("aws_lambda_function", "deployment_hooks/test_traffic").body["vpc_config"]["subnet_ids"]
        )
        assert [s.rsplit("/", 1)[1] for s in eni["Condition"]["ArnEquals"]["ec2:Subnet"]] == subnets
        hook = policy(stack.service().one("aws_iam_role_policy", "role_policies/test_hook").body["policy"])
        run = next(s for s in hook["Statement"] if s["Sid"] == "RunLoadTest")
        load_test_project = stack.service().one("aws_codebuild_project", "load_test/project")
        assert run["Action"] == ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
        assert run["Resource"] == [load_test_project.ref("arn")]


def test_under_codedeploy_the_builds_end_reaches_the_hook(synthesized: dict[str, SynthesizedStack]) -> None:
    for stack in load_test_stacks(synthesized):
        rules = [
            r for r in stack.of_type("aws_cloudwatch_event_rule") if stack.service().local(r).startswith("load_test/")
        ]
        if stack.spec.deployment.controller == "ecs":
            assert rules == []  # the hook polls the build itself
            continue
        (rule,) = rules
        pattern = json.loads(rule.body["event_pattern"])
        assert pattern["detail"]["project-name"] == [
            stack.service().one("aws_codebuild_project", "load_test/project").ref("name")
        ]
        assert pattern["detail"]["build-status"] == [{"anything-but": ["IN_PROGRESS"]}]
        hook = stack.service().one("aws_lambda_function", "deployment_hooks/test_traffic")
        target = stack.service().one("aws_cloudwatch_event_target", "load_test/report").body
        assert (target["rule"], target["arn"]) == (rule.ref("name"), hook.ref("arn"))
        permission = stack.service().one("aws_lambda_permission", "load_test/events_invoke_reporter").body
        assert permission["principal"] == "events.amazonaws.com" and permission["source_arn"] == rule.ref("arn")
        assert permission["function_name"] == hook.ref("function_name")


def test_build_time_covers_the_test_and_its_start(synthesized: dict[str, SynthesizedStack]) -> None:
    assert [build_timeout_minutes(s) for s in (10, 60, 61, 1800)] == [6, 6, 7, 35]
    assert re.fullmatch(r"[a-z0-9-]+-load-test", str(project(load_test_stacks(synthesized)[0])["name"]))
