"""Outage rerouting over HTTP: open orders → one capacitated min-cost flow, no DataFrames.

The cost model is the batch job's (``pipelines/reroute.py``, ``RerouteParams`` defaults):
handling + distance cost, a lateness penalty when the expected delivery breaks the promise,
a small move penalty for leaving a warehouse that is still up. The solver is
``models.routing.mincostflow.min_cost_assign``; the cost model is
``models.routing.reroute_cost.reroute_costs``, the one the batch job calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models.routing.mincostflow import min_cost_assign
from models.routing.reroute_cost import RerouteParams, reroute_costs
from serving.errors import unprocessable
from serving.schemas import Reassignment, ReassignmentColumns, RerouteReport, RerouteRequest

PARAMS = RerouteParams()


@dataclass
class OpenOrders:
    """The open orders as arrays, whichever format the request used."""

    order_id: list[str]
    warehouse_id: list[str | None]
    sku: list[str]
    lat: np.ndarray
    lon: np.ndarray
    promised: np.ndarray
    where: str  # "orders" or "order_columns", for error locations


def open_orders(req: RerouteRequest) -> OpenOrders:
    """Arrays from ``orders`` (rows) or ``order_columns`` (bulk)."""
    if req.order_columns is not None:
        c = req.order_columns
        ph = c.promised_hours or [None] * len(c.order_id)
        return OpenOrders(c.order_id, c.warehouse_id, c.sku, np.asarray(c.lat, float),
                          np.asarray(c.lon, float),
                          np.array([np.inf if h is None else h for h in ph], float),
                          "order_columns")
    rows = req.orders or []
    n = len(rows)
    return OpenOrders(
        [o.order_id for o in rows], [o.warehouse_id for o in rows], [o.sku for o in rows],
        np.fromiter((o.lat for o in rows), float, n), np.fromiter((o.lon for o in rows), float, n),
        np.fromiter((np.inf if o.promised_hours is None else o.promised_hours for o in rows),
                    float, n), "orders")


def _loc(o: OpenOrders, i: int, name: str) -> list:
    return ["body", o.where, i, name] if o.where == "orders" else ["body", o.where, name, i]


def _index(req: RerouteRequest, o: OpenOrders) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                        np.ndarray]:
    """Current warehouse and SKU index per order, stock (W, S), down flags; 422 on unknowns."""
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
    stock = np.zeros((len(w_idx), max(len({s.sku for s in req.stock}), 1)), np.int64)
    for i, s in enumerate(req.stock):
        j = w_idx.get(s.warehouse_id)
        if j is None:
            unprocessable(["body", "stock", i, "warehouse_id"],
                          f"unknown warehouse {s.warehouse_id!r}")
        stock[j, s_idx.setdefault(s.sku, len(s_idx))] += s.on_hand
    if len(set(o.order_id)) != len(o.order_id):
        seen: set[str] = set()
        dup = next(i for i, x in enumerate(o.order_id) if x in seen or seen.add(x))
        unprocessable(_loc(o, dup, "order_id"), f"duplicate order {o.order_id[dup]!r}")
    w_get = {**w_idx, None: -1}
    cur = np.fromiter((w_get.get(w, -2) for w in o.warehouse_id), np.int64, len(o.order_id))
    if (cur == -2).any():
        i = int(np.flatnonzero(cur == -2)[0])
        unprocessable(_loc(o, i, "warehouse_id"), f"unknown warehouse {o.warehouse_id[i]!r}")
    sku = np.fromiter((s_idx.get(s, -1) for s in o.sku), np.int64, len(o.sku))
    down = np.zeros(len(w_idx), bool)
    down[[w_idx[d] for d in req.down]] = True
    return cur, sku, stock, down


def reroute(req: RerouteRequest) -> tuple[RerouteReport, list[Reassignment] | None,
                                          ReassignmentColumns | None]:
    """Reassign every open order; unroutable ones come back with the reason."""
    start = time.perf_counter()
    o = open_orders(req)
    cur, sku, stock, down = _index(req, o)
    wlat = np.array([w.lat for w in req.warehouses])
    wlon = np.array([w.lon for w in req.warehouses])
    base, hours, penal = reroute_costs(
        o.lat, o.lon, wlat, wlon, np.array([w.cost_per_order for w in req.warehouses]), cur,
        o.promised, PARAMS)
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
    return _report(req, o, res.warehouse, cur, base, hours, down, reason, seconds, res.solver)


def _report(req: RerouteRequest, o: OpenOrders, new: np.ndarray, cur: np.ndarray,
            base: np.ndarray, hours: np.ndarray, down: np.ndarray, reason: np.ndarray,
            seconds: float, solver: str
            ) -> tuple[RerouteReport, list[Reassignment] | None, ReassignmentColumns | None]:
    rows = np.arange(len(new))
    ok, had = new >= 0, cur >= 0
    new_cost = np.where(ok, base[rows, np.maximum(new, 0)], np.nan)
    added = new_cost - np.where(had, base[rows, np.maximum(cur, 0)], np.nan)
    new_h = np.where(ok, hours[rows, np.maximum(new, 0)], np.nan)
    moved = ok & (new != cur)
    from_down = had & down[np.maximum(cur, 0)]
    ids = np.array([w.warehouse_id for w in req.warehouses] + [None], dtype=object)
    report = RerouteReport(
        orders=len(new), down=list(req.down), orders_on_down_warehouses=int(from_down.sum()),
        orders_moved=int(moved.sum()), moved_from_down=int((moved & from_down).sum()),
        moved_from_up=int((moved & ~from_down).sum()), unroutable=int((~ok).sum()),
        added_cost=float(np.nansum(added)), total_cost=float(np.nansum(new_cost)),
        solve_seconds=seconds, solver=solver)
    cols = {"order_id": o.order_id, "old_warehouse_id": o.warehouse_id,
            "new_warehouse_id": ids[new].tolist(), "routable": ok.tolist(),
            "moved": moved.tolist(),
            "reason": np.where(ok, None, reason.astype(object)).tolist(),
            "cost": _floats(new_cost), "added_cost": _floats(added),
            "expected_hours": _floats(new_h)}
    if o.where == "order_columns":
        return report, None, ReassignmentColumns(**cols)
    return report, [Reassignment(**{k: v[i] for k, v in cols.items()})
                    for i in range(len(new))], None


def _floats(x: np.ndarray) -> list[float | None]:
    return np.where(np.isfinite(x), x, None).tolist()
