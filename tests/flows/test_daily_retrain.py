"""The daily batch and weekly retrain on the Prefect test harness, real MLflow, ``tiny`` data.

Kept fast: the forecasters are the seasonal-naive baseline and LightGBM on 120 days of one or
two tenants; churn, router and risk training are covered by the demo test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from oms.lake import read_table, table_uri
from oms.tenancy import CHALLENGER, CHAMPION, InvalidTenantError, registered_name
from oms.versions import resolve_table

pytestmark = pytest.mark.flow
DAY = "2024-05-01"
ROOT = Path(__file__).resolve().parents[2]
VOLUME = "order_volume_forecaster"


@pytest.fixture(scope="module")
def landings(tmp_path_factory) -> Path:
    """120 days of ``tiny`` data for tenants ``acme`` and ``beta`` (generated once)."""
    from pipelines.generate import generate

    root = tmp_path_factory.mktemp("tenants")
    for tenant, seed in (("acme", 1), ("beta", 2)):
        generate("tiny", seed, str(root / tenant), tenant_id=tenant, start="2024-01-01",
                 days=120, progress=False)
    return root


def _land(settings, landings: Path, *tenants: str) -> None:
    for t in tenants:
        shutil.copytree(landings / t, Path(settings.landing) / t)


def _retrain(tenant: str, **kw):
    from flows.retrain import weekly_retrain_flow

    kw.setdefault("families", ("volume",))
    kw.setdefault("forecast_models", ())
    return weekly_retrain_flow(tenant, n_windows=2, **kw)


def _daily(tenant: str, **kw):
    from flows.daily import daily_batch_flow

    kw.setdefault("outputs", ("volume",))
    return daily_batch_flow(tenant, DAY, **kw)


def _bytes(root: str) -> dict[str, str]:
    """sha256 of every output parquet file (features are versioned snapshots, left out)."""
    base = Path(root)
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*.parquet")) if p.relative_to(base).parts[0] != "features"}


def _versions(name: str) -> list[str]:
    from mlflow import MlflowClient

    return sorted(str(v.version) for v in MlflowClient().search_model_versions(f"name='{name}'"))


def test_daily_is_idempotent_skips_without_new_data_and_without_a_champion(
        prefect_harness, settings, mlflow_uri, landings):
    _land(settings, landings, "acme")
    assert _retrain("acme").exit_code == 0
    first = _daily("acme", outputs=("volume", "churn"))
    assert first.step("forecast volume").status == "ok"
    churn = first.step("score churn")  # no churn champion: skipped with a clear message
    assert churn.status == "skipped" and "no champion registered for 'churn_classifier__acme'" \
        in churn.reason
    assert first.exit_code == 0
    watched = first.step("monitor")  # drift of the day, forecasts scored against actuals
    assert watched.status == "ok" and any("monitor_report" in f for f in watched.files)
    out = Path(settings.outputs)
    for kind in ("order_volume_forecast", "order_volume_forecast_72h"):
        latest = out / kind / "acme" / f"{kind}.parquet"
        dated = out / kind / "acme" / f"{kind}-{DAY}.parquet"
        assert latest.read_bytes() == dated.read_bytes()
    fc = pd.read_parquet(out / "order_volume_forecast" / "acme" / "order_volume_forecast.parquet")
    fc72 = pd.read_parquet(out / "order_volume_forecast_72h" / "acme"
                           / "order_volume_forecast_72h.parquet")
    assert len(fc) == 7 and len(fc72) == 3
    assert (fc["created_at"] == pd.Timestamp(DAY, tz="UTC")).all()
    before = _bytes(settings.outputs)
    orders = len(read_table(table_uri(settings.lake, "orders")))

    again = _daily("acme", outputs=("volume", "churn"))  # nothing new: skipped with a reason
    assert again.exit_code == 0 and again.step("ingest").status == "skipped"
    assert again.step("forecast volume").status == "skipped"
    assert "no new data and no new champion" in again.step("features").reason

    # forced, with the landing state lost: everything ingested and computed again
    from pipelines.landing_state import state_path

    state_path("acme").unlink()
    forced = _daily("acme", outputs=("volume", "churn"), force=True)
    assert forced.step("ingest").status == "ok" and forced.step("ingest").rows_in > 0
    assert forced.step("forecast volume").status == "ok"
    assert _bytes(settings.outputs) == before  # byte-identical outputs
    lake_orders = read_table(table_uri(settings.lake, "orders"))
    assert len(lake_orders) == orders and not lake_orders["order_id"].duplicated().any()
    assert _versions(registered_name(VOLUME, "acme")) == ["1"]  # no new registry version


def test_the_gate_keeps_the_champion_against_a_worse_model(prefect_harness, settings,
                                                           mlflow_uri, landings):
    from mlflow import MlflowClient

    _land(settings, landings, "acme")
    first = _retrain("acme", forecast_models=("gbm",))
    trained = first.step("train volume")
    assert trained.promoted == 1
    table = pd.DataFrame(trained.detail["backtest"])
    worst = table[table["horizon"] == table["horizon"].max()].sort_values("wape")["model"].iloc[-1]
    assert worst != trained.detail["chosen"]

    second = _retrain("acme", forecast_models=("gbm",), candidates={"volume": worst})
    gated = second.step("train volume")
    assert gated.status == "ok" and gated.trained == 1 and gated.promoted == 0 and gated.kept == 1
    assert "not better" in gated.detail["gate"]
    client = MlflowClient()
    name = registered_name(VOLUME, "acme")
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == "2"


def test_tenants_are_isolated_in_outputs_features_and_models(prefect_harness, settings,
                                                             mlflow_uri, landings):
    import mlflow

    from pipelines.landing_state import discover_tenants

    _land(settings, landings, "acme", "beta")
    assert discover_tenants(settings.landing, settings.lake) == ["acme", "beta"]
    for tenant in ("acme", "beta"):
        assert _retrain(tenant).exit_code == 0
        assert _daily(tenant).exit_code == 0
    lake = read_table(table_uri(settings.lake, "orders"))
    assert set(lake["tenant_id"]) == {"acme", "beta"}  # one shared lake
    for tenant, other in (("acme", "beta"), ("beta", "acme")):
        fc = pd.read_parquet(Path(settings.outputs) / "order_volume_forecast" / tenant
                             / "order_volume_forecast.parquet")
        assert set(fc["tenant_id"]) == {tenant} and other not in set(fc["unique_id"])
        feats = read_table(resolve_table(f"{settings.outputs}/features/{tenant}",
                                         "customer_features"))
        assert set(feats["tenant_id"].astype(str)) == {tenant}
        model = mlflow.pyfunc.load_model(f"models:/{registered_name(VOLUME, tenant)}@{CHAMPION}")
        assert set(model.unwrap_python_model().forecaster.ids_) == {tenant}


def test_a_malicious_tenant_is_refused(prefect_harness, settings, mlflow_uri):
    from typer.testing import CliRunner

    from flows.cli import app
    from flows.daily import daily_batch_flow

    with pytest.raises(InvalidTenantError):
        daily_batch_flow("../../etc", DAY)
    res = CliRunner().invoke(app, ["flows", "daily", "--tenant", "../../etc"])
    assert res.exit_code == 2 and "invalid tenant id" in res.output
    assert not (Path(settings.data_dir) / "state").exists()


def test_failures_keep_the_last_outputs_and_the_next_run_completes(
        prefect_harness, settings, mlflow_uri, landings, monkeypatch):
    """Unwritable outputs, unreachable MLflow, SIGKILL in features: last outputs kept, then done."""
    from prefect.settings import PREFECT_API_URL

    from oms.settings import get_settings
    from oms.versions import read_pointer

    _land(settings, landings, "acme")
    _retrain("acme")
    assert _daily("acme").exit_code == 0
    good = _bytes(settings.outputs)
    feats = f"{settings.outputs}/features/acme"
    pointer = read_pointer(feats)

    blocker = Path(settings.data_dir) / "not-a-folder"
    blocker.write_text("a file where the output root should be")
    monkeypatch.setenv("OMS_ML_OUTPUT_URI", str(blocker / "outputs"))
    get_settings.cache_clear()
    bad = _daily("acme", force=True)
    assert bad.exit_code == 1
    assert {"features", "forecast volume"} <= {s.step for s in bad.failed}
    assert _bytes(settings.outputs) == good
    monkeypatch.delenv("OMS_ML_OUTPUT_URI")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("OMS_ML_TRACKING_TIMEOUT", "1")
    get_settings.cache_clear()
    unreachable = _daily("acme", force=True)
    assert unreachable.exit_code == 1
    assert "MLflow store unusable" in unreachable.step("forecast volume").reason
    assert _bytes(settings.outputs) == good
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    get_settings.cache_clear()
    pointer = read_pointer(feats)  # features were refreshed by the run above

    env = {**os.environ, "OMS_ML_KILL_AT": "features:written",
           "PREFECT_API_URL": str(PREFECT_API_URL.value() or ""), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "flows.cli", "flows", "daily", "--tenant", "acme", "--date",
           DAY, "--outputs", "volume", "--force"]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert read_pointer(feats) == pointer  # the published features are the previous ones
    assert len(read_table(resolve_table(feats, "daily_volume"))) > 0
    assert _bytes(settings.outputs) == good

    env.pop("OMS_ML_KILL_AT")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_pointer(feats)["version"] == pointer["version"] + 1
    assert _bytes(settings.outputs) == good
