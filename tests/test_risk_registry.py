"""Risk families in MLflow: register with the gate, load by alias in a fresh process, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipelines.generator.support import generate_support_messages
from pipelines.train_risk import fit_triage, register

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_triage_registered_gated_and_loaded_in_fresh_process(mlflow_uri, tmp_path):
    msgs = generate_support_messages(300, seed=5)
    res = fit_triage(msgs, n_train=800)
    example = pd.DataFrame({"message": ["where is O0000000042"]})
    first = register(res, "t1", example, "message")
    assert first.promoted and first.name == "support_triage__t1"
    worse = fit_triage(msgs, n_train=800)
    worse.metrics["accuracy"] = res.metrics["accuracy"] - 0.1  # a genuinely different value
    second = register(worse, "t1", example, "message")
    assert not second.promoted and "not better" in second.reason
    code = (f"import mlflow, pandas as pd; mlflow.set_tracking_uri({mlflow_uri!r}); "
            "m = mlflow.pyfunc.load_model('models:/support_triage__t1@champion'); "
            "d = m.predict(pd.DataFrame({'message': ['我要投诉,服务太差', '']})); "
            "print(list(d['route']))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "['human', 'human']" in out.stdout


def test_cli_help_and_bad_root(tmp_path):
    r = CliRunner().invoke(app, ["train", "risk", "--help"])
    assert r.exit_code == 0 and "gate" in r.output
    r = CliRunner().invoke(app, ["train", "risk", "--root", str(tmp_path / "nope"),
                                 "--family", "anomaly"])
    assert r.exit_code == 1 and "error" in r.output
