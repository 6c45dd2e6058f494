"""Outage rerouting over HTTP: open orders → one capacitated min-cost flow, no DataFrames.

The cost model is the batch job's (``pipelines/reroute.py``, ``RerouteParams`` defaults):
handling + distance cost, a lateness penalty when the expected delivery breaks the promise,
a small move penalty for leaving a warehouse that is still up. The solver is
``models.routing.mincostflow.min_cost_assign``. Serving may not import ``pipelines``, so the
few array lines of the cost model are repeated here; the lead may move them to
``models/routing`` so both call one function.
"""

from __future__ import annotations

import time

import numpy as np

from envs.scenarios import haversine_km
from models.routing.mincostflow import min_cost_assign
from serving.errors import unprocessable
from serving.schemas import Reassignment, RerouteReport, RerouteRequest

COST_PER_KM, SPEED_KMH, HANDLING_HOURS, LATE_PENALTY, MOVE_PENALTY = 0.01, 60.0, 2.0, 5.0, 0.5


def _index(req: RerouteRequest) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray,
                                         np.ndarray]:
    """Warehouse index, current warehouse, SKU index per order, stock (W, S), down flags."""
    w_idx: dict[str, int] = {}
    for i, w in enumerate(req.warehouses):
        if w.warehouse_id in w_idx:
            unprocessable(["body", "warehouses", i, "warehouse_id"],
                          f"duplicate warehouse {w.warehouse_id!r}")
        w_idx[w.warehouse_id] = i
    for i, d in enumerate(req.down):
        if d not in w_idx:
            unprocessable(["body", "down", i], f"unknown warehouse {d!r}")
    s_idx: dict[str, int] = {}
    for s in req.stock:
        s_idx.setdefault(s.sku, len(s_idx))
    stock = np.zeros((len(w_idx), max(len(s_idx), 1)), np.int64)
    for i, s in enumerate(req.stock):
        j = w_idx.get(s.warehouse_id)
        if j is None:
            unprocessable(["body", "stock", i, "warehouse_id"],
                          f"unknown warehouse {s.warehouse_id!r}")
        stock[j, s_idx[s.sku]] += s.on_hand
    cur = np.empty(len(req.orders), np.int64)
    sku = np.empty(len(req.orders), np.int64)
    seen: set[str] = set()
    for i, o in enumerate(req.orders):
        if o.order_id in seen:
            unprocessable(["body", "orders", i, "order_id"], f"duplicate order {o.order_id!r}")
        seen.add(o.order_id)
        if o.warehouse_id is not None and o.warehouse_id not in w_idx:
            unprocessable(["body", "orders", i, "warehouse_id"],
                          f"unknown warehouse {o.warehouse_id!r}")
        cur[i] = w_idx[o.warehouse_id] if o.warehouse_id is not None else -1
        sku[i] = s_idx.get(o.sku, -1)
    down = np.zeros(len(w_idx), bool)
    down[[w_idx[d] for d in req.down]] = True
    return w_idx, cur, sku, stock, down


def reroute(req: RerouteRequest) -> tuple[RerouteReport, list[Reassignment]]:
    """Reassign every open order; unroutable ones come back with the reason."""
    start = time.perf_counter()
    w_idx, cur, sku, stock, down = _index(req)
    n = len(req.orders)
    lat = np.fromiter((o.lat for o in req.orders), float, n)
    lon = np.fromiter((o.lon for o in req.orders), float, n)
    promised = np.fromiter((o.promised_hours if o.promised_hours is not None else np.inf
                            for o in req.orders), float, n)
    wlat = np.array([w.lat for w in req.warehouses])
    wlon = np.array([w.lon for w in req.warehouses])
    dist = haversine_km(lat[:, None], lon[:, None], wlat[None, :], wlon[None, :])
    base = np.array([w.cost_per_order for w in req.warehouses])[None, :] + COST_PER_KM * dist
    hours = HANDLING_HOURS + dist / SPEED_KMH
    penal = base + np.where(hours > promised[:, None], LATE_PENALTY, 0.0)
    penal += MOVE_PENALTY * (np.arange(len(w_idx))[None, :] != cur[:, None])
    known = sku >= 0
    has = stock[:, np.maximum(sku, 0)].T > 0
    valid = ~down[None, :] & known[:, None] & has
    capacity = np.array([w.capacity for w in req.warehouses], np.int64)
    res = min_cost_assign(penal, valid, np.maximum(sku, 0), capacity, stock)
    seconds = time.perf_counter() - start
    reason = np.where(~known, "unknown SKU", np.where(
        (has & ~down[None, :]).any(axis=1), "stock and capacity left are taken by other orders",
        "no warehouse that is up has the SKU in stock"))
    if down.all():
        reason[:] = "every warehouse is down"
    return _report(req, res.warehouse, cur, base, hours, down, reason, seconds, res.solver)


def _report(req: RerouteRequest, new: np.ndarray, cur: np.ndarray, base: np.ndarray,
            hours: np.ndarray, down: np.ndarray, reason: np.ndarray, seconds: float,
            solver: str) -> tuple[RerouteReport, list[Reassignment]]:
    rows = np.arange(len(new))
    ok, had = new >= 0, cur >= 0
    new_cost = np.where(ok, base[rows, np.maximum(new, 0)], np.nan)
    old_cost = np.where(had, base[rows, np.maximum(cur, 0)], np.nan)
    new_h = np.where(ok, hours[rows, np.maximum(new, 0)], np.nan)
    moved = ok & (new != cur)
    from_down = had & down[np.maximum(cur, 0)]
    ids = [w.warehouse_id for w in req.warehouses]
    added = new_cost - old_cost

    def f(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    out = [Reassignment(
        order_id=o.order_id, old_warehouse_id=o.warehouse_id,
        new_warehouse_id=ids[new[i]] if ok[i] else None, routable=bool(ok[i]),
        moved=bool(moved[i]), reason=None if ok[i] else str(reason[i]), cost=f(new_cost[i]),
        added_cost=f(added[i]), expected_hours=f(new_h[i])) for i, o in enumerate(req.orders)]
    report = RerouteReport(
        orders=len(new), down=list(req.down), orders_on_down_warehouses=int(from_down.sum()),
        orders_moved=int(moved.sum()), moved_from_down=int((moved & from_down).sum()),
        moved_from_up=int((moved & ~from_down).sum()), unroutable=int((~ok).sum()),
        added_cost=float(np.nansum(added)), total_cost=float(np.nansum(new_cost)),
        solve_seconds=seconds, solver=solver)
    return report, out
