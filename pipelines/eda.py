"""Exploratory views of the order lake: volume by day/channel/region, holiday and promo effects.

Each function reads only the columns it needs from the lake and returns a small frame ready
to print or plot (``notebooks/00_orders_eda.ipynb`` uses them; they work the same on the
``tiny`` demo lake and on a real one). Effects are measured against *comparable ordinary
days*: the mean of the days of the same weekday with no holiday and no promotion, so a
holiday that falls on a Saturday is not credited with the weekend's usual lift.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.dataset as pads

from oms.lake import LakeError, exists, read_table, table_uri

ORDER_COLUMNS = ["tenant_id", "order_date", "channel", "region", "total_amount"]
CONTEXT_COLUMNS = ["tenant_id", "date", "region", "is_holiday", "holiday_name",
                   "promotion_name", "promotion_intensity"]
#: Upper edges of the promotion-intensity buckets (0 = no promotion).
PROMO_BINS = (0.0, 0.2, 0.5, 1.0)


def _read(lake: str, table: str, columns: list[str], tenant: str | None) -> pd.DataFrame:
    uri = table_uri(lake, table)
    if not exists(uri):
        raise LakeError(f"no {table} table at {uri}; run `oms-ml ingest` first")
    flt = pads.field("tenant_id") == tenant if tenant else None
    return read_table(uri, columns, flt)


def read_orders(lake: str, tenant: str | None = None) -> pd.DataFrame:
    """Order headers for EDA: ``tenant_id, ds, channel, region, total_amount``."""
    df = _read(lake, "orders", ORDER_COLUMNS, tenant)
    df["ds"] = pd.to_datetime(df.pop("order_date")).dt.normalize()
    df["channel"] = df["channel"].astype(object).fillna("unknown")
    return df


def volume_by(orders: pd.DataFrame, by: str | None = None, freq: str = "D") -> pd.DataFrame:
    """Orders per period (``D`` day, ``W`` week, ``MS`` month), one column per value of ``by``.

    Args:
        orders: :func:`read_orders` rows.
        by: ``channel``, ``region``, ``tenant_id`` or None (one ``orders`` column).
        freq: pandas offset alias of the period.
    """
    keys = [pd.Grouper(key="ds", freq=freq)] + ([by] if by else [])
    counts = orders.groupby(keys, observed=True).size()
    wide = counts.unstack(by, fill_value=0) if by else counts.to_frame("orders")
    return wide.fillna(0).astype(int)


def shares(orders: pd.DataFrame, by: str) -> pd.DataFrame:
    """Orders, revenue and their shares per value of ``by``, largest first."""
    g = orders.groupby(by, observed=True).agg(orders=("ds", "size"),
                                              revenue=("total_amount", "sum"))
    g["order_share"] = g["orders"] / g["orders"].sum()
    g["revenue_share"] = g["revenue"] / g["revenue"].sum()
    g["avg_order_value"] = g["revenue"] / g["orders"]
    return g.sort_values("orders", ascending=False).round(3)


def day_table(lake: str, tenant: str | None = None) -> pd.DataFrame:
    """One row per tenant-day: ``orders``, ``revenue``, ``weekday``, holiday and promotion.

    A day is a holiday when any region has one; its promotion is the strongest in any
    region. Days without context count as ordinary.
    """
    orders = read_orders(lake, tenant)
    days = orders.groupby(["tenant_id", "ds"], observed=True).agg(
        orders=("region", "size"), revenue=("total_amount", "sum")).reset_index()
    ctx_uri = table_uri(lake, "daily_context")
    if exists(ctx_uri):
        ctx = _read(lake, "daily_context", CONTEXT_COLUMNS, tenant)
        ctx["ds"] = pd.to_datetime(ctx.pop("date")).dt.normalize()
        ctx["promotion_intensity"] = ctx["promotion_intensity"].fillna(0.0)
        per_day = ctx.groupby(["tenant_id", "ds"], observed=True).agg(
            is_holiday=("is_holiday", "max"), holiday_name=("holiday_name", "first"),
            promotion_name=("promotion_name", "first"),
            promotion_intensity=("promotion_intensity", "max")).reset_index()
        days = days.merge(per_day, on=["tenant_id", "ds"], how="left")
    for col in ("holiday_name", "promotion_name"):
        days[col] = days[col].astype(object) if col in days else None
    for col, empty in (("is_holiday", False), ("promotion_intensity", 0.0)):
        days[col] = days[col].fillna(empty) if col in days else empty
    days["is_holiday"] = days["is_holiday"].astype(bool)
    days["weekday"] = days["ds"].dt.day_name().str[:3]
    return days


def _with_baseline(days: pd.DataFrame) -> pd.DataFrame:
    """Add ``expected``: mean orders of ordinary days (same tenant and weekday)."""
    ordinary = days[~days["is_holiday"] & (days["promotion_intensity"] <= 0)]
    base = ordinary.groupby(["tenant_id", "weekday"], observed=True)["orders"].mean()
    out = days.join(base.rename("expected"), on=["tenant_id", "weekday"])
    out["lift"] = out["orders"] / out["expected"]
    return out


def holiday_effect(days: pd.DataFrame) -> pd.DataFrame:
    """Per holiday name: days, mean orders and lift over comparable ordinary days."""
    d = _with_baseline(days)
    hol = d[d["is_holiday"]].assign(holiday=lambda x: x["holiday_name"].fillna("(unnamed)"))
    if hol.empty:
        return pd.DataFrame(columns=["days", "orders_per_day", "expected", "lift"])
    g = hol.groupby("holiday").agg(days=("ds", "size"), orders_per_day=("orders", "mean"),
                                   expected=("expected", "mean"), lift=("lift", "mean"))
    return g.sort_values("lift", ascending=False).round(3)


def promotion_effect(days: pd.DataFrame, bins: tuple[float, ...] = PROMO_BINS) -> pd.DataFrame:
    """Non-holiday days by promotion intensity bucket: days, mean orders and lift."""
    d = _with_baseline(days[~days["is_holiday"]])
    edges = [-float("inf"), *bins]
    labels = ["none", *(f"({lo:g}, {hi:g}]" for lo, hi in zip(bins[:-1], bins[1:],
                                                              strict=True))]
    d["promotion"] = pd.cut(d["promotion_intensity"], edges, labels=labels)
    g = d.groupby("promotion", observed=True).agg(
        days=("ds", "size"), orders_per_day=("orders", "mean"), lift=("lift", "mean"))
    return g.round(3)


def weekday_profile(days: pd.DataFrame) -> pd.Series:
    """Mean orders per weekday on ordinary days (Mon..Sun)."""
    ordinary = days[~days["is_holiday"] & (days["promotion_intensity"] <= 0)]
    order = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    return ordinary.groupby("weekday")["orders"].mean().reindex(order).round(1)
