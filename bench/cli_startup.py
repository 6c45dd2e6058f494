"""CLI start-up time: ``oms-ml --help`` and ``oms-ml forecast --help`` (median of N runs).

``python bench/cli_startup.py [--runs 5] [--compare /path/to/other/checkout]`` writes
``bench/results/cli_startup.md``. Wall-clock times depend on the machine's load, so the load
average is printed beside them; ``--compare`` times another checkout in the same session.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["forecast", "--help"], ["train", "churn", "--help"])


def time_cli(checkout: Path, args: list[str], runs: int) -> float:
    """Median wall-clock seconds of ``python -m flows.cli *args`` with ``checkout``'s code."""
    env = dict(os.environ, PYTHONPATH=str(checkout), DO_NOT_TRACK="1")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=checkout,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    """Time each command for this checkout (and ``--compare``) and write the result file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--compare", type=Path, default=None)
    a = ap.parse_args()
    load = os.getloadavg()[0]
    lines = ["## CLI start-up", "",
             f"`python bench/cli_startup.py --runs {a.runs}"
             + (f" --compare {a.compare}`" if a.compare else "`")
             + f" — median of {a.runs} runs, 2 cores, load average {load:.1f} at start.", "",
             "command | this checkout (s)" + (" | compared checkout (s)" if a.compare else ""),
             "---|---" + ("|---" if a.compare else "")]
    for args in COMMANDS:
        row = f"`oms-ml {' '.join(args)}` | {time_cli(ROOT, args, a.runs):.2f}"
        if a.compare:
            row += f" | {time_cli(a.compare, args, a.runs):.2f}"
        lines.append(row)
    lines.append(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    (ROOT / "bench" / "results" / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
