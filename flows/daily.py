"""The daily batch of one tenant: new landing partitions → lake → features → champions' outputs.

``daily_batch_flow(tenant, run_date)``:

1. **ingest** only the tenant's landing files that are new since its last successful run
   (content hashes in ``<data_dir>/state/landing-<tenant>.json``; ingest upserts and publishes
   one lake version atomically; a file that cannot be read is quarantined whole);
2. when nothing is new and neither the lake nor any champion changed since the last
   successful run, every later step is **skipped with that reason** (exit 0);
3. **features** for the tenant, published as one version of ``<outputs>/features/<tenant>``;
4. the MLflow store is checked once; then each family's ``@champion`` writes its output,
   dated ``<kind>-<run_date>.parquet`` plus the latest ``<kind>.parquet``
   (``oms/outputs.py``): order-volume forecast (7 days, and the first 72 h), SKU demand
   forecast, churn scores, inventory recommendations and risk decisions. A family without a
   champion is skipped with a clear message; the others run;
5. **monitor** (``pipelines/monitor.py``): the day's orders against the 28 days before it
   (drift report) and every stored forecast whose day has arrived scored against the actuals
   (WAPE, 80/95 % coverage, per model version); each crossed threshold becomes an alert line
   under the summary table.

Re-running the same date writes the same bytes (``created_at`` is the run date) and no
registry version. A run killed anywhere leaves the previous outputs (every write is atomic)
and the next run completes. The summary's exit code is 1 only when something asked for could
not be produced.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from prefect import flow

import flows.prefect_env  # noqa: F401  (must precede prefect)
from flows import tasks
from flows.steps import DAILY_OUTPUTS, FAMILY
from flows.summary import FAILED, SKIPPED, FlowSummary, StepResult, announce_done
from oms.settings import get_settings
from oms.tenancy import validate_tenant

OUTPUT_FAMILIES = {"volume": ("order_volume_forecaster",), "sku": ("sku_demand_forecaster",),
                   "churn": ("churn_classifier",), "inventory": ("sku_demand_forecaster",),
                   "risk": ("abnormal_orders", "refund_approval")}
_STEP_NAMES = {"volume": "forecast volume", "sku": "forecast sku", "churn": "score churn",
               "inventory": "inventory", "risk": "score risk"}


def resolve_run_date(run_date: date | str | None) -> str:
    """The run date as ``YYYY-MM-DD``; default: today in the business time zone."""
    if run_date is None:
        return datetime.now(ZoneInfo(get_settings().timezone)).date().isoformat()
    if isinstance(run_date, datetime):
        return run_date.date().isoformat()
    if isinstance(run_date, date):
        return run_date.isoformat()
    try:
        return date.fromisoformat(str(run_date)).isoformat()
    except ValueError:
        raise ValueError(f"run date must be YYYY-MM-DD, got {run_date!r}") from None


def _champions(tenant: str) -> dict[str, str]:
    """``family -> <name>/<version>`` of the tenant's champions ({} if the store is unusable)."""
    from pipelines.registry import configure_mlflow

    try:
        configure_mlflow(read_only=True)  # this process may not have pointed MLflow yet
    except Exception:  # noqa: BLE001 - the store check task reports it in the summary
        return {}
    fams = sorted({f for v in OUTPUT_FAMILIES.values() for f in v})
    return {f: tasks.champion_id(f, tenant) for f in fams}


def _unchanged_since_last_run(tenant: str, lake: str) -> str:
    """Why nothing needs doing (same lake version and champions as the last good run), or ''."""
    from pipelines.landing_state import read_state, state_path

    last = read_state(state_path(tenant, "daily"))
    if not last:
        return ""
    if last.get("lake_snapshot") != tasks.lake_snapshot(lake):
        return ""
    if last.get("champions") != _champions(tenant):
        return ""
    return (f"no new data and no new champion since the run of {last.get('run_date')}: "
            "its outputs stand")


def _record_success(tenant: str, lake: str, run_date: str) -> None:
    from pipelines.landing_state import state_path, write_state

    write_state(state_path(tenant, "daily"), {
        "run_date": run_date, "lake_snapshot": tasks.lake_snapshot(lake),
        "champions": _champions(tenant),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def _skip_rest(summary: FlowSummary, tenant: str, names: list[str], status: str,
               reason: str) -> None:
    for i, name in enumerate(names):
        res = StepResult(name, tenant, status, reason if i == 0 else "as above")
        summary.steps.append(res)
        announce_done(res)


@flow(name="daily-batch", log_prints=False)
def daily_batch_flow(
    tenant: str,
    run_date: date | str | None = None,
    outputs: tuple[str, ...] = DAILY_OUTPUTS,
    engine: str = "pandas",
    force: bool = False,
    monitor: bool = True,
) -> FlowSummary:
    """Run one tenant's daily batch (see the module docstring).

    Args:
        tenant: Tenant id (validated; a malicious id is refused before anything runs).
        run_date: Business day of the run (default: today in ``OMS_ML_TIMEZONE``).
        outputs: Which outputs to write: volume, sku, churn, inventory, risk.
        engine: Feature engine, ``pandas`` or ``spark``.
        force: Recompute every step even if nothing changed (ignores the task cache).
        monitor: Run the monitoring step after the outputs.

    Returns:
        The run's summary (one StepResult per step; ``exit_code`` 1 if something failed).
    """
    tenant = validate_tenant(tenant)
    day = resolve_run_date(run_date)
    unknown = [o for o in outputs if o not in DAILY_OUTPUTS]
    if unknown:
        raise ValueError(f"unknown daily output(s) {unknown}; choose from {DAILY_OUTPUTS}")
    s = get_settings()
    from flows.summary import quiet_unless_verbose

    quiet_unless_verbose()
    summary = FlowSummary(f"daily batch {day}")
    ingested = tasks.run(tasks.ingest_task, "ingest", tenant, tenant, s.landing, s.lake,
                         s.quarantine)
    summary.steps.append(ingested)
    later = ["features", *(_STEP_NAMES[o] for o in outputs), *(["monitor"] if monitor else [])]
    if ingested.status == FAILED:
        _skip_rest(summary, tenant, later, SKIPPED, "ingest failed: the last outputs stand")
        return summary
    why = "" if force or ingested.status != SKIPPED else _unchanged_since_last_run(tenant, s.lake)
    if why:
        _skip_rest(summary, tenant, later, SKIPPED, why)
        return summary
    feats = tasks.run(tasks.features_task, "features", tenant, tenant, s.lake, s.outputs,
                      engine, force=force)
    summary.steps.append(feats)
    _score_all(summary, tenant, day, outputs, force)
    if monitor:
        watched = tasks.run(tasks.monitor_task, "monitor", tenant, tenant, s.lake, s.outputs, day)
        summary.steps.append(watched)
        summary.alerts += [f"{tenant}: {a}" for a in watched.detail.get("alerts", [])]
    if not summary.failed:
        _record_success(tenant, s.lake, day)
    return summary


def _score_all(summary: FlowSummary, tenant: str, day: str, outputs: tuple[str, ...],
               force: bool) -> None:
    """Check the store once, then write each requested output with its champion."""
    s = get_settings()
    names = [_STEP_NAMES[o] for o in outputs]
    store = tasks.tracking_task(read_only=True, return_state=True)
    if not store.is_completed():
        try:
            store.result()
            err = store.message
        except BaseException as e:  # noqa: BLE001 - shown in the summary
            err = f"{type(e).__name__}: {e}"
        lookup = "NoStoreError" in str(err) or "no MLflow store" in str(err)
        status = SKIPPED if lookup else FAILED
        reason = (f"no champion: {err}" if lookup else f"MLflow store unusable: {err}")
        _skip_rest(summary, tenant, names, status, reason[:300])
        return
    for what in outputs:
        res = tasks.run(tasks.score_task, _STEP_NAMES[what], tenant, what, tenant, s.lake,
                        s.landing, s.outputs, day, force=force)
        summary.steps.append(res)


__all__ = ["FAMILY", "daily_batch_flow", "resolve_run_date"]
