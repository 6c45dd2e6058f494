"""Prophet per series, with holidays and promotion/weather regressors, in parallel.

One Prophet model is fitted per ``unique_id``. On one machine the series are spread over a
process pool (``n_jobs``); for scale, :func:`spark_fit_predict` runs the same per-series
function under ``groupBy("unique_id").applyInPandas`` on Spark.

Fallback (documented): a series with fewer than ``min_obs`` days, or that is all zeros, is
forecast by :class:`~models.forecast.naive.SeasonalNaive`; its id is listed in
``fallback_ids_``.
"""

from __future__ import annotations

import logging
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
    add_intervals,
    check_future,
    check_horizon,
    check_levels,
    finalize,
    future_dates,
    hi_col,
    lo_col,
    unusable_series,
    validate_series,
)

_NON_FACTORS = {"ds", "trend_lower", "trend_upper", "yhat", "yhat_lower", "yhat_upper",
                "additive_terms", "multiplicative_terms", "extra_regressors_additive",
                "extra_regressors_multiplicative", "holidays"}


def _quiet() -> None:
    logging.getLogger("cmdstanpy").disabled = True  # its get_logger() resets levels per fit
    logging.getLogger("prophet").setLevel(logging.ERROR)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def _new_prophet(params: dict[str, Any], regressors: Sequence[str]) -> Any:
    _quiet()
    from prophet import Prophet

    _quiet()  # cmdstanpy resets its logger level on import

    m = Prophet(
        holidays=params.get("holidays"),
        seasonality_mode=params.get("seasonality_mode", "additive"),
        yearly_seasonality=params.get("yearly_seasonality", "auto"),
        weekly_seasonality=True,
        daily_seasonality=False,
        changepoint_prior_scale=params.get("changepoint_prior_scale", 0.05),
        changepoint_range=params.get("changepoint_range", 0.8),
        uncertainty_samples=int(params.get("uncertainty_samples", 100)),
    )
    for r in regressors:
        m.add_regressor(r)
    return m


def _fwd(y: np.ndarray, transform: str) -> np.ndarray:
    return np.log1p(y) if transform == "log1p" else y


def _inv(y: np.ndarray, transform: str) -> np.ndarray:
    return np.expm1(y) if transform == "log1p" else y


def fit_one(g: pd.DataFrame, params: dict[str, Any], regressors: Sequence[str]) -> Any:
    """Fit one Prophet model on one series (``ds, y`` + regressors) and return it.

    Regressors that are constant in this series' history carry no information (and would
    break Prophet's standardisation), so they are left out of this series' model.
    """
    regressors = [r for r in regressors if g[r].nunique() > 1]
    m = _new_prophet(params, regressors)
    hist = g[[DS, *regressors]].copy()
    hist["y"] = _fwd(g[Y].to_numpy(), params.get("transform", "none"))
    _seed(params)
    m.fit(hist, algorithm="LBFGS", iter=params.get("iter", 10000))
    m.oms_fit_frame = hist  # raw inputs (``m.history`` holds standardised regressors)
    return m


def in_sample_residuals(m: Any) -> np.ndarray:
    """A fitted model's in-sample residuals on its own (possibly log) scale.

    Computed when ``residuals`` intervals are asked for, not at fit: a forecast without
    intervals (a combination member that borrows another model's bands) skips the in-sample
    pass, about a third of a series' fit-and-forecast time.
    """
    n, m.uncertainty_samples = m.uncertainty_samples, 0
    hist = m.oms_fit_frame
    fitted = m.predict(hist.drop(columns=["y"]))["yhat"].to_numpy()
    m.uncertainty_samples = n
    return hist["y"].to_numpy() - fitted


def _seed(params: dict[str, Any]) -> None:
    # Prophet and cmdstanpy draw from numpy's global generator
    if params.get("random_state") is not None:
        np.random.seed(int(params["random_state"]))


def predict_one(
    m: Any, fut: pd.DataFrame, levels: Sequence[int], params: dict[str, Any], components: bool,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Forecast one fitted model on ``fut`` (``ds`` + regressors); optional component frame.

    Intervals come from the model's in-sample residuals (:func:`in_sample_residuals`) with
    ``interval_method="residuals"``, else from Prophet's posterior-predictive samples.
    """
    transform = params.get("transform", "none")
    _seed(params)
    n_samples, m.uncertainty_samples = m.uncertainty_samples, 0
    point = m.predict(fut)  # components only, no sampling
    m.uncertainty_samples = n_samples
    out = pd.DataFrame({DS: fut[DS].to_numpy(), YHAT: _inv(point["yhat"].to_numpy(), transform)})
    if levels and params.get("interval_method", "residuals") == "residuals":
        add_intervals(out, point["yhat"].to_numpy(), levels, in_sample_residuals(m),
                      inverse=lambda v: _inv(v, transform))
    elif levels and n_samples > 0:
        samples = _inv(m.predictive_samples(fut)["yhat"], transform)
        for lv in levels:
            a = (100 - lv) / 200
            out[lo_col(lv)] = np.quantile(samples, a, axis=1)
            out[hi_col(lv)] = np.quantile(samples, 1 - a, axis=1)
    else:
        for lv in levels:
            out[lo_col(lv)], out[hi_col(lv)] = out[YHAT], out[YHAT]
    comp = None
    if components:
        cols = [c for c in point.columns if c not in _NON_FACTORS and not c.endswith(
            ("_lower", "_upper"))]
        comp = point[[DS, *cols]]
    return out, comp


def fit_predict_frame(
    g: pd.DataFrame, h: int, params: dict[str, Any], regressors: Sequence[str],
    levels: Sequence[int],
) -> pd.DataFrame:
    """Fit and forecast one series from a frame whose future rows have ``y`` missing.

    This is the per-group function used by both the process pool and Spark's
    ``applyInPandas``: history rows carry ``y``; the ``h`` future rows carry only regressors.
    """
    uid = str(g[ID].iloc[0])
    g = g.sort_values(DS)
    hist, fut = g[g[Y].notna()], g[g[Y].isna()].head(h)
    if len(hist) < params.get("min_obs", 28) or not (hist[Y] > 0).any():
        out = BaseForecaster._fallback(hist[[ID, DS, Y]], [uid]).predict(h, level=levels)
    else:
        m = fit_one(hist, params, regressors)
        if len(fut) < h:
            grid = future_dates(pd.Series({uid: hist[DS].iloc[-1]}), h)
            fut = grid.merge(fut.drop(columns=[ID]), on=DS, how="left").ffill()
        out, _ = predict_one(m, fut[[DS, *regressors]], levels, params, False)
        out.insert(0, ID, uid)
    return finalize(out, levels)


def _fit_chunk(
    groups: list[tuple[str, pd.DataFrame]], params: dict[str, Any], regressors: Sequence[str]
) -> dict[str, Any]:
    return {uid: fit_one(g, params, regressors) for uid, g in groups}


def _predict_chunk(
    items: list[tuple[str, Any, pd.DataFrame]], levels: Sequence[int],
    params: dict[str, Any], components: bool,
) -> list[tuple[str, pd.DataFrame, pd.DataFrame | None]]:
    out = []
    for uid, m, fut in items:
        f, c = predict_one(m, fut, levels, params, components)
        out.append((uid, f, c))
    return out


def _chunks(items: list, n: int) -> list[list]:
    size = max(1, int(np.ceil(len(items) / max(1, n))))
    return [items[i:i + size] for i in range(0, len(items), size)]


def _run(fn: Any, chunks: list, n_jobs: int, *args: Any) -> list:
    if n_jobs <= 1 or len(chunks) <= 1:
        return [fn(c, *args) for c in chunks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, backend="loky")(delayed(fn)(c, *args) for c in chunks)


class ProphetForecaster(BaseForecaster):
    """One Prophet model per series, fitted in parallel, with holidays and regressors.

    Args:
        regressors: Known-future exogenous columns (promotion, weather, holiday flags) added
            with ``add_regressor``; they must be in the training frame and in ``X_future``.
        holidays: Prophet holidays frame (``holiday, ds`` [+ windows]) covering history and
            future, e.g. built from ``daily_context.holiday_name``.
        seasonality_mode: ``additive`` or ``multiplicative``.
        transform: ``none`` or ``log1p`` (fit on log counts: multiplicative effects, and
            forecasts that stay positive).
        interval_method: ``residuals`` (default): empirical quantiles of the in-sample
            residuals, on the model's scale — calibrated and cheap on many series;
            ``samples``: Prophet's own posterior-predictive sampling.
        uncertainty_samples: Posterior samples for ``samples`` intervals.
        changepoint_prior_scale: Trend flexibility.
        changepoint_range: Share of the history where the trend may change.
        yearly_seasonality: Prophet's ``yearly_seasonality`` (``auto`` needs two years).
        min_obs: Series shorter than this fall back to seasonal naive.
        closed_days: Forecast 0 on weekdays with zero demand in each of the last 8 weeks
            (a shop closed on Saturdays), see ``base.closed_weekdays``.
        n_jobs: Worker processes for per-series fitting (None = settings' ``n_jobs``).
        random_state: Seed of Prophet's sampling (deterministic fits and intervals).
    """

    def __init__(
        self,
        regressors: Sequence[str] = (),
        holidays: pd.DataFrame | None = None,
        seasonality_mode: str = "additive",
        transform: str = "none",
        interval_method: str = "residuals",
        uncertainty_samples: int = 100,
        changepoint_prior_scale: float = 0.05,
        changepoint_range: float = 0.8,
        yearly_seasonality: Any = "auto",
        min_obs: int = 28,
        closed_days: bool = True,
        n_jobs: int | None = 1,
        random_state: int | None = 0,
    ) -> None:
        self.regressors = regressors
        self.holidays = holidays
        self.seasonality_mode = seasonality_mode
        self.transform = transform
        self.interval_method = interval_method
        self.uncertainty_samples = uncertainty_samples
        self.changepoint_prior_scale = changepoint_prior_scale
        self.changepoint_range = changepoint_range
        self.yearly_seasonality = yearly_seasonality
        self.min_obs = min_obs
        self.closed_days = closed_days
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _params(self) -> dict[str, Any]:
        if self.transform not in ("none", "log1p"):
            raise ValueError(f"transform must be 'none' or 'log1p', got {self.transform!r}")
        if self.interval_method not in ("residuals", "samples"):
            raise ValueError("interval_method must be 'residuals' or 'samples', got "
                             f"{self.interval_method!r}")
        p = self.get_params()
        p.pop("regressors")
        return p

    def _jobs(self) -> int:
        if self.n_jobs is not None:
            return int(self.n_jobs)
        from oms.settings import get_settings

        return get_settings().n_jobs

    def fit(self, df: pd.DataFrame) -> ProphetForecaster:
        """Fit one Prophet per series (seasonal naive for cold-start / all-zero series)."""
        regs = list(self.regressors)
        data = validate_series(df, regs)
        params = self._params()
        fallback = unusable_series(data, self.min_obs)
        self.ids_ = pd.Index(data[ID].unique())
        self._fit_fallback(data, fallback)
        groups = [(u, g) for u, g in data.groupby(ID, sort=False) if u not in set(fallback)]
        self.models_: dict[str, Any] = {}
        for part in _run(_fit_chunk, _chunks(groups, self._jobs()), self._jobs(), params, regs):
            self.models_.update(part)
        self._fit_calendar(data, self.closed_days)
        return self

    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | None = None,
        level: Sequence[int] | None = DEFAULT_LEVELS,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Forecast ``h`` days after each series' last date (regressors from ``X_future``)."""
        return self._predict(h, X_future, level, ids, components=False)[0]

    def components(
        self, h: int, X_future: pd.DataFrame | None = None, ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Prophet's additive/multiplicative components over the horizon, long format.

        Returns ``unique_id, ds, component, value`` (trend, weekly, yearly, each holiday and
        regressor), in the model's (possibly log) scale.
        """
        return self._predict(h, X_future, (), ids, components=True)[1]

    def feature_importance(self, max_series: int = 50) -> pd.DataFrame:
        """Influential factors: mean |component| over the training history.

        Averaged over up to ``max_series`` series (trend excluded; it is the level, not a
        factor). Returns ``feature, importance`` sorted descending, summing to 1.
        """
        check_is_fitted(self, "ids_")
        _quiet()
        rows = []
        for uid in list(self.models_)[:max_series]:
            m = self.models_[uid]
            n, m.uncertainty_samples = m.uncertainty_samples, 0
            comp = m.predict(m.history)
            m.uncertainty_samples = n
            keep = [c for c in comp.columns if c not in _NON_FACTORS and c != "trend"
                    and not c.endswith(("_lower", "_upper"))]
            rows.append(comp[keep].abs().mean())
        if not rows:
            return pd.DataFrame({"feature": [], "importance": []})
        imp = pd.concat(rows, axis=1).fillna(0).mean(axis=1)
        imp = (imp / imp.sum() if imp.sum() > 0 else imp).sort_values(ascending=False)
        return imp.rename_axis("feature").rename("importance").reset_index()

    def _predict(
        self, h: int, X_future: pd.DataFrame | None, level: Sequence[int] | None,
        ids: Sequence[str] | None, components: bool,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        h, levels, ids = self._predict_args(h, level, ids)
        regs = list(self.regressors)
        grid = check_future(X_future, regs, future_dates(self.last_ds_.loc[ids], h))
        items = [(u, self.models_[u], g.drop(columns=[ID]).reset_index(drop=True))
                 for u, g in grid.groupby(ID, sort=False) if u in self.models_]
        frames, comps = [], []
        jobs = self._jobs()
        for part in _run(_predict_chunk, _chunks(items, jobs), jobs, levels, self._params(),
                         components):
            for uid, f, c in part:
                frames.append(f.assign(**{ID: uid}))
                if c is not None:
                    comps.append(c.melt(id_vars=[DS], var_name="component").assign(**{ID: uid}))
        out = self._assemble(frames, ids, self.models_, self.naive_, h, levels,
                             self.closed_weekdays_)
        comp = (pd.concat(comps, ignore_index=True)[[ID, DS, "component", "value"]] if comps
                else pd.DataFrame(columns=[ID, DS, "component", "value"]))
        return out, comp


def spark_fit_predict(
    sdf: Any, h: int, params: dict[str, Any] | None = None, regressors: Sequence[str] = (),
    level: Sequence[int] = DEFAULT_LEVELS,
) -> Any:
    """Fit and forecast Prophet per series on Spark with ``groupBy().applyInPandas``.

    Args:
        sdf: Spark DataFrame with ``unique_id, ds, y`` + regressors; the ``h`` future days of
            each series are rows with ``y`` null and the regressors filled in.
        h: Horizon in days.
        params: ``ProphetForecaster`` parameters (``holidays`` must be a pandas frame).
        regressors: Regressor columns.
        level: Interval levels.

    Returns:
        A Spark DataFrame of forecasts in the interface's columns.
    """
    h, levels = check_horizon(h), check_levels(level)
    params = dict(params or {})
    regs = list(regressors)
    fields = ["unique_id string", "ds timestamp", "yhat double"]
    fields += [f"`{c}` double" for lv in levels for c in (lo_col(lv), hi_col(lv))]

    def _fn(g: pd.DataFrame) -> pd.DataFrame:
        g = g.assign(ds=pd.to_datetime(g[DS]).astype("datetime64[ns]"))
        return fit_predict_frame(g, h, params, regs, levels)

    return sdf.groupBy(ID).applyInPandas(_fn, schema=", ".join(fields))
