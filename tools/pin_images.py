"""Container images by digest: every image the project names (each Dockerfile's FROM, each image of
the CI template) carries the sha256 digest of what its tag pointed at when it was reviewed.

    make pin-images                       # ask each registry what each tag is now; rewrite the digests
    python -m tools.pin_images --check    # offline: fail on any image named without a digest

A tag is a moving name (a rebuilt base image, a hijacked account); a digest is the content's own
hash, so a pull gets exactly the reviewed bytes or fails. The digest kept is the one of the tag's
multi-architecture index when the registry has one, so x86_64 and ARM64 pulls both stay pinned. The
tool computes each digest from the manifest's bytes itself and refuses a registry whose
Docker-Content-Digest header disagrees. Registries are spoken to with the OCI distribution API and
its anonymous token handshake (https://distribution.github.io/distribution/spec/auth/token/).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", "node_modules", "cdktf.out", "build", ".terraform", ".hypothesis", "__pycache__"}
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
#: Docker Hub's name for itself in references, and the host its API answers on.
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


class PinError(Exception):
    """A reference that cannot be read or resolved; the message says which and why."""


@dataclass(frozen=True)
class ImageRef:
    """One image reference as written: ``[registry/]repository[:tag][@sha256:...]``."""

    text: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None and DIGEST.fullmatch(self.digest) is not None

    def with_digest(self, digest: str) -> str:
        """The reference as written, with its digest replaced (or added)."""
        return f"{self.text.split('@', 1)[0]}@{digest}"


_REFERENCE = re.compile(
    r"(?P<name>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+:[A-Za-z0-9=_-]+))?"
)


def parse(text: str) -> ImageRef:
    """Split a reference the way Docker does: a first component with a dot or a port, or
    ``localhost``, names the registry; anything else is on Docker Hub (``library/`` for one-word names)."""
    match = _REFERENCE.fullmatch(text)
    if not match:
        raise PinError(f"not a literal image reference: {text!r}")
    name = match["name"]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(text, registry, repository, match["tag"], match["digest"])


@dataclass(frozen=True)
class Located:
    """A reference and where it is written."""

    path: Path
    line: int
    ref: ImageRef


def dockerfile_references(path: Path) -> Iterator[Located]:
    """The image of each FROM, skipping ``scratch`` and the names of earlier stages."""
    stages: set[str] = set()
    lines = path.read_text().splitlines()
    number = 0
    while number < len(lines):
        start, logical = number, lines[number]
        while logical.endswith("\\") and number + 1 < len(lines):
            number += 1
            logical = logical[:-1] + " " + lines[number]
        number += 1
        words = logical.split()
        if not words or words[0].upper() != "FROM":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if not args:
            raise PinError(f"{path}:{start + 1}: FROM without an image")
        image = args[0]
        if len(args) >= 3 and args[1].upper() == "AS":
            stages.add(args[2].lower())
        if image == "scratch" or image.lower() in stages:
            continue
        try:
            yield Located(path, start + 1, parse(image))
        except PinError as error:
            raise PinError(f"{path}:{start + 1}: {error}") from None


def _images_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image":
                yield value["name"] if isinstance(value, dict) else value
            elif key == "services" and isinstance(value, list):
                for service in value:
                    yield service["name"] if isinstance(service, dict) else service
            else:
                yield from _images_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _images_in(item)


def ci_references(path: Path) -> Iterator[Located]:
    """Every ``image:`` and ``services:`` entry of a GitLab CI file, wherever it is set."""
    text = path.read_text()
    for image in _images_in(yaml.safe_load(text)):
        if not isinstance(image, str):
            raise PinError(f"{path}: an image that is not a string: {image!r}")
        line = next((n for n, body in enumerate(text.splitlines(), 1) if image in body), 0)
        try:
            yield Located(path, line, parse(image))
        except PinError as error:
            raise PinError(f"{path}:{line}: {error}") from None


def project_references(root: Path = ROOT) -> list[Located]:
    """Every image the project names: all Dockerfiles, and the CI templates."""
    found: list[Located] = []
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIP_DIRS)
        files += [Path(directory, name) for name in sorted(names)]
    for path in files:
        if path.name == "Dockerfile" or path.name.startswith("Dockerfile.") or path.suffix == ".dockerfile":
            found += dockerfile_references(path)
        elif path.parent.name == "ci-templates" and path.suffix in {".yml", ".yaml"}:
            found += ci_references(path)
    return found


def unpinned(references: list[Located]) -> list[Located]:
    return [r for r in references if not r.ref.pinned]


# ---- resolution: the OCI distribution API ----

Endpoint = Callable[[str], str]


def https_endpoint(registry: str) -> str:
    return f"https://{DOCKER_HUB_API if registry == DOCKER_HUB else registry}"


@dataclass(frozen=True)
class Resolved:
    digest: str
    media_type: str
    platforms: tuple[str, ...]


def _bearer_token(challenge: str, repository: str) -> str:
    """Follow a ``WWW-Authenticate: Bearer realm=...,service=...`` challenge anonymously."""
    scheme, _, params = challenge.partition(" ")
    if scheme.lower() != "bearer":
        raise PinError(f"unsupported registry authentication: {challenge!r}")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
    query = {"scope": fields.get("scope", f"repository:{repository}:pull")}
    if "service" in fields:
        query["service"] = fields["service"]
    with urllib.request.urlopen(f"{fields['realm']}?{urllib.parse.urlencode(query)}", timeout=30) as answer:  # noqa: S310
        body = json.load(answer)
    token = body.get("token") or body.get("access_token")
    if not isinstance(token, str):
        raise PinError(f"the registry's token service answered without a token ({fields['realm']})")
    return token


def resolve(ref: ImageRef, endpoint: Endpoint = https_endpoint) -> Resolved:
    """What the reference's tag points at now: the digest of the manifest's bytes."""
    if ref.tag is None:
        raise PinError(f"{ref.text}: no tag to resolve (name the tag the digest belongs to)")
    url = f"{endpoint(ref.registry)}/v2/{ref.repository}/manifests/{ref.tag}"
    headers = {"Accept": ", ".join(INDEX_TYPES + MANIFEST_TYPES)}

    def fetch() -> tuple[bytes, Any]:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:  # noqa: S310
            return answer.read(), answer.headers

    try:
        body, answer_headers = fetch()
    except urllib.error.HTTPError as error:
        challenge = error.headers.get("WWW-Authenticate")
        if error.code != 401 or not challenge:
            raise PinError(f"{ref.text}: the registry answered {error.code} for {url}") from None
        headers["Authorization"] = f"Bearer {_bearer_token(challenge, ref.repository)}"
        body, answer_headers = fetch()
    digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
    claimed = answer_headers.get("Docker-Content-Digest")
    if claimed and claimed != digest:
        raise PinError(f"{ref.text}: the registry says {claimed}, but its manifest's bytes hash to {digest}")
    manifest = json.loads(body)
    media_type = manifest.get("mediaType") or answer_headers.get("Content-Type", "").split(";")[0]
    platforms = tuple(
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in manifest.get("manifests", [])
        if m.get("platform", {}).get("os") not in (None, "unknown")
    )
    return Resolved(digest, media_type, platforms)


def rewrite(located: Located, digest: str) -> bool:
    """Replace the reference's digest where it is written; False when it already had that one."""
    new = located.ref.with_digest(digest)
    if new == located.ref.text:
        return False
    text = located.path.read_text()
    pattern = re.compile(rf"(?<![^\s\"'=]){re.escape(located.ref.text)}(?![^\s\"'])")
    updated, count = pattern.subn(new, text)
    if not count:
        raise PinError(f"{located.path}: {located.ref.text} not found to rewrite")
    located.path.write_text(updated)
    return True


def pin(references: list[Located], endpoint: Endpoint = https_endpoint, out: Any = sys.stdout) -> int:
    """Resolve each distinct tag once and rewrite every place each reference is written (all its
    occurrences in a file at once); returns how many references changed."""
    changes = 0
    resolved: dict[tuple[str, str, str | None], Resolved] = {}
    done: set[tuple[Path, str]] = set()
    for located in references:
        ref = located.ref
        if (located.path, ref.text) in done:
            continue
        done.add((located.path, ref.text))
        key = (ref.registry, ref.repository, ref.tag)
        if key not in resolved:
            resolved[key] = resolve(ref, endpoint)
        now = resolved[key]
        kind = f"index of {', '.join(now.platforms)}" if now.platforms else f"single manifest {now.media_type}"
        where = f"{located.path}:{located.line}"
        if rewrite(located, now.digest):
            changes += 1
            print(f"{where}: {ref.text} -> {now.digest} ({kind})", file=out)
        else:
            print(f"{where}: {ref.text} is current ({kind})", file=out)
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="offline: fail on any image without a sha256 digest")
    args = parser.parse_args(argv)
    try:
        references = project_references()
        if args.check:
            missing = unpinned(references)
            for located in missing:
                print(f"{located.path}:{located.line}: {located.ref.text} is not pinned by a sha256 digest")
            print(f"{len(references) - len(missing)} of {len(references)} image references pinned by digest")
            return 1 if missing else 0
        changes = pin(references)
    except (PinError, OSError) as error:
        print(f"pin-images: {error}", file=sys.stderr)
        return 1
    print(f"{changes} reference(s) rewritten; review the diff" if changes else "every digest is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
