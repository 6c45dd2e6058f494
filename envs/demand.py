"""Expected demand of a scenario: the forecast a forecast-aware router is allowed to know.

The sampler's own demand model, in expectation: orders per day (festival calendar and the
chance of a promotion day included), split by home region (the warehouse customers live
near), tier and SKU, and by hour of day through each tier's arrival window. The dual-price
baseline plans against it and the extended observation compares stock with it; neither sees
the sampled episode's actual orders.
"""

from __future__ import annotations

import numpy as np

from envs.scenarios import SamplerConfig, _demand_share, sku_popularity

N_TIERS = 4


def arrival_rates(cfg: SamplerConfig) -> np.ndarray:
    """Expected orders per (period, region, tier, SKU), shape (P, W, T, S)."""
    p, w = cfg.n_periods, cfg.n_warehouses
    share = _demand_share(cfg) if len(cfg.demand_share) else np.full(w, 1 / w)
    promo = 1 + cfg.promo_lift * cfg.promo_probability * 0.75 / max(p, 1)  # E[1 + lift·promo]
    day = cfg.orders_per_period * promo * cfg.festival_multiplier() * share[None, :]  # (P, W)
    tiers = np.asarray(cfg.tier_probs, dtype=float)
    tiers = tiers / tiers.sum()
    pop = sku_popularity(cfg.n_skus)
    return day[:, :, None, None] * tiers[None, None, :, None] * pop[None, None, None, :]


class RemainingDemand:
    """Expected remaining demand from per-period rates (shared by every forecast).

    Subclasses set ``rates`` (P, W, T, S), ``n_periods`` and ``suffix`` (:meth:`suffixes`)
    and define ``after_fraction(hour)`` and ``next_replenishment(period)``.
    """

    rates: np.ndarray
    suffix: np.ndarray
    n_periods: int

    @staticmethod
    def suffixes(rates: np.ndarray) -> np.ndarray:
        """``suffix[q]`` = expected demand of periods ``q .. P-1`` (and 0 at ``P``)."""
        return np.concatenate([np.cumsum(rates[::-1], axis=0)[::-1],
                               np.zeros((1, *rates.shape[1:]))])

    def after_fraction(self, hour: float) -> np.ndarray:
        """Share of each tier's daily arrivals still to come after ``hour``, shape (T,)."""
        raise NotImplementedError

    def next_replenishment(self, period: int) -> int:
        """First period after ``period`` at which stock arrives (``n_periods`` if none)."""
        raise NotImplementedError

    def remaining(self, period: int, hour: float, end: int | None = None) -> np.ndarray:
        """Expected demand from (``period``, ``hour``) up to the start of ``end``, (W, T, S).

        ``end`` defaults to the next replenishment.
        """
        p = self.n_periods
        if period >= p:
            return np.zeros(self.rates.shape[1:])
        end = self.next_replenishment(period) if end is None else min(end, p)
        today = self.rates[period] * self.after_fraction(hour)[None, :, None]
        later = self.suffix[min(period + 1, p)] - self.suffix[max(end, period + 1)]
        return today + later


class DemandForecast(RemainingDemand):
    """Expected remaining demand of a scenario from any (period, hour) on.

    Args:
        cfg: The scenario's sampler knobs.
    """

    def __init__(self, cfg: SamplerConfig) -> None:
        self.cfg = cfg
        self.rates = arrival_rates(cfg)  # (P, W, T, S)
        p = self.rates.shape[0]
        self.suffix = self.suffixes(self.rates)
        self.windows = np.array([cfg.tier_window(k) for k in range(N_TIERS)])
        self.n_periods = p
        self.cycle = max(int(cfg.replenish_every), 1)  # days one stock arrival covers

    def after_fraction(self, hour: float) -> np.ndarray:
        """Share of each tier's daily arrivals still to come after ``hour``, shape (T,)."""
        lo, hi = self.windows[:, 0], self.windows[:, 1]
        return np.clip((hi - hour) / np.maximum(hi - lo, 1e-9), 0.0, 1.0)

    def next_replenishment(self, period: int) -> int:
        """First period after ``period`` at which stock arrives (``n_periods`` if none)."""
        for q in range(period + 1, self.n_periods):
            if self.cfg.replenishes(q):
                return q
        return self.n_periods
