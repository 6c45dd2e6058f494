"""Unobserved demand drivers for the ``realistic`` scale: generated data that is not a giveaway.

In the default scales the demand multiplier is built from the ``daily_context`` columns the
forecasters receive, plus 3 % day-level noise, so a model with those columns nearly recovers
the generator's formula. ``Realism`` adds what real demand has and no column explains:

* **day-level shocks**: an AR(1) log-shock per day (persistent for a few days);
* **level shifts** of the whole shop (a marketing channel opens, a big account leaves);
* **competitors' promotions**: regional dips of demand for several days, never in the context;
* per SKU: a mean-reverting **popularity drift**, **level shifts** (a listing moves up or
  down), **SKU promotions** of a few days (a per-SKU lift that ``daily_context`` does not carry),
  and a **life cycle** (some SKUs launch during the period or are discontinued);
* **bulk orders** on long-tail SKUs (a few lines with many units), so tail demand is lumpy.

Everything uses its own random stream (``[seed, 0, 7]``), so the other scales' data are
unchanged bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter


@dataclass(frozen=True)
class Realism:
    """Strength of the unobserved drivers (per-year rates are expected events per year).

    Attributes:
        shock_sd: Standard deviation of the stationary day-level log-shock.
        shock_ar: AR(1) coefficient of the day-level log-shock.
        shifts_per_year: Level shifts of total demand.
        shift_sd: Log size of a level shift.
        competitor_per_year: Competitors' promotions per region.
        competitor_dip: Demand × (1 − dip) in the region during one.
        competitor_days: Duration of a competitor's promotion (days).
        sku_drift_sd: Stationary log-sd of each SKU's popularity drift.
        sku_drift_ar: Daily AR(1) coefficient of that drift (close to 1: slow).
        sku_shifts_per_year: Level shifts per SKU.
        sku_shift_sd: Log size of a SKU level shift.
        sku_promos_per_year: Promotions per SKU.
        sku_promo_lift: Popularity × (1 + lift) during a SKU promotion.
        sku_promo_days: Duration of a SKU promotion (days).
        lifecycle_share: Share of SKUs launched or discontinued during the period.
        bulk_share: Share of long-tail lines that are bulk orders.
        bulk_mean: Mean units multiplier of a bulk line (geometric).
    """

    shock_sd: float = 0.08
    shock_ar: float = 0.5
    shifts_per_year: float = 2.0
    shift_sd: float = 0.10
    competitor_per_year: float = 5.0
    competitor_dip: float = 0.25
    competitor_days: int = 5
    sku_drift_sd: float = 0.35
    sku_drift_ar: float = 0.98
    sku_shifts_per_year: float = 1.0
    sku_shift_sd: float = 0.4
    sku_promos_per_year: float = 4.0
    sku_promo_lift: float = 1.5
    sku_promo_days: int = 5
    lifecycle_share: float = 0.15
    bulk_share: float = 0.04
    bulk_mean: float = 4.0


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], sd: float, ar: float) -> np.ndarray:
    """Stationary AR(1) along axis 0 with marginal standard deviation ``sd``."""
    eps = rng.normal(0.0, sd * np.sqrt(1 - ar**2), shape)
    eps[0] = rng.normal(0.0, sd, shape[1:])
    return lfilter([1.0], [1.0, -ar], eps, axis=0)


def _episodes(rng: np.random.Generator, shape: tuple[int, ...], per_year: float,
              days: int) -> np.ndarray:
    """Boolean (D, …): inside an episode of ``days`` days that starts at random."""
    starts = (rng.random(shape) < per_year / 365.0).astype(np.int32)
    c = np.cumsum(starts, axis=0)
    lagged = np.concatenate([np.zeros((days, *shape[1:]), np.int32), c[:-days]], axis=0)
    return (c - lagged) > 0


def _shifts(rng: np.random.Generator, shape: tuple[int, ...], per_year: float,
            sd: float) -> np.ndarray:
    """Log level after random step changes (a random walk that moves a few times a year)."""
    jump = (rng.random(shape) < per_year / 365.0) * rng.normal(0.0, sd, shape)
    return np.cumsum(jump, axis=0)


def day_factor(r: Realism, rng: np.random.Generator, days: int, n_regions: int) -> np.ndarray:
    """Unobserved demand multiplier per day × region (shocks, level shifts, competitors)."""
    log_f = _ar1(rng, (days,), r.shock_sd, r.shock_ar) + _shifts(rng, (days,),
                                                                 r.shifts_per_year, r.shift_sd)
    dip = _episodes(rng, (days, n_regions), r.competitor_per_year, r.competitor_days)
    return np.exp(log_f)[:, None] * np.where(dip, 1 - r.competitor_dip, 1.0)


def sku_factor(r: Realism, rng: np.random.Generator, days: int, n_skus: int) -> np.ndarray:
    """Unobserved popularity multiplier per day × SKU (float32, mean about 1)."""
    shape = (days, n_skus)
    log_f = _ar1(rng, shape, r.sku_drift_sd, r.sku_drift_ar)
    log_f += _shifts(rng, shape, r.sku_shifts_per_year, r.sku_shift_sd)
    f = np.exp(log_f - log_f.mean(axis=0, keepdims=True)).astype(np.float32)
    f *= np.where(_episodes(rng, shape, r.sku_promos_per_year, r.sku_promo_days),
                  1 + r.sku_promo_lift, 1.0).astype(np.float32)
    life = rng.random(n_skus) < r.lifecycle_share
    cut = rng.integers(days // 6, days - days // 6, n_skus)
    launch = rng.random(n_skus) < 0.5  # half launch at ``cut``, half stop there
    t = np.arange(days)[:, None]
    alive = np.where(launch[None, :], t >= cut[None, :], t < cut[None, :])
    f[~alive & life[None, :]] = 0.0
    return f


def sku_cum_by_day(base_share: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Cumulative SKU choice probabilities per day (D, S) from shares × unobserved factor."""
    w = factor * base_share[None, :].astype(np.float32)
    cum = np.cumsum(w, axis=1, dtype=np.float64)
    return cum / cum[:, -1:]


def bulk_units(rng: np.random.Generator, qty: np.ndarray, tail: np.ndarray, r: Realism
               ) -> np.ndarray:
    """Units per line with bulk orders on long-tail SKUs (``tail``: bool per line)."""
    bulk = tail & (rng.random(len(qty)) < r.bulk_share)
    mult = rng.geometric(1.0 / r.bulk_mean, len(qty))
    return np.where(bulk, qty * mult, qty)
