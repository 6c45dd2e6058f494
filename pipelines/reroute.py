"""Outage rerouting: reassign every open order in one batch when warehouses go down.

All open orders and the warehouses still up form one capacitated min-cost flow
(``models.routing.mincostflow.min_cost_assign``). An order's cost at a warehouse is its
handling + distance cost, plus a lateness penalty when the expected delivery would break
its promise, plus a small move penalty for leaving a warehouse that is still up (so only
the orders that must move, or that free room for them, move), minus an optional bonus
from the router's scores. Orders nothing can serve come back as unroutable with a reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.routing.mincostflow import min_cost_assign
from models.routing.reroute_cost import RerouteParams, reroute_costs
from oms.lake import write_frame

ORDER_COLUMNS = ("order_id", "warehouse_id", "sku", "lat", "lon")
WAREHOUSE_COLUMNS = ("warehouse_id", "lat", "lon", "capacity", "cost_per_order")
STOCK_COLUMNS = ("warehouse_id", "sku", "on_hand")


@dataclass
class RerouteResult:
    """Assignments (one row per open order) and the batch report."""

    assignments: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def _require(df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing columns {missing}")


def _check_inputs(orders: pd.DataFrame, warehouses: pd.DataFrame, stock: pd.DataFrame,
                  down: list[str]) -> None:
    _require(orders, ORDER_COLUMNS, "open orders")
    _require(warehouses, WAREHOUSE_COLUMNS, "warehouses")
    _require(stock, STOCK_COLUMNS, "stock")
    if warehouses["warehouse_id"].duplicated().any():
        raise ValueError("duplicate warehouse_id in warehouses")
    if warehouses[["lat", "lon"]].isna().any().any():
        bad = warehouses.loc[warehouses[["lat", "lon"]].isna().any(axis=1), "warehouse_id"]
        raise ValueError(f"warehouses with NaN coordinates: {bad.tolist()}")
    known = set(warehouses["warehouse_id"])
    for what, ids in (("down list", down), ("open orders", orders["warehouse_id"].dropna()),
                      ("stock", stock["warehouse_id"])):
        unknown = sorted(set(ids) - known)
        if unknown:
            raise ValueError(f"unknown warehouse(s) in {what}: {unknown[:10]}")
    if orders["order_id"].duplicated().any():
        raise ValueError("duplicate order_id in open orders")


def cost_matrix(orders: pd.DataFrame, wh: pd.DataFrame, p: RerouteParams,
                 scores: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base cost, expected hours and penalised cost per order × warehouse."""
    cur = orders["warehouse_id"].map({w: i for i, w in enumerate(wh["warehouse_id"])})
    promised = (orders["promised_hours"].to_numpy(float) if "promised_hours" in orders.columns
                else None)
    base, hours, penal = reroute_costs(
        orders["lat"].to_numpy(float), orders["lon"].to_numpy(float), wh["lat"].to_numpy(float),
        wh["lon"].to_numpy(float), wh["cost_per_order"].to_numpy(float),
        cur.fillna(-1).to_numpy(np.int64), promised, p)
    if scores is not None and p.score_weight:
        piv = scores.pivot_table(index="order_id", columns="warehouse_id", values="score")
        piv = piv.reindex(index=orders["order_id"], columns=wh["warehouse_id"]).fillna(0.0)
        penal -= p.score_weight * piv.to_numpy(float)
    return base, hours, penal


def _unroutable_reason(orders: pd.DataFrame, known_sku: np.ndarray, bad_xy: np.ndarray,
                       any_stock: np.ndarray, n_up: int) -> np.ndarray:
    reason = np.full(len(orders), "stock and capacity left are taken by other orders",
                     dtype=object)
    reason[~any_stock] = "no warehouse that is up has the SKU in stock"
    if n_up == 0:
        reason[:] = "every warehouse is down"
    reason[~known_sku] = "unknown SKU"
    reason[bad_xy] = "NaN delivery coordinates"
    return reason


def reroute(orders: pd.DataFrame, warehouses: pd.DataFrame, stock: pd.DataFrame,
            down: list[str], params: RerouteParams | None = None,
            scores: pd.DataFrame | None = None) -> RerouteResult:
    """Reassign every open order after ``down`` warehouses go down.

    Args:
        orders: Open orders ``order_id, warehouse_id (current), sku, lat, lon`` and
            optionally ``promised_hours``. Each row is one unit to ship.
        warehouses: ``warehouse_id, lat, lon, capacity, cost_per_order``; ``capacity`` is
            how many of these open orders each warehouse can still ship.
        stock: ``warehouse_id, sku, on_hand`` — units available for these open orders.
        down: Warehouses that went down.
        params: Cost model.
        scores: Optional router scores ``order_id, warehouse_id, score`` (higher = better).

    Returns:
        One row per order (``new_warehouse_id``, ``moved``, ``routable``, ``reason``,
        ``added_cost``, ``expected_delay_hours``) and the report.
    """
    p = params or RerouteParams()
    _check_inputs(orders, warehouses, stock, list(down))
    start = time.perf_counter()
    orders = orders.reset_index(drop=True)
    wh = warehouses.reset_index(drop=True)
    w_idx = {w: i for i, w in enumerate(wh["warehouse_id"])}
    skus = sorted(set(stock["sku"]))
    s_idx = {s: j for j, s in enumerate(skus)}
    stock_m = np.zeros((len(wh), max(len(skus), 1)), np.int64)
    np.add.at(stock_m, (stock["warehouse_id"].map(w_idx).to_numpy(),
                        stock["sku"].map(s_idx).to_numpy()),
              stock["on_hand"].fillna(0).to_numpy(np.int64))
    up = ~wh["warehouse_id"].isin(list(down)).to_numpy()
    sku = orders["sku"].map(s_idx)
    known_sku = sku.notna().to_numpy()
    sku = sku.fillna(0).to_numpy(np.int64)
    bad_xy = orders[["lat", "lon"]].isna().any(axis=1).to_numpy()
    base, hours, penal = cost_matrix(orders, wh, p, scores)
    has = stock_m[:, sku].T > 0
    valid = up[None, :] & known_sku[:, None] & ~bad_xy[:, None] & has
    qty = orders["quantity"].to_numpy(np.int64) if "quantity" in orders.columns else None
    res = min_cost_assign(penal, valid, sku, wh["capacity"].to_numpy(np.int64), stock_m, qty)
    seconds = time.perf_counter() - start
    reason = _unroutable_reason(orders, known_sku, bad_xy, (has & up[None, :]).any(axis=1),
                                int(up.sum()))
    return _result(orders, wh, res.warehouse, base, hours, reason, seconds, res.solver, down)


def _result(orders: pd.DataFrame, wh: pd.DataFrame, new: np.ndarray, base: np.ndarray,
            hours: np.ndarray, reason: np.ndarray, seconds: float, solver: str,
            down: list[str]) -> RerouteResult:
    n = len(orders)
    rows = np.arange(n)
    cur = orders["warehouse_id"].map({w: i for i, w in enumerate(wh["warehouse_id"])})
    cur = cur.fillna(-1).to_numpy(np.int64)
    ok, had = new >= 0, cur >= 0
    old_cost = np.where(had, base[rows, np.maximum(cur, 0)], np.nan)
    new_cost = np.where(ok, base[rows, np.maximum(new, 0)], np.nan)
    old_h = np.where(had, hours[rows, np.maximum(cur, 0)], np.nan)
    new_h = np.where(ok, hours[rows, np.maximum(new, 0)], np.nan)
    ids = wh["warehouse_id"].to_numpy(object)
    moved = ok & (new != cur)
    out = pd.DataFrame({
        "order_id": orders["order_id"].to_numpy(),
        "old_warehouse_id": orders["warehouse_id"].to_numpy(),
        "new_warehouse_id": pd.array(np.where(ok, ids[np.maximum(new, 0)], None),
                                     dtype="string"),
        "routable": ok, "moved": moved,
        "reason": pd.array(np.where(ok, None, reason), dtype="string"),
        "cost": new_cost, "added_cost": new_cost - old_cost,
        "expected_hours": new_h, "expected_delay_hours": new_h - old_h,
    })
    from_down = orders["warehouse_id"].isin(list(down)).to_numpy()
    report = {
        "orders": n, "down": list(down), "orders_on_down_warehouses": int(from_down.sum()),
        "orders_moved": int(moved.sum()), "moved_from_down": int((moved & from_down).sum()),
        "moved_from_up": int((moved & ~from_down).sum()), "unroutable": int((~ok).sum()),
        "added_cost": float(np.nansum(out["added_cost"].to_numpy(float))),
        "total_cost": float(np.nansum(new_cost)),
        "mean_expected_delay_hours_moved": float(np.nanmean(out.loc[moved,
                                                 "expected_delay_hours"])) if moved.any()
        else 0.0,
        "solve_seconds": seconds, "solver": solver,
    }
    return RerouteResult(out, report)


def write_reroute(result: RerouteResult, uri: str) -> str:
    """Write the assignments atomically (parquet) to ``uri``; returns the uri."""
    write_frame(result.assignments, uri)
    return uri
