"""The config `make bench` synthesizes (tools/services_config.py) is what it claims: for each
number of services the bench uses, a valid environment (the loader and `main.py --check` accept
it) whose services are distinct, each routed apart and with names of its own. Not timed: the
bench reports times, it does not assert them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import main
from config import ConfigError, load_config
from tools.services_config import services_config, write_services_config

#: What benchmarks/bench_synth.py sweeps by default.
COUNTS = (1, 5, 20)


@pytest.mark.parametrize("count", COUNTS)
def test_bench_config_is_valid_with_that_many_distinct_routed_services(count: int, tmp_path: Path) -> None:
    config = load_config(write_services_config(count, tmp_path / "bench.yaml"))
    services = config.all_services
    assert list(services) == [f"s{i}" for i in range(1, count + 1)]
    assert len({s.source.repository for s in services.values()}) == count
    routes = [s.route for s in services.values()]
    assert all(r is not None for r in routes), "every service is routed (a routed one costs the most)"
    assert [r.is_default for r in routes if r is not None] == [True] + [False] * (count - 1)
    assert len({r.host for r in routes if r is not None}) == count
    assert len(config.rule_priorities()) == count - 1
    names = [config.names.service(key) for key in services]
    for name in ("service", "ecr_repository", "target_group_blue", "target_group_green", "pipeline"):
        assert len({getattr(n, name) for n in names}) == count, name


@pytest.mark.parametrize("count", COUNTS)
def test_bench_config_passes_the_check_users_run(
    count: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["--check", "--config", str(write_services_config(count, tmp_path / "bench.yaml"))]) == 0
    assert capsys.readouterr().out.strip() == "ok: bluegreen-bench"


def test_bench_config_would_be_refused_if_its_services_were_not_routed_apart(tmp_path: Path) -> None:
    """Control: the validity asserted above is the loader's, and it does refuse a copy whose
    services share a host."""
    data = services_config(3)
    data["services"]["s3"]["route"] = dict(data["services"]["s2"]["route"])
    path = tmp_path / "same_host.yaml"

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match="s2's route"):
        load_config(path)


def test_an_environment_without_services_is_not_generated() -> None:
    with pytest.raises(ValueError, match="at least one service"):
        services_config(0)
