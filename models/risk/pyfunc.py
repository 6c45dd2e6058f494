"""MLflow pyfunc adapter for the risk families (triage, abnormal orders, refunds)."""

from __future__ import annotations

import pickle

import mlflow
import pandas as pd


class RiskDecisionModel(mlflow.pyfunc.PythonModel):
    """Serves a fitted risk estimator's ``decide`` (one row of decisions per input row)."""

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
        if self.text_column:
            return self.estimator.decide(model_input[self.text_column])
        return self.estimator.decide(model_input)
