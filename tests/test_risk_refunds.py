"""Refund auto-approval: design rule, calibrated approver, bad input never auto-approved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _risk_data import toy_orders
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.risk.refunds import (
    APPROVE,
    REVIEW,
    RefundApprover,
    design_rule,
    loss_rate,
    refund_features,
)
from pipelines.generator.risk import refund_requests


@pytest.fixture(scope="module")
def data():
    orders, _, customers = toy_orders(6000, seed=2)
    req, credit, truth = refund_requests(orders, customers, rate=0.25, seed=2)
    d = refund_features(req, orders, customers, credit)
    y = req[["request_id"]].merge(truth)["is_abuse"].to_numpy(bool)
    return orders, customers, credit, req, d, y


def test_generator_labels_depend_on_history(data):
    *_, d, y = data
    assert len(d) > 500 and 0.03 < y.mean() < 0.5
    low = d["credit_score"] < d["credit_score"].median()
    assert y[low.to_numpy()].mean() > y[~low.to_numpy()].mean()


def test_design_rule(data):
    *_, d, _ = data
    r = design_rule(d)
    approved = d[r["decision"].to_numpy() == APPROVE]
    assert (approved["credit_score"] >= 60).all() and (approved["amount"] <= 500).all()
    assert (approved["evidence_missing"] == 0).all()


def test_approver_fits_and_respects_threshold(data):
    *_, d, y = data
    m = RefundApprover(target_loss_rate=0.02, max_iter=50).fit(d, y)
    dec = m.decide(d)
    approved = dec[dec["decision"] == APPROVE]
    assert len(approved) and (approved["expected_loss"] < m.threshold_).all()
    assert (approved["p_abuse"] < m.max_probability).all()
    assert loss_rate(dec["decision"].to_numpy(), y, d["amount"].to_numpy(float)) < 0.06
    # direction: the same request with evidence is never more suspicious than without
    q = d[d["reason"].isin(["DAMAGED", "QUALITY_ISSUE"])].head(50)
    with_ev = q.assign(has_evidence=1.0, evidence_missing=0.0)
    without = q.assign(has_evidence=0.0, evidence_missing=1.0)
    assert m.predict_proba(with_ev)[:, 1].mean() <= m.predict_proba(without)[:, 1].mean()


def _bad_requests(data) -> pd.DataFrame:
    orders, customers, credit, req, _, _ = data
    good = req.iloc[[0, 1, 2, 3]].copy()
    never = orders.loc[orders["status"] == "cancelled", "order_id"].iloc[0]
    good.loc[good.index[0], "order_id"] = "O9999999999"
    good.loc[good.index[1], "order_id"] = never
    good.loc[good.index[2], "amount"] = -10.0
    good.loc[good.index[3], "amount"] = 10**7
    return refund_features(good, orders, customers, credit)


def test_bad_input_goes_to_human_review(data):
    *_, d, y = data
    bad = _bad_requests(data)
    m = RefundApprover(target_loss_rate=1.0, max_iter=20).fit(d, y)  # approve-all threshold
    for out in (m.decide(bad), design_rule(bad)):
        assert (out["decision"] == REVIEW).all()
        reasons = " ".join(out["reason"])
        for why in ("unknown order", "never delivered", "not positive", "exceeds the order"):
            assert why in reasons


def test_contract(data):
    *_, d, y = data
    est = RefundApprover(target_loss_rate=0.01, random_state=4)
    c = clone(est)
    assert c.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        c.decide(d)
    assert c.set_params(max_iter=20).fit(d, y) is c
    with pytest.raises(ValueError, match="too few"):
        RefundApprover().fit(d.head(30), y[:30])
    assert np.isfinite(c.predict_proba(d)).all()


def test_rule_paired_thresholds_keep_validation_loss_below_the_rule_with_margin(data):
    """target_loss_rate=None: thresholds are chosen against the rule on the same rows."""
    *_, d, y = data
    m = RefundApprover(target_loss_rate=None, margin_se=2.0, max_iter=50).fit(d, y)
    assert m.policy == "rule_guarded" and m.rule_cut_ is not None
    ok = np.flatnonzero(~m.decide(d)["reason"].str.startswith("needs human review").to_numpy())
    cut = int(len(ok) * (1 - m.validation_fraction))
    val = d.iloc[ok[cut:]]
    amount, yv = val["amount"].to_numpy(float), y[ok[cut:]]
    rule = design_rule(val)["decision"].to_numpy()
    assert m.target_ == pytest.approx(loss_rate(rule, yv, amount))
    dec = m.decide(val)
    model_loss = loss_rate(dec["decision"].to_numpy(), yv, amount)
    # the margin: the validation loss sits at least 2 bootstrap se below the rule's
    assert model_loss - m.target_ == pytest.approx(m.validation_["excess"])
    assert m.validation_["excess"] + 2 * m.validation_["excess_se"] <= 1e-12
    assert (dec["decision"] == APPROVE).mean() == pytest.approx(m.validation_["share"])
    # rule-guarded: a request the rule approves is approved iff p < rule_cut, with a reason
    # that names the rule
    on_rule = rule == APPROVE
    assert ((dec["decision"][on_rule] == APPROVE) == (dec["p_abuse"][on_rule] < m.rule_cut_)).all()
    assert dec["reason"][on_rule].str.contains("design rule approves").all()
    # a larger margin never approves more on validation
    safer = RefundApprover(target_loss_rate=None, margin_se=3.0, max_iter=50).fit(d, y)
    assert safer.validation_["share"] <= m.validation_["share"] + 1e-12


def test_cost_policy_and_bad_policy(data):
    *_, d, y = data
    m = RefundApprover(target_loss_rate=None, policy="cost", max_iter=50).fit(d, y)
    assert m.rule_cut_ is None
    dec = m.decide(d)
    approved = dec[dec["decision"] == APPROVE]
    assert (approved["expected_loss"] < m.threshold_).all()
    with pytest.raises(ValueError, match="policy"):
        RefundApprover(policy="yolo", max_iter=5).fit(d, y)
