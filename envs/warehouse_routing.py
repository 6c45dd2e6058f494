"""``oms/WarehouseRouting-v0``: route each arriving order to a warehouse.

The physics (cost, delivery hours, queue delay, reward) live in :mod:`envs.physics`; the
observation layout in :mod:`envs.observation`. The environment's own documentation, in
gymnasium's sections, is the docstring of :class:`WarehouseRoutingEnv`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.bidprice import BidPrices
from envs.demand import DemandForecast
from envs.observation import HOURS_FACTOR, PRICE_SCALE, ObservationSpec
from envs.physics import (
    Physics,
    RewardWeights,
    delivery_hours,
    queue_delay,
    reward,
    shipping_cost,
)
from envs.scenarios import (
    EpisodeSpec,
    Network,
    SamplerConfig,
    get_scenario,
    sample_episode,
    sample_network,
)
from oms.contract import WEATHER

N_TIERS = 4


@dataclass(frozen=True)
class RoutingConfig(RewardWeights, Physics):
    """Reward weights, physics and observation scales of the routing environment.

    Inherits every field of :class:`~envs.physics.Physics` and
    :class:`~envs.physics.RewardWeights`.

    Attributes:
        value_scale: Order value normalisation in the observation.
        stock_scale: Stock and quantity normalisation in the observation.
        max_dist_km: Distance normalisation in the observation (and of ``cost_scale``).
        sampler: Synthetic episode sampler.
        backlog: Orders beyond a warehouse's daily capacity join its backlog (they wait
            +24 h per day and use the next day's capacity) instead of being masked.
        max_backlog_days: With ``backlog``, how many days of capacity a queue may hold
            beyond today's before the warehouse is masked.
        extended_obs: Observation with the forecast-aware fields
            (:class:`envs.observation.ObservationSpec` ``extended``).
        scenario: Name of the scenario the config was made for (informational).
    """

    value_scale: float = 300.0
    stock_scale: float = 10.0
    max_dist_km: float = 1500.0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    backlog: bool = False
    max_backlog_days: int = 1
    extended_obs: bool = False
    scenario: str = "easy"


def scenario_config(name: str, **overrides: object) -> RoutingConfig:
    """The environment configuration of a named scenario (``envs.scenarios.SCENARIOS``)."""
    sc = get_scenario(name)
    return RoutingConfig(**({"sampler": sc.sampler, "backlog": sc.backlog,
                             "extended_obs": sc.extended_obs, "scenario": sc.name}
                            | overrides))


def base_hours_and_cost(spec: EpisodeSpec, cfg: RoutingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per order × warehouse of an episode: delivery hours before queueing, and cost (N, W)."""
    hours = delivery_hours(spec.dist_km, cfg, spec.hour, spec.weather)
    cost = shipping_cost(spec.network.cost_per_order[None, :], spec.dist_km, cfg)
    return np.asarray(hours, dtype=float), np.asarray(cost, dtype=float)


def cost_scale(network: Network, cfg: RoutingConfig) -> float:
    """Cost normalisation: the dearest order the network can ship (within ``max_dist_km``)."""
    return float(shipping_cost(network.cost_per_order.max(), cfg.max_dist_km, cfg))


class WarehouseRoutingEnv(gym.Env):
    """Route each arriving order to the warehouse that fulfils it, one order per step.

    Dynamics that make the future matter: each warehouse ships at most ``capacity`` orders
    a day; the more it already has in today's queue, the longer the next order waits
    (``band_delay_hours`` per quarter of capacity used); stock depletes and is replenished
    at the start of each day on a schedule; promotion waves and outages come from the
    episode spec (sampled or replayed).

    ## Action Space

    ``Discrete(W + 1)``: ``0..W-1`` ship from that warehouse; ``W`` declares the order
    unroutable (valid only when no warehouse can serve it). ``action_masks()`` gives the
    valid actions: a warehouse is valid when it is up, has the SKU's quantity in stock and
    is under today's capacity (with ``backlog``: under today's capacity plus
    ``max_backlog_days`` days of it, less the backlog carried in; an order beyond today's
    capacity waits 24 h per full day of queue ahead of it).

    ## Observation Space

    ``Box(0, 1, (11 + 7·W,), float32)``, laid out by :class:`envs.observation.ObservationSpec`
    (the order's value, tier, promise, hour, promotion, quantity and weather, then per
    warehouse: distance, cost, load, stock, up, delivery hours and on-time flag). With
    ``extended_obs`` (the hard scenarios) ``(13 + 13·W,)``: plus day, days to the next stock
    arrival and, per warehouse, open, backlog, stock cover against the scenario's expected
    demand until that arrival (all tiers and gold/platinum), today's expected orders
    against capacity left (:class:`envs.demand.DemandForecast`) and the bid price of the
    order (:mod:`envs.bidprice`, re-solved each day and when an outage starts or ends).

    ## Rewards

    Per served order :func:`envs.physics.reward`:
    ``-w_cost·cost/cost_scale + w_sat·satisfaction - w_hours·hours/hours_scale`` with
    satisfaction 1 on time and ``late_satisfaction`` (0.5) when late. A masked (invalid)
    action earns ``invalid_penalty`` and the order is lost; declaring unroutable when
    nothing can serve earns ``unroutable_penalty``. Rewards are Python floats.

    ## Starting State

    ``reset`` replays ``options["spec"]`` or the fixed ``spec`` if given, else samples an
    episode (network fixed at construction; orders, stock, outages) with
    ``self.np_random``. A replayed spec brings its own network (same warehouses; its
    capacities) and may carry its own expected-demand model (``spec.forecast``, used by the
    extended observation and the bid prices instead of the sampler's). Stock starts at the
    spec's initial stock plus day 0's arrivals; queues are empty.
    :class:`envs.replay_pool.ReplayPoolEnv` replays a pool of such windows.

    ## Episode End

    Terminates after the last order of the episode; never truncates.

    ## Arguments

    Args:
        config: Reward weights, physics and scales (``RoutingConfig``).
        spec: A fixed episode to replay on every reset; ``None`` samples a new episode per
            reset from ``config.sampler`` with ``self.np_random``. ``reset(options={"spec":
            s})`` replays ``s`` for that episode only.
        network: Network used by the sampler (defaults to the sampler's fixed network).

    ## Version History

    * v0: initial version (queues, stock, outages, masks; physics and observation layout
      in their own modules); named scenarios (``scenario_config``) with backlog carry-over
      and the extended observation, both off by default (``easy`` is unchanged).
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
        self.obs_spec = ObservationSpec(w, extended=self.config.extended_obs)
        self.forecast = DemandForecast(self.config.sampler) if self.config.extended_obs else None
        self.action_space = spaces.Discrete(w + 1)
        self.obs_dim = self.obs_spec.size
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.obs_dim,), dtype=np.float32)
        self.max_dist_km = self.config.max_dist_km
        self.cost_scale = cost_scale(self.network, self.config)
        self.episode: EpisodeSpec | None = None
        self.t = 0
        self._bid = BidPrices(self) if self.config.extended_obs else None

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
        if spec.network is not self.network:  # a replayed window brings its own capacities
            self.network = spec.network
            self.cost_scale = cost_scale(self.network, self.config)
        self.episode = spec
        self.t = 0
        self._base_hours, self._cost = base_hours_and_cost(spec, self.config)
        self.stock = spec.initial_stock.astype(np.int64).copy() + spec.replenishment[0]
        self.assigned = np.zeros(self.n_warehouses, dtype=np.int64)
        self.backlog = np.zeros(self.n_warehouses, dtype=np.int64)
        if self._bid is not None:
            self._bid.reset()
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
            if self.config.backlog:  # what today could not ship waits for tomorrow
                self.backlog = np.maximum(0, self.backlog + self.assigned
                                          - self.network.capacity)
            self.assigned[:] = 0

    # ----------------------------------------------------------------- order physics
    def delivery_hours(self, w: np.ndarray | int) -> np.ndarray:
        """Hours to deliver the current order from warehouse(s) ``w`` given today's queues."""
        w = np.asarray(w)
        cap = self.network.capacity[w]
        if not self.config.backlog:
            delay = queue_delay(self.assigned[w], cap, self.config)
            return self._base_hours[self.t, w] + delay
        # place in the queue counts the backlog; each full day of capacity ahead waits 24 h
        pos = self.backlog[w] + self.assigned[w]
        cap1 = np.maximum(cap, 1)
        delay = 24.0 * (pos // cap1) + queue_delay(pos % cap1, cap, self.config)
        return self._base_hours[self.t, w] + delay

    def order_cost(self, w: np.ndarray | int) -> np.ndarray:
        """Handling plus distance cost of shipping the current order from ``w``."""
        return self._cost[self.t, w]

    def reward_of(self, cost: float, hours: float, on_time: bool) -> float:
        """The reward of one served order (exposed for tests and baselines)."""
        return float(reward(cost, hours, on_time, self.config, self.cost_scale))

    def immediate_rewards(self) -> np.ndarray:
        """Reward each warehouse would earn for the current order now (NaN where invalid)."""
        w = np.arange(self.n_warehouses)
        hours = self.delivery_hours(w)
        r = reward(self.order_cost(w), hours, hours <= self.episode.promised_hours[self.t],
                   self.config, self.cost_scale)
        return np.where(self.action_masks()[:-1], r, np.nan)

    def action_masks(self) -> np.ndarray:
        """Valid actions for the current order: up, in stock, under today's capacity.

        The last entry (unroutable) is valid only when no warehouse is.
        """
        spec, i = self.episode, min(self.t, max(self.episode.n_orders - 1, 0))
        mask = np.zeros(self.n_warehouses + 1, dtype=bool)
        if spec.n_orders == 0:
            mask[-1] = True
            return mask
        room = self.network.capacity
        if self.config.backlog:
            room = room * (1 + self.config.max_backlog_days) - self.backlog
        ok = (~spec.down[i] & (self.stock[:, spec.sku[i]] >= spec.qty[i])
              & (self.assigned < room))
        mask[:-1] = ok
        mask[-1] = not ok.any()
        return mask

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
        hours = self.delivery_hours(w)
        parts = {
            "value": spec.value[i] / cfg.value_scale,
            "tier": spec.tier[i] / (N_TIERS - 1),
            "promised_hours": spec.promised_hours[i] / cfg.hours_scale,
            "hour": spec.hour[i] / 24.0,
            "promo": spec.promo[i],
            "qty": spec.qty[i] / cfg.stock_scale,
            "weather": np.eye(len(WEATHER))[spec.weather[i]],
            "dist": spec.dist_km[i] / self.max_dist_km,
            "cost": self.order_cost(w) / self.cost_scale,
            "load": self.assigned / np.maximum(self.network.capacity, 1),
            "stock": self.stock[:, spec.sku[i]] / cfg.stock_scale,
            "up": (~spec.down[i]).astype(float),
            "hours": hours / (HOURS_FACTOR * cfg.hours_scale),
            "on_time": (hours <= spec.promised_hours[i]).astype(float),
        }
        if self.obs_spec.extended:
            parts |= self._extended_parts()
        return self.obs_spec.assemble(parts)

    def _extended_parts(self) -> dict[str, Any]:
        """The forecast-aware observation fields (see :mod:`envs.observation`)."""
        spec, i = self.episode, self.t
        fc = self.forecast if spec.forecast is None else spec.forecast
        p, cap = int(spec.period[i]), np.maximum(self.network.capacity, 1)
        nxt = fc.next_replenishment(p)
        cycle = max(int(fc.cycle), 1)
        future = fc.remaining(p, float(spec.hour[i]))[:, :, spec.sku[i]]  # (W regions, T)
        stock = self.stock[:, spec.sku[i]]
        today = fc.remaining(p, float(spec.hour[i]), end=p + 1).sum(axis=(1, 2))
        left = np.maximum(cap - self.assigned - self.backlog, 1)
        return {
            "day": p / max(spec.n_periods - 1, 1), "to_repl": (nxt - p) / cycle,
            "open": self.action_masks()[:-1].astype(float), "backlog": self.backlog / cap,
            "cover": stock / (future.sum(axis=1) + 1.0) / 2.0,
            "hi_cover": stock / (future[:, 2:].sum(axis=1) + 1.0) / 4.0,
            "today": today / left / 2.0,
            "price": self._bid.current(self) / PRICE_SCALE,
        }

    def _info(self) -> dict[str, Any]:
        return {"t": int(self.t), "period": int(self.current_period),
                "action_mask": self.action_masks(), "totals": dict(self.totals)}
