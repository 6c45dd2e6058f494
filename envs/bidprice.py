"""Bid prices of routing: shadow prices of stock and capacity from the fluid LP.

At a moment of an episode, the fluid LP of the scenario's *expected* remaining demand until
the next stock arrival (:class:`envs.demand.DemandForecast`; demand classes = home region ×
tier × SKU) against the stock on hand and the capacity left until then:

    max  Σ r[c,w]·x[c,w] + penalty·u[c]
    s.t. Σ_w x[c,w] + u[c] = d[c]                (each class served or lost)
         Σ_{c of SKU s} x[c,w] ≤ stock[w,s]      (dual λ[w,s] ≥ 0)
         Σ_c x[c,w] ≤ capacity left[w]           (dual μ[w] ≥ 0)
         x, u ≥ 0, x[·,w] = 0 for a warehouse down now

with ``r[c,w]`` the physics reward of serving a customer at region ``c``'s centre from
``w`` (mean queue delay included). Serving an order of SKU ``s`` from ``w`` uses
``λ[w,s] + μ[w]`` of future value: the bid price. The environment shows it in the extended
observation (``price``); the dual-price policy (``models.routing.dualprice``) charges it.
Solved with HiGHS (``scipy.optimize.linprog``; duals from ``res.ineqlin.marginals``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from envs.demand import DemandForecast
from envs.physics import reward, shipping_cost


class BidPrices:
    """Bid prices of one environment, re-solved when the day or the running set changes.

    Args:
        env: A ``WarehouseRoutingEnv`` (read only: episode, stock, queues, config).
    """

    def __init__(self, env: Any) -> None:
        self.forecast = DemandForecast(env.config.sampler)
        self.rewards = class_rewards(env.network, env.config, env.cost_scale)
        self.solves = 0
        self._key: tuple[Any, ...] | None = None
        self.stock_price = np.zeros(env.stock.shape) if hasattr(env, "stock") else None
        self.cap_price = np.zeros(env.network.n)

    def reset(self) -> None:
        """Forget the last solution (a new episode)."""
        self._key = None

    def current(self, env: Any) -> np.ndarray:
        """Bid price of the env's current order at each warehouse, shape (W,)."""
        spec, i = env.episode, env.t
        key = (env.current_period, tuple(spec.down[i]))
        if key != self._key:
            self.stock_price, self.cap_price = self.solve(env)
            self._key = key
            self.solves += 1
        return self.stock_price[:, spec.sku[i]] + self.cap_price

    def forecast_for(self, env: Any) -> Any:
        """The episode's own forecast (a replayed stream's) or else the scenario's."""
        own = env.episode.forecast if env.episode is not None else None
        return self.forecast if own is None else own

    def solve(self, env: Any) -> tuple[np.ndarray, np.ndarray]:
        """Stock prices (W, S) and capacity prices (W,) from the fluid LP now.

        An episode the forecast does not describe (another network or SKU list, e.g. a
        replayed stream without its own ``forecast``) gets zero prices.
        """
        spec, i, fc = env.episode, env.t, self.forecast_for(env)
        n_w, n_s = env.stock.shape
        if fc.rates.shape[1] != n_w or fc.rates.shape[3] != n_s:
            return np.zeros((n_w, n_s)), np.zeros(n_w)
        p = env.current_period
        end = fc.next_replenishment(p)
        demand = fc.remaining(p, float(spec.hour[i]), end)  # (W regions, T, S)
        cap = env.network.capacity
        backlog = env.backlog if env.config.backlog else 0
        cap_left = np.maximum(cap * max(end - p, 1) - env.assigned - backlog, 0).astype(float)
        return solve_prices(self.rewards, demand, env.stock.astype(float), cap_left,
                            ~spec.down[i], env.config.unroutable_penalty)


def class_rewards(net: Any, cfg: Any, cost_scale: float) -> np.ndarray:
    """Reward of serving a (region, tier) customer from each warehouse, shape (W, T, W).

    A region's customers are placed at its warehouse; delivery hours include the mean
    queue-band delay and no weather or cut-off wait.
    """
    dist = net.distances(net.lat, net.lon)  # (region, W)
    hours = cfg.handling_hours + dist / cfg.speed_kmh + float(np.mean(cfg.band_delay_hours))
    cost = shipping_cost(net.cost_per_order[None, :], dist, cfg)
    promise = np.asarray(cfg.sampler.promise_hours, dtype=float)  # (T,)
    on_time = hours[:, None, :] <= promise[None, :, None]
    return np.asarray(reward(cost[:, None, :], hours[:, None, :], on_time, cfg,
                             cost_scale), dtype=float)


def solve_prices(rew: np.ndarray, demand: np.ndarray, stock: np.ndarray, cap_left: np.ndarray,
                 up: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve the fluid LP; return the stock duals (W, S) and capacity duals (W,), ≥ 0.

    Args:
        rew: Reward per (region, tier, warehouse), (R, T, W).
        demand: Expected demand per (region, tier, SKU), (R, T, S).
        stock: Units on hand, (W, S).
        cap_left: Orders each warehouse can still ship before the horizon, (W,).
        up: Warehouses running now, (W,).
        penalty: Reward of an order that is lost.
    """
    n_r, n_t, n_w = rew.shape
    n_s = demand.shape[2]
    nc = n_r * n_t * n_s
    # x[c, w] flattened as c * W + w, then u[c]
    cc, ww = np.meshgrid(np.arange(nc), np.arange(n_w), indexing="ij")
    cc, ww = cc.ravel(), ww.ravel()
    r_idx, t_idx, s_idx = np.unravel_index(cc, (n_r, n_t, n_s))
    nx = nc * n_w
    obj = -np.r_[rew[r_idx, t_idx, ww], np.full(nc, penalty)]
    a_eq = sp.csr_matrix((np.ones(nx + nc), (np.r_[cc, np.arange(nc)], np.arange(nx + nc))),
                         shape=(nc, nx + nc))
    stock_row = ww * n_s + s_idx
    cap_row = n_w * n_s + ww
    a_ub = sp.csr_matrix((np.ones(2 * nx), (np.r_[stock_row, cap_row],
                                            np.r_[np.arange(nx), np.arange(nx)])),
                         shape=(n_w * n_s + n_w, nx + nc))
    b_ub = np.r_[np.maximum(stock, 0).ravel(), cap_left]
    upper = np.r_[np.where(up[ww], np.inf, 0.0), np.full(nc, np.inf)]
    res = linprog(obj, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=demand.ravel(),
                  bounds=np.c_[np.zeros(nx + nc), upper], method="highs")
    if res.status != 0:
        raise RuntimeError(f"dual-price LP failed: {res.message}")
    duals = -np.asarray(res.ineqlin.marginals)  # minimisation: marginals ≤ 0 for ≤ rows
    return np.maximum(duals[: n_w * n_s].reshape(n_w, n_s), 0), np.maximum(duals[n_w * n_s:], 0)
