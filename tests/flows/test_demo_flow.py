"""The demo runs the business end to end on real components: generate, weekly retrain, daily.

Generated data → ingest → features → every family trained, logged to a real MLflow SQLite
store, registered and gated → the daily batch writes every output with the new champions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from oms.lake import read_table, table_uri
from oms.tenancy import CHAMPION, registered_name

pytestmark = pytest.mark.flow
DAY = "2024-02-05"


def test_demo_flow_end_to_end(prefect_harness, settings, mlflow_uri):
    from mlflow import MlflowClient

    from flows.demo import demo_flow

    summary = demo_flow(scale="tiny", seed=3, forecast_models=("prophet",), sku_models=(),
                        n_windows=2, router_timesteps=2_000, run_date=DAY,
                        risk_families=("anomaly", "refunds"))
    steps: dict = {}
    for s in summary.steps:  # ingest and features run in both flows: keep the first
        steps.setdefault(s.step, s)
    assert summary.exit_code == 0, [(s.step, s.reason) for s in summary.failed]
    assert steps["ingest"].rows_in == sum(steps["generate"].detail["rows"].values())
    orders = read_table(table_uri(settings.lake, "orders"))
    assert len(orders) == steps["generate"].detail["rows"]["orders"]

    client = MlflowClient()
    for step, family in (("train volume", "order_volume_forecaster"),
                         ("train sku", "sku_demand_forecaster"),
                         ("train churn", "churn_classifier"),
                         ("train router", "warehouse_router"),
                         ("train risk", "abnormal_orders"), ("train risk", "refund_approval")):
        assert steps[step].status == "ok" and steps[step].promoted >= 1, steps[step].reason
        name = registered_name(family, settings.tenant_id)
        # first version of each family has no champion to beat: the gate promotes it
        assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"

    out = Path(settings.outputs)
    for kind in ("order_volume_forecast", "order_volume_forecast_72h", "sku_demand_forecast",
                 "churn_scores", "inventory_recommendations", "abnormal_order_flags",
                 "refund_decisions"):
        dated = out / kind / settings.tenant_id / f"{kind}-{DAY}.parquet"
        assert dated.is_file(), kind
        df = pd.read_parquet(dated)
        assert len(df) and set(df["tenant_id"].astype(str)) == {settings.tenant_id}, kind
    fc = pd.read_parquet(out / "order_volume_forecast" / settings.tenant_id
                         / f"order_volume_forecast-{DAY}.parquet")
    assert {"unique_id", "ds", "yhat", "yhat-lo-80", "yhat-hi-95"} <= set(fc.columns)
    assert (fc["yhat"] >= 0).all() and len(fc) == 7
    for name in ("forecast volume", "forecast sku", "score churn", "inventory", "score risk"):
        assert steps[name].status == "ok", (name, steps[name].reason)

