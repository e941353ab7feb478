"""The tags a config adds to every resource, against the limits AWS enforces per resource.

"Tagging AWS resources" (AWS General Reference): at most 50 user tags per resource; keys of 1 to
128 and values of 0 to 256 characters; letters, digits, spaces and ``+ - = . _ : / @``; the
``aws:`` prefix reserved. The characters and lengths are read from the API model of the
strictest service the stack tags (elbv2's TagKey and TagValue shapes); the count includes the
tags the stack adds itself (its provider default tags, and a resource's own ``Name``, ``tier``
or ``colour``).
"""

from __future__ import annotations

from collections.abc import Iterator

from config import aws_models, redact
from config.problems import Problem

#: The provider's default tags (modules/stack.py), on every resource.
DEFAULT_TAG_KEYS = ("project", "environment", "managed-by")
#: Tags single resources carry (modules/networking.py subnets: Name and tier; load_balancer.py: colour).
RESOURCE_TAG_KEYS = ("Name", "tier", "colour")
#: Most tags AWS allows on one resource.
MAX_TAGS_PER_RESOURCE = 50
#: Most tags one resource of the stack carries besides the user's (a subnet: Name and tier).
MOST_OWN_TAGS = 2
MAX_USER_TAGS = MAX_TAGS_PER_RESOURCE - len(DEFAULT_TAG_KEYS) - MOST_OWN_TAGS
KEY = ("elbv2", "AddTags.Tags.Key")
VALUE = ("elbv2", "AddTags.Tags.Value")
ALLOWED_WORDS = "letters, digits, spaces and + - = . _ : / @"


def problems(tags: dict[str, str]) -> Iterator[Problem]:
    if len(tags) > MAX_USER_TAGS:
        yield Problem(
            (),
            f"has {len(tags)} tags: with the stack's own ({', '.join(DEFAULT_TAG_KEYS)}, and Name and tier on "
            f"subnets) a resource would carry more than AWS's {MAX_TAGS_PER_RESOURCE}",
            f"keep at most {MAX_USER_TAGS} tags",
            len(tags),
        )
    reserved = {k.lower(): k for k in (*DEFAULT_TAG_KEYS, *RESOURCE_TAG_KEYS)}
    seen: dict[str, str] = {}
    for key, value in tags.items():
        path = (key,)
        if key.lower().startswith("aws:"):
            yield Problem(path, "uses the aws: prefix, which AWS reserves for its own tags", "rename the key", key)
        if key.lower() in reserved:
            yield Problem(
                path,
                f"is a tag the stack sets itself ({reserved[key.lower()]})",
                f"rename it (the stack sets {', '.join((*DEFAULT_TAG_KEYS, *RESOURCE_TAG_KEYS))})",
                key,
            )
        if key.lower() in seen:
            # Several services (IAM among them) treat tag keys without regard to case.
            yield Problem(
                path,
                f"differs only in case from the tag {seen[key.lower()]!r}",
                "keep one of them",
                key,
            )
        seen.setdefault(key.lower(), key)
        if redact.looks_secret_text(value):
            # Tags are readable by anyone who may list the resource, and copied into billing reports.
            yield Problem(path, "looks like a secret", "never put a secret in a tag: keep it in Secrets Manager", value)
        for what, text, member in (("key", key, KEY), ("value", value, VALUE)):
            for wrong in aws_models.check(text, member):
                bad = sorted({c for c in text if not (c.isalnum() or c.isspace() or c in "+-=._:/@")})
                refused = "form" in wrong
                detail = f" ({''.join(bad)!r} is not allowed)" if bad and refused else ""
                wrong = wrong.replace("has characters or a form AWS does not accept", "has characters AWS refuses")
                yield Problem(
                    path,
                    f"tag {what} {wrong}{detail}",
                    f"use {ALLOWED_WORDS}" if refused else f"shorten the {what}",
                    text,
                )
