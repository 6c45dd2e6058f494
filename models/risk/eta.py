"""Delivery-time (ETA) quantiles per order and warehouse: p50 and a conformal p90.

``EtaQuantiles`` fits gradient-boosted quantile regressors (p50, p90) on the earlier part of
the data and shifts p90 by split-conformal calibration (CQR, Romano et al. 2019) on the later
part, so p90 covers ~90 % of new deliveries. The baseline predicts from distance alone.
Orders whose warehouse or region is unknown get no prediction and a clear ``problem``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

WEATHER = ("sunny", "cloudy", "rain", "snow", "storm")
FEATURES = ["dist_km", "hour", "weekday", "wh_load", "is_holiday", "promotion_intensity",
            *[f"weather_{w}" for w in WEATHER]]


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def eta_features(orders: pd.DataFrame, customers: pd.DataFrame, warehouses: pd.DataFrame,
                 context: pd.DataFrame) -> pd.DataFrame:
    """Orders with ``FEATURES`` (and ``problem``: '' or why no ETA can be given).

    ``wh_load`` is the warehouse's orders that day over its daily capacity (the booked
    load a planner sees for the day).
    """
    o = orders.merge(customers[["customer_id", "lat", "lon"]], on="customer_id", how="left")
    w = warehouses[["warehouse_id", "lat", "lon", "capacity_per_day"]].rename(
        columns={"lat": "wh_lat", "lon": "wh_lon"})
    o = o.merge(w, on="warehouse_id", how="left")
    ctx = context[["date", "region", "is_holiday", "promotion_intensity", "weather"]]
    o = o.merge(ctx.rename(columns={"date": "order_date"}), on=["order_date", "region"],
                how="left")
    o["dist_km"] = _haversine_km(o["lat"].astype(float), o["lon"].astype(float),
                                 o["wh_lat"].astype(float), o["wh_lon"].astype(float))
    local = pd.to_datetime(o["order_ts"], utc=True).dt.tz_convert("Asia/Shanghai")
    o["hour"], o["weekday"] = local.dt.hour.astype(float), local.dt.weekday.astype(float)
    n = o.groupby(["warehouse_id", "order_date"])["order_id"].transform("size")
    o["wh_load"] = n / o["capacity_per_day"].astype(float)
    o["is_holiday"] = o["is_holiday"].astype(float).fillna(0.0)
    o["promotion_intensity"] = o["promotion_intensity"].astype(float).fillna(0.0)
    for wx in WEATHER:
        o[f"weather_{wx}"] = (o["weather"] == wx).astype(float)
    o["problem"] = np.select(
        [o["wh_lat"].isna().to_numpy(), o["lat"].isna().to_numpy()],
        ["unknown warehouse", "unknown customer location"], "")
    return o


class EtaQuantiles(BaseEstimator):
    """p50 / conformal p90 delivery hours.

    Trees cannot extrapolate: a warehouse booked far beyond its capacity (a promotion peak
    larger than any in the training span) would get the hours of the largest load seen. So the
    hours per day of backlog (load − 1 when the day's load is above capacity: days of work
    beyond capacity, derived from ``wh_load`` inside the model) are a linear
    term, its slope fitted by least squares on the training rows, and the quantile models
    learn the rest. p90 is then calibrated on the latest ``calibration_fraction`` of the
    training rows (split conformal, CQR): ``"additive"`` shifts p90 by a constant,
    ``"scaled"`` by a multiple of each order's p90 − p50 spread (wider where the model is
    less sure, e.g. long distances and overloaded days).

    Args:
        calibration_fraction: Latest share of training rows held out for conformal p90.
        level: Coverage of the upper quantile (0.9 → p90).
        conformal: ``"scaled"`` or ``"additive"``.
        backlog_term: Fit the linear hours-per-backlog-day term (False: trees only).
        max_iter: Boosting iterations per quantile model.
        random_state: Seed.
    """

    def __init__(self, calibration_fraction: float = 0.2, level: float = 0.9,
                 conformal: str = "scaled", backlog_term: bool = True, max_iter: int = 200,
                 random_state: int = 0) -> None:
        self.calibration_fraction = calibration_fraction
        self.level = level
        self.conformal = conformal
        self.backlog_term = backlog_term
        self.max_iter = max_iter
        self.random_state = random_state

    def _model(self, q: float) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(loss="quantile", quantile=q, max_iter=self.max_iter,
                                             learning_rate=0.1, random_state=self.random_state)

    def fit(self, d: pd.DataFrame, y) -> EtaQuantiles:
        """Fit on an ``eta_features`` frame in time order and delivery hours ``y``."""
        if self.conformal not in ("scaled", "additive"):
            raise ValueError(f"conformal must be 'scaled' or 'additive', not {self.conformal!r}")
        ok = (d["problem"] == "").to_numpy()
        X, y = d.loc[ok, FEATURES].to_numpy(float), np.asarray(y, float)[ok]
        cut = int(len(X) * (1 - self.calibration_fraction))
        if cut < 100 or len(X) - cut < 50:
            raise ValueError(f"too few deliveries to fit ETA quantiles ({len(X)})")
        self.backlog_slope_ = _backlog_slope(X[:cut], y[:cut]) if self.backlog_term else 0.0
        r = y[:cut] - self._linear(X[:cut])
        self.p50_ = self._model(0.5).fit(X[:cut], r)
        self.upper_ = self._model(self.level).fit(X[:cut], r)
        p50, up = self._raw(X[cut:])
        scores = (y[cut:] - up) / self._scale(p50, up)
        k = min(len(scores), int(np.ceil((len(scores) + 1) * self.level)))
        self.conformal_shift_ = float(np.sort(scores)[k - 1])
        return self

    def _linear(self, X: np.ndarray) -> np.ndarray:
        return self.backlog_slope_ * _backlog(X)

    def _raw(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lin = self._linear(X)
        return self.p50_.predict(X) + lin, self.upper_.predict(X) + lin

    def _scale(self, p50: np.ndarray, up: np.ndarray) -> np.ndarray:
        if self.conformal == "additive":
            return np.ones_like(p50)
        return np.maximum(up - p50, 1.0)  # at least an hour: no zero-width scale

    def predict(self, d: pd.DataFrame) -> pd.DataFrame:
        """``order_id, p50_hours, p90_hours, problem`` (NaN hours where there is a problem)."""
        check_is_fitted(self, "conformal_shift_")
        ok = (d["problem"] == "").to_numpy()
        p50, p90 = np.full(len(d), np.nan), np.full(len(d), np.nan)
        if ok.any():
            X = d.loc[ok, FEATURES].to_numpy(float)
            lo, up = self._raw(X)
            p50[ok] = lo
            p90[ok] = np.maximum(up + self.conformal_shift_ * self._scale(lo, up), lo)
        return pd.DataFrame({"order_id": d["order_id"].to_numpy(), "p50_hours": p50,
                             "p90_hours": p90, "problem": d["problem"].to_numpy()})


def _backlog(X: np.ndarray) -> np.ndarray:
    """Days of booked work beyond the warehouse's daily capacity (0 when within it)."""
    return np.maximum(X[:, FEATURES.index("wh_load")] - 1.0, 0.0)


def _backlog_slope(X: np.ndarray, y: np.ndarray) -> float:
    """Least-squares hours per backlog day (with distance and an intercept), at least 0."""
    A = np.column_stack([np.ones(len(X)), X[:, FEATURES.index("dist_km")], _backlog(X)])
    if not (A[:, 2] > 0).any():
        return 0.0
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return float(max(coef[2], 0.0))


class DistanceBaseline(BaseEstimator):
    """Median-ish delivery hours as a monotone function of distance alone (isotonic)."""

    def fit(self, d: pd.DataFrame, y) -> DistanceBaseline:
        """Fit hours against ``dist_km``."""
        ok = (d["problem"] == "").to_numpy()
        self.iso_ = IsotonicRegression(out_of_bounds="clip").fit(
            d.loc[ok, "dist_km"].to_numpy(float), np.asarray(y, float)[ok])
        return self

    def predict(self, d: pd.DataFrame) -> np.ndarray:
        """Predicted hours per order."""
        check_is_fitted(self, "iso_")
        return self.iso_.predict(d["dist_km"].fillna(0).to_numpy(float))
