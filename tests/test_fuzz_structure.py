"""Hypothesis: the shipped configs, mutated structurally, are accepted or refused; never anything else.

Mutations change types, nesting and keys anywhere in a shipped config, and YAML features the
loader must bound (aliases and anchors, tags, deep nesting, odd keys, encodings). Each run goes
through ``main.main(["--check", ...])`` and must end with exit 0, or exit 2 and only problem lines
(``file: key.path: what; fix``), within a bounded CPU time and memory, and never a traceback.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import main
from config import shipped_environments

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {env: (ROOT / "config" / f"{env}.yaml").read_text() for env in shipped_environments()}
#: Per run: well under the second a bad config may take, and far under what a bomb would cost.
MAX_CPU_SECONDS = 1.0
MAX_PEAK_BYTES = 64 * 1024 * 1024
#: Wording that must never reach a user.
FOREIGN = re.compile(
    r"Input should|valid dictionary|instance of|pydantic|Traceback|\^\[|\\d|\{\d+,\d*\}|see (the )?docs"
)

#: No explain phase: it replays a failure under a line tracer, which multiplies the CPU a bound reports.
RUNS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)

Path_ = tuple[str | int, ...]


def paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key path in a parsed config (mapping keys and list indices)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def parent_of(data: Any, path: Path_) -> Any:
    node = data
    for part in path[:-1]:
        node = node[part]
    return node


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([0, -1, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "yes", "no", "on", "0x1F", "1e3", "2024-01-01", "~", "null", "-", "--x", "a;b", "$(id)"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
)
JUNK = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A shipped config with one to three structural changes."""
    env = draw(st.sampled_from(sorted(SHIPPED)))
    data: dict[str, Any] = yaml.safe_load(SHIPPED[env])
    for _ in range(draw(st.integers(1, 3))):
        where = paths(data)
        path = draw(st.sampled_from(where))
        parent = parent_of(data, path)
        leaf = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "wrap", "unwrap", "rename", "add", "copy"]))
        if action == "replace":
            parent[leaf] = draw(JUNK)
        elif action == "delete":
            del parent[leaf]
        elif action == "wrap":
            parent[leaf] = draw(st.sampled_from([[parent[leaf]], {"value": parent[leaf]}, [parent[leaf]] * 2]))
        elif action == "unwrap" and isinstance(parent[leaf], dict | list) and parent[leaf]:
            inner = parent[leaf]
            parent[leaf] = next(iter(inner.values())) if isinstance(inner, dict) else inner[0]
        elif action == "rename" and isinstance(leaf, str):
            parent[draw(st.text(min_size=1, max_size=12)) + leaf[1:]] = parent.pop(leaf)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(JUNK)
        elif action == "add" and isinstance(parent, list):
            parent.append(copy.deepcopy(draw(st.sampled_from(parent))) if parent else draw(JUNK))
        elif action == "copy":
            # The same value in another place (YAML dumps it as an anchor and an alias).
            other = draw(st.sampled_from(where))
            if other[: len(path)] != path and path[: len(other)] != other:
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    parent[leaf] = parent_of(data, other)[other[-1]]
    return env, data


YAML_TRICKS = [
    # an alias bomb: 9 levels of 9 aliases
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)),
    "x: &x [*x]\n",
    "project: !!python/object/apply:os.system ['echo hi']\n",
    "project: !!binary aGVsbG8=\n",
    "project: !custom shop\n",
    "? [a, b]\n: 1\n",
    "on: true\n",
    "1: one\n",
    "[" * 5000,
    "a:\n" + "".join(f"{'  ' * i}b{i}:\n" for i in range(1, 60)),
    "project: a\n---\nproject: b\n",
    "project: " + "9" * 5000 + "\n",
    "project: shop\n\x00",
    "\t- tab\n",
    "<<: {project: a}\n<<: {project: b}\n",
    "a: *undefined\n",
]


def check(tmp_path: Path, data: bytes) -> None:
    file = tmp_path / "fuzz.yaml"
    file.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    # CPU and memory are measured in two runs: tracemalloc slows allocation 3-4x (0.16 s of CPU
    # becomes 0.6 s on a deeply nested input), so the CPU bound is checked without it. CPU is
    # this thread's (--check runs in it; process_time would count the session's other threads),
    # with the session's garbage collected first.
    gc.collect()
    started = time.thread_time()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main.main(["--check", "--config", str(file)])
    spent = time.thread_time() - started
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main.main(["--check", "--config", str(file)])
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert spent < MAX_CPU_SECONDS, f"took {spent:.2f} s of CPU"
    assert peak < MAX_PEAK_BYTES, f"peaked at {peak / 2**20:.0f} MiB"
    assert code in (0, 2), err.getvalue()
    if code == 0:
        assert out.getvalue().startswith("ok: ")
        return
    *problems, summary = err.getvalue().splitlines()
    assert re.fullmatch(r"\d+ problem\(s\); nothing was synthesized\.", summary), summary
    assert problems
    for line in problems:
        assert line.startswith(f"{file}: "), line
        where, _, rest = line.removeprefix(f"{file}: ").partition(": ")
        assert where and rest, line
        assert re.search(r"; \S", rest), f"no fix: {line}"
        assert "bug in bluegreen" not in line, line
        assert not FOREIGN.search(rest), f"foreign wording: {line}"


@RUNS
@given(case=mutated())
def test_mutated_shipped_configs_are_accepted_or_refused_cleanly(tmp_path: Path, case: tuple[str, Any]) -> None:
    _, data = case
    check(tmp_path, yaml.dump(data, allow_unicode=True, sort_keys=False).encode())


@RUNS
@given(case=mutated(), trick=st.sampled_from(YAML_TRICKS), at=st.integers(0, 40))
def test_yaml_features_spliced_into_shipped_configs_are_bounded(
    tmp_path: Path, case: tuple[str, Any], trick: str, at: int
) -> None:
    env, _ = case
    lines = SHIPPED[env].splitlines(keepends=True)
    spliced = "".join(lines[:at]) + trick + "".join(lines[at:])
    check(tmp_path, spliced.encode("utf-8", "surrogatepass"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env=st.sampled_from(sorted(SHIPPED)), junk=st.binary(min_size=1, max_size=64), at=st.integers(0, 2000))
def test_arbitrary_bytes_in_a_shipped_config_never_crash(tmp_path: Path, env: str, junk: bytes, at: int) -> None:
    data = SHIPPED[env].encode()
    check(tmp_path, data[:at] + junk + data[at:])


@pytest.mark.parametrize("env", sorted(SHIPPED))
def test_shipped_configs_pass_the_same_check(tmp_path: Path, env: str) -> None:
    check(tmp_path, SHIPPED[env].encode())
