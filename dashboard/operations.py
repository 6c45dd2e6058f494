"""Operations page data: orders and GMV now vs a week and a year ago, and the rest.

Also: top products, where orders come from, late deliveries, returns and abnormal orders.

"Today" is the last business day with orders in the lake (the demo's data is historical;
on a live lake it is today), "this hour" the last hour with orders on that day in the
business time zone. A week ago is the same weekday 7 days earlier, a year ago the same
weekday 364 days earlier (52 weeks: weekday patterns dominate order volume). GMV is the
order amount of every order that was not cancelled.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import NoData, Sources, first_output, lake_table

ORDER_COLUMNS = ["tenant_id", "order_id", "order_ts", "order_date", "channel", "region",
                 "status", "total_amount", "is_late"]
#: Output kinds that may hold the risk job's abnormal-order flags (first found wins).
RISK_KINDS = ("abnormal_order_flags", "risk_flags", "abnormal_orders")
LOOKBACKS = {"same day last week": 7, "same weekday last year": 364}


def load_orders(src: Sources, tenant: str) -> pd.DataFrame:
    """One tenant's orders with a business-time ``hour`` column."""
    from oms.settings import get_settings

    df = lake_table(src, "orders", tenant, ORDER_COLUMNS)
    local = df["order_ts"].dt.tz_convert(get_settings().timezone)
    return df.assign(hour=local.dt.hour, order_date=df["order_date"].dt.normalize())


def load_lines(src: Sources, tenant: str) -> pd.DataFrame:
    """One tenant's order lines (product and non-product)."""
    return lake_table(src, "order_lines", tenant,
                      ["sku", "quantity", "line_amount", "is_product", "order_date"])


def load_products(src: Sources, tenant: str) -> pd.DataFrame | None:
    """One tenant's product catalogue, or None when the lake has none."""
    try:
        return lake_table(src, "products", tenant, ["sku", "name", "category"])
    except NoData:
        return None


def _window(orders: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp,
            hour: int | None = None) -> tuple[int, float]:
    sel = orders["order_date"].between(first, last)
    if hour is not None:
        sel &= orders["hour"] == hour
    part = orders[sel]
    gmv = part.loc[part["status"] != "cancelled", "total_amount"].astype(float).sum()
    return int(len(part)), round(float(gmv), 2)


def kpis(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders and GMV for today, this hour and the last 7 days, with their comparisons.

    Returns:
        One row per period and comparison: ``period, compared_with, orders, gmv,
        orders_before, gmv_before, orders_change, gmv_change`` (changes as fractions; NaN
        when the earlier period had no orders, e.g. before the lake starts).
    """
    if orders.empty:
        raise NoData("No orders to summarise.")
    today = orders["order_date"].max()
    hour = int(orders.loc[orders["order_date"] == today, "hour"].max())
    periods = {f"today ({today.date()})": (today, today, None),
               f"this hour ({hour:02d}:00)": (today, today, hour),
               "last 7 days": (today - pd.Timedelta(days=6), today, None)}
    rows = []
    for name, (first, last, h) in periods.items():
        n, gmv = _window(orders, first, last, h)
        for label, lag in LOOKBACKS.items():
            d = pd.Timedelta(days=lag)
            n0, gmv0 = _window(orders, first - d, last - d, h)
            covered = orders["order_date"].min() <= first - d
            rows.append({"period": name, "compared_with": label, "orders": n, "gmv": gmv,
                         "orders_before": n0 if covered else None,
                         "gmv_before": gmv0 if covered else None})
    out = pd.DataFrame(rows)
    for col in ("orders", "gmv"):
        before = pd.to_numeric(out[f"{col}_before"], errors="coerce")
        out[f"{col}_change"] = (out[col] / before.where(before > 0)) - 1
    return out


def top_products(lines: pd.DataFrame, products: pd.DataFrame | None, last: pd.Timestamp,
                 days: int = 7, n: int = 10) -> pd.DataFrame:
    """The ``n`` products with most revenue over the ``days`` days ending ``last``."""
    sel = lines["order_date"].dt.normalize().between(last - pd.Timedelta(days=days - 1), last)
    part = lines[sel & lines["is_product"].fillna(True).astype(bool)]
    if part.empty:
        raise NoData(f"No product sales in the {days} days up to {last.date()}.")
    top = (part.groupby("sku", observed=True)
           .agg(units=("quantity", "sum"), revenue=("line_amount", "sum"))
           .sort_values(["revenue", "units"], ascending=False).head(n).reset_index())
    if products is not None and not products.empty:
        names = products.drop_duplicates("sku").set_index("sku")[["name", "category"]]
        top = top.join(names, on="sku")
    top["revenue"] = top["revenue"].astype(float).round(2)
    return top


def region_channel(orders: pd.DataFrame, days: int = 30) -> pd.DataFrame:
    """Orders per region × channel over the last ``days`` days (long format, for a chart)."""
    last = orders["order_date"].max()
    part = orders[orders["order_date"] > last - pd.Timedelta(days=days)]
    out = (part.groupby(["region", "channel"], observed=True).size()
           .rename("orders").reset_index())
    out = out[out["orders"] > 0]
    return out.astype({"region": str, "channel": str}).sort_values(
        ["region", "channel"], ignore_index=True)


def service_rates(orders: pd.DataFrame, days: int = 30) -> pd.DataFrame:
    """Late-delivery and return rates of the last ``days`` days vs the ``days`` before.

    Late rate = late orders / orders with a known ``is_late`` (delivered or returned);
    return rate = returned / (delivered + returned).
    """
    last = orders["order_date"].max()
    rows = []
    for label, k in (("last", 0), ("previous", 1)):
        hi = last - pd.Timedelta(days=days * k)
        part = orders[orders["order_date"].between(hi - pd.Timedelta(days=days - 1), hi)]
        known = part["is_late"].dropna().astype(bool)
        done = part["status"].isin(["delivered", "returned"])
        rows.append({"window": f"{label} {days} days",
                     "late_delivery_rate": known.mean() if len(known) else float("nan"),
                     "return_rate": (part["status"] == "returned").sum() / done.sum()
                     if done.any() else float("nan"),
                     "orders": len(part)})
    return pd.DataFrame(rows)


def abnormal_orders(src: Sources, tenant: str, n: int = 50) -> pd.DataFrame:
    """The risk job's flagged orders, highest score first.

    Raises:
        NoData: The risk job has not written flags for this tenant.
    """
    flags = first_output(src, RISK_KINDS, tenant)
    if flags.empty:
        raise NoData(f"No abnormal-order flags for tenant {tenant!r} yet: the daily batch's "
                     "risk step writes them once the tenant has a risk champion.")
    if "flagged" in flags.columns:
        flags = flags[flags["flagged"].astype(bool)]
    if flags.empty:
        raise NoData("The risk job flagged no order as abnormal in its last run.")
    by = "score" if "score" in flags.columns else flags.columns[0]
    return flags.sort_values(by, ascending=False).head(n).reset_index(drop=True)
