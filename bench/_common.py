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


def reroute_instance(n: int = 100_000, nw: int = 10, ns: int = 200, seed: int = 0
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A seeded outage-rerouting instance: open orders, warehouses with capacity, stock.

    Used by ``bench/routing.py`` and ``bench/routing_regression.py`` (which loads this file by
    path, so it must import nothing of the package).
    """
    rng = np.random.default_rng(seed)
    wh = pd.DataFrame({"warehouse_id": [f"WH{i:02d}" for i in range(nw)],
                       "lat": rng.uniform(23, 40, nw), "lon": rng.uniform(105, 122, nw),
                       "cost_per_order": rng.uniform(1.5, 3.5, nw).round(2)})
    home = rng.integers(0, nw, n)
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(n)],
        "warehouse_id": wh["warehouse_id"].to_numpy()[home],
        "sku": [f"S{j:03d}" for j in rng.integers(0, ns, n)],
        "lat": wh["lat"].to_numpy()[home] + rng.normal(0, 1.5, n),
        "lon": wh["lon"].to_numpy()[home] + rng.normal(0, 1.5, n),
        "promised_hours": rng.choice([10.0, 16.0, 30.0, 48.0], n)})
    per_wh = np.bincount(home, minlength=nw)
    # capacity: 5-25% headroom over today's load, so losing one warehouse is tight
    wh["capacity"] = (per_wh * rng.uniform(1.05, 1.25, nw)).astype(np.int64)
    counts = orders.groupby(["warehouse_id", "sku"]).size()
    stock = counts.reset_index(name="on_hand")
    stock["on_hand"] = (stock["on_hand"] * rng.uniform(1.0, 1.4, len(stock))).round().astype(int)
    return orders, wh, stock
