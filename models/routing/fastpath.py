"""Route orders from plain arrays, without a DataFrame or an env per call (the serving path).

``models.routing.rows.route_frame`` is the reference: it builds a one-day episode and steps
an environment per row, which costs ~17 ms per single-order call through pandas. This module
computes the same observations and masks for a whole batch with numpy, using the routing
environment's public pieces only:

* ``envs.warehouse_routing.base_hours_and_cost`` (hours before queueing, shipping cost),
* ``envs.physics.queue_delay`` (the queue delay of the routing physics),
* the observation layout ``envs.observation.ObservationSpec`` (fields assembled by name),
* ``WarehouseRoutingEnv(config, network=...)`` attributes ``cost_scale``, ``max_dist_km``,
  ``obs_dim`` and ``obs_spec`` (read once per loaded model).

The default DQN's Q-network (``SharedHeadQNetwork``: greedy prior + one shared residual MLP)
is evaluated with numpy by :class:`NumpySharedHead` (its weights copied once): for one order
torch's per-op dispatch costs about three times the arithmetic (~270 vs ~80 µs). It is used
only if it matches the torch network on random observations at load (else torch scores).

:func:`check_parity` compares this path with ``route_frame`` on example rows; the serving
layer runs it when a model loads and falls back to ``route_frame`` if they ever disagree
(for example after a change of the observation layout), so a refactor cannot silently
change routing decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.observation import HOURS_FACTOR, ORDER_FIELDS, WAREHOUSE_FIELDS
from envs.physics import queue_delay, reward
from envs.scenarios import EpisodeSpec, Network
from envs.warehouse_routing import (
    N_TIERS,
    RoutingConfig,
    WarehouseRoutingEnv,
    base_hours_and_cost,
)
from oms.contract import WEATHER

# why a warehouse cannot serve an order (first matching reason wins)
REASON_NO_STATE = "no state given for this warehouse"
REASON_DOWN = "warehouse is down"
REASON_STOCK = "not enough stock of the SKU"
REASON_CAPACITY = "at capacity for today"


@dataclass
class OrderBatch:
    """Orders and warehouse state as arrays (N orders, W warehouses in network order).

    Attributes:
        value, tier, promised_hours, hour, weather, lat, lon, promo, qty: Order fields (N,);
            ``tier`` and ``weather`` are indices (``envs.scenarios.TIER_INDEX``/``WEATHER_INDEX``).
        load: Orders already assigned today, (N, W).
        stock: Units of the order's SKU on hand, (N, W).
        up: Warehouse running, (N, W).
        known: Whether the caller gave a state for the warehouse, (N, W).
    """

    value: np.ndarray
    tier: np.ndarray
    promised_hours: np.ndarray
    hour: np.ndarray
    weather: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    promo: np.ndarray
    qty: np.ndarray
    load: np.ndarray
    stock: np.ndarray
    up: np.ndarray
    known: np.ndarray

    @property
    def n(self) -> int:
        """Number of orders."""
        return len(self.value)


@dataclass
class RouteDecision:
    """Routing result for a batch (W = number of warehouses).

    Attributes:
        choice: Chosen warehouse index per order, ``-1`` when unroutable, (N,).
        scores: Policy score per warehouse, NaN where masked, (N, W).
        cost: Expected shipping cost per warehouse, (N, W).
        hours: Expected delivery hours per warehouse (queue delay included), (N, W).
        mask_reason: Index into :data:`REASONS` per order × warehouse, ``-1`` if valid.
        unroutable_reason: Why nothing can serve the order ("" when routable), (N,).
    """

    choice: np.ndarray
    scores: np.ndarray
    cost: np.ndarray
    hours: np.ndarray
    mask_reason: np.ndarray
    unroutable_reason: list[str]


REASONS = (REASON_NO_STATE, REASON_DOWN, REASON_STOCK, REASON_CAPACITY)


class NumpySharedHead:
    """``models.routing.qnet.SharedHeadQNetwork.forward`` in numpy (same formulas, same weights).

    The prior is ``envs.physics.reward`` on the observation's blocks (as
    ``qnet.immediate_reward_prior`` computes it in torch); the residual is the shared MLP on
    ``[order fields, the warehouse's block, the network mean]`` per warehouse.
    """

    def __init__(self, q_net: Any) -> None:
        import torch

        mods = list(q_net.shared)
        self.layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                       for m in mods if isinstance(m, torch.nn.Linear)]
        kinds = [type(m).__name__ for m in mods]
        if kinds != ["Linear", "ReLU"] * (len(self.layers) - 1) + ["Linear"]:
            raise ValueError(f"unexpected residual layers {kinds}")
        self.spec = q_net.spec
        self.unroutable = float(q_net.unroutable.detach().numpy()[0])
        self.weights = q_net.prior["weights"]
        self.penalty = min(self.weights.invalid_penalty, self.weights.unroutable_penalty)

    @classmethod
    def from_router(cls, router: Any) -> NumpySharedHead | None:
        """The numpy head of a DQN router with a shared head, else ``None``."""
        q = getattr(getattr(router, "model_", None), "q_net", None)
        if type(q).__name__ != "SharedHeadQNetwork":
            return None
        try:
            return cls(q)
        except (ValueError, AttributeError, KeyError):
            return None

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """Q-values (N, W + 1) for float32 observations (N, obs_dim)."""
        spec, n = self.spec, obs.shape[0]
        w, k = spec.n_warehouses, spec.order_size
        blocks = spec.warehouse_blocks(obs)  # (N, W, K)
        x = np.concatenate([np.broadcast_to(obs[:, None, :k], (n, w, k)), blocks,
                            np.broadcast_to(blocks.mean(axis=1, keepdims=True), blocks.shape)],
                           axis=2)
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        blk = {name: spec.read(obs, name) for name in (*WAREHOUSE_FIELDS, "qty")}
        prior = reward(blk["cost"], blk["hours"], blk["on_time"], self.weights, cost_scale=1.0,
                       hours_scale=1.0 / HOURS_FACTOR)
        valid = ((blk["up"] > 0.5) & (blk["stock"] >= blk["qty"] - 1e-6)
                 & (blk["load"] < 1 - 1e-6))
        prior = np.where(valid, prior, self.penalty)
        res = np.concatenate([x[..., 0], np.full((n, 1), self.unroutable)], axis=1)
        return (res + np.concatenate([prior, np.full((n, 1), self.penalty)], axis=1)
                ).astype(float)

    def matches(self, router: Any, obs_dim: int, n: int = 256, seed: int = 0) -> bool:
        """Whether it gives the torch network's Q-values on random observations."""
        obs = np.random.default_rng(seed).random((n, obs_dim)).astype(np.float32)
        ref = np.asarray(router.scores(obs), float)
        got = self.scores(obs)
        return got.shape == ref.shape and bool(np.allclose(got, ref, atol=1e-4))


class FastRouter:
    """Vectorised observations, masks and scores for a loaded router.

    Args:
        router: Fitted router with ``scores(obs) -> (N, W+1)``.
        network: Network the router was trained on.
        config: Environment configuration it was trained with.
    """

    def __init__(self, router: Any, network: Network, config: RoutingConfig) -> None:
        self.router, self.network, self.config = router, network, config
        env = WarehouseRoutingEnv(config, network=network)
        self.cost_scale = float(env.cost_scale)
        self.max_dist_km = float(env.max_dist_km)
        self.obs_dim = int(env.obs_dim)
        self.obs_spec = env.obs_spec
        self.n_warehouses = network.n
        self.scorer = "torch"
        self._scores = router.scores if router is not None else None
        head = NumpySharedHead.from_router(router)
        if head is not None and head.matches(router, self.obs_dim):
            self._scores, self.scorer = head.scores, "numpy"

    def _spec(self, b: OrderBatch) -> EpisodeSpec:
        n, w = b.n, self.network.n
        return EpisodeSpec(
            network=self.network, skus=["_"], initial_stock=np.zeros((w, 1), np.int64),
            replenishment=np.zeros((1, w, 1), np.int64), period=np.zeros(n, np.int64),
            hour=b.hour, value=b.value, tier=b.tier, lat=b.lat, lon=b.lon,
            sku=np.zeros(n, np.int64), qty=b.qty, promised_hours=b.promised_hours,
            weather=b.weather, promo=b.promo, down=~b.up, order_ids=[""] * n if n else [],
        )

    def physics(self, b: OrderBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distances (km), delivery hours with queue delay and cost, each (N, W)."""
        spec = self._spec(b)
        base_hours, cost = base_hours_and_cost(spec, self.config)
        delay = queue_delay(b.load, self.network.capacity[None, :], self.config)
        return spec.dist_km, base_hours + delay, cost

    def observations(self, b: OrderBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observations (N, obs_dim) float32, hours (N, W) and cost (N, W)."""
        cfg, cap = self.config, np.maximum(self.network.capacity, 1)[None, :]
        dist, hours, cost = self.physics(b)
        weather = np.zeros((b.n, len(WEATHER)))
        weather[np.arange(b.n), b.weather] = 1.0
        parts = {
            "value": b.value / cfg.value_scale, "tier": b.tier / (N_TIERS - 1),
            "promised_hours": b.promised_hours / cfg.hours_scale, "hour": b.hour / 24.0,
            "promo": b.promo, "qty": b.qty / cfg.stock_scale, "weather": weather,
            "dist": dist / self.max_dist_km, "cost": cost / self.cost_scale, "load": b.load / cap,
            "stock": b.stock / cfg.stock_scale, "up": b.up.astype(float),
            "hours": hours / (HOURS_FACTOR * cfg.hours_scale),
            "on_time": (hours <= b.promised_hours[:, None]).astype(float),
        }
        names = [n for n, _ in ORDER_FIELDS] + list(WAREHOUSE_FIELDS)
        if [n for n, _ in self.obs_spec.fields] != names:
            raise ValueError("observation layout changed; use route_frame")
        if b.n:
            obs = np.concatenate([np.asarray(parts[n], float).reshape(b.n, -1) for n in names],
                                 axis=1)
        else:
            obs = np.zeros((0, self.obs_dim))
        if obs.shape[1] != self.obs_dim:
            raise ValueError("observation layout changed; use route_frame")
        return np.clip(obs, 0.0, 1.0).astype(np.float32), hours, cost

    def masks(self, b: OrderBatch) -> np.ndarray:
        """Reason index per order × warehouse (``-1`` where the warehouse can serve)."""
        cap = self.network.capacity[None, :]
        checks = (~b.known, ~b.up, b.stock < b.qty[:, None], b.load >= cap)
        reason = np.full(b.load.shape, -1, np.int64)
        for k in range(len(checks) - 1, -1, -1):  # the first failing check wins
            reason[checks[k]] = k
        return reason

    def route(self, b: OrderBatch) -> RouteDecision:
        """Score every order and pick the best valid warehouse (never an invalid one)."""
        obs, hours, cost = self.observations(b)
        reason = self.masks(b)
        valid = reason < 0
        w = self.n_warehouses
        scores = (np.asarray(self._scores(obs), float)[:, :w] if b.n
                  else np.zeros((0, w)))
        masked = np.where(valid, scores, -np.inf)
        routable = valid.any(axis=1)
        choice = np.where(routable, masked.argmax(axis=1) if b.n else 0, -1)
        return RouteDecision(choice, np.where(valid, scores, np.nan), cost, hours, reason,
                             [unroutable_reason(reason[i]) if not routable[i] else ""
                              for i in range(b.n)])

    def nearest_with_stock(self, b: OrderBatch) -> RouteDecision:
        """The degraded fallback: nearest valid warehouse; scores are minus the distance."""
        dist, hours, cost = self.physics(b)
        reason = self.masks(b)
        valid = reason < 0
        routable = valid.any(axis=1)
        choice = np.where(routable, np.where(valid, dist, np.inf).argmin(axis=1), -1)
        return RouteDecision(choice, np.where(valid, -dist, np.nan), cost, hours, reason,
                             [unroutable_reason(reason[i]) if not routable[i] else ""
                              for i in range(b.n)])


def unroutable_reason(reason_row: np.ndarray) -> str:
    """Why no warehouse can serve an order, from its per-warehouse reason indices."""
    present = set(int(r) for r in reason_row)
    if present <= {0}:
        return "no warehouse state given"
    if present <= {0, 1}:
        return "every warehouse is down"
    if 3 not in present:
        return "no warehouse that is up has the SKU in stock"
    if 2 not in present:
        return "every warehouse that is up and has stock is at capacity"
    return "every warehouse that is up is out of stock or at capacity"


def check_parity(fast: FastRouter, n: int = 64, seed: int = 0) -> bool:
    """Whether the fast path picks what ``route_frame`` picks, with the same scores."""
    from envs.scenarios import TIER_INDEX, WEATHER_INDEX
    from models.routing.rows import example_rows, route_frame

    df = example_rows(fast.network, n=n, random_state=seed)
    ids = fast.network.warehouse_ids
    ref = route_frame(fast.router, fast.network, fast.config, df)

    def col(prefix: str) -> np.ndarray:
        return df[[f"{prefix}{w}" for w in ids]].to_numpy(float)

    batch = OrderBatch(
        value=df["order_value"].to_numpy(float),
        tier=df["customer_tier"].map(TIER_INDEX).to_numpy(np.int64),
        promised_hours=df["promised_hours"].to_numpy(float),
        hour=df["hour_of_day"].to_numpy(float),
        weather=df["weather"].map(WEATHER_INDEX).to_numpy(np.int64),
        lat=df["customer_lat"].to_numpy(float), lon=df["customer_lon"].to_numpy(float),
        promo=df["promo_intensity"].to_numpy(float), qty=df["quantity"].to_numpy(np.int64),
        load=col("load__").astype(np.int64), stock=col("stock__").astype(np.int64),
        up=col("up__") > 0, known=np.ones((n, len(ids)), bool))
    got = fast.route(batch)
    names = np.array([*ids, "unroutable"], dtype=object)[np.where(got.choice < 0, len(ids),
                                                                    got.choice)]
    ref_scores = ref[[f"score__{w}" for w in ids]].to_numpy(float)
    return bool((names == ref["warehouse_id"].to_numpy(object)).all()
                and np.allclose(got.scores, ref_scores, equal_nan=True, atol=1e-5))
