"""Extra churn features derived from a customer's order history before a cutoff.

``features.customers.customer_features`` gives the shared RFM/behaviour columns; churn on real
data benefits from a few more signals about *rhythm* and *trend*: windowed counts and spend,
the spread of inter-purchase gaps, how overdue the next purchase is relative to the
customer's own rhythm, active months and product diversity. They are pure functions of the
orders (and optionally order lines) up to the cutoff day, so nothing leaks from the
label window.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

KEYS = ["tenant_id", "customer_id"]
WINDOWS = (30, 90, 180, 365)
DERIVED_COLUMNS = (
    *(f"orders_{w}d" for w in WINDOWS),
    *(f"spend_{w}d" for w in WINDOWS),
    "spend_trend",
    "order_trend",
    "gap_mean",
    "gap_std",
    "gap_max",
    "overdue_ratio",
    "active_months",
    "active_months_share",
    "days_since_first",
    "n_skus",
    "items_per_order",
)


def purchases_before(orders: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Known-customer orders placed on or before ``cutoff``.

    Like ``features.customers``, orders count as placed whatever their latest status: the
    status may have been reached after the cutoff, so filtering on it would leak.
    """
    o = orders
    mask = o["customer_id"].notna() & (pd.to_datetime(o["order_date"]) <= cutoff)
    if "is_guest" in o.columns:
        mask &= ~o["is_guest"].astype("boolean").fillna(False)
    out = o.loc[mask, [*KEYS, "order_id", "order_date", "total_amount"]].copy()
    out["order_date"] = pd.to_datetime(out["order_date"]).dt.tz_localize(None)
    return out


def _windows(p: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    age = (cutoff - p["order_date"]).dt.days  # 0 = on the cutoff day
    cols = {}
    for w in WINDOWS:
        inw = age < w
        cols[f"orders_{w}d"] = inw.astype(float)
        cols[f"spend_{w}d"] = p["total_amount"].where(inw, 0.0).astype(float)
    prev = (age >= 90) & (age < 180)
    cols["_orders_prev90"] = prev.astype(float)
    cols["_spend_prev90"] = p["total_amount"].where(prev, 0.0).astype(float)
    w = pd.DataFrame(cols, index=p.index)
    w[KEYS] = p[KEYS]
    g = w.groupby(KEYS).sum()
    g["spend_trend"] = (g["spend_90d"] - g["_spend_prev90"]) / (
        g["spend_90d"] + g["_spend_prev90"] + 1.0)
    g["order_trend"] = g["orders_90d"] - g["_orders_prev90"]
    return g.drop(columns=["_orders_prev90", "_spend_prev90"])


def _rhythm(p: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    days = p[[*KEYS, "order_date"]].drop_duplicates().sort_values([*KEYS, "order_date"])
    days["gap"] = days.groupby(KEYS)["order_date"].diff().dt.days
    days["_month"] = days["order_date"].dt.year * 12 + days["order_date"].dt.month
    g = days.groupby(KEYS)
    out = pd.DataFrame({
        "gap_mean": g["gap"].mean(),
        "gap_std": g["gap"].std(),
        "gap_max": g["gap"].max(),
        "_last": g["order_date"].max(),
        "_first": g["order_date"].min(),
        "active_months": g["_month"].nunique().astype(float),
    })
    since_last = (cutoff - out["_last"]).dt.days.astype(float)
    out["days_since_first"] = (cutoff - out["_first"]).dt.days.astype(float)
    out["overdue_ratio"] = since_last / (out["gap_mean"].fillna(out["days_since_first"]) + 1.0)
    months_known = np.maximum(out["days_since_first"] / 30.44, 1.0)
    out["active_months_share"] = np.minimum(out["active_months"] / months_known, 1.0)
    return out.drop(columns=["_last", "_first"])


def _diversity(p: pd.DataFrame, order_lines: pd.DataFrame | None) -> pd.DataFrame:
    if order_lines is None or order_lines.empty:
        return pd.DataFrame(index=pd.MultiIndex.from_frame(p[KEYS].drop_duplicates()))
    lines = order_lines
    if "is_product" in lines.columns:
        lines = lines[lines["is_product"].fillna(True).astype(bool)]
    j = lines[["tenant_id", "order_id", "sku", "quantity"]].merge(
        p[[*KEYS, "order_id"]], on=["tenant_id", "order_id"])
    g = j.groupby(KEYS)
    n_orders = p.groupby(KEYS)["order_id"].nunique()
    # quantities may be unknown (a purchase log without them): NaN, not 0 items
    out = pd.DataFrame({"n_skus": g["sku"].nunique().astype(float),
                        "_items": g["quantity"].sum(min_count=1).astype(float)})
    out["items_per_order"] = out["_items"] / n_orders.reindex(out.index)
    return out.drop(columns=["_items"])


def derived_features(
    orders: pd.DataFrame,
    cutoff: pd.Timestamp | str,
    order_lines: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rhythm, trend and diversity features per customer from orders before ``cutoff``.

    Args:
        orders: Contract ``orders`` table.
        cutoff: Last observed day (inclusive, as in ``features.customers``).
        order_lines: Optional contract ``order_lines`` for product diversity.

    Returns:
        One row per customer with at least one purchase up to the cutoff: ``tenant_id``,
        ``customer_id`` and :data:`DERIVED_COLUMNS` (missing diversity columns are NaN).
    """
    cutoff = pd.Timestamp(cutoff).tz_localize(None)
    p = purchases_before(orders, cutoff)
    if p.empty:
        return pd.DataFrame(columns=[*KEYS, *DERIVED_COLUMNS])
    out = _windows(p, cutoff).join(_rhythm(p, cutoff)).join(_diversity(p, order_lines))
    out = out.reset_index()
    for c in DERIVED_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    return out[[*KEYS, *DERIVED_COLUMNS]]


def clv_features(orders: pd.DataFrame, cutoff: pd.Timestamp | str) -> pd.DataFrame:
    """BG/NBD ``p_alive`` and expected 90-day purchases, fitted on this snapshot alone.

    The fit is unsupervised (it never sees the label), so it is safe as a classifier input.
    """
    from models.clv import BetaGeoFitter, summary_data

    s = summary_data(orders, cutoff)
    if s.empty:
        return pd.DataFrame(columns=[*KEYS, "p_alive", "bg_expected_90d"])
    args = (s["frequency"], s["recency"], s["T"])
    try:
        bg = BetaGeoFitter().fit(*args)
    except ValueError as e:  # not identified (no repeat buyers yet): unknown, not invented
        log.info("BG/NBD features unavailable at %s: %s", pd.Timestamp(cutoff).date(), e)
        return s[KEYS].assign(p_alive=np.nan, bg_expected_90d=np.nan)
    s["p_alive"] = bg.conditional_probability_alive(*args)
    s["bg_expected_90d"] = bg.conditional_expected_number_of_purchases_up_to_time(90, *args)
    return s[[*KEYS, "p_alive", "bg_expected_90d"]]


def churn_features(
    orders: pd.DataFrame,
    order_events: pd.DataFrame | None,
    cutoff: pd.Timestamp | str,
    horizon_days: int = 90,
    order_lines: pd.DataFrame | None = None,
    label: bool = True,
) -> pd.DataFrame:
    """Shared customer features + derived rhythm/trend/diversity + BG/NBD columns at a cutoff.

    Args:
        orders: Contract ``orders``.
        order_events: Contract ``order_events`` or None.
        cutoff: Calendar day of the snapshot.
        horizon_days: Churn horizon of the label.
        order_lines: Contract ``order_lines`` or None.
        label: Whether to compute ``churned`` (needs data up to cutoff + horizon).

    Returns:
        One row per customer with history, plus a ``cutoff`` column.
    """
    from features.customers import as_cutoff_day, customer_features

    cut = as_cutoff_day(cutoff)
    base = customer_features(orders, order_events, cut, horizon_days=horizon_days,
                             order_lines=order_lines, label=label)
    for c in KEYS:
        base[c] = base[c].astype(str)
    extra = derived_features(orders, cut, order_lines)
    bg = clv_features(orders.assign(status="placed") if "status" in orders else orders, cut)
    for f in (extra, bg):
        for c in KEYS:
            f[c] = f[c].astype(str)
    out = base.merge(extra, on=KEYS, how="left").merge(bg, on=KEYS, how="left")
    out["cutoff"] = cut
    return out
