"""The daily-volume ensemble (naive + Theta + multiplicative Prophet) and the Theta member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.forecast import MODELS, EnsembleForecaster, ThetaForecaster
from models.forecast.base import ForecastInputError, output_columns
from models.forecast.ensemble import _conformal_q
from models.forecast.pyfunc import ForecastPyfunc
from models.forecast.synthetic import make_panel, split_last
from pipelines.train_forecast import make_model

EXOG = ["is_holiday", "promotion_intensity"]


def _closed_saturdays(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(y=df["y"].where(df["ds"].dt.dayofweek != 5, 0.0))


@pytest.fixture(scope="module")
def promo_driven():
    """Demand driven by promotions (×3 at full intensity) and holidays; Saturdays closed."""
    panel = make_panel(n_series=1, n_days=161, level=80.0, promo_lift=2.0, random_state=3)
    return split_last(_closed_saturdays(panel), 7)


@pytest.fixture(scope="module")
def fitted(promo_driven):
    train, _ = promo_driven
    return EnsembleForecaster(regressors=EXOG, n_windows=3).fit(train)


def test_forecast_columns_intervals_and_closed_days(fitted, promo_driven):
    train, test = promo_driven
    fc = fitted.predict(7, X_future=test)
    assert list(fc.columns) == output_columns((80, 95))
    assert len(fc) == 7 and (fc["ds"].min() - train["ds"].max()).days == 1
    num = fc.drop(columns=["unique_id", "ds"]).to_numpy()
    assert np.isfinite(num).all() and (num >= 0).all()
    assert (fc["yhat-lo-95"] <= fc["yhat-lo-80"]).all()
    assert (fc["yhat-lo-80"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat-hi-80"]).all()
    assert (fc["yhat-hi-80"] <= fc["yhat-hi-95"]).all()
    sat = fc["ds"].dt.dayofweek == 5
    assert sat.any() and (fc.loc[sat, "yhat-hi-95"] == 0).all()
    assert (fc.loc[~sat, "yhat-hi-95"] > fc.loc[~sat, "yhat-lo-95"]).all()


def test_weights_follow_the_inner_backtest(fitted):
    w = fitted.weights_.loc["s0000"]
    assert set(w.index) == {"seasonal_naive", "theta", "prophet"}
    assert w.sum() == pytest.approx(1.0)
    # promotions are known ahead only to Prophet: it was right on the inner windows
    assert w["prophet"] == w.max() and w["prophet"] > 0.5
    # 3 inner windows x 6 open days of scaled residuals
    assert len(fitted.residuals_["s0000"]) == 18
    imp = fitted.feature_importance()
    assert imp["importance"].sum() == pytest.approx(1.0)
    assert any(f.startswith("prophet: promotion_intensity") for f in imp["feature"])


def test_equal_weights_with_power_zero(promo_driven):
    train, test = promo_driven
    m = EnsembleForecaster(members=("seasonal_naive", "theta"), n_windows=2, power=0).fit(train)
    assert np.allclose(m.weights_.to_numpy(), 0.5)
    naive = MODELS["seasonal_naive"]().fit(train).predict(7, level=())
    theta = ThetaForecaster().fit(train).predict(7, level=())
    fc = m.predict(7, level=())
    assert np.allclose(fc["yhat"], 0.5 * naive["yhat"] + 0.5 * theta["yhat"])


def test_short_series_falls_back_to_seasonal_naive(promo_driven):
    train, test = promo_driven
    short = train.tail(40).assign(unique_id="short")
    both = pd.concat([train, short], ignore_index=True)
    m = EnsembleForecaster(members=("seasonal_naive", "theta"), n_windows=2).fit(both)
    assert m.fallback_ids_ == ["short"]
    fc = m.predict(7, ids=["short"])
    naive = MODELS["seasonal_naive"]().fit(short).predict(7)
    assert np.allclose(fc["yhat"], naive["yhat"])


def test_clone_make_model_and_bad_members(promo_driven):
    hol = pd.DataFrame({"holiday": ["x"], "ds": [pd.Timestamp("2024-02-01")]})
    m = make_model("ensemble", "volume", 7, EXOG, seed=1, holidays=hol)
    assert isinstance(m, EnsembleForecaster)
    assert m.horizon == 7 and list(m.regressors) == EXOG and m.random_state == 1
    c = clone(m)
    assert c.get_params()["power"] == m.power and c.holidays.equals(hol)
    with pytest.raises(ValueError, match="unknown ensemble member"):
        EnsembleForecaster(members=("naive", "arima")).fit(promo_driven[0])
    with pytest.raises(ForecastInputError, match="X_future"):
        EnsembleForecaster(regressors=EXOG, members=("prophet",), n_windows=1).fit(
            promo_driven[0]).predict(7)


def test_pyfunc_adapter_serves_the_ensemble(fitted, promo_driven):
    _, test = promo_driven
    adapter = ForecastPyfunc(fitted, EXOG, 7)
    rows = test[["unique_id", "ds", *EXOG]].iloc[[0, 2, 6]]
    out = adapter.predict(None, rows)
    direct = fitted.predict(7, X_future=test).iloc[[0, 2, 6]].reset_index(drop=True)
    assert list(out["ds"]) == list(rows["ds"])
    assert np.allclose(out["yhat"], direct["yhat"])


def test_theta_member_interface_and_fallback():
    panel = _closed_saturdays(make_panel(n_series=2, n_days=70, level=(20.0, 60.0)))
    panel = pd.concat([panel, panel[panel["unique_id"] == "s0000"].head(10)
                       .assign(unique_id="tiny")], ignore_index=True)
    m = ThetaForecaster().fit(panel)
    assert m.fallback_ids_ == ["tiny"]
    fc = m.predict(9)
    assert list(fc.columns) == output_columns((80, 95)) and len(fc) == 27
    assert (fc["yhat-lo-95"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat-hi-95"]).all()
    sat = (fc["ds"].dt.dayofweek == 5) & (fc["unique_id"] != "tiny")
    assert (fc.loc[sat, "yhat"] == 0).all() and (fc.loc[~sat, "yhat"] > 0).any()


def test_conformal_quantile_is_finite_sample_corrected():
    r = np.arange(1, 20, dtype=float)  # 19 residuals: the 95 % bound is the largest
    assert _conformal_q(r, 95) == 19.0
    assert _conformal_q(-r, 80) == 16.0  # ceil(20 * 0.8) / 19 -> the 16th of 19
    assert np.isnan(_conformal_q(np.zeros(0), 80))


def test_ensemble_candidate_is_registered_and_loads(settings, mlflow_uri):
    from pipelines.registry import load_champion
    from pipelines.train_forecast import train_forecast

    volume = make_panel(n_series=1, n_days=140, level=300.0, holiday_every=20, random_state=5)
    exog = ["is_holiday", "promotion_intensity"]
    ens = make_model("ensemble", "volume", 7, exog, n_windows=2)
    res = train_forecast(volume[["unique_id", "ds", "y", *exog]], models={"ensemble": ens},
                         register="ensemble", target="volume", n_windows=2, step=7,
                         progress=False, tenant="demo", output_uri="")
    assert res.gate.promoted and res.report.chosen == "ensemble"
    assert set(res.report.metrics["model"]) == {"seasonal_naive", "ensemble"}
    model = load_champion("order_volume_forecaster__demo")
    adapter = model.unwrap_python_model()
    assert type(adapter.forecaster).__name__ == "EnsembleForecaster"
    rows = res.report.forecast[["unique_id", "ds"]].head(3).assign(is_holiday=0.0,
                                                                   promotion_intensity=0.0)
    out = model.predict(rows)
    assert len(out) == 3 and out["yhat"].notna().all()
    assert (out["yhat-lo-95"] <= out["yhat"]).all() and (out["yhat"] <= out["yhat-hi-95"]).all()


def test_bad_input_all_zero_series_and_missing_future_day(fitted, promo_driven):
    train, test = promo_driven
    zeros = train.assign(unique_id="zeros", y=0.0)
    m = EnsembleForecaster(members=("seasonal_naive", "theta"), n_windows=2).fit(
        pd.concat([train, zeros], ignore_index=True))
    assert m.fallback_ids_ == ["zeros"]
    assert (m.predict(7, ids=["zeros"])["yhat"] == 0).all()
    with pytest.raises(ForecastInputError, match="does not cover"):
        fitted.predict(7, X_future=test.drop(index=test.index[3]))
    with pytest.raises(ForecastInputError, match="negative"):
        EnsembleForecaster().fit(train.assign(y=-train["y"]))
