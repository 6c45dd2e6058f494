"""Session fixtures of the serving tests: one registry with tenant champions, one server.

``registry``: a real MLflow SQLite store with a tiny DQN router and a small churn classifier
registered under ``oms.tenancy.registered_name``, plus small triage, refund and ETA
champions (``register_risk``); ``server``: ``oms-ml serve`` on a loopback
port for two tenants, ``demo`` (router + churn champions) and ``acme`` (no router: the
degraded fallback). Helpers live in ``serving_support``.
"""

from __future__ import annotations

import shutil

import pytest
from serving_support import (
    TINY_DQN,
    Registry,
    Server,
    register_churn,
    register_risk,
    register_router,
    start_server,
    stop_server,
)


@pytest.fixture(scope="session")
def registry(_mlflow_template, tmp_path_factory) -> Registry:
    from models.routing.agent import DQNRouter

    root = tmp_path_factory.mktemp("serving-registry")
    db = root / "mlflow.db"
    shutil.copy(_mlflow_template, db)
    reg = Registry(f"sqlite:///{db}", str(root / "artifacts"),
                   DQNRouter(total_timesteps=200, **TINY_DQN).fit())
    register_router(reg, "demo")
    register_churn(reg, "demo")
    register_risk(reg, "demo")
    return reg


@pytest.fixture(scope="session")
def server(registry, tmp_path_factory) -> Server:
    data = tmp_path_factory.mktemp("serving-data")
    srv = start_server(registry, data)
    yield srv
    stop_server(srv)
