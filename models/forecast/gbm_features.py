"""Input features of the global GBM (:mod:`models.forecast.gbm`).

``recursive`` strategy: lags and rolling means of the scaled demand before day ``t``
(:func:`lag_features`) and the calendar (:func:`calendar`); step ``k`` of a forecast reads the
forecasts of steps ``< k`` as lags.

``direct`` strategy: one model for every horizon step, no recursion. A training row is a (target
day ``t``, horizon ``k``) pair: its inputs are what was known at the origin ``o = t - k`` — the
scaled demand on the origin's last days (the recursive model's lags, shifted to the origin),
rolling means ending at the origin, the latest known value of the target's weekday and the mean
of the four latest ones — plus the target day's calendar and known-future regressors, the
horizon ``k`` and the series' level. Forecasting step ``k`` then needs no earlier forecast, so
errors do not feed back into the lags (the recursive model's forecasts drift upward weeks out on
intermittent series: a mean forecast fed back as a lag looks like a busy day). Each training day
gets ``samples`` horizons drawn uniformly from ``1 .. horizon``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def calendar(ds: pd.Series) -> np.ndarray:
    """Weekday, day of month, month and day of year, shape (n, 4)."""
    d = pd.DatetimeIndex(ds)
    return np.column_stack([d.dayofweek, d.day, d.month, d.dayofyear]).astype(float)


def lag_features(buf: np.ndarray, lags: Sequence[int], windows: Sequence[int]) -> np.ndarray:
    """Lags and rolling means for the day after the end of each row of ``buf`` (n, W).

    ``buf`` holds the last ``W`` scaled values of each series (NaN where history is shorter).
    """
    cols = [buf[:, -lag] for lag in lags]
    for w in windows:
        part = buf[:, -w:]
        n = np.sum(~np.isnan(part), axis=1)
        s = np.nansum(part, axis=1)
        cols.append(np.where(n > 0, s / np.maximum(n, 1), np.nan))
    return np.column_stack(cols)


#: Latest same-weekday values averaged for the ``same_weekday_mean4`` input.
N_WEEKS = 4


def width(lags: Sequence[int], windows: Sequence[int], horizon: int) -> int:
    """Days of history a direct forecast up to ``horizon`` reads (buffer width)."""
    weeks = -(-int(horizon) // 7) + N_WEEKS
    return max([*lags, *(windows or [1]), 7 * weeks])


def _take(y: np.ndarray, idx: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(idx.shape, np.nan)
    out[ok] = y[idx[ok]]
    return out


def origin_features(y: np.ndarray, pos: np.ndarray, row: np.ndarray, k: np.ndarray,
                    lags: Sequence[int], windows: Sequence[int]) -> np.ndarray:
    """Inputs known at the origin of each training row, shape (n_rows, n_features).

    Args:
        y: Scaled demand of every day of every series, series contiguous, dates ascending.
        pos: Position of each day inside its series (0 = first day).
        row: Index into ``y`` of each training row's target day.
        k: Horizon of each training row (>= 1, <= ``pos[row]``).
        lags: Recursive-model lags (lag ``l`` = the value ``l - 1`` days before the origin).
        windows: Rolling-mean windows ending at the origin.
    """
    o, po = row - k, pos[row] - k
    cols = [_take(y, o - (lag - 1), po - (lag - 1) >= 0) for lag in lags]
    csum = np.concatenate([[0.0], np.cumsum(y)])
    for w in windows:
        n = np.minimum(w, po + 1)
        cols.append((csum[o + 1] - csum[o + 1 - n]) / n)
    j0 = -(-k // 7)  # the latest week whose same weekday is known at the origin
    same = np.column_stack([_take(y, row - 7 * (j0 + j), pos[row] - 7 * (j0 + j) >= 0)
                            for j in range(N_WEEKS)])
    cols.append(same[:, 0])
    cols.append(_nanmean(same))
    return np.column_stack(cols)


def step_features(buf: np.ndarray, k: int, lags: Sequence[int], windows: Sequence[int]
                  ) -> np.ndarray:
    """The same inputs for step ``k`` from each series' last values ``buf`` (n, W)."""
    cols = [lag_features(buf, lags, windows)]
    j0, W = -(-k // 7), buf.shape[1]
    back = [7 * (j0 + j) - k + 1 for j in range(N_WEEKS)]  # days before the buffer's end
    same = np.column_stack([buf[:, -b] if b <= W else np.full(len(buf), np.nan)
                            for b in back])
    cols.append(same[:, 0])
    cols.append(_nanmean(same))
    return np.column_stack(cols)


def _nanmean(a: np.ndarray) -> np.ndarray:
    n = np.sum(~np.isnan(a), axis=1)
    return np.where(n > 0, np.nansum(a, axis=1) / np.maximum(n, 1), np.nan)


def sample_horizons(pos: np.ndarray, horizon: int, samples: int, seed: int | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Training rows and their horizons: ``samples`` draws per day with ``pos >= 1``."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.flatnonzero(pos >= 1), max(1, int(samples)))
    hi = np.minimum(int(horizon), pos[rows])
    k = 1 + np.floor(rng.random(len(rows)) * hi).astype(int)
    return rows, k
