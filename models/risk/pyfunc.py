"""MLflow pyfunc adapter for the risk and after-sales families."""

from __future__ import annotations

import pickle

import mlflow
import pandas as pd


class RiskDecisionModel(mlflow.pyfunc.PythonModel):
    """Serves a fitted risk or after-sales estimator, one output row per input row.

    Triage, anomaly and refunds answer with ``decide``; returns with a probability; ETA with
    its quantiles.
    """

    def __init__(self, estimator=None, text_column: str | None = None) -> None:
        self.estimator = estimator
        self.text_column = text_column

    def load_context(self, context) -> None:
        """Load the pickled estimator logged as the ``estimator`` artifact."""
        if self.estimator is None:
            with open(context.artifacts["estimator"], "rb") as f:
                self.estimator = pickle.load(f)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Decisions for ``model_input`` (messages, risk-feed rows or refund feature rows)."""
        est = self.estimator
        if self.text_column:
            return est.decide(model_input[self.text_column])
        if hasattr(est, "decide"):
            return est.decide(model_input)
        if hasattr(est, "sku_rates"):  # return model: probability per line
            return pd.DataFrame({"p_return": est.predict_proba(model_input)[:, 1]})
        return est.predict(model_input)  # ETA: order_id, p50_hours, p90_hours, problem
