"""Inputs of the inventory policy from the lake: SKU × warehouse demand and the item table.

The series id of a SKU in a warehouse is ``"<sku>@<warehouse_id>"`` (:func:`series_id`).
Demand per warehouse is the units of product lines of the orders that warehouse fulfilled;
orders without a warehouse are not counted. Stock is the latest ``inventory`` snapshot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.demand import sku_demand_panel
from models.inventory import turnover
from oms.lake import _dataset, exists, read_table, table_uri

SEP = "@"


def series_id(sku: pd.Series, warehouse: pd.Series) -> pd.Series:
    """``sku@warehouse`` ids of SKU × warehouse series."""
    return sku.astype(str) + SEP + warehouse.astype(str)


def _filter(tenant: str | None):  # noqa: ANN202 - pyarrow expression or None
    if tenant is None:
        return None
    import pyarrow.dataset as pads

    return pads.field("tenant_id") == tenant


def _optional(lake: str, table: str, tenant: str | None) -> pd.DataFrame | None:
    uri = table_uri(lake, table)
    return read_table(uri, filter=_filter(tenant)) if exists(uri) else None


def top_skus(lines: pd.DataFrame, top_n: int) -> list[str]:
    """The ``top_n`` product SKUs by revenue (line amount), best first."""
    prod = lines[lines["is_product"].fillna(False).astype(bool)]
    rev = prod.groupby("sku")["line_amount"].sum().sort_values(ascending=False, kind="stable")
    return [str(s) for s in rev.index[:top_n]]


def top_skus_in_lake(uri: str, flt, top_n: int) -> list[str]:  # noqa: ANN001 - pyarrow expr
    """:func:`top_skus` of the lines at ``uri`` without a Python string per line.

    The SKU column stays Arrow and becomes integer codes; pandas then sums each code's
    amounts exactly as :func:`top_skus` sums each SKU's (same rows, same order), and the
    ranking is taken in SKU-name order as there (``tests/test_inventory_report.py``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _dataset(uri).to_table(columns=["sku", "line_amount", "is_product"], filter=flt)
    t = t.filter(pc.fill_null(t["is_product"], False))
    sku = t["sku"].combine_chunks() if t.num_rows else pa.array([], pa.string())
    enc = pc.dictionary_encode(sku)
    codes = pd.Series(enc.indices.to_numpy(zero_copy_only=False))
    rev = pd.Series(t["line_amount"].to_numpy()).groupby(codes).sum()
    rev.index = np.asarray(enc.dictionary.to_pylist(), dtype=object)[rev.index.astype(int)]
    rev = rev.sort_index().sort_values(ascending=False, kind="stable")
    return [str(s) for s in rev.index[:top_n]]


def _plain(table):  # noqa: ANN001, ANN202 - pyarrow tables
    """``table`` with dictionary columns decoded (joins and group-bys want plain keys)."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table[f.name].cast(f.type.value_type))
    return table


def sku_warehouse_history(lake: str, tenant: str | None = None, top_n: int = 100
                          ) -> pd.DataFrame:
    """Daily units per SKU × warehouse (``unique_id, ds, y, sku, warehouse_id``), zero-filled.

    Only the ``top_n`` SKUs by revenue are kept (the report's scope). The top SKUs hold
    about half of all lines on ``large`` (11M): they are joined to their orders' warehouse
    and summed per SKU, warehouse, day and ``is_product`` in Arrow, and only those sums
    become pandas rows; integer units sum to the same panel as the lines themselves.
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    flt = _filter(tenant)
    uri = table_uri(lake, "order_lines")
    skus = sorted(top_skus_in_lake(uri, flt, top_n))
    only = pads.field("sku").isin(skus)
    lines = _plain(_dataset(uri).to_table(
        columns=["tenant_id", "order_id", "sku", "quantity", "is_product", "order_date"],
        filter=only if flt is None else flt & only))
    orders = _plain(_dataset(table_uri(lake, "orders")).to_table(
        columns=["tenant_id", "order_id", "warehouse_id"], filter=flt))
    orders = orders.filter(pc.is_in(orders["order_id"], value_set=pc.unique(lines["order_id"])))
    j = lines.join(orders, keys=["tenant_id", "order_id"], join_type="inner")
    j = j.filter(pc.is_valid(j["warehouse_id"]))
    keys = ["tenant_id", "sku", "warehouse_id", "order_date", "is_product"]
    sums = j.group_by(keys, use_threads=False).aggregate([("quantity", "sum")])
    sums = sums.to_pandas(coerce_temporal_nanoseconds=True).rename(
        columns={"quantity_sum": "quantity"})
    sums = sums.assign(sku=series_id(sums["sku"], sums["warehouse_id"]))
    panel = sku_demand_panel(sums)[["unique_id", "ds", "y"]]
    parts = panel["unique_id"].str.split(SEP, n=1, expand=True)
    return panel.assign(sku=parts[0], warehouse_id=parts[1])


def item_table(lake: str, history: pd.DataFrame, tenant: str | None = None) -> pd.DataFrame:
    """One row per SKU × warehouse of ``history`` with stock, costs and lead time.

    ``on_hand`` is NaN where the warehouse has no stock record of the SKU, ``lead_time_days``
    NaN where the warehouse has none; both are reported as exceptions by the policy.
    """
    items = history.drop_duplicates("unique_id")[["unique_id", "sku", "warehouse_id"]]
    prods = _optional(lake, "products", tenant)
    if prods is not None:
        p = prods[["sku", "unit_cost", "unit_price"]].drop_duplicates("sku")
        items = items.merge(p, on="sku", how="left")
    else:
        items = items.assign(unit_cost=np.nan, unit_price=np.nan)
    wh = _optional(lake, "warehouses", tenant)
    if wh is not None and "lead_time_days" in wh.columns:
        items = items.merge(wh[["warehouse_id", "lead_time_days"]].astype(
            {"lead_time_days": "float64"}), on="warehouse_id", how="left")
    else:
        items["lead_time_days"] = np.nan
    return items.merge(_stock(lake, history, tenant), on=["sku", "warehouse_id"], how="left")


def _stock(lake: str, history: pd.DataFrame, tenant: str | None) -> pd.DataFrame:
    """On-hand now per SKU × warehouse and 30-day turnover (sales / average stock).

    "Now" is the last day of ``history``: the latest count minus the units sold since it
    (clipped at 0), since stock counts are weekly and sales are daily.
    """
    cols = ["sku", "warehouse_id", "on_hand", "turnover", "stock_date"]
    inv = _optional(lake, "inventory", tenant)
    if inv is None or inv.empty:
        return pd.DataFrame(columns=cols)
    inv = inv[inv["sku"].isin(set(history["sku"]))]
    last = inv["snapshot_date"].max()
    recent = inv[inv["snapshot_date"] > last - pd.Timedelta(days=30)]
    avg = recent.groupby(["sku", "warehouse_id"])["on_hand"].mean().rename("avg")
    now = inv[inv["snapshot_date"] == last].set_index(["sku", "warehouse_id"])["on_hand"]
    h = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=30)]
    sales = h.groupby(["sku", "warehouse_id"])["y"].sum().rename("sales")
    since = history[history["ds"] > last].groupby(["sku", "warehouse_id"])["y"].sum()
    now = (now - since.reindex(now.index).fillna(0)).clip(lower=0)
    out = pd.concat([now.rename("on_hand"), avg, sales], axis=1).astype(float)
    out["turnover"] = turnover(out["sales"].fillna(0).to_numpy(), out["avg"].to_numpy())
    out["stock_date"] = last
    return out.reset_index()[cols]


def unsold_stock_items(lake: str, history: pd.DataFrame, tenant: str | None = None
                       ) -> pd.DataFrame:
    """Stocked SKU × warehouse pairs of SKUs with no sales at all (listed as exceptions)."""
    cols = ["unique_id", "sku", "warehouse_id", "unit_cost", "unit_price", "lead_time_days",
            "on_hand", "turnover", "stock_date"]
    inv = _optional(lake, "inventory", tenant)
    uri = table_uri(lake, "order_lines")
    if inv is None or inv.empty or not exists(uri):
        return pd.DataFrame(columns=cols)
    import pyarrow.compute as pc

    sold = _dataset(uri).to_table(columns=["sku"], filter=_filter(tenant))["sku"]
    sold = set(pc.unique(sold).to_pylist())  # the distinct SKUs, not a string per line
    last = inv["snapshot_date"].max()
    now = inv[(inv["snapshot_date"] == last) & (inv["on_hand"] > 0)]
    now = now[~now["sku"].isin(sold)]
    if now.empty:
        return pd.DataFrame(columns=cols)
    fake = pd.DataFrame({"unique_id": series_id(now["sku"], now["warehouse_id"]),
                         "sku": now["sku"], "warehouse_id": now["warehouse_id"], "y": 0.0,
                         "ds": last})
    items = item_table(lake, fake, tenant)
    return items[[c for c in cols if c in items.columns]]


def in_stock_rate(lake: str, history: pd.DataFrame, tenant: str | None = None,
                  days: int = 30) -> float:
    """Fill-rate estimate over the last ``days``: demand-weighted share of stock counts > 0.

    The lake records shipments, not lost sales, so the fill rate is estimated from the stock
    counts: each SKU × warehouse count in the window weighs by the series' mean daily demand.
    NaN without stock counts in the window.
    """
    inv = _optional(lake, "inventory", tenant)
    if inv is None or inv.empty:
        return float("nan")
    last = inv["snapshot_date"].max()
    win = inv[inv["snapshot_date"] > last - pd.Timedelta(days=days)]
    h = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=days)]
    rate = h.groupby(["sku", "warehouse_id"])["y"].mean().rename("rate").reset_index()
    win = win.merge(rate, on=["sku", "warehouse_id"], how="inner")
    total = float(win["rate"].sum())
    return float((win["rate"] * (win["on_hand"] > 0)).sum() / total) if total > 0 else np.nan


def warehouses_without_stock(lake: str, tenant: str | None = None) -> list[str]:
    """Warehouses of the ``warehouses`` table that have no ``inventory`` record at all."""
    wh = _optional(lake, "warehouses", tenant)
    if wh is None:
        return []
    inv = _optional(lake, "inventory", tenant)
    known = set() if inv is None else set(inv["warehouse_id"].astype(str))
    return sorted(set(wh["warehouse_id"].astype(str)) - known)
