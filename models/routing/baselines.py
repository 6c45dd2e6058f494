"""Baseline routing policies and the evaluation loop shared with the learned agents.

Every policy sees the same seeded episodes. A policy is any object with ``name`` and
``act(env, obs) -> int``; an optional ``begin_episode(env)`` is called after each reset
(the clairvoyant policy uses it to solve the episode in hindsight).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import pandas as pd

from envs.warehouse_routing import WarehouseRoutingEnv
from models.routing.mincostflow import hindsight_plan


class Policy(Protocol):
    """What :func:`evaluate` needs from a policy."""

    name: str

    def act(self, env: WarehouseRoutingEnv, obs: np.ndarray) -> int:
        """The action for the env's current order."""
        ...


def _valid(env: WarehouseRoutingEnv) -> np.ndarray:
    return np.flatnonzero(env.action_masks()[:-1])


class RandomValid:
    """Uniformly random among the valid warehouses (its own seeded generator)."""

    name = "random-valid"

    def __init__(self, random_state: int = 0) -> None:
        self.rng = np.random.default_rng(random_state)

    def act(self, env: WarehouseRoutingEnv, obs: np.ndarray) -> int:
        """A random valid warehouse, or unroutable when none is valid."""
        ok = _valid(env)
        return int(self.rng.choice(ok)) if ok.size else env.n_warehouses


class NearestWithStock:
    """The nearest warehouse that is up, has the SKU and has capacity today."""

    name = "nearest-with-stock"

    def act(self, env: WarehouseRoutingEnv, obs: np.ndarray) -> int:
        """Nearest valid warehouse, or unroutable when none is valid."""
        ok = _valid(env)
        if not ok.size:
            return env.n_warehouses
        return int(ok[np.argmin(env.episode.dist_km[env.t, ok])])


class MyopicGreedy:
    """The valid warehouse with the best immediate reward (queues, promise and cost now)."""

    name = "myopic-greedy"

    def act(self, env: WarehouseRoutingEnv, obs: np.ndarray) -> int:
        """Best immediate reward among valid warehouses, or unroutable."""
        r = env.immediate_rewards()
        return int(np.nanargmax(r)) if np.isfinite(r).any() else env.n_warehouses


class Clairvoyant:
    """Replays the hindsight-optimal plan of each episode (knows the future).

    Attributes:
        bounds: The upper bound of every episode seen, in order.
    """

    name = "clairvoyant-plan"

    def __init__(self, time_limit: float = 10.0) -> None:
        self.time_limit = time_limit
        self.bounds: list[float] = []
        self._plan = np.zeros(0, dtype=np.int64)

    def begin_episode(self, env: WarehouseRoutingEnv) -> None:
        """Solve the whole episode in hindsight."""
        res = hindsight_plan(env.episode, env.config, env.cost_scale, self.time_limit)
        self._plan = res.actions
        self.bounds.append(res.bound)

    def act(self, env: WarehouseRoutingEnv, obs: np.ndarray) -> int:
        """The planned warehouse for the current order.

        The plan may leave an order unserved to save capacity for later ones; the
        environment only allows "unroutable" when nothing can serve, so such an order
        goes to the best immediate choice instead.
        """
        a = int(self._plan[env.t])
        if env.action_masks()[a]:
            return a
        return MyopicGreedy().act(env, obs)


def run_episode(env: WarehouseRoutingEnv, policy: Any, seed: int) -> dict[str, Any]:
    """Play one seeded episode and summarise it."""
    obs, _ = env.reset(seed=seed)
    if hasattr(policy, "begin_episode"):
        policy.begin_episode(env)
    info: dict[str, Any] = {"totals": env.totals}
    done = env.episode.n_orders == 0
    while not done:
        obs, _, done, truncated, info = env.step(policy.act(env, obs))
        done = done or truncated
    tot, n = info["totals"], max(env.episode.n_orders, 1)
    return {"policy": policy.name, "seed": seed, "orders": env.episode.n_orders,
            "reward": tot["reward"], "cost_per_order": tot["cost"] / max(tot["served"], 1),
            "on_time_rate": tot["on_time"] / n, "invalid_rate": tot["invalid"] / n,
            "unroutable_rate": tot["unroutable"] / n}


def evaluate(env: WarehouseRoutingEnv, policy: Any, seeds: Iterable[int]) -> pd.DataFrame:
    """Per-episode metrics of ``policy`` on the given seeds (same episodes for every policy)."""
    return pd.DataFrame([run_episode(env, policy, int(s)) for s in seeds])


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean metrics per policy (rows in order of first appearance)."""
    order = list(dict.fromkeys(results["policy"]))
    cols = ["reward", "cost_per_order", "on_time_rate", "invalid_rate", "unroutable_rate"]
    return results.groupby("policy")[cols].mean().loc[order].reset_index()
