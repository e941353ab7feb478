"""The text formats config values must have, each said in words with an example.

A field declares its format with ``Field(pattern=SOME_FORMAT.pattern)``: the JSON Schema
editors read keeps the regular expression, and a value that does not match is explained to the
user with ``rule`` and a concrete fix (never the expression itself). ``FORMATS`` finds a format
by its pattern; tests/test_config_refusals.py checks that every pattern in the schema is here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    pattern: str
    #: What a valid value looks like, in words ("must be ...").
    rule: str
    #: A valid value to copy.
    example: str
    #: Turns a near miss into a valid value when it can (e.g. lower-cases a name).
    repair: Callable[[str], str] | None = None

    def fix(self, value: object) -> str:
        """The nearest valid value when one can be made from ``value``, else the example."""
        if isinstance(value, str) and self.repair is not None:
            repaired = self.repair(value)
            if repaired and repaired != value and re.fullmatch(self.pattern, repaired):
                return f"use {repaired!r}"
        return f"write it like {self.example!r}"


def _slug(allowed: str, limit: int, first: str = "a-z") -> Callable[[str], str]:
    """Lower-case, replace what is not allowed by '-', trim to the limit and to a valid first character."""

    def repair(value: str) -> str:
        text = re.sub(f"[^{allowed}]+", "-", value.strip().lower()).strip("-")
        text = re.sub(f"^[^{first}]+", "", text)
        return text[:limit].rstrip("-")

    return repair


PROJECT = Format(
    r"^[a-z][a-z0-9-]{1,19}$",
    "must be 2 to 20 lower-case letters, digits or hyphens, starting with a letter",
    "shop",
    _slug("a-z0-9-", 20),
)
ENVIRONMENT = Format(
    r"^[a-z][a-z0-9]{1,9}$",
    "must be 2 to 10 lower-case letters or digits, starting with a letter (no hyphens)",
    "staging",
    lambda value: re.sub(r"^[^a-z]+", "", re.sub(r"[^a-z0-9]+", "", value.lower()))[:10],
)
ACCOUNT_ID = Format(
    r"^\d{12}$",
    "must be the 12 digits of an AWS account id (quote it, so leading zeros stay)",
    "123456789012",
    lambda value: re.sub(r"\D", "", value),
)
BUCKET = Format(
    r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    "must be an S3 bucket name: 3 to 63 lower-case letters, digits, dots or hyphens, "
    "starting and ending with a letter or digit",
    "my-terraform-state-123456789012",
    lambda value: re.sub(r"[^a-z0-9.-]+", "-", value.lower()).strip("-.")[:63],
)
DATABASE_NAME = Format(
    r"^[a-z][a-z0-9_]{0,62}$",
    "must be 1 to 63 lower-case letters, digits or underscores, starting with a letter",
    "app",
    lambda value: re.sub(r"^[^a-z]+", "", re.sub(r"[^a-z0-9_]+", "_", value.lower()))[:63],
)
MASTER_USERNAME = Format(
    r"^[a-z][a-z0-9_]{0,15}$",
    "must be 1 to 16 lower-case letters, digits or underscores, starting with a letter",
    "app_admin",
    lambda value: re.sub(r"^[^a-z]+", "", re.sub(r"[^a-z0-9_]+", "_", value.lower()))[:16],
)
SCHEDULE_NAME = Format(
    r"^[A-Za-z0-9-]{1,40}$",
    "must be 1 to 40 letters, digits or hyphens",
    "night",
    lambda value: re.sub(r"[^A-Za-z0-9-]+", "-", value).strip("-")[:40],
)
CONTAINER_NAME = Format(
    r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$",
    "must be 1 to 255 letters, digits, hyphens or underscores, starting with a letter or digit",
    "app",
    lambda value: re.sub(r"^[^a-zA-Z0-9]+", "", re.sub(r"[^a-zA-Z0-9_-]+", "-", value))[:255],
)
HEALTH_CHECK_PATH = Format(
    r"^/[\x21-\x7e]{0,1023}$",
    "must be a URL path starting with / (at most 1,024 printable characters, no spaces)",
    "/ready",
    lambda value: "/" + value.strip().lstrip("/").replace(" ", "%20"),
)
IMAGE_TAG = Format(
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
    "must be a Docker image tag: 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
    "bootstrap",
    lambda value: re.sub(r"^[.-]+", "", re.sub(r"[^A-Za-z0-9_.-]+", "-", value))[:128],
)
REPOSITORY = Format(
    r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$",
    "must be the repository's full id: owner (or group) and name separated by '/'",
    "example-group/app",
    # A clone URL (https://host/group/app.git or git@host:group/app.git) holds the id.
    lambda value: re.sub(r"^([a-z+]+://[^/]+/|[^@/\s]+@[^:/\s]+:)", "", value.strip()).strip("/").removesuffix(".git"),
)
EMAIL = Format(
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    "must be one e-mail address",
    "team@example.com",
    lambda value: value.strip().strip("<>"),
)
HOSTED_ZONE_ID = Format(
    r"^Z[A-Z0-9]{1,31}$",
    "must be a Route 53 hosted zone id: 'Z' and up to 31 upper-case letters or digits",
    "Z0123456789ABCDEFGHIJ",
    lambda value: value.strip().upper().removeprefix("/HOSTEDZONE/"),
)
RECORD_NAME = Format(
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$",
    "must be a lower-case DNS name such as app.example.com (no trailing dot)",
    "app.example.com",
    lambda value: value.strip().lower().rstrip("."),
)
ROUTE53_PATH = Format(
    r"^/[\x21-\x7e]{0,254}$",
    "must be a URL path starting with / (at most 255 printable characters, no spaces)",
    "/ready",
    lambda value: "/" + value.strip().lstrip("/"),
)
ROUTE_HOST = Format(
    r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$",
    "must be a lower-case host name such as api.example.com, or a wildcard such as *.example.com",
    "api.example.com",
    lambda value: value.strip().lower().rstrip(".").removeprefix("https://").removeprefix("http://"),
)
ROUTE_PATH = Format(
    r"^/[A-Za-z0-9_./*?~-]*$",
    "must be a path pattern starting with /, of letters, digits and _ . / ~ - (* and ? match any text)",
    "/v1/*",
    lambda value: "/" + value.strip().lstrip("/"),
)
SERVICE_KEY = Format(
    r"^[a-z][a-z0-9]{0,11}$",
    "must be 1 to 12 lower-case letters or digits, starting with a letter (it is part of resource names)",
    "api",
    lambda value: re.sub(r"^[^a-z]+", "", re.sub(r"[^a-z0-9]+", "", value.lower()))[:12],
)

FORMATS: dict[str, Format] = {
    f.pattern: f
    for f in (
        PROJECT,
        ENVIRONMENT,
        ACCOUNT_ID,
        BUCKET,
        DATABASE_NAME,
        MASTER_USERNAME,
        SCHEDULE_NAME,
        CONTAINER_NAME,
        HEALTH_CHECK_PATH,
        IMAGE_TAG,
        REPOSITORY,
        EMAIL,
        HOSTED_ZONE_ID,
        RECORD_NAME,
        ROUTE53_PATH,
        ROUTE_HOST,
        ROUTE_PATH,
        SERVICE_KEY,
    )
}
