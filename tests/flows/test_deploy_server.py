"""Deployments on a real ``prefect server``: served, listed as documented, triggered, Completed.

The scripted check of issue 9: a local ``prefect server start`` on a free loopback port (its
state in a temporary PREFECT_HOME), ``serve_deployments`` in a subprocess (as ``oms-ml flows
serve`` runs it), the schedules read back from the API, ``daily_batch`` triggered through the
API with ``run_deployment`` and watched until ``Completed``, then everything stopped. The daily
run does real work on ``tiny`` data: it ingests the landing into the lake and builds features
(no champion exists yet, so the scoring steps are skipped, which is not a failure).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.deploy import (
    list_schedules,
    local_prefect_server,
    planned_schedules,
    server_env,
    stop_process,
)

pytestmark = [pytest.mark.flow, pytest.mark.prefect_server]

ROOT = Path(__file__).resolve().parents[2]
TENANT = "demo"
TIMEZONE = "Asia/Shanghai"
RUN_DATE = "2023-03-01"


def _wait_for_schedules(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deadline = time.monotonic() + timeout
    with temporary_settings({PREFECT_API_URL: url}):
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"serve exited {proc.returncode}:\n{log.read_text()}"
            found = list_schedules()
            if len(found) == 2:
                return found
            time.sleep(1)
    raise AssertionError(f"deployments not registered after {timeout} s:\n{log.read_text()}")


def _trigger_daily(url: str, timeout: float = 600):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}):
        return run_deployment(f"daily-batch/{TENANT}", parameters={"run_date": RUN_DATE},
                              timeout=timeout, poll_interval=2, as_subflow=False)


def test_served_deployments_run_on_a_local_prefect_server(tmp_path):
    from oms.lake import read_table
    from pipelines.generate import generate

    data = tmp_path / "data"
    generate("tiny", seed=7, out=str(data / "landing"), progress=False)
    with local_prefect_server(home=tmp_path / "prefect") as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        env = server_env(tmp_path / "prefect", port) | {
            "OMS_ML_DATA_DIR": str(data), "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                          if p)}
        log = tmp_path / "serve.log"
        with open(log, "w") as out:
            serve = subprocess.Popen(
                [sys.executable, "-c", "from flows.deploy import serve_deployments; "
                 f"serve_deployments([{TENANT!r}], timezone={TIMEZONE!r})"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
                start_new_session=True)
        try:
            registered = _wait_for_schedules(url, serve, log)
            # listed as documented: the same deployments, crons and time zones as planned
            drop_next = [{k: v for k, v in s.as_dict().items() if k != "next_run"}
                         for s in planned_schedules([TENANT], timezone=TIMEZONE)]
            assert [{k: v for k, v in s.as_dict().items() if k != "next_run"}
                    for s in registered] == drop_next
            assert all("T02:00:00+08:00" in s.next_run for s in registered
                       if s.job == "daily_batch")
            run = _trigger_daily(url)
            assert run.state is not None and run.state.is_completed(), (
                f"{run.state}\n{log.read_text()[-4000:]}")
        finally:
            code = stop_process(serve)
        assert code is not None
    orders = read_table(data / "lake" / "orders")
    assert len(orders) > 0 and set(orders["tenant_id"]) == {TENANT}
    assert (data / "outputs" / "features" / TENANT).exists()
