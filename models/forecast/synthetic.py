"""Small synthetic long-format series with known structure, for tests, docs and benchmarks.

The truth is multiplicative: ``level × weekly[dow] × (1 + holiday_lift·is_holiday) ×
(1 + promo_lift·promotion_intensity)`` with Poisson noise, so a model that has learned the
weekly pattern and the holiday spike can be checked against the known factors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEKLY = np.array([1.0, 0.95, 0.9, 1.0, 1.15, 1.35, 1.25])  # Monday..Sunday


def make_panel(
    n_series: int = 3,
    n_days: int = 364,
    start: str = "2024-01-01",
    level: float | tuple[float, float] = 200.0,
    holiday_lift: float = 1.5,
    promo_lift: float = 0.4,
    holiday_every: int = 30,
    noise: bool = True,
    random_state: int = 0,
) -> pd.DataFrame:
    """A panel ``unique_id, ds, y, is_holiday, promotion_intensity, temperature_c``.

    Args:
        n_series: Number of series.
        n_days: Days per series (dates are shared, so exogenous values are per day).
        start: First date.
        level: Mean level, or a (low, high) range for log-uniform per-series levels.
        holiday_lift: Relative lift on holidays (1.5 = +150%).
        promo_lift: Relative lift at promotion intensity 1.
        holiday_every: One holiday every this many days (offset so they hit all weekdays).
        noise: Poisson noise if True, else the exact expectation.
        random_state: Random seed.
    """
    rng = np.random.default_rng(random_state)
    ds = pd.date_range(start, periods=n_days, freq="D")
    dow = ds.dayofweek.to_numpy()
    is_hol = (np.arange(n_days) % holiday_every) == holiday_every - 3
    promo = np.where(rng.random(n_days) < 0.1, rng.uniform(0.3, 1.0, n_days), 0.0)
    temp = 15 + 10 * np.sin(2 * np.pi * np.arange(n_days) / 365.25) + rng.normal(0, 2, n_days)
    if isinstance(level, tuple):
        levels = np.exp(rng.uniform(np.log(level[0]), np.log(level[1]), n_series))
    else:
        levels = np.full(n_series, float(level))
    parts = []
    for i, lv in enumerate(levels):
        mu = lv * WEEKLY[dow] * (1 + holiday_lift * is_hol) * (1 + promo_lift * promo)
        y = rng.poisson(mu).astype(float) if noise else mu
        parts.append(pd.DataFrame({
            "unique_id": f"s{i:04d}", "ds": ds, "y": y, "is_holiday": is_hol.astype(float),
            "promotion_intensity": promo, "temperature_c": temp,
        }))
    return pd.concat(parts, ignore_index=True)


def split_last(df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each series into training history and its last ``h`` days."""
    last = df.groupby("unique_id")["ds"].transform("max")
    test = df["ds"] > last - pd.Timedelta(days=h)
    return df[~test].reset_index(drop=True), df[test].reset_index(drop=True)
