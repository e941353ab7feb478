"""The emulator refuses, as AWS does, the faulty orders the product must avoid; the right order passes.

moto accepts calls that AWS refuses (a metric filter for a missing log group, a VPC Lambda whose
role cannot manage network interfaces, ...), so an emulator cycle alone would not catch a stack
that creates a resource before its prerequisite. tools/emulator_patches.py restores each refusal;
each test here makes the faulty call sequence against one emulator server (started once for the
module), expects AWS's error code, then makes the right sequence and expects it to pass.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.emulator_cycle import Emulator

ACCOUNT = "123456789012"
REGION = "eu-west-1"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("moto") is None, reason="the emulator needs moto[server] (not importable here)"
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    log: Path = tmp_path_factory.mktemp("emulator-strictness") / "moto.log"
    server = Emulator(ACCOUNT, log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def aws(emulator: Emulator) -> Callable[..., Any]:
    """A boto3 client of the emulator: ``aws("logs")`` (``region=`` for another region)."""

    def client(service: str, region: str = REGION) -> Any:
        return emulator.client(service, region)

    return client


def refused(call: Callable[..., Any], code: str, **arguments: Any) -> str:
    """The message of the ClientError ``call(**arguments)`` raises, which must carry ``code``."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        call(**arguments)
    error = raised.value.response["Error"]
    assert error["Code"] == code, error
    return str(error["Message"])


def test_a_metric_filter_for_a_missing_log_group_is_refused(aws: Callable[..., Any]) -> None:
    logs = aws("logs")
    metric_filter = {
        "logGroupName": "/ecs/strict-app",
        "filterName": "5xx",
        "filterPattern": "[ip, id, user, timestamp, request, status_code=5*, size]",
        "metricTransformations": [{"metricName": "5xx", "metricNamespace": "strict", "metricValue": "1"}],
    }
    message = refused(logs.put_metric_filter, "ResourceNotFoundException", **metric_filter)
    assert message == "The specified log group does not exist."

    logs.create_log_group(logGroupName="/ecs/strict-app")
    logs.put_metric_filter(**metric_filter)
    created = logs.describe_metric_filters(logGroupName="/ecs/strict-app")["metricFilters"]
    assert [f["filterName"] for f in created] == ["5xx"]
