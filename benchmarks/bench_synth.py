"""Benchmark: config validation, full synthesis (all environments, one process), peak memory,
and the cost of services: one environment with 1, 5 and 20 services (issue 15).

    make bench                 # or: .venv/bin/python benchmarks/bench_synth.py [--runs N] [--naive]
    .venv/bin/python benchmarks/bench_synth.py --services-only [--services 1 5 20]

Measures whole processes the way a user runs them, and samples the resident memory of the
process tree (Python plus the jsii Node child) every 20 ms. Machines are noisy: compare the
ratios, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: tools/ is the project's
from tools.services_config import write_services_config  # noqa: E402

ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def measure(args: list[str], expect_failure: bool = False) -> tuple[float, int]:
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_kib(process.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if (process.returncode != 0) is not expect_failure:
        sys.exit(f"failed: {' '.join(args)}\n{process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, peak


@dataclass(frozen=True)
class Run:
    """One synthesis process: wall and CPU seconds (its own and its waited-for children's, i.e.
    Python and jsii's Node), the largest single process's peak RSS (ru_maxrss, Linux KiB) and the
    sampled peak of the whole tree (Python plus Node resident together)."""

    wall: float
    cpu: float
    maxrss_kib: int
    tree_kib: int


def measure_child(args: list[str]) -> Run:
    """Run ``args`` in its own process and read its rusage from wait4, so each point has its own
    peak (RUSAGE_CHILDREN accumulates the maximum over every child the bench has waited for)."""
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, status, usage = 0, 0, None
    while usage is None:
        peak = max(peak, tree_rss_kib(process.pid))
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            usage = rusage
        else:
            time.sleep(0.02)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{process.stderr.read().decode() if process.stderr else ''}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, max(peak, usage.ru_maxrss))


def slope(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of y over x."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


#: Issue 15's targets: each added service at most 0.25 s and 15 MiB; 20 services under 12 s.
TARGET_SECONDS_PER_SERVICE = 0.25
TARGET_MIB_PER_SERVICE = 15.0
TARGET_SERVICES, TARGET_SECONDS = 20, 12.0


def bench_services(counts: list[int], runs: int, python: str, out: Path) -> None:
    """Synthesize one environment with each number of services, ``runs`` times each, one process
    per run; print the medians, the marginal cost of a service and whether each target is met."""
    mib = 1024.0
    medians: dict[int, Run] = {}
    print(f"\nservices sweep (tools/services_config.py), median of {runs}, one process per run")
    print(f"{'services':>8} {'wall s':>8} {'cpu s':>8} {'maxrss MiB':>11} {'tree MiB':>9}")
    for count in counts:
        config = write_services_config(count, out / f"services{count}.yaml")
        command = [python, "main.py", "--config", str(config), "--outdir", str(out / f"services{count}.out")]
        samples = [measure_child(command) for _ in range(runs)]
        run = Run(
            statistics.median(s.wall for s in samples),
            statistics.median(s.cpu for s in samples),
            int(statistics.median(s.maxrss_kib for s in samples)),
            int(statistics.median(s.tree_kib for s in samples)),
        )
        medians[count] = run
        print(f"{count:>8} {run.wall:8.2f} {run.cpu:8.2f} {run.maxrss_kib / mib:11.0f} {run.tree_kib / mib:9.0f}")
    if len(medians) < 2:
        return
    per_wall = slope([(n, r.wall) for n, r in medians.items()])
    per_cpu = slope([(n, r.cpu) for n, r in medians.items()])
    per_maxrss = slope([(n, r.maxrss_kib / mib) for n, r in medians.items()])
    per_tree = slope([(n, r.tree_kib / mib) for n, r in medians.items()])
    print(
        f"one more service (least-squares slope): {per_wall:.3f} s wall, {per_cpu:.3f} s CPU, "
        f"{per_maxrss:.1f} MiB maxrss, {per_tree:.1f} MiB tree"
    )

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    wall_met = per_wall <= TARGET_SECONDS_PER_SERVICE
    print(f"target <= {TARGET_SECONDS_PER_SERVICE} s per service (wall): {verdict(wall_met)}")
    worst_mib = max(per_maxrss, per_tree)
    print(f"target <= {TARGET_MIB_PER_SERVICE:.0f} MiB per service: {verdict(worst_mib <= TARGET_MIB_PER_SERVICE)}")
    if TARGET_SERVICES in medians:
        wall = medians[TARGET_SERVICES].wall
        met = verdict(wall < TARGET_SECONDS)
        print(f"target {TARGET_SERVICES} services < {TARGET_SECONDS:.0f} s: {met} ({wall:.2f} s)")


def report(name: str, samples: list[tuple[float, int]]) -> float:
    seconds = statistics.median(s for s, _ in samples)
    peak_mib = max(m for _, m in samples) / 1024
    print(f"{name:<48} median {seconds:6.2f} s   peak RSS {peak_mib:7.0f} MiB   ({len(samples)} runs)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive", action="store_true", help="also time the provider's full package import")
    parser.add_argument("--services", type=int, nargs="+", default=[1, 5, 20], metavar="N", help="services sweep")
    parser.add_argument("--services-only", action="store_true", help="run only the services sweep")
    args = parser.parse_args()
    python = sys.executable
    if args.services_only:
        with tempfile.TemporaryDirectory() as out:
            bench_services(args.services, args.runs, python, Path(out))
        return
    with tempfile.TemporaryDirectory() as out:
        bad = Path(out) / "bad.yaml"
        bad.write_text("project: x\nservice: {cpu: 3}\n")
        cases = {
            "(a) import the provider bindings used": [python, "-c", "import modules.stack"],
            "(b) synthesize one environment (prod)": [python, "main.py", "--env", "prod", "--outdir", out],
            "(c) synthesize all environments": [python, "main.py", "--outdir", out],
            "(d) reject a bad config": [python, "main.py", "--config", str(bad)],
        }
        if args.naive:
            cases["(n) import the provider package whole (naive)"] = [python, "-c", "import cdktf_cdktf_provider_aws"]
        seconds = {
            name: report(name, [measure(command, expect_failure="(d)" in name) for _ in range(args.runs)])
            for name, command in cases.items()
        }
    a, b, c = (seconds[name] for name in list(cases)[:3])
    print(f"ratios: (b)/(a) {b / a:.2f}   (c)/(a) {c / a:.2f}   (c)/(b) {c / b:.2f}")
    if args.naive:
        print(f"ratio naive/lazy provider import: {seconds[list(cases)[-1]] / a:.1f}")
    with tempfile.TemporaryDirectory() as out:
        bench_services(args.services, args.runs, python, Path(out))


if __name__ == "__main__":
    main()
