"""MLflow adapter for the churn classifier: the one place the churn family meets MLflow."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from models.churn.classifier import ChurnClassifier
from models.churn.strategy import RetentionConfig, assign_strategies

OUTPUT_COLUMNS = (
    "tenant_id", "customer_id", "churn_probability", "strategy", "coupon_amount",
    "coupon_valid_days",
)


def model_input(features: pd.DataFrame) -> pd.DataFrame:
    """Cast numeric feature columns to float64, the types of the served model's signature.

    MLflow refuses to convert int64 to float64 implicitly, so callers (batch scoring, the
    gate, the OMS core) send every feature as a double.
    """
    num = [c for c in features.columns
           if c not in ("tenant_id", "customer_id") and (
               pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(
                   features[c]))]
    return features.astype(dict.fromkeys(num, "float64"))


class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """Serve ``churn_classifier``: customer features in, probability and strategy out.

    Recommendations need the purchase history, so the served model returns the strategy
    (coupon terms included); the batch scorer fills in recommended SKUs.

    Args:
        model: A fitted :class:`ChurnClassifier`.
        config: Retention thresholds and coupon terms.
    """

    def __init__(self, model: ChurnClassifier, config: RetentionConfig | None = None) -> None:
        self.model = model
        self.config = config or RetentionConfig()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Score a frame of customer features (one row per customer)."""
        frame = pd.DataFrame(model_input)
        for c in ("tenant_id", "customer_id"):
            if c not in frame.columns:
                frame[c] = ""
        scored = self.model.predict_frame(frame)
        out = assign_strategies(scored, self.config)
        return out[list(OUTPUT_COLUMNS)]
