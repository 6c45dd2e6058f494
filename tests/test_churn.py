"""Churn: classifier behaviour, strategies, the registry gate, scoring completeness, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.churn import (
    ChurnClassifier,
    CoOccurrenceRecommender,
    NotFittedError,
    RetentionConfig,
    assign_strategies,
)
from oms.lake import read_table, table_uri, write_table
from pipelines.score_churn import score_frame
from pipelines.train_churn import ChurnTables, fit_and_test

START = pd.Timestamp("2024-01-01")


def contract_orders(n_customers: int = 400, days: int = 420, seed: int = 0) -> pd.DataFrame:
    """Full contract orders from a buy-till-you-die population (rate λ, exponential lifetime)."""
    rng = np.random.default_rng(seed)
    cust, day = [], []
    for i in range(n_customers):
        lam, death = rng.gamma(2.0, 1 / 50), rng.exponential(days * 0.7)
        t = rng.uniform(0, days * 0.5)
        death += t
        while t < min(days, death):
            cust.append(f"c{i:04d}")
            day.append(int(t))
            t += rng.exponential(1 / lam)
    n = len(cust)
    dates = START + pd.to_timedelta(day, unit="D")
    return pd.DataFrame({
        "tenant_id": "t1", "order_id": [f"o{k:06d}" for k in range(n)],
        "customer_id": cust, "is_guest": False,
        "order_ts": (dates + pd.Timedelta(hours=10)).tz_localize("UTC"), "order_date": dates,
        "channel": rng.choice(["app", "web", "pos"], n), "region": "east",
        "warehouse_id": "w1", "status": "delivered",
        "total_amount": rng.gamma(3, 25, n).round(2), "currency": "CNY",
        "n_lines": 1, "promised_hours": 48.0, "delivery_hours": 30.0,
        "is_late": rng.random(n) < 0.1, "support_contacts": rng.integers(0, 2, n),
    })


def order_lines(orders: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Lines whose SKUs cluster by customer group, so co-occurrence has structure."""
    rng = np.random.default_rng(seed)
    group = orders["customer_id"].str[1:].astype(int) % 4
    sku = [f"S{g * 5 + k:02d}" for g, k in zip(group, rng.integers(0, 5, len(orders)),
                                                 strict=True)]
    return pd.DataFrame({
        "tenant_id": orders["tenant_id"], "order_id": orders["order_id"], "line_no": 1,
        "sku": sku, "quantity": 1, "unit_price": orders["total_amount"],
        "line_amount": orders["total_amount"], "is_product": True,
        "order_date": orders["order_date"],
    })


FAST = {"max_iter": 60, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def tables() -> ChurnTables:
    o = contract_orders()
    return ChurnTables(o, None, order_lines(o), None)


@pytest.fixture(scope="module")
def trained(tables):
    return fit_and_test(tables, 90, n_train=3, classifier=ChurnClassifier(**FAST))


def test_time_based_training_beats_chance_and_is_calibrated(trained):
    # training label windows all end on or before the test cutoff: no look-ahead
    assert max(trained.train_cutoffs) + pd.Timedelta(days=90) <= trained.test_cutoff
    m = trained.metrics
    assert m["roc_auc"] > 0.75 and m["brier"] < 0.22
    assert m["roc_auc"] >= m["baseline_p_alive_roc_auc"] - 0.02
    assert set(trained.model.validation_auc_) == {"hgb", "logreg"}
    t = trained.test_frame
    # calibration: mean predicted probability close to the observed churn rate
    assert abs(t["churn_probability"].mean() - t["churned"].mean()) < 0.1


def test_raising_recency_never_lowers_churn_probability_much(trained):
    t = trained.test_frame.head(150).drop(columns=["churn_probability"])
    base = trained.model.predict_proba(t)[:, 1]
    later = t.assign(recency_days=t["recency_days"] + 120)
    drop = base - trained.model.predict_proba(later)[:, 1]
    assert drop.max() < 0.05


def test_score_does_not_depend_on_row_order(trained):
    t = trained.test_frame.drop(columns=["churn_probability"])
    a = trained.model.predict_frame(t).set_index("customer_id")["churn_probability"]
    shuffled = t.sample(frac=1.0, random_state=3)[list(reversed(t.columns))]
    b = trained.model.predict_frame(shuffled).set_index("customer_id")["churn_probability"]
    assert np.allclose(a.sort_index(), b.sort_index(), atol=1e-12)


def test_classifier_bad_input_is_clear(trained):
    with pytest.raises(NotFittedError):
        ChurnClassifier().predict_proba(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(ValueError, match="both churned and retained"):
        ChurnClassifier().fit(pd.DataFrame({"x": [1.0, 2.0], "churned": [1, 1]}))
    with pytest.raises(ValueError, match="lacks columns"):
        trained.model.predict_proba(pd.DataFrame({"recency_days": [3.0]}))


def test_strategy_thresholds_are_configuration():
    df = pd.DataFrame({"tenant_id": "t", "customer_id": list("abcde"),
                       "churn_probability": [0.95, 0.71, 0.7, 0.5, 0.2]})
    out = assign_strategies(df)
    assert out["strategy"].tolist() == ["coupon", "coupon", "recommendation", "none", "none"]
    assert out["coupon_amount"].tolist() == [50.0, 50.0, 0.0, 0.0, 0.0]
    assert out["coupon_valid_days"].tolist() == [7, 7, 0, 0, 0]
    cfg = RetentionConfig(coupon_threshold=0.9, recommend_threshold=0.3, coupon_amount=20,
                          coupon_valid_days=3)
    out = assign_strategies(df, cfg)
    assert out["strategy"].tolist() == ["coupon"] + ["recommendation"] * 3 + ["none"]
    assert out.loc[0, "coupon_amount"] == 20 and out.loc[0, "coupon_valid_days"] == 3
    with pytest.raises(ValueError, match="recommend_threshold <= coupon_threshold"):
        RetentionConfig(coupon_threshold=0.4, recommend_threshold=0.6)
    with pytest.raises(ValueError, match="probability"):
        assign_strategies(df.assign(churn_probability=[1.5, 0, 0, 0, 0]))


def test_recommendations_come_from_history_and_similar_customers():
    buys = pd.DataFrame({
        "tenant_id": "t",
        "customer_id": ["a", "a", "a", "b", "b", "b", "c", "c", "d"],
        "sku": ["X", "X", "Y", "X", "Y", "Z", "X", "Z", "Q"],
    })
    rec = CoOccurrenceRecommender().fit(buys)
    skus, why = rec.recommend("t", "a", n=3, n_own=2)
    # own favourites first (X bought twice, then Y), then Z: bought with X and Y by b and c;
    # Q is never bought with a's items, so it only appears as a best-seller filler
    assert skus == ["X", "Y", "Z"] and "similar" in why
    assert rec.recommend("t", "a", n=3, n_own=2)[0] == skus  # deterministic
    popular, why = rec.recommend("t", "nobody", n=2)
    assert popular == ["X", "Y"] and "best sellers" in why
    df = pd.DataFrame({"tenant_id": "t", "customer_id": ["a"], "churn_probability": [0.6]})
    out = assign_strategies(df, RetentionConfig(n_recommendations=3), rec)
    assert out.loc[0, "recommended_skus"] == "X|Y|Z"


def test_scoring_covers_every_customer_and_reports_bad_ones(tables, trained):
    o = tables.orders
    bad = o.head(4).copy()
    bad["order_id"] = ["b1", "b2", "b3", "b4"]
    bad["customer_id"] = ["cancelled_only", "zero_spend", "one_order", "future_only"]
    bad["status"] = ["cancelled", "delivered", "delivered", "delivered"]
    bad["total_amount"] = [30.0, 0.0, 12.0, 15.0]
    bad["order_date"] = [o["order_date"].max()] * 3 + [o["order_date"].max()]
    cut = o["order_date"].max() - pd.Timedelta(days=1)
    bad.loc[3, "order_date"] = cut + pd.Timedelta(days=1)  # only after the cutoff
    bad.loc[:2, "order_date"] = cut
    customers = pd.DataFrame({"tenant_id": ["t1"], "customer_id": ["signed_up_only"]})
    t = ChurnTables(pd.concat([o, bad], ignore_index=True), None, tables.order_lines,
                    customers)
    res = score_frame(t, trained.model, cutoff=cut)
    reasons = res.excluded.set_index("customer_id")["reason"].to_dict()
    assert reasons == {
        "cancelled_only": "cancelled orders only", "zero_spend": "zero or negative monetary value",
        "future_only": "no orders on or before the cutoff",
        "signed_up_only": "no orders on or before the cutoff",
    }
    universe = set(t.orders["customer_id"]) | {"signed_up_only"}
    assert set(res.scored["customer_id"]) | set(reasons) == universe
    assert not set(res.scored["customer_id"]) & set(reasons)
    one = res.scored.set_index("customer_id").loc["one_order"]
    assert one["frequency"] == 1 and "one order" in one["notes"] and one["clv_365d"] > 0
    s = res.scored
    assert s["churn_probability"].between(0, 1).all() and s["segment"].notna().all()
    assert (s["clv_365d"] >= s["clv_90d"]).all()
    recs = s[s["strategy"] == "recommendation"]
    assert len(recs) and recs["recommended_skus"].str.len().gt(0).all()
    assert "3 customers excluded" not in " ".join(res.notes)  # four, all counted
    assert any("4 customers excluded" in n for n in res.notes)


def test_cutoff_outside_data_and_nobody_scorable(tables, trained):
    with pytest.raises(ValueError, match="outside the data range"):
        score_frame(tables, trained.model, cutoff="2031-01-01")
    with pytest.raises(ValueError, match="outside the usable data range"):
        fit_and_test(tables, 90, test_cutoff="2023-01-01")
    o = tables.orders.head(3).assign(status="cancelled")
    res = score_frame(ChurnTables(o), trained.model)
    assert res.scored.empty and len(res.excluded) == o["customer_id"].nunique()
    assert any("no customer can be scored" in n for n in res.notes)


def write_lake(root, tables: ChurnTables) -> str:
    lake = str(root / "lake")
    write_table(tables.orders, table_uri(lake, "orders"), table="orders")
    write_table(tables.order_lines, table_uri(lake, "order_lines"), table="order_lines")
    return lake


def test_train_register_gate_and_score_from_champion(tables, mlflow_uri, tmp_path):
    import mlflow

    from oms.tenancy import registered_name
    from pipelines.registry import champion_version
    from pipelines.score_churn import score_churn
    from pipelines.train_churn import FAMILY, train_churn

    lake = write_lake(tmp_path, tables)
    first = train_churn(lake, 90, n_train=2, tenant_id="t1", tracking_uri=mlflow_uri,
                        classifier=ChurnClassifier(**FAST))
    assert first.promoted and first.version == "1" and first.alias == "champion"
    assert first.name == registered_name(FAMILY, "t1") == "churn_classifier__t1"
    run = mlflow.get_run(first.run_id)
    for k in ("roc_auc", "pr_auc", "brier", "baseline_recency_roc_auc"):
        assert k in run.data.metrics
    arts = [a.path for a in mlflow.MlflowClient().list_artifacts(first.run_id, "plots")]
    assert "plots/reliability.png" in arts
    # same data, same model: the re-scored champion is as good, so no promotion
    second = train_churn(lake, 90, n_train=2, tenant_id="t1", tracking_uri=mlflow_uri,
                         classifier=ChurnClassifier(**FAST))
    assert second.version == "2" and not second.promoted and second.alias == "challenger"
    assert "not better" in second.gate.reason
    assert str(champion_version(first.name).version) == "1"
    out = str(tmp_path / "out")
    res = score_churn(lake, out, tenant_id="t1", tracking_uri=mlflow_uri)
    written = read_table(res.uris["churn_scores"])
    assert len(written) == len(res.scored) > 0 and set(written["model_version"]) == {"1"}
    assert written["strategy"].isin(["coupon", "recommendation", "none"]).all()
    assert len(read_table(res.uris["churn_segments"])) == 4


def test_cli_reports_bad_input_clearly(tables, tmp_path, settings):
    from typer.testing import CliRunner

    from flows.cli import app

    lake = write_lake(tmp_path, tables)
    runner = CliRunner()
    res = runner.invoke(app, ["score", "churn", "--lake", lake, "--tenant", "t1",
                              "--cutoff", "2031-01-01"])
    assert res.exit_code == 1 and "outside the data range" in res.output
    res = runner.invoke(app, ["train", "churn", "--lake", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = runner.invoke(app, ["score", "churn", "--lake", lake, "--coupon-threshold", "0.2"])
    assert res.exit_code == 2 and "recommend_threshold <= coupon_threshold" in res.output


def test_label_window_may_end_on_the_last_day_of_the_data():
    from pipelines.train_churn import plan_cutoffs

    o = pd.DataFrame({"order_date": pd.to_datetime(["2023-01-01", "2023-12-31"])})
    # (2023-10-02, 2023-12-31] is exactly 90 days and ends on the last day: it fits
    train, test = plan_cutoffs(o, 90, "2023-10-02", n_train=2)
    assert test == pd.Timestamp("2023-10-02") and train[-1] == pd.Timestamp("2023-07-04")
    assert plan_cutoffs(o, 90, n_train=2)[1] == pd.Timestamp("2023-10-02")  # the default
    with pytest.raises(ValueError, match="label needs 90 days after it"):
        plan_cutoffs(o, 90, "2023-10-03", n_train=2)
    # tz-aware days and a cutoff given with a time of day are the same calendar days
    utc = o.assign(order_date=o["order_date"].dt.tz_localize("UTC"))
    assert plan_cutoffs(utc, 90, "2023-10-02 15:00", n_train=2) == (train, test)
    with pytest.raises(ValueError, match="every order is on one day"):
        plan_cutoffs(o.assign(order_date=pd.Timestamp("2023-05-05")), 90)


def test_fit_and_test_returns_training_snapshots_and_full_baseline_metrics(trained):
    assert set(trained.train_frame["cutoff"]) == set(trained.train_cutoffs)
    assert trained.train_frame["cutoff"].max() < trained.test_cutoff
    m = trained.metrics
    for name in ("recency", "rfm_logit", "rfm_gbm", "p_alive", "bg_expected"):
        for metric in ("roc_auc", "pr_auc", "brier", "log_loss"):
            assert 0 <= m[f"baseline_{name}_{metric}"] < 1.5, (name, metric)
    # recency is a monotone transform: its ROC-AUC is that of raw recency
    from sklearn.metrics import roc_auc_score

    t = trained.test_frame
    assert m["baseline_recency_roc_auc"] == pytest.approx(
        roc_auc_score(t["churned"], t["recency_days"]), abs=1e-9)


def test_classifier_leaves_out_all_null_and_constant_columns(tables):
    from pipelines.train_churn import build_snapshots, plan_cutoffs

    cuts, _ = plan_cutoffs(tables.orders, 90, n_train=2)
    train = build_snapshots(tables, cuts, 90).assign(
        support_contacts=np.nan, fake_flag=1.0, half_known=lambda d: np.where(
            d.index % 2 == 0, 1.0, np.nan))
    m = ChurnClassifier(candidates=("logreg",)).fit(train)
    assert m.dropped_features_["support_contacts"] == "all null"
    assert m.dropped_features_["fake_flag"] == "constant 1.0"
    assert "half_known" in m.feature_names_ and "fake_flag" not in m.feature_names_
    only_fake = train[["cutoff", "churned", "fake_flag"]]
    with pytest.raises(ValueError, match="no informative feature columns"):
        ChurnClassifier(candidates=("logreg",)).fit(only_fake)


def test_strategy_value_follows_the_stated_assumptions():
    from models.churn import CampaignAssumptions, strategy_value

    p = np.array([0.9, 0.8, 0.6, 0.2])
    y = np.array([1, 0, 1, 0])
    v = np.array([100.0, 100.0, 100.0, 100.0])
    a = CampaignAssumptions(coupon_save_rate=0.5, recommend_save_rate=0.1,
                            redeem_rate_if_staying=0.2, contact_cost=1.0, margin=0.5)
    out = strategy_value(p, y, v, RetentionConfig(), a).set_index("group")
    # coupon: customers 0 (churner) and 1 (stayer); 0.5 saved × 50 margin value = 25 gain;
    # cost = 50 × (0.5 saved + 0.2 × 1 stayer) + 2 contacts = 37
    assert out.loc["coupon", ["customers", "saved", "gain", "cost"]].tolist() == [
        2.0, 0.5, 25.0, 37.0]
    # recommendation: customer 2 (churner): 0.1 saved × 50 = 5 gain, 1 contact
    assert out.loc["recommendation", "net"] == pytest.approx(4.0)
    assert out.loc["total", "net"] == pytest.approx(25 - 37 + 4)
    assert out.loc["random", "customers"] == pytest.approx(3.0)


def test_one_customer_is_refused_with_the_reason():
    o = contract_orders(n_customers=40, seed=3)
    one = o[o["customer_id"] == o["customer_id"].value_counts().index[0]]
    with pytest.raises(ValueError, match=r"hold 1 customer\(s\)"):
        fit_and_test(ChurnTables(one.reset_index(drop=True)), 30, n_train=1)
