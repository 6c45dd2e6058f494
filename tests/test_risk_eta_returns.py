"""ETA quantiles and return probability on a tiny generated dataset."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.risk.eta import DistanceBaseline, EtaQuantiles, eta_features
from models.risk.returns import ReturnModel, return_lines
from oms.lake import read_table
from pipelines.generator.core import generate
from pipelines.train_risk import fit_eta

TABLES = ("orders", "order_lines", "customers", "products", "warehouses", "order_events",
          "daily_context")


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("risk-gen")
    generate("tiny", 11, str(root), days=75)
    return {t: read_table(str(root / t), table=t) for t in TABLES}


def _eta_frame(t):
    o = t["orders"]
    o = o[o["delivery_hours"].notna() & o["warehouse_id"].notna() & o["customer_id"].notna()]
    d = eta_features(o.sort_values("order_ts").reset_index(drop=True), t["customers"],
                     t["warehouses"], t["daily_context"])
    return d, d["delivery_hours"].astype(float).to_numpy()


def test_eta_beats_distance_and_covers(tables):
    res = fit_eta(tables["orders"], tables["customers"], tables["warehouses"],
                  tables["daily_context"], test_weeks=2)
    m = res.metrics
    assert m["mae_p50"] < m["mae_distance_baseline"]
    assert 0.8 < m["p90_coverage"] <= 1.0 and m["p50_coverage"] < m["p90_coverage"]


def test_eta_direction_and_unknown_warehouse(tables):
    d, y = _eta_frame(tables)
    m = EtaQuantiles(max_iter=50).fit(d, y)
    near = d.head(300).assign(dist_km=20.0)
    far = d.head(300).assign(dist_km=1500.0)
    assert m.predict(far)["p50_hours"].mean() > m.predict(near)["p50_hours"].mean()
    o = tables["orders"].head(3).assign(warehouse_id="WH-NOWHERE")
    bad = eta_features(o, tables["customers"], tables["warehouses"], tables["daily_context"])
    out = m.predict(bad)
    assert out["p50_hours"].isna().all() and (out["problem"] == "unknown warehouse").all()
    assert (DistanceBaseline().fit(d, y).predict(d) >= 0).all()


def test_eta_contract(tables):
    d, y = _eta_frame(tables)
    c = clone(EtaQuantiles(level=0.8, random_state=2))
    with pytest.raises(NotFittedError):
        c.predict(d)
    assert c.set_params(max_iter=20).fit(d, y) is c
    with pytest.raises(ValueError, match="too few"):
        EtaQuantiles().fit(d.head(50), y[:50])


def _overload_frame(n: int, max_load: float, seed: int):
    """FEATURES rows whose hours grow by 24 per day of booked work beyond capacity."""
    import pandas as pd

    from models.risk.eta import FEATURES

    rng = np.random.default_rng(seed)
    d = pd.DataFrame(0.0, index=range(n), columns=FEATURES)
    d["dist_km"], d["wh_load"] = rng.uniform(5, 800, n), rng.uniform(0.2, max_load, n)
    y = 6 + d["dist_km"] / 50 + 24 * np.maximum(d["wh_load"] - 1, 0) + rng.gamma(2, 2, n)
    return d.assign(order_id="O", problem=""), y.to_numpy()


def test_eta_extrapolates_backlog_and_scaled_p90_covers():
    d, y = _overload_frame(4000, 2.0, 0)  # training: at most a day of backlog
    peak, yp = _overload_frame(2000, 6.0, 1)
    peak = peak[peak["wh_load"] > 3]
    yp = yp[peak.index]
    with_term = EtaQuantiles(max_iter=60).fit(d, y)
    trees = EtaQuantiles(max_iter=60, backlog_term=False, conformal="additive").fit(d, y)
    assert 18 < with_term.backlog_slope_ < 30 and trees.backlog_slope_ == 0
    cov = {k: (yp <= m.predict(peak)["p90_hours"].to_numpy()).mean()
           for k, m in (("term", with_term), ("trees", trees))}
    assert cov["term"] > 0.8 > cov["trees"]  # trees alone stop at the largest load seen
    assert (with_term.predict(peak)["p90_hours"] >= with_term.predict(peak)["p50_hours"]).all()
    with pytest.raises(ValueError, match="conformal"):
        EtaQuantiles(conformal="nope").fit(d, y)


def test_returns_model(tables):
    t = tables
    d = return_lines(t["orders"], t["order_lines"], t["products"], t["order_events"])
    y = d["returned"].to_numpy()
    assert 0 < y.mean() < 0.2
    m = clone(ReturnModel(max_iter=30)).fit(d, y)
    p = m.predict_proba(d)[:, 1]
    assert np.all((p >= 0) & (p <= 1)) and p[y].mean() > p[~y].mean()
    unknown = d.head(5).assign(sku="SKU-NEW", category="no-such-category")
    assert np.isfinite(m.predict_proba(unknown)).all()  # falls back to the overall rate
    rates = m.sku_rates()
    assert rates.between(0, 1).all() and rates.name == "expected_return_rate"
