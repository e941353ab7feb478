"""An environment config with N services, for `make bench` and its test (issue 15, Performance).

Made from config/platform.yaml: its environment-level sections as they are, and N copies
of its first service, keyed s1..sN, each with its own repository. s1 is the listener's default
route; every other service is routed by its own host (s<i>.example.com), so each adds what a
routed service adds (target groups, listener rules, hooks, pipeline, roles).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

BASE = Path(__file__).resolve().parent.parent / "config" / "platform.yaml"


def services_config(count: int, base: Path = BASE) -> dict[str, Any]:
    """The config of one environment with ``count`` routed services."""
    if count < 1:
        raise ValueError(f"an environment has at least one service, not {count}")
    data: dict[str, Any] = yaml.safe_load(base.read_text())
    template = next(iter(data["services"].values()))
    services: dict[str, Any] = {}
    for index in range(1, count + 1):
        key = f"s{index}"
        service = copy.deepcopy(template)
        service["source"] = {**service.get("source", {}), "repository": f"{data['project']}/{key}"}
        service["route"] = {} if index == 1 else {"host": f"{key}.example.com"}
        service["environment"] = {**service.get("environment", {}), "APP_ROLE": key}
        services[key] = service
    data["services"] = services
    data["environment"] = "bench"
    return data


def write_services_config(count: int, path: Path, base: Path = BASE) -> Path:
    """Write :func:`services_config` to ``path`` (YAML) and return it."""
    path.write_text(yaml.safe_dump(services_config(count, base), sort_keys=False))
    return path
