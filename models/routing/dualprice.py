"""Dual-price (bid-price) routing: charge each assignment the shadow prices of what it uses.

At the start of each day (and whenever the set of running warehouses changes) the policy
solves the fluid LP of the scenario's expected remaining demand until the next stock
arrival against the stock on hand and the capacity left (:mod:`envs.bidprice`), then sends
each order to the valid warehouse that maximises its immediate reward minus the bid price
``λ[w, sku] + μ[w]``. With zero prices it is myopic greedy. It never sees the episode's
actual future orders (Talluri & van Ryzin's bid-price control; Acimovic & Graves 2015 for
fulfilment).
"""

from __future__ import annotations

import numpy as np

from envs.bidprice import BidPrices, solve_prices
from envs.warehouse_routing import WarehouseRoutingEnv

__all__ = ["DualPrice", "solve_prices"]


class DualPrice:
    """Bid-price routing policy (see the module docstring).

    Args:
        name: Policy name in results.
    """

    def __init__(self, name: str = "dual-price") -> None:
        self.name = name
        self._prices: BidPrices | None = None

    @property
    def solves(self) -> int:
        """LP solves so far."""
        return self._prices.solves if self._prices else 0

    def begin_episode(self, env: WarehouseRoutingEnv) -> None:
        """Forget the last prices; the first order of the episode triggers a solve."""
        if self._prices is None or self._prices.rewards.shape[0] != env.network.n:
            self._prices = BidPrices(env)
        self._prices.reset()

    def act(self, env: WarehouseRoutingEnv, obs: np.ndarray) -> int:
        """Best immediate reward net of the bid prices, or unroutable."""
        r = env.immediate_rewards()
        if not np.isfinite(r).any():
            return env.n_warehouses
        if self._prices is None:
            self.begin_episode(env)
        score = r - self._prices.current(env)
        return int(np.nanargmax(np.where(np.isfinite(r), score, np.nan)))
