"""Model behaviour: every model learns a known weekly pattern; exogenous ones a holiday spike."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecast import LSTMForecaster, ProphetForecaster, SeasonalNaive
from models.forecast.synthetic import WEEKLY, make_panel, split_last

EXOG = ["is_holiday", "promotion_intensity"]


@pytest.fixture(scope="module")
def data():
    # 360 days, a holiday every 10 days; the last 7 days contain one (day 357)
    df = make_panel(n_series=3, n_days=360, level=(150.0, 400.0), holiday_every=10,
                    holiday_lift=1.5, promo_lift=0.0, random_state=3)
    train, test = split_last(df, 7)
    assert test["is_holiday"].sum() == 3  # one holiday day per series
    return df, train, test


def weekly_profile(fc, test):
    """Forecast per weekday relative to the mean, on non-holiday days, averaged over series."""
    m = fc.merge(test[["unique_id", "ds", "is_holiday"]], on=["unique_id", "ds"])
    m = m[m["is_holiday"] == 0]
    m["rel"] = m["yhat"] / m.groupby("unique_id")["yhat"].transform("mean")
    return m.groupby(m["ds"].dt.dayofweek)["rel"].mean()


def truth_profile(days):
    w = WEEKLY[days]
    return w / w.mean()


def holiday_ratio(fc, test):
    """Holiday forecast ÷ the mean non-holiday forecast of the same series, weekday-adjusted."""
    m = fc.merge(test[["unique_id", "ds", "is_holiday"]], on=["unique_id", "ds"])
    m["adj"] = m["yhat"] / WEEKLY[m["ds"].dt.dayofweek]
    hol = m[m["is_holiday"] == 1].set_index("unique_id")["adj"]
    base = m[m["is_holiday"] == 0].groupby("unique_id")["adj"].mean()
    return (hol / base).to_numpy()


def test_seasonal_naive_repeats_the_weekly_pattern():
    df = make_panel(n_series=1, n_days=364, noise=False, holiday_lift=0.0, promo_lift=0.0)
    train, test = split_last(df, 14)
    fc = SeasonalNaive().fit(train).predict(14)
    np.testing.assert_allclose(fc["yhat"].to_numpy(), test["y"].to_numpy(), rtol=1e-9)


def test_prophet_learns_weekly_pattern_and_holiday_spike(data):
    _, train, test = data
    fc = ProphetForecaster(regressors=EXOG, transform="log1p", uncertainty_samples=0,
                           n_jobs=1).fit(train).predict(7, X_future=test, level=())
    prof = weekly_profile(fc, test)
    np.testing.assert_allclose(prof.to_numpy(), truth_profile(prof.index.to_numpy()), atol=0.08)
    assert (holiday_ratio(fc, test) > 2.0).all()  # truth: 2.5x


def test_lstm_learns_weekly_pattern_and_holiday_spike(data):
    _, train, test = data
    model = LSTMForecaster(horizon=7, exog=EXOG, input_size=28, max_steps=400, batch_size=64,
                           hidden_size=32, calibration_days=14, num_threads=1, random_state=0)
    fc = model.fit(train).predict(7, X_future=test, level=())
    prof = weekly_profile(fc, test)
    np.testing.assert_allclose(prof.to_numpy(), truth_profile(prof.index.to_numpy()), atol=0.1)
    assert (holiday_ratio(fc, test) > 1.8).all()  # truth: 2.5x
    imp = model.feature_importance().set_index("feature")["importance"]
    assert imp["is_holiday"] > imp["promotion_intensity"]  # promotions have no effect here
