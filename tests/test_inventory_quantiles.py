"""Direct lead-time demand quantiles (LightGBM) and the accuracy-optimal preparation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson
from sklearn.base import clone

from models.inventory import InventoryInputError
from models.inventory.leadtime import accuracy_optimal_stock, daily_samples, quantile_knots
from models.inventory.quantile_gbm import LeadTimeDemandGBM, wide_history

RATES = np.array([0.1, 0.5, 2.0, 6.0, 15.0, 0.3])  # two intermittent series
ALL_RATES = np.tile(RATES, 5)  # five series per rate: s0..s5 have RATES[0..5]


def _poisson_history(days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    Y = rng.poisson(ALL_RATES[:, None], (len(ALL_RATES), days))
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    return pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(len(ALL_RATES))], days),
                         "ds": np.tile(ds, len(ALL_RATES)), "y": Y.ravel().astype(float)})


@pytest.fixture(scope="module")
def fitted() -> tuple[LeadTimeDemandGBM, pd.DataFrame]:
    hist = _poisson_history(260, seed=0)
    return LeadTimeDemandGBM(max_period=8, origin_step=2, n_estimators=80, learning_rate=0.1,
                             num_leaves=7, min_child_samples=40).fit(hist), hist


def test_quantiles_track_known_poisson_demand(fitted):
    model, hist = fitted
    out = model.predict(hist, 5).set_index("unique_id")
    truth = poisson(ALL_RATES * 5)
    for i, lam in enumerate(ALL_RATES):
        row = out.loc[f"s{i}"]
        assert row["period_days"] == 5
        # median and 90 % quantile of a 5-day Poisson sum, within a loose band
        assert abs(row["yhat"] - truth.median()[i]) <= 1.0 + 0.25 * truth.median()[i]
        assert abs(row["yhat-hi-80"] - truth.ppf(0.9)[i]) <= 1.5 + 0.25 * truth.ppf(0.9)[i]
        assert abs(row["mean"] - 5 * lam) <= 1.0 + 0.25 * 5 * lam
    probs, values = quantile_knots(out.reset_index())
    assert (np.diff(values, axis=1) >= 0).all() and probs[0] < 0.5 < probs[-1]
    # intermittent series: a point mass at zero in the low quantiles
    assert out.loc["s0", "yhat-lo-50"] == pytest.approx(0.0, abs=0.3)


def test_longer_period_gives_higher_quantiles(fitted):
    model, hist = fitted
    a = model.predict(hist, 2).set_index("unique_id")
    b = model.predict(hist, 8).set_index("unique_id")
    busy = ["s2", "s3", "s4"]
    assert (b.loc[busy, "yhat-hi-95"] > a.loc[busy, "yhat-hi-95"]).all()
    assert (b.loc[busy, "mean"] > a.loc[busy, "mean"]).all()


def test_upper_quantile_coverage_on_fresh_demand(fitted):
    """90 % quantile of the 7-day total covers ~90 % of fresh 7-day totals."""
    model, _ = fitted
    hist = _poisson_history(400, seed=5)
    ids, Y, dates = wide_history(hist)
    hits = []
    for day in range(150, 390, 7):
        q = model.predict_matrix(ids, Y, dates, day, 7)["yhat-hi-80"].to_numpy()
        hits.append(Y[:, day + 1: day + 8].sum(axis=1) <= q)
    assert 0.8 <= np.mean(hits) <= 0.98


def test_prediction_uses_no_future_data(fitted):
    model, hist = fitted
    ids, Y, dates = wide_history(hist)
    a = model.predict_matrix(ids, Y, dates, 200, 6)
    Y2 = Y.copy()
    Y2[:, 201:] *= 10
    b = model.predict_matrix(ids, Y2, dates, 200, 6)
    pd.testing.assert_frame_equal(a, b)


def test_samples_from_direct_quantiles_reproduce_them(fitted):
    model, hist = fitted
    row = model.predict(hist, 7).iloc[[4]]
    total = daily_samples(row, 20_000, rho=0.0, seed=1)[:, 0]
    assert np.quantile(total, 0.9) == pytest.approx(row["yhat-hi-80"].iat[0], rel=0.05)
    assert np.quantile(total, 0.5) == pytest.approx(row["yhat"].iat[0], rel=0.05)


def test_contract_and_bad_input(fitted):
    model, hist = fitted
    c = clone(model)
    assert c.get_params() == model.get_params()
    with pytest.raises(InventoryInputError, match="at least"):
        LeadTimeDemandGBM(max_period=8).fit(hist[hist["ds"] < "2024-03-01"])
    with pytest.raises(InventoryInputError, match=">= 1"):
        model.predict(hist, 0)
    with pytest.raises(InventoryInputError, match="no value"):
        model.predict(hist, {"s0": 3})
    with pytest.raises(InventoryInputError, match="missing"):
        model.predict(hist.drop(columns="y"), 3)


def test_accuracy_optimal_stock_maximises_the_hit_rate():
    rng = np.random.default_rng(0)
    d = rng.poisson(20, 4000).astype(float)
    x = accuracy_optimal_stock(d)

    def hit(v: float) -> float:
        pos = d[d > 0]
        return float(((pos <= v) & (v <= 1.2 * pos)).mean())

    assert all(hit(x) >= hit(v) - 1e-12 for v in range(1, 60))
    assert accuracy_optimal_stock(np.zeros(10)) == 0.0
    assert 10 <= accuracy_optimal_stock(np.full(100, 10.0)) <= 12


def test_target_cap_tames_wholesale_outliers_in_the_upper_quantiles():
    """A few huge orders: capped quantile models keep sane upper quantiles, the mean does not
    lose the units (the mean model is fitted on the uncapped targets)."""
    hist = _poisson_history(220, seed=3)
    rng = np.random.default_rng(5)
    bulk = rng.random(len(hist)) < 0.01
    hist.loc[bulk, "y"] += 400.0  # 1 % of days carry a wholesale order
    kw = {"max_period": 8, "origin_step": 2, "n_estimators": 60, "learning_rate": 0.1,
          "num_leaves": 7, "min_child_samples": 40}
    raw = LeadTimeDemandGBM(**kw).fit(hist)
    capped = LeadTimeDemandGBM(**kw, target_cap=0.95).fit(hist)
    assert raw.cap_ is None and capped.cap_ > 0
    a, b = raw.predict(hist, 8), capped.predict(hist, 8)
    assert (b["yhat-hi-98"] <= a["yhat-hi-98"] + 1e-9).mean() > 0.9
    assert b["yhat-hi-98"].sum() < a["yhat-hi-98"].sum()
    assert np.allclose(a["mean"], b["mean"])  # same uncapped mean model
