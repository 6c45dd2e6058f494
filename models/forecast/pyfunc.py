"""The MLflow adapter of the forecasting family: the one place a forecaster meets MLflow.

The registered model takes the rows to forecast — ``unique_id, ds`` plus the known-future
exogenous columns the model was trained with — and returns one forecast row per input row:
``unique_id, ds, yhat, yhat-lo-80, yhat-hi-80, yhat-lo-95, yhat-hi-95``. Days must lie after
the training data's last date and within the model's horizon.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from sklearn.base import clone

from models.forecast.base import (
    DS,
    ID,
    BaseForecaster,
    ForecastInputError,
    check_horizon,
    future_dates,
)


class ForecastPyfunc(mlflow.pyfunc.PythonModel):
    """Wrap a fitted forecaster for ``mlflow.pyfunc.load_model``.

    Args:
        forecaster: A fitted forecaster.
        exog: Known-future columns the forecaster needs in each input row.
        max_horizon: Longest horizon served (days after the training data's last date).
        spec: The unfitted estimator (same class and parameters), so the gate can re-score
            this model on a challenger's backtest windows.
    """

    def __init__(
        self, forecaster: BaseForecaster, exog: list[str], max_horizon: int,
        spec: BaseForecaster | None = None,
    ) -> None:
        self.forecaster = forecaster
        self.exog = list(exog)
        self.max_horizon = int(max_horizon)
        self.spec = spec if spec is not None else clone(forecaster)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast the requested (unique_id, ds) rows from the end of the training data."""
        df = pd.DataFrame(model_input)
        missing = [c for c in (ID, DS, *self.exog) if c not in df.columns]
        if missing:
            raise ForecastInputError(f"forecast input is missing column(s) {missing}")
        df = df.assign(**{ID: df[ID].astype(str), DS: pd.to_datetime(df[DS]).dt.normalize()})
        last = self.forecaster.last_ds_
        unknown = sorted(set(df[ID]) - set(last.index))
        if unknown:
            raise ForecastInputError(f"unknown unique_id(s) {unknown[:5]}; not in training data")
        steps = (df[DS] - df[ID].map(last)).dt.days
        if (steps <= 0).any():
            raise ForecastInputError("ds must be after the last training date of each series")
        h = check_horizon(int(steps.max()), self.max_horizon)
        ids = list(dict.fromkeys(df[ID]))
        xf = self._future(df, ids, h) if self.exog else None
        fc = self.forecaster.predict(h, X_future=xf, ids=ids)
        return df[[ID, DS]].merge(fc, on=[ID, DS], how="left")

    def _future(self, df: pd.DataFrame, ids: list[str], h: int) -> pd.DataFrame:
        """Exogenous values for every day 1..h (days not in the input take the nearest)."""
        grid = future_dates(self.forecaster.last_ds_.loc[ids], h)
        full = grid.merge(df[[ID, DS, *self.exog]].drop_duplicates([ID, DS]), on=[ID, DS],
                          how="left")
        full[self.exog] = full.groupby(ID)[self.exog].transform(lambda s: s.ffill().bfill())
        return full
