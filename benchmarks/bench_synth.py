"""Benchmark: config validation, full synthesis (all environments, one process), peak memory.

    make bench                 # or: .venv/bin/python benchmarks/bench_synth.py [--runs N] [--naive]

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def report(name: str, samples: list[tuple[float, int]]) -> float:
    seconds = statistics.median(s for s, _ in samples)
    peak_mib = max(m for _, m in samples) / 1024
    print(f"{name:<48} median {seconds:6.2f} s   peak RSS {peak_mib:7.0f} MiB   ({len(samples)} runs)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive", action="store_true", help="also time the provider's full package import")
    args = parser.parse_args()
    python = sys.executable
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


if __name__ == "__main__":
    main()
