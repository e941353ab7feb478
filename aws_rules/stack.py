"""A synthesized stack as Terraform sees it: resources, their regions, and what depends on what."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

#: ``${aws_x.name...}`` inside any string: a reference Terraform orders creation by.
REFERENCE = re.compile(r"\$\{(?:data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)")
#: The provider of a resource that names none.
DEFAULT_PROVIDER = "aws"


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    body: dict[str, Any] = field(compare=False, hash=False)

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    @property
    def path(self) -> str:
        """Construct path below the stack, e.g. 'load_balancer/blue'."""
        metadata = self.body.get("//", {}).get("metadata", {})
        return str(metadata.get("path", self.address)).split("/", 1)[-1]

    @property
    def provider(self) -> str:
        return str(self.body.get("provider", DEFAULT_PROVIDER))

    def ref(self, attribute: str) -> str:
        return f"${{{self.address}.{attribute}}}"


def strings(value: Any, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """(key path, string) of every string leaf, with keys in ``skip`` left out."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            for key, child in node.items():
                if key not in skip:
                    yield from walk(child, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from walk(child, f"{path}[{index}]")

    yield from walk(value, "")


class Stack:
    """One cdk.tf.json document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    @cached_property
    def resources(self) -> dict[str, Resource]:
        return {
            f"{resource_type}.{name}": Resource(resource_type, name, body)
            for resource_type, bodies in self.document.get("resource", {}).items()
            for name, body in bodies.items()
        }

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    @cached_property
    def regions(self) -> dict[str, str]:
        """Provider reference ('aws', 'aws.dr') -> region."""
        found = {}
        for provider in self.document.get("provider", {}).get("aws", []):
            key = f"aws.{provider['alias']}" if "alias" in provider else DEFAULT_PROVIDER
            found[key] = str(provider.get("region", ""))
        return found

    def region_of(self, resource: Resource) -> str:
        return self.regions.get(resource.provider, "")

    @cached_property
    def edges(self) -> dict[str, frozenset[str]]:
        """address -> addresses it references or depends on directly."""
        result = {}
        for address, resource in self.resources.items():
            targets = {
                f"{t}.{n}" for _, text in strings(resource.body, frozenset({"//"})) for t, n in REFERENCE.findall(text)
            }
            targets.update(str(d) for d in resource.body.get("depends_on", []))
            result[address] = frozenset(t for t in targets if t in self.resources and t != address)
        return result

    def depends_on(self, address: str, target: str) -> bool:
        """Whether ``address`` reaches ``target`` through references and depends_on (transitively)."""
        seen, stack = {address}, [address]
        while stack:
            for nxt in self.edges.get(stack.pop(), frozenset()):
                if nxt == target:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def referenced(self, resource: Resource) -> frozenset[str]:
        """Addresses a resource references or depends on directly."""
        return self.edges.get(resource.address, frozenset())
