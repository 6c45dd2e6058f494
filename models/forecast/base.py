"""The one forecaster interface and the plumbing every model shares, written once.

Series are in the long format of Nixtla's statsforecast/mlforecast: ``unique_id, ds, y`` plus
optional exogenous columns. ``fit(df)`` returns ``self``; ``predict(h, X_future, level)``
returns ``unique_id, ds, yhat, yhat-lo-80, yhat-hi-80, yhat-lo-95, yhat-hi-95``. Forecasts of
counts are clipped at zero and intervals always satisfy ``lo <= yhat <= hi``.

Shared here (as statsforecast keeps them in its core): input checks, the future-date grid,
the empirical residual-quantile intervals (:func:`add_intervals`), the seasonal-naive
fallback for short series and the output assembly in the order of the requested ids
(:meth:`BaseForecaster._assemble`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

ID, DS, Y, YHAT = "unique_id", "ds", "y", "yhat"
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)


class ForecastInputError(ValueError):
    """Input a forecaster cannot use; the message says what is wrong and where."""


__all__ = ["NotFittedError"]  # scikit-learn's, re-exported: the one "not fitted" error


def lo_col(level: int) -> str:
    """Name of the lower interval column for ``level`` (e.g. ``yhat-lo-80``)."""
    return f"yhat-lo-{int(level)}"


def hi_col(level: int) -> str:
    """Name of the upper interval column for ``level`` (e.g. ``yhat-hi-80``)."""
    return f"yhat-hi-{int(level)}"


def output_columns(level: Sequence[int]) -> list[str]:
    """Columns of a forecast frame for the given levels."""
    cols = [ID, DS, YHAT]
    for lv in level:
        cols += [lo_col(lv), hi_col(lv)]
    return cols


def check_levels(level: Sequence[int] | None) -> tuple[int, ...]:
    """Validate interval levels (percent, strictly between 0 and 100)."""
    if level is None:
        return ()
    levels = tuple(sorted({int(lv) for lv in level}))
    for lv in levels:
        if not 0 < lv < 100:
            raise ForecastInputError(f"interval level must be in (0, 100), got {lv}")
    return levels


def check_horizon(h: Any, max_h: int | None = None) -> int:
    """Validate a forecast horizon: a positive integer, at most ``max_h`` if given."""
    if isinstance(h, bool) or not isinstance(h, int | np.integer):
        raise ForecastInputError(f"horizon h must be a positive integer, got {h!r}")
    if h <= 0:
        raise ForecastInputError(f"horizon h must be a positive integer, got {h}")
    if max_h is not None and h > max_h:
        raise ForecastInputError(
            f"horizon h={h} exceeds the horizon this model was trained for ({max_h}); "
            "refit with a larger `horizon`"
        )
    return int(h)


def validate_series(
    df: pd.DataFrame, exog: Sequence[str] = (), allow_gaps: bool = False
) -> pd.DataFrame:
    """Check and normalise a long-format training frame.

    Args:
        df: Frame with ``unique_id, ds, y`` and the exogenous columns ``exog``.
        exog: Exogenous columns the model needs.
        allow_gaps: If False, missing calendar days inside a series raise an error.

    Returns:
        A sorted copy with ``ds`` as tz-naive daily timestamps and ``y`` as float.

    Raises:
        ForecastInputError: On a missing column, an empty frame, NaN/inf/negative ``y``,
            duplicate dates within a series, or (unless ``allow_gaps``) gaps in dates.
    """
    if not isinstance(df, pd.DataFrame):
        raise ForecastInputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in (ID, DS, Y, *exog) if c not in df.columns]
    if missing:
        raise ForecastInputError(f"training frame is missing column(s) {missing}")
    if df.empty:
        raise ForecastInputError("training frame is empty")
    out = df[[ID, DS, Y, *exog]].copy()
    out[ID] = out[ID].astype(str)
    out[DS] = _as_dates(out[DS], "ds")
    y = pd.to_numeric(out[Y], errors="coerce").astype(float)
    bad = ~np.isfinite(y.to_numpy())
    if bad.any():
        rows = out.loc[bad, [ID, DS]].head(3).to_dict("records")
        raise ForecastInputError(
            f"y has {int(bad.sum())} NaN/inf/non-numeric value(s), e.g. {rows}"
        )
    if (y < 0).any():
        rows = out.loc[y < 0, [ID, DS]].head(3).to_dict("records")
        raise ForecastInputError(
            f"y has {int((y < 0).sum())} negative value(s), e.g. {rows}; counts are >= 0")
    out[Y] = y
    _check_exog_values(out, exog, "training frame")
    dup = out.duplicated([ID, DS])
    if dup.any():
        rows = out.loc[dup, [ID, DS]].head(3).to_dict("records")
        raise ForecastInputError(f"{int(dup.sum())} duplicate (unique_id, ds) row(s), e.g. {rows}")
    out = out.sort_values([ID, DS], kind="stable").reset_index(drop=True)
    if not allow_gaps:
        _check_no_gaps(out)
    return out


def _as_dates(s: pd.Series, name: str) -> pd.Series:
    try:
        d = pd.to_datetime(s)
    except (ValueError, TypeError) as e:
        raise ForecastInputError(f"column {name!r} is not parseable as dates: {e}") from e
    if d.isna().any():
        raise ForecastInputError(f"column {name!r} has {int(d.isna().sum())} missing date(s)")
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_convert(None)
    return d.dt.normalize().astype("datetime64[ns]")


def _check_exog_values(df: pd.DataFrame, exog: Sequence[str], where: str) -> None:
    for c in exog:
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any():
            raise ForecastInputError(
                f"exogenous column {c!r} in the {where} has {int(v.isna().sum())} "
                "missing or non-numeric value(s)"
            )
        df[c] = v.astype(float)


def _check_no_gaps(df: pd.DataFrame) -> None:
    g = df.groupby(ID, sort=False)[DS].agg(["min", "max", "size"])
    expected = (g["max"] - g["min"]).dt.days + 1
    gappy = g.index[expected != g["size"]]
    if len(gappy):
        raise ForecastInputError(
            f"{len(gappy)} series have gaps in their daily dates (e.g. {list(gappy[:3])}); "
            "fill missing days (zero demand) with `fill_gaps` first"
        )


def fill_gaps(df: pd.DataFrame, value: float = 0.0) -> pd.DataFrame:
    """Complete every series to a daily calendar between its first and last date.

    Missing ``y`` is filled with ``value`` (zero demand); exogenous columns are forward/back
    filled within the series.
    """
    parts = []
    for uid, g in df.groupby(ID, sort=False):
        idx = pd.date_range(g[DS].min(), g[DS].max(), freq="D", name=DS)
        full = g.set_index(DS).reindex(idx)
        full[ID] = uid
        full[Y] = full[Y].fillna(value)
        full = full.ffill().bfill()
        parts.append(full.reset_index())
    return pd.concat(parts, ignore_index=True)[list(df.columns)]


def future_dates(last: pd.Series, h: int) -> pd.DataFrame:
    """``unique_id, ds`` for ``h`` days after each series' last date (``last`` indexed by id)."""
    ids = np.repeat(last.index.to_numpy(), h)
    steps = np.tile(np.arange(1, h + 1), len(last))
    ds = np.repeat(last.to_numpy(), h) + pd.to_timedelta(steps, unit="D")
    return pd.DataFrame({ID: ids, DS: ds})


def check_future(
    X_future: pd.DataFrame | None,
    exog: Sequence[str],
    grid: pd.DataFrame,
) -> pd.DataFrame:
    """Align exogenous values for the forecast grid (``unique_id, ds``).

    Raises:
        ForecastInputError: If the model needs exogenous values and ``X_future`` is missing,
            lacks a column, or does not cover every (unique_id, ds) of the horizon.
    """
    if not exog:
        return grid
    if X_future is None:
        raise ForecastInputError(
            f"this model was fitted with exogenous columns {list(exog)}; pass X_future with "
            "unique_id, ds and those columns for every forecast day"
        )
    missing = [c for c in (ID, DS, *exog) if c not in X_future.columns]
    if missing:
        raise ForecastInputError(f"X_future is missing column(s) {missing}")
    fut = X_future[[ID, DS, *exog]].copy()
    fut[ID] = fut[ID].astype(str)
    fut[DS] = _as_dates(fut[DS], "ds")
    fut = fut.drop_duplicates([ID, DS], keep="last")
    _check_exog_values(fut, exog, "X_future")
    out = grid.merge(fut, on=[ID, DS], how="left")
    holes = out[list(exog)].isna().any(axis=1)
    if holes.any():
        rows = out.loc[holes, [ID, DS]].head(3).to_dict("records")
        raise ForecastInputError(
            f"X_future does not cover {int(holes.sum())} forecast day(s), e.g. {rows}"
        )
    return out


def check_ids(ids: Sequence[str] | None, known: pd.Index) -> list[str]:
    """Validate requested series ids against those seen at fit time."""
    if ids is None:
        return list(known)
    ids = [str(i) for i in ids]
    unknown = sorted(set(ids) - set(known))
    if unknown:
        raise ForecastInputError(
            f"unknown unique_id(s) at predict time: {unknown[:5]}"
            f"{' ...' if len(unknown) > 5 else ''}; they were not in the training data"
        )
    return ids


def finalize(out: pd.DataFrame, levels: Sequence[int], nonnegative: bool = True) -> pd.DataFrame:
    """Clip at zero and enforce ``lo <= yhat <= hi`` with nested intervals, in output order."""
    if nonnegative:
        out[YHAT] = out[YHAT].clip(lower=0)
    inner_lo, inner_hi = out[YHAT].to_numpy(), out[YHAT].to_numpy()
    for lv in sorted(levels):
        lo = np.minimum(out[lo_col(lv)].to_numpy(), inner_lo)
        hi = np.maximum(out[hi_col(lv)].to_numpy(), inner_hi)
        if nonnegative:
            lo = np.clip(lo, 0, None)
        out[lo_col(lv)], out[hi_col(lv)] = lo, hi
        inner_lo, inner_hi = lo, hi
    out[ID] = out[ID].astype(str)
    return out[output_columns(levels)].reset_index(drop=True)


def residual_offsets(residuals: np.ndarray, level: int, symmetric: bool = False
                     ) -> tuple[float, float]:
    """Lower and upper offsets of the ``level`` % interval from empirical residuals.

    Signed residuals give their ``(100 - level) / 200`` and ``1 - (100 - level) / 200``
    quantiles; ``symmetric`` uses ± the ``level`` % quantile of ``|residuals|``.
    """
    if symmetric:
        q = float(np.quantile(np.abs(residuals), level / 100))
        return -q, q
    a = (100 - level) / 200
    return float(np.quantile(residuals, a)), float(np.quantile(residuals, 1 - a))


def add_intervals(
    out: pd.DataFrame,
    center: np.ndarray,
    levels: Sequence[int],
    residuals: np.ndarray | Sequence[np.ndarray],
    group_size: int | None = None,
    scale: np.ndarray | float = 1.0,
    symmetric: bool = False,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Add ``yhat-lo-L``/``yhat-hi-L`` from empirical residual quantiles (every model's).

    Bounds are ``inverse(center + scale * offset)`` with the offsets of
    :func:`residual_offsets`.

    Args:
        out: Forecast frame, one row per entry of ``center``; columns are added in place.
        center: Point forecast on the residuals' scale, shape (n,).
        levels: Interval levels in percent.
        residuals: One residual array for every row, or a list of arrays, one per
            consecutive block of ``group_size`` rows (e.g. one per series).
        group_size: Rows per block when ``residuals`` is a list.
        scale: Multiplies the offsets (a per-window scale, or a widening with the horizon).
        symmetric: Symmetric intervals from ``|residuals|``.
        inverse: Back-transform to the forecast scale (e.g. ``expm1``).
    """
    inv = inverse or (lambda v: v)
    for lv in levels:
        if isinstance(residuals, np.ndarray):
            lo, hi = residual_offsets(residuals, lv, symmetric)
        else:
            pairs = [residual_offsets(r, lv, symmetric) for r in residuals]
            lo = np.repeat([p[0] for p in pairs], group_size)
            hi = np.repeat([p[1] for p in pairs], group_size)
        out[lo_col(lv)] = inv(center + scale * lo)
        out[hi_col(lv)] = inv(center + scale * hi)
    return out


def order_by_ids(out: pd.DataFrame, ids: Sequence[str]) -> pd.DataFrame:
    """Rows in the order of the requested ``ids``, dates ascending within each."""
    order = {u: i for i, u in enumerate(ids)}
    return out.sort_values([ID, DS], key=lambda s: s.map(order) if s.name == ID else s,
                           ignore_index=True)


class BaseForecaster(BaseEstimator):
    """scikit-learn's estimator contract plus the assembly every forecaster shares.

    Subclasses store constructor arguments unchanged, implement ``fit`` (returning self)
    and ``predict``, and set ``ids_`` (an Index of series ids) when fitted. Models that
    need history set ``naive_``/``fallback_ids_`` with :meth:`_fit_fallback`.
    """

    #: Whether ``predict`` accepts ``new_df`` (fresh history without refitting).
    supports_new_df: bool = False

    def clone(self) -> BaseForecaster:
        """An unfitted copy with the same parameters (``sklearn.base.clone``)."""
        return clone(self)

    @staticmethod
    def _fallback(data: pd.DataFrame, ids: Sequence[str]) -> Any:
        """Seasonal naive fitted on the series ``ids`` of ``data`` (None if there are none).

        The one fallback for series a model cannot forecast (too short, all zeros).
        """
        if not len(ids):
            return None
        from models.forecast.naive import SeasonalNaive  # naive builds on this module

        return SeasonalNaive().fit(data[data[ID].isin(list(ids))])

    def _fit_fallback(self, data: pd.DataFrame, ids: Sequence[str]) -> None:
        self.fallback_ids_ = list(ids)
        self.naive_ = self._fallback(data, ids)

    def _predict_args(self, h: Any, level: Sequence[int] | None, ids: Sequence[str] | None,
                      max_h: int | None = None) -> tuple[int, tuple[int, ...], list[str]]:
        """The checks every ``predict`` starts with: fitted, horizon, levels, known ids."""
        check_is_fitted(self, "ids_")
        return check_horizon(h, max_h), check_levels(level), check_ids(ids, self.ids_)

    def _fit_calendar(self, data: pd.DataFrame, closed_days: bool = True) -> None:
        """Each series' last training date and, with ``closed_days``, its closed weekdays."""
        self.last_ds_ = data.groupby(ID, sort=False)[DS].max()
        self.closed_weekdays_ = closed_weekdays(data) if closed_days else {}

    @staticmethod
    def _assemble(
        frames: list[pd.DataFrame], ids: Sequence[str], modelled: Any, naive: Any, h: int,
        levels: Sequence[int], closed: dict[str, set[int]], nonnegative: bool = True,
    ) -> pd.DataFrame:
        """Model forecasts + the fallback's for ids not in ``modelled``, finalised in id order."""
        rest = [u for u in ids if u not in modelled]
        if rest:
            frames = [*frames, naive.predict(h, level=levels, ids=rest)]
        out = finalize(pd.concat(frames, ignore_index=True), levels, nonnegative)
        return order_by_ids(zero_closed_days(out, closed), ids)


def unusable_series(data: pd.DataFrame, min_obs: int) -> pd.Index:
    """Series a model cannot learn from: fewer than ``min_obs`` days or no positive demand.

    They get the documented seasonal-naive fallback (:meth:`BaseForecaster._fit_fallback`).
    """
    s = data.groupby(ID, sort=False)[Y].agg(["size", "max"])
    return s.index[(s["size"] < int(min_obs)) | (s["max"] <= 0)]


def closed_weekdays(df: pd.DataFrame, weeks: int = 8) -> dict[str, set[int]]:
    """Weekdays on which each series had zero demand in every one of its last ``weeks`` weeks.

    A shop that never trades on Saturdays has a structural zero there; smooth models put a
    positive forecast on such days. Series with fewer than ``weeks`` full weeks get none.
    """
    out: dict[str, set[int]] = {}
    for uid, g in df.groupby(ID, sort=False):
        tail = g.tail(7 * weeks)
        if len(tail) < 7 * weeks or not (tail[Y] > 0).any():
            continue
        dow = tail[DS].dt.dayofweek
        zero = tail.groupby(dow)[Y].max()
        days = set(zero.index[zero <= 0].tolist())
        if days:
            out[str(uid)] = days
    return out


def zero_closed_days(fc: pd.DataFrame, closed: dict[str, set[int]]) -> pd.DataFrame:
    """Set forecasts and interval bounds to 0 on each series' closed weekdays."""
    if not closed:
        return fc
    dow = fc[DS].dt.dayofweek.to_numpy()
    mask = np.array([d in closed.get(u, ()) for u, d in zip(fc[ID], dow, strict=True)])
    if mask.any():
        num = [c for c in fc.columns if c == YHAT or c.startswith("yhat-")]
        fc.loc[mask, num] = 0.0
    return fc
