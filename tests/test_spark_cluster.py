"""The feature step on a real Spark standalone cluster (a master and a worker on localhost).

The master and the worker are started with ``bin/spark-class`` from the installed ``pyspark``
package (the pip wheel ships ``sbin/spark-daemon.sh`` but not ``start-master.sh`` /
``start-worker.sh``; ``spark-class`` is what those scripts run). ``oms-ml features --engine
spark`` then runs in a subprocess with ``OMS_ML_SPARK_MASTER=spark://127.0.0.1:<port>`` (a
separate process: this test session may already hold a ``local[2]`` SparkContext, and a JVM
has one), and its three datasets must equal the pandas engine's. Memory is kept small:
daemons 256 MB, one worker with 1 core and 1 GB, driver 1 GB.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_features_parity import CUTOFF, complete, synthetic

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]
# on a few thousand rows Spark spends its time compiling generated code and scheduling
# tasks; interpreted plans in one shuffle partition give the same results much sooner
TINY_DATA_CONF = json.dumps({"spark.sql.shuffle.partitions": "1",
                             "spark.sql.codegen.wholeStage": "false",
                             "spark.sql.codegen.factoryMode": "NO_CODEGEN"})
KEYS = {"daily_volume": ["unique_id", "ds"], "sku_demand": ["tenant_id", "unique_id", "ds"],
        "customer_features": ["tenant_id", "customer_id"]}


def spark_home() -> Path:
    """The pyspark package folder, which is a SPARK_HOME (jars/, bin/, sbin/)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "256m", "SPARK_LOG_DIR": str(tmp / "logs"),
        "SPARK_WORKER_DIR": str(tmp / "work"), "SPARK_NO_DAEMONIZE": "1",
        "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
        # executors run this checkout's code, like the driver
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    })
    return env


def _start(cls: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    spark_class = spark_home() / "bin" / "spark-class"
    assert os.access(spark_class, os.X_OK), f"{spark_class} is missing or not executable"
    with open(log, "w") as out:
        return subprocess.Popen([str(spark_class), cls, *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="ignore") if log.exists() else ""
        if re.search(pattern, text):
            return
        assert proc.poll() is None, f"{log.name} exited with {proc.returncode}:\n{text[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"no {pattern!r} in {log} after {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master + one worker (1 core, 1 GB) on 127.0.0.1; yields the master URL."""
    tmp = tmp_path_factory.mktemp("spark-cluster")
    (tmp / "logs").mkdir()
    env = _cluster_env(tmp)
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    master = _start("org.apache.spark.deploy.master.Master",
                    ["--host", "127.0.0.1", "--port", str(port), "--webui-port", "0"],
                    env, tmp / "master.log")
    procs = [master]
    try:
        _wait_for(tmp / "master.log", r"I have been elected leader", master)
        worker = _start("org.apache.spark.deploy.worker.Worker",
                        ["--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                         "--webui-port", "0", url], env, tmp / "worker.log")
        procs.append(worker)
        _wait_for(tmp / "worker.log", r"Successfully registered with master", worker)
        yield url, env, tmp
    finally:
        for proc in reversed(procs):
            _stop(proc)
    assert all(p.poll() is not None for p in procs), "a Spark daemon is still running"


def write_synthetic_lake(tmp_path: Path) -> tuple[Path, Path]:
    """The parity lake (``test_features_parity.synthetic``) and its pandas features; paths."""
    from oms.lake import table_uri, write_table
    from pipelines.features import build_features

    lake = tmp_path / "lake"
    for name, frame in synthetic().items():
        write_table(complete(frame, name), lake / name, table=name)
    pandas_out = tmp_path / "pd"
    build_features(str(lake), table_uri(str(pandas_out), "features"), engine="pandas",
                   cutoff=CUTOFF, horizon_days=90)
    return lake, pandas_out


def assert_matches_pandas(pandas_out: Path, spark_out: Path) -> None:
    """The Spark engine's three datasets equal the pandas engine's (columns, dtypes, values)."""
    from oms.lake import read_table

    for name, keys in KEYS.items():
        p = read_table(pandas_out / "features" / name).sort_values(keys).reset_index(drop=True)
        s = read_table(spark_out / "features" / name)
        assert sorted(s.columns) == sorted(p.columns), name
        s = s[list(p.columns)].sort_values(keys).reset_index(drop=True)
        assert len(p) > 0 and (s.dtypes == p.dtypes).all(), name
        pd.testing.assert_frame_equal(s, p, check_exact=False, rtol=1e-12)


def test_features_on_a_standalone_cluster_match_pandas(cluster, tmp_path):
    """``oms-ml features --engine spark`` against spark://… writes what pandas writes."""
    url, env, tmp = cluster
    lake, pandas_out = write_synthetic_lake(tmp_path)
    run_env = env | {"OMS_ML_SPARK_MASTER": url, "OMS_ML_SPARK_DRIVER_MEMORY": "1g",
                     "OMS_ML_SPARK_CONF": TINY_DATA_CONF, "OMS_ML_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "features", "--engine", "spark", "--lake",
         str(lake), "--out", str(tmp_path / "sp"), "--cutoff", str(CUTOFF.date())],
        env=run_env, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the application really ran on the cluster: the worker launched an executor for it
    worker_log = (tmp / "worker.log").read_text(errors="ignore")
    assert "Asked to launch executor" in worker_log, worker_log[-2000:]
    assert_matches_pandas(pandas_out, tmp_path / "sp")
