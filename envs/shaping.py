"""Potential-based reward shaping for routing: the bid-price value of what is left.

``Φ(s) = Σ_{w,k} λ[w,k]·stock[w,k] + Σ_w μ[w]·capacity_left[w]`` with the bid prices
``λ`` (stock) and ``μ`` (capacity) of the fluid LP the environment solved for state ``s``
(:mod:`envs.bidprice`), and ``Φ = 0`` at the end of the episode. The shaped reward is
``r + γ·Φ(s') − Φ(s)`` (Ng, Harada & Russell 1999): it leaves the optimal policy of the
γ-discounted problem unchanged. Within a day, shipping one unit of SKU ``k`` from ``w``
lowers ``Φ`` by exactly that order's bid price ``λ[w,k] + μ[w]``, so with ``γ = 1`` the
myopic policy on the shaped reward is the dual-price heuristic, and a learner starting there
only has to learn what the fluid LP gets wrong. Training only: evaluation and the bench pay
the environment's own reward.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def bid_price_potential(env: Any) -> float:
    """``Φ`` of an extended-observation ``WarehouseRoutingEnv`` in its current state.

    Uses the prices the environment solved for the current order (the extended observation
    already triggered the solve); 0 once the episode is over.
    """
    spec = env.episode
    if spec is None or env.t >= spec.n_orders or env._bid is None:
        return 0.0
    bid = env._bid
    p = env.current_period
    end = bid.forecast_for(env).next_replenishment(p)
    backlog = env.backlog if env.config.backlog else 0
    cap_left = np.maximum(env.network.capacity * max(end - p, 1) - env.assigned - backlog, 0)
    return float((bid.stock_price * env.stock).sum() + (bid.cap_price * cap_left).sum())


class BidPriceShaping(gym.Wrapper):
    """Adds ``γ·Φ(s') − Φ(s)`` (the bid-price potential) to every reward.

    Args:
        env: A ``WarehouseRoutingEnv`` with ``extended_obs`` (possibly wrapped, e.g. Monitor).
        gamma: The learner's discount factor (the shaping must use the same one).
        scale: Multiplier of ``Φ`` (1: the full bid-price value).
    """

    def __init__(self, env: gym.Env, gamma: float, scale: float = 1.0) -> None:
        super().__init__(env)
        if not getattr(env.unwrapped.config, "extended_obs", False):
            raise ValueError("bid-price shaping needs the extended observation (a hard "
                             "scenario): the bid prices are solved there")
        self.gamma, self.scale = float(gamma), float(scale)
        self._phi = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset the episode and remember ``Φ`` of its first state."""
        obs, info = self.env.reset(**kwargs)
        self._phi = self.scale * bid_price_potential(self.env.unwrapped)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step and shape the reward with the potential difference."""
        obs, rew, terminated, truncated, info = self.env.step(action)
        phi = 0.0 if terminated else self.scale * bid_price_potential(self.env.unwrapped)
        shaped = float(rew) + self.gamma * phi - self._phi
        self._phi = phi
        return obs, shaped, terminated, truncated, info
