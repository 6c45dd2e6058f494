"""Lead-time demand distributions from a forecaster's daily quantiles.

Every forecaster of the project returns, per day, ``yhat`` and the bounds ``yhat-lo-L`` /
``yhat-hi-L`` of central intervals. Read as quantiles (``lo-80`` = q0.10, ``hi-95`` = q0.975,
``yhat`` = q0.50) they give each day's demand distribution; lead-time demand is the **sum** of
the days' demands, which is not the sum of their quantiles. We therefore sample it: each day's
quantile function is interpolated linearly between the knots (with an exponential upper tail
fitted to the outermost two knots, and a linear lower tail clipped at 0, so intermittent days
keep their point mass at zero), and days are tied by a Gaussian copula with equicorrelation
``rho`` (0 = independent days, 1 = sum of quantiles; forecast level errors persist across
days, so the default is mildly positive). Samples use a fixed seed and are nested in the
horizon, so a longer lead time or a higher service level can only raise the reorder point.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.stats import norm

from models.inventory.formulas import InventoryInputError

_INTERVAL = re.compile(r"^yhat-(lo|hi)-(\d+(?:\.\d+)?)$")


def quantile_knots(forecast: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and values of the quantile knots in a forecast frame.

    Returns:
        ``probs`` (k,) increasing and ``values`` (rows, k) made monotone along the knots.

    Raises:
        InventoryInputError: If the frame has no ``yhat`` column.
    """
    if "yhat" not in forecast.columns:
        raise InventoryInputError("forecast frame needs a 'yhat' column")
    probs, cols = [0.5], ["yhat"]
    for c in forecast.columns:
        m = _INTERVAL.match(str(c))
        if m:
            tail = (1.0 - float(m.group(2)) / 100.0) / 2.0
            probs.append(tail if m.group(1) == "lo" else 1.0 - tail)
            cols.append(c)
    order = np.argsort(probs, kind="stable")
    values = forecast[cols].to_numpy(float)[:, order]
    values = np.maximum.accumulate(np.clip(np.nan_to_num(values), 0, None), axis=1)
    return np.asarray(probs)[order], values


def has_quantiles(forecast: pd.DataFrame) -> bool:
    """Whether a forecast frame has at least one interval (beyond the point forecast)."""
    return any(_INTERVAL.match(str(c)) for c in forecast.columns)


def _inverse_cdf(u: np.ndarray, probs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Quantile function per day at ``u`` (n, days); ``values`` is (days, k)."""
    out = np.empty_like(u)
    for d in range(values.shape[0]):
        out[:, d] = np.interp(u[:, d], probs, values[d])
    if len(probs) >= 2:
        p1, p2 = probs[-2], probs[-1]
        scale = (values[:, -1] - values[:, -2]) / np.log((1 - p1) / (1 - p2))
        upper = u > p2
        extra = scale[None, :] * np.log((1 - p2) / np.clip(1 - u, 1e-9, None))
        out = np.where(upper, values[None, :, -1] + extra, out)
        slope = (values[:, 1] - values[:, 0]) / (probs[1] - probs[0])
        lower = values[None, :, 0] - slope[None, :] * (probs[0] - u)
        out = np.where(u < probs[0], np.clip(lower, 0, None), out)
    return out


def daily_samples(forecast: pd.DataFrame, n_samples: int = 2000, rho: float = 0.25,
                  seed: int = 0) -> np.ndarray:
    """Joint samples of one series' daily demand, shape (n_samples, days).

    Args:
        forecast: One series' forecast rows in day order (``yhat`` + interval columns).
        n_samples: Monte Carlo samples.
        rho: Equicorrelation of the days' errors in the Gaussian copula, in [0, 1].
        seed: Random seed (the same seed gives the same uniforms for every series).
    """
    if not 0.0 <= rho <= 1.0:
        raise InventoryInputError(f"rho must be in [0, 1], got {rho}")
    probs, values = quantile_knots(forecast)
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n_samples, 1))
    own = rng.standard_normal((n_samples, values.shape[0]))
    u = norm.cdf(np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own)
    return _inverse_cdf(u, probs, values)


def normal_daily_samples(mean: float, std: float, days: int, n_samples: int = 2000,
                         seed: int = 0) -> np.ndarray:
    """Fallback without quantiles: i.i.d. normal days (clipped at 0), shape (n, days)."""
    rng = np.random.default_rng(seed)
    return np.clip(mean + std * rng.standard_normal((n_samples, days)), 0, None)


def period_demand(samples: np.ndarray, days: int) -> np.ndarray:
    """Samples of total demand over the first ``days`` days (0 for ``days`` = 0)."""
    if days > samples.shape[1]:
        raise InventoryInputError(
            f"forecast covers {samples.shape[1]} days but the protection period needs {days}; "
            "forecast a longer horizon"
        )
    return samples[:, :days].sum(axis=1) if days > 0 else np.zeros(samples.shape[0])


def expected_shortage(total: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``E[(D - s)^+]`` for each level ``s`` from demand samples ``total`` (vectorised)."""
    d = np.sort(np.asarray(total, dtype=float))
    n = len(d)
    suffix = np.concatenate([np.cumsum(d[::-1])[::-1], [0.0]])
    idx = np.searchsorted(d, levels, side="right")
    return (suffix[idx] - levels * (n - idx)) / n


def reorder_point(total: np.ndarray, service_level: float, service_type: str = "fill_rate",
                  batch: float = 1.0) -> float:
    """Smallest whole reorder point meeting the target on protection-period demand samples.

    Args:
        total: Samples of demand over the protection period (lead time + review period).
        service_level: Target in (0, 1).
        service_type: ``cycle`` — P(demand <= s) >= target (no stock-out in the cycle);
            ``fill_rate`` — expected units short per cycle, ``E[(D-s)^+] - E[(D-s-Q)^+]``,
            at most ``(1 - target) × Q``: the share of demand served from stock.
        batch: Order quantity Q per cycle (fill rate only).
    """
    if service_type == "cycle":
        return float(np.ceil(np.quantile(total, service_level) - 1e-9))
    if service_type != "fill_rate":
        raise InventoryInputError(f"service_type must be 'cycle' or 'fill_rate', got "
                                  f"{service_type!r}")
    top = float(np.ceil(np.max(total))) if len(total) else 0.0
    grid = np.arange(0.0, top + 1.0)
    short = expected_shortage(total, grid) - expected_shortage(total, grid + batch)
    ok = np.flatnonzero(short <= (1.0 - service_level) * max(batch, 1e-9) + 1e-12)
    return float(grid[ok[0]]) if len(ok) else top


def accuracy_optimal_stock(total: np.ndarray, excess: float = 0.2, units: float = 0.0) -> float:
    """Stock that maximises P(D ≤ x ≤ max((1 + excess) D, D + units) | D > 0) on samples.

    The "stock-preparation accuracy" decision: cover the period's demand without more than
    ``excess`` (or, with ``units`` > 0, ``units`` whole units, whichever is larger) left
    over, read off the forecast distribution instead of one quantile. Candidates are whole
    units at the samples, at ``(1 + excess)`` × the samples and at the samples + ``units``.
    """
    d = np.sort(np.asarray(total, dtype=float))
    d = d[d > 0]
    if len(d) == 0:
        return 0.0
    cand = np.unique(np.concatenate([np.ceil(d), np.floor((1 + excess) * d),
                                     np.floor(d + units)]))
    cand = cand[cand > 0]
    lower = np.minimum(cand / (1 + excess), cand - units)
    hits = np.searchsorted(d, cand, side="right") - np.searchsorted(d, lower, side="left")
    return float(cand[int(np.argmax(hits))])


def prepared_hit(prepared: np.ndarray, demand: np.ndarray, excess: float = 0.2,
                 units: float = 0.0) -> np.ndarray:
    """Whether prepared stock covered demand with at most ``max(excess × D, units)`` left."""
    prepared, demand = np.asarray(prepared, float), np.asarray(demand, float)
    return (prepared >= demand) & (prepared - demand <= np.maximum(excess * demand, units)
                                   + 1e-9)
