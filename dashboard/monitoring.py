"""Monitoring page data: the drift summary and the forecast-vs-actual table.

Both are written by the daily batch's monitoring step (if it has run for the tenant).

Read through ``oms.outputs`` like every other output; the kinds below are tried in order so
the page follows the monitoring step's naming without importing the pipeline.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import NoData, Sources, first_output

DRIFT_KINDS = ("drift", "drift_summary", "data_drift", "monitoring_drift")
ACCURACY_KINDS = ("forecast_accuracy", "forecast_tracking", "forecast_vs_actual",
                  "monitoring_accuracy")
NOT_RUN = ("The monitoring step has not run for tenant {t!r} yet: the daily batch runs it "
           "(drift of today's data against the training reference, and each forecast "
           "scored once its day has arrived).")


def drift(src: Sources, tenant: str) -> pd.DataFrame:
    """The latest drift table (one row per compared column, ``drifted`` flag)."""
    df = first_output(src, DRIFT_KINDS, tenant)
    if df.empty:
        raise NoData(NOT_RUN.format(t=tenant))
    return df


def forecast_vs_actual(src: Sources, tenant: str) -> pd.DataFrame:
    """WAPE and interval coverage per target and model version from the tracking table."""
    df = first_output(src, ACCURACY_KINDS, tenant)
    if df.empty:
        raise NoData(NOT_RUN.format(t=tenant))
    if not {"y", "yhat"} <= set(df.columns):
        return df
    keys = [k for k in ("target", "model_version") if k in df.columns] or ["tenant_id"]
    df = df.assign(abs_err=(df["y"] - df["yhat"]).abs(), abs_y=df["y"].abs())
    agg = {"days": ("yhat", "size"), "abs_err": ("abs_err", "sum"), "abs_y": ("abs_y", "sum")}
    agg |= {c: (c, "mean") for c in ("in_80", "in_95") if c in df.columns}
    out = df.groupby(keys, observed=True).agg(**agg).reset_index()
    out["wape"] = out["abs_err"] / out["abs_y"].where(out["abs_y"] > 0)
    out = out.drop(columns=["abs_err", "abs_y"]).rename(
        columns={"in_80": "coverage_80", "in_95": "coverage_95"})
    return out
