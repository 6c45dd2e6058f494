"""Issue 16 item 4: running for one tenant never touches another tenant's models or outputs.

Real MLflow on SQLite, real parquet lake, the CLI through Typer's runner.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from oms.lake import write_table
from oms.outputs import output_path, read_output, write_output
from oms.tenancy import registered_name

BAD_TENANTS = ["../../etc/x y", "a/b", "", "x" * 65, "tab\tid"]
TENANT_COMMANDS = [
    ["forecast"], ["train", "forecast"], ["train", "churn"], ["score", "churn"],
    ["train", "router"], ["route", "evaluate"],
    ["route", "reroute", "--orders", "o.csv", "--warehouses", "w.csv", "--stock", "s.csv",
     "--down", "w1"],
    ["import", "online-retail", "x.parquet"],
]


def invoke(args: list[str]):
    from flows.cli import app

    return CliRunner().invoke(app, args)


def no_traceback(res) -> bool:
    """Exit by ``typer.Exit``/usage error only: no exception escaped, no traceback printed."""
    return (res.exception is None or isinstance(res.exception, SystemExit)) and \
        "Traceback" not in res.output


@pytest.mark.parametrize("tenant", BAD_TENANTS)
@pytest.mark.parametrize("command", TENANT_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_invalid_tenant_is_a_usage_error_everywhere(command, tenant, settings):
    res = invoke([*command, "--tenant", tenant])
    assert res.exit_code == 2, res.output
    assert "invalid tenant id" in res.output and no_traceback(res)
    assert not (settings.data_dir / "mlflow.db").exists()  # refused before anything ran


def two_tenant_lake(root) -> str:
    """Orders of tenants ``demo`` and ``t2`` (different levels) in one lake."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=120)
    frames = []
    for tenant, level in (("demo", 40), ("t2", 400)):
        n = rng.poisson(level, len(days))
        d = np.repeat(days.to_numpy(), n)
        frames.append(pd.DataFrame({"tenant_id": tenant, "order_date": d,
                                    "total_amount": rng.gamma(3, 20, len(d))}))
    lake = str(root / "lake")
    write_table(pd.concat(frames, ignore_index=True), f"{lake}/orders")
    return lake


def test_forecast_champions_are_per_tenant(settings, mlflow_uri, tmp_path):
    from mlflow import MlflowClient

    from pipelines.score_forecast import forecast_champion
    from pipelines.train_forecast import train_from_lake

    lake, out = two_tenant_lake(tmp_path), str(tmp_path / "out")
    kw = dict(models=("seasonal_naive",), n_windows=2, output_uri=out, progress=False)
    t2 = train_from_lake(lake, "volume", tenant="t2", **kw)
    assert t2.name == "order_volume_forecaster__t2" and t2.promoted
    # demo has no champion: a clear error, not "cannot convert float NaN to integer"
    with pytest.raises(LookupError, match="tenant 'demo' has no order_volume_forecaster"):
        forecast_champion(lake, "volume", output_uri=out, tenant="demo")
    t2_file = output_path("order_volume_forecast", "t2", root=out)
    before = pd.read_parquet(t2_file)
    demo = train_from_lake(lake, "volume", tenant="demo", **kw)
    assert demo.promoted and demo.gate.reason == "no champion yet"  # t2's is not demo's
    fc_demo, path = forecast_champion(lake, "volume", output_uri=out, tenant="demo")
    assert path == output_path("order_volume_forecast", "demo", root=out)
    pd.testing.assert_frame_equal(pd.read_parquet(t2_file), before)  # t2's file untouched
    fc_t2, _ = forecast_champion(lake, "volume", output_uri=out, tenant="t2")
    assert set(fc_demo["unique_id"]) == {"demo"} and set(fc_t2["unique_id"]) == {"t2"}
    assert fc_t2["yhat"].mean() > 5 * fc_demo["yhat"].mean()  # each from its own data
    client = MlflowClient()
    for tenant in ("demo", "t2"):
        name = registered_name("order_volume_forecaster", tenant)
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    trends = read_output("sales_trend", root=out)
    assert set(trends["tenant_id"]) == {"demo", "t2"}  # per tenant, neither overwrote


def churn_lake(root) -> str:
    from test_churn import contract_orders, order_lines

    a = contract_orders(300, seed=1)
    b = contract_orders(200, seed=2).assign(tenant_id="t2")
    orders = pd.concat([a, b], ignore_index=True)
    lines = pd.concat([order_lines(a), order_lines(b).assign(
        sku=lambda d: "T2-" + d["sku"])], ignore_index=True)
    lake = str(root / "lake")
    write_table(orders, f"{lake}/orders", table="orders")
    write_table(lines, f"{lake}/order_lines", table="order_lines")
    return lake


def test_score_churn_for_one_tenant_keeps_the_other_tenants_outputs(mlflow_uri, tmp_path):
    from models.churn import ChurnClassifier
    from models.churn.strategy import RetentionConfig
    from pipelines.score_churn import score_churn
    from pipelines.train_churn import train_churn

    lake, out = churn_lake(tmp_path), str(tmp_path / "out")
    fast = {"max_iter": 40, "learning_rate": 0.1}
    # every customer gets recommendations, so the tenant check below sees every tenant's SKUs
    everyone = RetentionConfig(coupon_threshold=1.0, recommend_threshold=0.0)
    for tenant in ("t1", "t2"):
        res = train_churn(lake, 90, n_train=2, tenant_id=tenant,
                          classifier=ChurnClassifier(**fast))
        assert res.name == f"churn_classifier__{tenant}" and res.promoted
        score_churn(lake, out, tenant_id=tenant, config=everyone)
    kinds = ("churn_scores", "churn_exclusions", "churn_segments")
    t1_before = {k: pd.read_parquet(output_path(k, "t1", root=out)) for k in kinds}
    score_churn(lake, out, tenant_id="t2", config=everyone)  # again, for t2 only
    for k in kinds:
        pd.testing.assert_frame_equal(pd.read_parquet(output_path(k, "t1", root=out)),
                                      t1_before[k])
    scores = read_output("churn_scores", root=out)
    assert set(scores["tenant_id"]) == {"t1", "t2"}
    for tenant, group in scores.groupby("tenant_id"):  # no SKU of the other tenant
        skus = {s for r in group["recommended_skus"] for s in r.split("|") if s}
        assert skus and all(s.startswith("T2-") == (tenant == "t2") for s in skus)


def test_recommender_never_offers_another_tenants_sku():
    from models.churn.strategy import CoOccurrenceRecommender

    # both tenants use the SKU code "X"; tenant b's customers also buy "B1", "B2"
    buys = pd.DataFrame({
        "tenant_id": ["a", "a", "a", "b", "b", "b", "b", "b"],
        "customer_id": ["u1", "u2", "u2", "v1", "v1", "v2", "v2", "v3"],
        "sku": ["X", "X", "A1", "X", "B1", "X", "B2", "B2"],
    })
    rec = CoOccurrenceRecommender().fit(buys)
    skus, _ = rec.recommend("a", "u1", n=5)
    assert set(skus) <= {"X", "A1"} and "A1" in skus  # B1/B2 co-occur with X only in b
    best, why = rec.recommend("a", "nobody", n=5)
    assert set(best) == {"X", "A1"} and "tenant" in why
    assert rec.recommend("c", "nobody", n=5)[0] == []  # unknown tenant: nothing foreign


def test_outputs_are_atomic_and_refuse_foreign_rows(tmp_path):
    df = pd.DataFrame({"tenant_id": ["a", "a"], "x": [1, 2]})
    path = write_output(df, "churn_scores", "a", root=tmp_path)
    assert path == f"{tmp_path}/churn_scores/a/churn_scores.parquet"
    assert not list((tmp_path / "churn_scores" / "a").glob(".*tmp*"))  # no temp left
    with pytest.raises(ValueError, match="holds rows of"):
        write_output(df.assign(tenant_id=["a", "b"]), "churn_scores", "a", root=tmp_path)
    with pytest.raises(ValueError, match="invalid tenant id"):
        output_path("churn_scores", "../a", root=tmp_path)
    with pytest.raises(ValueError, match="unknown output kind"):
        output_path("../../etc", "a", root=tmp_path)
    dated = output_path("churn_scores", "a", run_date="2024-05-01", root=tmp_path)
    assert dated.endswith("churn_scores/a/churn_scores-2024-05-01.parquet")
