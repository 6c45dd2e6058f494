"""Inputs of the forecasting pipelines: targets, the training frame from the lake, future rows.

Shared by ``pipelines.train_forecast`` (training) and ``pipelines.score_forecast`` (writing
forecasts with a champion), so both read the lake and build known-future rows one way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.demand import REGIONAL, WEATHER_COLUMNS, add_regional_context
from models.forecast.base import DS, ID, ForecastInputError, Y
from oms.settings import get_settings
from oms.tenancy import validate_tenant

TARGETS: dict[str, dict[str, Any]] = {
    "volume": {"family": "order_volume_forecaster", "horizons": (3, 7),
               "output": "order_volume_forecast"},
    "sku": {"family": "sku_demand_forecaster", "horizons": (7, 30),
            "output": "sku_demand_forecast"},
}
#: Exogenous columns known ahead (holiday calendar, planned promotions, weather forecast).
KNOWN_FUTURE = ("is_holiday", "has_promotion", "promotion_intensity", "temperature_c",
                *WEATHER_COLUMNS, *REGIONAL)


def check_target(target: str) -> dict[str, Any]:
    """The settings of ``target``; a clear ``ValueError`` for an unknown one."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: use one of {', '.join(sorted(TARGETS))}")
    return TARGETS[target]


def known_exog(df: pd.DataFrame) -> list[str]:
    """The known-future columns present in ``df`` that vary (constant columns carry nothing)."""
    return [c for c in KNOWN_FUTURE if c in df.columns and df[c].nunique(dropna=True) > 1]


def prepare(df: pd.DataFrame, exog: Sequence[str], target: bool = True) -> pd.DataFrame:
    """Keep ``unique_id, ds, y`` + exog; fill missing temperatures within each series.

    Days without context have NaN temperature (see ``features.demand``); they are filled
    forward/backward within the series, then with the overall mean. ``target=False`` for
    future rows (no ``y``).
    """
    keys = [ID, DS, Y] if target else [ID, DS]
    missing = [c for c in (*keys, *exog) if c not in df.columns]
    if missing:
        raise ForecastInputError(f"forecast input is missing column(s) {missing}")
    out = df[[*keys, *exog]].copy()
    out[ID] = out[ID].astype(str)
    out[DS] = pd.to_datetime(out[DS])
    for c in exog:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        if out[c].isna().any():
            out[c] = out.groupby(ID)[c].transform(lambda s: s.ffill().bfill())
            out[c] = out[c].fillna(out[c].mean()).fillna(0.0)
    return out.sort_values([ID, DS], ignore_index=True)


def ordinary_future(df: pd.DataFrame, h: int, exog: Sequence[str]) -> pd.DataFrame:
    """Future exogenous rows when no planned context exists: an ordinary day.

    No holiday and no promotion; temperature and weather as the mean of the last 7 days.
    Prefer real planned context (``features.demand.context_for_dates``) when available.
    """
    last = df.groupby(ID)[DS].max()
    rows = pd.DataFrame({ID: np.repeat(last.index.to_numpy(), h),
                         DS: np.repeat(last.to_numpy(), h)
                         + pd.to_timedelta(np.tile(np.arange(1, h + 1), len(last)), unit="D")})
    recent = df[df[DS] > df[ID].map(last) - pd.Timedelta(days=7)].groupby(ID)[list(exog)].mean()
    rows = rows.merge(recent, left_on=ID, right_index=True, how="left")
    for c in ("is_holiday", "has_promotion", "promotion_intensity"):
        if c in rows:
            rows[c] = 0.0
    return rows


def load_series(
    lake: str | None = None, target: str = "volume", tenant: str | None = None,
    top_n: int = 500,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Build one tenant's training frame from the lake: daily volume or the top-N SKU panel.

    Args:
        lake: Lake root (default: settings).
        target: ``volume`` or ``sku``.
        tenant: Tenant id (default: the settings' tenant); only its rows are read.
        top_n: SKU target: the N SKUs with most units.

    Returns:
        ``(series, daily_context)``; the context (None if absent) also serves future days.

    Raises:
        ValueError: Unknown target, invalid tenant id, or no orders of that tenant.
    """
    import pyarrow.dataset as pads

    from features.demand import daily_order_volume, sku_demand_panel
    from oms.lake import exists, read_table, table_uri

    check_target(target)
    tenant = validate_tenant(tenant or get_settings().tenant_id)
    lake = lake or get_settings().lake
    flt = pads.field("tenant_id") == tenant
    ctx_uri = table_uri(lake, "daily_context")
    ctx = read_table(ctx_uri, filter=flt) if exists(ctx_uri) else None
    if target == "volume":
        rows = read_table(table_uri(lake, "orders"),
                          ["tenant_id", "order_date", "total_amount"], flt)
    else:
        rows = read_table(table_uri(lake, "order_lines"),
                          ["tenant_id", "sku", "quantity", "is_product", "order_date"], flt)
    if rows.empty:
        raise ValueError(f"tenant {tenant!r} has no orders in {lake}")
    series = (daily_order_volume(rows, ctx) if target == "volume"
              else sku_demand_panel(rows, ctx, top_n=top_n))
    return add_regional_context(series, ctx), ctx


def future_frame(series: pd.DataFrame, daily_context: pd.DataFrame | None, h: int
                 ) -> pd.DataFrame:
    """Known-future rows (``unique_id, ds`` + context columns) for the next ``h`` days.

    Planned context (holidays, promotions, weather forecast) comes from ``daily_context``
    where it reaches into the future; days it does not cover are ordinary days
    (:func:`ordinary_future`).
    """
    from features.demand import context_for_dates

    exog = known_exog(series)
    base = ordinary_future(prepare(series, exog), h, exog)
    if daily_context is None or daily_context.empty:
        return base
    tenants = (series.drop_duplicates(ID).set_index(ID)["tenant_id"] if "tenant_id" in series
               else None)
    dates = base[[ID, DS]].assign(
        tenant_id=base[ID].map(tenants) if tenants is not None else base[ID])
    planned = context_for_dates(daily_context, dates.drop(columns=[ID]) if tenants is not None
                                else dates.drop(columns=["tenant_id"]))
    planned[ID] = base[ID].to_numpy()
    planned = add_regional_context(planned, daily_context)
    known = pd.to_datetime(daily_context["date"]).max()
    use = (planned[DS] <= known).to_numpy()
    for c in exog:
        if c in planned:
            base.loc[use, c] = planned.loc[use, c].to_numpy()
    return base


