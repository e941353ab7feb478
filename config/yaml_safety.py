"""Read a config file's YAML within fixed bounds of size, depth and expansion, or refuse it.

PyYAML's SafeLoader constructs no Python objects, but left alone it still lets a small file
cost minutes and gigabytes (an alias "bomb": nine anchors each listing the previous one nine
times expand to 9**9 nodes once validation walks them), recurses until Python's stack runs out
on deep nesting, accepts keys that are lists or numbers, and raises bare Python errors (an
integer of 5,000 digits, a list as a key). Everything here ends in a ``YamlProblem``: what is
wrong, where, and how to fix it. The limits are far above what a config needs (the shipped
ones are about 2 KiB, 150 nodes and 5 levels deep) and are documented in docs/configuration.md.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: Largest config file read, in bytes.
MAX_BYTES = 256 * 1024
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 32
#: Most nodes the document may hold once every alias is expanded (what validation will walk).
MAX_NODES = 10_000

_CORE = "tag:yaml.org,2002:"
#: Tags a config may spell out: the plain data types. Anything else (!!python/..., !!binary,
#: !!set, !!omap, !!timestamp, custom !tags) would build something the schema cannot hold.
_ALLOWED_TAGS = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}
_MERGE = f"{_CORE}merge"


class YamlProblem(Exception):
    """A file that cannot be read as a config: message and fix, in the project's error format."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message}; {fix}")
        self.message = message
        self.fix = fix


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere in the file"


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts as it composes: depth, expanded size, and only plain tags and keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        #: Expanded size of every finished node, by identity (an alias costs its target's size).
        self._sizes: dict[int, int] = {}
        self._total = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor) if event.anchor is not None else None
            if target is not None and id(target) not in self._sizes:
                raise YamlProblem(
                    f"the alias *{event.anchor} at {_where(event.start_mark)} refers to a node that contains it",
                    "a config cannot contain itself; copy the values instead of the alias",
                )
            node: Node | None = super().compose_node(parent, index)
            assert node is not None
            self._count(self._sizes.get(id(node), 1), event.start_mark)
            return node
        event = self.peek_event()  # type: ignore[no-untyped-call]
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _ALLOWED_TAGS:
            raise YamlProblem(
                f"uses the YAML tag {_shown_tag(tag)} at {_where(event.start_mark)}, which would build an object",
                "remove the tag: a config holds only text, numbers, true/false, lists and mappings",
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlProblem(
                f"nests lists or mappings more than {MAX_DEPTH} levels deep (at {_where(event.start_mark)})",
                "flatten it: a config is at most a few levels deep (see config/dev.yaml)",
            )
        try:
            before = self._total
            composed = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        assert composed is not None
        node = composed
        if isinstance(node, ScalarNode):
            self._count(1, event.start_mark)
        # A collection's expanded size: itself plus everything counted while composing it.
        self._sizes[id(node)] = self._total - before + (0 if isinstance(node, ScalarNode) else 1)
        if not isinstance(node, ScalarNode):
            self._count(1, event.start_mark)
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self._total += nodes
        if self._total > MAX_NODES:
            raise YamlProblem(
                f"expands to more than {MAX_NODES:,} values once its aliases are resolved (at {_where(mark)})",
                "write the values out, or use fewer aliases (*name): a config needs a few hundred values",
            )


def _construct_mapping(loader: BoundedLoader, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
    """A mapping whose keys are text and appear once (PyYAML silently keeps the last of duplicates)."""
    seen: set[str] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE:
            continue  # "<<: *defaults" merges another mapping; its keys may be overridden here
        if not isinstance(key_node, ScalarNode):
            kind = "list" if isinstance(key_node, SequenceNode) else "mapping"
            raise YamlProblem(
                f"has a {kind} as a key at {_where(key_node.start_mark)}",
                "keys are names: write `name: value` (a leading `?` makes the next line a key)",
            )
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            raise YamlProblem(
                f"has the key {key_node.value!r} at {_where(key_node.start_mark)}, which YAML reads as "
                f"{_yaml_type(key)}, not as a name",
                f"quote it: '{key_node.value}':",
            )
        if key in seen:
            raise YamlProblem(f"has the key {key!r} twice (at {_where(key_node.start_mark)})", "keep only one")
        seen.add(key)
    mapping = loader.construct_mapping(node, deep)
    merged = next((key for key in mapping if not isinstance(key, str)), None)
    if merged is not None:  # a key that arrived through a merge (<<) of an inline mapping
        raise YamlProblem(
            f"merges the key {merged!r} at {_where(node.start_mark)}, which YAML reads as {_yaml_type(merged)}",
            f"quote it: '{merged}':",
        )
    return mapping


def _yaml_type(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    return "a date" if hasattr(value, "isoformat") else f"a {type(value).__name__}"


BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def decode(data: bytes) -> str:
    """The file's text; only UTF-8 (with or without a byte-order mark), within ``MAX_BYTES``."""
    if len(data) > MAX_BYTES:
        raise YamlProblem(
            f"is {len(data):,} bytes, over the {MAX_BYTES:,} a config may have",
            "a config is a few kilobytes: remove what does not belong in it",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise YamlProblem(
            f"is not UTF-8 text: byte 0x{data[error.start]:02x} at line {line}, column {column}",
            "save the file as UTF-8",
        ) from None


def parse(text: str) -> Any:
    """The YAML document in ``text``, or a ``YamlProblem``; never a Python error."""
    try:
        loader = BoundedLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except YamlProblem:
        raise
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        raise YamlProblem(
            f"contains the control character U+{error.character:04X} at line {line}, column {column}"
            if isinstance(error.character, int)
            else f"cannot be read at line {line}, column {column}",
            "remove it (YAML allows only printable characters, tabs and line breaks)",
        ) from None
    except ConstructorError as error:
        problem = error.problem or "cannot be built"
        if "could not determine a constructor" in problem:
            problem = "uses a YAML tag that builds objects"
        raise YamlProblem(
            f"{problem} at {_where(error.problem_mark)}",
            "remove the tag: a config holds only text, numbers, true/false, lists and mappings",
        ) from None
    except ComposerError as error:
        context = error.context or ""
        if "duplicate anchor" in context:
            problem, fix = f"{context.split(';')[0]} (again at", "give each anchor (&name) its own name"
        elif "single document" in context:
            problem, fix = "holds more than one YAML document (the next at", "keep one: remove the `---` separators"
        else:
            problem, fix = f"{error.problem} (at", "define the anchor (&name) before its alias (*name)"
        raise YamlProblem(f"{problem} {_where(error.problem_mark)})", fix) from None
    except yaml.MarkedYAMLError as error:
        raise YamlProblem(
            f"is not valid YAML at {_where(error.problem_mark)}: {error.problem}",
            "fix the YAML syntax at that position (check indentation, quotes and brackets)",
        ) from None
    except yaml.YAMLError as error:
        raise YamlProblem(f"is not valid YAML: {error}", "fix the YAML syntax") from None
    except ValueError as error:
        # e.g. an integer longer than Python converts (4,300 digits).
        raise YamlProblem(f"holds a value YAML cannot convert ({error})", "shorten the number or quote it") from None
    except (RecursionError, MemoryError):
        raise YamlProblem(
            "is too deeply nested or too large to read", f"keep it under {MAX_DEPTH} levels and {MAX_NODES:,} values"
        ) from None
