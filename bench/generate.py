"""Benchmark the order generator at one scale; writes bench/results/generate.md.

Usage: ``python bench/generate.py [--scale large] [--seed 42] [--out DIR] [--keep]``
(default: ``large`` into a temporary folder that is removed afterwards).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.generate import generate  # noqa: E402

TARGET_LINES = 20_000_000
TARGET_SECONDS = 600.0
TARGET_RSS_MB = 4096.0


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _row(name: str, value: str, target: str, met: bool | None) -> str:
    verdict = "" if met is None else ("met" if met else "**not met**")
    return f"| {name} | {value} | {target} | {verdict} |"


def run(scale: str, seed: int, out: str) -> str:
    """Generate once and render the markdown report."""
    load_before = os.getloadavg()
    cpu0 = _cpu_seconds()
    rep = generate(scale, seed, out, progress=True)
    cpu = _cpu_seconds() - cpu0
    load_after = os.getloadavg()
    lines_target = scale == "large"
    rows = [
        "| measure | value | target | |",
        "|---|---|---|---|",
        _row("order lines", f"{rep.rows['order_lines']:,}", "≥ 20,000,000" if lines_target
             else "—", rep.rows["order_lines"] >= TARGET_LINES if lines_target else None),
        _row("wall time", f"{rep.seconds:.1f} s", "< 600 s", rep.seconds < TARGET_SECONDS),
        _row("CPU time (user + sys)", f"{cpu:.1f} s", "—", None),
        _row("peak RSS", f"{rep.peak_rss_mb:,.0f} MB", "< 4,096 MB",
             rep.peak_rss_mb < TARGET_RSS_MB),
        _row("rows written (8 tables)", f"{rep.total_rows:,}", "—", None),
        _row("rows/s", f"{rep.total_rows / rep.seconds:,.0f}", "—", None),
        _row("order lines/s", f"{rep.rows['order_lines'] / rep.seconds:,.0f}", "—", None),
    ]
    tables = ["| table | rows |", "|---|---|"] + [
        f"| {t} | {n:,} |" for t, n in rep.rows.items()
    ] + [f"| _truth/customer_snapshots | {rep.truth_rows:,} |"]
    return "\n".join([
        "## generate",
        "",
        f"Command: `python bench/generate.py --scale {scale} --seed {seed}` "
        f"({rep.params['days']} days from {rep.params['start']}, {rep.chunks} month chunks).",
        f"Machine: {os.cpu_count()} cores; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (1-min); run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "Wall time is what a user waits on a shared machine; CPU time is the work itself.",
        "",
        *rows,
        "",
        *tables,
        "",
    ])


def main() -> None:
    """Parse arguments, run, write bench/results/generate.md."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", default="large")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="keep the data here (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="do not delete the temp folder")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix=f"oms-gen-{args.scale}-")
    try:
        md = run(args.scale, args.seed, out)
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    target = results / "generate.md"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(md)
    tmp.replace(target)
    print(md)


if __name__ == "__main__":
    main()
