"""Churn family: calibrated classifier, derived features and retention strategies."""

from models.churn.classifier import ChurnClassifier, NotFittedError, feature_columns
from models.churn.features import DERIVED_COLUMNS, derived_features
from models.churn.strategy import (
    STRATEGIES,
    CoOccurrenceRecommender,
    RetentionConfig,
    assign_strategies,
)

__all__ = [
    "DERIVED_COLUMNS",
    "STRATEGIES",
    "ChurnClassifier",
    "CoOccurrenceRecommender",
    "NotFittedError",
    "RetentionConfig",
    "assign_strategies",
    "derived_features",
    "feature_columns",
]
