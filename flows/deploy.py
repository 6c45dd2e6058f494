"""Prefect deployments and schedules: the nightly batch and the weekly retraining, per tenant.

``serve_deployments(["demo", "acme"])`` registers, for every tenant, two deployments against
the Prefect API in ``PREFECT_API_URL`` (a ``prefect server start`` or Prefect Cloud) and then
serves them from this process until it is stopped (Ctrl-C / SIGTERM):

=========================  ===========================  ==========================
deployment                 schedule (default)           parameters
=========================  ===========================  ==========================
``<daily flow>/<tenant>``   ``0 2 * * *`` (02:00 daily)  ``tenant`` (``run_date`` =
                                                         the flow's default)
``<retrain flow>/<tenant>`` ``0 3 * * 0`` (Sun 03:00)    ``tenant``
=========================  ===========================  ==========================

Cron times are wall-clock times in each tenant's time zone (``timezone``, or a per-tenant
``timezones`` entry), so 02:00 stays 02:00 across daylight-saving changes. Deployments use
module entrypoints (``flows.daily.daily_batch_flow``), so the served process needs only the
installed package, not this checkout's working directory. :func:`list_schedules` reads back
what the API has registered; :func:`planned_schedules` says what would be registered without
talking to any API. :func:`local_prefect_server` starts a throwaway ``prefect server`` on a
free loopback port for checks and trials.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import flows.prefect_env  # noqa: F401  (telemetry off and timeouts before prefect is imported)
from oms.tenancy import validate_tenant

DAILY_CRON = "0 2 * * *"
WEEKLY_CRON = "0 3 * * 0"
TAG = "oms-ml"
DAILY, WEEKLY = "daily_batch", "weekly_retrain"


class PrefectApiError(RuntimeError):
    """No Prefect API is configured or it does not answer."""


@dataclass(frozen=True)
class ScheduleInfo:
    """One deployment's schedule as planned or as registered.

    Attributes:
        deployment: Full deployment name ``<flow name>/<deployment name>`` (what
            ``prefect deployment run`` and ``run_deployment`` take).
        job: ``daily_batch`` or ``weekly_retrain``.
        tenant: Tenant the deployment runs for.
        cron: Cron string.
        timezone: IANA time zone the cron string is read in.
        active: Whether the schedule creates runs (False when paused).
        next_run: The next scheduled time, ISO 8601 in ``timezone``.
    """

    deployment: str
    job: str
    tenant: str
    cron: str
    timezone: str
    active: bool
    next_run: str

    def as_dict(self) -> dict[str, object]:
        """The fields as a plain dict (for JSON and tables)."""
        return asdict(self)


def _flows() -> dict[str, object]:
    from flows.daily import daily_batch_flow
    from flows.retrain import weekly_retrain_flow

    return {DAILY: daily_batch_flow, WEEKLY: weekly_retrain_flow}


def _next_run(cron: str, timezone: str) -> str:
    """Next time ``cron`` fires in ``timezone`` (the croniter Prefect's scheduler uses)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from prefect._vendor.croniter import croniter

    now = dt.datetime.now(ZoneInfo(timezone)).replace(microsecond=0)
    return croniter(cron, now).get_next(dt.datetime).isoformat()


def _schedule(flow_name: str, deployment: str, job: str, tenant: str, cron: str, zone: str,
              active: bool = True) -> ScheduleInfo:
    """One :class:`ScheduleInfo` (planned or read back), with its next run in ``zone``."""
    return ScheduleInfo(f"{flow_name}/{deployment}", job, tenant, cron, zone, active,
                        _next_run(cron, zone))


def _zone(tenant: str, timezone: str, timezones: Mapping[str, str] | None) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    zone = (timezones or {}).get(tenant, timezone)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r} for tenant {tenant!r} "
                         "(use an IANA name such as 'Asia/Shanghai' or 'UTC')") from None
    return zone


def _check_cron(cron: str) -> str:
    from prefect.schedules import validate_cron_string

    try:
        return validate_cron_string(cron)
    except ValueError as e:
        raise ValueError(f"invalid cron string {cron!r}: {e}") from None


def planned_schedules(
    tenants: list[str],
    daily_cron: str = DAILY_CRON,
    weekly_cron: str = WEEKLY_CRON,
    timezone: str = "UTC",
    timezones: Mapping[str, str] | None = None,
) -> list[ScheduleInfo]:
    """The deployments :func:`serve_deployments` would register (no API is contacted).

    Raises:
        InvalidTenantError: A tenant id is unsafe.
        ValueError: No tenants, a duplicate tenant, a bad cron string or an unknown time zone.
    """
    if not tenants:
        raise ValueError("no tenants given: pass at least one tenant id")
    if len(set(tenants)) != len(tenants):
        raise ValueError(f"duplicate tenant ids in {tenants}")
    crons = {DAILY: _check_cron(daily_cron), WEEKLY: _check_cron(weekly_cron)}
    names = {job: flow.name for job, flow in _flows().items()}
    out = []
    for tenant in tenants:
        validate_tenant(tenant)
        zone = _zone(tenant, timezone, timezones)
        for job in (DAILY, WEEKLY):
            out.append(_schedule(names[job], tenant, job, tenant, crons[job], zone))
    return out


def build_deployments(
    tenants: list[str],
    daily_cron: str = DAILY_CRON,
    weekly_cron: str = WEEKLY_CRON,
    timezone: str = "UTC",
    timezones: Mapping[str, str] | None = None,
) -> list:
    """``RunnerDeployment`` objects (one per tenant and job) ready for ``prefect.serve``."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    flows = _flows()
    deployments = []
    for plan in planned_schedules(tenants, daily_cron, weekly_cron, timezone, timezones):
        deployments.append(flows[plan.job].to_deployment(
            name=plan.tenant,
            schedule=Cron(plan.cron, timezone=plan.timezone),
            parameters={"tenant": plan.tenant},
            tags=[TAG, plan.job, f"tenant:{plan.tenant}"],
            description=f"oms-ml {plan.job} for tenant {plan.tenant} ({plan.cron} "
                        f"{plan.timezone})",
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return deployments


def api_url() -> str:
    """The configured ``PREFECT_API_URL``; a clear error when none is set or it does not answer.

    Serving needs a long-running API: Prefect's ephemeral in-process API has no scheduler,
    so schedules registered there would never create runs.
    """
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectApiError(
            "PREFECT_API_URL is not set. Start a server (`prefect server start --host "
            "127.0.0.1 --port 4200`) and `export PREFECT_API_URL=http://127.0.0.1:4200/api`."
        )
    try:  # any answer below 500 means a server is there (Cloud may want a key for /health)
        if httpx.get(f"{url.rstrip('/')}/health", timeout=10).status_code >= 500:
            raise httpx.HTTPError("server error")
    except httpx.HTTPError as e:
        raise PrefectApiError(f"the Prefect API at {url} does not answer ({e}); is "
                              "`prefect server start` running?") from None
    return url


def serve_deployments(
    tenants: list[str],
    daily_cron: str = DAILY_CRON,
    weekly_cron: str = WEEKLY_CRON,
    timezone: str = "UTC",
    timezones: Mapping[str, str] | None = None,
    limit: int | None = 1,
) -> None:
    """Register each tenant's daily and weekly deployments and serve them until stopped.

    Args:
        tenants: Tenant ids (validated).
        daily_cron: Cron of ``daily_batch`` (default 02:00 every day).
        weekly_cron: Cron of ``weekly_retrain`` (default Sunday 03:00).
        timezone: Time zone the cron strings are read in.
        timezones: Per-tenant time zones overriding ``timezone``.
        limit: Flow runs this process executes at once (1: runs queue, so two heavy jobs
            never compete for a 2-core machine; None: no limit).

    Raises:
        PrefectApiError: ``PREFECT_API_URL`` is unset or unreachable.
        ValueError: Bad tenants, cron strings or time zones.
    """
    from prefect import serve

    deployments = build_deployments(tenants, daily_cron, weekly_cron, timezone, timezones)
    api_url()
    serve(*deployments, limit=limit)


async def _read_schedules(tag: str) -> list[ScheduleInfo]:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    out = []
    async with get_client() as client:
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[tag])))
        flow_names = {}
        for dep in found:
            if dep.flow_id not in flow_names:
                flow_names[dep.flow_id] = (await client.read_flow(dep.flow_id)).name
            job = DAILY if DAILY in dep.tags else WEEKLY if WEEKLY in dep.tags else "?"
            tenant = (dep.parameters or {}).get("tenant", "")
            for s in dep.schedules:
                cron = getattr(s.schedule, "cron", None)
                if cron is None:
                    continue
                zone = s.schedule.timezone or "UTC"
                out.append(_schedule(flow_names[dep.flow_id], dep.name, job, tenant, cron,
                                     zone, bool(s.active) and not dep.paused))
    return sorted(out, key=lambda s: (s.tenant, s.job))


def list_schedules(tag: str = TAG) -> list[ScheduleInfo]:
    """The schedules registered on the Prefect API for oms-ml deployments (tagged ``tag``).

    Raises:
        PrefectApiError: ``PREFECT_API_URL`` is unset or unreachable.
    """
    import asyncio

    api_url()
    return asyncio.run(_read_schedules(tag))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(home: Path, port: int | None = None) -> dict[str, str]:
    """Environment for a local Prefect server (or its clients) with its state under ``home``."""
    env = dict(os.environ)
    env.update({"PREFECT_HOME": str(home), "DO_NOT_TRACK": "1",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
                "PREFECT_SERVER_DATABASE_TIMEOUT": "60"})
    env.pop("PREFECT_API_URL", None)
    if port is not None:
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    return env


def _wait_healthy(proc: subprocess.Popen, url: str, timeout: float, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PrefectApiError(f"prefect server exited with {proc.returncode}; log:\n"
                                  f"{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise PrefectApiError(f"prefect server at {url} not healthy after {timeout:.0f} s")


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM ``proc`` (then SIGKILL after ``timeout``) and return its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


@contextlib.contextmanager
def local_prefect_server(home: Path | None = None, port: int | None = None,
                         startup_timeout: float = 180.0) -> Iterator[str]:
    """Run ``prefect server start`` on 127.0.0.1 (state in ``home``) and yield its API URL.

    The server runs in its own process with telemetry and the UI off, and is stopped on
    exit. For checks and local trials; a real installation runs the server as a service.
    """
    tmp = None
    if home is None:
        tmp = tempfile.mkdtemp(prefix="oms-prefect-")
        home = Path(tmp)
    Path(home).mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = Path(home) / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)], env=server_env(Path(home)), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(proc, url, startup_timeout, log)
        yield url
    finally:
        stop_process(proc)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def schedules_table(schedules: list[ScheduleInfo]):
    """A rich table of schedules (for ``python -m flows.deploy`` and the CLI)."""
    from rich.table import Table

    table = Table(title="oms-ml schedules")
    for col in ("deployment", "job", "tenant", "cron", "timezone", "active", "next run"):
        table.add_column(col)
    for s in schedules:
        table.add_row(s.deployment, s.job, s.tenant, s.cron, s.timezone, str(s.active),
                      s.next_run)
    return table


if __name__ == "__main__":  # python -m flows.deploy: what the API at PREFECT_API_URL has
    from rich.console import Console

    try:
        Console().print(schedules_table(list_schedules()))
    except PrefectApiError as err:
        sys.exit(f"error: {err}")
