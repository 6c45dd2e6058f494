"""The daily-volume ensemble (naive + Theta + multiplicative Prophet) and the Theta member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.forecast import MODELS, EnsembleForecaster, ThetaForecaster
from models.forecast.base import ForecastInputError, output_columns
from models.forecast.conformal import step_offsets
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
    # 8 calibration refits (default), daily origins: 1 + 7 x 7 origins x 7 steps
    assert fitted.step_residuals_.shape == (50, 7)
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


def test_calibration_origins_are_daily_and_closed_days_give_no_residual(promo_driven):
    train, _ = promo_driven
    m = EnsembleForecaster(members=("seasonal_naive", "theta"), n_windows=2,
                           calibration_windows=3).fit(train)
    inner = m.backtest_
    origins = sorted(inner["cutoff"].unique())
    assert len(origins) == 1 + 7 * 2  # refits 1 and 2 forecast from each of their 7 days
    assert (np.diff(origins) == np.timedelta64(1, "D")).all()
    assert origins[-1] == train["ds"].max() - pd.Timedelta(days=7)
    res = m.step_residuals_
    assert res.shape == (15, 7)
    # a day forecast as closed (Saturday) has no residual; every other day has one
    one = inner[inner["member"] == "theta"].sort_values(["cutoff", "ds"])
    sat = (one["ds"].dt.dayofweek == 5).to_numpy().reshape(15, 7)
    assert np.array_equal(np.isnan(res), sat)
    # the weights use the first origin of each of the n_windows refits only
    assert m.weights_.shape == (1, 2)


def test_bands_follow_the_level(promo_driven):
    """Scaling demand by 10 scales forecasts and bands by 10 (normaliser sqrt(f x level))."""
    train, _ = promo_driven
    kw = dict(members=("seasonal_naive", "theta"), n_windows=2, calibration_windows=3)
    a = EnsembleForecaster(**kw).fit(train).predict(7)
    b = EnsembleForecaster(**kw).fit(train.assign(y=10 * train["y"])).predict(7)
    num = [c for c in a.columns if c.startswith("yhat")]
    np.testing.assert_allclose(b[num].to_numpy(), 10 * a[num].to_numpy(), rtol=5e-3, atol=1e-6)
    with pytest.raises(ValueError, match="interval_scale"):
        EnsembleForecaster(interval_scale="local").fit(train)


def test_proportional_recency_and_adaptive_bands(promo_driven):
    """The stream options change only the bands, keep them ordered and scale with demand."""
    train, _ = promo_driven
    kw = dict(members=("seasonal_naive", "theta"), n_windows=2, calibration_windows=4)
    base = EnsembleForecaster(**kw).fit(train)
    assert len(base.calibration_["cutoff"]) == base.step_residuals_.shape[0]
    assert base.origin_ == train["ds"].max()
    ref = base.predict(7)
    for opts in (dict(interval_scale="proportional"), dict(half_life=7.0),
                 dict(aci_gamma=0.05), dict(interval_scale="proportional", half_life=14.0,
                                            aci_gamma=0.02)):
        m = EnsembleForecaster(**kw, **opts)
        fc = m.fit(train).predict(7)
        np.testing.assert_allclose(fc["yhat"], ref["yhat"])  # point forecast unchanged
        open_ = fc["yhat"] > 0
        for lv in (80, 95):
            assert (fc.loc[open_, f"yhat-lo-{lv}"] < fc.loc[open_, f"yhat-hi-{lv}"]).all()
        assert (fc.loc[open_, "yhat-hi-95"] >= fc.loc[open_, "yhat-hi-80"] - 1e-9).all()
        big = m.fit(train.assign(y=10 * train["y"])).predict(7)
        np.testing.assert_allclose(big["yhat-hi-80"], 10 * fc["yhat-hi-80"], rtol=5e-3)
    m = EnsembleForecaster(**kw, interval_scale="proportional").fit(train)
    prop = m.predict(7)
    # proportional bands: each step's upper offset is that step's conformal quantile × forecast
    _, hi = step_offsets(m.step_residuals_, 7, 80)
    big_day = (prop["yhat"] >= 0.1 * m.level_.iloc[0]).to_numpy()
    np.testing.assert_allclose((prop["yhat-hi-80"] - prop["yhat"])[big_day],
                               (hi * prop["yhat"])[big_day], rtol=1e-9)
    for bad in (dict(half_life=0.0), dict(aci_gamma=-0.1)):
        with pytest.raises(ValueError, match="half_life"):
            EnsembleForecaster(**kw, **bad).fit(train)


def test_year_ago_calibration_origins():
    """``seasonal_windows`` adds daily origins a year earlier to the bands, not to the weights."""
    panel = _closed_saturdays(make_panel(n_series=1, n_days=480, level=50.0, random_state=4))
    train, _ = split_last(panel, 7)
    kw = dict(members=("seasonal_naive", "theta"), n_windows=2, calibration_windows=3)
    plain = EnsembleForecaster(**kw).fit(train)
    year = EnsembleForecaster(**kw, seasonal_windows=2).fit(train)
    end = train["ds"].max()
    old = year.backtest_[year.backtest_["k"] < 0]
    assert sorted(old["k"].unique()) == [-2, -1]
    origins = sorted(old["cutoff"].unique())
    assert len(origins) == 14 and origins[0] == end - pd.Timedelta(days=7 + 364)
    assert (np.diff(origins) == np.timedelta64(1, "D")).all()
    assert year.step_residuals_.shape[0] == plain.step_residuals_.shape[0] + 14
    pd.testing.assert_frame_equal(year.weights_, plain.weights_)
    np.testing.assert_allclose(year.predict(7)["yhat"], plain.predict(7)["yhat"])
    short = EnsembleForecaster(**kw, seasonal_windows=2).fit(panel.iloc[-200:])
    assert (short.backtest_["k"] >= 0).all()  # no history a year back: skipped
    with pytest.raises(ValueError, match="seasonal_windows"):
        EnsembleForecaster(**kw, seasonal_windows=-1).fit(train)


def test_theta_forecasts_from_new_history_without_refitting():
    panel = _closed_saturdays(make_panel(n_series=2, n_days=120, level=(20.0, 60.0)))
    train, _ = split_last(panel, 14)
    m = ThetaForecaster().fit(train)
    same = m.predict(7, new_df=train)
    np.testing.assert_allclose(same["yhat"], m.predict(7)["yhat"], rtol=1e-6)
    later, _ = split_last(panel, 7)
    moved = m.predict(7, level=(80,), new_df=later)
    assert (moved.groupby("unique_id")["ds"].min() - train["ds"].max()).dt.days.eq(8).all()
    assert not np.allclose(moved["yhat"], same["yhat"])
    assert (moved.loc[moved["ds"].dt.dayofweek == 5, "yhat-hi-80"] == 0).all()
    with pytest.raises(ForecastInputError, match="no history"):
        m.predict(7, new_df=later[later["unique_id"] == "s0000"], ids=["s0001"])


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
