"""Prefect tasks: each wraps one step of ``flows/steps.py`` (one pipeline call) and adds policy.

* **Timeouts** on every task (``timeout_seconds``), generous for a 2-core machine.
* **Retries with backoff only on I/O tasks** — reading/writing the lake and outputs and
  calling MLflow to load champions (ingest, features, scoring, the store check): 2 retries,
  2 s then 4 s. Training tasks are not retried: a failed fit fails the same way again, and a
  retry would register a second version.
* **Caching keyed on input partition ids**, never on data frames: features on the lake's
  published snapshot id; scoring on the snapshot id, the champion's registered version and
  the run date. A re-run after a failure reuses the steps that completed (resumable); a new
  lake version or a new champion is a new key. ``force`` (``refresh_cache``) recomputes.
* :func:`run` calls a task and turns a failed task into a ``failed`` StepResult with the
  error, so one failing step never hides the others' results.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

from prefect import task
from prefect.tasks import exponential_backoff

import flows.prefect_env  # noqa: F401  (Prefect defaults before prefect is used)
from flows import steps
from flows.summary import FAILED, StepResult, announce_done, announce_start


class StepFailed(ValueError):
    """A step reported bad input: the task fails (so nothing is cached) and is not retried."""


def _checked(res: StepResult) -> StepResult:
    if res.status == FAILED:
        raise StepFailed(res.reason)
    return res


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass on a second try: not a missing champion or a bad value."""
    try:
        state.result()
    except (LookupError, ValueError):
        return False
    except Exception:  # noqa: BLE001 - I/O errors, timeouts: worth a retry
        return True
    return True


IO_RETRIES: dict[str, Any] = dict(retries=2,
                                  retry_delay_seconds=exponential_backoff(backoff_factor=2),
                                  retry_condition_fn=transient)
CACHE: dict[str, Any] = dict(persist_result=True, cache_expiration=timedelta(days=8))
MINUTE = 60


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


def lake_snapshot(lake: str) -> str:
    """The lake's published snapshot id (a new one per ingest), or ``unversioned``."""
    from oms.versions import read_pointer

    ptr = read_pointer(lake)
    return "unversioned" if ptr is None else str(ptr["snapshot"])


def champion_id(family: str, tenant: str) -> str:
    """``<name>/<version>`` of the tenant's champion, or ``none`` (for cache keys)."""
    from oms.tenancy import registered_name
    from pipelines.registry import champion_version, configure_mlflow

    name = registered_name(family, tenant)
    try:
        # the configured store, read-only: never MLflow's default ./mlflow.db in the cwd
        configure_mlflow(read_only=True)
        v = champion_version(name)
    except Exception:  # noqa: BLE001 - no store or no model: no champion, a distinct key
        return "none"
    return "none" if v is None else f"{name}/{v.version}"


def features_key(context: Any, p: dict[str, Any]) -> str:
    """Cache key of the features task: tenant, lake snapshot, output root and engine."""
    return _digest("features", p["tenant"], p["lake"], lake_snapshot(p["lake"]), p["outputs"],
                   p["engine"], steps.features_uri(p["outputs"], p["tenant"]))


def score_key(context: Any, p: dict[str, Any]) -> str:
    """Cache key of a scoring task: what it scores, the data snapshot, champions, run date."""
    what = p["what"]
    fams = {"volume": ["order_volume_forecaster"], "sku": ["sku_demand_forecaster"],
            "churn": ["churn_classifier"], "inventory": ["sku_demand_forecaster"],
            "risk": ["abnormal_orders", "refund_approval"]}[what]
    return _digest("score", what, p["tenant"], p["lake"], lake_snapshot(p["lake"]),
                   p["outputs"], p["run_date"], *(champion_id(f, p["tenant"]) for f in fams))


@task(name="generate", timeout_seconds=60 * MINUTE, **IO_RETRIES)
def generate_task(tenant: str, landing: str, scale: str, seed: int) -> StepResult:
    """Generate demo order data for a tenant."""
    return steps.generate_step(tenant, landing, scale, seed)


@task(name="ingest", timeout_seconds=120 * MINUTE, **IO_RETRIES)
def ingest_task(tenant: str, landing: str, lake: str, quarantine: str) -> StepResult:
    """Ingest the landing files new since the tenant's last run."""
    return steps.ingest_step(tenant, landing, lake, quarantine)


@task(name="features", timeout_seconds=120 * MINUTE, cache_key_fn=features_key, **CACHE,
      **IO_RETRIES)
def features_task(tenant: str, lake: str, outputs: str, engine: str) -> StepResult:
    """Recompute the tenant's feature sets (cached on the lake snapshot)."""
    return _checked(steps.features_step(tenant, lake, outputs, engine))


@task(name="check-tracking", timeout_seconds=5 * MINUTE, **IO_RETRIES)
def tracking_task(read_only: bool) -> str:
    """Check the MLflow store once before any model step (raises if unusable)."""
    from pipelines.registry import configure_mlflow

    return configure_mlflow(read_only=read_only)


@task(name="monitor", timeout_seconds=30 * MINUTE, **IO_RETRIES)
def monitor_task(tenant: str, lake: str, outputs: str, run_date: str) -> StepResult:
    """Drift report and forecast-vs-actual tracking of the day (pipelines/monitor.py)."""
    return _checked(steps.monitor_step(tenant, lake, outputs, run_date))


@task(name="score", timeout_seconds=60 * MINUTE, cache_key_fn=score_key, **CACHE, **IO_RETRIES)
def score_task(what: str, tenant: str, lake: str, landing: str, outputs: str,
               run_date: str) -> StepResult:
    """Write one daily output with the tenant's champion (cached on snapshot + champion)."""
    if what in ("volume", "sku"):
        return _checked(steps.forecast_step(tenant, what, lake, outputs, run_date))
    if what == "churn":
        return _checked(steps.churn_step(tenant, lake, outputs, run_date))
    if what == "inventory":
        return _checked(steps.inventory_step(tenant, lake, outputs, run_date))
    if what == "risk":
        return _checked(steps.risk_step(tenant, landing, outputs, run_date))
    raise ValueError(f"unknown daily output {what!r}; choose from {steps.DAILY_OUTPUTS}")


@task(name="train-forecast", timeout_seconds=180 * MINUTE)
def train_forecast_task(tenant: str, target: str, lake: str, outputs: str,
                        models: tuple[str, ...], n_windows: int,
                        register: str | None = None) -> StepResult:
    """Backtest, register and gate a forecaster (not retried: it registers a version)."""
    return steps.train_forecast_step(tenant, target, lake, outputs, models, n_windows,
                                     register)


@task(name="train-churn", timeout_seconds=180 * MINUTE)
def train_churn_task(tenant: str, lake: str) -> StepResult:
    """Train, register and gate the churn classifier."""
    return steps.train_churn_step(tenant, lake)


@task(name="train-router", timeout_seconds=180 * MINUTE)
def train_router_task(tenant: str, timesteps: int) -> StepResult:
    """Train, register and gate the warehouse router."""
    return steps.train_router_step(tenant, timesteps)


@task(name="train-risk", timeout_seconds=180 * MINUTE)
def train_risk_task(tenant: str, landing: str, families: tuple[str, ...]) -> StepResult:
    """Fit, register and gate the risk families."""
    return steps.train_risk_step(tenant, landing, families)


def run(task_fn, step: str, tenant: str, *args: Any, force: bool = False,
        **kwargs: Any) -> StepResult:
    """Run ``task_fn`` and return its StepResult; a failed task becomes a ``failed`` result."""
    announce_start(step, tenant)
    fn = task_fn.with_options(refresh_cache=True) if force else task_fn
    state = fn(*args, return_state=True, **kwargs)
    if state.is_completed():
        res = state.result()
        if state.name == "Cached" and isinstance(res, StepResult):  # a copy: never the original
            res = replace(res, reason=(res.reason + " (cached: same inputs as a completed run)"
                                       ).strip())
    else:
        try:
            state.result()
            err = state.message or state.name
        except StepFailed as e:
            err = str(e)
        except BaseException as e:  # noqa: BLE001 - what the task raised, shown to the user
            err = f"{type(e).__name__}: {e}"
        res = StepResult(step, tenant, FAILED, reason=str(err)[:300])
    announce_done(res)
    return res
