"""The demo flow runs the whole nightly job end to end on real components.

Generated data → ingest → features → forecaster, churn classifier and router each trained,
logged to a real MLflow SQLite store, registered and gated; outputs written to the lake.
"""

from __future__ import annotations

import pytest

from oms.lake import read_table, table_uri
from oms.tenancy import CHAMPION, registered_name

pytestmark = pytest.mark.flow


def test_demo_flow_end_to_end(prefect_harness, settings, mlflow_uri):
    from mlflow import MlflowClient

    from flows.demo import demo_flow

    summary = demo_flow(scale="tiny", seed=3, forecast_models=("prophet",),
                        router_timesteps=2_000)

    assert list(summary) == ["generate", "ingest", "features", "forecast", "churn", "router"]
    for t in summary["ingest"]["tables"].values():
        assert t["rows_in"] == t["rows_valid"] + t["rows_quarantined"]
    orders = read_table(table_uri(settings.lake, "orders"))
    assert len(orders) == summary["generate"]["rows"]["orders"]

    fc = read_table(summary["forecast"]["forecast"])
    assert {"unique_id", "ds", "yhat", "yhat-lo-80", "yhat-hi-95"} <= set(fc.columns)
    assert (fc["yhat"] >= 0).all() and len(fc) >= 7

    assert summary["churn"]["scored"] > 0
    client = MlflowClient()
    for family in ("order_volume_forecaster", "churn_classifier", "warehouse_router"):
        # first version of each family has no champion to beat: the gate promotes it
        name = registered_name(family, settings.tenant_id)
        assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"
        assert summary[{"order_volume_forecaster": "forecast", "churn_classifier": "churn",
                        "warehouse_router": "router"}[family]]["promoted"]
