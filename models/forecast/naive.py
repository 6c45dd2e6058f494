"""Seasonal naive: tomorrow looks like the same weekday last week. The baseline in every table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from models.forecast.base import (
    DEFAULT_LEVELS,
    DS,
    ID,
    YHAT,
    BaseForecaster,
    Y,
    add_intervals,
    check_horizon,
    check_ids,
    check_levels,
    finalize,
    future_dates,
    validate_series,
)


class SeasonalNaive(BaseForecaster):
    """Repeat the last observed season (weekly by default).

    Intervals are empirical: the ``level`` quantile of the absolute in-sample seasonal
    differences ``|y_t - y_{t-m}|``, widened by ``sqrt(k)`` for the k-th season ahead.

    Cold start (documented fallback): a series shorter than one season is forecast by the
    mean of what it has, with intervals from its spread.

    Args:
        season_length: Season in days (7 = weekly).
        nonnegative: Clip forecasts and interval bounds at zero (counts).
    """

    supports_new_df = True

    def __init__(self, season_length: int = 7, nonnegative: bool = True) -> None:
        self.season_length = season_length
        self.nonnegative = nonnegative

    def fit(self, df: pd.DataFrame) -> SeasonalNaive:
        """Remember each series' last season and its seasonal-difference spread."""
        if int(self.season_length) < 1:
            raise ValueError(f"season_length must be >= 1, got {self.season_length}")
        data = validate_series(df)
        self.ids_ = pd.Index(data[ID].unique())
        self._learn(data)
        return self

    def _learn(self, data: pd.DataFrame) -> None:
        m = int(self.season_length)
        last, seasons, errs, cold = {}, {}, {}, []
        for uid, g in data.groupby(ID, sort=False):
            y = g[Y].to_numpy()
            last[uid] = g[DS].iloc[-1]
            if len(y) < m:
                cold.append(uid)
                seasons[uid] = np.full(m, y.mean())
                errs[uid] = np.abs(y - y.mean())
            else:
                seasons[uid] = y[-m:]
                errs[uid] = np.abs(y[m:] - y[:-m]) if len(y) > m else np.zeros(1)
        self.last_ds_ = pd.Series(last)
        self.seasons_ = seasons
        self.abs_errors_ = errs
        self.cold_start_ids_ = cold

    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | None = None,
        level: Sequence[int] | None = DEFAULT_LEVELS,
        ids: Sequence[str] | None = None,
        new_df: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Forecast ``h`` days after each series' last date.

        Args:
            h: Horizon in days (> 0).
            X_future: Ignored (the baseline uses no exogenous data); accepted for the interface.
            level: Interval levels in percent.
            ids: Restrict to these series (all by default).
            new_df: Fresh history to forecast from instead of the training data (no refit).
        """
        check_is_fitted(self, "ids_")
        h, levels = check_horizon(h), check_levels(level)
        if new_df is not None:
            state = SeasonalNaive(self.season_length, self.nonnegative)
            state.ids_ = self.ids_
            state._learn(validate_series(new_df))
            return state.predict(h, level=level, ids=ids)
        ids = check_ids(ids, self.ids_)
        m = int(self.season_length)
        grid = future_dates(self.last_ds_.loc[ids], h)
        step = np.tile(np.arange(h), len(ids))
        yhat = np.concatenate([np.resize(self.seasons_[u], m)[np.arange(h) % m] for u in ids])
        grid[YHAT] = yhat
        add_intervals(grid, yhat, levels, [self.abs_errors_[u] for u in ids], group_size=h,
                      scale=np.sqrt(step // m + 1), symmetric=True)
        return finalize(grid, levels, self.nonnegative)
