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


def _small_families(root: Path) -> dict[str, tuple[object, pd.DataFrame, str]]:
    """Each non-text risk family fitted small on generated data: (estimator, example, metric)."""
    from sklearn.metrics import average_precision_score

    from models.risk.anomaly import OrderAnomalyDetector
    from models.risk.eta import EtaQuantiles, eta_features
    from models.risk.refunds import RefundApprover, refund_features
    from models.risk.returns import ReturnModel, return_lines
    from oms.lake import read_table
    from pipelines.generator.core import generate
    from pipelines.generator.risk import generate_risk

    generate("tiny", 3, str(root), days=90)
    t = {n: read_table(str(root / n), table=n) for n in
         ("orders", "order_lines", "customers", "products", "warehouses", "order_events",
          "daily_context")}
    risk = generate_risk(t["orders"], t["order_lines"], t["customers"], seed=3,
                         abnormal_rate=0.03, refund_rate=0.25)
    y = risk.abnormal_truth["is_abnormal"].to_numpy(bool)
    anomaly = OrderAnomalyDetector(n_estimators=20).fit(risk.risk_orders, y)
    req = risk.refund_requests.sort_values("request_ts").reset_index(drop=True)
    rf = refund_features(req, t["orders"], t["customers"], risk.credit)
    abuse = req[["request_id"]].merge(risk.refund_truth)["is_abuse"].to_numpy(bool)
    refunds = RefundApprover(target_loss_rate=None, max_iter=20).fit(rf, abuse)
    o = t["orders"]
    o = o[o["delivery_hours"].notna() & o["warehouse_id"].notna()
          & o["customer_id"].notna()].sort_values("order_ts").reset_index(drop=True)
    ef = eta_features(o, t["customers"], t["warehouses"], t["daily_context"])
    eta = EtaQuantiles(max_iter=20).fit(ef, ef["delivery_hours"].astype(float))
    rl = return_lines(t["orders"], t["order_lines"], t["products"], t["order_events"])
    returns = ReturnModel(max_iter=20).fit(rl, rl["returned"].to_numpy(bool))
    metrics = {"anomaly": average_precision_score(y, anomaly.score(risk.risk_orders)),
               "refunds": float((refunds.decide(rf)["decision"] == "auto_approve").mean()),
               "eta": -float((eta.predict(ef)["p50_hours"] - ef["delivery_hours"]).abs().mean()),
               "returns": float(returns.predict_proba(rl)[:, 1].mean())}
    return {"anomaly": (anomaly, risk.risk_orders.head(5), metrics["anomaly"]),
            "refunds": (refunds, rf.head(5), metrics["refunds"]),
            "eta": (eta, ef.head(5), metrics["eta"]),
            "returns": (returns, rl.head(5), metrics["returns"])}


@pytest.mark.slow
def test_every_risk_family_registered_gated_and_loaded_by_alias_in_fresh_process(
        mlflow_uri, tmp_path):
    """anomaly, refunds, ETA and returns: champion gate, then models:/<name>@champion in a
    new interpreter answers on the logged example rows (triage: the test above)."""
    from pipelines.train_risk import FAMILIES, FitResult, naive_utc

    fams = _small_families(tmp_path / "data")
    names = {}
    for fam, (est, example, value) in fams.items():
        gate = register(FitResult(fam, est, "gate", {"gate": value}), "t2", example)
        assert gate.promoted and gate.name == f"{FAMILIES[fam]}__t2"
        again = register(FitResult(fam, est, "gate", {"gate": value - 1.0}), "t2", example)
        assert not again.promoted  # the gate keeps the better champion
        names[fam] = gate.name
        naive_utc(example).to_parquet(tmp_path / f"{fam}.parquet")
    code = "\n".join([
        "import mlflow, pandas as pd",
        f"mlflow.set_tracking_uri({mlflow_uri!r})",
        f"for fam, name in {names!r}.items():",
        f"    x = pd.read_parquet({str(tmp_path)!r} + '/' + fam + '.parquet')",
        "    out = mlflow.pyfunc.load_model(f'models:/{name}@champion').predict(x)",
        "    print(fam, len(out), sorted(out.columns))"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["anomaly"].startswith("5 ") and "'flagged'" in lines["anomaly"]
    assert lines["refunds"].startswith("5 ") and "'decision'" in lines["refunds"]
    assert lines["eta"].startswith("5 ") and "'p90_hours'" in lines["eta"]
    assert lines["returns"].startswith("5 ") and "'p_return'" in lines["returns"]
