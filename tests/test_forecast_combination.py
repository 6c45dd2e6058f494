"""The GBM + Prophet combination: quantile averaging, moved conformal bands, settings, input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.forecast import MODELS, CombinationForecaster, GBMForecaster, NotFittedError
from models.forecast.base import ForecastInputError, hi_col, lo_col, output_columns
from models.forecast.combination import combine
from models.forecast.naive import SeasonalNaive
from pipelines.train_forecast import make_model


def panel(n: int = 8, days: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    return pd.concat([pd.DataFrame({"unique_id": f"sku{i}", "ds": ds,
                                    "y": rng.poisson((1 + i % 3) * np.where(
                                        ds.dayofweek < 5, 1.6, 0.4))})
                      for i in range(n)], ignore_index=True)


def members() -> tuple:
    return (("gbm", GBMForecaster(n_estimators=30, calibration_days=14)),
            ("naive", SeasonalNaive()))


def split(df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    last = df["ds"].max() - pd.Timedelta(days=h)
    return df[df["ds"] <= last], df[df["ds"] > last]


def test_interface_clone_and_not_fitted() -> None:
    m = CombinationForecaster(members=members(), weights=(0.7, 0.3))
    assert MODELS["combination"] is CombinationForecaster
    c = clone(m)
    assert c.get_params()["weights"] == (0.7, 0.3)
    assert c.members[0][1] is not m.members[0][1]  # members are cloned, not shared
    with pytest.raises(NotFittedError):
        c.predict(7)
    train, _ = split(panel(), 14)
    assert m.fit(train) is m
    assert not hasattr(m.members[0][1], "ids_")  # the given members stay unfitted
    fc = m.predict(14, ids=["sku3", "sku1"])
    assert list(fc.columns) == output_columns((80, 95)) and len(fc) == 28
    assert fc["unique_id"].iloc[0] == "sku3" and not fc.isna().any().any()
    assert (fc[lo_col(95)] <= fc[lo_col(80)]).all() and (fc[lo_col(80)] <= fc["yhat"]).all()
    assert (fc["yhat"] <= fc[hi_col(80)]).all() and (fc[hi_col(80)] <= fc[hi_col(95)]).all()


def test_point_and_bounds_are_the_weighted_average_of_the_members() -> None:
    train, test = split(panel(), 14)
    m = CombinationForecaster(members=members(), weights=(3, 1)).fit(train)
    fc = m.predict(14)
    own = m.member_forecasts(14, None, (80, 95))
    for col in ("yhat", lo_col(80), hi_col(95)):
        want = 0.75 * own["gbm"][col].to_numpy() + 0.25 * own["naive"][col].to_numpy()
        assert np.allclose(fc[col].to_numpy(), want)
    # averaging never costs accuracy on a convex loss: MAE below the members' weighted mean
    j = {k: f.merge(test, on=["unique_id", "ds"]) for k, f in {**own, "c": fc}.items()}
    mae = {k: float((v["y"] - v["yhat"]).abs().mean()) for k, v in j.items()}
    assert mae["c"] <= 0.75 * mae["gbm"] + 0.25 * mae["naive"] + 1e-12


def test_a_members_conformal_bands_move_onto_the_combination() -> None:
    train, _ = split(panel(), 14)
    m = CombinationForecaster(members=members(), intervals="gbm").fit(train)
    fc = m.predict(14)
    g = m.members_["gbm"].predict(14)
    for lv in (80, 95):  # upper bounds keep their offset from the GBM's own point
        assert np.allclose(fc[hi_col(lv)], fc["yhat"] + g[hi_col(lv)] - g["yhat"])
    # one fit, other settings at predict time: same members, other combination
    m.set_params(weights=(0, 1))
    assert np.allclose(m.predict(14, level=None)["yhat"],
                       m.members_["naive"].predict(14, level=None)["yhat"])


def test_members_are_the_standalone_forecasters() -> None:
    train, _ = split(panel(), 14)
    m = CombinationForecaster(members=members()).fit(train)
    alone = GBMForecaster(n_estimators=30, calibration_days=14).fit(train).predict(14)
    pd.testing.assert_frame_equal(m.members_["gbm"].predict(14), alone)
    sku = make_model("combination", "sku", 30, [], n_jobs=1)
    assert dict(sku.members)["gbm"].get_params() == make_model(
        "gbm", "sku", 30, [], n_jobs=1).get_params()
    assert dict(sku.members)["prophet"].get_params()["transform"] == "log1p"


def test_fallback_ids_and_bad_settings_and_input() -> None:
    df = panel()
    zero = df[df["unique_id"] == "sku0"].assign(unique_id="dead", y=0.0)
    train, _ = split(pd.concat([df, zero], ignore_index=True), 14)
    m = CombinationForecaster(members=members()).fit(train)
    assert m.fallback_ids_ == ["dead"]
    assert (m.predict(7, ids=["dead"])["yhat"] == 0).all()
    for kw, match in [(dict(weights=(1,)), "weights"), (dict(weights=(1, -1)), "weights"),
                      (dict(intervals="lstm"), "intervals"),
                      (dict(members=(("a", SeasonalNaive()), ("a", SeasonalNaive()))), "unique"),
                      (dict(members=(("a", "naive"),)), "not a forecaster")]:
        with pytest.raises(ValueError, match=match):
            CombinationForecaster(**({"members": members()} | kw)).fit(train)
    bad = train.copy()
    bad.loc[bad.index[5], "y"] = -1.0
    with pytest.raises(ForecastInputError, match="sku0"):
        CombinationForecaster(members=members()).fit(bad)


def test_moved_bands_keep_a_zero_bound_at_zero_and_rows_must_match() -> None:
    ds = pd.date_range("2024-01-01", periods=2)
    g = pd.DataFrame({"unique_id": "a", "ds": ds, "yhat": [2.0, 2.0],
                      lo_col(80): [0.0, 1.0], hi_col(80): [5.0, 5.0]})
    p = pd.DataFrame({"unique_id": "a", "ds": ds, "yhat": [4.0, 4.0]})
    out = combine({"gbm": g, "prophet": p}, {"gbm": 1, "prophet": 1}, (80,), "gbm")
    assert out["yhat"].tolist() == [3.0, 3.0]
    assert out[lo_col(80)].tolist() == [0.0, 2.0]  # a zero bound is not moved up
    assert out[hi_col(80)].tolist() == [6.0, 6.0]
    with pytest.raises(ValueError, match="other rows"):
        combine({"gbm": g, "prophet": p.iloc[:1]}, {"gbm": 1, "prophet": 1}, (80,), "gbm")
    with pytest.raises(ValueError, match="no 'yhat-lo-80'"):
        combine({"gbm": g, "prophet": p}, {"gbm": 1, "prophet": 1}, (80,), "average")
