"""Simple churn baselines, each turned into a probability by the same training snapshots.

A baseline is only a fair comparison if it is scored like the classifier: ROC-AUC, PR-AUC and
Brier on the test snapshot, with probabilities learned on the training snapshots (never on
the test labels). So every baseline here is a small sklearn model fitted on the training
frame:

* ``recency``: logistic regression on ``log1p(recency_days)`` (monotone, so its ROC-AUC is
  that of recency alone);
* ``rfm_logit``: logistic regression on log-scaled recency, frequency and monetary;
* ``rfm_gbm``: histogram gradient boosting on recency, frequency and monetary;
* ``p_alive``: logistic regression on the BG/NBD ``1 - p_alive``;
* ``bg_expected``: logistic regression on ``log1p`` of BG/NBD expected purchases (90 days).

A baseline whose columns are absent or all-null is skipped (named in the log).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

log = logging.getLogger(__name__)

RFM = ("recency_days", "frequency", "monetary")
BASELINES: dict[str, tuple[str, ...]] = {
    "recency": ("recency_days",),
    "rfm_logit": RFM,
    "rfm_gbm": RFM,
    "p_alive": ("p_alive",),
    "bg_expected": ("bg_expected_90d",),
}


def _slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _one_minus(x: np.ndarray) -> np.ndarray:
    return 1.0 - x


def make_baseline(name: str, random_state: int = 0):
    """Unfitted sklearn model of one baseline (see the module docstring)."""
    if name == "rfm_gbm":
        return HistGradientBoostingClassifier(max_iter=100, random_state=random_state)
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    transform = _one_minus if name == "p_alive" else _slog
    return make_pipeline(SimpleImputer(strategy="median"), FunctionTransformer(transform),
                         StandardScaler(), LogisticRegression(max_iter=1000))


def baseline_probabilities(train: pd.DataFrame, test: pd.DataFrame,
                           random_state: int = 0) -> dict[str, np.ndarray]:
    """Churn probability of every applicable baseline on ``test``, fitted on ``train``.

    Args:
        train: Labelled training snapshots (``churned`` column).
        test: Test snapshot with the same feature columns.
        random_state: Seed of the boosting baseline.

    Returns:
        Baseline name → probabilities aligned with ``test`` rows.
    """
    out = {}
    y = train["churned"].to_numpy(int)
    for name, cols in BASELINES.items():
        cols = list(cols)
        if not set(cols) <= set(train.columns) or not set(cols) <= set(test.columns):
            log.info("baseline %s skipped: columns %s absent", name, cols)
            continue
        if train[cols].isna().all().any():
            log.info("baseline %s skipped: a column of %s is all null", name, cols)
            continue
        m = make_baseline(name, random_state).fit(train[cols].astype(float), y)
        out[name] = m.predict_proba(test[cols].astype(float))[:, 1]
    return out
