"""The global LightGBM forecaster and the per-step conformal intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.forecast import MODELS, GBMForecaster, NotFittedError
from models.forecast.base import ForecastInputError, hi_col, lo_col, output_columns
from models.forecast.conformal import conformal_offsets, step_intervals


def panel(n: int = 12, days: int = 120, seed: int = 0, exog: bool = False) -> pd.DataFrame:
    """Poisson counts with a weekday pattern and per-series level (optionally a promo effect)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    rows = []
    for i in range(n):
        promo = (rng.random(days) < 0.15).astype(float)
        lam = (1 + i % 4) * np.where(ds.dayofweek < 5, 1.5, 0.5) * (1 + 2 * promo * exog)
        rows.append(pd.DataFrame({"unique_id": f"sku{i}", "ds": ds, "y": rng.poisson(lam),
                                  "promo": promo}))
    return pd.concat(rows, ignore_index=True)


def small(**kw) -> GBMForecaster:
    return GBMForecaster(n_estimators=40, calibration_days=14, **kw)


def test_fit_predict_interface_and_interval_order() -> None:
    df = panel()
    m = small()
    assert m.fit(df) is m
    fc = m.predict(7, ids=["sku3", "sku1"])
    assert list(fc.columns) == output_columns((80, 95))
    assert len(fc) == 14 and fc["unique_id"].iloc[0] == "sku3"
    assert not fc.isna().any().any()
    assert (fc["ds"].min() - df["ds"].max()).days == 1
    v = fc
    assert (v[lo_col(95)] <= v[lo_col(80)]).all() and (v[lo_col(80)] <= v["yhat"]).all()
    assert (v["yhat"] <= v[hi_col(80)]).all() and (v[hi_col(80)] <= v[hi_col(95)]).all()
    assert (v[lo_col(95)] >= 0).all()
    # beyond the 14 calibrated steps the bands keep widening instead of failing
    long = m.predict(21, ids=["sku0"])
    width = (long[hi_col(95)] - long[lo_col(95)]).to_numpy()
    assert width[-1] >= width[13] > 0


def test_clone_params_and_random_state() -> None:
    m = small(random_state=7, exog=("promo",))
    c = clone(m)
    assert c.get_params() == m.get_params()
    with pytest.raises(NotFittedError):
        c.predict(3)
    df = panel(exog=True)
    fut = panel(exog=True, days=127).groupby("unique_id").tail(7)
    a = small(random_state=3, exog=("promo",)).fit(df).predict(7, X_future=fut)
    b = small(random_state=3, exog=("promo",)).fit(df).predict(7, X_future=fut)
    pd.testing.assert_frame_equal(a, b)
    assert MODELS["gbm"] is GBMForecaster


def test_known_future_regressor_moves_the_forecast() -> None:
    df = panel(n=16, days=200, exog=True)
    m = small(exog=("promo",)).fit(df)
    fut = panel(n=16, days=207, exog=True).groupby("unique_id").tail(7)
    on = m.predict(7, X_future=fut.assign(promo=1.0), level=None)["yhat"].sum()
    off = m.predict(7, X_future=fut.assign(promo=0.0), level=None)["yhat"].sum()
    assert on > 1.3 * off
    with pytest.raises(ForecastInputError, match="X_future"):
        m.predict(7)
    with pytest.raises(ForecastInputError, match="does not cover"):
        m.predict(7, X_future=fut.iloc[1:])


def test_short_and_all_zero_series_use_the_documented_fallback() -> None:
    df = panel(n=6)
    short = pd.DataFrame({"unique_id": "new", "ds": df["ds"].max() - pd.to_timedelta(
        [2, 1, 0], unit="D"), "y": [3.0, 4.0, 5.0]})
    zero = df[df["unique_id"] == "sku0"].assign(unique_id="dead", y=0.0)
    m = small().fit(pd.concat([df.drop(columns="promo"), short, zero]))
    assert set(m.fallback_ids_) == {"new", "dead"}
    fc = m.predict(7)
    assert not fc.isna().any().any()
    dead = fc[fc["unique_id"] == "dead"]
    assert (dead.drop(columns=["unique_id", "ds"]) == 0).all().all()
    assert np.allclose(fc.loc[fc["unique_id"] == "new", "yhat"], 4.0)


@pytest.mark.parametrize("case, match", [
    ("negative", r"negative.*sku2"),
    ("duplicate", r"duplicate.*sku1"),
    ("gap", r"gaps.*sku4"),
    ("missing", r"missing column"),
])
def test_bad_input_is_a_clear_error_naming_the_series(case: str, match: str) -> None:
    df = panel(n=6).drop(columns="promo")
    if case == "negative":
        df.loc[df.index[(df["unique_id"] == "sku2")][5], "y"] = -1
    elif case == "duplicate":
        df = pd.concat([df, df[df["unique_id"] == "sku1"].iloc[[3]]])
    elif case == "gap":
        df = df.drop(df.index[df["unique_id"] == "sku4"][10:40])
    else:
        df = df.drop(columns="y")
    with pytest.raises(ForecastInputError, match=match):
        small().fit(df)


def test_future_regressor_frame_missing_a_date_names_the_series_and_day() -> None:
    df = panel(n=6, exog=True)
    m = small(exog=("promo",)).fit(df)
    fut = panel(n=6, days=127, exog=True).groupby("unique_id").tail(7)
    hole = fut.index[(fut["unique_id"] == "sku3")][4]
    with pytest.raises(ForecastInputError, match=r"does not cover 1 forecast day.*sku3"):
        m.predict(7, X_future=fut.drop(index=hole))
    with pytest.raises(ForecastInputError, match="X_future"):
        m.predict(7)
    long_gap = df.drop(df.index[df["unique_id"] == "sku5"][20:110])  # three months missing
    with pytest.raises(ForecastInputError, match=r"gaps.*sku5"):
        small(exog=("promo",)).fit(long_gap)


def test_conformal_offsets_cover_new_draws_per_step() -> None:
    rng = np.random.default_rng(1)
    h, n_cal = 5, 4000  # coverage sd given the calibration set ~ sqrt(.16/n) = 0.006
    spread = np.arange(1, h + 1)  # noise grows with the horizon step
    cal = rng.normal(size=(n_cal, h)) * spread
    test = rng.normal(size=(20000, h)) * spread
    out = pd.DataFrame(index=range(20000 * h))
    step_intervals(out, np.zeros(20000 * h), (80, 95), cal, h)
    y = test.ravel()
    for lv in (80, 95):
        inside = (y >= out[lo_col(lv)]) & (y <= out[hi_col(lv)])
        per_step = inside.to_numpy().reshape(-1, h).mean(axis=0)
        assert np.all(np.abs(per_step - lv / 100) < 0.02), (lv, per_step)
    lo, hi = conformal_offsets(np.arange(10.0), 80)
    assert lo <= 1 and hi >= 9  # finite-sample correction widens small samples
    with pytest.raises(ForecastInputError):
        conformal_offsets(np.array([np.nan]), 80)


def test_gbm_interval_coverage_on_a_holdout() -> None:
    df = panel(n=40, days=240, seed=5)
    train = df[df["ds"] <= df["ds"].max() - pd.Timedelta(days=14)].drop(columns="promo")
    fc = GBMForecaster(n_estimators=60, calibration_days=14).fit(train).predict(14)
    j = fc.merge(df, on=["unique_id", "ds"])
    for lv in (80, 95):
        cov = ((j["y"] >= j[lo_col(lv)]) & (j["y"] <= j[hi_col(lv)])).mean()
        assert abs(cov - lv / 100) <= 0.06, (lv, cov)


def test_conformalized_wrapper_calibrates_any_model() -> None:
    from models.forecast import SeasonalNaive
    from models.forecast.conformal import Conformalized

    df = panel(n=60, days=200, seed=9).drop(columns="promo")
    train = df[df["ds"] <= df["ds"].max() - pd.Timedelta(days=7)]
    m = Conformalized(SeasonalNaive(), h=7, n_windows=4)
    assert m.fit(train) is m and m.residuals_.shape == (240, 7)
    assert clone(m).get_params()["n_windows"] == 4
    fc = m.predict(7)
    assert list(fc.columns) == output_columns((80, 95))
    j = fc.merge(df, on=["unique_id", "ds"])
    for lv in (80, 95):
        cov = ((j["y"] >= j[lo_col(lv)]) & (j["y"] <= j[hi_col(lv)])).mean()
        assert abs(cov - lv / 100) <= 0.05, (lv, cov)
    with pytest.raises(ForecastInputError, match="conformal holdout"):
        Conformalized(SeasonalNaive(), h=7).fit(df[df["ds"] < "2024-01-15"])


def test_more_calibration_windows_give_more_residuals_per_step() -> None:
    df = panel(n=8, days=120).drop(columns="promo")
    one = small(calibration_windows=1).fit(df).step_residuals_
    three = small(calibration_windows=3, calibration_stride=14).fit(df).step_residuals_
    assert one.shape == (8, 14) and three.shape == (24, 14)
    np.testing.assert_allclose(three[:8], one)  # window 0 is the same holdout
    # origins every 7 days inside the unseen days: refit 0 has 1, refits 1 and 2 have 2 each
    strided = small(calibration_windows=3, calibration_stride=7).fit(df)
    assert strided.step_residuals_.shape == (40, 14)
    np.testing.assert_allclose(strided.step_residuals_[:8], one)


def test_local_interval_scale_follows_each_series_recent_noise() -> None:
    """Two series at the same level, one noisy lately: its band is wider under 'local'."""
    rng = np.random.default_rng(3)
    ds = pd.date_range("2024-01-01", periods=200, freq="D")
    calm = 10 + rng.poisson(1, 200).astype(float)
    wild = calm.copy()
    wild[-60:] = rng.choice([0.0, 22.0], 60)  # same mean, far more day-to-day noise
    df = pd.concat([pd.DataFrame({"unique_id": u, "ds": ds, "y": y})
                    for u, y in (("calm", calm), ("wild", wild))])
    m = small(closed_days=False).fit(df)
    assert set(m.calibration_) == {"resid", "center", "mean", "noise"}
    assert m.noise_["wild"] > 3 * m.noise_["calm"]
    width = {}
    for how in ("local", "mean"):
        fc = m.set_params(interval_scale=how).predict(7)
        width[how] = (fc[hi_col(80)] - fc[lo_col(80)]).groupby(fc["unique_id"]).mean()
    assert width["local"]["wild"] > 2 * width["local"]["calm"]
    assert width["local"]["wild"] / width["local"]["calm"] > (
        width["mean"]["wild"] / width["mean"]["calm"])
    with pytest.raises(ValueError, match="interval_scale"):
        m.set_params(interval_scale="nope").predict(7)


def test_forecast_interval_scale_widens_bands_on_high_forecast_days() -> None:
    """Default normaliser sqrt(forecast x level): promotion days get wider bands."""
    df = panel(n=16, days=200, exog=True)
    m = small(exog=("promo",))
    assert m.get_params()["interval_scale"] == "forecast"
    m.fit(df)
    fut = panel(n=16, days=214, exog=True).groupby("unique_id").tail(14)
    ratio = {}
    for how in ("forecast", "mean"):
        fc = m.set_params(interval_scale=how).predict(14, X_future=fut).merge(
            fut, on=["unique_id", "ds"])
        width = fc[hi_col(80)] - fc[lo_col(80)]
        ratio[how] = width[fc["promo"] == 1].mean() / width[fc["promo"] == 0].mean()
        assert (fc[hi_col(95)] >= fc[hi_col(80)]).all() and (fc[lo_col(80)] >= 0).all()
    assert ratio["forecast"] > ratio["mean"] * 1.1


def test_influential_factors_importance_and_per_forecast_contributions() -> None:
    df = panel(n=16, days=200, exog=True)
    m = small(exog=("promo",)).fit(df)
    imp = m.feature_importance()
    assert list(imp.columns) == ["feature", "importance"]
    assert set(imp["feature"]) == set(m.feature_names())
    assert np.isclose(imp["importance"].sum(), 1.0)
    assert imp.set_index("feature").loc["promo", "importance"] > 0.05  # the promo drives demand
    fut = panel(n=16, days=207, exog=True).groupby("unique_id").tail(7)
    fc = m.predict(7, X_future=fut, level=None)
    con = m.contributions(7, X_future=fut)
    assert set(con["factor"]) == {"recent demand", "calendar", "promo", "series level",
                                  "baseline"}
    # Tweedie's log link: the contributions add up to the log of the scaled forecast
    raw = con.groupby(["unique_id", "ds"])["value"].sum()
    back = np.exp(raw) * raw.index.get_level_values(0).map(m.scale_).to_numpy()
    joined = fc.set_index(["unique_id", "ds"])["yhat"].reindex(raw.index)
    closed = joined == 0  # closed-day rule zeroes some days after the model
    assert np.allclose(back[~closed.to_numpy()], joined[~closed], rtol=1e-6)
    promo = con[con["factor"] == "promo"].merge(fut, on=["unique_id", "ds"])
    assert promo.loc[promo["promo"] == 1, "value"].mean() > promo.loc[
        promo["promo"] == 0, "value"].mean()


def test_fallback_rows_are_labelled_in_the_written_output() -> None:
    from pipelines.score_forecast import FALLBACK, label_methods

    df = panel(n=6).drop(columns="promo")
    short = pd.DataFrame({"unique_id": "new", "ds": df["ds"].max() - pd.to_timedelta(
        [2, 1, 0], unit="D"), "y": [3.0, 4.0, 5.0]})
    m = small().fit(pd.concat([df, short]))
    out = label_methods(m.predict(7), m, "gbm")
    assert (out.loc[out["unique_id"] == "new", "model"] == FALLBACK).all()
    assert (out.loc[out["unique_id"] != "new", "model"] == "gbm").all()


def test_direct_strategy_forecasts_every_step_from_the_origin() -> None:
    df = panel(n=16, days=200, exog=True)
    fut = panel(n=16, days=214, exog=True).groupby("unique_id").tail(14)
    m = small(exog=("promo",), strategy="direct", horizon=14).fit(df)
    assert "horizon" in m.feature_names() and len(m.feature_names()) == m.booster_.n_features_
    fc = m.predict(14, X_future=fut)
    assert len(fc) == 16 * 14 and not fc.isna().any().any()
    assert (fc[lo_col(80)] <= fc["yhat"]).all() and (fc["yhat"] <= fc[hi_col(80)]).all()
    on = m.predict(14, X_future=fut.assign(promo=1.0), level=None)["yhat"].sum()
    off = m.predict(14, X_future=fut.assign(promo=0.0), level=None)["yhat"].sum()
    assert on > 1.3 * off  # known-future inputs still reach every step
    con = m.contributions(14, X_future=fut)
    assert set(con["factor"]) == {"recent demand", "calendar", "promo", "horizon",
                                  "series level", "baseline"}
    raw = con.groupby(["unique_id", "ds"])["value"].sum()
    back = np.exp(raw) * raw.index.get_level_values(0).map(m.scale_).to_numpy()
    mean = m.predict(14, X_future=fut, level=None).set_index(["unique_id", "ds"])["yhat"]
    open_ = mean.reindex(raw.index) > 0
    assert np.allclose(back[open_.to_numpy()], mean.reindex(raw.index)[open_], rtol=1e-6)
    with pytest.raises(ValueError, match="strategy"):
        small(strategy="sideways").fit(df)


def test_median_point_is_inside_the_bands_and_lowers_absolute_error_on_skewed_counts() -> None:
    rng = np.random.default_rng(3)
    ds = pd.date_range("2024-01-01", periods=260, freq="D")
    df = pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds,  # rare large orders
                                  "y": rng.poisson(0.3, 260) * rng.integers(1, 12, 260)})
                    for i in range(30)], ignore_index=True)
    train = df[df["ds"] <= ds[-29]]
    mean = GBMForecaster(n_estimators=40, calibration_days=28).fit(train).predict(28)
    med = GBMForecaster(n_estimators=40, calibration_days=28, point="median").fit(train).predict(
        28)
    assert (med["yhat"] <= mean["yhat"] + 1e-9).all()  # right-skewed: median below the mean
    assert (med[lo_col(80)] <= med["yhat"]).all() and (med["yhat"] <= med[hi_col(80)]).all()
    pd.testing.assert_frame_equal(med.drop(columns="yhat"), mean.drop(columns="yhat"))
    j = med.merge(mean, on=["unique_id", "ds"], suffixes=("_med", "_mean")).merge(df)
    assert (j["y"] - j["yhat_med"]).abs().sum() < (j["y"] - j["yhat_mean"]).abs().sum()
    with pytest.raises(ValueError, match="point"):
        small(point="mode").fit(train)


def test_series_launched_inside_the_calibration_span_do_not_blow_up_the_bands() -> None:
    df = panel(n=20, days=200, seed=2)
    new = df[df["unique_id"] == "sku0"].assign(unique_id="launch")
    new.loc[new.index[:180], "y"] = 0.0  # launched 20 days ago: no demand in 2 of 3 refits
    both = pd.concat([df, new], ignore_index=True)
    base = small().fit(df).predict(14, ids=["sku1"])
    fc = small().fit(both).predict(14, ids=["sku1"])
    width = (fc[hi_col(95)] - fc[lo_col(95)]).max()
    assert width < 3 * (base[hi_col(95)] - base[lo_col(95)]).max()
