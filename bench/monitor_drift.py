"""Calibrate the drift alert: how often it fires on ordinary days and on days with prices × 1.5.

Generates a ``tiny`` lake (400 days) per seed, then for each of its last ``--days`` days runs
the monitoring step's drift test (``models.monitoring.drift``: the day's lines and orders vs
the 28 days before, K-S / chi-square at p <= 0.01) twice: on the day as it is, and on the same
day with every unit price, line amount and order amount × 1.5. An alert is a drifted-column
share >= 0.2 (``MonitorThresholds``). Writes ``bench/results/monitor.md``. Usage::

    .venv/bin/python bench/monitor_drift.py [--days 40] [--seeds 7,11]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import load_average, md_table, write_atomic  # noqa: E402
from models.monitoring.drift import drift_rows, run_drift  # noqa: E402
from oms.lake import read_table, table_uri  # noqa: E402
from pipelines.generate import generate  # noqa: E402
from pipelines.ingest import ingest  # noqa: E402
from pipelines.monitor import MonitorThresholds  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "monitor.md"
MONEY = ["unit_price", "line_amount", "order_amount"]


def lake_rows(tmp: Path, seed: int) -> pd.DataFrame:
    """Drift rows of a generated tiny lake."""
    generate("tiny", seed=seed, out=str(tmp / "landing"))
    ingest(str(tmp / "landing"), str(tmp / "lake"), str(tmp / "q"))
    orders = read_table(table_uri(tmp / "lake", "orders"))
    lines = read_table(table_uri(tmp / "lake", "order_lines"))
    return drift_rows(orders, lines)


def calibrate(rows: pd.DataFrame, n_days: int, th: MonitorThresholds) -> pd.DataFrame:
    """One row per day: drifted share as it is and with prices × 1.5."""
    days = sorted(rows["order_date"].unique())[-n_days:]
    out = []
    for day in days:
        window = (rows["order_date"] >= day - pd.Timedelta(days=th.reference_days))
        ref = rows[window & (rows["order_date"] < day)]
        cur = rows[rows["order_date"] == day]
        shifted = cur.copy()
        shifted[MONEY] = shifted[MONEY] * 1.5
        t0 = time.perf_counter()
        plain = run_drift(ref, cur, threshold=th.p_value)
        seconds = time.perf_counter() - t0
        moved = run_drift(ref, shifted, threshold=th.p_value)
        out.append({"day": pd.Timestamp(day).date(), "lines": int((cur["unit"] == "line").sum()),
                    "share": plain.share, "share_x1.5": moved.share,
                    "drifted": ", ".join(plain.table.loc[plain.table["drifted"], "column"]),
                    "seconds": seconds})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=40)
    ap.add_argument("--seeds", default="7,11")
    args = ap.parse_args()
    th = MonitorThresholds()
    per_seed, rows = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            res = calibrate(lake_rows(Path(tmp), seed), args.days, th).assign(seed=seed)
        rows.append(res)
        per_seed.append({"seed": seed, "days": len(res),
                         "alert_ordinary": float((res["share"] >= th.drift_share).mean()),
                         "alert_x1.5": float((res["share_x1.5"] >= th.drift_share).mean()),
                         "median_s_per_run": float(res["seconds"].median())})
    res = pd.concat(rows, ignore_index=True)
    text = "\n".join([
        "# Monitoring: drift alert calibration", "",
        f"Command: `.venv/bin/python bench/monitor_drift.py --days {args.days} --seeds "
        f"{args.seeds}`; machine: 2 cores, load average {load_average()} (timings depend on "
        "load, rates do not).", "",
        f"Thresholds: column drifted at p <= {th.p_value}, alert at drifted share >= "
        f"{th.drift_share}, reference = {th.reference_days} days before the day. Share of "
        "days with an alert (ordinary day = false alarm; prices x1.5 = detection):", "",
        md_table(pd.DataFrame(per_seed), digits=3), "",
        f"Overall: false alarms {(res['share'] >= th.drift_share).mean():.1%}, detection "
        f"{(res['share_x1.5'] >= th.drift_share).mean():.1%} of {len(res)} days.", "",
        "Per day:", "", md_table(res, digits=3), ""])
    write_atomic(RESULTS, text)
    print(text)


if __name__ == "__main__":
    main()
