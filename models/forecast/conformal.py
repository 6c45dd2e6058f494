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
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from models.forecast.base import (
    DEFAULT_LEVELS,
    DS,
    ID,
    YHAT,
    BaseForecaster,
    ForecastInputError,
    Y,
    check_horizon,
    check_levels,
    finalize,
    hi_col,
    lo_col,
    validate_series,
    zero_closed_days,
)


def conformal_offsets(residuals: np.ndarray, level: float,
                      weights: np.ndarray | None = None) -> tuple[float, float]:
    """Lower and upper offsets of a ``level`` % split-conformal interval.

    Each tail gets ``(100 - level) / 200``. Unweighted, the quantile levels carry the
    ``(n + 1) / n`` finite-sample correction, so coverage is at least nominal on exchangeable
    data. With ``weights`` (one per residual, in ``[0, 1]``; e.g. :func:`recency_weights`) the
    quantiles are those of the weighted residuals plus a point mass of weight 1 at infinity for
    the new day (non-exchangeable conformal prediction, Barber et al. 2023): a residual of
    weight 1 counts as much as in the unweighted interval, an old one less. Where the weighted
    mass never reaches the tail level the largest (smallest) residual is the offset.

    Raises:
        ForecastInputError: If there are no finite residuals, or a weight is negative or
            not finite, or there is one weight per residual missing.
    """
    r = np.asarray(residuals, float)
    if weights is not None:
        w = np.asarray(weights, float)
        if w.shape != r.shape:
            raise ForecastInputError(f"{w.size} weights for {r.size} residuals")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ForecastInputError("conformal weights must be finite and >= 0")
        w = w[np.isfinite(r)]
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise ForecastInputError("no finite calibration residuals for the conformal interval")
    a = (100 - level) / 200
    if weights is None:
        q = min(1.0, np.ceil((r.size + 1) * (1 - a)) / r.size)
        hi = float(np.quantile(r, q, method="higher"))
        lo = float(np.quantile(r, 1 - q, method="lower"))
        return lo, hi
    order = np.argsort(r, kind="stable")
    rs, ws = r[order], w[order] / (w.sum() + 1.0)  # the new day's weight 1 sits at +/- inf
    up = np.flatnonzero(np.cumsum(ws) >= 1 - a - 1e-12)
    down = np.flatnonzero(np.cumsum(ws[::-1]) >= 1 - a - 1e-12)
    hi = float(rs[up[0]]) if up.size else float(rs[-1])
    lo = float(rs[::-1][down[0]]) if down.size else float(rs[0])
    return lo, hi


def recency_weights(times: np.ndarray, origin: pd.Timestamp | np.datetime64,
                    half_life: float | None) -> np.ndarray | None:
    """Weights ``0.5 ** (age / half_life)`` of calibration cases (age in days before ``origin``).

    ``None`` (no half-life) means unweighted. The newest case has weight (close to) 1, the
    weight of the day being forecast in :func:`conformal_offsets`.
    """
    if half_life is None:
        return None
    if not half_life > 0:
        raise ForecastInputError(f"half_life must be > 0 days, got {half_life}")
    age = (np.datetime64(origin, "D") - np.asarray(times, "datetime64[D]")).astype(float)
    return 0.5 ** (np.clip(age, 0, None) / float(half_life))


def adaptive_level(residuals: np.ndarray, times: np.ndarray, step: int, level: float,
                   gamma: float, half_life: float | None = None, min_cases: int = 7) -> float:
    """The adaptive conformal level of one horizon step after a stream of scored forecasts.

    Adaptive conformal inference (Gibbs & Candès 2021): walking through the calibration
    origins in time order, the forecast made at origin ``t`` for ``t + step`` gets the band of
    level ``L_t`` from the residuals already scored at ``t`` (origins ``s`` with
    ``s + step <= t``, at least ``min_cases`` of them); a miss raises the level, a hit lowers
    it: ``alpha_{t+1} = alpha_t + gamma (alpha - miss_t)`` with ``alpha = 1 - L / 100``. Every
    forecast in the stream is scored before the next origin's band uses it, as in production
    (at origin ``t`` every forecast for days ``<= t`` is known): the level at ``t`` counts only
    the misses of forecasts already scored. Returns the level after every origin of the stream
    (percent, clipped to ``[0, 100]``; the stream is scored by the new forecast's origin);
    ``gamma = 0`` returns ``level``.

    Args:
        residuals: Normalised residuals of this step, one per origin (NaN: no residual).
        times: The origins (dates), same length.
        step: Days from origin to forecast day.
        level: Nominal level in percent.
        gamma: Step size of the level update.
        half_life: Recency weighting of each band (:func:`recency_weights`), or ``None``.
        min_cases: Scored residuals needed before a band (and an update) is made.
    """
    if gamma < 0:
        raise ForecastInputError(f"gamma must be >= 0, got {gamma}")
    if gamma == 0:
        return float(level)
    r = np.asarray(residuals, float)
    t = np.asarray(times, "datetime64[D]")
    order = np.argsort(t, kind="stable")
    r, t = r[order], t[order]
    ok, scored = np.isfinite(r), t + np.timedelta64(int(step), "D")
    target = 1 - level / 100
    update = np.zeros(len(r))  # gamma (alpha - miss) of each origin with a band, else 0
    for j in np.flatnonzero(ok):
        known = ok & (scored <= t[j])
        if known.sum() < min_cases:
            continue
        alpha = target + update[scored <= t[j]].sum()  # only misses already observed at t_j
        lv = 100 * (1 - min(max(alpha, 0.0), 1.0))
        lo, hi = conformal_offsets(r[known], lv, recency_weights(t[known], t[j], half_life))
        update[j] = gamma * (target - float((r[j] < lo) or (r[j] > hi)))
    return 100 * (1 - min(max(target + update.sum(), 0.0), 1.0))


def step_offsets(residuals: np.ndarray, h: int, level: float, times: np.ndarray | None = None,
                 origin: pd.Timestamp | None = None, half_life: float | None = None,
                 gamma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Offsets for steps ``1..h`` from residuals of shape (n_cases, n_steps).

    Without ``times`` every case counts the same (split conformal). With the cases' origin
    dates ``times`` and the forecast ``origin``, ``half_life`` weights recent cases more
    (:func:`recency_weights`) and ``gamma > 0`` adapts each step's level to the realised
    misses of the stream (:func:`adaptive_level`).
    """
    res = np.asarray(residuals, float)
    if res.ndim != 2 or res.shape[1] == 0:
        raise ForecastInputError(f"residuals must be (n_cases, n_steps), got {res.shape}")
    n = res.shape[1]
    if times is None and (half_life is not None or gamma > 0):
        raise ForecastInputError("recency weights and adaptive levels need the cases' times")
    w = None if times is None else recency_weights(times, origin, half_life)
    pairs = []
    for k in range(min(h, n)):
        lv = level if times is None else adaptive_level(res[:, k], times, k + 1, level, gamma,
                                                        half_life)
        pairs.append(conformal_offsets(res[:, k], lv, w))
    lo = np.array([p[0] for p in pairs])
    hi = np.array([p[1] for p in pairs])
    if h > n:  # beyond the calibrated steps: the last step's spread, widened
        widen = np.sqrt(np.arange(n + 1, h + 1) / n)
        lo = np.concatenate([lo, lo[-1] * widen])
        hi = np.concatenate([hi, hi[-1] * widen])
    return lo, hi


def step_quantile(residuals: np.ndarray, h: int, q: float = 0.5) -> np.ndarray:
    """The ``q`` quantile of the residuals at each step ``1..h`` (e.g. the median correction).

    Steps beyond the calibrated ones reuse the last step's value widened by
    ``sqrt(k / n_steps)``, as :func:`step_offsets` does.
    """
    res = np.asarray(residuals, float)
    if res.ndim != 2 or res.shape[1] == 0:
        raise ForecastInputError(f"residuals must be (n_cases, n_steps), got {res.shape}")
    n = res.shape[1]
    out = np.nanquantile(res[:, :min(h, n)], q, axis=0)
    if h > n:
        out = np.concatenate([out, out[-1] * np.sqrt(np.arange(n + 1, h + 1) / n)])
    return out


def step_intervals(
    out: pd.DataFrame,
    center: np.ndarray,
    levels: Sequence[int],
    residuals: np.ndarray,
    h: int,
    scale: np.ndarray | float = 1.0,
    **stream: Any,
) -> pd.DataFrame:
    """Add ``yhat-lo-L``/``yhat-hi-L`` columns from per-step conformal residuals.

    Args:
        out: Forecast frame, rows ordered by series then step (``h`` rows per series).
        center: Point forecast on the residuals' (scaled) scale, shape (n_series * h,).
        levels: Interval levels in percent.
        residuals: Scaled signed residuals ``actual - forecast``, (n_cases, n_steps).
        h: Horizon (rows per series).
        scale: Per-row factor back to the forecast scale (each series' level).
        **stream: ``times``, ``origin``, ``half_life``, ``gamma`` of :func:`step_offsets`
            (recency-weighted and adaptive bands).
    """
    if len(center) % h:
        raise ForecastInputError(f"{len(center)} forecast rows are not a multiple of h={h}")
    reps = len(center) // h
    for lv in levels:
        lo, hi = step_offsets(residuals, h, lv, **stream)
        out[lo_col(lv)] = (center + np.tile(lo, reps)) * scale
        out[hi_col(lv)] = (center + np.tile(hi, reps)) * scale
    return out


def recent_noise(data: pd.DataFrame, days: int = 28, lag: int = 7) -> pd.Series:
    """Each series' recent noise: mean ``|y_t - y_{t - lag}|`` over its last ``days`` days.

    The local scale of a normalised conformal score (seasonal-naive MAE of the latest weeks,
    in the units of ``y``), computed only from days up to the forecast origin. NaN for a
    series with fewer than ``lag + 1`` days.
    """
    tail = data.groupby(ID, sort=False).tail(days + lag)
    diff = tail.groupby(ID, sort=False)[Y].diff(lag).abs()
    return diff.groupby(tail[ID], sort=False).mean()


def score_scale(mean: np.ndarray, noise: np.ndarray, center: np.ndarray, how: str,
                floor: float = 0.1) -> np.ndarray:
    """Normaliser of conformal residuals (units of ``y``), broadcast over the inputs.

    Args:
        mean: Mean daily demand of the series in its training part (its level).
        noise: :func:`recent_noise` of the series at the forecast origin.
        center: The point forecast of the day.
        how: ``mean`` (the level: one band width per series), ``local`` (the recent noise),
            ``forecast`` (``sqrt(forecast × level)``: count noise grows with the expected
            count, so promotion and peak days get wider bands) or ``proportional`` (the
            forecast itself: multiplicative shocks, a band that is a share of the forecast).
            ``local``, ``forecast`` and ``proportional`` are floored at ``floor`` × level
            so a run of zeros keeps a band.
        floor: Floor as a share of the level.
    """
    mean = np.asarray(mean, float)
    if how == "mean":
        out = mean
    elif how == "local":
        out = np.maximum(np.nan_to_num(np.asarray(noise, float), nan=0.0), floor * mean)
    elif how == "forecast":
        out = np.sqrt(np.maximum(np.asarray(center, float), floor * mean) * mean)
    elif how == "proportional":
        out = np.maximum(np.asarray(center, float), floor * mean)
    else:
        raise ValueError("interval_scale must be 'mean', 'local', 'forecast' or 'proportional', "
                         f"got {how!r}")
    return np.maximum(out, 1e-9)


class Conformalized(BaseForecaster):
    """Any forecaster with per-step split-conformal intervals from holdout windows.

    ``fit`` refits a clone of ``model`` ``n_windows`` times, each without the last
    ``h * (w + 1)`` days of every series, forecasts the next ``h`` days and keeps the residuals
    scaled by each series' mean demand in that training part (``1 +`` mean, so sparse series
    do not blow up); then it fits ``model`` on everything. ``predict`` returns the model's point
    forecast with :func:`step_intervals` bands. Series too short for a window are skipped in
    calibration (they still get forecasts and the pooled bands).

    Args:
        model: An unfitted forecaster (cloned, never modified).
        h: Calibrated horizon; longer forecasts widen the last step's band by sqrt(k / h).
        n_windows: Holdout windows (more windows = more residuals per step).
        exog: Known-future columns passed to the model's ``predict`` in calibration.
    """

    def __init__(self, model: BaseForecaster, h: int = 30, n_windows: int = 2,
                 exog: Sequence[str] = ()) -> None:
        self.model = model
        self.h = h
        self.n_windows = n_windows
        self.exog = exog

    def fit(self, df: pd.DataFrame) -> Conformalized:
        """Collect per-step holdout residuals, then fit the model on all of ``df``."""
        h = check_horizon(self.h)
        data = validate_series(df, exog=list(self.exog))
        pos = data.groupby(ID, sort=False).cumcount()
        n = data.groupby(ID, sort=False)[DS].transform("size")
        res = []
        for w in range(int(self.n_windows)):
            end = n - h * w
            train, test = data[pos < end - h], data[(pos >= end - h) & (pos < end)]
            ok = train.groupby(ID).size().pipe(lambda s: s.index[s >= 2 * h])
            if len(ok) == 0:
                continue
            train, test = train[train[ID].isin(set(ok))], test[test[ID].isin(set(ok))]
            fc = clone(self.model).fit(train).predict(
                h, X_future=test[[ID, DS, *self.exog]] if len(self.exog) else None,
                level=None, ids=list(ok))
            j = fc.merge(test[[ID, DS, Y]], on=[ID, DS], how="inner")
            if len(j) != len(ok) * h:
                continue
            scale = 1 + train.groupby(ID)[Y].mean().reindex(j[ID]).to_numpy()
            res.append(((j[Y] - j[YHAT]).to_numpy() / scale).reshape(len(ok), h))
        if not res:
            raise ForecastInputError(
                f"no series has {3 * h} days for a conformal holdout window of h={h}")
        self.residuals_ = np.vstack(res)
        self.scale_ = 1 + data.groupby(ID, sort=False)[Y].mean()
        self.model_ = clone(self.model).fit(data)
        self.ids_ = self.model_.ids_
        return self

    def predict(self, h: int, X_future: pd.DataFrame | None = None,
                level: Sequence[int] | None = DEFAULT_LEVELS,
                ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The model's point forecast with per-step conformal intervals."""
        check_is_fitted(self, "model_")
        h, levels = check_horizon(h), check_levels(level)
        fc = self.model_.predict(h, X_future=X_future, level=None, ids=ids)
        sc = self.scale_.reindex(fc[ID]).to_numpy(float)
        out = fc[[ID, DS, YHAT]].copy()
        step_intervals(out, fc[YHAT].to_numpy(float) / sc, levels, self.residuals_, h, sc)
        out = finalize(out, levels)
        return zero_closed_days(out, getattr(self.model_, "closed_weekdays_", {}))
