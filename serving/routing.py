"""Routing requests → arrays → the router (or the fallback) → responses; no DataFrame per call.

The degraded fallback (``nearest-with-stock``) needs only the warehouse network: the one of
the last router loaded for the tenant, else the tenant's ``warehouses`` table in the lake,
else the environment's default network (what the routers are trained on).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from envs.scenarios import TIER_INDEX, WEATHER_INDEX, Network
from models.routing.fastpath import REASONS, FastRouter, OrderBatch, RouteDecision
from serving.errors import unprocessable
from serving.registry import Slot
from serving.schemas import ModelRef, RouteRequest, RouteResponse, WarehouseScore

log = logging.getLogger(__name__)


def to_batch(orders: list[RouteRequest], network: Network, field: str = "orders"
             ) -> OrderBatch:
    """Arrays for the router; an unknown warehouse id is a 422 naming the order and id."""
    n, w = len(orders), network.n
    index = {wid: j for j, wid in enumerate(network.warehouse_ids)}
    load, stock = np.zeros((n, w), np.int64), np.zeros((n, w), np.int64)
    up, known = np.zeros((n, w), bool), np.zeros((n, w), bool)
    for i, o in enumerate(orders):
        for wid, st in o.warehouses.items():
            j = index.get(wid)
            if j is None:
                loc = [field, i, "warehouses", wid] if field else ["warehouses", wid]
                unprocessable(loc, f"unknown warehouse {wid!r}; this tenant's router knows "
                                   f"{network.warehouse_ids}")
            load[i, j], stock[i, j], up[i, j], known[i, j] = st.load, st.stock, st.up, True
    return OrderBatch(
        value=np.fromiter((o.order_value for o in orders), float, n),
        tier=np.fromiter((TIER_INDEX[o.customer_tier] for o in orders), np.int64, n),
        promised_hours=np.fromiter((o.promised_hours for o in orders), float, n),
        hour=np.fromiter((o.hour_of_day for o in orders), float, n),
        weather=np.fromiter((WEATHER_INDEX[o.weather] for o in orders), np.int64, n),
        lat=np.fromiter((o.customer_lat for o in orders), float, n),
        lon=np.fromiter((o.customer_lon for o in orders), float, n),
        promo=np.fromiter((o.promo_intensity for o in orders), float, n),
        qty=np.fromiter((o.quantity for o in orders), np.int64, n),
        load=load, stock=stock, up=up, known=known)


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def responses(orders: list[RouteRequest], d: RouteDecision, network: Network, tenant: str,
              degraded: bool, model: ModelRef | None) -> list[RouteResponse]:
    """One response per order; masked warehouses get a null score and the reason."""
    ids = network.warehouse_ids
    out = []
    for i, o in enumerate(orders):
        c = int(d.choice[i])
        whs = [WarehouseScore(
            warehouse_id=w, score=_num(d.scores[i, j]), expected_cost=_num(d.cost[i, j]),
            expected_delivery_hours=_num(d.hours[i, j]), masked=bool(d.mask_reason[i, j] >= 0),
            reason=REASONS[d.mask_reason[i, j]] if d.mask_reason[i, j] >= 0 else None)
            for j, w in enumerate(ids)]
        out.append(RouteResponse(
            order_id=o.order_id, tenant=tenant, warehouse_id=ids[c] if c >= 0 else None,
            routable=c >= 0, reason=d.unroutable_reason[i] or None,
            expected_cost=_num(d.cost[i, c]) if c >= 0 else None,
            expected_delivery_hours=_num(d.hours[i, c]) if c >= 0 else None,
            degraded=degraded, model=model, warehouses=whs))
    return out


def _rows_decision(slot: Slot, batch: OrderBatch) -> RouteDecision:
    """Route through the pyfunc's own ``route_frame`` (used if the fast path disagreed)."""
    import pandas as pd

    from models.routing.rows import UNROUTABLE

    fast: FastRouter = slot.fast
    net, n = fast.network, batch.n
    tiers, weathers = list(TIER_INDEX), list(WEATHER_INDEX)
    df = pd.DataFrame({
        "order_id": [str(i) for i in range(n)], "order_value": batch.value,
        "customer_tier": [tiers[t] for t in batch.tier], "promised_hours": batch.promised_hours,
        "hour_of_day": batch.hour, "weather": [weathers[w] for w in batch.weather],
        "customer_lat": batch.lat, "customer_lon": batch.lon, "promo_intensity": batch.promo,
        "quantity": batch.qty})
    reason = fast.masks(batch)
    for j, w in enumerate(net.warehouse_ids):
        df[f"load__{w}"] = batch.load[:, j].astype(float)
        df[f"stock__{w}"] = np.where(reason[:, j] == 0, 0, batch.stock[:, j]).astype(float)
        df[f"up__{w}"] = (batch.up[:, j] & batch.known[:, j]).astype(float)
    res = slot.model.predict(df)
    _, hours, cost = fast.observations(batch)
    pos = {w: j for j, w in enumerate(net.warehouse_ids)}
    choice = np.array([pos.get(w, -1) if w != UNROUTABLE else -1
                       for w in res["warehouse_id"]], np.int64)
    scores = res[[f"score__{w}" for w in net.warehouse_ids]].to_numpy(float)
    from models.routing.fastpath import unroutable_reason

    return RouteDecision(choice, scores, cost, hours, reason,
                         [unroutable_reason(reason[i]) if choice[i] < 0 else ""
                          for i in range(n)])


def decide(slot: Slot | None, fallback: FastRouter, orders: list[RouteRequest],
           field: str = "orders") -> tuple[RouteDecision, Network, bool, ModelRef | None]:
    """Route orders with the tenant's champion, or the fallback when none is loaded."""
    if slot is None:
        batch = to_batch(orders, fallback.network, field)
        return fallback.nearest_with_stock(batch), fallback.network, True, None
    fast: FastRouter = slot.fast
    batch = to_batch(orders, fast.network, field)
    ref = ModelRef(name=slot.name, version=str(slot.version))
    d = fast.route(batch) if slot.fast_path else _rows_decision(slot, batch)
    return d, fast.network, False, ref


def fallback_network(lake: str, tenant: str) -> Network:
    """The tenant's warehouses from the lake, else the environment's default network."""
    from envs.scenarios import SamplerConfig, sample_network

    try:
        from oms.lake import read_table, table_uri

        wh = read_table(table_uri(lake, "warehouses"))
        wh = wh[wh["tenant_id"] == tenant]
        if len(wh):
            return Network([str(x) for x in wh["warehouse_id"]], wh["lat"].to_numpy(float),
                           wh["lon"].to_numpy(float),
                           wh["capacity_per_day"].to_numpy(np.int64),
                           wh["cost_per_order"].to_numpy(float))
    except Exception as e:  # noqa: BLE001 — no lake is a normal state for a fresh service
        log.info("no warehouses table for %s (%s); fallback uses the default network",
                 tenant, type(e).__name__)
    return sample_network(SamplerConfig())


def fallback_router(lake: str, tenant: str, last: Any = None) -> FastRouter:
    """A router-less :class:`FastRouter` for the nearest-with-stock fallback."""
    from envs.warehouse_routing import RoutingConfig

    if last is not None:
        return FastRouter(None, last.network, last.config)
    return FastRouter(None, fallback_network(lake, tenant), RoutingConfig())
