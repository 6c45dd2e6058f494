"""Return probability per order line: gradient boosting vs a per-SKU historical-rate baseline.

A line is "returned" when the order has a ``Returned`` event for its SKU. Features known
once the order is delivered: the SKU's and category's smoothed historical return rates
(learned in ``fit``), price, quantity, channel, lateness and the customer's earlier returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

CHANNELS = ("app", "mini_program", "tmall", "jd", "douyin", "pos", "web")
FEATURES = ["sku_rate", "category_rate", "log_price", "quantity", "is_late",
            "customer_prior_returns", "customer_prior_lines", *[f"ch_{c}" for c in CHANNELS]]


def return_lines(orders: pd.DataFrame, lines: pd.DataFrame, products: pd.DataFrame,
                 events: pd.DataFrame) -> pd.DataFrame:
    """Delivered order lines with ``returned`` label, category, channel, lateness, history."""
    done = orders[orders["status"].isin(["delivered", "returned"])]
    cols = ["order_id", "customer_id", "order_ts", "channel", "is_late"]
    d = lines[lines["is_product"].astype(bool)].merge(done[cols], on="order_id")
    d = d.merge(products[["sku", "category"]], on="sku", how="left")
    ret = events.loc[events["event_type"] == "Returned", ["order_id", "sku"]].drop_duplicates()
    d = d.merge(ret.assign(returned=True), on=["order_id", "sku"], how="left")
    d["returned"] = d["returned"].eq(True)
    d = d.sort_values("order_ts", kind="stable").reset_index(drop=True)
    known = d["customer_id"].notna()
    g = d[known].groupby("customer_id")["returned"]
    d["customer_prior_returns"] = 0.0
    d["customer_prior_lines"] = 0.0
    d.loc[known, "customer_prior_returns"] = (g.cumsum() - d.loc[known, "returned"]).astype(float)
    d.loc[known, "customer_prior_lines"] = g.cumcount().astype(float)
    return d


def _smoothed_rate(keys: pd.Series, y: pd.Series, prior: float, k: float = 20.0) -> pd.Series:
    s = y.groupby(keys).agg(["sum", "count"])
    return (s["sum"] + k * prior) / (s["count"] + k)


class ReturnModel(BaseEstimator):
    """Return-probability classifier on ``return_lines`` rows.

    Args:
        smoothing: Pseudo-count pulling rare SKUs' rates toward their category's.
        max_iter: Boosting iterations.
        random_state: Seed.
    """

    def __init__(self, smoothing: float = 20.0, max_iter: int = 200,
                 random_state: int = 0) -> None:
        self.smoothing = smoothing
        self.max_iter = max_iter
        self.random_state = random_state

    def _features(self, d: pd.DataFrame) -> np.ndarray:
        cat = d["category"].map(self.category_rate_).astype(float).fillna(self.prior_)
        sku = d["sku"].map(self.sku_rate_).astype(float).fillna(cat)
        X = pd.DataFrame({"sku_rate": sku, "category_rate": cat,
                          "log_price": np.log1p(d["unit_price"].astype(float)),
                          "quantity": d["quantity"].astype(float),
                          "is_late": d["is_late"].astype(float).fillna(0.0),
                          "customer_prior_returns": d["customer_prior_returns"].astype(float),
                          "customer_prior_lines": d["customer_prior_lines"].astype(float)})
        for c in CHANNELS:
            X[f"ch_{c}"] = (d["channel"] == c).astype(float)
        return X[FEATURES].to_numpy(float)

    def fit(self, d: pd.DataFrame, y) -> ReturnModel:
        """Learn SKU/category rates and the classifier (rates from the same rows: smoothed)."""
        y = pd.Series(np.asarray(y, dtype=float), index=d.index)
        self.prior_ = float(y.mean())
        self.category_rate_ = _smoothed_rate(d["category"], y, self.prior_, self.smoothing)
        self.sku_rate_ = _smoothed_rate(d["sku"], y, self.prior_, self.smoothing)
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=0.05, max_depth=4,
            random_state=self.random_state).fit(self._features(d), y.astype(int))
        return self

    def predict_proba(self, d: pd.DataFrame) -> np.ndarray:
        """Return probability (column 1) per line."""
        check_is_fitted(self, "model_")
        p = self.model_.predict_proba(self._features(d))[:, 1]
        return np.column_stack([1 - p, p])

    def sku_rates(self) -> pd.Series:
        """Expected return rate per SKU (for inventory and dashboard views)."""
        check_is_fitted(self, "model_")
        return self.sku_rate_.rename("expected_return_rate")
