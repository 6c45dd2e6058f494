"""Forecasting estimators in the Nixtla long format (``unique_id, ds, y`` + exogenous).

``fit(df) -> self``; ``predict(h, X_future=None, level=(80, 95))`` returns
``unique_id, ds, yhat, yhat-lo-80, yhat-hi-80, yhat-lo-95, yhat-hi-95``.
"""

from models.forecast.base import BaseForecaster, ForecastInputError, NotFittedError
from models.forecast.combination import CombinationForecaster
from models.forecast.conformal import Conformalized
from models.forecast.ensemble import EnsembleForecaster
from models.forecast.gbm import GBMForecaster
from models.forecast.lstm import LSTMForecaster
from models.forecast.naive import SeasonalNaive
from models.forecast.prophet import ProphetForecaster
from models.forecast.theta import ThetaForecaster

#: Model name -> class, for the backtest candidates and the champion gate.
MODELS: dict[str, type[BaseForecaster]] = {
    "seasonal_naive": SeasonalNaive,
    "prophet": ProphetForecaster,
    "lstm": LSTMForecaster,
    "gbm": GBMForecaster,
    "theta": ThetaForecaster,
    "ensemble": EnsembleForecaster,
    "combination": CombinationForecaster,
}

__all__ = [
    "MODELS",
    "BaseForecaster",
    "CombinationForecaster",
    "Conformalized",
    "EnsembleForecaster",
    "GBMForecaster",
    "ForecastInputError",
    "LSTMForecaster",
    "NotFittedError",
    "ProphetForecaster",
    "SeasonalNaive",
    "ThetaForecaster",
]
