"""Issue 16 items 8-10: bad horizons/targets, unusable MLflow stores, the artifact location.

Every command answers with one line (no SQLAlchemy traceback), read-only commands never
create MLflow tables, training checks the store before the backtest, a dead tracking server
is reported fast, and artifacts land under ``<data_dir>/mlartifacts``.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY = [["forecast"], ["score", "churn"], ["route", "evaluate", "--episodes", "1"]]
ALL = [*READ_ONLY, ["train", "forecast", "--models", "seasonal_naive"],
       ["train", "churn"], ["train", "router", "--timesteps", "64"]]
LAKE: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _lake(tmp_path_factory):
    """A small churn lake of tenant ``demo`` (score churn checks its input before the store)."""
    from test_churn import contract_orders

    from oms.lake import write_table

    root = tmp_path_factory.mktemp("store-lake")
    write_table(contract_orders(150).assign(tenant_id="demo"), f"{root}/orders", table="orders")
    LAKE["uri"] = str(root)


def invoke(args: list[str]):
    from flows.cli import app

    if args[:2] == ["score", "churn"]:
        args = [*args, "--lake", LAKE["uri"]]
    return CliRunner().invoke(app, args)


def one_line_error(res, code: int = 1) -> str:
    """The command failed with ``code`` and one ``error:`` line, no traceback."""
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) <= 3, res.output
    return res.output


@pytest.fixture
def store(settings, monkeypatch):
    """Where the settings' SQLite store lives (the file is made by each test)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir / "mlflow.db"


def tables_of(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


# ----------------------------------------------------------------------------- item 8
@pytest.mark.parametrize("horizon", ["0", "-3"])
def test_zero_or_negative_horizon_is_a_usage_error(horizon, settings):
    res = invoke(["forecast", "--horizon", horizon])
    assert "must be at least 1" in one_line_error(res, code=2)


def test_unknown_target_lists_the_known_ones(settings):
    for cmd in (["forecast"], ["train", "forecast"]):
        out = one_line_error(invoke([*cmd, "--target", "foo"]), code=2)
        assert "'foo' is not one of 'volume', 'sku'" in out


def test_horizon_beyond_the_champion_is_refused():
    from pipelines.score_forecast import check_horizon

    assert check_horizon(None, 7) == 7 and check_horizon(3, 7) == 3
    with pytest.raises(ValueError, match="beyond the champion's 7 days"):
        check_horizon(30, 7)


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: "-".join(c[:2]))
@pytest.mark.parametrize("kind", ["missing", "empty", "foreign"])
def test_read_only_commands_never_create_mlflow_tables(command, kind, store):
    if kind == "empty":
        store.write_bytes(b"")
    elif kind == "foreign":
        con = sqlite3.connect(store)
        con.execute("CREATE TABLE invoices (id INTEGER)")
        con.commit()
        con.close()
    res = invoke(command)
    if command[0] == "route":  # evaluates the baselines and notes the missing champion
        assert res.exit_code in (0, 1) and "Traceback" not in res.output
        assert ("champion not evaluated" in res.output) or ("not an MLflow store" in res.output)
    else:
        out = one_line_error(res)
        assert ("no MLflow store" in out) if kind != "foreign" else ("not an MLflow store" in out)
    if kind == "missing":
        assert not store.exists()
    elif kind == "empty":
        assert store.stat().st_size == 0
    else:
        assert tables_of(store) == {"invoices"}


# ----------------------------------------------------------------------------- item 9
def corrupt(store: Path, how: str, template: Path) -> None:
    if how == "garbage":
        store.write_bytes(b"this is not a database\n" * 200)
    else:  # a real migrated store cut in half
        data = template.read_bytes()
        store.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("how", ["garbage", "truncated"])
@pytest.mark.parametrize("command", ALL, ids=lambda c: "-".join(c[:2]))
def test_corrupt_store_is_one_clear_line(command, how, store, _mlflow_template):
    corrupt(store, how, _mlflow_template)
    before = store.read_bytes()
    t0 = time.perf_counter()
    out = one_line_error(invoke(command))
    assert "corrupt MLflow store" in out
    assert time.perf_counter() - t0 < 20  # checked first: no backtest, no training
    assert store.read_bytes() == before


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.mark.parametrize("command", ALL, ids=lambda c: "-".join(c[:2]))
def test_unreachable_tracking_server_fails_fast(command, settings, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    t0 = time.perf_counter()
    res = invoke(command)
    took = time.perf_counter() - t0
    if command[0] == "route":
        assert "tracking server unreachable" in res.output and res.exit_code == 1
    else:
        assert "tracking server unreachable" in one_line_error(res)
    assert took < 15


# ----------------------------------------------------------------------------- item 10
def test_artifacts_go_under_the_data_dir_never_cwd_mlruns(settings, mlflow_uri, monkeypatch,
                                                          tmp_path):
    import mlflow

    from models.forecast import SeasonalNaive
    from models.forecast.synthetic import make_panel
    from oms.settings import get_settings
    from pipelines.train_forecast import train_forecast

    monkeypatch.delenv("OMS_ML_MLFLOW_ARTIFACT_ROOT")
    get_settings.cache_clear()
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    res = train_forecast(make_panel(n_series=1, n_days=80, random_state=1), "volume",
                         models={"naive": SeasonalNaive()}, n_windows=1, progress=False,
                         output_uri="")
    root = get_settings().data_dir / "mlartifacts"
    exp = mlflow.get_experiment_by_name("forecast-volume")
    assert exp.artifact_location == (root / "forecast-volume").as_uri()
    assert mlflow.get_run(res.run_id).info.artifact_uri.startswith(root.as_uri())
    assert any(root.rglob("MLmodel"))  # the registered model's files too
    assert not (cwd / "mlruns").exists() and not (tmp_path / "mlruns").exists()


def test_make_clean_removes_the_artifact_root(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for p in ("data/mlartifacts/x", "data/outputs/y", "data/lake/z"):
        (tmp_path / p).mkdir(parents=True)
    (tmp_path / "data" / "mlflow.db").write_bytes(b"")
    subprocess.run(["make", "clean", "VENV=.venv-none"], cwd=tmp_path, check=True,
                   capture_output=True)
    assert not any((tmp_path / "data").iterdir())
