"""The demo's ``tiny`` data for the dashboard tests, built with the pipeline functions.

generate → ingest → volume and SKU forecasters (seasonal naive, registered and gated) →
churn (trained, registered, scored) → inventory report → one outage rerouting. The warehouse
router is deliberately not trained: that tenant has no router champion, a bad-input case the
routing page must state in words. Where the monitoring step exists (``pipelines.monitor``,
issue 11 item 2) it monitors the last day, so the monitoring page has its drift chart;
without it the page must say that monitoring has not run.
"""

from __future__ import annotations

import pandas as pd

from oms.lake import read_table, table_uri
from oms.outputs import output_path

DAYS = 380  # more than 52 weeks: "same weekday last year" has data


def open_orders(lake: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """The last day's orders as open orders, the warehouses, stock, and the busiest warehouse."""
    orders = read_table(table_uri(lake, "orders"), table="orders")
    last = orders[orders["order_date"] == orders["order_date"].max()]
    lines = read_table(table_uri(lake, "order_lines"), table="order_lines")
    first = lines[lines["is_product"].astype(bool)].drop_duplicates("order_id")
    cust = read_table(table_uri(lake, "customers"), ["customer_id", "lat", "lon"])
    open_ = (last[["order_id", "warehouse_id", "customer_id"]]
             .merge(first[["order_id", "sku", "quantity"]], on="order_id")
             .merge(cust, on="customer_id").drop(columns="customer_id")
             .dropna(subset=["warehouse_id"]))
    wh = read_table(table_uri(lake, "warehouses"), table="warehouses")
    wh = wh.assign(capacity=wh["capacity_per_day"])[["warehouse_id", "lat", "lon", "capacity",
                                                     "cost_per_order"]]
    inv = read_table(table_uri(lake, "inventory"), table="inventory")
    stock = (inv[inv["snapshot_date"] == inv["snapshot_date"].max()]
             [["warehouse_id", "sku", "on_hand"]])
    stock = stock.assign(on_hand=stock["on_hand"].fillna(0) + 50)  # room to move orders
    busiest = str(open_["warehouse_id"].value_counts().index[0])
    return open_.astype({"quantity": "int64"}), wh, stock, busiest


def build_demo(settings) -> dict[str, str]:
    """Run the demo's pipeline functions into ``settings``' data folder; return what ran."""
    from models.churn import ChurnClassifier
    from pipelines.generate import generate
    from pipelines.ingest import ingest
    from pipelines.inventory_report import build_inventory_report
    from pipelines.reroute import reroute, write_reroute
    from pipelines.score_churn import score_churn
    from pipelines.train_churn import train_churn
    from pipelines.train_forecast import train_from_lake

    s = settings
    generate("tiny", 7, s.landing, tenant_id="demo", days=DAYS)
    ingest(s.landing, s.lake, s.quarantine,
           now=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3650))
    kw = dict(models=("seasonal_naive",), n_windows=2, output_uri=s.outputs, progress=False)
    train_from_lake(s.lake, "volume", tenant="demo", **kw)
    train_from_lake(s.lake, "sku", tenant="demo", top_n=20, **kw)
    train_churn(s.lake, 90, n_train=2, tenant_id="demo",
                classifier=ChurnClassifier(max_iter=40, learning_rate=0.1))
    score_churn(s.lake, s.outputs, tenant_id="demo")
    build_inventory_report(s.lake, "demo", s.outputs, top_n=30, log_mlflow=False)
    orders, wh, stock, busiest = open_orders(s.lake)
    res = reroute(orders, wh, stock, [busiest])
    write_reroute(res, output_path("reroute", "demo", root=s.outputs))
    return {"down": busiest, "monitored": monitor(s)}


def monitor(settings) -> bool:
    """Run the monitoring step on the lake's last day, if this checkout has it."""
    try:
        from pipelines.monitor import monitor_day
    except ImportError:
        return False
    last = read_table(table_uri(settings.lake, "orders"), ["order_date"])["order_date"].max()
    monitor_day(settings.lake, "demo", pd.Timestamp(last).date(), outputs=settings.outputs,
                log_to_mlflow=False)
    return True
