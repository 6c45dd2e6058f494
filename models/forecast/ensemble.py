"""A forecast combination for daily order volume, weighted by each member's recent backtest.

Members (default): the weekly seasonal naive, Theta (``AutoTheta``) and Prophet with
multiplicative weekly seasonality, holidays and the known-future regressors. At ``fit`` the
ensemble runs its own rolling-origin backtest inside the training data — ``n_windows``
origins ``step`` days apart, the last ending on the last training day, each member refitted
on the history up to the origin — and weights each member by ``WAPE ** -power`` on those
windows, per series. A steep power makes the combination lean on the member that has been
right lately (Prophet where promotions and holidays drive demand, the weekly pattern
where nothing known ahead does) while still averaging near-ties; nothing is learned from
days after the training data.

Intervals are split-conformal on the same inner windows: the combination's residuals on
open days, divided by the window's mean forecast (so the bands follow a seasonal ramp),
give the ``level`` quantile (finite-sample corrected) of ``|residual|``; a forecast's
interval is ``yhat ± q · mean(yhat)`` over its open days.

Fallback (documented): a series with no complete inner window (shorter than
``min_obs + horizon`` days), or all zeros, is forecast by seasonal naive and listed in
``fallback_ids_``. Weekdays with no demand in each of the last 8 weeks are forecast as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
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
    check_ids,
    check_levels,
    hi_col,
    lo_col,
    validate_series,
)
from models.forecast.naive import SeasonalNaive
from models.forecast.prophet import ProphetForecaster
from models.forecast.theta import ThetaForecaster

MEMBERS = ("seasonal_naive", "theta", "prophet")
#: Prophet settings of the member: multiplicative weekly pattern on the raw counts (chosen
#: on tuning windows before the benchmark's cutoffs, see ``bench/results/forecast_volume.md``)
#: and the volume target's flexible trend.
PROPHET_MEMBER = dict(seasonality_mode="multiplicative", transform="none",
                      changepoint_range=0.95, changepoint_prior_scale=0.5,
                      interval_method="residuals", n_jobs=1)


class EnsembleForecaster(BaseForecaster):
    """Inverse-error weighted combination of seasonal naive, Theta and Prophet.

    Args:
        members: Member names, a subset of ``seasonal_naive``, ``theta``, ``prophet``.
        regressors: Known-future columns for the Prophet member (in training and X_future).
        holidays: Prophet holidays frame (``holiday, ds``), see ``features.demand``.
        horizon: Days forecast in each inner backtest window (the longest horizon served).
        n_windows: Inner backtest windows that set the weights and the intervals.
        step: Days between inner origins.
        power: Weight of a member is ``WAPE ** -power`` (0 = equal weights).
        min_obs: History a member gets at the earliest inner origin, at least.
        prophet_params: Overrides of :data:`PROPHET_MEMBER`.
        random_state: Seed of the Prophet member.
    """

    def __init__(
        self,
        members: Sequence[str] = MEMBERS,
        regressors: Sequence[str] = (),
        holidays: pd.DataFrame | None = None,
        horizon: int = 7,
        n_windows: int = 6,
        step: int = 7,
        power: float = 8.0,
        min_obs: int = 56,
        prophet_params: dict[str, Any] | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.members = members
        self.regressors = regressors
        self.holidays = holidays
        self.horizon = horizon
        self.n_windows = n_windows
        self.step = step
        self.power = power
        self.min_obs = min_obs
        self.prophet_params = prophet_params
        self.random_state = random_state

    def _member(self, name: str) -> BaseForecaster:
        if name == "seasonal_naive":
            return SeasonalNaive()
        if name == "theta":
            return ThetaForecaster()
        if name == "prophet":
            kw = PROPHET_MEMBER | dict(self.prophet_params or {})
            return ProphetForecaster(regressors=list(self.regressors), holidays=self.holidays,
                                     random_state=self.random_state, **kw)
        raise ValueError(f"unknown ensemble member {name!r}; use {', '.join(MEMBERS)}")

    def _check(self) -> list[str]:
        names = list(dict.fromkeys(self.members))
        if not names:
            raise ValueError("an ensemble needs at least one member")
        for n in names:
            self._member(n)  # raises on an unknown name
        if int(self.n_windows) < 1 or int(self.step) < 1 or self.power < 0:
            raise ValueError("n_windows and step must be >= 1 and power >= 0, got "
                             f"{self.n_windows}, {self.step}, {self.power}")
        check_horizon(self.horizon)
        return names

    def fit(self, df: pd.DataFrame) -> EnsembleForecaster:
        """Backtest the members inside ``df``, weight them, then refit them on all of it."""
        names = self._check()
        regs = list(self.regressors)
        data = validate_series(df, regs)
        self.ids_ = pd.Index(data[ID].unique())
        inner = self._inner_backtest(data, names)
        stats = data.groupby(ID, sort=False)[Y].max()
        usable = [u for u in self.ids_ if stats[u] > 0 and u in set(inner[ID])]
        self._fit_fallback(data, [u for u in self.ids_ if u not in set(usable)])
        self.weights_ = _weights(inner[inner[ID].isin(usable)], names, float(self.power))
        self.residuals_ = _scaled_residuals(inner[inner[ID].isin(usable)], self.weights_)
        fit_data = data[data[ID].isin(usable)]
        self.models_ = ({n: self._member(n).fit(fit_data) for n in names} if usable else {})
        self.modelled_ = set(usable)
        self._fit_calendar(data)
        return self

    def _inner_backtest(self, data: pd.DataFrame, names: list[str]) -> pd.DataFrame:
        """Member forecasts on the inner windows: ``unique_id, ds, cutoff, y, member, yhat``."""
        h, end = int(self.horizon), data[DS].max()
        first = data.groupby(ID, sort=False)[DS].min()
        parts = []
        for k in range(int(self.n_windows)):
            cut = end - pd.Timedelta(days=h + k * int(self.step))
            ok = first.index[(cut - first).dt.days + 1 >= int(self.min_obs)]
            train = data[(data[DS] <= cut) & data[ID].isin(ok)]
            test = data[(data[DS] > cut) & (data[DS] <= cut + pd.Timedelta(days=h))
                        & data[ID].isin(ok)]
            if train.empty or test.empty:
                continue
            ids = sorted(set(test[ID]))
            xf = test[[ID, DS, *self.regressors]] if self.regressors else None
            for n in names:
                fc = self._member(n).fit(train[train[ID].isin(ids)]).predict(
                    h, X_future=xf, level=(), ids=ids)
                fc = fc.merge(test[[ID, DS, Y]], on=[ID, DS], how="inner")
                parts.append(fc[[ID, DS, Y, YHAT]].assign(cutoff=cut, member=n))
        if not parts:
            return pd.DataFrame(columns=[ID, DS, Y, YHAT, "cutoff", "member"])
        return pd.concat(parts, ignore_index=True)

    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | None = None,
        level: Sequence[int] | None = DEFAULT_LEVELS,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Forecast ``h`` days after each series' last date (regressors from ``X_future``)."""
        check_is_fitted(self, "ids_")
        h, levels = check_horizon(h), check_levels(level)
        ids = check_ids(ids, self.ids_)
        own = [u for u in ids if u in self.modelled_]
        frames = []
        if own:
            fcs = {n: m.predict(h, X_future=X_future, level=(), ids=own)
                   for n, m in self.models_.items()}
            out = fcs[next(iter(fcs))][[ID, DS]].copy()
            key = pd.MultiIndex.from_frame(out[[ID, DS]])
            w = self.weights_.loc[out[ID]]
            out[YHAT] = sum(w[n].to_numpy() * f.set_index([ID, DS])[YHAT].reindex(key).to_numpy()
                            for n, f in fcs.items())
            frames.append(_conformal(out, levels, self.residuals_))
        return self._assemble(frames, ids, self.modelled_, self.naive_, h, levels,
                              self.closed_weekdays_)

    def feature_importance(self) -> pd.DataFrame:
        """Influential factors: each member's weight; Prophet's share split by its factors.

        Returns ``feature, importance`` (summing to 1), averaged over the modelled series.
        """
        check_is_fitted(self, "ids_")
        if not self.modelled_:
            return pd.DataFrame({"feature": ["last_season"], "importance": [1.0]})
        w = self.weights_.mean()
        rows = [(f"member: {n}", float(v)) for n, v in w.items() if n != "prophet"]
        if "prophet" in w:
            imp = self.models_["prophet"].feature_importance()
            rows += [(f"prophet: {f}", float(w["prophet"] * v))
                     for f, v in zip(imp["feature"], imp["importance"], strict=True)]
            if imp.empty:
                rows.append(("member: prophet", float(w["prophet"])))
        out = pd.DataFrame(rows, columns=["feature", "importance"])
        return out.sort_values("importance", ascending=False, ignore_index=True)


def _weights(inner: pd.DataFrame, names: list[str], power: float) -> pd.DataFrame:
    """Per series, ``WAPE ** -power`` of each member on the inner windows, normalised."""
    if inner.empty:
        return pd.DataFrame(columns=names, dtype=float)
    err = (inner[Y] - inner[YHAT]).abs()
    g = inner.assign(err=err).groupby([ID, "member"])
    wape = (g["err"].sum() / g[Y].sum().clip(lower=1e-9)).unstack("member")[names]
    wape = wape.clip(lower=1e-6)  # a perfect member dominates, without dividing by zero
    raw = np.exp(-power * np.log(wape / wape.min(axis=1).to_numpy()[:, None]))
    return raw.div(raw.sum(axis=1), axis=0)


def _combine(inner: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """The weighted combination on the inner windows: ``unique_id, cutoff, ds, y, yhat``."""
    wide = inner.pivot_table(index=[ID, "cutoff", DS], columns="member", values=YHAT)
    y = inner.drop_duplicates([ID, "cutoff", DS]).set_index([ID, "cutoff", DS])[Y]
    w = weights.reindex(wide.index.get_level_values(ID))[wide.columns].to_numpy()
    comb = pd.Series((wide.to_numpy() * w).sum(axis=1), index=wide.index, name=YHAT)
    return pd.concat([y.reindex(wide.index), comb], axis=1).reset_index()


def _scaled_residuals(inner: pd.DataFrame, weights: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per series: open-day residuals of the combination over each window's mean forecast."""
    if inner.empty:
        return {}
    comb = _combine(inner, weights)
    comb = comb[comb[YHAT] > 0]
    level = comb.groupby([ID, "cutoff"])[YHAT].transform("mean")
    comb = comb.assign(r=(comb[Y] - comb[YHAT]) / level)
    return {str(u): g["r"].to_numpy() for u, g in comb.groupby(ID)}


def _conformal(out: pd.DataFrame, levels: Sequence[int], resid: dict[str, np.ndarray]
               ) -> pd.DataFrame:
    """``yhat ± q · mean(yhat on open days)``, q the conformal quantile of ``|residual|``."""
    open_mean = out[YHAT].where(out[YHAT] > 0).groupby(out[ID]).transform("mean").fillna(0)
    for lv in levels:
        q = out[ID].map(lambda u, lv=lv: _conformal_q(resid.get(u, np.zeros(0)), lv))
        if q.isna().any():
            raise ForecastInputError(f"no inner-window residuals for {list(out[ID][q.isna()])}")
        out[lo_col(lv)] = out[YHAT] - q * open_mean
        out[hi_col(lv)] = out[YHAT] + q * open_mean
    return out


def _conformal_q(r: np.ndarray, level: int) -> float:
    """Split-conformal quantile of ``|r|``: its ``ceil((n + 1) L)``-th smallest value.

    With too few residuals for that rank (``n < L / (1 - L)``) the largest is used.
    """
    if len(r) == 0:
        return float("nan")
    k = int(np.ceil((len(r) + 1) * level / 100 - 1e-9))
    return float(np.sort(np.abs(r))[min(k, len(r)) - 1])
