"""Helpers of the serving tests: a registry with tenant champions, a real server process.

Imported by bare name (pytest puts this folder on ``sys.path``): a top-level ``tests``
package installed by a dependency can shadow the repository's ``tests`` namespace.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"demo": "demo-key-0123456789abcdef", "acme": "acme-key-0123456789abcdef"}
ADMIN = "admin-key-0123456789abcdef"
TINY_DQN = {"algo_kwargs": {"learning_starts": 100, "train_freq": 64, "gradient_steps": 16,
                            "buffer_size": 5_000},
            "eval_freq": 200, "n_eval_episodes": 1,
            "net_arch": (32, 32), "progress_bar": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    """The test registry: its URI, artifact root and the trained router."""

    uri: str
    artifacts: str
    router: object


@dataclass
class Server:
    """A running ``oms-ml serve``."""

    url: str
    proc: subprocess.Popen
    data_dir: Path
    registry: Registry

    def client(self, tenant: str = "demo", **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": KEYS[tenant]},
                            timeout=30, **kw)


def register_router(reg: Registry, tenant: str = "demo", champion: bool = True) -> str:
    """Log the router as a new version of ``warehouse_router__<tenant>``; returns it."""
    import mlflow
    from mlflow import MlflowClient

    from models.routing.pyfunc import ARTIFACT, WarehouseRouterModel
    from models.routing.rows import example_rows
    from oms.tenancy import CHAMPION, registered_name
    from pipelines.registry import log_pyfunc

    mlflow.set_tracking_uri(reg.uri)
    mlflow.set_registry_uri(reg.uri)
    exp = "serving-tests"
    if mlflow.get_experiment_by_name(exp) is None:
        mlflow.create_experiment(exp, artifact_location=reg.artifacts)
    mlflow.set_experiment(exp)
    r = reg.router
    name = registered_name("warehouse_router", tenant)
    with mlflow.start_run(), tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "router.zip")
        r.save(path)
        model = WarehouseRouterModel(r.algo_name, r.network_, r.env_config_, r)
        version = log_pyfunc(model, name, example_rows(r.network_), artifacts={ARTIFACT: path})
    if champion:
        MlflowClient(reg.uri, reg.uri).set_registered_model_alias(name, CHAMPION, version)
    return version


def churn_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rec = rng.uniform(0, 365, n)
    freq = rng.poisson(3, n) + 1
    df = pd.DataFrame({
        "tenant_id": "demo", "customer_id": [f"c{i}" for i in range(n)],
        "cutoff": np.repeat(["2024-01-01", "2024-04-01", "2024-07-01"], n // 3),
        "recency_days": rec, "frequency": freq.astype(float),
        "monetary": rng.gamma(2, 50, n), "r_score": rng.integers(1, 6, n).astype(float),
        "f_score": rng.integers(1, 6, n).astype(float),
    })
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-(rec - 180) / 60))).astype(int)
    return df


def register_churn(reg: Registry, tenant: str = "demo") -> str:
    import mlflow
    from mlflow import MlflowClient

    from models.churn.classifier import ChurnClassifier
    from models.churn.pyfunc import ChurnPyfunc, model_input
    from oms.tenancy import CHAMPION, registered_name
    from pipelines.registry import log_pyfunc

    df = churn_frame()
    clf = ChurnClassifier(candidates=("logreg",)).fit(df.drop(columns=["tenant_id",
                                                                       "customer_id"]))
    name = registered_name("churn_classifier", tenant)
    example = model_input(df[["tenant_id", "customer_id", *clf.feature_names_]].head(5))
    mlflow.set_experiment("serving-tests")
    with mlflow.start_run():
        version = log_pyfunc(ChurnPyfunc(clf), name, example)
    MlflowClient(reg.uri, reg.uri).set_registered_model_alias(name, CHAMPION, version)
    return version


def start_server(registry: Registry, data_dir: Path, poll: float = 1.0,
                 tracking_uri: str | None = None) -> Server:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI":
           tracking_uri or registry.uri, "OMS_ML_DATA_DIR": str(data_dir),
           "OMS_ML_SERVING_API_KEYS": json.dumps(KEYS), "OMS_ML_SERVING_ADMIN_KEY": ADMIN,
           "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(port),
         "--poll-seconds", str(poll)], env=env, cwd=str(data_dir),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300  # generous: the test machine is shared and often loaded
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read().decode()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return Server(url, proc, data_dir, registry)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server not ready in 300 s: {proc.communicate()[0].decode()[-3000:]}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()


def order(net_ids: list[str], **over) -> dict:
    """A valid routing request for the default network."""
    body = {"order_id": "o-1", "order_value": 120.0, "customer_tier": "gold",
            "promised_hours": 24.0, "hour_of_day": 10.5, "weather": "sunny",
            "customer_lat": 31.2, "customer_lon": 121.4, "quantity": 1,
            "warehouses": {w: {"load": 0, "stock": 5, "up": True} for w in net_ids}}
    body.update(over)
    return body


def _log_risk(reg: Registry, family: str, tenant: str, estimator, example: pd.DataFrame,
              text_column: str | None = None) -> str:
    import mlflow
    from mlflow import MlflowClient

    from models.risk.pyfunc import RiskDecisionModel
    from oms.tenancy import CHAMPION, registered_name
    from pipelines.registry import log_pyfunc

    name = registered_name(family, tenant)
    mlflow.set_experiment("serving-tests")
    with mlflow.start_run():
        version = log_pyfunc(RiskDecisionModel(estimator, text_column), name, example)
    MlflowClient(reg.uri, reg.uri).set_registered_model_alias(name, CHAMPION, version)
    return version


def refund_training_frame(n: int = 800, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``refund_features``-shaped rows whose abuse depends on credit, evidence and history."""
    from models.risk.refunds import FEATURES, REASONS

    rng = np.random.default_rng(seed)
    d = pd.DataFrame({f: 0.0 for f in FEATURES}, index=range(n))
    d["credit_score"] = rng.uniform(20, 100, n)
    d["amount"] = rng.gamma(2.0, 80.0, n) + 1
    d["order_amount"] = d["amount"] * rng.uniform(1.0, 2.0, n)
    d["log_amount"] = np.log1p(d["amount"])
    d["amount_share"] = d["amount"] / d["order_amount"]
    d["has_evidence"] = (rng.random(n) < 0.5).astype(float)
    d["days_since_delivery"] = rng.uniform(0, 20, n)
    d["prior_orders"] = rng.poisson(4, n).astype(float)
    d["returned_share"] = rng.uniform(0, 0.5, n)
    d["account_age_days"] = rng.uniform(0, 900, n)
    reason = rng.choice(REASONS, n)
    for r in REASONS:
        d[f"reason_{r}"] = (reason == r).astype(float)
    d["request_id"] = [f"r{i}" for i in range(n)]
    d["order_found"], d["order_status"] = True, "delivered"
    logit = -1.5 - 0.05 * (d["credit_score"] - 60) + 2.0 * d["returned_share"] \
        - 0.8 * d["has_evidence"]
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return d, y


def register_risk(reg: Registry, tenant: str = "demo") -> None:
    """Small real triage, refund and ETA champions for ``tenant`` (quick to fit)."""
    from models.risk.eta import FEATURES as ETA_FEATURES
    from models.risk.eta import EtaQuantiles
    from models.risk.refunds import RefundApprover
    from models.risk.triage import SupportTriage
    from pipelines.generator.support import generate_support_messages

    msgs = generate_support_messages(800, seed=1)
    triage = SupportTriage().fit(msgs["message"], msgs["intent"])
    _log_risk(reg, "support_triage", tenant, triage, msgs[["message"]].head(3), "message")
    d, y = refund_training_frame()
    refunds = RefundApprover(target_loss_rate=0.02, max_iter=50).fit(d, y)
    _log_risk(reg, "refund_approval", tenant, refunds, d.head(5))
    rng = np.random.default_rng(2)
    n = 600
    e = pd.DataFrame({f: 0.0 for f in ETA_FEATURES}, index=range(n))
    e["dist_km"], e["wh_load"] = rng.uniform(5, 1500, n), rng.uniform(0, 1.2, n)
    e["hour"], e["weather_sunny"] = rng.integers(0, 24, n).astype(float), 1.0
    e["order_id"], e["problem"] = [f"o{i}" for i in range(n)], ""
    hours = 6 + e["dist_km"] / 40 + 10 * e["wh_load"] + rng.gamma(2, 2, n)
    eta = EtaQuantiles(max_iter=50).fit(e, hours.to_numpy())
    _log_risk(reg, "delivery_eta", tenant, eta, e.head(5))
