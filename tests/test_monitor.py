"""Monitoring step: drift on a shifted day (and not on an ordinary one), forecast vs actual."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.monitoring.accuracy import accuracy_summary, merge_tracking, score_forecasts
from oms.lake import read_table, table_uri, write_table
from pipelines.monitor import MonitorThresholds, latest_report, monitor_day

START, DAYS = "2024-03-01", 45
LAST = pd.Timestamp(START) + pd.Timedelta(days=DAYS - 1)  # the monitored day


def _ingest(landing: Path, lake: Path) -> str:
    from pipelines.ingest import ingest

    ingest(str(landing), str(lake), str(lake.parent / f"{lake.name}-quarantine"))
    return str(lake)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory) -> dict[str, str]:
    """A tiny generated lake, and a copy whose last day has every price × 1.5."""
    from pipelines.generate import generate

    base = tmp_path_factory.mktemp("monitor")
    generate("tiny", seed=11, out=str(base / "landing"), start=START, days=DAYS)
    shutil.copytree(base / "landing", base / "landing_shifted")
    shifted = base / "landing_shifted"
    for table, cols in (("orders", ["total_amount"]),
                        ("order_lines", ["unit_price", "line_amount"])):
        df = read_table(table_uri(shifted, table))
        last = pd.to_datetime(df["order_date"]).dt.normalize() == LAST
        df.loc[last, cols] = (df.loc[last, cols] * 1.5).round(2)
        write_table(df, table_uri(shifted, table), table=table)
    return {"ordinary": _ingest(base / "landing", base / "lake"),
            "shifted": _ingest(shifted, base / "lake_shifted")}


def test_shifted_day_raises_a_drift_alert_and_logs_to_mlflow(lakes, tmp_path, mlflow_uri):
    from mlflow import MlflowClient

    rep = monitor_day(lakes["shifted"], "demo", LAST, outputs=str(tmp_path / "out"))
    drifted = set(rep.drift.loc[rep.drift["drifted"], "column"])
    assert {"unit_price", "line_amount"} <= drifted, rep.drift
    assert rep.drift_share >= MonitorThresholds().drift_share
    assert any(a.startswith("drift demo 2024-04-14") and "unit_price" in a for a in rep.alerts)
    html = Path(rep.paths["drift_html"]).read_text()
    assert "<html" in html.lower() and "unit_price" in html
    # self-contained: no script or stylesheet fetched from the network
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?https?://", html)
    doc = json.loads(Path(rep.paths["drift_json"]).read_text())
    assert doc["drift_share"] == rep.drift_share and len(doc["columns"]) == len(rep.drift)
    run = MlflowClient(mlflow_uri).get_run(rep.run_id)
    assert run.data.metrics["drift_share"] == pytest.approx(rep.drift_share)
    names = {f.path for f in MlflowClient(mlflow_uri).list_artifacts(rep.run_id, "monitoring")}
    assert {f"monitoring/{Path(p).name}" for p in rep.paths.values()} <= names


def test_ordinary_day_raises_no_drift_alert(lakes, tmp_path):
    rep = monitor_day(lakes["ordinary"], "demo", LAST, outputs=str(tmp_path / "out"),
                      log_to_mlflow=False)
    assert len(rep.drift) >= 8 and rep.drift_share < MonitorThresholds().drift_share, rep.drift
    assert not [a for a in rep.alerts if a.startswith("drift")]
    assert "drift_html" in rep.paths and "summary" in rep.paths
    summary = latest_report("demo", str(tmp_path / "out"))
    assert summary["run_date"] == "2024-04-14" and summary["alerts"] == rep.alerts
    assert latest_report("other", str(tmp_path / "out")) is None


def _hand_forecast() -> pd.DataFrame:
    ds = pd.date_range("2024-01-02", periods=5)
    return pd.DataFrame({
        "unique_id": "demo", "ds": ds, "model_version": "3",
        "yhat": [12.0, 15.0, 1.0, 5.0, 9.0],
        "yhat-lo-80": [11.0, 16.0, 0.0, 4.0, 8.0], "yhat-hi-80": [13.0, 22.0, 2.0, 6.0, 10.0],
        "yhat-lo-95": [9.0, 14.0, 0.0, 3.0, 7.0], "yhat-hi-95": [15.0, 24.0, 3.0, 7.0, 11.0]})


def test_forecast_vs_actual_matches_a_hand_computation():
    fc = _hand_forecast()
    # actuals of the first 4 days; 2024-01-04 has no row: it arrived with nothing sold (y = 0)
    act = pd.DataFrame({"unique_id": "demo", "y": [10.0, 20.0, 5.0],
                        "ds": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-05"])})
    scored, pending = score_forecasts(fc, act, "2024-01-05", "volume")
    assert scored["y"].tolist() == [10.0, 20.0, 0.0, 5.0]
    assert scored["forecast_date"].unique().tolist() == [pd.Timestamp("2024-01-01")]
    assert scored["horizon"].tolist() == [1, 2, 3, 4]
    # |10-12| + |20-15| + |0-1| + |5-5| = 8 over 10 + 20 + 0 + 5 = 35
    s = accuracy_summary(scored).iloc[0]
    assert s["n"] == 4 and s["wape"] == pytest.approx(8 / 35)
    # inside 80%: 10 in [11,13] no; 20 in [16,22] yes; 0 in [0,2] yes; 5 in [4,6] yes
    assert s["coverage_80"] == pytest.approx(3 / 4)
    assert s["coverage_95"] == pytest.approx(4 / 4)
    # the fifth day has not arrived: pending, not scored
    assert pending["ds"].tolist() == [pd.Timestamp("2024-01-06")] and len(scored) == 4
    # a rerun (with a corrected actual) replaces rows instead of appending duplicates
    again, _ = score_forecasts(fc, act.assign(y=[10.0, 21.0, 5.0]), "2024-01-05", "volume")
    table = merge_tracking(merge_tracking(None, scored), again)
    assert len(table) == 4 and table["y"].tolist() == [10.0, 21.0, 0.0, 5.0]


def _write_volume_forecast(out: Path, ds: pd.DatetimeIndex, version: str, dated: bool) -> None:
    from oms.outputs import write_output

    fc = pd.DataFrame({"unique_id": "demo", "ds": ds, "yhat": 60.0, "yhat-lo-80": 40.0,
                       "yhat-hi-80": 80.0, "yhat-lo-95": 30.0, "yhat-hi-95": 90.0,
                       "tenant_id": "demo", "model_version": version})
    write_output(fc, "order_volume_forecast", "demo", root=out)
    if dated:
        write_output(fc, "order_volume_forecast", "demo", ds[0] - pd.Timedelta(days=1), out)


def test_stored_forecasts_are_scored_once_their_day_arrives(lakes, tmp_path):
    out = tmp_path / "out"
    ds = pd.date_range(LAST - pd.Timedelta(days=2), periods=5)  # 3 arrived, 2 in the future
    _write_volume_forecast(out, ds, "7", dated=True)  # latest + dated copy: counted once
    quiet = MonitorThresholds(min_rows=10**9)  # no drift test here: only accuracy
    rep = monitor_day(lakes["ordinary"], "demo", LAST, outputs=str(out), thresholds=quiet,
                      log_to_mlflow=False)
    orders = read_table(table_uri(lakes["ordinary"], "orders"))
    per_day = orders.groupby(pd.to_datetime(orders["order_date"]).dt.normalize()).size()
    y = per_day.reindex(ds[:3]).to_numpy(float)
    table = pd.read_parquet(rep.paths["accuracy"])
    assert len(table) == 3 and table["y"].tolist() == y.tolist()
    row = rep.accuracy.set_index(["target", "model_version"]).loc[("volume", "7")]
    assert row["wape"] == pytest.approx(np.abs(y - 60).sum() / y.sum())
    assert row["coverage_80"] == pytest.approx(np.mean((y >= 40) & (y <= 80)))
    assert row["pending"] == 2 and len(rep.pending) == 2
    assert rep.pending["ds"].min() > LAST
    # rerunning the same day leaves the tracking table as it was
    again = monitor_day(lakes["ordinary"], "demo", LAST, outputs=str(out), thresholds=quiet,
                        log_to_mlflow=False)
    assert len(pd.read_parquet(again.paths["accuracy"])) == 3


def test_accuracy_alert_when_wape_crosses_the_threshold(lakes, tmp_path):
    out = tmp_path / "out"
    _write_volume_forecast(out, pd.date_range(LAST - pd.Timedelta(days=4), periods=5), "2",
                           dated=False)
    strict = MonitorThresholds(min_rows=10**9, max_wape_volume=0.0)
    rep = monitor_day(lakes["ordinary"], "demo", LAST, outputs=str(out), thresholds=strict,
                      log_to_mlflow=False)
    assert any(a.startswith("accuracy demo volume model v2") and "WAPE" in a
               for a in rep.alerts), rep.alerts


def test_nothing_to_monitor_says_so(tmp_path):
    rep = monitor_day(str(tmp_path / "no-lake"), "demo", "2024-01-01",
                      outputs=str(tmp_path / "out"), log_to_mlflow=False)
    assert rep.alerts == [] and rep.drift_share is None
    assert any("drift not tested" in n for n in rep.notes)
    assert any("no stored forecasts" in n for n in rep.notes)
    with pytest.raises(ValueError, match="not a date"):
        monitor_day(str(tmp_path), "demo", "yesterday-ish", log_to_mlflow=False)


def test_an_unusable_mlflow_store_is_an_alert_not_a_crash(tmp_path, monkeypatch):
    bad = tmp_path / "mlflow.db"
    bad.write_bytes(b"not a database at all")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{bad}")
    rep = monitor_day(str(tmp_path / "no-lake"), "demo", "2024-01-01",
                      outputs=str(tmp_path / "out"))
    assert rep.run_id is None and Path(rep.paths["summary"]).is_file()
    assert any("not logged to MLflow" in a and "corrupt" in a for a in rep.alerts), rep.alerts
    assert latest_report("demo", str(tmp_path / "out"))["alerts"] == rep.alerts
