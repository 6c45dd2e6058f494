"""Monitoring page data: the drift summary and the forecast-vs-actual table.

Both are written by the daily batch's monitoring step (``pipelines/monitor.py``) under the
outputs layout of ``oms.outputs``:

* ``monitor_report/<tenant>/monitor_report-<day>.json`` — one summary per monitored day
  (``run_date, alerts, notes, drift_share, drift`` rows ``column, method, score, threshold,
  drifted``, ``accuracy``, ``pending``); the latest day is shown;
* ``forecast_accuracy/<tenant>/forecast_accuracy.parquet`` — the tracking table, one row per
  target, model version, forecast date, series and arrived day (``y, yhat, in_80, in_95,
  abs_error``), summarised here per target and model version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.data import NoData, Sources
from oms.outputs import read_output
from oms.tenancy import validate_tenant

REPORT = "monitor_report"
ACCURACY = "forecast_accuracy"
NOT_RUN = ("The monitoring step has not run for tenant {t!r} yet: the daily batch runs it "
           "(drift of the day's orders against the weeks before, and each forecast scored "
           "once its day has arrived).")


def latest_report(src: Sources, tenant: str) -> dict[str, Any]:
    """The latest day's monitoring summary (``NoData`` when the step has not run)."""
    folder = Path(src.outputs.removeprefix("file://")) / REPORT / validate_tenant(tenant)
    files = sorted(folder.glob(f"{REPORT}-*.json")) if folder.is_dir() else []
    if not files:
        raise NoData(NOT_RUN.format(t=tenant))
    try:
        return json.loads(files[-1].read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise NoData(f"The monitoring summary {files[-1].name} cannot be read: {e}") from e


def drift(src: Sources, tenant: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """The latest drift test: ``(report, table)``, one table row per compared column.

    Raises:
        NoData: The step has not run, or did not test drift that day (its note says why).
    """
    rep = latest_report(src, tenant)
    table = pd.DataFrame(rep.get("drift") or [])
    if table.empty:
        notes = "; ".join(rep.get("notes") or []) or "no reason recorded"
        raise NoData(f"Drift was not tested on {rep.get('run_date')}: {notes}.")
    return rep, table


def summarise_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """WAPE (Σ|y − ŷ| / Σ|y|) and 80/95 % coverage per target and model version."""
    by = [c for c in ("target", "model_version") if c in table.columns]
    t = table.assign(abs_y=table["y"].abs(), abs_err=(table["y"] - table["yhat"]).abs())
    agg: dict[str, tuple[str, str]] = {"n": ("y", "size"), "actual": ("abs_y", "sum"),
                                       "abs_error": ("abs_err", "sum"),
                                       "first_day": ("ds", "min"), "last_day": ("ds", "max")}
    agg |= {f"coverage_{lv}": (f"in_{lv}", "mean") for lv in (80, 95) if f"in_{lv}" in t}
    out = t.groupby(by, observed=True).agg(**agg).reset_index()
    out["wape"] = (out["abs_error"] / out["actual"].where(out["actual"] > 0)).astype(float)
    return out


def forecast_vs_actual(src: Sources, tenant: str) -> pd.DataFrame:
    """The scored forecasts summarised per target and model version.

    Raises:
        NoData: The step has not run, or no forecast day has arrived yet.
    """
    table = read_output(ACCURACY, [validate_tenant(tenant)], root=src.outputs)
    if table.empty:
        rep = latest_report(src, tenant)  # raises NOT_RUN when the step never ran
        raise NoData(f"No forecast has been scored yet (monitoring of {rep.get('run_date')}): "
                     f"{int(rep.get('pending') or 0)} forecast rows wait for their actuals.")
    return summarise_accuracy(table)


def alerts(src: Sources, tenant: str) -> list[str]:
    """The alert lines of the latest monitoring run (empty: nothing crossed a threshold)."""
    return list(latest_report(src, tenant).get("alerts") or [])
