"""Direct quantiles of demand over a protection period (LightGBM quantile regression).

The inventory decision needs the distribution of the *sum* of demand over the next ``P`` days
(lead time + review period), not each day's. This model predicts that sum's quantiles
directly: one global LightGBM per quantile (pinball loss) on features known at the decision
day — recent means over 7/14/28/91 days, spread and share of zero days (intermittent SKUs
are learned, not approximated), days since the last sale, the last seven days, the same
``P`` days one year earlier, calendar of the first day and ``P`` itself — with demand divided
by the series' mean over the last 91 days so SKUs of every size share the models. A mean model
(Tweedie) gives the point forecast the rule of thumb multiplies. Rows with crossing quantiles
are sorted. Output is a forecast frame read by :func:`models.inventory.leadtime.quantile_knots`:
``yhat`` = median, ``yhat-lo-L`` / ``yhat-hi-L`` = central intervals, ``mean``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from models.inventory.formulas import InventoryInputError

LEVELS = (50, 80, 90, 95, 98)
QUANTILES = tuple(sorted({0.5, *[(100 - lv) / 200 for lv in LEVELS],
                          *[1 - (100 - lv) / 200 for lv in LEVELS]}))
WINDOWS = (7, 14, 28, 91)
MIN_HISTORY = 91


def wide_history(history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """``unique_id, ds, y`` → (ids, (n, T) demand with missing days 0, dates)."""
    missing = [c for c in ("unique_id", "ds", "y") if c not in history.columns]
    if missing:
        raise InventoryInputError(f"history is missing column(s) {missing}")
    h = history.assign(unique_id=history["unique_id"].astype(str),
                       ds=pd.to_datetime(history["ds"]))
    if h["y"].isna().any() or (h["y"] < 0).any():
        raise InventoryInputError("history y must be numeric and >= 0")
    wide = h.pivot_table(index="unique_id", columns="ds", values="y", aggfunc="sum")
    days = pd.date_range(wide.columns.min(), wide.columns.max(), freq="D")
    wide = wide.reindex(columns=days).fillna(0.0)
    return wide.index.to_numpy(str), wide.to_numpy(float), days


def origin_features(Y: np.ndarray, t: np.ndarray, rows: np.ndarray, period: np.ndarray,
                    dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Features at the end of day ``t`` for series ``rows`` and periods ``period``.

    Args:
        Y: (n, T) daily demand.
        t: (m,) decision day index (information up to and including it).
        rows: (m,) series index.
        period: (m,) protection-period length in days.
        dates: The T dates.

    Returns:
        ``X`` (m, k) and the scale (m,) each row's demand is divided by.
    """
    C = np.concatenate([np.zeros((Y.shape[0], 1)), np.cumsum(Y, axis=1)], axis=1)
    C2 = np.concatenate([np.zeros((Y.shape[0], 1)), np.cumsum(Y ** 2, axis=1)], axis=1)
    Z = np.concatenate([np.zeros((Y.shape[0], 1)), np.cumsum(Y == 0, axis=1)], axis=1)

    def window(A: np.ndarray, w: int) -> np.ndarray:
        lo = np.clip(t + 1 - w, 0, None)
        return (A[rows, t + 1] - A[rows, lo]) / np.maximum(t + 1 - lo, 1)

    scale = np.maximum(window(C, 91), 1.0 / 91)
    cols = [window(C, w) / scale for w in WINDOWS]
    for w in (28, 91):
        var = np.maximum(window(C2, w) - window(C, w) ** 2, 0)
        cols += [np.sqrt(var) / scale, window(Z, w)]
    sold = Y > 0
    last = np.where(sold, np.arange(Y.shape[1])[None, :], -10_000)
    last = np.maximum.accumulate(last, axis=1)[rows, t]
    cols.append(np.minimum(t - last, 365).astype(float))
    cols += [np.where(t - k >= 0, Y[rows, np.clip(t - k, 0, None)], np.nan) / scale
             for k in range(7)]
    a, b = t + 1 - 364, t + 1 - 364 + period
    ok = a >= 0
    lastyear = np.where(ok, C[rows, np.clip(b, 0, None)] - C[rows, np.clip(a, 0, None)], np.nan)
    cols.append(lastyear / scale / period)
    first = dates[np.clip(t + 1, 0, len(dates) - 1)] + pd.to_timedelta(
        (t + 1 >= len(dates)).astype(int), unit="D")
    cols += [first.dayofweek.to_numpy(float), first.month.to_numpy(float),
             first.dayofyear.to_numpy(float), period.astype(float), np.log(scale)]
    return np.column_stack(cols), scale


class LeadTimeDemandGBM(BaseEstimator):
    """Global LightGBM quantile models of demand summed over the next ``P`` days.

    Args:
        max_period: Longest protection period trained for (days); training rows draw ``P``
            uniformly from ``1..max_period``.
        origin_step: Every how many days a training origin is taken per series.
        n_estimators: Boosting rounds per quantile.
        learning_rate: Shrinkage.
        num_leaves: Leaves per tree.
        min_child_samples: Minimum rows per leaf.
        n_jobs: LightGBM threads.
        random_state: Seed (periods drawn, LightGBM bagging).
        target_cap: Optional quantile (e.g. 0.99) of the training targets per day of period
            (demand / series level / P) above which targets are clipped before fitting, so a
            few wholesale orders do not set the upper quantiles of every series; ``None``
            keeps them (default). The cap is ``cap_`` after fitting.
    """

    def __init__(self, max_period: int = 16, origin_step: int = 2, n_estimators: int = 150,
                 learning_rate: float = 0.05, num_leaves: int = 31,
                 min_child_samples: int = 50, n_jobs: int = 1,
                 random_state: int = 0, target_cap: float | None = None) -> None:
        self.max_period = max_period
        self.origin_step = origin_step
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.target_cap = target_cap

    def fit(self, history: pd.DataFrame) -> LeadTimeDemandGBM:
        """Fit on ``unique_id, ds, y`` daily demand (every series, every origin day)."""
        ids, Y, dates = wide_history(history)
        P = int(self.max_period)
        origins = np.arange(MIN_HISTORY - 1, Y.shape[1] - P, int(self.origin_step))
        if len(origins) == 0:
            raise InventoryInputError(
                f"need at least {MIN_HISTORY + P} days of history to fit, got {Y.shape[1]}")
        rng = np.random.default_rng(self.random_state)
        rows = np.repeat(np.arange(len(ids)), len(origins))
        t = np.tile(origins, len(ids))
        period = rng.integers(1, P + 1, len(t))
        X, scale = origin_features(Y, t, rows, period, dates)
        C = np.concatenate([np.zeros((Y.shape[0], 1)), np.cumsum(Y, axis=1)], axis=1)
        target = (C[rows, t + 1 + period] - C[rows, t + 1]) / scale
        self.cap_, capped = None, target
        if self.target_cap is not None:  # quantile models only: the mean keeps every unit
            self.cap_ = float(np.quantile(target / period, float(self.target_cap)))
            capped = np.minimum(target, self.cap_ * period)
        self.models_ = {q: self._booster("quantile", q).fit(X, capped) for q in QUANTILES}
        self.mean_model_ = self._booster("tweedie", None).fit(X, target)
        self.n_rows_ = len(target)
        return self

    def _booster(self, objective: str, alpha: float | None):
        import lightgbm as lgb  # only this module and the forecaster need it

        extra = {"alpha": alpha} if alpha is not None else {}
        return lgb.LGBMRegressor(
            objective=objective, n_estimators=int(self.n_estimators),
            learning_rate=self.learning_rate, num_leaves=int(self.num_leaves),
            min_child_samples=int(self.min_child_samples), subsample=0.8, subsample_freq=1,
            colsample_bytree=0.9, n_jobs=int(self.n_jobs), random_state=self.random_state,
            verbose=-1, **extra)

    def predict(self, history: pd.DataFrame, periods: int | Mapping[str, int] | pd.Series
                ) -> pd.DataFrame:
        """Quantiles of demand over the ``P`` days after each series' history ends.

        Args:
            history: ``unique_id, ds, y`` up to the decision day (the last date).
            periods: One ``P`` for every series, or ``P`` per ``unique_id``.

        Returns:
            ``unique_id, period_days, mean, yhat`` and ``yhat-lo-L`` / ``yhat-hi-L`` for
            ``L`` in :data:`LEVELS`, one row per series.
        """
        ids, Y, dates = wide_history(history)
        return self.predict_matrix(ids, Y, dates, Y.shape[1] - 1, periods)

    def predict_matrix(self, ids: np.ndarray, Y: np.ndarray, dates: pd.DatetimeIndex, day: int,
                       periods: int | Mapping[str, int] | pd.Series) -> pd.DataFrame:
        """:meth:`predict` on a demand matrix, deciding at the end of day index ``day``."""
        check_is_fitted(self, "models_")
        if isinstance(periods, int | np.integer):
            period = np.full(len(ids), int(periods))
        else:
            period = pd.Series(periods).reindex(ids).to_numpy(float)
            if np.isnan(period).any():
                raise InventoryInputError("periods has no value for some series")
        if (period < 1).any():
            raise InventoryInputError("periods must be >= 1 day")
        rows, t = np.arange(len(ids)), np.full(len(ids), int(day))
        X, scale = origin_features(Y, t, rows, period.astype(int), dates)
        q = np.column_stack([self.models_[k].predict(X) for k in QUANTILES])
        q = np.sort(np.clip(q, 0, None), axis=1) * scale[:, None]
        out = pd.DataFrame({"unique_id": ids, "period_days": period.astype(int),
                            "mean": np.clip(self.mean_model_.predict(X), 0, None) * scale,
                            "yhat": q[:, QUANTILES.index(0.5)]})
        for lv in LEVELS:
            a = (100 - lv) / 200
            out[f"yhat-lo-{lv}"] = q[:, QUANTILES.index(a)]
            out[f"yhat-hi-{lv}"] = q[:, QUANTILES.index(1 - a)]
        return out
