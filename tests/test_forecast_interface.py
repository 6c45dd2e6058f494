"""The forecaster interface: columns, shapes, non-negativity, interval order, seeds, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.forecast import LSTMForecaster, ProphetForecaster, SeasonalNaive
from models.forecast.base import ForecastInputError, output_columns
from models.forecast.synthetic import make_panel, split_last

EXOG = ["is_holiday", "promotion_intensity"]


def tiny_lstm(**kw):
    base = dict(horizon=7, exog=EXOG, input_size=14, max_steps=30, batch_size=32,
                hidden_size=8, calibration_days=14, num_threads=1)
    return LSTMForecaster(**(base | kw))


MODELS = {
    "naive": lambda: SeasonalNaive(),
    "prophet": lambda: ProphetForecaster(regressors=EXOG, uncertainty_samples=20, n_jobs=1),
    "lstm": tiny_lstm,
}


@pytest.fixture(scope="module")
def panel():
    return make_panel(n_series=2, n_days=120, level=(5.0, 50.0), random_state=1)


@pytest.fixture(scope="module")
def fitted(panel):
    train, test = split_last(panel, 7)
    return {k: f().fit(train) for k, f in MODELS.items()}, train, test


@pytest.mark.parametrize("kind", list(MODELS))
def test_predict_shape_columns_and_intervals(fitted, kind):
    models, train, test = fitted
    fc = models[kind].predict(7, X_future=test)
    assert list(fc.columns) == output_columns((80, 95))
    assert len(fc) == 2 * 7
    assert set(fc["unique_id"]) == set(train["unique_id"])
    # the horizon starts the day after each series' last date
    assert (fc.groupby("unique_id")["ds"].min() == train.groupby("unique_id")["ds"].max()
            + pd.Timedelta(days=1)).all()
    num = fc.drop(columns=["unique_id", "ds"])
    assert (num >= 0).all().all() and np.isfinite(num.to_numpy()).all()
    assert (fc["yhat-lo-95"] <= fc["yhat-lo-80"]).all()
    assert (fc["yhat-lo-80"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat-hi-80"]).all()
    assert (fc["yhat-hi-80"] <= fc["yhat-hi-95"]).all()


@pytest.mark.parametrize("kind", list(MODELS))
def test_shorter_horizon_and_subset_of_ids(fitted, kind):
    models, _, test = fitted
    fc = models[kind].predict(3, X_future=test, level=(90,), ids=["s0001"])
    assert list(fc.columns) == ["unique_id", "ds", "yhat", "yhat-lo-90", "yhat-hi-90"]
    assert len(fc) == 3 and set(fc["unique_id"]) == {"s0001"}


@pytest.mark.parametrize("kind", ["prophet", "lstm"])
def test_reproducible_under_seed(panel, kind):
    train, test = split_last(panel, 7)
    a = MODELS[kind]().fit(train).predict(7, X_future=test)
    b = MODELS[kind]().fit(train).predict(7, X_future=test)
    pd.testing.assert_frame_equal(a, b)


def test_lstm_seed_changes_the_model(panel):
    train, test = split_last(panel, 7)
    a = tiny_lstm(random_state=0).fit(train).predict(7, X_future=test)
    b = tiny_lstm(random_state=1).fit(train).predict(7, X_future=test)
    assert not np.allclose(a["yhat"], b["yhat"])


def test_clone_is_unfitted_with_same_params(fitted):
    model = fitted[0]["lstm"]
    c = clone(model)
    assert c.get_params() == model.get_params() and not hasattr(c, "ids_")


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kind", list(MODELS))
def test_predict_before_fit(kind):
    with pytest.raises(NotFittedError, match="not fitted"):
        MODELS[kind]().predict(7)


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("h", [0, -3, 2.5])
def test_bad_horizon(fitted, kind, h):
    models, _, test = fitted
    with pytest.raises(ForecastInputError, match="horizon"):
        models[kind].predict(h, X_future=test)


def test_lstm_horizon_beyond_training(fitted):
    with pytest.raises(ForecastInputError, match="exceeds the horizon"):
        fitted[0]["lstm"].predict(8, X_future=fitted[2])


@pytest.mark.parametrize("kind", list(MODELS))
def test_unknown_unique_id(fitted, kind):
    models, _, test = fitted
    with pytest.raises(ForecastInputError, match="unknown unique_id"):
        models[kind].predict(7, X_future=test, ids=["nope"])


@pytest.mark.parametrize("kind", ["prophet", "lstm"])
def test_missing_or_short_future_exog(fitted, kind):
    models, _, test = fitted
    with pytest.raises(ForecastInputError, match="X_future"):
        models[kind].predict(7)
    with pytest.raises(ForecastInputError, match="does not cover"):
        models[kind].predict(7, X_future=test[test["ds"] < test["ds"].max()])


@pytest.mark.parametrize("kind", list(MODELS))
def test_nan_y(panel, kind):
    bad = panel.copy()
    bad.loc[5, "y"] = np.nan
    with pytest.raises(ForecastInputError, match="NaN"):
        MODELS[kind]().fit(bad)


@pytest.mark.parametrize("kind", list(MODELS))
def test_duplicate_dates(panel, kind):
    bad = pd.concat([panel, panel.iloc[[3]]])
    with pytest.raises(ForecastInputError, match="duplicate"):
        MODELS[kind]().fit(bad)


@pytest.mark.parametrize("kind", list(MODELS))
def test_gaps_in_dates(panel, kind):
    bad = panel.drop(index=[10, 11])
    with pytest.raises(ForecastInputError, match="gaps"):
        MODELS[kind]().fit(bad)


def test_missing_columns_and_negative_y(panel):
    with pytest.raises(ForecastInputError, match="missing column"):
        SeasonalNaive().fit(panel.drop(columns=["y"]))
    with pytest.raises(ForecastInputError, match="missing column"):
        tiny_lstm().fit(panel.drop(columns=["is_holiday"]))
    neg = panel.assign(y=panel["y"] - 1000)
    with pytest.raises(ForecastInputError, match="negative"):
        SeasonalNaive().fit(neg)


def test_cold_start_and_all_zero_series_fall_back_to_naive(panel):
    """A 5-day series (shorter than season and window) and an all-zero one: documented fallback."""
    short = panel[panel["unique_id"] == "s0000"].tail(5).assign(unique_id="new")
    zero = panel[panel["unique_id"] == "s0000"].assign(unique_id="zero", y=0.0)
    df = pd.concat([panel, short, zero], ignore_index=True)
    future = make_panel(n_series=1, n_days=127, random_state=1).tail(7)
    future = pd.concat([future.assign(unique_id=u) for u in ("s0000", "s0001", "new", "zero")])
    naive = SeasonalNaive().fit(df)
    assert naive.cold_start_ids_ == ["new"]
    fc = naive.predict(7)
    assert np.allclose(fc.loc[fc["unique_id"] == "new", "yhat"], short["y"].mean())
    prophet = ProphetForecaster(regressors=EXOG, uncertainty_samples=10).fit(df)
    assert set(prophet.fallback_ids_) == {"new", "zero"}
    lstm = tiny_lstm().fit(df)
    assert lstm.fallback_ids_ == ["new"]
    for m in (prophet, lstm):
        fc = m.predict(7, X_future=future)
        assert len(fc) == 28 and (fc["yhat"] >= 0).all()
        assert np.allclose(fc.loc[fc["unique_id"] == "zero", "yhat"], 0, atol=1.0)


def test_lstm_needs_one_long_enough_series(panel):
    short = panel.groupby("unique_id").head(20)  # < input_size 14 + horizon 7
    with pytest.raises(ForecastInputError, match="long enough"):
        tiny_lstm().fit(short)


def test_bad_levels(fitted):
    with pytest.raises(ForecastInputError, match="level"):
        fitted[0]["naive"].predict(7, level=(100,))
