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

Intervals are split-conformal per horizon step, with the family's one implementation
(:func:`models.forecast.conformal.step_intervals`): the refits of ``calibration_windows``
inner windows (weekly) forecast from an origin every ``calibration_stride`` day after each
refit until the next one (Theta and seasonal naive move to each origin without re-estimating;
Prophet's forecast of a day uses the refit's trend and regressors, so the refit forecasts
the days after each of its origins); with weekly refits and a daily stride that is
``1 + 7 (calibration_windows - 1)`` origins per series (50 by default, against 6 windows
before) for the cost of 8 refits. Each signed residual of the combination is divided by
:func:`~models.forecast.conformal.score_scale` (``interval_scale``: ``forecast`` =
``sqrt(forecast × level)`` or ``mean`` = the level), the level being the series' mean over
the 28 days up to the origin, so the bands follow the level and a seasonal ramp. A day the
combination forecasts as closed (0: a weekday without demand in each of the last 8 weeks)
gives no residual; a known closed day is forecast ``[0, 0]`` and listed in
``closed_weekdays_``. The level of each step's band adapts to the realised misses of the
calibration origins in time order (adaptive conformal inference, ``aci_gamma``; each origin's
band uses only forecasts already scored at that origin), so a run of calm weeks narrows the
bands and a run of misses widens them. Recency weights (``half_life``) and origins a year
earlier (``seasonal_windows``) are options, off by default.

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
    Y,
    check_horizon,
    validate_series,
)
from models.forecast.conformal import score_scale, step_intervals
from models.forecast.naive import SeasonalNaive
from models.forecast.prophet import ProphetForecaster
from models.forecast.theta import ThetaForecaster

MEMBERS = ("seasonal_naive", "theta", "prophet")
#: Every member ``members`` may name (``gbm``: the global LightGBM, without its own bands).
KNOWN_MEMBERS = (*MEMBERS, "gbm")
#: Prophet settings of the member: multiplicative weekly pattern on the raw counts (chosen
#: on tuning windows before the benchmark's cutoffs, see ``bench/results/forecast_volume.md``)
#: and the volume target's flexible trend.
PROPHET_MEMBER = dict(seasonality_mode="multiplicative", transform="none",
                      changepoint_range=0.95, changepoint_prior_scale=0.5,
                      interval_method="residuals", n_jobs=1)
#: Days before an origin whose mean is the series' level in the interval normaliser.
LEVEL_DAYS = 28
#: A year in days, a whole number of weeks (the same weekdays a year earlier).
YEAR = 364


class EnsembleForecaster(BaseForecaster):
    """Inverse-error weighted combination of seasonal naive, Theta and Prophet.

    Args:
        members: Member names, a subset of ``seasonal_naive``, ``theta``, ``prophet``, ``gbm``.
        regressors: Known-future columns for the Prophet member (in training and X_future).
        holidays: Prophet holidays frame (``holiday, ds``), see ``features.demand``.
        horizon: Days forecast in each inner backtest window (the longest horizon served).
        n_windows: Inner backtest windows (their first origins) that set the weights.
        step: Days between inner refits.
        calibration_windows: Inner refits whose daily origins calibrate the intervals.
        calibration_stride: Days between calibration origins after each refit.
        interval_scale: Normaliser of the conformal residuals, ``forecast``
            (``sqrt(forecast × level)``), ``proportional`` (the forecast) or ``mean`` (the
            level), see :func:`models.forecast.conformal.score_scale`.
        half_life: Recency weighting of the calibration origins (days; ``None``: every
            origin counts the same), see :func:`models.forecast.conformal.recency_weights`.
        aci_gamma: Step of adaptive conformal inference over the calibration origins in
            time order (0: off), see :func:`models.forecast.conformal.adaptive_level`. The
            default 0.2 was chosen on tuning origins before the benchmark's evaluation
            origins (``bench/results/forecast_volume_tuning_intervals_*_daily.md``).
        seasonal_windows: Extra calibration refits a year earlier (:data:`YEAR` days before
            the last inner origin, ``step`` days apart, forward), each forecasting from its
            daily origins, so the bands also see the errors of the same calendar weeks a year
            before (a seasonal regime such as December). Refits without ``min_obs`` days of
            history are skipped. Their residuals are pooled with the recent ones; they never
            set the weights.
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
        calibration_windows: int = 8,
        calibration_stride: int = 1,
        interval_scale: str = "forecast",
        half_life: float | None = None,
        aci_gamma: float = 0.2,
        seasonal_windows: int = 0,
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
        self.calibration_windows = calibration_windows
        self.calibration_stride = calibration_stride
        self.interval_scale = interval_scale
        self.half_life = half_life
        self.aci_gamma = aci_gamma
        self.seasonal_windows = seasonal_windows

    def _member(self, name: str) -> BaseForecaster:
        if name == "seasonal_naive":
            return SeasonalNaive()
        if name == "theta":
            return ThetaForecaster()
        if name == "prophet":
            kw = PROPHET_MEMBER | dict(self.prophet_params or {})
            return ProphetForecaster(regressors=list(self.regressors), holidays=self.holidays,
                                     random_state=self.random_state, **kw)
        if name == "gbm":
            from models.forecast.gbm import GBMForecaster

            return GBMForecaster(exog=list(self.regressors), calibration_days=0,
                                 random_state=self.random_state)
        raise ValueError(f"unknown ensemble member {name!r}; use {', '.join(KNOWN_MEMBERS)}")

    def _check(self) -> list[str]:
        names = list(dict.fromkeys(self.members))
        if not names:
            raise ValueError("an ensemble needs at least one member")
        for n in names:
            self._member(n)  # raises on an unknown name
        if min(int(self.n_windows), int(self.step), int(self.calibration_windows),
               int(self.calibration_stride)) < 1 or self.power < 0:
            raise ValueError("n_windows, step, calibration_windows and calibration_stride "
                             "must be >= 1 and power >= 0, got "
                             f"{self.n_windows}, {self.step}, {self.calibration_windows}, "
                             f"{self.calibration_stride}, {self.power}")
        if self.interval_scale not in ("forecast", "proportional", "mean"):
            raise ValueError("interval_scale must be 'forecast', 'proportional' or 'mean', got "
                             f"{self.interval_scale!r}")
        if ((self.half_life is not None and not self.half_life > 0) or not self.aci_gamma >= 0
                or int(self.seasonal_windows) < 0):
            raise ValueError("half_life must be None or > 0, aci_gamma >= 0 and "
                             f"seasonal_windows >= 0, got {self.half_life}, {self.aci_gamma}, "
                             f"{self.seasonal_windows}")
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
        inner = inner[inner[ID].isin(usable)]
        self.backtest_ = inner  # member forecasts from the inner origins (diagnostics)
        first = ((inner["cutoff"] == inner["refit"]) & (inner["k"] >= 0)
                 & (inner["k"] < int(self.n_windows)))
        self.weights_ = _weights(inner[first], names, float(self.power))
        self.calibration_ = _calibration(inner, self.weights_, data, int(self.horizon))
        fit_data = data[data[ID].isin(usable)]
        self.models_ = ({n: self._member(n).fit(fit_data) for n in names} if usable else {})
        self.modelled_ = set(usable)
        self.level_ = _level(fit_data)
        self.origin_ = data[DS].max()
        self._fit_calendar(data)
        return self

    @property
    def step_residuals_(self) -> np.ndarray:
        """Normalised signed residuals (n_origins, horizon) behind the bands (NaN: closed)."""
        cal = self.calibration_
        return cal["resid"] / score_scale(cal["mean"][:, None], np.nan, cal["center"],
                                          self.interval_scale)

    def _inner_backtest(self, data: pd.DataFrame, names: list[str]) -> pd.DataFrame:
        """Member forecasts from the inner origins.

        Refit ``k`` is trained on the days up to ``end - horizon - k * step`` and forecasts
        from that origin and, for the calibration refits, from every ``calibration_stride``
        day after it until the next refit. The ``seasonal_windows`` refits a year earlier
        (``k = -1, -2, …``, forward in time from ``end - horizon - YEAR``) do the same.
        Returns ``unique_id, ds, y, yhat, cutoff`` (the origin), ``refit``, ``k`` and
        ``member``.
        """
        h, step = int(self.horizon), int(self.step)
        end, n_cal = data[DS].max(), int(self.calibration_windows)
        first = data.groupby(ID, sort=False)[DS].min()
        parts = []
        year = [(-1 - j, end - pd.Timedelta(days=h + YEAR - j * step))
                for j in range(int(self.seasonal_windows))]
        for k, cut in [(k, end - pd.Timedelta(days=h + k * step))
                       for k in range(max(int(self.n_windows), n_cal))] + year:
            ok = first.index[(cut - first).dt.days + 1 >= int(self.min_obs)]
            train = data[(data[DS] <= cut) & data[ID].isin(ok)]
            if train.empty:
                continue
            offs = (range(0, step, int(self.calibration_stride)) if 0 < k < n_cal or k < 0
                    else [0])
            origins = [cut + pd.Timedelta(days=j) for j in offs]
            sub = data[data[ID].isin(set(train[ID]))]
            for n in names:
                fc = self._from_origins(self._member(n).fit(train), sub, cut, origins)
                parts.append(fc.assign(refit=cut, k=k, member=n))
        cols = [ID, DS, Y, YHAT, "cutoff", "refit", "k", "member"]
        return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)

    def _from_origins(self, model: BaseForecaster, sub: pd.DataFrame, cut: pd.Timestamp,
                      origins: list[pd.Timestamp]) -> pd.DataFrame:
        """One fitted member's ``horizon``-day forecasts from each origin (``cutoff``)."""
        h, ids = int(self.horizon), sorted(set(sub[ID]))
        if model.supports_new_df:  # moves to the origin without re-estimating
            fcs = [model.predict(h, level=(), ids=ids, new_df=sub[sub[DS] <= o]).assign(cutoff=o)
                   for o in origins]
        else:  # forecasts the days after every origin from the refit
            span = (origins[-1] - cut).days + h
            fut = sub[(sub[DS] > cut) & (sub[DS] <= cut + pd.Timedelta(days=span))]
            regs = list(self.regressors)
            full = model.predict(span, X_future=fut[[ID, DS, *regs]] if regs else None,
                                 level=(), ids=ids)
            fcs = [full[(full[DS] > o) & (full[DS] <= o + pd.Timedelta(days=h))].assign(cutoff=o)
                   for o in origins]
        fc = pd.concat(fcs, ignore_index=True)
        return fc.merge(sub[[ID, DS, Y]], on=[ID, DS], how="inner")[[ID, DS, Y, YHAT, "cutoff"]]

    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | None = None,
        level: Sequence[int] | None = DEFAULT_LEVELS,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Forecast ``h`` days after each series' last date (regressors from ``X_future``)."""
        h, levels, ids = self._predict_args(h, level, ids)
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
            frames.append(self._intervals(out, h, levels))
        return self._assemble(frames, ids, self.modelled_, self.naive_, h, levels,
                              self.closed_weekdays_)

    def _intervals(self, out: pd.DataFrame, h: int, levels: Sequence[int]) -> pd.DataFrame:
        """Per-step conformal bands around the combination (rows: series, then step)."""
        if not levels:
            return out
        yhat = out[YHAT].to_numpy(float)
        sc = score_scale(self.level_.reindex(out[ID]).to_numpy(float), np.nan, yhat,
                         self.interval_scale)
        return step_intervals(out, yhat / sc, levels, self.step_residuals_, h, scale=sc,
                              times=self.calibration_["cutoff"], origin=self.origin_,
                              half_life=self.half_life, gamma=float(self.aci_gamma))

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


def _level(data: pd.DataFrame) -> pd.Series:
    """Each series' mean over its last :data:`LEVEL_DAYS` days (floored for a zero run)."""
    tail = data.groupby(ID, sort=False).tail(LEVEL_DAYS)
    return tail.groupby(ID, sort=False)[Y].mean().clip(lower=1e-6)


def _calibration(inner: pd.DataFrame, weights: pd.DataFrame, data: pd.DataFrame, h: int
                 ) -> dict[str, np.ndarray]:
    """Residuals of the combination per (series, origin) and step, with their normalisers.

    Returns ``resid`` and ``center`` (n_origins, h) — NaN where the combination forecast a
    closed day (0) or the day is missing — and each origin's level ``mean`` and date
    ``cutoff`` (n_origins,).
    """
    if inner.empty:
        z = np.zeros((0, h))
        return {"resid": z, "center": z, "mean": np.zeros(0),
                "cutoff": np.zeros(0, "datetime64[ns]")}
    comb = _combine(inner, weights)
    comb["step"] = (comb[DS] - comb["cutoff"]).dt.days
    comb["r"] = (comb[Y] - comb[YHAT]).where(comb[YHAT] > 0)
    resid = comb.pivot_table(index=[ID, "cutoff"], columns="step", values="r", dropna=False)
    center = comb.pivot_table(index=[ID, "cutoff"], columns="step", values=YHAT)
    steps = list(range(1, h + 1))
    resid, center = resid.reindex(columns=steps), center.reindex(index=resid.index, columns=steps)
    roll = (data.set_index(DS).groupby(ID, sort=False)[Y]
            .rolling(LEVEL_DAYS, min_periods=1).mean().clip(lower=1e-6))
    mean = roll.reindex(pd.MultiIndex.from_tuples(list(resid.index), names=[ID, DS]))
    return {"resid": resid.to_numpy(float), "center": center.to_numpy(float),
            "mean": mean.to_numpy(float),
            "cutoff": resid.index.get_level_values("cutoff").to_numpy("datetime64[ns]")}
