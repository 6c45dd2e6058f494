"""Split-conformal intervals per horizon step: one implementation for every forecaster.

Residuals come from forecasts of held-out days (a holdout at the end of each series or
backtest windows), scaled by each series' level so that SKUs of every size share them. For
horizon step ``k`` the interval is ``(center_k + q_lo_k, center_k + q_hi_k) * scale`` where
``q_lo_k, q_hi_k`` are the conformal quantiles (finite-sample corrected) of the step-``k``
residuals. Steps beyond the calibrated ones reuse the last step's residuals widened by
``sqrt(k / n_steps)``.

Kept beside :mod:`models.forecast.base` (which holds the empirical-residual helper
:func:`~models.forecast.base.add_intervals`) so base stays under 400 lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.forecast.base import ForecastInputError, hi_col, lo_col


def conformal_offsets(residuals: np.ndarray, level: int) -> tuple[float, float]:
    """Lower and upper offsets of a ``level`` % split-conformal interval.

    Each tail gets ``(100 - level) / 200``; the quantile levels carry the ``(n + 1) / n``
    finite-sample correction, so coverage is at least nominal on exchangeable data.

    Raises:
        ForecastInputError: If there are no finite residuals.
    """
    r = np.asarray(residuals, float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise ForecastInputError("no finite calibration residuals for the conformal interval")
    a = (100 - level) / 200
    q = min(1.0, np.ceil((r.size + 1) * (1 - a)) / r.size)
    hi = float(np.quantile(r, q, method="higher"))
    lo = float(np.quantile(r, 1 - q, method="lower"))
    return lo, hi


def step_offsets(residuals: np.ndarray, h: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets for steps ``1..h`` from residuals of shape (n_cases, n_steps)."""
    res = np.asarray(residuals, float)
    if res.ndim != 2 or res.shape[1] == 0:
        raise ForecastInputError(f"residuals must be (n_cases, n_steps), got {res.shape}")
    n = res.shape[1]
    pairs = [conformal_offsets(res[:, min(k, n - 1)], level) for k in range(min(h, n))]
    lo = np.array([p[0] for p in pairs])
    hi = np.array([p[1] for p in pairs])
    if h > n:  # beyond the calibrated steps: the last step's spread, widened
        widen = np.sqrt(np.arange(n + 1, h + 1) / n)
        lo = np.concatenate([lo, lo[-1] * widen])
        hi = np.concatenate([hi, hi[-1] * widen])
    return lo, hi


def step_intervals(
    out: pd.DataFrame,
    center: np.ndarray,
    levels: Sequence[int],
    residuals: np.ndarray,
    h: int,
    scale: np.ndarray | float = 1.0,
) -> pd.DataFrame:
    """Add ``yhat-lo-L``/``yhat-hi-L`` columns from per-step conformal residuals.

    Args:
        out: Forecast frame, rows ordered by series then step (``h`` rows per series).
        center: Point forecast on the residuals' (scaled) scale, shape (n_series * h,).
        levels: Interval levels in percent.
        residuals: Scaled signed residuals ``actual - forecast``, (n_cases, n_steps).
        h: Horizon (rows per series).
        scale: Per-row factor back to the forecast scale (each series' level).
    """
    if len(center) % h:
        raise ForecastInputError(f"{len(center)} forecast rows are not a multiple of h={h}")
    reps = len(center) // h
    for lv in levels:
        lo, hi = step_offsets(residuals, h, lv)
        out[lo_col(lv)] = (center + np.tile(lo, reps)) * scale
        out[hi_col(lv)] = (center + np.tile(hi, reps)) * scale
    return out
