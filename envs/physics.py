"""Routing physics, written once: shipping cost, delivery hours, queue delay and the reward.

Used by the routing environment (per step and per episode), the clairvoyant MILP, the DQN's
greedy prior (on the observation, in torch) and outage rerouting (``pipelines/reroute.py``).
The constants live in :class:`Physics` and :class:`RewardWeights`; ``RoutingConfig`` (the
environment's configuration) and ``RerouteParams`` extend them, so both see the same
defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Physics:
    """How long a delivery takes and what it costs.

    Attributes:
        handling_hours: Hours from assignment to dispatch.
        band_delay_hours: Extra hours per queue band (quarter of the day's capacity used).
        cutoff_hour: Orders at or after this hour wait for the next shift.
        next_shift_hour: Hour the next day's shift starts.
        speed_kmh: Average line-haul speed.
        cost_per_km: Shipping cost per km (on top of the warehouse's handling cost).
        weather_slowdown: Travel-time factor per weather index (``oms.contract.WEATHER``).
    """

    handling_hours: float = 2.0
    band_delay_hours: tuple[float, ...] = (0.0, 4.0, 10.0, 20.0)
    cutoff_hour: float = 20.0
    next_shift_hour: float = 6.0
    speed_kmh: float = 60.0
    cost_per_km: float = 0.01
    weather_slowdown: tuple[float, ...] = (1.0, 1.0, 1.2, 1.5, 1.8)


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the per-order reward (see :func:`reward`).

    Attributes:
        w_cost: Weight of the normalised shipping cost.
        w_sat: Weight of customer satisfaction (1 on time, ``late_satisfaction`` when late).
        w_hours: Weight of the delivery hours (÷ ``hours_scale``).
        hours_scale: Hours normalisation.
        late_satisfaction: Satisfaction of a late delivery.
        invalid_penalty: Reward of a masked (invalid) action; the order is lost.
        unroutable_penalty: Reward of declaring an order unroutable when nothing can serve.
    """

    w_cost: float = 0.3
    w_sat: float = 0.5
    w_hours: float = 0.2
    hours_scale: float = 48.0
    late_satisfaction: float = 0.5
    invalid_penalty: float = -1.0
    unroutable_penalty: float = -1.0


def shipping_cost(cost_per_order: Any, dist_km: Any, p: Physics) -> Any:
    """Handling cost of the warehouse plus distance cost (broadcasts)."""
    return cost_per_order + p.cost_per_km * dist_km


def delivery_hours(dist_km: Any, p: Physics, hour: Any = None, weather: Any = None) -> Any:
    """Delivery hours before any queueing delay (broadcasts over orders × warehouses).

    Handling + the wait for the next shift (orders after ``cutoff_hour``; no wait when
    ``hour`` is None) + travel, slowed by the weather (no slowdown when ``weather`` is None).
    ``hour`` and ``weather`` are per order, shape (N,), and ``dist_km`` is (N, W).
    """
    wait = 0.0
    if hour is not None:
        hour = np.asarray(hour, dtype=float)
        wait = np.where(hour >= p.cutoff_hour, 24.0 - hour + p.next_shift_hour, 0.0)[:, None]
    travel = dist_km / p.speed_kmh
    if weather is not None:
        slow = np.asarray(p.weather_slowdown)[np.asarray(weather, dtype=np.int64)]
        travel = travel * slow[:, None]
    return p.handling_hours + wait + travel


def queue_band(assigned: np.ndarray, capacity: np.ndarray, n_bands: int) -> np.ndarray:
    """Queue band of the next order: which fraction of today's capacity is already used."""
    return np.minimum(np.asarray(assigned) * n_bands // np.maximum(capacity, 1), n_bands - 1)


def queue_delay(assigned: np.ndarray, capacity: np.ndarray, p: Physics) -> np.ndarray:
    """Extra hours the next order waits in each warehouse's queue today."""
    bands = np.asarray(p.band_delay_hours)
    return bands[queue_band(assigned, capacity, len(bands))]


def band_sizes(capacity: int, n_bands: int) -> np.ndarray:
    """How many of a day's ``capacity`` slots fall in each queue band."""
    k = np.arange(int(capacity))
    return np.bincount(np.minimum(k * n_bands // max(int(capacity), 1), n_bands - 1),
                       minlength=n_bands)


def reward(cost: Any, hours: Any, on_time: Any, w: RewardWeights, cost_scale: float,
           hours_scale: float | None = None) -> Any:
    """Reward of serving an order: ``-w_cost·cost/cost_scale + w_sat·sat - w_hours·hours/scale``.

    Works on floats, numpy arrays and torch tensors alike (arithmetic only). ``on_time`` is
    a bool or 0/1 array; satisfaction is 1 on time and ``late_satisfaction`` when late.

    Args:
        cost: Shipping cost (or cost already divided by its scale, with ``cost_scale=1``).
        hours: Delivery hours (or hours already normalised, with a matching ``hours_scale``).
        on_time: Delivered within the promise.
        w: Reward weights.
        cost_scale: Cost normalisation (the dearest possible order).
        hours_scale: Hours normalisation; ``w.hours_scale`` when None.
    """
    scale = w.hours_scale if hours_scale is None else hours_scale
    sat = w.late_satisfaction + (1.0 - w.late_satisfaction) * on_time
    return -w.w_cost * cost / cost_scale + w.w_sat * sat - w.w_hours * hours / scale
