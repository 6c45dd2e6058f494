"""The service against a real ``mlflow server`` on loopback (not the embedded SQLite file).

The router is registered through the tracking server's REST API (artifacts proxied by the
server), ``oms-ml serve`` loads it over HTTP, and moving ``@champion`` is picked up by the
poller with no failed request.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serving_support import (
    Registry,
    free_port,
    order,
    register_router,
    start_server,
    stop_server,
)

from envs.scenarios import SamplerConfig, sample_network

IDS = sample_network(SamplerConfig()).warehouse_ids


@pytest.fixture
def tracking_server(_mlflow_template, tmp_path):
    db = tmp_path / "server.db"
    shutil.copy(_mlflow_template, db)
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
         f"sqlite:///{db}", "--artifacts-destination", str(tmp_path / "server-artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "DO_NOT_TRACK": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300  # the shared test machine can be heavily loaded
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start in 300 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.slow
def test_serves_and_hot_swaps_from_a_tracking_server(registry, tracking_server, tmp_path):
    remote = Registry(tracking_server, "mlflow-artifacts:/serving", registry.router)
    v1 = register_router(remote, "demo")
    srv = start_server(remote, tmp_path, poll=1.0, tracking_uri=tracking_server)
    try:
        with srv.client() as c:
            first = c.post("/v1/route", json=order(IDS)).json()
            assert first["model"] == {"name": "warehouse_router__demo", "version": v1}
            v2 = register_router(remote, "demo")
            deadline, codes = time.time() + 30, []
            while time.time() < deadline:
                r = c.post("/v1/route", json=order(IDS))
                codes.append(r.status_code)
                if r.json()["model"]["version"] == v2:
                    break
                time.sleep(0.1)
        assert set(codes) == {200} and r.json()["model"]["version"] == v2
    finally:
        stop_server(srv)
