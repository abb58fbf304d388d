"""Run every benchmark of this folder, print the table and write it to BENCHMARKS.md.

    make bench            (or: python benchmarks/run_all.py [name ...])

Each module exposes ``main() -> list[(measure, figure, note)]``. Figures are from one run on the
machine at hand; compare ratios within a run, not absolute numbers across machines.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import sys
import time
from pathlib import Path

# The per-frame target is for one core: keep open3d/OpenMP and BLAS from spreading over both.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("bench_core", "bench_services", "bench_recovery", "bench_fleet", "bench_peer")


_TARGET = re.compile(r"(<=|>=|<|>)\s*([\d.,]+)\s*(k|M)?x?(?![\w])")  # "<= 25 ms", ">= 100k", "<= 3x"
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(k|M)?x?(?![\w.])")
_SCALE = {None: 1.0, "k": 1e3, "M": 1e6}


def verdict(measure: str, figure: str) -> str:
    """PASS or FAIL of ``figure`` against the targets its ``measure`` states ("(target <= 25 ms)",
    "(targets: median <= 3x, p99 <= 10x the floor)"), the n-th number of the figure against the
    n-th target; "" for a measure without a target."""
    start = measure.find("(target")
    if start < 0:
        return ""
    targets = _TARGET.findall(measure[start:measure.find(")", start)])
    numbers = _NUMBER.findall(figure)
    if not targets or len(numbers) < len(targets):
        return ""
    for (operator, bound, bound_scale), (number, scale) in zip(targets, numbers):
        value = float(number.replace(",", "")) * _SCALE[scale or None]
        limit = float(bound.replace(",", "")) * _SCALE[bound_scale or None]
        passed = {"<=": value <= limit, ">=": value >= limit, "<": value < limit, ">": value > limit}[operator]
        if not passed:
            return "FAIL"
    return "PASS"


def kept_rows(names: list[str]) -> list[tuple[str, str, str, str]]:
    """The rows of BENCHMARKS.md from benchmarks not run this time (``run_all.py bench_fleet``
    replaces the fleet rows and keeps the others)."""
    path = HERE.parent / "BENCHMARKS.md"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 5:  # measure, figure, verdict, note, command
            cells = [cells[0], cells[1], cells[3], cells[4]]
        if len(cells) == 4 and cells[3].startswith("`python benchmarks/run_all.py"):
            if cells[3].strip("`").split()[-1] not in names:
                rows.append((cells[0], cells[1], cells[2], cells[3].strip("`")))
    return rows


def main(names: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = names or list(BENCHMARKS)
    rows = kept_rows(names)
    for name in names:
        started = time.perf_counter()
        module = importlib.import_module(name)
        for measure, figure, note in module.main():
            rows.append((measure, figure, note, f"python benchmarks/run_all.py {name}"))
            print(f"{measure}: {figure} {verdict(measure, figure)} ({note})", flush=True)
        print(f"  [{name} took {time.perf_counter() - started:.0f} s]", flush=True)
    header = ["| measure | figure | target | note | command |", "|---|---|---|---|---|"]
    table = header + [f"| {m} | {f} | {verdict(m, f)} | {n} | `{c}` |" for m, f, n, c in rows]
    failed = sum(verdict(m, f) == "FAIL" for m, f, _, _ in rows)
    ran = ", ".join(names)
    text = (f"# Benchmarks\n\nMeasured on {platform.node()} ({platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}), {time.strftime('%Y-%m-%d')} ({ran}; rows of other benchmarks "
            "are from their last run); `make bench` reproduces them all. The target column checks each figure "
            f"against the target its measure states: {failed} of {sum(bool(verdict(m, f)) for m, f, _, _ in rows)} "
            "missed.\n\n" + "\n".join(table) + "\n")
    (HERE.parent / "BENCHMARKS.md").write_text(text)
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
