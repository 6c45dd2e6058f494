"""Abnormal orders: generator truth, features, detectors, reason codes, clone contract."""

from __future__ import annotations

import pytest
from _risk_data import toy_orders
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.risk.anomaly import OrderAnomalyDetector, order_risk_features, rule_flags
from pipelines.generator.risk import PATTERNS, abnormal_orders
from pipelines.train_risk import recall_at_rate


@pytest.fixture(scope="module")
def data():
    feed, truth = abnormal_orders(*toy_orders(), rate=0.03, seed=1)
    return feed, truth["is_abnormal"].to_numpy()


def test_generator_truth(data):
    feed, y = data
    assert len(feed) == 3000 and feed["order_ts"].is_monotonic_increasing
    assert 0.02 < y.mean() < 0.12
    with pytest.raises(ValueError, match="rate"):
        abnormal_orders(*toy_orders(200), rate=0.9)
    assert set(PATTERNS) >= {"subtle", "burst"}


def test_features_direction(data):
    feed, y = data
    normal = feed[~y].head(200)
    sku = feed.groupby("top_sku")["top_quantity"].median()
    base = order_risk_features(normal, sku)
    far = normal.assign(ship_lat=normal["ship_lat"] + 10)
    bulk = normal.assign(top_quantity=normal["top_quantity"] * 50)
    assert (order_risk_features(far, sku)["ship_distance_km"] > base["ship_distance_km"]).all()
    assert (order_risk_features(bulk, sku)["qty_vs_sku"] > base["qty_vs_sku"]).all()
    assert rule_flags(order_risk_features(far, sku))["FAR_FROM_HOME"].all()


@pytest.mark.parametrize("method", ["supervised", "ecod", "iforest"])
def test_detectors_rank_abnormal_higher(data, method):
    feed, y = data
    det = OrderAnomalyDetector(method=method, n_estimators=60).fit(feed.iloc[:2000], y[:2000])
    s = det.score(feed.iloc[2000:])
    assert s[y[2000:]].mean() > s[~y[2000:]].mean()
    assert recall_at_rate(y[2000:], s, 0.02) > 0.2


def test_reasons_name_the_unusual_feature(data):
    feed, y = data
    det = OrderAnomalyDetector(method="ecod").fit(feed, y)
    probe = feed.iloc[[10]].assign(ship_lat=feed["ship_lat"].iloc[10] + 12,
                                   ship_lon=feed["ship_lon"].iloc[10] + 12)
    d = det.decide(probe).iloc[0]
    assert "FAR_FROM_HOME" in d["reasons"]
    assert d["score"] > det.decide(feed.iloc[[10]])["score"].iloc[0]


def test_bad_input_and_contract(data):
    feed, y = data
    est = OrderAnomalyDetector(method="iforest", n_estimators=20, random_state=3)
    c = clone(est)
    assert c.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        c.score(feed)
    assert c.fit(feed, y) is c
    with pytest.raises(ValueError, match="lacks columns"):
        c.score(feed.drop(columns=["device_id"]))
    with pytest.raises(ValueError, match="needs labels"):
        OrderAnomalyDetector(method="supervised").fit(feed)
    with pytest.raises(ValueError, match="unknown method"):
        OrderAnomalyDetector(method="magic").fit(feed)
