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

    Args:
        calibration_fraction: Latest share of training rows held out for conformal p90.
        level: Coverage of the upper quantile (0.9 → p90).
        max_iter: Boosting iterations per quantile model.
        random_state: Seed.
    """

    def __init__(self, calibration_fraction: float = 0.2, level: float = 0.9,
                 max_iter: int = 200, random_state: int = 0) -> None:
        self.calibration_fraction = calibration_fraction
        self.level = level
        self.max_iter = max_iter
        self.random_state = random_state

    def _model(self, q: float) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(loss="quantile", quantile=q, max_iter=self.max_iter,
                                             learning_rate=0.1, random_state=self.random_state)

    def fit(self, d: pd.DataFrame, y) -> EtaQuantiles:
        """Fit on an ``eta_features`` frame in time order and delivery hours ``y``."""
        ok = (d["problem"] == "").to_numpy()
        X, y = d.loc[ok, FEATURES].to_numpy(float), np.asarray(y, float)[ok]
        cut = int(len(X) * (1 - self.calibration_fraction))
        if cut < 100 or len(X) - cut < 50:
            raise ValueError(f"too few deliveries to fit ETA quantiles ({len(X)})")
        self.p50_ = self._model(0.5).fit(X[:cut], y[:cut])
        self.upper_ = self._model(self.level).fit(X[:cut], y[:cut])
        scores = y[cut:] - self.upper_.predict(X[cut:])
        k = min(len(scores), int(np.ceil((len(scores) + 1) * self.level)))
        self.conformal_shift_ = float(np.sort(scores)[k - 1])
        return self

    def predict(self, d: pd.DataFrame) -> pd.DataFrame:
        """``order_id, p50_hours, p90_hours, problem`` (NaN hours where there is a problem)."""
        check_is_fitted(self, "conformal_shift_")
        ok = (d["problem"] == "").to_numpy()
        p50, p90 = np.full(len(d), np.nan), np.full(len(d), np.nan)
        if ok.any():
            X = d.loc[ok, FEATURES].to_numpy(float)
            p50[ok] = self.p50_.predict(X)
            p90[ok] = np.maximum(self.upper_.predict(X) + self.conformal_shift_, p50[ok])
        return pd.DataFrame({"order_id": d["order_id"].to_numpy(), "p50_hours": p50,
                             "p90_hours": p90, "problem": d["problem"].to_numpy()})


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
