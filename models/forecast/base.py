"""The one forecaster interface, input checks and output helpers shared by every model.

Series are in the long format of Nixtla's statsforecast/mlforecast: ``unique_id, ds, y`` plus
optional exogenous columns. ``fit(df)`` returns ``self``; ``predict(h, X_future, level)``
returns ``unique_id, ds, yhat, yhat-lo-80, yhat-hi-80, yhat-lo-95, yhat-hi-95``. Forecasts of
counts are clipped at zero and intervals always satisfy ``lo <= yhat <= hi``.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

ID, DS, Y, YHAT = "unique_id", "ds", "y", "yhat"
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)


class ForecastInputError(ValueError):
    """Input a forecaster cannot use; the message says what is wrong and where."""


class NotFittedError(RuntimeError):
    """``predict`` (or similar) was called before ``fit``."""


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
        raise ForecastInputError(f"y has {int((y < 0).sum())} negative value(s); counts are >= 0")
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


class BaseForecaster:
    """Shared scikit-learn-style plumbing: params, cloning, fitted checks.

    Subclasses store constructor arguments unchanged as attributes, implement ``fit`` and
    ``predict``, and set ``ids_`` (an Index of series ids) when fitted.
    """

    #: Whether ``predict`` accepts ``new_df`` (fresh history without refitting).
    supports_new_df: bool = False

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, as passed."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def set_params(self, **params: Any) -> BaseForecaster:
        """Set constructor parameters (unfits nothing; call ``fit`` again)."""
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def clone(self) -> BaseForecaster:
        """An unfitted copy with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` has been called."""
        return hasattr(self, "ids_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(df) before predict"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


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
