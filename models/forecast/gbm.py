"""A global gradient-boosted forecaster (LightGBM): one model across all series, recursive.

Features of day ``t`` of a series (demand divided by the series' scale, its mean daily demand
in training, so SKUs of every size share one model): lags of the scaled demand, rolling means
of the days before ``t``, calendar (weekday, day of month, month, day of year), the known-future
regressors ``exog`` and the log of the scale. The model is fitted on every day of every series
with a Tweedie objective (zero-inflated counts, as in the M5 winners); forecasts are recursive:
step ``k`` uses the predictions of steps ``< k`` as lags.

Intervals are split-conformal per horizon step (:func:`models.forecast.conformal.step_intervals`),
calibrated inside ``fit`` on the latest part of the training span only: a copy of the model is
fitted without the last ``calibration_days × (w + 1)`` days of each series (``w`` =
0 .. ``calibration_windows`` − 1) and forecasts ``calibration_days`` ahead from origins every
``calibration_stride`` days inside the days it has not seen (so short horizon steps get many
origins from few refits; a stride prime to 7 spreads the origins over the weekdays). Each
signed residual is divided by a normaliser known at its origin
(:func:`models.forecast.conformal.score_scale`, ``interval_scale``: the series' level
``mean``, its recent seasonal-naive noise ``local``, or ``sqrt(forecast × level)``
``forecast``), and the conformal quantiles of the normalised residuals at each step, times
the same normaliser at prediction time, set the bands around the point forecast.

Fallback (documented): a series shorter than ``season_length`` days or with no demand at all is
forecast by :class:`~models.forecast.naive.SeasonalNaive` (a zero series gets zero forecasts
with zero-width intervals); its ids are in ``fallback_ids_``.
"""

from __future__ import annotations

import os
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
    ForecastInputError,
    Y,
    check_future,
    check_horizon,
    check_ids,
    future_dates,
    unusable_series,
    validate_series,
)
from models.forecast.conformal import recent_noise, score_scale, step_intervals, step_quantile
from models.forecast.gbm_features import (
    calendar,
    lag_features,
    origin_features,
    sample_horizons,
    step_features,
    width,
)


class GBMForecaster(BaseForecaster):
    """Global LightGBM on lags, rolling means, calendar and known-future features.

    Args:
        lags: Lags (days) of the scaled demand used as features.
        windows: Rolling-mean windows (days before the forecast day).
        exog: Known-future regressors (columns of the training frame and of ``X_future``).
        season_length: Series shorter than this use the seasonal-naive fallback.
        n_estimators: Boosting rounds.
        learning_rate: Shrinkage.
        num_leaves: Leaves per tree.
        min_child_samples: Minimum rows per leaf.
        objective: LightGBM objective (``tweedie`` for intermittent counts, ``l1``, ``l2``).
        calibration_days: Days held out at the end of each series for the conformal intervals
            (0: no intervals; ``predict`` then needs ``level=None``).
        calibration_windows: Consecutive holdout windows of ``calibration_days`` (one refit
            each): more residuals per step, at the cost of training time.
        calibration_stride: Days between forecast origins inside each refit's unseen days.
        interval_scale: Normaliser of the conformal residuals: ``mean`` (each series'
            level), ``local`` (its recent noise) or ``forecast`` (``sqrt(forecast ×
            level)``), see :func:`models.forecast.conformal.score_scale`.
        strategy: ``recursive`` (one-step model, earlier steps' forecasts fed back as lags) or
            ``direct`` (one model of the horizon step, inputs known at the origin only, see
            :mod:`models.forecast.gbm_features`).
        horizon: ``direct``: the longest step trained (longer forecasts reuse it).
        direct_samples: ``direct``: horizons drawn per training day.
        point: ``mean`` (the model's expected demand) or ``median`` (the mean plus the median
            of the calibration residuals at each step: the forecast that absolute-error
            metrics — MASE, WAPE — reward on skewed, intermittent counts; the bands do not
            change).
        closed_days: Forecast 0 on weekdays with zero demand in each of the last 8 weeks.
        n_jobs: LightGBM threads.
        random_state: Seed of LightGBM's bagging/feature sampling.
    """

    def __init__(
        self,
        lags: Sequence[int] = (1, 2, 3, 7, 14, 21, 28),
        windows: Sequence[int] = (7, 28),
        exog: Sequence[str] = (),
        season_length: int = 7,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        objective: str = "tweedie",
        calibration_days: int = 28,
        calibration_windows: int = 3,
        calibration_stride: int = 4,
        interval_scale: str = "forecast",
        strategy: str = "recursive",
        horizon: int = 30,
        direct_samples: int = 2,
        point: str = "mean",
        closed_days: bool = True,
        n_jobs: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.lags = lags
        self.windows = windows
        self.exog = exog
        self.season_length = season_length
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.objective = objective
        self.calibration_days = calibration_days
        self.calibration_windows = calibration_windows
        self.calibration_stride = calibration_stride
        self.interval_scale = interval_scale
        self.strategy = strategy
        self.horizon = horizon
        self.direct_samples = direct_samples
        self.point = point
        self.closed_days = closed_days
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame) -> GBMForecaster:
        """Fit one LightGBM on every day of every usable series, then calibrate intervals.

        Raises:
            ForecastInputError: Bad input (see ``base.validate_series``: missing columns,
                NaN/negative ``y`` or duplicate dates, naming the series), or no usable series.
        """
        self._check_params()
        data = validate_series(df, exog=list(self.exog))
        self.ids_ = pd.Index(data[ID].unique())
        bad = unusable_series(data, int(self.season_length))
        self._fit_fallback(data, list(bad))
        use = data[~data[ID].isin(set(bad))]
        self._fit_calendar(data, self.closed_days)
        if use.empty:
            self.booster_, self.history_ = None, {}
            return self
        self.booster_, self.scale_ = self._train(use)
        self.history_ = self._buffers(use, self.scale_)
        self.noise_ = recent_noise(use)
        self.calibration_ = self._calibrate(use)
        return self

    @property
    def step_residuals_(self) -> np.ndarray | None:
        """Normalised signed residuals (n_cases, calibration_days) behind the bands."""
        cal = self.calibration_
        if cal is None:
            return None
        return cal["resid"] / score_scale(cal["mean"][:, None], cal["noise"][:, None],
                                          cal["center"], self.interval_scale)

    def feature_names(self) -> list[str]:
        """Names of the model's input columns, in the order of the design matrix."""
        direct = self.strategy == "direct"
        return ([f"lag_{k}" for k in self.lags] + [f"rolling_mean_{w}" for w in self.windows]
                + (["same_weekday_last", "same_weekday_mean4"] if direct else [])
                + ["weekday", "day_of_month", "month", "day_of_year", *self.exog,
                   *(["horizon"] if direct else []), "series_level"])

    def feature_importance(self) -> pd.DataFrame:
        """Influential factors: LightGBM's total split gain per input, summing to 1.

        Returns ``feature, importance`` sorted descending (empty if every series fell back).
        """
        check_is_fitted(self, "ids_")
        if self.booster_ is None:
            return pd.DataFrame({"feature": [], "importance": []})
        gain = self.booster_.booster_.feature_importance(importance_type="gain")
        imp = pd.Series(gain / max(gain.sum(), 1e-12), index=self.feature_names())
        return (imp.sort_values(ascending=False).rename_axis("feature").rename("importance")
                .reset_index())

    def _check_params(self) -> None:
        if not self.lags or min(self.lags) < 1:
            raise ValueError(f"lags must be positive integers, got {self.lags}")
        if self.windows and min(self.windows) < 1:
            raise ValueError(f"windows must be positive integers, got {self.windows}")
        if int(self.season_length) < 1:
            raise ValueError(f"season_length must be >= 1, got {self.season_length}")
        if self.strategy not in ("recursive", "direct"):
            raise ValueError(f"strategy must be 'recursive' or 'direct', got {self.strategy!r}")
        if self.point not in ("mean", "median"):
            raise ValueError(f"point must be 'mean' or 'median', got {self.point!r}")
        if int(self.horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")

    @property
    def _width(self) -> int:
        if self.strategy == "direct":
            return width(self.lags, self.windows, int(self.horizon))
        return max([*self.lags, *(self.windows or [1])])

    def _design(self, data: pd.DataFrame, scale: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Training matrix: one row per day with at least one past value."""
        if self.strategy == "direct":
            return self._design_direct(data, scale)
        y = data[Y].to_numpy(float) / data[ID].map(scale).to_numpy(float)
        g = pd.Series(y).groupby(data[ID].to_numpy(), sort=False)
        cols = [g.shift(lag).to_numpy() for lag in self.lags]
        prev = g.shift(1)
        pg = prev.groupby(data[ID].to_numpy(), sort=False)
        for w in self.windows:
            cols.append(pg.rolling(w, min_periods=1).mean().reset_index(level=0, drop=True)
                        .sort_index().to_numpy())
        X = np.column_stack([*cols, calendar(data[DS]), data[list(self.exog)].to_numpy(float),
                             np.log(data[ID].map(scale).to_numpy(float))])
        keep = ~np.isnan(cols[0]) if min(self.lags) == 1 else np.ones(len(y), bool)
        return X[keep], y[keep]

    def _design_direct(self, data: pd.DataFrame, scale: pd.Series
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Training matrix of the direct strategy: (day, horizon) rows, origin inputs."""
        sc = data[ID].map(scale).to_numpy(float)
        y = data[Y].to_numpy(float) / sc
        pos = data.groupby(ID, sort=False).cumcount().to_numpy()
        rows, k = sample_horizons(pos, int(self.horizon), int(self.direct_samples),
                                  self.random_state)
        X = np.column_stack([origin_features(y, pos, rows, k, self.lags, self.windows),
                             calendar(data[DS].iloc[rows]),
                             data[list(self.exog)].to_numpy(float)[rows], k,
                             np.log(sc[rows])])
        return X, y[rows]

    def _train(self, data: pd.DataFrame):
        # LightGBM's OpenMP threads busy-wait between parallel regions by default; on a shared
        # machine they spin while another process holds the core, which tripled the CPU time
        # of 2 threads (forecast_speed_sku_champions.md). Sleeping waiters cost little here.
        # Read when libgomp loads: effective unless OpenMP was loaded before; a user's value wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import lightgbm as lgb  # the only module that needs it

        scale = data.groupby(ID, sort=False)[Y].mean().clip(lower=1e-6)
        X, y = self._design(data, scale)
        model = lgb.LGBMRegressor(
            objective=self.objective, n_estimators=int(self.n_estimators),
            learning_rate=self.learning_rate, num_leaves=int(self.num_leaves),
            min_child_samples=int(self.min_child_samples), subsample=0.8, subsample_freq=1,
            colsample_bytree=0.9, n_jobs=int(self.n_jobs), random_state=self.random_state,
            verbose=-1)
        model.fit(X, y)
        return model, scale

    def _buffers(self, data: pd.DataFrame, scale: pd.Series) -> dict[str, np.ndarray]:
        """The last ``_width`` scaled values of each series (NaN-padded on the left)."""
        W, out = self._width, {}
        for uid, g in data.groupby(ID, sort=False):
            v = g[Y].to_numpy(float)[-W:] / scale[uid]
            out[uid] = np.concatenate([np.full(W - len(v), np.nan), v])
        return out

    def _calibrate(self, data: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """Holdout residuals of refits without the last days, with their normalisers.

        Refit ``w`` (``0 .. calibration_windows - 1``) is trained on days ``< n - c (w + 1)``
        of each series (``c = calibration_days``) and forecasts ``c`` days from origins
        ``n - c (w + 1) + j × calibration_stride`` (``j × stride < c``, window inside the
        series). Returns raw residuals ``resid`` and forecasts ``center`` (n_cases, c), the
        refit's level ``mean`` and the origin's :func:`recent_noise` ``noise`` per case (None
        without any holdout).
        """
        c = int(self.calibration_days)
        if c <= 0:
            return None
        n = data.groupby(ID, sort=False)[DS].transform("size")
        pos = data.groupby(ID, sort=False).cumcount()
        parts = [self._holdout(data, pos, n, w, c)
                 for w in range(max(1, int(self.calibration_windows)))]
        parts = [x for p in parts if p is not None for x in p]
        if not parts:
            return None
        keys = ("resid", "center", "mean", "noise")
        return {k: np.concatenate([x[k] for x in parts]) for k in keys}

    def _holdout(self, data: pd.DataFrame, pos: pd.Series, n: pd.Series, w: int, c: int
                 ) -> list[dict[str, np.ndarray]] | None:
        """Residuals of one refit on days ``< n - c (w + 1)``, from each origin after it."""
        start = n - c * (w + 1)
        train = data[pos < start]
        # series the refit could not model (too short, or no demand yet: a product launched
        # later) stay out: their level is ~0, so their normalised residuals would be huge
        bad = set(unusable_series(train, max(int(self.season_length), 2 * c)))
        ok = pd.Index([u for u in train[ID].unique() if u not in bad])
        if len(ok) == 0:
            return None
        keep = data[ID].isin(set(ok)).to_numpy()
        data, pos, start = data[keep], pos[keep], start[keep]
        booster, scale = self._train(data[pos < start])
        out, stride = [], max(1, int(self.calibration_stride))
        for j in range(0, min(c, c * w + 1), stride):  # the origin's window stays unseen
            seen, test = data[pos < start + j], data[(pos >= start + j) & (pos < start + j + c)]
            grid = test[[ID, DS, *self.exog]].reset_index(drop=True)
            pred = self._forecast(booster, self._buffers(seen, scale), scale, list(ok), grid, c)
            sc = scale.loc[ok].to_numpy(float)
            center = (pred * np.repeat(sc, c)).reshape(len(ok), c)
            out.append({"resid": test[Y].to_numpy(float).reshape(len(ok), c) - center,
                        "center": center, "mean": sc,
                        "noise": recent_noise(seen).loc[ok].to_numpy(float)})
        return out

    # -------------------------------------------------------------- predict
    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | None = None,
        level: Sequence[int] | None = DEFAULT_LEVELS,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Forecast ``h`` days after each series' last date, recursively.

        Args:
            h: Horizon in days (> 0).
            X_future: ``unique_id, ds`` + ``exog`` for every forecast day (if ``exog``).
            level: Interval levels in percent.
            ids: Restrict to these series (all by default).
        """
        h, levels, ids = self._predict_args(h, level, ids)
        modelled = [u for u in ids if u in self.history_]
        frames = []
        if modelled:
            grid = check_future(X_future, list(self.exog),
                                future_dates(self.last_ds_.loc[modelled], h))
            pred = self._forecast(self.booster_, self.history_, self.scale_, modelled, grid, h)
            sc = np.repeat(self.scale_.loc[modelled].to_numpy(float), h)
            out = grid[[ID, DS]].copy()
            out[YHAT] = np.clip(pred, 0, None) * sc
            frames.append(self._intervals(out, modelled, h, levels))
        return self._assemble(frames, ids, set(modelled), self.naive_, h, levels,
                              self.closed_weekdays_)

    def contributions(self, h: int, X_future: pd.DataFrame | None = None,
                      ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Which inputs moved each forecast: LightGBM's own TreeSHAP values, grouped.

        Returns ``unique_id, ds, factor, value``: additive contributions to the model's raw
        score (the log of the scaled forecast for the Tweedie/Poisson objectives, so
        ``exp(value)`` is the factor that input multiplied the forecast by). Factors: ``recent
        demand`` (lags and rolling means, including earlier forecast steps), ``calendar``,
        each known-future regressor, ``series level`` and ``baseline`` (the average score).
        Fallback series have no rows.
        """
        check_is_fitted(self, "ids_")
        ids = [u for u in check_ids(ids, self.ids_) if u in self.history_]
        if not ids:
            return pd.DataFrame(columns=[ID, DS, "factor", "value"])
        h = check_horizon(h)
        grid = check_future(X_future, list(self.exog), future_dates(self.last_ds_.loc[ids], h))
        rows: list[np.ndarray] = []
        self._forecast(self.booster_, self.history_, self.scale_, ids, grid, h, rows)
        X = np.stack(rows, axis=1).reshape(len(ids) * h, -1)  # id-major, like ``grid``
        contrib = self.booster_.predict(X, pred_contrib=True)
        direct = self.strategy == "direct"
        n_lag = len(self.lags) + len(self.windows) + (2 if direct else 0)
        groups = {"recent demand": contrib[:, :n_lag].sum(axis=1),
                  "calendar": contrib[:, n_lag:n_lag + 4].sum(axis=1)}
        for j, c in enumerate(self.exog):
            groups[c] = contrib[:, n_lag + 4 + j]
        if direct:
            groups["horizon"] = contrib[:, -3]
        groups["series level"], groups["baseline"] = contrib[:, -2], contrib[:, -1]
        wide = grid[[ID, DS]].assign(**groups)
        return wide.melt([ID, DS], var_name="factor", value_name="value")

    def _forecast(self, booster, hist: dict, scale: pd.Series, ids: list[str],
                  grid: pd.DataFrame, h: int, keep: list | None = None) -> np.ndarray:
        """Scaled forecasts (rows by id then step) with the model's ``strategy``."""
        if self.strategy != "direct":
            return self._recursive(booster, hist, scale, ids, grid, h, keep)
        buf = np.vstack([hist[u] for u in ids])
        cal = calendar(grid[DS]).reshape(len(ids), h, 4)
        ex = grid[list(self.exog)].to_numpy(float).reshape(len(ids), h, len(self.exog))
        logs = np.log(scale.loc[ids].to_numpy(float))[:, None]
        steps = [np.column_stack([step_features(buf, k, self.lags, self.windows),
                                  cal[:, k - 1], ex[:, k - 1], np.full(len(ids), k), logs])
                 for k in range(1, h + 1)]
        if keep is not None:
            keep.extend(steps)
        X = np.stack(steps, axis=1).reshape(len(ids) * h, -1)  # id-major, like ``grid``
        return np.clip(booster.booster_.predict(X), 0, None)

    def _recursive(self, booster, hist: dict, scale: pd.Series, ids: list[str],
                   grid: pd.DataFrame, h: int, keep: list | None = None) -> np.ndarray:
        """Scaled forecasts, rows ordered by id then step (the order of ``grid``).

        ``keep``: a list that receives each step's feature matrix (for explanations).
        """
        buf = np.vstack([hist[u] for u in ids])
        cal = calendar(grid[DS]).reshape(len(ids), h, 4)
        ex = grid[list(self.exog)].to_numpy(float).reshape(len(ids), h, len(self.exog))
        logs = np.log(scale.loc[ids].to_numpy(float))[:, None]
        preds = np.empty((len(ids), h))
        for k in range(h):
            X = np.column_stack([lag_features(buf, self.lags, self.windows), cal[:, k],
                                 ex[:, k], logs])
            if keep is not None:
                keep.append(X)
            preds[:, k] = np.clip(booster.booster_.predict(X), 0, None)  # no sklearn checks
            buf = np.column_stack([buf[:, 1:], preds[:, k]])
        return preds.ravel()

    def _intervals(self, out: pd.DataFrame, ids: list[str], h: int, levels: Sequence[int]
                   ) -> pd.DataFrame:
        res = self.step_residuals_
        if not levels and (self.point == "mean" or res is None):
            return out  # (a median point without residuals stays the mean)
        if res is None:
            raise ForecastInputError(
                "no calibration residuals: every series is shorter than "
                f"2 x calibration_days ({2 * int(self.calibration_days)} days); "
                "lower calibration_days or pass more history")
        sc = score_scale(np.repeat(self.scale_.loc[ids].to_numpy(float), h),
                         np.repeat(self.noise_.reindex(ids).to_numpy(float), h),
                         out[YHAT].to_numpy(float), self.interval_scale)
        center = out[YHAT].to_numpy(float) / sc
        if levels:
            step_intervals(out, center, levels, res, h, scale=sc)
        if self.point == "median":  # the residuals' median at each step, around the mean
            out[YHAT] = np.clip(center + np.tile(step_quantile(res, h), len(ids)), 0, None) * sc
        return out
