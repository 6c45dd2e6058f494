"""Forecast-vs-actual scoring: each stored forecast row, once its day has arrived.

A forecast frame is the long format every forecaster returns (``unique_id, ds, yhat,
yhat-lo-80, yhat-hi-80, yhat-lo-95, yhat-hi-95``) plus ``model_version``. Its *forecast date*
is the forecast's origin: the day before the first target day of that model version's run
for the series (the last day of history the model saw). Keying on the origin rather than on a
file's write time means the undated latest output and its dated copy count once.

The tracking table has one row per (``target``, ``model_version``, ``forecast_date``,
``unique_id``, ``ds``) with the actual ``y``, the forecast and the interval hits;
:func:`accuracy_summary` turns it into WAPE = Σ|y − ŷ| / Σ|y| and the share of actuals
inside the 80 % / 95 % intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVELS = (80, 95)
#: A tracking row is unique on these columns (reruns replace, never duplicate).
TRACKING_KEY = ["target", "model_version", "forecast_date", "unique_id", "ds"]
TRACKING_COLUMNS = [*TRACKING_KEY, "horizon", "y", "yhat",
                    *(f"yhat-{s}-{lv}" for lv in LEVELS for s in ("lo", "hi")),
                    *(f"in_{lv}" for lv in LEVELS), "abs_error", "scored_at"]


def forecast_origins(forecast: pd.DataFrame) -> pd.Series:
    """Forecast date per row: the day before its run's first target day (per version, series)."""
    ds = pd.to_datetime(forecast["ds"]).dt.normalize()
    version = forecast["model_version"].astype(str)
    first = ds.groupby([version, forecast["unique_id"].astype(str)]).transform("min")
    return first - pd.Timedelta(days=1)


def _with_actuals(forecast: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """Left-join the actual ``y`` on ``unique_id, ds``; no actual on an arrived day = 0."""
    act = actuals[["unique_id", "ds", "y"]].copy()
    act["unique_id"] = act["unique_id"].astype(str)
    act["ds"] = pd.to_datetime(act["ds"]).dt.normalize()
    act = act.groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    out = forecast.merge(act, on=["unique_id", "ds"], how="left")
    out["y"] = out["y"].fillna(0.0).astype(float)  # the day arrived and nothing was sold
    return out


def score_forecasts(forecast: pd.DataFrame, actuals: pd.DataFrame, arrived_until,
                    target: str, scored_at: pd.Timestamp | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the forecast rows whose day has arrived; return the others as pending.

    Args:
        forecast: ``unique_id, ds, yhat`` (+ ``yhat-lo/hi-80/95``), ``model_version``; an
            optional ``forecast_date`` (default: :func:`forecast_origins`).
        actuals: ``unique_id, ds, y`` for the arrived days (a series-day absent here counts
            as 0: its day arrived without a sale).
        arrived_until: Last day whose actuals are complete; later target days are pending.
        target: Name written in the ``target`` column (``volume`` or ``sku``).
        scored_at: Timestamp written on scored rows (default: now, UTC).

    Returns:
        ``(scored, pending)``: scored rows in :data:`TRACKING_COLUMNS`; pending rows with the
        key columns and ``yhat``.
    """
    missing = [c for c in ("unique_id", "ds", "yhat", "model_version") if c not in forecast]
    if missing:
        raise ValueError(f"forecast lacks column(s) {missing}")
    fc = forecast.copy()
    fc["unique_id"] = fc["unique_id"].astype(str)
    fc["model_version"] = fc["model_version"].astype(str)
    fc["ds"] = pd.to_datetime(fc["ds"]).dt.normalize()
    if "forecast_date" not in fc:
        fc["forecast_date"] = forecast_origins(fc)
    fc["forecast_date"] = pd.to_datetime(fc["forecast_date"]).dt.normalize()
    fc["target"] = target
    fc["horizon"] = (fc["ds"] - fc["forecast_date"]).dt.days.astype("int64")
    for lv in LEVELS:
        for side in ("lo", "hi"):
            if f"yhat-{side}-{lv}" not in fc:
                fc[f"yhat-{side}-{lv}"] = np.nan
    due = fc["ds"] <= pd.Timestamp(arrived_until).normalize()
    pending = fc.loc[~due, [*TRACKING_KEY, "horizon", "yhat"]].reset_index(drop=True)
    scored = _with_actuals(fc.loc[due], actuals)
    for lv in LEVELS:
        lo, hi = scored[f"yhat-lo-{lv}"], scored[f"yhat-hi-{lv}"]
        hit = (scored["y"] >= lo) & (scored["y"] <= hi)
        scored[f"in_{lv}"] = hit.astype(float).where(lo.notna() & hi.notna())
    scored["abs_error"] = (scored["y"] - scored["yhat"]).abs()
    scored["scored_at"] = scored_at if scored_at is not None else pd.Timestamp.now(tz="UTC")
    return scored[TRACKING_COLUMNS].reset_index(drop=True), pending


def merge_tracking(existing: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Append newly scored rows to the tracking table; a key already there is replaced.

    The newest score wins (late-arriving orders can change an actual), so a rerun of the
    same day leaves the table the same size.
    """
    frames = [f for f in (existing, new) if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=TRACKING_COLUMNS)
    table = pd.concat([f[TRACKING_COLUMNS] for f in frames], ignore_index=True)
    for c in ("forecast_date", "ds"):
        table[c] = pd.to_datetime(table[c]).dt.normalize()
    table = table.drop_duplicates(TRACKING_KEY, keep="last")
    return table.sort_values(TRACKING_KEY, kind="stable").reset_index(drop=True)


def accuracy_summary(table: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """WAPE and interval coverage per group (default: per target and model version).

    Returns:
        ``by`` + ``n, actual, abs_error, wape, coverage_80, coverage_95, first_day,
        last_day``; ``wape`` is NaN when every actual is 0.
    """
    by = by or ["target", "model_version"]
    cols = [*by, "n", "actual", "abs_error", "wape", "coverage_80", "coverage_95",
            "first_day", "last_day"]
    if table is None or table.empty:
        return pd.DataFrame(columns=cols)
    t = table.assign(abs_y=table["y"].abs())
    g = t.groupby(by, sort=True)
    out = g.agg(n=("y", "size"), actual=("abs_y", "sum"), abs_error=("abs_error", "sum"),
                coverage_80=("in_80", "mean"), coverage_95=("in_95", "mean"),
                first_day=("ds", "min"), last_day=("ds", "max")).reset_index()
    out["wape"] = (out["abs_error"] / out["actual"].where(out["actual"] > 0)).astype(float)
    return out[cols]
