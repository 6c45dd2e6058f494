"""``oms/WarehouseRouting-v0``: route each arriving order to a warehouse.

Each step one order arrives and the action picks a warehouse (actions ``0..W-1``) or
declares it unroutable (action ``W``, valid only when no warehouse can serve it).

Dynamics that make the future matter:

* **capacity per period** — each warehouse ships at most ``capacity`` orders a day;
* **queues** — the more a warehouse already has in its day's queue, the longer the next
  order waits (``band_delay_hours`` per quarter of capacity used);
* **stock** that depletes and is replenished at the start of each day on a schedule;
* **promotion waves** and **outages** come from the episode spec (sampled or replayed).

Reward per order (weights configurable)::

    -w_cost * cost / cost_scale + w_sat * satisfaction - w_hours * hours / hours_scale

with satisfaction 1.0 when delivered within the promise and 0.5 when late. Taking a masked
(invalid) action costs ``invalid_penalty`` and the order is lost; declaring unroutable
when nothing can serve costs ``unroutable_penalty``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.scenarios import EpisodeSpec, Network, SamplerConfig, sample_episode, sample_network
from oms.contract import WEATHER

N_TIERS = 4
QTY_FEATURE = 5  # index of the normalised quantity in the observation
ORDER_FEATURES = 6 + len(WEATHER)  # order block, then one block of W values per name below
WAREHOUSE_BLOCKS = ("dist", "cost", "load", "stock", "up", "hours", "on_time")


@dataclass(frozen=True)
class RoutingConfig:
    """Reward weights and physical constants of the routing environment."""

    w_cost: float = 0.3
    w_sat: float = 0.5
    w_hours: float = 0.2
    hours_scale: float = 48.0
    invalid_penalty: float = -1.0
    unroutable_penalty: float = -1.0
    handling_hours: float = 2.0
    band_delay_hours: tuple[float, ...] = (0.0, 4.0, 10.0, 20.0)
    cutoff_hour: float = 20.0
    next_shift_hour: float = 6.0
    speed_kmh: float = 60.0
    cost_per_km: float = 0.01
    weather_slowdown: tuple[float, ...] = (1.0, 1.0, 1.2, 1.5, 1.8)
    value_scale: float = 300.0
    stock_scale: float = 10.0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)


def queue_band(assigned: np.ndarray, capacity: np.ndarray, n_bands: int) -> np.ndarray:
    """Queue band of the next order: which fraction of today's capacity is already used."""
    return np.minimum(np.asarray(assigned) * n_bands // np.maximum(capacity, 1), n_bands - 1)


def base_hours_and_cost(spec: EpisodeSpec, cfg: RoutingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per order × warehouse: delivery hours before queueing delay, and shipping cost.

    Hours are handling + wait for the next shift (orders after the cut-off) + travel slowed
    by the day's weather; cost is handling cost + distance cost. Both shape (N, W).
    """
    wait = np.where(spec.hour >= cfg.cutoff_hour, 24.0 - spec.hour + cfg.next_shift_hour, 0.0)
    slow = np.asarray(cfg.weather_slowdown)[spec.weather] if spec.n_orders else np.zeros(0)
    travel = spec.dist_km / cfg.speed_kmh * slow[:, None]
    hours = cfg.handling_hours + wait[:, None] + travel
    cost = spec.network.cost_per_order[None, :] + cfg.cost_per_km * spec.dist_km
    return hours, cost


def reward_matrix(cost: np.ndarray, hours: np.ndarray, promised: np.ndarray,
                  cfg: RoutingConfig, cost_scale: float) -> np.ndarray:
    """Vectorised reward formula; ``promised`` broadcasts against ``hours``."""
    sat = np.where(hours <= promised, 1.0, 0.5)
    return -cfg.w_cost * cost / cost_scale + cfg.w_sat * sat - cfg.w_hours * hours / cfg.hours_scale


class WarehouseRoutingEnv(gym.Env):
    """Gymnasium environment: one order per step, pick the warehouse that fulfils it.

    Args:
        config: Reward weights and constants (``RoutingConfig``).
        spec: A fixed episode to replay on every reset; ``None`` samples a new episode per
            reset from ``config.sampler`` with ``self.np_random``. ``reset(options={"spec":
            s})`` replays ``s`` for that episode only.
        network: Network used by the sampler (defaults to the sampler's fixed network).
    """

    metadata = {"render_modes": []}

    def __init__(self, config: RoutingConfig | None = None, spec: EpisodeSpec | None = None,
                 network: Network | None = None) -> None:
        self.config = config or RoutingConfig()
        self.fixed_episode = spec
        self.network = spec.network if spec is not None else (
            network or sample_network(self.config.sampler))
        w = self.network.n
        self.n_warehouses = w
        self.action_space = spaces.Discrete(w + 1)
        self.obs_dim = ORDER_FEATURES + len(WAREHOUSE_BLOCKS) * w
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.obs_dim,), dtype=np.float32)
        self.max_dist_km = 1500.0
        self.cost_scale = float(self.network.cost_per_order.max()
                                + self.config.cost_per_km * self.max_dist_km)
        self.episode: EpisodeSpec | None = None
        self.t = 0

    # ----------------------------------------------------------------- episode state
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: replay the given spec or sample one with ``self.np_random``."""
        super().reset(seed=seed)
        spec = (options or {}).get("spec") or self.fixed_episode
        if spec is None:
            spec = sample_episode(self.np_random, self.config.sampler, self.network)
        if spec.network.n != self.n_warehouses:
            raise ValueError(f"spec has {spec.network.n} warehouses, env was built for "
                             f"{self.n_warehouses}")
        self.episode = spec
        self.t = 0
        self._base_hours, self._cost = base_hours_and_cost(spec, self.config)
        self.stock = spec.initial_stock.astype(np.int64).copy() + spec.replenishment[0]
        self.assigned = np.zeros(self.n_warehouses, dtype=np.int64)
        self.current_period = int(spec.period[0]) if spec.n_orders else 0
        self.totals = {"reward": 0.0, "cost": 0.0, "on_time": 0, "served": 0, "invalid": 0,
                       "unroutable": 0}
        return self._obs(), self._info()

    def _advance_period(self) -> None:
        """Roll over to the current order's period: restock, empty the queues."""
        spec = self.episode
        target = int(spec.period[self.t])
        while self.current_period < target:
            self.current_period += 1
            self.stock += spec.replenishment[self.current_period]
            self.assigned[:] = 0

    # ----------------------------------------------------------------- order physics
    def delivery_hours(self, w: np.ndarray | int) -> np.ndarray:
        """Hours to deliver the current order from warehouse(s) ``w`` given today's queues."""
        w = np.asarray(w)
        bands = np.asarray(self.config.band_delay_hours)
        band = queue_band(self.assigned[w], self.network.capacity[w], len(bands))
        return self._base_hours[self.t, w] + bands[band]

    def order_cost(self, w: np.ndarray | int) -> np.ndarray:
        """Handling plus distance cost of shipping the current order from ``w``."""
        return self._cost[self.t, w]

    def reward_of(self, cost: float, hours: float, on_time: bool) -> float:
        """The reward formula for one served order (exposed for tests and baselines)."""
        cfg = self.config
        sat = 1.0 if on_time else 0.5
        return float(-cfg.w_cost * cost / self.cost_scale + cfg.w_sat * sat
                     - cfg.w_hours * hours / cfg.hours_scale)

    def immediate_rewards(self) -> np.ndarray:
        """Reward each warehouse would earn for the current order now (NaN where invalid)."""
        w = np.arange(self.n_warehouses)
        r = reward_matrix(self.order_cost(w), self.delivery_hours(w),
                          self.episode.promised_hours[self.t], self.config, self.cost_scale)
        return np.where(self.action_masks()[:-1], r, np.nan)

    def action_masks(self) -> np.ndarray:
        """Valid actions for the current order: up, in stock, under today's capacity.

        The last entry (unroutable) is valid only when no warehouse is.
        """
        spec, i = self.episode, min(self.t, max(self.episode.n_orders - 1, 0))
        if spec.n_orders == 0:
            return np.r_[np.zeros(self.n_warehouses, bool), True]
        ok = (~spec.down[i] & (self.stock[:, spec.sku[i]] >= spec.qty[i])
              & (self.assigned < self.network.capacity))
        return np.r_[ok, not ok.any()]

    # ----------------------------------------------------------------- gym API
    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Route the current order with ``action``; returns the next order's observation."""
        if self.episode is None:
            raise RuntimeError("call reset() before step()")
        if self.t >= self.episode.n_orders:
            raise RuntimeError("episode is over; call reset()")
        a = int(action)
        if not 0 <= a <= self.n_warehouses:
            raise ValueError(f"action {action!r} out of range 0..{self.n_warehouses}")
        self._advance_period()
        mask = self.action_masks()
        event = self._apply(a, bool(mask[a]))
        self.totals["reward"] += event["reward"]
        self.t += 1
        terminated = self.t >= self.episode.n_orders
        if not terminated:
            self._advance_period()
        info = self._info()
        info["event"] = event
        return self._obs(), float(event["reward"]), bool(terminated), False, info

    def _apply(self, a: int, valid: bool) -> dict[str, Any]:
        spec, i = self.episode, self.t
        base = {"order_id": spec.order_ids[i], "action": a, "valid": valid, "cost": 0.0,
                "hours": float("nan"), "on_time": False, "served": False}
        if a == self.n_warehouses:
            self.totals["unroutable"] += 1
            pen = self.config.unroutable_penalty if valid else self.config.invalid_penalty
            self.totals["invalid"] += int(not valid)
            return base | {"reward": float(pen), "unroutable": True}
        if not valid:
            self.totals["invalid"] += 1
            return base | {"reward": float(self.config.invalid_penalty), "unroutable": False}
        hours = float(self.delivery_hours(a))
        cost = float(self.order_cost(a))
        on_time = bool(hours <= spec.promised_hours[i])
        self.stock[a, spec.sku[i]] -= spec.qty[i]
        self.assigned[a] += 1
        self.totals["cost"] += cost
        self.totals["on_time"] += int(on_time)
        self.totals["served"] += 1
        return base | {"reward": self.reward_of(cost, hours, on_time), "cost": cost,
                       "hours": hours, "on_time": on_time, "served": True, "unroutable": False}

    def _obs(self) -> np.ndarray:
        spec, cfg = self.episode, self.config
        if self.t >= spec.n_orders:
            return np.zeros(self.obs_dim, dtype=np.float32)
        i, w = self.t, np.arange(self.n_warehouses)
        weather = np.zeros(len(WEATHER))
        weather[spec.weather[i]] = 1.0
        hours = self.delivery_hours(w)
        order = [spec.value[i] / cfg.value_scale, spec.tier[i] / (N_TIERS - 1),
                 spec.promised_hours[i] / cfg.hours_scale, spec.hour[i] / 24.0, spec.promo[i],
                 spec.qty[i] / cfg.stock_scale]
        per_wh = [
            spec.dist_km[i] / self.max_dist_km,
            self.order_cost(w) / self.cost_scale,
            self.assigned / np.maximum(self.network.capacity, 1),
            self.stock[:, spec.sku[i]] / cfg.stock_scale,
            (~spec.down[i]).astype(float),
            hours / (2 * cfg.hours_scale),
            (hours <= spec.promised_hours[i]).astype(float),
        ]
        obs = np.concatenate([order, weather, *per_wh])
        return np.clip(obs, 0.0, 1.0).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"t": int(self.t), "period": int(self.current_period),
                "action_mask": self.action_masks(), "totals": dict(self.totals)}
