"""Shared fixtures: isolated settings, a per-test MLflow SQLite store, a session Spark."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Prefect must never touch the user's ~/.prefect, and tests never start a real server.
_PREFECT_HOME = tempfile.mkdtemp(prefix="oms-ml-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_API_URL", "")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED_RETAIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail.parquet"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings pointing every store at a fresh temporary data folder."""
    from oms.settings import get_settings

    monkeypatch.setenv("OMS_ML_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory) -> Path:
    """Migrate an empty MLflow SQLite store once per session (migrations cost seconds)."""
    import mlflow
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    mlflow.set_tracking_uri(uri)
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
    return path


@pytest.fixture
def mlflow_uri(_mlflow_template, tmp_path, monkeypatch):
    """A fresh, already-migrated MLflow store for one test (a copy of the template).

    Artifacts go to ``<tmp>/mlartifacts`` (the settings' artifact root), never the checkout.
    """
    from oms.settings import get_settings
    from pipelines.registry import configure_mlflow

    db = tmp_path / "mlflow.db"
    shutil.copy(_mlflow_template, db)
    # the template's Default experiment (id 0) stores artifacts where the session started
    # (the checkout's ./mlruns); point it at this test's folder like every other experiment
    import sqlite3

    with sqlite3.connect(db) as con:
        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                    ((tmp_path / "mlartifacts" / "0").as_uri(),))
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("OMS_ML_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "mlartifacts"))
    monkeypatch.chdir(tmp_path)  # anything still relative lands in the test's folder
    # set_experiment() leaves its id in a module global and in MLFLOW_EXPERIMENT_ID; a fresh
    # store has no such experiment, so forget it (else start_run() fails with "No Experiment")
    import mlflow.tracking.fluent as fluent

    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    get_settings.cache_clear()
    configure_mlflow(uri)
    yield uri
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run."""
    from features.spark import get_spark

    session = get_spark("local[2]", app_name="oms-ml-tests", shuffle_partitions=4)
    yield session
    session.stop()


@pytest.fixture
def retail_path() -> Path:
    """The shared Online Retail export, or skip where it is absent."""
    if not SHARED_RETAIL.exists():
        pytest.skip("../shared/data/online_retail.parquet is not beside this checkout")
    return SHARED_RETAIL


@pytest.fixture(scope="session", autouse=True)
def _no_mlruns_in_checkout():
    """Artifacts belong beside the store under the data dir, never in ./mlruns of the checkout."""
    root = Path(__file__).resolve().parents[1]
    existed = (root / "mlruns").exists()
    yield
    assert existed or not (root / "mlruns").exists(), "a test wrote MLflow artifacts to ./mlruns"
