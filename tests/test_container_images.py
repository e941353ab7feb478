"""Container images by digest: every FROM of every Dockerfile and every image of the CI template
names a sha256 digest, and `make pin-images` resolves tags to digests the way a registry serves
them (tried here against a registry on the loopback interface, with its token handshake)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.conftest import ROOT
from tools import pin_images
from tools.pin_images import PinError, parse, project_references, unpinned

DIGEST = "sha256:" + "1" * 64


def test_every_image_the_project_names_is_pinned_by_a_sha256_digest() -> None:
    references = project_references()
    where = {(r.path.relative_to(ROOT).as_posix(), r.ref.text.split("@")[0]) for r in references}
    # Both stages of the image, and the CI template's default image, are found (so the check sees them).
    assert ("app/Dockerfile", "public.ecr.aws/docker/library/python:3.11.14-slim-bookworm") in where
    assert ("ci-templates/gitlab-ci.yml", "nikolaik/python-nodejs:python3.11-nodejs20") in where
    assert sum(r.path.name == "Dockerfile" for r in references) == 2
    assert unpinned(references) == []
    assert all(r.ref.tag for r in references), "keep the tag beside the digest: it says what to re-resolve"


def test_an_image_without_a_digest_is_caught_wherever_it_is_named(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(
        f"FROM --platform=$BUILDPLATFORM python:3.11-slim@{DIGEST} AS build\n"
        "FROM build AS test\n"  # an earlier stage, not an image
        "FROM scratch\n"
        "FROM \\\n  python:3.11-slim AS runtime\n"
    )
    (tmp_path / "ci-templates").mkdir()
    (tmp_path / "ci-templates" / "gitlab-ci.yml").write_text(
        f"default:\n  image: python:3.11@{DIGEST}\n"
        "job:\n  image: {name: node:20, entrypoint: ['']}\n  services: [postgres:16]\n  script: [make test]\n"
    )
    found = sorted((r.path.name, r.line, r.ref.text) for r in unpinned(project_references(tmp_path)))
    assert found == [
        ("Dockerfile", 4, "python:3.11-slim"),
        ("gitlab-ci.yml", 4, "node:20"),
        ("gitlab-ci.yml", 5, "postgres:16"),
    ]
    assert len(project_references(tmp_path)) == 5


def test_references_are_read_as_docker_reads_them() -> None:
    assert parse("python:3.11-slim").repository == "library/python"
    assert parse("python:3.11-slim").registry == "docker.io"
    hub = parse(f"nikolaik/python-nodejs:python3.11-nodejs20@{DIGEST}")
    assert (hub.registry, hub.repository, hub.tag, hub.digest) == (
        "docker.io",
        "nikolaik/python-nodejs",
        "python3.11-nodejs20",
        DIGEST,
    )
    ecr = parse("public.ecr.aws/docker/library/python:3.11.14-slim-bookworm")
    assert (ecr.registry, ecr.repository, ecr.tag, ecr.pinned) == (
        "public.ecr.aws",
        "docker/library/python",
        "3.11.14-slim-bookworm",
        False,
    )
    assert parse("localhost:5000/app:1").registry == "localhost:5000"
    assert not parse("python@sha256:abc").pinned, "a digest that is not 64 hex digits pins nothing"
    with pytest.raises(PinError):
        parse("${BASE_IMAGE}")


# ---- make pin-images against a registry on loopback ----

INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"digest": "sha256:" + "a" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:" + "b" * 64, "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:" + "c" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
        ],
    },
    indent=3,  # the digest is of these exact bytes, whitespace included
).encode()
TOKEN = "anonymous-pull-token"


class Registry(BaseHTTPRequestHandler):
    """The distribution API's manifest endpoint behind the anonymous Bearer token handshake."""

    claimed_digest: str | None = None
    seen: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/token?"):
            self._answer(200, json.dumps({"token": TOKEN}).encode(), "application/json")
        elif self.path == "/v2/library/python/manifests/3.11-slim":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                challenge = (
                    f'Bearer realm="{host}/token",service="registry.test",scope="repository:library/python:pull"'
                )
                self._answer(401, b"{}", "application/json", {"WWW-Authenticate": challenge})
                return
            digest = self.claimed_digest or f"sha256:{hashlib.sha256(INDEX).hexdigest()}"
            self._answer(200, INDEX, "application/vnd.oci.image.index.v1+json", {"Docker-Content-Digest": digest})
        else:
            self._answer(404, b"{}", "application/json")

    def _answer(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Registry.seen, Registry.claimed_digest = [], None
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pin_images_rewrites_every_reference_to_the_digest_of_the_bytes_the_registry_serves(
    registry: str, tmp_path: Path
) -> None:
    old = f"python:3.11-slim@sha256:{'9' * 64}"
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {old} AS build\nRUN true\nFROM {old}\n")
    ci = tmp_path / "ci-templates" / "gitlab-ci.yml"
    ci.parent.mkdir()
    ci.write_text("default:\n  # keep this comment\n  image: python:3.11-slim\n")
    references = project_references(tmp_path)
    out = io.StringIO()
    assert pin_images.pin(references, endpoint=lambda _registry: registry, out=out) == 2
    expected = f"sha256:{hashlib.sha256(INDEX).hexdigest()}"
    assert (
        dockerfile.read_text()
        == f"FROM python:3.11-slim@{expected} AS build\nRUN true\nFROM python:3.11-slim@{expected}\n"
    )
    assert ci.read_text() == f"default:\n  # keep this comment\n  image: python:3.11-slim@{expected}\n"
    assert "index of linux/amd64, linux/arm64" in out.getvalue()
    assert Registry.seen.count("/v2/library/python/manifests/3.11-slim") == 2, "one tag is resolved once"
    # Run again: nothing changes.
    assert pin_images.pin(project_references(tmp_path), endpoint=lambda _registry: registry, out=io.StringIO()) == 0


def test_pin_images_refuses_a_registry_whose_digest_header_disagrees_with_its_bytes(
    registry: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    Registry.claimed_digest = DIGEST
    with pytest.raises(PinError, match="hash to"):
        pin_images.pin(project_references(tmp_path), endpoint=lambda _registry: registry, out=io.StringIO())
    assert (tmp_path / "Dockerfile").read_text() == "FROM python:3.11-slim\n", "nothing rewritten"


def test_pin_images_check_fails_on_an_unpinned_image_and_passes_on_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pin_images.main(["--check"]) == 0
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    monkeypatch.setattr(pin_images, "ROOT", tmp_path)
    monkeypatch.setattr(pin_images, "project_references", lambda root=tmp_path: project_references(tmp_path))
    assert pin_images.main(["--check"]) == 1
    assert "python:3.11-slim is not pinned by a sha256 digest" in capsys.readouterr().out
