"""Churn family: calibrated classifier, derived features and retention strategies."""

from models.churn.classifier import ChurnClassifier, NotFittedError, feature_columns
from models.churn.features import DERIVED_COLUMNS, derived_features
from models.churn.strategy import (
    STRATEGIES,
    CampaignAssumptions,
    CoOccurrenceRecommender,
    RetentionConfig,
    assign_strategies,
    strategy_value,
)

__all__ = [
    "DERIVED_COLUMNS",
    "STRATEGIES",
    "CampaignAssumptions",
    "ChurnClassifier",
    "CoOccurrenceRecommender",
    "NotFittedError",
    "RetentionConfig",
    "assign_strategies",
    "derived_features",
    "feature_columns",
    "strategy_value",
]
