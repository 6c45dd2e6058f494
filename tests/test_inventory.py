"""Inventory policy: textbook formulas, direction, bad input, the replay, the estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.forecast import SeasonalNaive
from models.inventory import (
    InventoryInputError,
    InventoryPolicy,
    abc_classes,
    daily_samples,
    eoq,
    normal_safety_stock,
    reorder_levels,
    rule_of_thumb_level,
    simulate,
    xyz_classes,
    z_value,
)
from models.inventory.leadtime import expected_shortage, quantile_knots, reorder_point
from models.inventory.review import next_review, order_up_to, review_mask, review_period


def _history(days: int = 140, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=days)
    rates = {"steady": 20.0, "slow": 3.0, "intermittent": 0.3}
    return pd.concat([pd.DataFrame({"unique_id": u, "ds": ds, "y": rng.poisson(lam, days)})
                      for u, lam in rates.items()], ignore_index=True)


def _items(**over) -> pd.DataFrame:
    base = {"unique_id": ["steady", "slow", "intermittent"], "on_hand": [50.0, 5.0, 0.0],
            "lead_time_days": [3, 5, 7], "unit_cost": [10.0, 20.0, 5.0]}
    base.update(over)
    return pd.DataFrame(base)


@pytest.fixture(scope="module")
def fitted():
    h = _history()
    fc = SeasonalNaive().fit(h).predict(21, level=(50, 80, 95, 99))
    return h, fc


def test_eoq_textbook_case():
    assert float(eoq(1300, 8, 0.225)) == pytest.approx(304.05, abs=0.01)


def test_normal_safety_stock_known_sigma_and_z():
    # σ = 10 units/day over 4 days at 95 %: z = 1.6449, SS = 1.6449 × 10 × 2 = 32.90
    assert z_value(0.95) == pytest.approx(1.644854, abs=1e-6)
    assert float(normal_safety_stock(10.0, 4, 0.95)) == pytest.approx(32.897, abs=1e-3)
    assert float(normal_safety_stock(5.0, 9, 0.5)) == pytest.approx(0.0, abs=1e-12)


def test_expected_shortage_matches_direct_mean():
    d = np.random.default_rng(1).poisson(8, 5000).astype(float)
    for s in (0.0, 5.0, 8.0, 12.5, 40.0):
        assert expected_shortage(d, np.array([s]))[0] == pytest.approx(
            np.clip(d - s, 0, None).mean())


def test_quantile_knots_read_interval_columns(fitted):
    _, fc = fitted
    probs, values = quantile_knots(fc)
    assert probs.tolist() == pytest.approx([0.005, 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975,
                                            0.995])
    assert (np.diff(values, axis=1) >= 0).all()


def test_samples_reproduce_the_daily_quantiles(fitted):
    _, fc = fitted
    g = fc[fc["unique_id"] == "steady"].reset_index(drop=True)
    daily = daily_samples(g, n_samples=20000, rho=0.0, seed=3)
    for col, p in (("yhat-lo-80", 0.1), ("yhat", 0.5), ("yhat-hi-80", 0.9)):
        assert np.quantile(daily[:, 0], p) == pytest.approx(g.loc[0, col], rel=0.05, abs=0.5)


@pytest.mark.parametrize("service_type", ["cycle", "fill_rate"])
def test_higher_service_level_gives_higher_reorder_point(fitted, service_type):
    _, fc = fitted
    for uid in ("steady", "slow", "intermittent"):
        daily = daily_samples(fc[fc["unique_id"] == uid].reset_index(drop=True))
        rops = reorder_levels(daily, 5, [0.5, 0.8, 0.9, 0.95, 0.99], service_type, batch=10)
        assert (np.diff(rops) >= 0).all() and rops[-1] > rops[0], (uid, rops)


@pytest.mark.parametrize("service_type", ["cycle", "fill_rate"])
def test_longer_lead_time_gives_higher_reorder_point(fitted, service_type):
    h, fc = fitted
    policy = InventoryPolicy(service_type=service_type).fit(h)
    rops = [policy.predict(fc, _items(lead_time_days=[L] * 3))["reorder_point"].to_numpy()
            for L in (1, 3, 7, 14)]
    assert (np.diff(np.vstack(rops), axis=0) >= 0).all()
    assert (rops[-1] > rops[0]).all()


def test_fill_rate_reorder_point_meets_its_definition():
    d = np.random.default_rng(2).poisson(30, 20000).astype(float)
    q, beta = 60.0, 0.95
    s = reorder_point(d, beta, "fill_rate", q)
    short = lambda x: (expected_shortage(d, np.array([x]))  # noqa: E731
                       - expected_shortage(d, np.array([x + q])))[0]
    assert short(s) <= (1 - beta) * q < short(s - 1)
    assert s < reorder_point(d, beta, "cycle")  # a Q of two cycles' demand needs less


def test_policy_row_is_consistent(fitted):
    h, fc = fitted
    as_of = h["ds"].max()
    out = InventoryPolicy().fit(h).predict(fc, _items(), as_of=as_of)
    assert list(out["unique_id"]) == ["steady", "slow", "intermittent"]
    ok = out.set_index("unique_id")
    assert (ok["safety_stock"] == ok["order_up_to"] - ok["lead_time_demand_mean"]).all()
    assert (ok["reorder_point"] == ok["order_up_to"] - 1).all()
    assert (ok["protection_days"] == ok["lead_time_days"] + ok["review_days"]).all()
    assert ok.loc["intermittent", "method"] == "quantiles"  # intermittent series included
    due = pd.to_datetime(ok["next_review"]) == as_of
    assert (ok["reorder_now"] == (due & (ok["inventory_position"] < ok["order_up_to"]))).all()
    assert (pd.to_datetime(ok["next_review"]) >= as_of).all()
    assert (pd.to_datetime(ok["next_review"]) < as_of + pd.to_timedelta(ok["review_days"],
                                                                         unit="D")).all()
    now = ok[ok["reorder_now"]]
    assert (now["order_quantity"] == now["order_up_to"] - now["inventory_position"]).all()
    assert (ok.loc[~ok["reorder_now"], "order_quantity"] == 0).all()
    assert ok.loc["steady", "days_of_cover"] == pytest.approx(
        50 / ok.loc["steady", "mean_daily_demand"])
    assert 0 <= ok["stockout_probability"].min() and ok["stockout_probability"].max() <= 1
    assert ok.loc["steady", "abc"] == "A" and ok.loc["steady", "xyz"] == "X"
    assert (out["exception"] == "").all()


def test_review_period_is_the_eoq_cycle_capped():
    # EOQ = sqrt(2 × 36500 × 10 / 12.5) = 241.7 units = 2.4 days of 100 a day → R = 2
    assert review_period(100.0, 50.0, 10.0, 0.25).tolist() == [2]
    r = review_period(np.array([100.0, 1.0, 0.0]), np.array([50.0, 5.0, 5.0]), 40.0, 0.25,
                      max_review_days=7)
    assert r.tolist() == [5, 7, 7]  # 4 × the ordering cost: 2 × the cycle (4.8 d); caps
    assert review_period(1000.0, 50.0, 10.0, 0.25).tolist() == [1]  # never below a day


def test_review_calendar_is_staggered_and_periodic():
    ids = [f"s{i}" for i in range(40)]
    dates = pd.date_range("2024-01-01", periods=28)
    m = review_mask(ids, dates, np.full(40, 7))
    assert (m.sum(axis=1) == 4).all()  # once a week
    assert len(set(np.argmax(m, axis=1))) > 3  # not every series on the same day
    assert next_review("s3", dates[0], 7) == dates[int(np.argmax(m[3]))]


def test_order_up_to_meets_the_fill_rate_definition():
    d = np.random.default_rng(4).poisson(10 * 9, 20000).astype(float)  # L + R = 9 days
    S = order_up_to(d, 0.95, 2, 9)
    batch = 2 * d.mean() / 9
    short = lambda x: (expected_shortage(d, np.array([x]))  # noqa: E731
                       - expected_shortage(d, np.array([x + batch])))[0]
    assert short(S) <= 0.05 * batch < short(S - 1)
    assert order_up_to(d, 0.99, 2, 9) > S > order_up_to(d, 0.8, 2, 9)


def test_period_forecast_drives_the_order_up_to_level(fitted):
    h, fc = fitted
    p = InventoryPolicy(review_days=7).fit(h)
    days = p.protection_days(_items())
    period = pd.DataFrame({"unique_id": days.index, "period_days": days.to_numpy(),
                           "mean": 1000.0, "yhat": 1000.0, "yhat-lo-80": 900.0,
                           "yhat-hi-80": 1100.0, "yhat-lo-95": 850.0, "yhat-hi-95": 1150.0})
    out = p.predict(fc, _items(), period_forecast=period).set_index("unique_id")
    assert (out["method"] == "period_quantiles").all()
    assert ((out["order_up_to"] > 900) & (out["order_up_to"] < 1300)).all()
    stale = period.assign(period_days=period["period_days"] + 1)  # wrong horizon: not used
    out2 = p.predict(fc, _items(), period_forecast=stale)
    assert (out2["method"] == "quantiles").all()


def test_clone_and_params():
    p = InventoryPolicy(service_level=0.9, ordering_cost=5.0)
    c = clone(p)
    assert c.get_params() == p.get_params() and c is not p
    with pytest.raises(RuntimeError, match="not fitted"):
        InventoryPolicy().predict(pd.DataFrame(), _items())


@pytest.mark.parametrize("sl", [0.0, 1.0, -0.2, 1.5, float("nan"), "high"])
def test_service_level_outside_unit_interval_is_refused(sl):
    with pytest.raises(InventoryInputError, match="service level"):
        InventoryPolicy(service_level=sl).fit(_history(30))


def test_bad_items_are_listed_never_dropped(fitted):
    h, fc = fitted
    items = pd.DataFrame({
        "unique_id": ["steady", "slow", "intermittent", "ghost", "steady2"],
        "on_hand": [np.nan, 5.0, 1.0, 3.0, 4.0], "lead_time_days": [3, 0, np.nan, 4, 2],
        "unit_cost": [10.0, 0.0, -2.0, 1.0, 3.0], "service_level": [0.95, 0.95, 0.95, 0.95, 1.2],
    })
    out = InventoryPolicy().fit(h).predict(fc, items).set_index("unique_id")
    assert list(out.index) == list(items["unique_id"])
    exc = out["exception"]
    assert "no stock record" in exc["steady"]
    assert "lead time is 0 days" in exc["slow"] and "unit cost 0 is not > 0" in exc["slow"]
    assert "lead time unknown" in exc["intermittent"] and "unit cost -2" in exc["intermittent"]
    assert "no sales history" in exc["ghost"] and "no forecast" in exc["ghost"]
    assert out.loc["ghost", "method"] == "none" and np.isnan(out.loc["ghost", "reorder_point"])
    assert "service level 1.2 outside (0, 1)" in exc["steady2"]
    assert np.isnan(out.loc["slow", "eoq"]) and out.loc["slow", "order_up_to"] > 0


def test_missing_columns_and_duplicates_are_clear(fitted):
    h, fc = fitted
    p = InventoryPolicy().fit(h)
    with pytest.raises(InventoryInputError, match="missing column"):
        p.predict(fc, _items().drop(columns="unit_cost"))
    with pytest.raises(InventoryInputError, match="duplicate"):
        p.predict(fc, pd.concat([_items(), _items()]))
    with pytest.raises(InventoryInputError, match=">= 0"):
        InventoryPolicy().fit(h.assign(y=-1))
    with pytest.raises(InventoryInputError, match="costs must be > 0"):
        eoq(100, 0, 1)


def test_no_intervals_falls_back_to_normal(fitted):
    h, fc = fitted
    out = InventoryPolicy().fit(h).predict(fc[["unique_id", "ds", "yhat"]], _items())
    assert (out["method"] == "normal").all()
    assert out["exception"].str.contains("no intervals").all()


def test_abc_xyz_classes():
    # cumulative share where each item starts: a 0, b 0.70, c 0.85, e 0.95, d 0.97
    rev = pd.Series({"a": 700.0, "b": 150.0, "c": 100.0, "d": 30.0, "e": 20.0})
    assert abc_classes(rev).to_dict() == {"a": "A", "b": "A", "c": "B", "d": "C", "e": "C"}
    assert xyz_classes(pd.Series([0.1, 0.7, 2.0, np.nan])).tolist() == ["X", "Y", "Z", "Z"]


def test_rule_of_thumb():
    assert rule_of_thumb_level(100, 2.0) == pytest.approx(120)
    assert rule_of_thumb_level(100, 0.3) == pytest.approx(96)
    assert rule_of_thumb_level(100, np.nan) == pytest.approx(120)


def test_simulate_lost_sales_and_lead_time():
    demand = np.array([[5, 5, 5, 5, 5, 5]], float)
    flat = np.full((1, 6), 10.0)
    res = simulate(demand, np.array([2]), flat, flat + 10, np.ones(6, bool), np.array([12.0]))
    # day 0: 12-5=7 ≤ 10 → order 13, on the shelf day 3 (L=2 days in transit); day 1: 2;
    # day 2: sells 2, loses 3; day 3: +13 → 8, order 12 (day 6); day 4: 3; day 5: loses 2
    assert res.on_hand[0].tolist() == [7, 2, 0, 8, 3, 0]
    assert res.sold[0] == 25 and res.demand[0] == 30 and res.stockout_days[0] == 2
    assert res.orders[0] == 2 and res.fill_rate[0] == pytest.approx(25 / 30)
    with pytest.raises(InventoryInputError):
        simulate(demand, np.array([-1]), flat, flat, np.ones(6, bool), np.array([0.0]))
