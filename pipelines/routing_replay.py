"""Replay a real day of the lake through the routing env, with and without a warehouse outage.

``outage_replay`` builds the day's episode from the lake (``envs.replay``), takes one
warehouse down for a window (by default the day's busiest, from the business morning on)
and plays the same orders with the baselines — nearest-with-stock, myopic greedy and the
clairvoyant hindsight plan — once on the normal day and once with the outage. The
difference shows what the outage costs and how much of it a smarter policy wins back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from envs.replay import build_episode, load_tables
from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv
from models.routing.baselines import (
    Clairvoyant,
    MyopicGreedy,
    NearestWithStock,
    evaluate,
    summarise,
)
from oms.settings import get_settings


@dataclass
class OutageReplay:
    """Result of :func:`outage_replay`.

    Attributes:
        summary: Per scenario (``normal``, ``outage``) and policy: reward, cost per order,
            on-time, invalid and unroutable rates.
        outage: The outage window (``warehouse_id, start_ts, end_ts`` in UTC).
        day: The replayed business day.
        orders: Orders in the episode.
        rejected: Orders that could not become a routing step, with a reason.
    """

    summary: pd.DataFrame
    outage: pd.DataFrame
    day: pd.Timestamp
    orders: int
    rejected: pd.DataFrame


def _pick_day(orders: pd.DataFrame, day: Any) -> pd.Timestamp:
    days = pd.to_datetime(orders["order_date"]).dt.normalize()
    if day is not None:
        return pd.Timestamp(day).normalize()
    if days.empty:
        raise ValueError("the lake has no orders to replay")
    return days.max() - pd.Timedelta(days=1)  # the last full day


def outage_window(orders: pd.DataFrame, day: pd.Timestamp, warehouse_id: str | None,
                  start_hour: float, hours: float) -> pd.DataFrame:
    """One outage row; the warehouse defaults to the one that shipped most orders that day."""
    if warehouse_id is None:
        that_day = orders[pd.to_datetime(orders["order_date"]).dt.normalize() == day]
        counts = that_day["warehouse_id"].dropna().astype(str).value_counts()
        if counts.empty:
            raise ValueError(f"no orders with a warehouse on {day.date()}")
        warehouse_id = str(counts.index[0])
    start = (day + pd.Timedelta(hours=start_hour)).tz_localize(get_settings().timezone)
    start = start.tz_convert("UTC")
    return pd.DataFrame({"warehouse_id": [warehouse_id], "start_ts": [start],
                         "end_ts": [start + pd.Timedelta(hours=hours)]})


def outage_replay(lake: str, day: Any = None, warehouse_id: str | None = None,
                  start_hour: float = 9.0, hours: float = 15.0, tenant: str | None = None,
                  config: RoutingConfig | None = None, policies: list[Any] | None = None
                  ) -> OutageReplay:
    """Replay one day of the lake with the baselines, normally and with an outage.

    Args:
        lake: Lake root with the routing tables (``envs.replay.TABLES``).
        day: Business day to replay (default: the day before the last order day).
        warehouse_id: Warehouse taken down (default: the day's busiest).
        start_hour: Local hour (settings' time zone) the outage starts.
        hours: Length of the outage.
        tenant: Tenant to replay (default: the settings').
        config: Routing config (default ``RoutingConfig()``).
        policies: Policies to compare (default: nearest, greedy, clairvoyant).

    Raises:
        ValueError: No orders, unknown warehouse, or a day without routable orders.
    """
    tables = load_tables(lake, tenant or get_settings().tenant_id)
    the_day = _pick_day(tables["orders"], day)
    outage = outage_window(tables["orders"], the_day, warehouse_id, start_hour, hours)
    normal, rejected = build_episode(tables, the_day)
    down, _ = build_episode(tables, the_day, outages=outage)
    if normal.n_orders == 0:
        raise ValueError(f"no routable orders on {the_day.date()}")
    frames = []
    for scenario, spec in (("normal", normal), ("outage", down)):
        env = WarehouseRoutingEnv(config or RoutingConfig(), spec=spec)
        chosen = policies or [NearestWithStock(), MyopicGreedy(), Clairvoyant()]
        res = pd.concat([evaluate(env, p, [0]) for p in chosen])
        frames.append(summarise(res).assign(scenario=scenario))
    summary = pd.concat(frames, ignore_index=True).set_index(["scenario", "policy"])
    return OutageReplay(summary.round(4), outage, the_day, int(normal.n_orders), rejected)
