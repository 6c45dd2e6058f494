"""Outage rerouting: min-cost flow vs the LP optimum, capacity/stock respected, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.routing.mincostflow import lp_optimum, min_cost_assign
from pipelines.reroute import RerouteParams, reroute


def _instance(n: int, seed: int, tight: float = 1.2):
    rng = np.random.default_rng(seed)
    nw, ns = 5, 4
    cost = rng.uniform(1, 20, (n, nw))
    valid = rng.random((n, nw)) > 0.2
    sku = rng.integers(0, ns, n)
    cap = np.full(nw, int(n / nw * tight))
    stock = rng.poisson(n / ns / nw * tight, (nw, ns))
    return cost, valid, sku, cap, stock


def _check_feasible(a, valid, sku, cap, stock):
    w = a.warehouse
    s = w >= 0
    assert valid[np.flatnonzero(s), w[s]].all()
    assert (np.bincount(w[s], minlength=len(cap)) <= cap).all()
    used = np.zeros_like(stock)
    np.add.at(used, (w[s], sku[s]), 1)
    assert (used <= stock).all()


@pytest.mark.parametrize("tight", [1.3, 0.8])
def test_flow_matches_lp_optimum_on_small_instance(tight):
    cost, valid, sku, cap, stock = _instance(400, seed=1, tight=tight)
    lp_cost, lp_unserved = lp_optimum(cost, valid, sku, cap, stock)
    exact = min_cost_assign(cost, valid, sku, cap, stock)
    grouped = min_cost_assign(cost, valid, sku, cap, stock, exact_below=0)
    for a in (exact, grouped):
        _check_feasible(a, valid, sku, cap, stock)
        assert int((a.warehouse < 0).sum()) == lp_unserved
    assert exact.total_cost == pytest.approx(lp_cost, rel=1e-6)
    assert grouped.total_cost <= lp_cost * 1.01


def test_multi_unit_orders_use_the_integer_program():
    cost = np.array([[1.0, 5.0], [1.0, 2.0]])
    a = min_cost_assign(cost, np.ones((2, 2), bool), np.array([0, 0]), np.array([5, 5]),
                        np.array([[3], [3]]), qty=np.array([2, 2]))
    assert a.solver == "milp" and a.warehouse.tolist() == [0, 1] and a.total_cost == 3.0


def _network():
    wh = pd.DataFrame({"warehouse_id": ["A", "B", "C"], "lat": [31.0, 32.0, 30.0],
                       "lon": [121.0, 119.0, 120.0], "capacity": [5, 3, 3],
                       "cost_per_order": [2.0, 3.0, 2.5]})
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(8)], "warehouse_id": ["A"] * 4 + ["B"] * 2 + ["C"] * 2,
        "sku": ["x", "x", "y", "z", "x", "y", "x", "q"],
        "lat": [31.1, 31.2, 30.9, np.nan, 32.1, 31.9, 30.1, 30.2],
        "lon": [121.1, 121.0, 120.9, 121.0, 119.1, 119.2, 120.1, 120.0],
        "promised_hours": 24.0})
    stock = pd.DataFrame({"warehouse_id": ["B", "C", "C", "A", "A"],
                          "sku": ["x", "x", "y", "z", "x"], "on_hand": [2, 5, 1, 3, 4]})
    return orders, wh, stock


def test_outage_reroute_report_and_bad_rows():
    orders, wh, stock = _network()
    res = reroute(orders, wh, stock, down=["A"])
    out = res.assignments.set_index("order_id")
    assert not out["new_warehouse_id"].eq("A").any()
    assert out.loc["o3", "reason"] == "NaN delivery coordinates"
    assert out.loc["o7", "reason"] == "unknown SKU"
    served = out[out["routable"]]
    per_wh = served.groupby("new_warehouse_id").size()
    assert all(per_wh[w] <= wh.set_index("warehouse_id").loc[w, "capacity"] for w in per_wh.index)
    assert out.loc["o0", "moved"] and out.loc["o0", "expected_delay_hours"] > 0
    rep = res.report
    assert rep["orders_on_down_warehouses"] == 4 and rep["orders_moved"] == rep[
        "moved_from_down"] + rep["moved_from_up"]
    assert rep["unroutable"] == int((~out["routable"]).sum()) >= 3
    assert rep["added_cost"] == pytest.approx(out["added_cost"].sum())


def test_all_down_or_out_of_stock_is_explicitly_unroutable():
    orders, wh, stock = _network()
    res = reroute(orders, wh, stock, down=["A", "B", "C"])
    assert not res.assignments["routable"].any()
    assert set(res.assignments["reason"]) >= {"every warehouse is down"}
    res = reroute(orders, wh, stock.assign(on_hand=0), down=["A"])
    ok = res.assignments.dropna(subset=["reason"])
    assert not res.assignments["routable"].any()
    assert "no warehouse that is up has the SKU in stock" in set(ok["reason"])


def test_unknown_warehouse_is_a_clear_error():
    orders, wh, stock = _network()
    with pytest.raises(ValueError, match="unknown warehouse"):
        reroute(orders, wh, stock, down=["ZZ"])
    with pytest.raises(ValueError, match="unknown warehouse"):
        reroute(orders.assign(warehouse_id="ZZ"), wh, stock, down=["A"])
    with pytest.raises(ValueError, match="missing columns"):
        reroute(orders.drop(columns="sku"), wh, stock, down=["A"])


def test_move_penalty_keeps_orders_on_running_warehouses():
    orders, wh, stock = _network()
    res = reroute(orders, wh, stock, down=["A"], params=RerouteParams(move_penalty=100.0))
    out = res.assignments.set_index("order_id")
    assert not out.loc["o4", "moved"] and out.loc["o4", "new_warehouse_id"] == "B"
