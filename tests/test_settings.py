"""Knobs are data: each module's settings type matches its config section field for field.

A new knob is the schema field plus its use: ``from_section`` (modules/settings.py) copies it into
the module's settings by name, so no stack code changes. These tests keep that true: a settings
field must exist in its section with the same type, a mirrored section must have no field its
settings type lacks, and a shared section no field that neither a settings type reads nor the
stack wires by hand.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest
from pydantic import BaseModel, Field

from config.schema import AutoscalingConfig, LoadBalancerConfig, LoadTestConfig, RollbackAlarms, ScheduledScaling
from modules.alarms import AlarmThresholds
from modules.ecs import Autoscaling, Schedule
from modules.load_balancer import LoadBalancerSettings
from modules.load_test import LoadTestSettings
from modules.settings import from_section

#: settings type -> (its section, the fields the stack derives instead of reading them)
SETTINGS: dict[type[Any], tuple[type[BaseModel], frozenset[str]]] = {
    LoadBalancerSettings: (LoadBalancerConfig, frozenset()),
    LoadTestSettings: (LoadTestConfig, frozenset()),
    Autoscaling: (AutoscalingConfig, frozenset({"schedules", "alb_arn_suffix"})),
    Schedule: (ScheduledScaling, frozenset()),
    AlarmThresholds: (RollbackAlarms, frozenset()),
}
#: Sections that feed more than one module: the fields wired by hand, and where.
WIRED_BY_HAND: dict[type[BaseModel], dict[str, str]] = {
    LoadBalancerConfig: {
        "certificate_arn": "modules/platform.py RegionSite: the DR region has its own certificate",
        "prod_listener_port": "LoadBalancerConfig.effective_prod_port (443 with a certificate)",
        "ingress_cidrs": "modules/platform.py security_groups",
        "test_ingress_cidrs": "modules/platform.py security_groups",
        "waf_web_acl_arn": "modules/platform.py web_acl",
        "managed_waf": "modules/platform.py web_acl",
        "waf_rate_limit_per_5_minutes": "modules/platform.py web_acl",
        "waf_log_retention_days": "modules/platform.py web_acl",
        "access_log_retention_days": "modules/platform.py access_log_bucket",
    },
}


def mismatches(settings: type[Any], section: type[BaseModel], derived: frozenset[str]) -> list[str]:
    """Settings fields the section lacks or types differently."""
    hints = typing.get_type_hints(settings)
    found = []
    for field in dataclasses.fields(settings):
        if field.name in derived:
            continue
        if field.name not in section.model_fields:
            found.append(f"{settings.__name__}.{field.name}: not in {section.__name__}")
        elif hints[field.name] != section.model_fields[field.name].annotation:
            found.append(
                f"{settings.__name__}.{field.name}: {hints[field.name]} in settings, "
                f"{section.model_fields[field.name].annotation} in {section.__name__}"
            )
    return found


def unread(section: type[BaseModel], table: dict[type[Any], tuple[type[BaseModel], frozenset[str]]]) -> list[str]:
    """Section fields no settings type reads and nothing wires by hand: a knob with no effect."""
    read = {f.name for s, (sec, _) in table.items() if sec is section for f in dataclasses.fields(s)}
    return sorted(set(section.model_fields) - read - set(WIRED_BY_HAND.get(section, {})))


@pytest.mark.parametrize("settings", list(SETTINGS), ids=lambda s: s.__name__)
def test_each_settings_field_is_its_sections_field_of_the_same_type(settings: type[Any]) -> None:
    section, derived = SETTINGS[settings]
    assert mismatches(settings, section, derived) == []
    assert derived <= {f.name for f in dataclasses.fields(settings)}, "derived fields are settings fields"


@pytest.mark.parametrize("section", sorted({s for s, _ in SETTINGS.values()}, key=lambda s: s.__name__))
def test_no_section_field_is_a_knob_nothing_reads(section: type[BaseModel]) -> None:
    assert unread(section, SETTINGS) == []
    assert set(WIRED_BY_HAND.get(section, {})) <= set(section.model_fields), "stale hand-wiring entries"


def test_a_field_the_settings_type_lacks_or_types_differently_is_reported() -> None:
    """Controls: a new section field nothing reads, and a settings field typed unlike its section's."""

    class Section(BaseModel):
        kept: int = Field(1, description="read")
        forgotten: bool = Field(False, description="read by nothing")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        kept: str

    assert unread(Section, {Settings: (Section, frozenset())}) == ["forgotten"]
    assert mismatches(Settings, Section, frozenset()) == [
        "Settings.kept: <class 'str'> in settings, <class 'int'> in Section"
    ]


def test_settings_are_read_from_their_section_by_name() -> None:
    section = LoadTestConfig(duration_seconds=60, concurrency=3)
    assert from_section(LoadTestSettings, section) == LoadTestSettings(
        duration_seconds=60,
        concurrency=3,
        max_error_percent=section.max_error_percent,
        max_p99_ms=section.max_p99_ms,
        compute_type=section.compute_type,
    )
