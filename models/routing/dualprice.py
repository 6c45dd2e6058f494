"""Dual-price (bid-price) routing: charge each assignment the shadow prices of what it uses.

At the start of each day (and whenever the set of running warehouses changes) the policy
solves the fluid LP of the scenario's *expected* remaining demand until the next stock
arrival (:class:`envs.demand.DemandForecast`; demand classes = home region × tier × SKU)
against the stock on hand and the capacity left until then:

    max  Σ r[c,w]·x[c,w] + penalty·u[c]
    s.t. Σ_w x[c,w] + u[c] = d[c]                (each class served or lost)
         Σ_{c of SKU s} x[c,w] ≤ stock[w,s]      (dual λ[w,s] ≥ 0)
         Σ_c x[c,w] ≤ capacity left[w]           (dual μ[w] ≥ 0)
         x, u ≥ 0, x[·,w] = 0 for a warehouse down now

with ``r[c,w]`` the physics reward of serving a customer at region ``c``'s centre from
``w`` (mean queue delay included). Each order then goes to the valid warehouse that
maximises its immediate reward minus ``λ[w, sku] + μ[w]`` (HiGHS duals:
``res.ineqlin.marginals``). With zero prices it is myopic greedy. It never sees the
episode's actual future orders (Talluri & van Ryzin's bid-price control; Acimovic &
Graves 2015 for fulfilment).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from envs.demand import DemandForecast
from envs.physics import reward, shipping_cost
from envs.warehouse_routing import WarehouseRoutingEnv


class DualPrice:
    """Bid-price routing policy (see the module docstring).

    Args:
        name: Policy name in results.
    """

    def __init__(self, name: str = "dual-price") -> None:
        self.name = name
        self.solves = 0
        self._key: tuple[Any, ...] | None = None

    def begin_episode(self, env: WarehouseRoutingEnv) -> None:
        """Forget the last prices; the first order of the episode triggers a solve."""
        self._key = None
        self._forecast = DemandForecast(env.config.sampler)
        self._class_rewards = class_rewards(env)

    def act(self, env: WarehouseRoutingEnv, obs: np.ndarray) -> int:
        """Best immediate reward net of the stock and capacity prices, or unroutable."""
        r = env.immediate_rewards()
        if not np.isfinite(r).any():
            return env.n_warehouses
        if not hasattr(self, "_forecast"):
            self.begin_episode(env)
        spec, i = env.episode, env.t
        key = (env.current_period, tuple(spec.down[i]))
        if key != self._key:
            self._stock_price, self._cap_price = self.prices(env)
            self._key = key
            self.solves += 1
        score = r - self._stock_price[:, spec.sku[i]] - self._cap_price
        return int(np.nanargmax(np.where(np.isfinite(r), score, np.nan)))

    def prices(self, env: WarehouseRoutingEnv) -> tuple[np.ndarray, np.ndarray]:
        """Stock prices (W, S) and capacity prices (W,) from the fluid LP now.

        An episode the scenario's forecast does not describe (another network or SKU list,
        e.g. a replayed stream) gets zero prices: the policy is then myopic greedy.
        """
        spec, i, fc = env.episode, env.t, self._forecast
        n_w, n_s = env.stock.shape
        if fc.rates.shape[1] != n_w or fc.rates.shape[3] != n_s:
            return np.zeros((n_w, n_s)), np.zeros(n_w)
        p = env.current_period
        end = fc.next_replenishment(p)
        demand = fc.remaining(p, float(spec.hour[i]), end)  # (W regions, T, S)
        days = max(end - p, 1)
        cap = env.network.capacity
        backlog = env.backlog if env.config.backlog else 0
        cap_left = np.maximum(cap * days - env.assigned - backlog, 0).astype(float)
        return solve_prices(self._class_rewards, demand, env.stock.astype(float), cap_left,
                            ~spec.down[i], env.config.unroutable_penalty)


def class_rewards(env: WarehouseRoutingEnv) -> np.ndarray:
    """Reward of serving a (region, tier) customer from each warehouse, shape (W, T, W).

    A region's customers are placed at its warehouse; delivery hours include the mean
    queue-band delay and no weather or cut-off wait.
    """
    net, cfg = env.network, env.config
    dist = net.distances(net.lat, net.lon)  # (region, W)
    hours = cfg.handling_hours + dist / cfg.speed_kmh + float(np.mean(cfg.band_delay_hours))
    cost = shipping_cost(net.cost_per_order[None, :], dist, cfg)
    promise = np.asarray(cfg.sampler.promise_hours, dtype=float)  # (T,)
    on_time = hours[:, None, :] <= promise[None, :, None]
    return np.asarray(reward(cost[:, None, :], hours[:, None, :], on_time, cfg,
                             env.cost_scale), dtype=float)


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
