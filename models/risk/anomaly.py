"""Abnormal-order detection: features, rules, ECOD / IsolationForest, a supervised classifier.

Every scorer gives reason codes (which features made the order unusual).

Input is the risk feed (one row per order: ``order_id, customer_id, order_ts, total_amount,
top_sku, top_quantity, account_age_days, device_id, address_id, ship_lat, ship_lon,
home_lat, home_lon``). Features are computed from the order and the orders *before* it only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.utils.validation import check_is_fitted

FEATURES = ["log_account_age", "log_amount", "amount_vs_history", "ship_distance_km",
            "qty_vs_sku", "device_orders_1h", "address_orders_1h"]
REASONS = {"log_account_age": "NEW_ACCOUNT", "log_amount": "HIGH_AMOUNT",
           "amount_vs_history": "AMOUNT_ABOVE_HISTORY", "ship_distance_km": "FAR_FROM_HOME",
           "qty_vs_sku": "QUANTITY_ABOVE_SKU_NORM", "device_orders_1h": "DEVICE_BURST",
           "address_orders_1h": "ADDRESS_BURST"}
# direction in which a feature is suspicious (+1: high is unusual, -1: low is unusual)
DIRECTION = np.array([-1, 1, 1, 1, 1, 1, 1], dtype=float)
REQUIRED = ["order_id", "customer_id", "order_ts", "total_amount", "top_sku", "top_quantity",
            "account_age_days", "device_id", "address_id", "ship_lat", "ship_lon", "home_lat",
            "home_lon"]


def _window_count(groups: pd.Series, ts: pd.Series, seconds: float) -> np.ndarray:
    """Orders of the same group in the ``seconds`` up to and including each order."""
    code = pd.factorize(groups)[0].astype(np.float64)
    t = (ts.astype("int64") // 10**9).to_numpy(np.float64)
    t = t - t.min()
    key = code * (t.max() + 10 * seconds + 1) + t
    order = np.argsort(key, kind="stable")
    k = key[order]
    left = np.searchsorted(k, k - seconds, side="left")
    out = np.empty(len(k))
    out[order] = np.arange(len(k)) - left + 1
    return out


def _amount_vs_history(df: pd.DataFrame) -> np.ndarray:
    """log(amount / mean of the customer's earlier orders); 0 for a first order."""
    d = df[["customer_id", "order_ts", "total_amount"]].copy()
    d["i"] = np.arange(len(d))
    d = d.sort_values(["customer_id", "order_ts"], kind="stable")
    g = d.groupby("customer_id")["total_amount"]
    prev_sum, prev_n = g.cumsum() - d["total_amount"], g.cumcount()
    mean = (prev_sum / prev_n.replace(0, np.nan)).to_numpy()
    ratio = np.log1p(d["total_amount"].to_numpy()) - np.log1p(mean)
    out = np.empty(len(d))
    out[d["i"].to_numpy()] = np.nan_to_num(ratio, nan=0.0)
    return out


def order_risk_features(feed: pd.DataFrame, sku_median: pd.Series) -> pd.DataFrame:
    """Feature frame (``FEATURES`` columns) for the risk feed, given per-SKU median quantities."""
    missing = [c for c in REQUIRED if c not in feed.columns]
    if missing:
        raise ValueError(f"risk feed lacks columns {missing}")
    ts = pd.to_datetime(feed["order_ts"], utc=True)
    dlat = feed["ship_lat"].astype(float) - feed["home_lat"].astype(float)
    dlon = (feed["ship_lon"].astype(float) - feed["home_lon"].astype(float)) * np.cos(
        np.radians(feed["home_lat"].astype(float)))
    norm = feed["top_sku"].map(sku_median).astype(float).fillna(float(sku_median.median()))
    return pd.DataFrame({
        "log_account_age": np.log1p(feed["account_age_days"].astype(float).clip(lower=0)),
        "log_amount": np.log1p(feed["total_amount"].astype(float).clip(lower=0)),
        "amount_vs_history": _amount_vs_history(feed),
        "ship_distance_km": np.hypot(dlat, dlon).to_numpy() * 111.0,
        "qty_vs_sku": feed["top_quantity"].astype(float).to_numpy() / norm.clip(lower=1).to_numpy(),
        "device_orders_1h": _window_count(feed["device_id"], ts, 3600),
        "address_orders_1h": _window_count(feed["address_id"], ts, 3600),
    }, index=feed.index)


def rule_flags(X: pd.DataFrame) -> pd.DataFrame:
    """The design-style rule set: one boolean column per rule, and ``n_rules`` fired."""
    r = pd.DataFrame({
        "NEW_ACCOUNT_HIGH_VALUE": (np.expm1(X["log_account_age"]) < 7)
        & (np.expm1(X["log_amount"]) > 2000),
        "DEVICE_BURST": X["device_orders_1h"] >= 3,
        "FAR_FROM_HOME": X["ship_distance_km"] > 800,
        "QUANTITY_ABOVE_SKU_NORM": X["qty_vs_sku"] > 8,
    }, index=X.index)
    r["n_rules"] = r.sum(axis=1)
    return r


def ecod_scores(train: np.ndarray, X: np.ndarray) -> np.ndarray:
    """ECOD (Li et al. 2022): sum over features of -log of the empirical tail probability.

    Uses the larger of the left- and right-tail scores per feature as in the paper's
    skewness-free variant; ``train`` gives the empirical distributions.
    """
    n = len(train)
    total = np.zeros(len(X))
    for j in range(train.shape[1]):
        col = np.sort(train[:, j])
        left = (np.searchsorted(col, X[:, j], side="right") + 1) / (n + 1)
        right = (n - np.searchsorted(col, X[:, j], side="left") + 1) / (n + 1)
        total += np.maximum(-np.log(left), -np.log(right))
    return total


class OrderAnomalyDetector(BaseEstimator):
    """Abnormal-order scorer: ``method`` is ``supervised``, ``iforest`` or ``ecod``.

    ``supervised`` is a gradient-boosted classifier on the features plus the ECOD score
    (needs labels); the unsupervised methods ignore ``y``. ``decide`` flags the top
    ``flag_rate`` share by a threshold learned on the training scores and names reasons.

    Args:
        method: Scoring method.
        flag_rate: Share of orders to flag for review.
        n_estimators: Trees (IsolationForest) or boosting iterations (supervised).
        random_state: Seed.
    """

    def __init__(self, method: str = "supervised", flag_rate: float = 0.01,
                 n_estimators: int = 200, random_state: int = 0) -> None:
        self.method = method
        self.flag_rate = flag_rate
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, feed: pd.DataFrame, y=None) -> OrderAnomalyDetector:
        """Learn SKU norms, reference distributions and the scorer from the risk feed."""
        if self.method not in ("supervised", "iforest", "ecod"):
            raise ValueError(f"unknown method {self.method!r}")
        self.sku_median_ = feed.groupby("top_sku")["top_quantity"].median().astype(float)
        X = order_risk_features(feed, self.sku_median_)
        self.train_ = X.to_numpy(float)
        self.center_ = np.median(self.train_, axis=0)
        iqr = np.subtract(*np.percentile(self.train_, [75, 25], axis=0))
        self.scale_ = np.where(iqr > 0, iqr, self.train_.std(axis=0) + 1e-9)
        if self.method == "iforest":
            self.model_ = IsolationForest(n_estimators=self.n_estimators,
                                          random_state=self.random_state).fit(self.train_)
        elif self.method == "supervised":
            if y is None:
                raise ValueError("method='supervised' needs labels y")
            Z = np.column_stack([self.train_, ecod_scores(self.train_, self.train_)])
            self.model_ = HistGradientBoostingClassifier(
                max_iter=self.n_estimators, learning_rate=0.05,
                random_state=self.random_state).fit(Z, np.asarray(y, dtype=int))
        self.threshold_ = float(np.quantile(self._raw(self.train_), 1 - self.flag_rate))
        return self

    def _raw(self, X: np.ndarray) -> np.ndarray:
        if self.method == "ecod":
            return ecod_scores(self.train_, X)
        if self.method == "iforest":
            return -self.model_.score_samples(X)
        Z = np.column_stack([X, ecod_scores(self.train_, X)])
        return self.model_.predict_proba(Z)[:, 1]

    def score(self, feed: pd.DataFrame) -> np.ndarray:
        """Anomaly score per order (higher = more unusual)."""
        check_is_fitted(self, "threshold_")
        return self._raw(order_risk_features(feed, self.sku_median_).to_numpy(float))

    def decide(self, feed: pd.DataFrame, top: int = 2) -> pd.DataFrame:
        """``order_id, score, flagged, reasons``.

        Reasons name up to ``top`` features more than 2 IQRs from the training median in the
        suspicious direction (also for unflagged orders, for the review board).
        """
        check_is_fitted(self, "threshold_")
        X = order_risk_features(feed, self.sku_median_).to_numpy(float)
        s = self._raw(X)
        z = (X - self.center_) / self.scale_ * DIRECTION
        names = np.array([REASONS[f] for f in FEATURES])
        best = np.argsort(-z, axis=1)[:, :top]
        reasons = [";".join(names[b][z[i, b] > 2]) for i, b in enumerate(best)]
        return pd.DataFrame({"order_id": feed["order_id"].to_numpy(), "score": s,
                             "flagged": s >= self.threshold_, "reasons": reasons})
