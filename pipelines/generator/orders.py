"""Orders, order lines and life-cycle events of one chunk, generated with numpy in bulk.

Every step works on whole arrays (one row per order, line or event); there is no Python loop
over orders. Fulfilment follows simple physics: the nearest warehouse ships unless it is over
capacity that day, processing slows with load, transit grows with distance and bad weather,
the Spring Festival pauses logistics, and everything after the data's end is not yet known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from oms.contract import EVENT_TYPES, ORDER_STATUSES
from pipelines.generator import arrowcols as ac
from pipelines.generator.calendar import CHANNEL_NAMES, HOURLY, WEATHER_DELAY_H, Calendar
from pipelines.generator.population import GUEST_SHARE, ChunkActivity, Population
from pipelines.generator.realism import bulk_units
from pipelines.generator.world import (
    CATEGORIES,
    FEE_CODES,
    FREE_SHIPPING_FROM,
    GIFTWRAP_FEE,
    SHIP_FEE,
    World,
)

TZ_OFFSET_S = 8 * 3600  # Asia/Shanghai, no daylight saving
DAY_S = 86400
ORDER_ID_WIDTH = 10
POS = CHANNEL_NAMES.index("pos")
RETURN_RATE = np.array([c[3] for c in CATEGORIES])
EV = {name: i for i, name in enumerate(EVENT_TYPES)}
ST = {name: i for i, name in enumerate(ORDER_STATUSES)}


@dataclass
class ChunkInput:
    """What one chunk needs to know about the world and where it sits in time."""

    cal: Calendar
    world: World
    pop: Population
    lo: int  # first calendar index of the chunk
    n_days: int
    as_of_s: int  # data end (UTC epoch seconds): later events are not yet known
    seq0: int  # first order number of the chunk
    tenant_id: str


@dataclass
class ChunkOutput:
    """Frames of one chunk plus what the population and inventory learn from it."""

    orders: pd.DataFrame
    lines: pd.DataFrame
    events: pd.DataFrame
    cust: np.ndarray  # per order: customer index or -1
    late: np.ndarray
    returned: np.ndarray
    contacts: np.ndarray
    line_day: np.ndarray  # per line: day in chunk, warehouse (-1 none), sku (-1 fee), units
    line_wh: np.ndarray
    line_sku: np.ndarray
    line_qty: np.ndarray


def _who(ci: ChunkInput, act: ChunkActivity, rng) -> dict[str, np.ndarray]:
    """Orders of known customers plus guest orders, with home region and nearest warehouses."""
    w, pop = ci.world, ci.pop
    lam = GUEST_SHARE / (1 - GUEST_SHARE) * ci.cal.mult[ci.lo: ci.lo + ci.n_days]
    g = rng.poisson(lam * act.rate_by_region_day)
    g_day, g_reg = np.nonzero(g)
    reps = g[g_day, g_reg]
    g_day, g_reg = np.repeat(g_day, reps), np.repeat(g_reg, reps)
    g_lat = w.region_lat[g_reg] + rng.normal(0, 0.12, len(g_reg))
    g_lon = w.region_lon[g_reg] + rng.normal(0, 0.12, len(g_reg))
    gw1, gw2, gd1, gd2 = w.nearest_warehouses(g_lat, g_lon)
    c = act.cust
    return {
        "cust": np.concatenate([c, np.full(len(g_day), -1)]),
        "day": np.concatenate([act.day, g_day]),
        "region": np.concatenate([pop.region[c], g_reg]).astype(np.int64),
        "wh1": np.concatenate([pop.wh1[c], gw1]).astype(np.int64),
        "wh2": np.concatenate([pop.wh2[c], gw2]).astype(np.int64),
        "d1": np.concatenate([pop.d1[c], gd1]), "d2": np.concatenate([pop.d2[c], gd2]),
    }


def _time_of_day(ci: ChunkInput, day: np.ndarray, rng) -> np.ndarray:
    """Seconds after local midnight, from the hourly profile (midnight rush on Double 11)."""
    cdf = np.cumsum(HOURLY) / HOURLY.sum()
    hour = np.minimum(np.searchsorted(cdf, rng.random(len(day)), side="right"), 23)
    rush = ci.cal.midnight_rush[ci.lo + day] & (rng.random(len(day)) < 0.25)
    hour = np.where(rush, 0, hour)
    return hour * 3600 + rng.integers(0, 3600, len(day))


def _choose_skus(ci: ChunkInput, day: np.ndarray, u: np.ndarray) -> np.ndarray:
    """SKU of each line by inverse CDF: fixed popularity, or the day's under ``realism``."""
    w, cum = ci.world, ci.cal.sku_cum
    if cum is None:
        return np.minimum(np.searchsorted(w.sku_cum, u, side="right"), len(w.sku_ids) - 1)
    sku = np.empty(len(u), np.int64)
    for d in np.unique(day):
        at = day == d
        sku[at] = np.searchsorted(cum[ci.lo + d], u[at], side="right")
    return np.minimum(sku, len(w.sku_ids) - 1)


def _lines(ci: ChunkInput, o: dict[str, np.ndarray], rng) -> dict[str, np.ndarray]:
    """Product lines (Zipf SKUs, promo prices) plus shipping-fee and gift-wrap lines."""
    w, n = ci.world, len(o["day"])
    n_prod = np.minimum(1 + rng.poisson(1.4 + 0.6 * o["intensity"]), 10)
    oi = np.repeat(np.arange(n), n_prod)
    line_no = np.arange(len(oi)) - np.repeat(np.cumsum(n_prod) - n_prod, n_prod) + 1
    sku = _choose_skus(ci, o["day"][oi], rng.random(len(oi)))
    qty = 1 + rng.poisson(w.sku_qty_extra[sku])
    if ci.cal.realism is not None:  # bulk orders make the long tail lumpy
        qty = bulk_units(rng, qty, w.sku_rank[sku] >= len(w.sku_ids) // 5, ci.cal.realism)
    price = np.round(w.sku_price[sku] * (1 - 0.3 * o["intensity"][oi]), 2)
    amount = np.round(qty * price, 2)
    total = np.round(np.bincount(oi, weights=amount, minlength=n), 2)
    ship = (total < FREE_SHIPPING_FROM) & (o["channel"] != POS)
    gift = rng.random(n) < 0.02
    fee_o = np.concatenate([np.flatnonzero(ship), np.flatnonzero(gift)])
    fee_sku = np.concatenate([np.full(ship.sum(), -1), np.full(gift.sum(), -2)])
    fee_no = n_prod[fee_o] + 1 + np.concatenate([np.zeros(ship.sum(), int), ship[gift]])
    fee_price = np.where(fee_sku == -1, SHIP_FEE, GIFTWRAP_FEE)
    lines = {
        "oi": np.concatenate([oi, fee_o]), "line_no": np.concatenate([line_no, fee_no]),
        "sku": np.concatenate([sku, fee_sku]),
        "qty": np.concatenate([qty, np.ones(len(fee_o), int)]),
        "price": np.concatenate([price, fee_price]),
        "amount": np.concatenate([amount, fee_price]),
    }
    order = np.lexsort((lines["line_no"], lines["oi"]))
    lines = {k: v[order] for k, v in lines.items()}
    o["total"], o["n_lines"] = total, n_prod + ship + gift
    o["fees"] = ship * SHIP_FEE + gift * GIFTWRAP_FEE
    o["first_line"] = np.searchsorted(lines["oi"], np.arange(n))  # line_no 1: a product
    return lines


def _warehouse(ci: ChunkInput, o: dict[str, np.ndarray], ships: np.ndarray, rng) -> None:
    """Nearest warehouse unless it is over capacity that day; record load ratios."""
    cap = ci.world.wh_capacity.astype(float)
    n_wh = len(cap)
    key = o["day"] * n_wh + o["wh1"]
    load = np.bincount(key[ships], minlength=ci.n_days * n_wh).astype(float)
    p_move = np.maximum(0.0, 1 - cap[o["wh1"]] / np.maximum(load[key], 1.0))
    move = ships & (rng.random(len(key)) < 0.8 * p_move)
    wh = np.where(move, o["wh2"], o["wh1"])
    o["wh"] = np.where(ships, wh, -1)
    o["dist"] = np.where(move, o["d2"], o["d1"])
    final = np.bincount((o["day"] * n_wh + wh)[ships], minlength=ci.n_days * n_wh)
    o["rho"] = final[o["day"] * n_wh + wh] / cap[wh]


def _fulfil(ci: ChunkInput, o: dict[str, np.ndarray], ships: np.ndarray, rng) -> None:
    """Payment, assignment, shipping and delivery times; promise and lateness."""
    n, cal = len(ships), ci.cal
    o["paid"] = o["created"] + 20 + np.round(rng.lognormal(np.log(90), 0.8, n)).astype(np.int64)
    assign = o["paid"] + rng.integers(120, 1800, n)
    hod = ((assign + TZ_OFFSET_S) % DAY_S) / 3600
    wait_h = np.where(hod >= 18, 32 - hod, np.where(hod < 8, 8 - hod, 0.0))
    rho = o["rho"]
    proc_h = 3 * rng.lognormal(0, 0.4, n) * (1 + 2 * np.maximum(0, rho - 0.85)) \
        + 24 * np.maximum(0, rho - 1)
    ship = assign + ((wait_h + proc_h) * 3600).astype(np.int64)
    resume = cal.resume_day[ci.lo + o["day"]]
    paused = resume >= 0
    ship = np.where(paused, np.maximum(ship, resume * DAY_S + (proc_h * 3600).astype(np.int64)),
                    ship)
    cell = (ci.lo + o["day"], o["region"])
    transit_h = (3 + o["dist"] / 50) * cal.delivery_factor[cell] * rng.lognormal(0, 0.25, n) \
        + WEATHER_DELAY_H[cal.weather[cell]] * rng.uniform(0.5, 1.5, n)
    transit_h += np.where(rng.random(n) < 0.03, rng.uniform(24, 72, n), 0.0)
    o["assigned"], o["shipped"] = assign, ship
    o["delivered"] = ship + (transit_h * 3600).astype(np.int64)
    pause_h = np.where(paused, (resume * DAY_S - o["created"]) / 3600, 0.0)
    promised = np.select([o["dist"] <= 100, o["dist"] <= 600], [24.0, 48.0], 72.0)
    o["promised"] = promised + 24.0 * (o["intensity"] >= 0.3) + np.maximum(pause_h, 0).round()
    pos = ~ships & ~o["cancel"]
    o["delivered"] = np.where(pos, o["paid"] + 60, o["delivered"])
    o["hours"] = np.round((o["delivered"] - o["created"]) / 3600, 2)
    o["late"] = ships & (o["hours"] > o["promised"])


def _outcomes(o: dict[str, np.ndarray], lines: dict[str, np.ndarray], world: World,
              rng) -> None:
    """Cancellations' timing, returns (first line) and support contacts."""
    n = len(o["day"])
    paid_cancel = o["cancel"] & (rng.random(n) < 0.6)
    base = np.where(paid_cancel, o["paid"], o["created"])
    o["cancelled_ts"] = base + rng.integers(300, 6 * 3600, n)
    o["paid_cancel"] = paid_cancel
    first = o["first_line"]
    cat = world.sku_category[lines["sku"][first]]
    p_ret = RETURN_RATE[cat] * np.where(o["channel"] == POS, 0.5, 1.0) + 0.06 * o["late"]
    o["returned"] = ~o["cancel"] & (rng.random(n) < p_ret)
    o["returned_ts"] = o["delivered"] + rng.integers(2 * DAY_S, 12 * DAY_S, n)
    o["contacts"] = rng.poisson(0.03 + 0.8 * o["late"] + 0.7 * o["returned"]
                                + 0.4 * o["cancel"])


def _known(o: dict[str, np.ndarray], ships: np.ndarray, as_of_s: int) -> dict[str, np.ndarray]:
    """Which life-cycle events have happened by the end of the data."""
    c = o["cancel"]
    return {
        "OrderCreated": np.ones(len(c), dtype=bool),
        "PaymentConfirmed": (~c | o["paid_cancel"]) & (o["paid"] <= as_of_s),
        "WarehouseAssigned": ships & (o["assigned"] <= as_of_s),
        "Shipped": ships & (o["shipped"] <= as_of_s),
        "Delivered": ~c & (o["delivered"] <= as_of_s),
        "Cancelled": c & (o["cancelled_ts"] <= as_of_s),
        "Returned": o["returned"] & (o["returned_ts"] <= as_of_s),
    }


def _status(known: dict[str, np.ndarray]) -> np.ndarray:
    """Latest status implied by the known events."""
    st = np.full(len(known["OrderCreated"]), ST["created"])
    for event, status in (("PaymentConfirmed", "paid"), ("Shipped", "shipped"),
                          ("Delivered", "delivered"), ("Returned", "returned"),
                          ("Cancelled", "cancelled")):
        st = np.where(known[event], ST[status], st)
    return st


def _orders_frame(ci: ChunkInput, o, known, ships, order_ids: pa.Array) -> pd.DataFrame:
    n = len(o["day"])
    delivered = known["Delivered"] & ships
    guest = o["cust"] < 0
    return pd.DataFrame({
        "tenant_id": ac.const_col(ci.tenant_id, n),
        "order_id": ac.take_col(order_ids, np.arange(n)),
        "customer_id": ac.ids_col("C", np.maximum(o["cust"], 0), 9, mask=guest),
        "is_guest": guest,
        "order_ts": ac.utc_col(o["created"]),
        "order_date": ac.date_col(ci.cal.epoch_day[ci.lo + o["day"]]),
        "channel": ac.codes_col(o["channel"], CHANNEL_NAMES),
        "region": ac.codes_col(o["region"], list(ci.world.region_names)),
        "warehouse_id": ac.codes_col(np.where(known["WarehouseAssigned"], o["wh"], -1),
                                     list(ci.world.wh_ids)),
        "status": ac.codes_col(_status(known), ORDER_STATUSES),
        "total_amount": o["total"],
        "currency": ac.const_col("CNY", n),
        "n_lines": o["n_lines"].astype(np.int64),
        "promised_hours": ac.masked_float(o["promised"], ~ships),
        "delivery_hours": ac.masked_float(o["hours"], ~delivered),
        "is_late": ac.masked_bool(o["late"], ~delivered),
        "support_contacts": o["contacts"].astype(np.int64),
    })


def _lines_frame(ci: ChunkInput, o, lines, order_ids: pa.Array) -> pd.DataFrame:
    n = len(lines["oi"])
    labels = list(ci.world.sku_ids) + [f[0] for f in FEE_CODES]
    n_sku = len(ci.world.sku_ids)
    sku_code = np.where(lines["sku"] >= 0, lines["sku"], n_sku - 1 - lines["sku"])
    return pd.DataFrame({
        "tenant_id": ac.const_col(ci.tenant_id, n),
        "order_id": ac.take_col(order_ids, lines["oi"]),
        "line_no": lines["line_no"].astype(np.int64),
        "sku": ac.codes_col(sku_code, labels),
        "quantity": lines["qty"].astype(np.int64),
        "unit_price": lines["price"],
        "line_amount": lines["amount"],
        "is_product": lines["sku"] >= 0,
        "order_date": ac.date_col(ci.cal.epoch_day[ci.lo + o["day"][lines["oi"]]]),
    })


def _events_frame(ci: ChunkInput, o, lines, known, order_ids: pa.Array) -> pd.DataFrame:
    ts = {"OrderCreated": o["created"], "PaymentConfirmed": o["paid"],
          "WarehouseAssigned": o["assigned"], "Shipped": o["shipped"],
          "Delivered": o["delivered"], "Cancelled": o["cancelled_ts"],
          "Returned": o["returned_ts"]}
    first = o["first_line"]
    paid_amount = o["total"] + o["fees"]
    amount = {"PaymentConfirmed": paid_amount, "Returned": lines["amount"][first],
              "Cancelled": np.where(o["paid_cancel"], paid_amount, np.nan)}
    parts = []
    for name in EVENT_TYPES:
        idx = np.flatnonzero(known[name])
        parts.append((np.full(len(idx), EV[name]), idx, ts[name][idx],
                      amount.get(name, np.full(len(o["day"]), np.nan))[idx]))
    etype, oi, ets, amt = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((etype, oi))
    etype, oi, ets, amt = etype[order], oi[order], ets[order], amt[order]
    with_wh = np.isin(etype, [EV["WarehouseAssigned"], EV["Shipped"], EV["Delivered"],
                              EV["Returned"]])
    ret = etype == EV["Returned"]
    n_sku = len(ci.world.sku_ids)
    return pd.DataFrame({
        "tenant_id": ac.const_col(ci.tenant_id, len(oi)),
        "event_id": ac.suffixed_col(order_ids.take(pa.array(oi)), etype,
                                    [f"-{i + 1}" for i in range(len(EVENT_TYPES))]),
        "order_id": ac.take_col(order_ids, oi),
        "event_type": ac.codes_col(etype, EVENT_TYPES),
        "event_ts": ac.utc_col(ets),
        "event_date": ac.date_col((ets + TZ_OFFSET_S) // DAY_S),
        "warehouse_id": ac.codes_col(np.where(with_wh, o["wh"][oi], -1), list(ci.world.wh_ids)),
        "sku": ac.codes_col(np.where(ret, lines["sku"][first][oi], -1),
                            list(ci.world.sku_ids[:n_sku])),
        "quantity": ac.masked_int(np.where(ret, lines["qty"][first][oi], 0), ~ret),
        "amount": amt,
    })


def build_chunk(ci: ChunkInput, act: ChunkActivity, rng: np.random.Generator) -> ChunkOutput:
    """Generate every order, line and event of one chunk."""
    o = _who(ci, act, rng)
    sec = _time_of_day(ci, o["day"], rng)
    order = np.lexsort((sec, o["day"]))
    o = {k: v[order] for k, v in o.items()}
    n = len(order)
    o["created"] = ci.cal.epoch_day[ci.lo + o["day"]] * DAY_S + sec[order] - TZ_OFFSET_S
    cum = ci.cal.chan_cum[ci.lo + o["day"], o["region"]]
    o["channel"] = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), len(CHANNEL_NAMES) - 1)
    o["intensity"] = ci.cal.intensity[ci.lo + o["day"], o["region"]]
    lines = _lines(ci, o, rng)
    o["cancel"] = (o["channel"] != POS) & (rng.random(n) < 0.025 + 0.03 * (o["intensity"] >= 0.25))
    ships = (o["channel"] != POS) & ~o["cancel"]
    _warehouse(ci, o, ships, rng)
    _fulfil(ci, o, ships, rng)
    _outcomes(o, lines, ci.world, rng)
    known = _known(o, ships, ci.as_of_s)
    order_ids = ac.ids_arrow("O", ci.seq0 + np.arange(n), ORDER_ID_WIDTH)
    oi = lines["oi"]
    return ChunkOutput(
        orders=_orders_frame(ci, o, known, ships, order_ids),
        lines=_lines_frame(ci, o, lines, order_ids),
        events=_events_frame(ci, o, lines, known, order_ids),
        cust=o["cust"], late=o["late"].astype(float), returned=o["returned"].astype(float),
        contacts=o["contacts"].astype(float),
        line_day=o["day"][oi], line_wh=o["wh"][oi], line_sku=lines["sku"], line_qty=lines["qty"],
    )
