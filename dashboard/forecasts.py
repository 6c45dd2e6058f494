"""Forecasts page data: order volume with 80/95 % intervals vs the arrived actuals, and SKUs.

One SKU's forecast comes with its reorder point and stock projection.

Forecasts come from ``oms.outputs`` (``order_volume_forecast``, ``sku_demand_forecast``: the
latest run plus its dated copies), actuals from the lake through the same feature functions
that built the training series (``features.demand``), so "actual" means what the model was
trained to predict. A forecast day counts as arrived once the lake has orders on or after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.data import NoData, Sources, dated_outputs, lake_table, output
from features.demand import daily_order_volume, sku_demand_panel

INTERVALS = ("lo-95", "lo-80", "hi-80", "hi-95")
#: Output kinds that may hold the inventory recommendations (first found wins), and the
#: inventory report's own layout (``<outputs>/inventory/tenant=<t>/recommendations.parquet``).
INVENTORY_KINDS = ("inventory", "inventory_recommendations")


def _latest_forecasts(fc: pd.DataFrame) -> pd.DataFrame:
    """One forecast per series and day: the one made last (latest ``created_at``)."""
    if "created_at" in fc.columns:
        fc = fc.sort_values("created_at")
    fc = fc.assign(ds=pd.to_datetime(fc["ds"]).dt.tz_localize(None).dt.normalize())
    return fc.drop_duplicates(["unique_id", "ds"], keep="last").sort_values(
        ["unique_id", "ds"], ignore_index=True)


def join_actuals(fc: pd.DataFrame, actuals: pd.DataFrame, history_days: int = 56
                 ) -> pd.DataFrame:
    """Forecast rows beside the actuals, plus ``history_days`` of actuals before them.

    Args:
        fc: One series' forecasts (``ds, yhat, yhat-lo-80, ...``).
        actuals: ``ds, y`` of the same series (days the lake has).
        history_days: Days of actuals shown before the first forecast day.

    Returns:
        ``ds, y, yhat`` + interval columns + ``arrived`` (the day's actual is in the lake).
    """
    fc = _latest_forecasts(fc)
    last_actual = actuals["ds"].max() if len(actuals) else pd.NaT
    if pd.notna(last_actual):  # older dated forecasts: only the days on the chart
        fc = fc[fc["ds"] > last_actual - pd.Timedelta(days=history_days)]
    start = fc["ds"].min() - pd.Timedelta(days=history_days)
    hist = actuals[actuals["ds"] >= start][["ds", "y"]]
    cols = ["ds", "yhat", *[f"yhat-{c}" for c in INTERVALS if f"yhat-{c}" in fc.columns]]
    out = hist.merge(fc[cols], on="ds", how="outer").sort_values("ds", ignore_index=True)
    out["arrived"] = out["ds"] <= last_actual if pd.notna(last_actual) else False
    out["y"] = out["y"].astype(float)
    return out


def accuracy(joined: pd.DataFrame) -> dict[str, float | int]:
    """WAPE and interval coverage over the forecast days whose actuals have arrived.

    Raises:
        NoData: No forecast day has arrived yet (the message names the days waiting).
    """
    fc = joined[joined["yhat"].notna()]
    done = fc[fc["arrived"] & fc["y"].notna()]
    if done.empty:
        first, last = fc["ds"].min(), fc["ds"].max()
        raise NoData(f"The actuals for the {len(fc)} forecast days ({first.date()} to "
                     f"{last.date()}) have not arrived yet: the lake's last order day is "
                     f"before them. Accuracy appears here once those days are ingested.")
    y, yhat = done["y"].to_numpy(float), done["yhat"].to_numpy(float)
    res: dict[str, float | int] = {
        "days": len(done), "waiting": int(len(fc) - len(done)),
        "wape": float(np.abs(y - yhat).sum() / max(np.abs(y).sum(), 1e-9))}
    for lvl in (80, 95):
        lo, hi = f"yhat-lo-{lvl}", f"yhat-hi-{lvl}"
        if lo in done and hi in done:
            res[f"coverage_{lvl}"] = float(((y >= done[lo]) & (y <= done[hi])).mean())
    return res


def volume(src: Sources, tenant: str) -> pd.DataFrame:
    """The tenant's order-volume forecast joined with the arrived daily order counts."""
    fc = dated_outputs(src, "order_volume_forecast", tenant)
    if fc.empty:
        raise NoData(f"No order-volume forecast for tenant {tenant!r} yet: the forecast "
                     "training job writes it (oms-ml train forecast, or the daily batch).")
    orders = lake_table(src, "orders", tenant, ["tenant_id", "order_date", "total_amount"])
    actuals = daily_order_volume(orders)[["ds", "y"]]
    return join_actuals(fc[fc["unique_id"].astype(str) == tenant], actuals)


def sku_forecast(src: Sources, tenant: str) -> pd.DataFrame:
    """Every SKU forecast of the tenant (latest per SKU and day)."""
    fc = output(src, "sku_demand_forecast", tenant, "SKU forecasts",
                "oms-ml train forecast --target sku")
    return _latest_forecasts(fc)


def default_sku(fc: pd.DataFrame, inv: pd.DataFrame | None = None) -> str:
    """The SKU shown first: most forecast units among those in the inventory report, if any."""
    total = fc.groupby(fc["unique_id"].astype(str))["yhat"].sum().sort_values(ascending=False)
    if inv is not None and "sku" in inv.columns:
        stocked = total[total.index.isin(set(inv["sku"].astype(str)))]
        if len(stocked):
            return str(stocked.index[0])
    return str(total.index[0])


def sku_view(src: Sources, tenant: str, sku: str, fc: pd.DataFrame) -> pd.DataFrame:
    """One SKU's forecast beside its arrived unit sales (see :func:`join_actuals`)."""
    one = fc[fc["unique_id"].astype(str) == sku]
    if one.empty:
        raise NoData(f"SKU {sku!r} has no forecast (only the top SKUs are forecast).")
    lines = lake_table(src, "order_lines", tenant,
                       ["tenant_id", "sku", "quantity", "is_product", "order_date"])
    panel = sku_demand_panel(lines[lines["sku"] == sku])
    return join_actuals(one, panel[["ds", "y"]])


def inventory(src: Sources, tenant: str) -> pd.DataFrame:
    """The inventory recommendations (reorder point, stock, order quantity per SKU × warehouse).

    Raises:
        NoData: The inventory report has not run for this tenant.
    """
    from dashboard.data import first_output

    df = first_output(src, INVENTORY_KINDS, tenant)
    if df.empty:
        legacy = f"{src.outputs}/inventory/tenant={tenant}/recommendations.parquet"
        from oms.lake import exists, read_table

        if exists(legacy):
            df = read_table(legacy)
    if df.empty:
        raise NoData(f"No inventory recommendations for tenant {tenant!r} yet: the inventory "
                     "report writes them (oms-ml report inventory).")
    return df


def stock_projection(inv: pd.DataFrame, sku: str, fc: pd.DataFrame) -> pd.DataFrame:
    """Projected stock of one SKU over its forecast days, against its reorder point.

    Stock starts at the inventory position (on hand + on order, summed over warehouses) and
    falls by the forecast demand each day; the reorder point is the warehouses' sum.

    Returns:
        ``ds, projected_stock, reorder_point``.

    Raises:
        NoData: The SKU is not in the inventory report.
    """
    rows = inv[inv["sku"].astype(str) == sku]
    if rows.empty:
        raise NoData(f"SKU {sku!r} is not in the inventory report (it covers the top SKUs).")
    one = _latest_forecasts(fc[fc["unique_id"].astype(str) == sku])
    on_order = rows["on_order"].astype(float).sum() if "on_order" in rows.columns else 0.0
    position = rows["on_hand"].astype(float).sum() + on_order
    demand = one["yhat"].clip(lower=0).cumsum().to_numpy(float)
    return pd.DataFrame({"ds": one["ds"].to_numpy(),
                         "projected_stock": position - demand,
                         "reorder_point": float(rows["reorder_point"].astype(float).sum())})
