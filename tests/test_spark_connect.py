"""The feature step through Spark Connect (a ``sc://`` client against a real Connect server).

The server is the installed ``pyspark`` package's own ``SparkConnectServer`` (the jar ships in
``pyspark/jars``; ``sbin/start-connect-server.sh`` runs the same class through
``spark-submit``), started on a free loopback port with a ``local[1]`` master and stopped at
the end. ``oms-ml features --engine spark`` runs in a subprocess with
``OMS_ML_SPARK_MASTER=sc://127.0.0.1:<port>``: the client holds no JVM, the plan runs in the
server, and the three datasets must equal the pandas engine's.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_features_parity import CUTOFF
from test_spark_cluster import (
    ROOT,
    TINY_DATA_CONF,
    _cluster_env,
    _free_port,
    _stop,
    _wait_for,
    assert_matches_pandas,
    spark_home,
    write_synthetic_lake,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A Spark Connect server on 127.0.0.1 (local[1], 1 GB driver); yields its ``sc://`` URL."""
    pytest.importorskip("grpc", reason="Spark Connect's client needs pyspark[connect]")
    tmp = tmp_path_factory.mktemp("spark-connect")
    env = _cluster_env(tmp)
    env.pop("SPARK_DAEMON_MEMORY")  # the launcher would size the server's JVM by it
    port = _free_port()
    log = tmp / "connect.log"
    submit = spark_home() / "bin" / "spark-submit"
    args = [str(submit), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--name", "oms-ml connect test", "--master", "local[1]", "--driver-memory", "1g",
            "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.ui.enabled=false"]
    for key, value in json.loads(TINY_DATA_CONF).items():
        args += ["--conf", f"{key}={value}"]
    with open(log, "w") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=tmp)
    try:
        _wait_for(log, r"Spark Connect server started at", proc)
        yield f"sc://127.0.0.1:{port}", env, log
    finally:
        _stop(proc)
    assert proc.poll() is not None, "the Spark Connect server is still running"


def test_features_through_spark_connect_match_pandas(connect_server, tmp_path):
    """``oms-ml features --engine spark`` with an ``sc://`` master writes what pandas writes."""
    url, env, log = connect_server
    lake, pandas_out = write_synthetic_lake(tmp_path)
    run_env = env | {"OMS_ML_SPARK_MASTER": url, "OMS_ML_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "features", "--engine", "spark", "--lake",
         str(lake), "--out", str(tmp_path / "sp"), "--cutoff", str(CUTOFF.date())],
        env=run_env, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the plans ran in the server: it logged the client's session and executions
    text = log.read_text(errors="ignore")
    assert "sessionId" in text and "ExecuteHolder" in text, text[-2000:]
    assert_matches_pandas(pandas_out, tmp_path / "sp")
