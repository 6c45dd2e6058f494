"""Training pipeline with real MLflow: logging, registration, the promotion gate, fresh loading."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from mlflow import MlflowClient

from models.forecast import LSTMForecaster, SeasonalNaive
from models.forecast.synthetic import make_panel
from pipelines.registry import load_champion
from pipelines.train_forecast import train_forecast

NAME = "order_volume_forecaster__demo"


def lstm():
    return LSTMForecaster(horizon=7, exog=["is_holiday", "promotion_intensity", "temperature_c"],
                          input_size=14, max_steps=80, batch_size=32, hidden_size=16,
                          calibration_days=14, num_threads=1)


@pytest.fixture
def volume():
    return make_panel(n_series=1, n_days=200, level=500.0, holiday_every=20, random_state=11)


def test_gate_promotes_only_better_models_and_champion_loads_in_fresh_process(
    settings, mlflow_uri, volume, tmp_path
):
    kw = dict(target="volume", n_windows=2, step=7, progress=False, tenant="demo")
    # v1: a deliberately poor model (yesterday's value) becomes champion: there is none yet
    r1 = train_forecast(volume, models={"daily_naive": SeasonalNaive(season_length=1)},
                        register="daily_naive", **kw)
    assert r1.gate.promoted and r1.gate.reason == "no champion yet"
    # v2: the LSTM beats it on the same windows -> champion
    r2 = train_forecast(volume, models={"lstm": lstm()}, register="lstm", **kw)
    assert r2.gate.promoted, r2.gate.reason
    assert r2.gate.champion == pytest.approx(r1.gate.candidate)
    # v3: the poor model again -> worse than the champion re-scored on the same windows
    r3 = train_forecast(volume, models={"daily_naive": SeasonalNaive(season_length=1)},
                        register="daily_naive", **kw)
    assert not r3.gate.promoted and "not better" in r3.gate.reason
    assert r3.gate.champion == pytest.approx(r2.gate.candidate)

    client = MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == r2.version
    assert str(client.get_model_version_by_alias(NAME, "challenger").version) == r3.version
    assert r2.name == NAME and r2.alias == "champion" and r3.alias == "challenger"
    run = client.get_run(r2.run_id)
    assert {"wape", "accuracy", "mase", "coverage_80", "coverage_95",
            "lstm_h3_wape", "seasonal_naive_h7_mase"} <= set(run.data.metrics)
    assert {"input_hash", "data_start", "data_end", "n_windows"} <= set(run.data.params)
    arts = {a.path for a in client.list_artifacts(r2.run_id, "plots")}
    assert {"plots/forecast_vs_actual.png", "plots/influential_factors.png"} <= arts

    # the forecast dataset was written atomically under outputs/
    out = pd.read_parquet(r2.report.output_path)
    assert len(out) == 7 and (out["yhat"] >= 0).all() and set(out["model"]) == {"lstm"}

    # plain mlflow.pyfunc.load_model in a fresh process returns forecasts
    future = r2.report.forecast[["unique_id", "ds"]].merge(
        make_panel(n_series=1, n_days=207, level=500.0, holiday_every=20, random_state=11)
        .drop(columns="y"), on=["unique_id", "ds"])
    future.to_parquet(tmp_path / "future.parquet")
    code = (
        "import mlflow, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model('models:/{NAME}@champion')\n"
        f"x = pd.read_parquet({str(tmp_path / 'future.parquet')!r})\n"
        "out = m.predict(x)\n"
        "assert list(out.columns)[:3] == ['unique_id', 'ds', 'yhat'], out.columns\n"
        "assert len(out) == 7 and out['yhat'].notna().all()\n"
        "print('OK', round(float(out['yhat'].sum()), 3))\n"
    )
    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_uri)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    in_process = load_champion(NAME).predict(future)
    expected = round(float(in_process["yhat"].sum()), 3)
    assert proc.stdout.strip().splitlines()[-1] == f"OK {expected}"


def test_gbm_candidate_is_backtested_registered_and_loads(settings, mlflow_uri, volume, tmp_path):
    from pipelines.train_forecast import make_model

    gbm = make_model("gbm", "volume", 7, ["is_holiday", "promotion_intensity", "temperature_c"],
                     n_estimators=40)
    res = train_forecast(volume, models={"gbm": gbm}, register="gbm", target="volume",
                         n_windows=2, step=7, progress=False, tenant="demo")
    assert res.gate.promoted and res.name == NAME
    fc = res.report.forecast
    assert len(fc) == 7 and fc["yhat"].notna().all()
    assert (fc["yhat-lo-80"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat-hi-80"]).all()
    model = load_champion(NAME)
    assert type(model.unwrap_python_model().forecaster).__name__ == "GBMForecaster"


def test_combination_candidate_is_backtested_registered_and_loads(settings, mlflow_uri, volume):
    from pipelines.train_forecast import make_model

    exog = ["is_holiday", "promotion_intensity", "temperature_c"]
    combo = make_model("combination", "volume", 7, exog, n_jobs=1)
    combo.members[0][1].set_params(n_estimators=40)  # the GBM member, small
    res = train_forecast(volume, models={"combination": combo}, register="combination",
                         target="volume", n_windows=2, step=7, progress=False, tenant="demo")
    assert res.gate.promoted
    fc = res.report.forecast
    assert len(fc) == 7 and fc["yhat"].notna().all()
    assert (fc["yhat-lo-80"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat-hi-80"]).all()
    assert res.report.importance["feature"].str.startswith(("gbm: ", "prophet: ")).all()
    served = load_champion(NAME).unwrap_python_model().forecaster
    assert type(served).__name__ == "CombinationForecaster"
    assert set(served.members_) == {"gbm", "prophet"}
