"""Routing page data: the warehouse router's policy comparison and the last rerouting report.

The policy comparison is the table the router's gate produced (``gate_summary.csv`` in the
champion version's MLflow run: the router masked and raw against nearest-with-stock and
myopic greedy, on the same seeded episodes). The rerouting report is the ``reroute`` output
(one row per open order: ``old_warehouse_id, new_warehouse_id, moved, routable, reason,
added_cost, expected_delay_hours``), summarised here.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import NoData, Sources, output
from dashboard.models_view import champion_run_artifact
from oms.tenancy import registered_name

ROUTER = "warehouse_router"
METRICS = ["reward", "cost_per_order", "on_time_rate", "invalid_rate", "unroutable_rate"]


def policy_comparison(src: Sources, tenant: str) -> pd.DataFrame:
    """Mean reward and cost per policy on the champion router's gate episodes."""
    path = champion_run_artifact(src, registered_name(ROUTER, tenant), "gate_summary.csv")
    table = pd.read_csv(path)
    if table.empty or "policy" not in table.columns:
        raise NoData("The champion router's gate summary is empty.")
    return table[["policy", *[m for m in METRICS if m in table.columns]]]


def reroute_report(src: Sources, tenant: str) -> tuple[dict[str, float | int], pd.DataFrame]:
    """Summary of the last rerouting run and its orders per (old → new) warehouse.

    Returns:
        ``(summary, moves)``: orders, moved, unroutable, added cost, mean delay of the moved
        orders; and ``old_warehouse_id, new_warehouse_id, orders`` for the moved orders.
    """
    df = output(src, "reroute", tenant, "rerouting report",
                "a reroute after a warehouse outage (oms-ml route reroute)")
    moved = df["moved"].fillna(False).astype(bool)
    routable = df["routable"].fillna(False).astype(bool)
    summary = {
        "orders": int(len(df)), "moved": int(moved.sum()),
        "unroutable": int((~routable).sum()),
        "added_cost": float(pd.to_numeric(df["added_cost"], errors="coerce").sum()),
        "mean_delay_hours_moved": float(pd.to_numeric(
            df.loc[moved, "expected_delay_hours"], errors="coerce").mean())
        if moved.any() else 0.0,
    }
    moves = (df[moved].groupby(["old_warehouse_id", "new_warehouse_id"], observed=True)
             .size().rename("orders").reset_index())
    moves = moves[moves["orders"] > 0].astype({"old_warehouse_id": str,
                                               "new_warehouse_id": str})
    return summary, moves.reset_index(drop=True)


def unroutable_reasons(src: Sources, tenant: str) -> pd.DataFrame:
    """Orders the last rerouting could not place, per reason."""
    df = output(src, "reroute", tenant, "rerouting report", "oms-ml route reroute")
    bad = df[~df["routable"].fillna(False).astype(bool)]
    return bad.groupby("reason", dropna=False).size().rename("orders").reset_index()
