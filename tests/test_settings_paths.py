"""One data folder for the CLI, notebooks and scripts, wherever they start."""

from __future__ import annotations

from pathlib import Path

from oms.settings import Settings, project_root

ROOT = Path(__file__).resolve().parents[1]


def test_default_data_dir_is_the_projects_from_any_subfolder(monkeypatch):
    monkeypatch.delenv("OMS_ML_DATA_DIR", raising=False)
    for start in (ROOT, ROOT / "notebooks", ROOT / "pipelines" / "generator"):
        monkeypatch.chdir(start)
        assert project_root() == ROOT
        s = Settings()
        assert s.data_dir == ROOT / "data" and s.lake == str(ROOT / "data" / "lake")
        assert s.artifact_root == str(ROOT / "data" / "mlartifacts")


def test_outside_a_checkout_and_relative_overrides(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMS_ML_DATA_DIR", raising=False)
    assert Settings().data_dir == tmp_path.resolve() / "data"
    monkeypatch.setenv("OMS_ML_DATA_DIR", "elsewhere")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri sets it
    assert Settings().data_dir == tmp_path.resolve() / "elsewhere"
    assert Settings().tracking_uri == f"sqlite:///{tmp_path.resolve() / 'elsewhere' / 'mlflow.db'}"


def test_flows_retry_only_their_io_tasks_and_time_out_every_task():
    from flows import tasks

    io = (tasks.generate_task, tasks.ingest_task, tasks.features_task, tasks.tracking_task,
          tasks.score_task, tasks.monitor_task)
    for task in io:
        assert task.retries == 2 and list(task.retry_delay_seconds) == [2, 4], task.name
    train = (tasks.train_forecast_task, tasks.train_churn_task, tasks.train_router_task,
             tasks.train_risk_task)
    for task in train:  # a retry would register a second version
        assert task.retries == 0, task.name
    for task in (*io, *train):
        assert task.timeout_seconds and task.timeout_seconds > 0, task.name
