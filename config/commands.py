"""Config values that end up in commands: the build runs them in a shell.

``pipeline.app_path`` is the last word of ``docker build ... <app_path>`` in the buildspec
(modules/deploy_specs.py), unquoted, so it must be one plain word: no shell syntax, and no
leading ``-`` that docker would read as an option. It names a folder inside the repository, so
it cannot be absolute or climb out with ``..``. ``pipeline.branch`` must be a branch Git can
have (git-check-ref-format), or the pipeline's trigger never fires.

Each function returns (what is wrong, how to fix it) pairs; empty means valid.
"""

from __future__ import annotations

import re

Problems = list[tuple[str, str]]

#: Characters a shell gives meaning to (word splitting, globbing, expansion, redirection, ...).
SHELL_SYNTAX = set(" \t\n\r;&|<>()$`\\\"'*?[]{}~#!=%^,:@+")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./-]+")


def _shown(chars: set[str]) -> str:
    return " ".join(repr(c) for c in sorted(chars))


def path_problems(value: str) -> Problems:
    """Problems of a repository folder used as the last argument of ``docker build``."""
    if not value:
        return [("is empty", "name the folder of the Dockerfile, e.g. app (or . for the repository root)")]
    found: Problems = []
    syntax = {c for c in value if c in SHELL_SYNTAX or not c.isprintable()}
    if syntax:
        cleaned = re.sub(r"[^A-Za-z0-9_./-]+", "-", value).strip("-") or "app"
        found.append(
            (
                f"contains {_shown(syntax)}, which the build's shell would interpret",
                f"use a folder name of letters, digits and . _ - / only, e.g. {cleaned!r}",
            )
        )
    elif not _PLAIN_PATH.fullmatch(value):
        found.append(("contains characters a folder name here cannot have", "use letters, digits and . _ - / only"))
    if value.startswith("-"):
        fix = f"write it as ./{value}" if not syntax else "rename the folder so it does not start with '-'"
        found.append(("starts with '-', which docker build would read as an option", fix))
    if value.startswith("/"):
        found.append(
            ("is an absolute path", f"write it relative to the repository root, e.g. {value.lstrip('/') or '.'!r}")
        )
    if ".." in value.split("/"):
        found.append(("climbs out of the repository with '..'", "name a folder inside the repository"))
    return found


def branch_problems(value: str) -> Problems:
    """Problems of a Git branch name (git-check-ref-format, and git branch's refusal of a leading '-')."""
    fix = "write a branch name such as main or release/2024"
    checks = [
        (not value, "is empty"),
        (value.startswith("-"), "starts with '-', which Git refuses for a branch"),
        (value == "@", "is '@', which Git reserves"),
        (
            bool(set(value) & set(" ~^:?*[\\")) or not value.isprintable(),
            "contains a character Git refuses in a branch (space ~ ^ : ? * [ \\ or a control character)",
        ),
        (".." in value, "contains '..', which Git refuses"),
        ("@{" in value, "contains '@{', which Git refuses"),
        (value.startswith("/") or value.endswith("/") or "//" in value, "has an empty part between '/'"),
        (value.endswith("."), "ends with '.', which Git refuses"),
        (
            any(part.startswith(".") or part.endswith(".lock") for part in value.split("/")),
            "has a part starting with '.' or ending in '.lock', which Git refuses",
        ),
    ]
    return [(what, fix) for broken, what in checks if broken]
