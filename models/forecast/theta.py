"""Theta per series (statsforecast's ``AutoTheta``), in the family's interface.

The Theta method (Assimakopoulos & Nikolopoulos, 2000) forecasts the seasonally adjusted
series by simple exponential smoothing with a drift of half the linear trend, then
re-seasonalises; ``AutoTheta`` chooses among the standard/optimised and static/dynamic
variants by in-sample error. It is a strong single-series benchmark for daily volume (it won
the M3 competition) and one member of :class:`~models.forecast.ensemble.EnsembleForecaster`.

Fallback (documented): a series shorter than two seasons, or all zeros, is forecast by
:class:`~models.forecast.naive.SeasonalNaive`; its id is listed in ``fallback_ids_``.
Weekdays with no demand in each of the last 8 weeks (closed days) are forecast as 0.

``predict(..., new_df=...)`` forecasts from fresh history without re-estimating: each fitted
AutoTheta is applied to the new series with its parameters kept (statsforecast's
``forward``), so a rolling-origin backtest can move its origin day by day for the cost of a
filter pass (used by the ensemble's calibration).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.forecast.base import (
    DEFAULT_LEVELS,
    DS,
    ID,
    YHAT,
    BaseForecaster,
    ForecastInputError,
    Y,
    closed_weekdays,
    future_dates,
    hi_col,
    lo_col,
    validate_series,
)


class ThetaForecaster(BaseForecaster):
    """statsforecast ``AutoTheta`` fitted per series, with its native prediction intervals.

    Args:
        season_length: Season in days (7 = weekly).
        closed_days: Forecast 0 on weekdays with zero demand in each of the last 8 weeks.
    """

    supports_new_df = True

    def __init__(self, season_length: int = 7, closed_days: bool = True) -> None:
        self.season_length = season_length
        self.closed_days = closed_days

    def fit(self, df: pd.DataFrame) -> ThetaForecaster:
        """Fit one AutoTheta per series (seasonal naive for short or all-zero series)."""
        from statsforecast.models import AutoTheta

        m = int(self.season_length)
        if m < 1:
            raise ValueError(f"season_length must be >= 1, got {self.season_length}")
        data = validate_series(df)
        sizes = data.groupby(ID, sort=False)[Y].agg(["size", "max"])
        fallback = sizes.index[(sizes["size"] < 2 * m) | (sizes["max"] <= 0)]
        self.ids_ = pd.Index(sizes.index)
        self._fit_fallback(data, fallback)
        self.models_: dict[str, Any] = {}
        for uid, g in data.groupby(ID, sort=False):
            if uid not in set(fallback):
                self.models_[uid] = AutoTheta(season_length=m).fit(g[Y].to_numpy(float))
        self._fit_calendar(data, self.closed_days)
        return self

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
            h: Horizon in days.
            X_future: Ignored (Theta uses no exogenous data); accepted for the interface.
            level: Interval levels in percent.
            ids: Restrict to these series (all by default).
            new_df: Fresh history to forecast from with the fitted parameters (no refit);
                fallback series are forecast by seasonal naive on it.
        """
        h, levels, ids = self._predict_args(h, level, ids)
        if new_df is not None:
            return self._forward(h, levels, ids, validate_series(new_df))
        frames = []
        for uid in ids:
            if uid not in self.models_:
                continue
            res = self.models_[uid].predict(h, level=list(levels)) if levels else \
                self.models_[uid].predict(h)
            out = future_dates(self.last_ds_.loc[[uid]], h)
            out[YHAT] = np.asarray(res["mean"], float)
            for lv in levels:
                out[lo_col(lv)] = np.asarray(res[f"lo-{lv}"], float)
                out[hi_col(lv)] = np.asarray(res[f"hi-{lv}"], float)
            frames.append(out)
        return self._assemble(frames, ids, self.models_, self.naive_, h, levels,
                              self.closed_weekdays_)

    def _forward(self, h: int, levels: tuple[int, ...], ids: list[str], data: pd.DataFrame
                 ) -> pd.DataFrame:
        """Forecasts from ``data`` with each series' fitted AutoTheta (``forward``)."""
        missing = sorted(set(ids) - set(data[ID]))
        if missing:
            raise ForecastInputError(f"new_df has no history for series {missing[:5]}")
        data = data[data[ID].isin(set(ids))]
        last = data.groupby(ID, sort=False)[DS].max()
        frames = []
        for uid, g in data.groupby(ID, sort=False):
            if uid not in self.models_:
                continue
            kw = {"level": list(levels)} if levels else {}
            res = self.models_[uid].forward(g[Y].to_numpy(float), h, **kw)
            out = future_dates(last.loc[[uid]], h)
            out[YHAT] = np.asarray(res["mean"], float)
            for lv in levels:
                out[lo_col(lv)] = np.asarray(res[f"lo-{lv}"], float)
                out[hi_col(lv)] = np.asarray(res[f"hi-{lv}"], float)
            frames.append(out)
        rest = [u for u in ids if u not in self.models_]
        naive = self._fallback(data, rest)
        closed = closed_weekdays(data) if self.closed_days else {}
        return self._assemble(frames, ids, self.models_, naive, h, levels, closed)
