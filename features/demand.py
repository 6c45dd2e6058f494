"""Demand features: daily order volume per tenant and the SKU × day demand panel (pandas).

Both frames are in the Nixtla long format (``unique_id, ds, y`` + exogenous columns).
The Spark twin lives in :mod:`features.spark_demand` and gives the same result.
"""

from __future__ import annotations

import pandas as pd

CALENDAR_COLUMNS = ("day_of_week", "day_of_month", "month", "is_weekend")


def context_for_dates(
    daily_context: pd.DataFrame | None, dates: pd.DataFrame
) -> pd.DataFrame:
    """Calendar and context columns for given ``(tenant_id, ds)`` pairs (also future dates).

    Args:
        daily_context: Contract ``daily_context`` rows (per tenant × date × region) or None.
        dates: Frame with ``tenant_id`` and ``ds`` (tz-naive days).

    Returns:
        ``dates`` plus calendar and context columns, in the same row order.
    """
    raise NotImplementedError


def daily_order_volume(
    orders: pd.DataFrame, daily_context: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per tenant × day: orders placed, revenue and exogenous columns.

    Args:
        orders: Contract ``orders`` (needs ``tenant_id, order_date``; ``total_amount`` for revenue).
        daily_context: Contract ``daily_context`` or None.

    Returns:
        ``unique_id, ds, y, revenue`` + calendar, context and lag columns.
    """
    raise NotImplementedError


def sku_demand_panel(
    order_lines: pd.DataFrame,
    daily_context: pd.DataFrame | None = None,
    top_n: int | None = None,
    min_days: int = 0,
) -> pd.DataFrame:
    """SKU × day units of product lines, zero-filled from each SKU's first sale.

    Args:
        order_lines: Contract ``order_lines``.
        daily_context: Contract ``daily_context`` or None.
        top_n: Keep only the N SKUs with most units.
        min_days: Keep only SKUs whose history spans at least this many days.

    Returns:
        ``unique_id, ds, y, tenant_id`` + calendar and context columns.
    """
    raise NotImplementedError
