"""A forecast combination: the weighted average of several forecasters' quantiles.

Each member (by default the global GBM and Prophet, the two SKU forecasters that lead the
peers on different panels) is fitted on the same frame; ``predict`` forecasts with every
member and combines, day by day and series by series, their point forecasts with fixed
``weights``. Averaging quantiles ("Vincentization") is safe on a convex loss: the absolute
error and the pinball loss of the averaged forecast are at most the weighted mean of the
members' losses on every day (it can still trail the better member where one member is much
better; the weights are chosen on tuning windows for that reason). The
combination needs no extra fit (its cost is the members' cost); weights are fixed
settings chosen on tuning windows before any evaluation window
(``bench/forecast_sku_tuning.py``), not learned from the training frame.

Intervals (``intervals``):

* ``average``: each bound is the weighted average of the members' bounds at that level;
* the name of a member (e.g. ``gbm``): that member's split-conformal bands
  (:mod:`models.forecast.conformal`) moved onto the combination: each bound keeps its
  offset from the member's own point forecast, ``bound = combination + (bound_m - yhat_m)``,
  except that a bound the member put at zero stays at zero (its band reaches zero demand:
  only a lower bound ``<= 0`` is known, so moving it up would exclude the zero days).

Neither is a conformal calibration of the combination itself (that would need every member
refitted on holdout windows, several times the cost); the coverage they reach is measured in
``bench/results/forecast_peers_*.md``.

Fallback (documented): a series a member cannot model (too short, no demand) gets that
member's seasonal-naive fallback inside the combination; the ids where any member fell back
are in ``fallback_ids_``. Closed weekdays are zero in every member, so in the combination.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

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
    hi_col,
    lo_col,
    validate_series,
)


def default_members() -> tuple[tuple[str, BaseForecaster], ...]:
    """The GBM (median point) and Prophet on log counts with their package defaults."""
    from models.forecast.gbm import GBMForecaster
    from models.forecast.prophet import ProphetForecaster

    return (("gbm", GBMForecaster(point="median")),
            ("prophet", ProphetForecaster(transform="log1p")))


def combine(forecasts: dict[str, pd.DataFrame], weights: dict[str, float],
            levels: Sequence[int], intervals: str = "average") -> pd.DataFrame:
    """The weighted combination of member forecasts (the rows of the first member).

    Args:
        forecasts: Member name -> forecast frame (``unique_id, ds, yhat`` and, for the members
            whose bands are used, ``yhat-lo-L``/``yhat-hi-L``), all on the same rows.
        weights: Member name -> weight (non-negative, normalised here).
        levels: Interval levels of the output.
        intervals: ``average`` or the name of the member whose bands are moved onto the
            combination (see the module docstring).

    Returns:
        ``unique_id, ds, yhat`` + bounds, not yet clipped or ordered (see ``base.finalize``).

    Raises:
        ValueError: If the members' rows differ or a needed bound column is missing.
    """
    names = list(forecasts)
    first = forecasts[names[0]]
    key = pd.MultiIndex.from_frame(first[[ID, DS]])
    aligned = {}
    for n in names:
        f = forecasts[n].set_index([ID, DS])
        if len(f) != len(key) or f.index.has_duplicates or not f.index.isin(key).all():
            raise ValueError(f"member {n!r} forecast other rows than {names[0]!r}")
        aligned[n] = f.reindex(key)
    total = float(sum(weights[n] for n in names))
    w = {n: float(weights[n]) / total for n in names}
    out = first[[ID, DS]].reset_index(drop=True)
    out[YHAT] = sum(w[n] * aligned[n][YHAT].to_numpy(float) for n in names)
    for lv in levels:
        for col in (lo_col(lv), hi_col(lv)):
            if intervals == "average":
                missing = [n for n in names if col not in aligned[n]]
                if missing:
                    raise ValueError(f"members {missing} have no {col!r}")
                out[col] = sum(w[n] * aligned[n][col].to_numpy(float) for n in names)
            else:  # the member's offset from its point; a bound it put at 0 stays at 0
                m = aligned[intervals]
                if col not in m:
                    raise ValueError(f"member {intervals!r} has no {col!r}")
                b = m[col].to_numpy(float)
                out[col] = np.where(b <= 0, 0.0,
                                    out[YHAT].to_numpy() + b - m[YHAT].to_numpy(float))
    return out


class CombinationForecaster(BaseForecaster):
    """Weighted quantile average of member forecasters (default: the GBM and Prophet).

    Args:
        members: ``(name, unfitted forecaster)`` pairs (cloned at ``fit``, never modified);
            None = :func:`default_members`.
        weights: One non-negative weight per member (None = equal weights).
        intervals: ``average`` (weighted average of the members' bounds) or a member's name
            (its conformal bands, moved onto the combination's point).
    """

    def __init__(self, members: Sequence[tuple[str, BaseForecaster]] | None = None,
                 weights: Sequence[float] | None = None, intervals: str = "average") -> None:
        self.members = members
        self.weights = weights
        self.intervals = intervals

    def _members(self) -> list[tuple[str, BaseForecaster]]:
        members = list(default_members() if self.members is None else self.members)
        if not members:
            raise ValueError("a combination needs at least one member")
        names = [n for n, _ in members]
        if len(set(names)) != len(names):
            raise ValueError(f"member names must be unique, got {names}")
        for n, m in members:
            if not isinstance(m, BaseForecaster):
                raise ValueError(f"member {n!r} is not a forecaster: {type(m).__name__}")
        return members

    def _weights(self, names: list[str]) -> dict[str, float]:
        w = [1.0] * len(names) if self.weights is None else [float(x) for x in self.weights]
        if len(w) != len(names) or min(w) < 0 or sum(w) <= 0 or not np.isfinite(w).all():
            raise ValueError(f"weights must be {len(names)} non-negative numbers with a "
                             f"positive sum, got {self.weights}")
        return dict(zip(names, w, strict=True))

    def _check(self) -> tuple[list[tuple[str, BaseForecaster]], dict[str, float]]:
        members = self._members()
        names = [n for n, _ in members]
        weights = self._weights(names)
        if self.intervals != "average" and self.intervals not in names:
            raise ValueError(f"intervals must be 'average' or a member name {names}, got "
                             f"{self.intervals!r}")
        return members, weights

    def fit(self, df: pd.DataFrame) -> CombinationForecaster:
        """Fit a clone of every member on ``df``.

        Raises:
            ForecastInputError: Bad input (``base.validate_series``; each member also
                checks its own regressors).
            ValueError: Bad settings (no members, duplicate names, bad weights/intervals).
        """
        members, _ = self._check()
        data = validate_series(df, allow_gaps=False)
        self.ids_ = pd.Index(data[ID].unique())
        self._fit_calendar(data, closed_days=False)  # last dates; closed days: the members'
        self.members_: dict[str, BaseForecaster] = {}
        self.member_seconds_: dict[str, float] = {}
        for name, model in members:
            t0 = time.perf_counter()
            self.members_[name] = clone(model).fit(df)
            self.member_seconds_[name] = time.perf_counter() - t0
        fell = set().union(*(getattr(m, "fallback_ids_", None) or () for m in
                             self.members_.values()))
        self.fallback_ids_ = [u for u in self.ids_ if u in fell]
        return self

    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | None = None,
        level: Sequence[int] | None = DEFAULT_LEVELS,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Forecast ``h`` days with every member and combine them (see :func:`combine`)."""
        h, levels, ids = self._predict_args(h, level, ids)
        self._check()
        return self.combine(self.member_forecasts(h, X_future, levels, ids), levels, ids, h)

    def member_forecasts(self, h: int, X_future: pd.DataFrame | None,
                         levels: Sequence[int], ids: Sequence[str] | None = None
                         ) -> dict[str, pd.DataFrame]:
        """Each fitted member's own forecast (with bands only where the combination uses them)."""
        h, levels, ids = self._predict_args(h, levels, ids)
        need = set(self.members_) if self.intervals == "average" else {self.intervals}
        return {n: m.predict(h, X_future=X_future, level=levels if n in need else (), ids=ids)
                for n, m in self.members_.items()}

    def combine(self, forecasts: dict[str, pd.DataFrame], levels: Sequence[int],
                ids: Sequence[str], h: int) -> pd.DataFrame:
        """The combination of :meth:`member_forecasts` under the current settings."""
        _, weights = self._check()
        out = combine(forecasts, weights, levels, self.intervals)
        return self._assemble([out], ids, set(ids), None, h, levels, {})

    def feature_importance(self) -> pd.DataFrame:
        """Influential factors: each member's importances times its weight, prefixed by name."""
        check_is_fitted(self, "members_")
        weights = self._weights(list(self.members_))
        total = sum(weights.values())
        rows = []
        for n, m in self.members_.items():
            share = weights[n] / total
            imp = m.feature_importance() if hasattr(m, "feature_importance") else pd.DataFrame()
            if imp.empty:
                rows.append((f"member: {n}", share))
            rows += [(f"{n}: {f}", share * float(v))
                     for f, v in zip(imp.get("feature", []), imp.get("importance", []),
                                     strict=True)]
        out = pd.DataFrame(rows, columns=["feature", "importance"])
        return out.sort_values("importance", ascending=False, ignore_index=True)
