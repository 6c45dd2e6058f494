"""Churn classifier: model choice and calibration by time-based validation only.

Rows are customer snapshots at several cutoffs (a ``cutoff`` column). The estimator

1. picks the candidate (histogram gradient boosting or logistic regression) with the best
   ROC-AUC when trained on the earlier cutoffs and scored on the latest one;
2. calibrates it with expanding-window folds — fit on cutoffs before ``c``, calibrate
   (isotonic or sigmoid) on cutoff ``c`` — and averages the calibrated folds.

No random split ever mixes time. With a single cutoff, calibration falls back to stratified
folds *within* that one snapshot (still no mixing of different times).
Recency is a monotone-increasing constraint of the boosting model, so a longer time since the
last order never lowers the churn probability.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError  # noqa: F401  (re-exported: the one such error)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

log = logging.getLogger(__name__)

ID_COLUMNS = ("tenant_id", "customer_id")
NON_FEATURES = (*ID_COLUMNS, "cutoff", "churned", "segment")
CANDIDATES = ("hgb", "logreg")
# more recent activity never makes churn more likely (shallow trees, monotone in these)
DECREASING = ("frequency", "orders_30d", "orders_90d", "orders_180d", "orders_365d",
              "active_months", "bg_expected_90d")


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns of a feature frame that are model inputs (ids, label, cutoff excluded)."""
    return [
        c for c in frame.columns
        if c not in NON_FEATURES and (pd.api.types.is_numeric_dtype(frame[c])
                                      or pd.api.types.is_bool_dtype(frame[c]))
    ]


def uninformative_columns(X: pd.DataFrame, names: Sequence[str]) -> dict[str, str]:
    """Columns that cannot carry signal in training, with the reason: all-null or constant.

    A source that lacks a column (no channel, no delivery data) gives all-null or all-equal
    features; they are left out rather than fed to the model as fake values. A column with
    one value plus nulls is kept (missing vs present can be informative).
    """
    out = {}
    for c in names:
        col = X[c]
        if not col.notna().any():
            out[c] = "all null"
        elif col.notna().all() and col.nunique(dropna=True) <= 1:
            out[c] = f"constant {col.iloc[0]}"
    return out


class ChurnClassifier(BaseEstimator, ClassifierMixin):
    """Calibrated churn classifier chosen by time-based validation.

    Args:
        candidates: Model families to compare: ``"hgb"`` and/or ``"logreg"``.
        calibration: ``"isotonic"`` or ``"sigmoid"``.
        features: Feature columns; ``None`` uses every numeric non-id column.
        increasing: Features the boosting model must be monotone increasing in.
        decreasing: Features the boosting model must be monotone decreasing in.
        max_iter: Boosting iterations.
        learning_rate: Boosting learning rate.
        max_leaf_nodes: Leaves per tree (small trees generalise across seasons better).
        random_state: Seed.

    Attributes:
        feature_names_: Columns used, in order.
        dropped_features_: Candidate columns left out because they were all-null or constant
            in training, with the reason (e.g. a purchase log has no channel or delivery data).
        selected_: Chosen candidate.
        validation_auc_: ROC-AUC of each candidate on the latest training cutoff.
        calibrated_: The fitted ``CalibratedClassifierCV``.
    """

    def __init__(
        self,
        candidates: Sequence[str] = CANDIDATES,
        calibration: str = "isotonic",
        features: Sequence[str] | None = None,
        increasing: Sequence[str] = ("recency_days",),
        decreasing: Sequence[str] = DECREASING,
        max_iter: int = 150,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 6,
        random_state: int = 0,
    ) -> None:
        self.candidates = candidates
        self.calibration = calibration
        self.features = features
        self.increasing = increasing
        self.decreasing = decreasing
        self.max_leaf_nodes = max_leaf_nodes
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _make(self, kind: str):
        if kind == "hgb":
            cst = {c: 1 for c in self.increasing if c in self.feature_names_}
            cst |= {c: -1 for c in self.decreasing if c in self.feature_names_}
            return HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=80, l2_regularization=1.0,
                early_stopping=False,
                monotonic_cst=cst or None, random_state=self.random_state,
            )
        if kind == "logreg":
            return make_pipeline(
                SimpleImputer(strategy="median", keep_empty_features=True),
                FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"),
                StandardScaler(),
                LogisticRegression(C=0.5, max_iter=2000),
            )
        raise ValueError(f"unknown candidate {kind!r}; choose from {CANDIDATES}")

    def _check_X(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ChurnClassifier expects a pandas DataFrame of customer features")
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise ValueError(f"feature frame lacks columns the model was trained on: {missing}")
        return X[self.feature_names_].astype(float)

    def _check_fit_input(self, X: pd.DataFrame, y) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(X, pd.DataFrame) or X.empty:
            raise ValueError("churn training needs a non-empty DataFrame of customer features")
        y = np.asarray(y if y is not None else X["churned"]).astype(int)
        if len(y) != len(X):
            raise ValueError(f"{len(X)} feature rows but {len(y)} labels")
        if len(np.unique(y)) < 2:
            raise ValueError("churn training needs both churned and retained customers; "
                             f"all labels are {int(y[0])}")
        if "cutoff" in X.columns:
            cut = pd.to_datetime(X["cutoff"]).to_numpy()
        else:
            cut = np.full(len(X), np.datetime64("1970-01-01"))
        return y, cut

    def _time_folds(self, cut: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        uniq = np.unique(cut)
        folds = []
        for c in uniq[1:]:
            tr, te = np.flatnonzero(cut < c), np.flatnonzero(cut == c)
            if len(np.unique(y[tr])) == 2 and len(np.unique(y[te])) == 2:
                folds.append((tr, te))
        if folds:
            return folds
        log.warning("only one usable cutoff: calibrating on folds within that snapshot")
        skf = StratifiedKFold(3, shuffle=True, random_state=self.random_state)
        return list(skf.split(np.zeros(len(y)), y))

    def fit(self, X: pd.DataFrame, y=None) -> ChurnClassifier:
        """Select, fit and calibrate on snapshots (``cutoff`` column marks time).

        Args:
            X: Customer features, optionally with ``cutoff`` (several snapshots) and
                ``churned`` (the label, used when ``y`` is None).
            y: Churn labels (1 = churned).

        Returns:
            self
        """
        y, cut = self._check_fit_input(X, y)
        names = list(self.features or feature_columns(X))
        self.dropped_features_ = uninformative_columns(X, names)
        if self.dropped_features_:
            log.info("churn features dropped (no signal in training): %s", ", ".join(
                f"{c} ({why})" for c, why in self.dropped_features_.items()))
        self.feature_names_ = [c for c in names if c not in self.dropped_features_]
        if not self.feature_names_:
            raise ValueError("no informative feature columns to train on: every candidate "
                             f"is all-null or constant ({self.dropped_features_})")
        Xf = X[self.feature_names_].astype(float)
        folds = self._time_folds(cut, y)
        tr, te = folds[-1]
        self.validation_auc_ = {}
        for kind in self.candidates:
            m = self._make(kind).fit(Xf.iloc[tr], y[tr])
            self.validation_auc_[kind] = float(roc_auc_score(y[te], m.predict_proba(
                Xf.iloc[te])[:, 1]))
        self.selected_ = max(self.validation_auc_, key=self.validation_auc_.get)
        self.calibrated_ = CalibratedClassifierCV(
            clone(self._make(self.selected_)), method=self.calibration, cv=folds, ensemble=True
        ).fit(Xf, y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated ``[P(retained), P(churned)]`` per row."""
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict_proba(self._check_X(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Churn decision at probability 0.5."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Ids (when present) and ``churn_probability`` per customer, in input order."""
        proba = self.predict_proba(X)[:, 1]
        ids = [c for c in ID_COLUMNS if c in X.columns]
        out = X[ids].reset_index(drop=True).copy()
        out["churn_probability"] = proba
        return out
