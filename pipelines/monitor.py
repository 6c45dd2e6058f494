"""The daily monitoring step: data drift of the day and forecast-vs-actual tracking, with alerts.

``monitor_day(lake, tenant, run_date)`` is the one entry point (the daily flow calls it after
ingest and scoring):

* **Drift** — the day's order lines and orders against a reference window of the
  ``reference_days`` (28) days before it, with Evidently's ``DataDriftPreset``
  (:mod:`models.monitoring.drift` says which rows and tests, and why). The reference is the
  recent past rather than the champion's training window: that window spans years for a
  mature tenant (a day's shift drowns in seasonality) and a tenant without a champion is
  still monitored. Written as ``drift_report/<tenant>/drift_report-<day>.html`` and ``.json``.
* **Forecast vs actual** — every stored forecast (latest and dated copies of the volume and
  SKU forecasts, champion and challenger) is scored once its day has arrived: WAPE and 80/95 %
  interval coverage. Scored rows accumulate in ``forecast_accuracy/<tenant>/
  forecast_accuracy.parquet`` (one row per target, model version, forecast date, series and
  day: a rerun replaces, never duplicates; written atomically). A target day has arrived when
  it is on or before both the run date and the tenant's last order day in the lake; later
  days are reported as pending, not scored.
* **Alerts** — one line each when the drifted-column share or a model version's recent WAPE /
  coverage crosses :class:`MonitorThresholds` (arguments or ``OMS_ML_MONITOR_*`` variables).

A summary goes to ``monitor_report/<tenant>/monitor_report-<day>.json``; all files are
logged to MLflow (experiment ``monitoring``) through an explicit run id.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.monitoring.accuracy import accuracy_summary, merge_tracking, score_forecasts
from models.monitoring.drift import ColumnDrift, drift_rows, run_drift
from oms.outputs import output_path, write_output
from oms.settings import get_settings
from oms.tenancy import validate_tenant
from pipelines import monitor_inputs as inputs

EXPERIMENT = "monitoring"


class MonitorThresholds(BaseSettings):
    """When the monitoring step raises an alert (env ``OMS_ML_MONITOR_<NAME>`` overrides).

    Attributes:
        drift_share: Alert when at least this share of the compared columns drifted.
        p_value: A column drifted when its test's p-value is at or below this.
        reference_days: Days before the run date that form the drift reference.
        min_rows: Fewest order lines on the day for a drift test (fewer: a note, no test).
        max_wape_volume: Alert when a volume model's WAPE over the window exceeds this.
        max_wape_sku: Same for SKU demand models (intermittent series score worse).
        min_coverage_80: Alert when fewer actuals than this fall inside the 80 % interval.
        min_coverage_95: Same for the 95 % interval.
        window_days: Accuracy alerts look at target days in the last N days up to the run date.
        min_scored: Fewest scored rows in the window before an accuracy alert can fire.
    """

    model_config = SettingsConfigDict(env_prefix="OMS_ML_MONITOR_", extra="ignore")

    drift_share: float = 0.2
    p_value: float = 0.01
    reference_days: int = 28
    min_rows: int = 30
    max_wape_volume: float = 0.3
    max_wape_sku: float = 0.7
    min_coverage_80: float = 0.6
    min_coverage_95: float = 0.8
    window_days: int = 7
    min_scored: int = 3


@dataclass
class MonitorReport:
    """What one monitoring run found and wrote.

    Attributes:
        tenant: Tenant id.
        run_date: The monitored day (ISO).
        alerts: One line per crossed threshold (for the flow summary).
        notes: Why a part was skipped (no orders that day, no forecasts yet, ...).
        paths: Written files: ``drift_html``, ``drift_json``, ``accuracy``, ``summary``.
        drift: Per-column drift: ``column, method, score, threshold, drifted``.
        drift_share: Share of compared columns that drifted (None when not tested).
        accuracy: Per target and model version over the alert window: ``n, wape,
            coverage_80, coverage_95, ...`` plus ``pending`` (forecast rows still waiting).
        pending: Forecast rows whose day has not arrived (key columns and ``yhat``).
        run_id: MLflow run id (None when not logged).
    """

    tenant: str
    run_date: str
    alerts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift_share: float | None = None
    accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)
    pending: pd.DataFrame = field(default_factory=pd.DataFrame)
    run_id: str | None = None


def _sibling(kind: str, tenant: str, run_date: pd.Timestamp, root: str | None,
             suffix: str) -> Path:
    """``<root>/<kind>/<tenant>/<kind>-<day><suffix>`` (the outputs layout, another format)."""
    return Path(output_path(kind, tenant, run_date, root).removesuffix(".parquet") + suffix)


def _atomic_text(text: str, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return str(path)


def check_drift(lake: str, tenant: str, run_date: pd.Timestamp, th: MonitorThresholds,
                rep: MonitorReport) -> ColumnDrift | None:
    """The day's drift against the reference window (None, with a note, when untestable)."""
    start = run_date - pd.Timedelta(days=th.reference_days)
    rows = drift_rows(*inputs.lake_rows(lake, tenant, start, run_date))
    today = rows["order_date"] == run_date
    current, reference = rows[today], rows[~today]
    n_lines = int((current["unit"] == "line").sum())
    if n_lines < th.min_rows:
        rep.notes.append(f"drift not tested: {n_lines} order lines on {rep.run_date} "
                         f"(need {th.min_rows})")
        return None
    if (reference["unit"] == "line").sum() < th.min_rows:
        rep.notes.append(f"drift not tested: the {th.reference_days} days before "
                         f"{rep.run_date} hold too few orders for a reference")
        return None
    return run_drift(reference, current, threshold=th.p_value)


def write_drift(result: ColumnDrift, tenant: str, run_date: pd.Timestamp, root: str | None
                ) -> dict[str, str]:
    """Evidently's HTML and a JSON of the per-column results, atomically."""
    doc = {"tenant": tenant, "run_date": str(run_date.date()), "drift_share": result.share,
           "columns": result.table.to_dict(orient="records"),
           "evidently": result.snapshot.dict() if result.snapshot is not None else None}
    paths = {"drift_json": _atomic_text(json.dumps(doc, indent=1, default=str),
                                        _sibling("drift_report", tenant, run_date, root,
                                                 ".json"))}
    if result.snapshot is not None:
        html = _sibling("drift_report", tenant, run_date, root, ".html")
        tmp = html.parent / f".{html.name}.tmp-{uuid.uuid4().hex[:8]}"
        html.parent.mkdir(parents=True, exist_ok=True)
        try:
            result.snapshot.save_html(str(tmp))
            os.replace(tmp, html)
        finally:
            tmp.unlink(missing_ok=True)
        paths["drift_html"] = str(html)
    return paths


def track_accuracy(lake: str, tenant: str, run_date: pd.Timestamp, root: str | None,
                   rep: MonitorReport) -> pd.DataFrame:
    """Score the stored forecasts whose day has arrived; update the tracking table.

    Returns:
        The whole tracking table after this run (empty without scored forecasts).
    """
    forecasts = inputs.stored_forecasts(root, tenant)
    if not forecasts:
        rep.notes.append("forecast accuracy: no stored forecasts yet")
        return pd.DataFrame()
    last = inputs.last_order_day(lake, tenant)
    arrived = min(run_date, last) if last is not None else None
    scored, pending = [], []
    now = pd.Timestamp.now(tz="UTC")
    for target, fc in forecasts.items():
        start = pd.Timestamp(fc["ds"].min()).normalize()
        until = arrived if arrived is not None else start - pd.Timedelta(days=1)
        act = (inputs.actuals(lake, tenant, target, start, until) if until >= start
               else pd.DataFrame(columns=["unique_id", "ds", "y"]))
        s, p = score_forecasts(fc, act, until, target, scored_at=now)
        scored.append(s)
        pending.append(p)
    rep.pending = pd.concat(pending, ignore_index=True)
    path = Path(output_path("forecast_accuracy", tenant, root=root))
    existing = pd.read_parquet(path) if path.is_file() else None
    table = merge_tracking(existing, pd.concat(scored, ignore_index=True))
    if len(table):
        rep.paths["accuracy"] = write_output(table.assign(tenant_id=tenant),
                                             "forecast_accuracy", tenant, root=root)
    return table


def recent_accuracy(table: pd.DataFrame, pending: pd.DataFrame, run_date: pd.Timestamp,
                    window_days: int) -> pd.DataFrame:
    """Accuracy per target and model version over the window, with pending row counts."""
    by = ["target", "model_version"]
    if len(table):
        lo = run_date - pd.Timedelta(days=window_days)
        recent = table[(table["ds"] > lo) & (table["ds"] <= run_date)]
    else:
        recent = table
    summary = accuracy_summary(recent, by)
    if len(pending):
        waiting = pending.groupby(by).size().rename("pending").reset_index()
        summary = summary.merge(waiting, on=by, how="outer")
    if "pending" not in summary:
        summary["pending"] = 0
    summary["pending"] = summary["pending"].fillna(0).astype(int)
    summary["n"] = summary["n"].fillna(0).astype(int)
    return summary


def alerts_for(rep: MonitorReport, th: MonitorThresholds) -> list[str]:
    """One line per crossed threshold."""
    out = []
    if rep.drift_share is not None and rep.drift_share >= th.drift_share:
        cols = rep.drift.loc[rep.drift["drifted"], "column"].tolist()
        out.append(f"drift {rep.tenant} {rep.run_date}: {len(cols)} of {len(rep.drift)} "
                   f"columns drifted (share {rep.drift_share:.2f} >= {th.drift_share:g}): "
                   f"{', '.join(cols)}")
    for r in rep.accuracy.itertuples(index=False):
        if r.n < th.min_scored:
            continue
        what = f"accuracy {rep.tenant} {r.target} model v{r.model_version} (last " \
               f"{th.window_days} days, {r.n} rows):"
        limit = th.max_wape_volume if r.target == "volume" else th.max_wape_sku
        if pd.notna(r.wape) and r.wape > limit:
            out.append(f"{what} WAPE {r.wape:.3f} > {limit:g}")
        for lv, floor in ((80, th.min_coverage_80), (95, th.min_coverage_95)):
            cov = getattr(r, f"coverage_{lv}")
            if pd.notna(cov) and cov < floor:
                out.append(f"{what} {lv}% interval coverage {cov:.2f} < {floor:g}")
    return out


def _experiment_id(client) -> str:
    from oms.tracking import sqlite_path

    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return exp.experiment_id
    location = None
    if sqlite_path(client.tracking_uri) is not None:
        location = (Path(get_settings().artifact_root) / EXPERIMENT).resolve().as_uri()
    return client.create_experiment(EXPERIMENT, artifact_location=location)


def log_monitoring_run(rep: MonitorReport) -> str:
    """Log the run's metrics and files to MLflow through an explicit run id; returns it."""
    from mlflow import MlflowClient

    from pipelines.registry import configure_mlflow

    uri = configure_mlflow()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.create_run(_experiment_id(client), run_name=f"monitor_{rep.tenant}_"
                            f"{rep.run_date}", tags={"tenant": rep.tenant,
                                                     "run_date": rep.run_date})
    run_id = run.info.run_id
    try:
        if rep.drift_share is not None:
            client.log_metric(run_id, "drift_share", rep.drift_share)
        for r in rep.accuracy.itertuples(index=False):
            for m in ("wape", "coverage_80", "coverage_95"):
                v = getattr(r, m)
                if pd.notna(v):
                    client.log_metric(run_id, f"{r.target}_v{r.model_version}_{m}", float(v))
        client.log_metric(run_id, "alerts", len(rep.alerts))
        for path in rep.paths.values():
            client.log_artifact(run_id, path, artifact_path="monitoring")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id)
    return run_id


def _summary_doc(rep: MonitorReport) -> str:
    return json.dumps({
        "tenant": rep.tenant, "run_date": rep.run_date, "alerts": rep.alerts,
        "notes": rep.notes, "drift_share": rep.drift_share,
        "drift": rep.drift.to_dict(orient="records"),
        "accuracy": rep.accuracy.to_dict(orient="records"),
        "pending": int(len(rep.pending)), "paths": rep.paths}, indent=1, default=str)


def monitor_day(lake: str, tenant: str, run_date: dt.date | str,
                outputs: str | None = None, thresholds: MonitorThresholds | None = None,
                log_to_mlflow: bool = True) -> MonitorReport:
    """Monitor one tenant's day: drift report, forecast-vs-actual tracking, alerts.

    Args:
        lake: Lake root.
        tenant: Tenant id.
        run_date: The day to monitor (its orders are "today").
        outputs: Output root (default: the settings').
        thresholds: Alert thresholds (default: :class:`MonitorThresholds` from the env).
        log_to_mlflow: Log metrics and files to MLflow (experiment ``monitoring``); an
            unusable store (corrupt, unreachable) becomes an alert line, not an exception.

    Returns:
        A :class:`MonitorReport`; ``alerts`` holds one line per crossed threshold.

    Raises:
        ValueError: Invalid tenant id or date.
        LakeError: The lake cannot be read.
    """
    tenant = validate_tenant(tenant)
    day = inputs.day(run_date)
    th = thresholds or MonitorThresholds()
    rep = MonitorReport(tenant=tenant, run_date=str(day.date()))
    drift = check_drift(lake, tenant, day, th, rep)
    if drift is not None:
        rep.drift, rep.drift_share = drift.table, drift.share
        rep.paths.update(write_drift(drift, tenant, day, outputs))
    table = track_accuracy(lake, tenant, day, outputs, rep)
    rep.accuracy = recent_accuracy(table, rep.pending, day, th.window_days)
    rep.alerts = alerts_for(rep, th)
    rep.paths["summary"] = _atomic_text(_summary_doc(rep), _sibling(
        "monitor_report", tenant, day, outputs, ".json"))
    if log_to_mlflow:
        from oms.tracking import TrackingStoreError

        try:
            rep.run_id = log_monitoring_run(rep)
        except TrackingStoreError as e:  # the files are written; say why MLflow has no copy
            rep.alerts.append(f"monitoring {tenant} {rep.run_date} not logged to MLflow: {e}")
            _atomic_text(_summary_doc(rep), Path(rep.paths["summary"]))
    return rep


def latest_report(tenant: str, outputs: str | None = None) -> dict | None:
    """The newest monitoring summary of a tenant (the JSON ``monitor_day`` wrote), or None.

    For readers such as the dashboard: ``alerts``, ``notes``, ``drift_share``, ``drift``,
    ``accuracy``, ``pending`` and ``paths`` (the drift HTML among them).
    """
    folder = _sibling("monitor_report", validate_tenant(tenant), pd.Timestamp("2000-01-01"),
                      outputs, ".json").parent
    files = sorted(folder.glob("monitor_report-*.json")) if folder.is_dir() else []
    return json.loads(files[-1].read_text(encoding="utf-8")) if files else None
