"""Shared helpers of the lake reliability tests: a tiny landing split into days, subprocess runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from oms.contract import TABLES, get_table
from oms.lake import read_table, write_table

ROOT = Path(__file__).resolve().parents[2]
FACTS = {"orders": "order_date", "order_lines": "order_date", "order_events": "event_date"}


def tiny_landing(root: Path, days: int = 6, seed: int = 3) -> dict[str, pd.DataFrame]:
    """Generate ``tiny`` data for a few days; returns the tables as frames (landing at root)."""
    from pipelines.generate import generate

    generate("tiny", seed, str(root), start="2024-03-01", days=days)
    return {t: read_table(root / t, table=t) for t in TABLES}


def write_landing(root: Path, frames: dict[str, pd.DataFrame]) -> Path:
    """Write frames as a landing zone (one dataset per table)."""
    for name, df in frames.items():
        write_table(df, root / name, table=name)
    return root


def split_last_day(frames: dict[str, pd.DataFrame]) -> tuple[dict, dict]:
    """(everything before the last order day, the last day's facts only)."""
    last = frames["orders"]["order_date"].max()
    before, day = {}, {}
    for name, df in frames.items():
        col = FACTS.get(name)
        if col is None:
            before[name] = df
        else:
            before[name] = df[df[col] < last].reset_index(drop=True)
            day[name] = df[df[col] == last].reset_index(drop=True)
    return before, day


def lake_rows(lake: Path) -> dict[str, int]:
    """Row count per table of the lake's current version."""
    from oms.versions import read_pointer

    ptr = read_pointer(lake)
    names = ptr["tables"] if ptr else [p.name for p in lake.iterdir() if p.name[0] not in "._"]
    return {t: len(read_table(lake / t)) for t in names}


def digest(lake: Path) -> dict[str, int]:
    """A content fingerprint per table (order-independent)."""
    out = {}
    for t, _ in lake_rows(lake).items():
        df = read_table(lake / t, table=t if t in TABLES else None)
        keys = list(get_table(t).primary_key) if t in TABLES else list(df.columns)
        df = df.sort_values(keys).reset_index(drop=True)
        out[t] = int(pd.util.hash_pandas_object(df, index=False).sum())
    return out


def run_py(code: str, env: dict[str, str] | None = None,
           timeout: float = 240) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter with this checkout importable."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), "DO_NOT_TRACK": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=timeout)


def ingest_code(landing: Path, lake: Path, quarantine: Path, replace: bool = False) -> str:
    """Python source that runs one ingest (for :func:`run_py`)."""
    return ("from pipelines.ingest import ingest\n"
            f"ingest({str(landing)!r}, {str(lake)!r}, {str(quarantine)!r}, replace={replace})\n")
