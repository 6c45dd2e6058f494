"""Rolling-origin backtest and metrics, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.forecast import LSTMForecaster, SeasonalNaive
from models.forecast.base import ForecastInputError
from models.forecast.synthetic import make_panel
from pipelines.backtest import (
    backtest_models,
    cross_validation,
    cutoffs,
    evaluate,
    score,
    seasonal_scale,
)


@pytest.fixture(scope="module")
def panel():
    return make_panel(n_series=2, n_days=150, level=(20.0, 80.0), random_state=5)


def test_cutoffs_are_step_apart_and_last_window_ends_on_last_date(panel):
    cuts = cutoffs(panel, h=7, n_windows=4, step=7)
    assert len(cuts) == 4
    assert all((b - a).days == 7 for a, b in zip(cuts, cuts[1:], strict=False))
    assert cuts[-1] + pd.Timedelta(days=7) == panel["ds"].max()


def test_cross_validation_frame(panel):
    cv = cross_validation(SeasonalNaive(), panel, h=7, n_windows=3, step=7, progress=False)
    assert list(cv.columns[:4]) == ["unique_id", "ds", "cutoff", "y"]
    assert len(cv) == 2 * 3 * 7 and cv["cutoff"].nunique() == 3
    steps = (cv["ds"] - cv["cutoff"]).dt.days
    assert steps.min() == 1 and steps.max() == 7
    # no leakage: the naive forecast equals the actual one week before the target day
    y = panel.set_index(["unique_id", "ds"])["y"]
    prev = [y[(u, d - pd.Timedelta(days=7))] for u, d in zip(cv["unique_id"], cv["ds"],
                                                            strict=True)]
    np.testing.assert_allclose(cv["yhat"], prev)


def test_refit_false_reuses_one_fit_with_new_history(panel):
    model = LSTMForecaster(horizon=7, input_size=14, max_steps=20, batch_size=16,
                           hidden_size=8, calibration_days=7, num_threads=1)
    cv = cross_validation(model, panel, h=7, n_windows=2, step=7, refit=False, progress=False)
    assert cv["cutoff"].nunique() == 2 and len(cv) == 28


def test_metrics_by_hand():
    hist = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=14),
                         "y": [10.0] * 7 + [12.0] * 7})
    cv = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-15", periods=2),
                       "cutoff": pd.Timestamp("2024-01-14"), "y": [10.0, 20.0],
                       "yhat": [12.0, 16.0], "yhat-lo-80": [11.0, 15.0],
                       "yhat-hi-80": [13.0, 21.0]})
    m = score(cv, hist, level=(80,))
    assert m["wape"] == pytest.approx(6 / 30)
    assert m["accuracy"] == pytest.approx(1 - 6 / 30)
    assert m["mase"] == pytest.approx(3 / 2)  # MAE 3, weekly naive in-sample MAE 2
    assert m["smape"] == pytest.approx(np.mean([4 / 22, 8 / 36]))
    assert m["coverage_80"] == pytest.approx(0.5)
    pin = [0.5 * 2, 0.5 * 4,  # median
           0.9 * 1, 0.1 * 5,  # lower bound (tau 0.1): over-forecast, under-forecast
           0.1 * 3, 0.1 * 1]  # upper bound (tau 0.9): both over-forecast
    assert m["pinball"] == pytest.approx(np.mean(pin))


def test_seasonal_scale_is_weekly_naive_mae():
    hist = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=9),
                         "y": [1, 2, 3, 4, 5, 6, 7, 3, 6.0]})
    assert seasonal_scale(hist)["a"] == pytest.approx((2 + 4) / 2)


def test_evaluate_table_per_model_and_horizon(panel):
    cv = backtest_models({"naive": SeasonalNaive(), "naive14": SeasonalNaive(14)}, panel,
                         h=7, n_windows=2, progress=False)
    table = evaluate(cv, panel, horizons=(3, 7))
    assert list(table[["model", "horizon"]].itertuples(index=False, name=None)) == [
        ("naive", 3), ("naive", 7), ("naive14", 3), ("naive14", 7)]
    assert {"wape", "accuracy", "mase", "smape", "coverage_80", "coverage_95",
            "pinball"} <= set(table.columns)
    assert (table["n_windows"] == 2).all()


def test_not_enough_history(panel):
    with pytest.raises(ForecastInputError, match="not enough history"):
        cutoffs(panel, h=30, n_windows=10, step=30)
