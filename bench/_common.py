"""Helpers shared by the bench scripts: target verdicts, markdown tables, paired comparisons."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def met(ok: bool) -> str:
    """Verdict of a target: ``met`` or ``**not met**``."""
    return "met" if ok else "**not met**"


def md_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A frame as a markdown table (floats with ``digits`` decimals)."""
    cols = list(df.columns)
    out = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        out.append("| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v)
                                     for v in row) + " |")
    return "\n".join(out)


def paired_diff(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean of the paired differences ``a - b`` and its standard error."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), se


def compare(diff: float, se: float) -> str:
    """Honest verdict of a paired difference: beyond 2 standard errors, or a tie."""
    if not np.isfinite(se) or abs(diff) <= 2 * se:
        return "TIE (within 2 se)"
    return "clearly better" if diff > 0 else "clearly worse"


def load_average() -> str:
    """The 1/5/15-minute load average as text."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
