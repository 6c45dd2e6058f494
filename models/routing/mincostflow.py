"""Optimisation behind routing: the clairvoyant hindsight bound and batch reassignment.

* :func:`hindsight_plan` solves a whole routing episode in hindsight (every order, stock
  arrival and outage known) as an integer program with per-day queue-band capacities and
  cumulative stock constraints (HiGHS via ``scipy.optimize.milp``). Queue bands are a
  relaxation — the solver may give the fast slots of a day to any of that day's orders,
  while the environment serves first come first queued — so its objective is an upper
  bound on what any policy can earn; the plan itself is feasible and can be replayed.
* :func:`min_cost_assign` reassigns a batch of open orders to warehouses as a capacitated
  min-cost flow (OR-Tools ``SimpleMinCostFlow``): orders → (warehouse, SKU) stock nodes →
  warehouse capacity nodes → sink, with an "unroutable" arc priced above any real option.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from envs.physics import band_sizes, reward
from envs.scenarios import EpisodeSpec
from envs.warehouse_routing import RoutingConfig, base_hours_and_cost


@dataclass
class HindsightResult:
    """Solution of an episode in hindsight.

    Attributes:
        actions: Warehouse index per order (``W`` = unroutable), feasible for replay.
        bound: Upper bound on the episode's total reward (the solver's dual bound).
        objective: Total reward of the plan under the relaxed queue model.
        optimal: Whether the solver proved optimality within its time limit.
    """

    actions: np.ndarray
    bound: float
    objective: float
    optimal: bool


def _variables(spec: EpisodeSpec, cfg: RoutingConfig, cost_scale: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Enumerate (order, warehouse, band) variables with their rewards."""
    bands = np.asarray(cfg.band_delay_hours)
    hours, cost = base_hours_and_cost(spec, cfg)
    i, w = np.nonzero(~spec.down)
    b = np.repeat(np.arange(len(bands))[None, :], len(i), axis=0).ravel()
    i, w = np.repeat(i, len(bands)), np.repeat(w, len(bands))
    h = hours[i, w] + bands[b]
    r = reward(cost[i, w], h, h <= spec.promised_hours[i], cfg, cost_scale)
    return i, w, b, r


def hindsight_plan(spec: EpisodeSpec, cfg: RoutingConfig, cost_scale: float,
                   time_limit: float = 10.0) -> HindsightResult:
    """Solve the episode in hindsight (see the module docstring).

    Args:
        spec: The episode, fully known.
        cfg: The environment's reward weights and constants.
        cost_scale: The environment's cost normaliser (``env.cost_scale``).
        time_limit: Seconds for HiGHS; the dual bound stays valid if it stops early.

    Returns:
        The plan, its objective and the upper bound.
    """
    n, nw, nb = spec.n_orders, spec.network.n, len(cfg.band_delay_hours)
    if n == 0:
        return HindsightResult(np.zeros(0, np.int64), 0.0, 0.0, True)
    i, w, b, r = _variables(spec, cfg, cost_scale)
    nv = len(i) + n  # plus one "unroutable" variable per order
    col = np.arange(len(i))
    rows, cols, vals, ub = [], [], [], []
    # each order: exactly one warehouse/band or unroutable
    a_eq = sp.coo_matrix((np.ones(nv), (np.r_[i, np.arange(n)],
                                        np.r_[col, len(i) + np.arange(n)])), shape=(n, nv))
    # queue-band capacity per (warehouse, day, band)
    p = spec.period[i]
    key = (w * spec.n_periods + p) * nb + b
    rows.append(key)
    cols.append(col)
    vals.append(np.ones(len(i)))
    sizes = np.stack([band_sizes(c, nb) for c in spec.network.capacity])  # (W, B)
    ub.append(np.repeat(sizes[:, None, :], spec.n_periods, axis=1).ravel())
    # cumulative stock per (warehouse, sku, day): orders of days <= d use stock arrived <= d
    off = nw * spec.n_periods * nb
    ns = len(spec.skus)
    cum = np.cumsum(spec.replenishment, axis=0) + spec.initial_stock[None]  # (P, W, S)
    for d in range(spec.n_periods):
        sel = p <= d
        rows.append(off + (d * nw + w[sel]) * ns + spec.sku[i[sel]])
        cols.append(col[sel])
        vals.append(spec.qty[i[sel]].astype(float))
    ub.append(cum.reshape(-1))
    n_ub = off + spec.n_periods * nw * ns
    a_ub = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_ub, nv))
    c = -np.r_[r, np.full(n, cfg.unroutable_penalty)]
    res = milp(c, integrality=np.ones(nv), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(a_eq.tocsr(), 1, 1),
                            LinearConstraint(a_ub.tocsr(), -np.inf, np.concatenate(ub))],
               options={"time_limit": time_limit, "disp": False})
    if res.x is None:
        raise RuntimeError(f"hindsight solve failed: {res.message}")
    x = res.x[: len(i)] > 0.5
    actions = np.full(n, nw, dtype=np.int64)
    actions[i[x]] = w[x]
    bound = -float(getattr(res, "mip_dual_bound", res.fun) or res.fun)
    return HindsightResult(actions, max(bound, -float(res.fun)), -float(res.fun),
                           bool(res.status == 0))


@dataclass
class Assignment:
    """Result of :func:`min_cost_assign`.

    Attributes:
        warehouse: Chosen warehouse index per order, ``-1`` where unroutable.
        total_cost: Sum of the chosen costs (unroutable orders excluded).
        solver: ``"min-cost-flow"`` or ``"milp"`` (orders with quantity > 1).
    """

    warehouse: np.ndarray
    total_cost: float
    solver: str


COST_UNITS = 10_000  # costs are scaled to integers for the network solver


def min_cost_assign(cost: np.ndarray, valid: np.ndarray, sku: np.ndarray,
                    capacity: np.ndarray, stock: np.ndarray, qty: np.ndarray | None = None,
                    exact_below: int = 2_000_000, self_k: int = 3) -> Assignment:
    """Assign each order to one warehouse at minimum total cost.

    Respects each warehouse's order capacity and its stock of each SKU; orders that cannot
    all be served are left unroutable (``-1``) — the fewest possible, then at least cost.

    Problems up to ``N × W < exact_below`` (100,000 orders × 10 warehouses included) are
    solved exactly with one arc per order × warehouse. Larger ones use a grouped flow:
    each order keeps its two cheapest
    warehouses, orders with the same SKU and the same pair are merged into one node whose
    arcs to the second choice are priced by the (cent-rounded) extra cost of each order —
    exact for the pruned problem, with ~1,000× fewer nodes. When the pruned
    problem leaves a servable order unserved, every order of that SKU is re-solved with the
    capacity the other orders leave: the short orders over every valid warehouse, the
    others over their ``self_k`` cheapest.
    ``bench/routing.py`` checks the result against the LP optimum.

    Args:
        cost: Cost of serving order i from warehouse w, shape (N, W).
        valid: Whether w may serve i at all (up, known SKU, finite cost), shape (N, W).
        sku: SKU index of each order, shape (N,).
        capacity: Orders each warehouse can still take, shape (W,).
        stock: Units on hand per warehouse × SKU, shape (W, S).
        qty: Units per order (default 1). Any order with more than one unit makes this an
            integer program (two resources per order), solved with HiGHS instead.
        exact_below: Size under which the exact per-order network is used.
        self_k: Options kept per order when a SKU is re-solved after coming up short.

    Returns:
        The assignment.
    """
    cost = np.asarray(cost, dtype=float)
    n, nw = cost.shape
    valid = np.asarray(valid, bool) & np.isfinite(cost)
    sku = np.asarray(sku, np.int64)
    capacity = np.maximum(np.asarray(capacity, np.int64), 0)
    stock = np.maximum(np.asarray(stock, np.int64), 0)
    qty = np.ones(n, np.int64) if qty is None else np.asarray(qty, np.int64)
    if n == 0:
        return Assignment(np.zeros(0, np.int64), 0.0, "min-cost-flow")
    if (qty > 1).any():
        return _assign_milp(cost, valid, sku, capacity, stock, qty)
    if n * nw < exact_below:
        out = _flow_exact(cost, valid, sku, capacity, stock)
    else:
        out = _repair_short(_flow_grouped(cost, valid, sku, capacity, stock), cost, valid,
                            sku, capacity, stock, self_k)
    served = np.flatnonzero(out >= 0)
    return Assignment(out, float(cost[served, out[served]].sum()), "min-cost-flow")


def _repair_short(out: np.ndarray, cost: np.ndarray, valid: np.ndarray, sku: np.ndarray,
                  capacity: np.ndarray, stock: np.ndarray, self_k: int) -> np.ndarray:
    """Re-solve exactly every order of the SKUs the pruned flow left servable but unserved.

    They get what the other SKUs' orders leave of the capacity; the short orders get every
    valid warehouse, the others of their SKUs keep their ``self_k`` cheapest options, enough
    to make room by moving one step further.
    """
    short = (out < 0) & valid.any(axis=1)
    if not short.any():
        return out
    redo = np.isin(sku, np.unique(sku[short]))
    kept = ~redo & (out >= 0)
    cap_left = capacity - np.bincount(out[kept], minlength=cost.shape[1])
    arcs = valid[redo] & (short[redo][:, None] | _cheapest(cost[redo], valid[redo], self_k))
    out[redo] = _flow_exact(cost[redo], arcs, sku[redo], cap_left, stock)
    return out


def _cheapest(cost: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Mask of each row's ``k`` cheapest valid entries."""
    c = np.where(valid, cost, np.inf)
    k = min(k, c.shape[1])
    idx = np.argpartition(c, k - 1, axis=1)[:, :k]
    mask = np.zeros_like(valid)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask & valid


def _solve(tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, costs: np.ndarray,
           supplies: np.ndarray) -> tuple[object, np.ndarray]:
    """Max flow at min cost on the given arcs (supplies > 0 at sources, < 0 at the sink)."""
    from ortools.graph.python import min_cost_flow

    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int64), heads.astype(np.int64), caps.astype(np.int64),
        costs.astype(np.int64))
    mcf.set_nodes_supplies(np.arange(len(supplies)), supplies.astype(np.int64))
    status = mcf.solve_max_flow_with_min_cost()
    if status != mcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    return mcf, arcs


def _resource_arcs(first: int, nw: int, ns: int, capacity: np.ndarray, stock: np.ndarray
                   ) -> tuple[np.ndarray, ...]:
    """Arcs (warehouse, SKU) stock node → warehouse capacity node → sink."""
    ws = np.arange(nw * ns)
    wh0 = first + nw * ns
    sink = wh0 + nw
    tails = np.r_[first + ws, wh0 + np.arange(nw)]
    heads = np.r_[wh0 + ws // ns, np.full(nw, sink)]
    caps = np.r_[stock.ravel(), capacity]
    return tails, heads, caps, np.zeros(len(tails), np.int64), sink


def _flow_exact(cost: np.ndarray, valid: np.ndarray, sku: np.ndarray, capacity: np.ndarray,
                stock: np.ndarray) -> np.ndarray:
    n, nw = cost.shape
    ns = stock.shape[1]
    oi, wi = np.nonzero(valid)
    rt, rh, rc, rk, sink = _resource_arcs(n, nw, ns, capacity, stock)
    c = np.round(cost[oi, wi] * COST_UNITS).astype(np.int64)
    c -= c.min(initial=0)
    supplies = np.zeros(sink + 1, np.int64)
    supplies[:n], supplies[sink] = 1, -n
    mcf, arcs = _solve(np.r_[oi, rt], np.r_[n + wi * ns + sku[oi], rh],
                       np.r_[np.ones(len(oi), np.int64), rc], np.r_[c, rk], supplies)
    used = mcf.flows(arcs[: len(oi)]) > 0
    out = np.full(n, -1, np.int64)
    out[oi[used]] = wi[used]
    return out


def _rank_within(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Rank of each element among the elements with the same key (stable)."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=n_keys)
    rank = np.empty(len(keys), np.int64)
    rank[order] = np.arange(len(keys)) - np.repeat(np.r_[0, np.cumsum(counts)[:-1]], counts)
    return rank


def _flow_grouped(cost: np.ndarray, valid: np.ndarray, sku: np.ndarray, capacity: np.ndarray,
                  stock: np.ndarray, units: int = 100) -> np.ndarray:
    n, nw = cost.shape
    ns = stock.shape[1]
    c = np.where(valid, cost, np.inf)
    top = np.argsort(c, axis=1)[:, :2]
    rows = np.arange(n)
    w1, w2 = top[:, 0], top[:, 1] if nw > 1 else top[:, 0]
    has1 = np.isfinite(c[rows, w1])
    has2 = has1 & np.isfinite(c[rows, w2]) & (w2 != w1)
    delta = np.where(has2, c[rows, w2] - np.where(has1, c[rows, w1], 0.0), 0.0)
    dq = np.round(delta * units).astype(np.int64)
    gkey = (sku * nw + w1) * nw + np.where(has2, w2, w1)
    gk, ginv, gcnt = np.unique(np.where(has1, gkey, -1), return_inverse=True,
                               return_counts=True)
    ginv = ginv.ravel()
    # distinct (group, extra cost of the second choice) for orders that have one
    span = int(dq.max(initial=0)) + 1
    k2, k2inv, k2cnt = np.unique(np.where(has2, ginv * span + dq, -1), return_inverse=True,
                                 return_counts=True)
    k2inv = k2inv.ravel()
    live_g, live_k = gk >= 0, k2 >= 0
    g_s, g_w1, g_w2 = gk // (nw * nw), (gk // nw) % nw, gk % nw
    k_g, k_d = k2 // span, k2 % span
    ng = len(gk)
    rt, rh, rc, rk, sink = _resource_arcs(ng, nw, ns, capacity, stock)
    gi, ki = np.flatnonzero(live_g), np.flatnonzero(live_k)
    tails = np.r_[gi, k_g[ki], rt]
    heads = np.r_[ng + g_w1[gi] * ns + g_s[gi], ng + g_w2[k_g[ki]] * ns + g_s[k_g[ki]], rh]
    supplies = np.zeros(sink + 1, np.int64)
    supplies[gi] = gcnt[gi]
    supplies[sink] = -int(gcnt[gi].sum())
    mcf, arcs = _solve(tails, heads, np.r_[gcnt[gi], k2cnt[ki], rc],
                       np.r_[np.zeros(len(gi), np.int64), k_d[ki], rk], supplies)
    f1 = np.zeros(ng, np.int64)
    f1[gi] = mcf.flows(arcs[: len(gi)])
    f2 = np.zeros(len(k2), np.int64)
    f2[ki] = mcf.flows(arcs[len(gi): len(gi) + len(ki)])
    # disaggregate: the f2 orders of each (group, delta) move to the second choice, then
    # the first f1 of the remaining orders of each group stay on the first choice
    to2 = has2 & (_rank_within(k2inv, len(k2)) < f2[k2inv])
    out = np.where(to2, w2, -1)
    rest = np.flatnonzero(~to2 & has1)
    ok = _rank_within(ginv[rest], ng) < f1[ginv[rest]]
    out[rest[ok]] = w1[rest[ok]]
    return out


def _assign_milp(cost: np.ndarray, valid: np.ndarray, sku: np.ndarray, capacity: np.ndarray,
                 stock: np.ndarray, qty: np.ndarray) -> Assignment:
    n, nw = cost.shape
    ns = stock.shape[1]
    oi, wi = np.nonzero(valid)
    nv = len(oi) + n
    big = 2 * float(np.abs(cost[valid]).max(initial=0.0)) + 1_000.0
    c = np.r_[cost[oi, wi], np.full(n, big)]
    a_eq = sp.coo_matrix((np.ones(nv), (np.r_[oi, np.arange(n)],
                                        np.r_[np.arange(len(oi)), len(oi) + np.arange(n)])),
                         shape=(n, nv))
    col = np.arange(len(oi))
    a_cap = sp.coo_matrix((np.ones(len(oi)), (wi, col)), shape=(nw, nv))
    a_stk = sp.coo_matrix((qty[oi].astype(float), (wi * ns + sku[oi], col)), shape=(nw * ns, nv))
    res = milp(c, integrality=np.ones(nv), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(a_eq.tocsr(), 1, 1),
                            LinearConstraint(sp.vstack([a_cap, a_stk]).tocsr(), -np.inf,
                                             np.r_[capacity, np.asarray(stock).ravel()])])
    if res.x is None:
        raise RuntimeError(f"assignment MILP failed: {res.message}")
    x = res.x[: len(oi)] > 0.5
    out = np.full(n, -1, np.int64)
    out[oi[x]] = wi[x]
    return Assignment(out, float(cost[oi[x], wi[x]].sum()), "milp")


def lp_optimum(cost: np.ndarray, valid: np.ndarray, sku: np.ndarray, capacity: np.ndarray,
               stock: np.ndarray) -> tuple[float, int]:
    """LP relaxation of the unit-quantity assignment (HiGHS), for verification.

    Returns:
        The minimum total cost of the served orders and the number left unserved, with the
        same priority as :func:`min_cost_assign` (fewest unserved first).
    """
    from scipy.optimize import linprog

    n, nw = cost.shape
    ns = stock.shape[1]
    oi, wi = np.nonzero(np.asarray(valid, bool) & np.isfinite(cost))
    nv = len(oi) + n
    big = 2 * float(np.abs(cost[oi, wi]).max(initial=0.0)) + 1_000.0
    c = np.r_[cost[oi, wi], np.full(n, big)]
    col = np.arange(len(oi))
    a_eq = sp.coo_matrix((np.ones(nv), (np.r_[oi, np.arange(n)],
                                        np.r_[col, len(oi) + np.arange(n)])),
                         shape=(n, nv)).tocsr()
    a_ub = sp.vstack([sp.coo_matrix((np.ones(len(oi)), (wi, col)), shape=(nw, nv)),
                      sp.coo_matrix((np.ones(len(oi)), (wi * ns + sku[oi], col)),
                                    shape=(nw * ns, nv))]).tocsr()
    res = linprog(c, A_ub=a_ub, b_ub=np.r_[capacity, np.asarray(stock).ravel()], A_eq=a_eq,
                  b_eq=np.ones(n), bounds=(0, 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"LP failed: {res.message}")
    unserved = float(res.x[len(oi):].sum())
    return float(res.fun - big * unserved), int(round(unserved))
