"""Reliability probe, tenant and MLflow-store part (issue 16 items 4, 8, 9, 10).

Each case gets a fresh, empty working directory, runs the real ``oms-ml`` CLI in
subprocesses with ``OMS_ML_DATA_DIR=<dir>/data`` and returns ``(outcome, detail)``:

* ``clean``     the fault was refused or handled with a clear message, nothing lost;
* ``silent``    accepted without a word, or answered with a message that misses the point;
* ``lost``      another tenant's model or output was changed or lost;
* ``traceback`` a Python traceback reached the user.

``bench/reliability.py`` imports :data:`CASES`; run this file alone to probe only these:
``python bench/reliability_tenant.py`` (writes ``bench/results/reliability_tenant.md``).
A two-tenant ``tiny`` lake (tenants ``demo`` and ``t2``) is generated once and copied into
each case that needs data; models are trained inside the case that needs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
Outcome = tuple[str, str]
_CACHE: dict[str, Path] = {}
FAST_TRAIN = ["--models", "seasonal_naive", "--n-windows", "2"]


# ----------------------------------------------------------------------------- running
def oms(work: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``oms-ml *args`` against ``<work>/data`` (this checkout's code)."""
    exe = Path(sys.executable).parent / "oms-ml"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "flows.cli"]
    e = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    e |= {"OMS_ML_DATA_DIR": str(work / "data"), "PYTHONPATH": str(ROOT), "DO_NOT_TRACK": "1",
          "COLUMNS": "200"}
    e |= env or {}
    return subprocess.run([*cmd, *args], cwd=cwd or work, env=e, capture_output=True,
                          text=True, timeout=timeout)


def judge(p: subprocess.CompletedProcess, expect: str, code: int | None = None) -> Outcome:
    """Classify a run that must fail with a message containing ``expect``."""
    out = p.stdout + p.stderr
    if "Traceback" in out:
        return "traceback", _last(out)
    if p.returncode == 0:
        return "silent", f"exit 0: {_last(out)}"
    if expect.lower() not in out.lower() or (code is not None and p.returncode != code):
        return "silent", f"exit {p.returncode}, message misses {expect!r}: {_last(out)}"
    return "clean", f"exit {p.returncode}: {_last(out)}"


def _last(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip() and "INFO" not in x]
    return (lines[-1] if lines else "")[:160]


def ok(p: subprocess.CompletedProcess, what: str) -> None:
    """A setup step that must succeed (otherwise the case reports what broke)."""
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {p.returncode}): {_last(p.stdout + p.stderr)}")


# ----------------------------------------------------------------------------- data
def _template() -> Path:
    """A two-tenant tiny lake (``demo`` seed 1, ``t2`` seed 2), built once per process."""
    if "lake" in _CACHE:
        return _CACHE["lake"]
    base = Path(tempfile.mkdtemp(prefix="oms-rel-tenant-"))
    ok(oms(base, "generate", "--scale", "tiny", "--seed", "1"), "generate demo")
    ok(oms(base, "generate", "--scale", "tiny", "--seed", "2", "--tenant", "t2", "--out",
           str(base / "land2")), "generate t2")
    landing = base / "data" / "landing"
    for f in (base / "land2").rglob("*.parquet"):  # both tenants land side by side
        dest = landing / f.parent.relative_to(base / "land2") / f"{f.stem}-t2.parquet"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    ok(oms(base, "ingest", "--no-progress"), "ingest")
    _CACHE["lake"] = base
    return base


def with_lake(work: Path) -> Path:
    """Copy the two-tenant lake into ``work/data`` (no MLflow store, no outputs)."""
    shutil.copytree(_template() / "data" / "lake", work / "data" / "lake")
    return work


def train_forecast(work: Path, tenant: str) -> None:
    ok(oms(work, "train", "forecast", "--tenant", tenant, *FAST_TRAIN), f"train {tenant}")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_store(work: Path, kind: str) -> Path:
    """An unusable ``mlflow.db``: empty, foreign, garbage or a real store cut in half."""
    db = work / "data" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        db.write_bytes(b"")
    elif kind == "foreign":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE invoices (id INTEGER)")
        con.commit()
        con.close()
    elif kind == "garbage":
        db.write_bytes(b"not a database\n" * 300)
    else:  # truncated: a migrated store, half of it
        real = _real_store()
        db.write_bytes(real[: len(real) // 2])
    return db


def _real_store() -> bytes:
    if "store" not in _CACHE:
        d = Path(tempfile.mkdtemp(prefix="oms-rel-store-"))
        uri = f"sqlite:///{d / 'mlflow.db'}"
        code = ("from mlflow import MlflowClient;"
                f"MlflowClient(tracking_uri={uri!r}, registry_uri={uri!r}).search_experiments()")
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        _CACHE["store"] = d / "mlflow.db"
    return _CACHE["store"].read_bytes()


def _tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


# ----------------------------------------------------------------------------- item 4
def _bad_tenant(args: list[str], tenant: str) -> Callable[[Path], Outcome]:
    def case(work: Path) -> Outcome:
        p = oms(work, *args, "--tenant", tenant)
        res = judge(p, "invalid tenant id", code=2)
        if res[0] == "clean" and (work / "data" / "mlflow.db").exists():
            return "silent", "refused, but only after creating an MLflow store"
        return res
    return case


def demo_without_champion_after_t2(work: Path) -> Outcome:
    """`train forecast --tenant t2` on a fresh registry, then `forecast --tenant demo`."""
    with_lake(work)
    train_forecast(work, "t2")
    p = oms(work, "forecast", "--tenant", "demo")
    if p.returncode == 0:
        return "lost", "demo was forecast with t2's champion"
    return judge(p, "tenant 'demo' has no order_volume_forecaster champion")


def forecasts_per_tenant(work: Path) -> Outcome:
    """Both tenants trained; forecasting demo leaves t2's forecast file as it was."""
    with_lake(work)
    train_forecast(work, "t2")
    t2 = work / "data/outputs/order_volume_forecast/t2/order_volume_forecast.parquet"
    before = t2.read_bytes()
    train_forecast(work, "demo")
    p = oms(work, "forecast", "--tenant", "demo")
    if p.returncode != 0:
        return judge(p, "forecast rows written")
    if not t2.exists() or t2.read_bytes() != before:
        return "lost", "t2's forecast changed by a demo run"
    p2 = oms(work, "forecast", "--tenant", "t2")
    return ("clean", "demo and t2 each forecast by their own champion") if p2.returncode == 0 \
        else judge(p2, "forecast rows written")


def sales_trend_per_tenant(work: Path) -> Outcome:
    """A tenant-scoped training run must not overwrite another tenant's sales trend."""
    with_lake(work)
    train_forecast(work, "demo")
    demo = work / "data/outputs/sales_trend/demo/sales_trend.parquet"
    before = demo.read_bytes()
    train_forecast(work, "t2")
    if not demo.exists() or demo.read_bytes() != before:
        return "lost", "demo's sales trend overwritten by a t2 run"
    return "clean", "sales_trend/<tenant>/ written per tenant"


def churn_outputs_per_tenant(work: Path) -> Outcome:
    """`score churn --tenant demo` keeps t2's scores, exclusions and segments."""
    import pandas as pd

    with_lake(work)
    for t in ("t2", "demo"):
        ok(oms(work, "train", "churn", "--tenant", t), f"train churn {t}")
    ok(oms(work, "score", "churn", "--tenant", "t2"), "score t2")
    out = work / "data/outputs"
    kinds = ("churn_scores", "churn_exclusions", "churn_segments")
    before = {k: (out / k / "t2" / f"{k}.parquet").read_bytes() for k in kinds}
    ok(oms(work, "score", "churn", "--tenant", "demo"), "score demo")
    changed = [k for k in kinds if (out / k / "t2" / f"{k}.parquet").read_bytes() != before[k]]
    if changed:
        return "lost", f"t2's {changed} changed by a demo run"
    scores = pd.concat(pd.read_parquet(f) for f in (out / "churn_scores").glob("*/*.parquet"))
    from oms.lake import read_table, table_uri

    products = read_table(table_uri(str(work / "data/lake"), "products"), ["tenant_id", "sku"])
    own = set(zip(products["tenant_id"].astype(str), products["sku"].astype(str), strict=True))
    foreign = [(t, s) for t, r in zip(scores["tenant_id"], scores["recommended_skus"],
                                      strict=True) for s in str(r).split("|")
               if s and (str(t), s) not in own]
    if foreign:
        return "lost", f"{len(foreign)} recommendations of SKUs outside the tenant's catalogue"
    return "clean", f"{scores['tenant_id'].nunique()} tenants scored separately; SKUs in-tenant"


# ----------------------------------------------------------------------------- item 8
def _usage(args: list[str], expect: str) -> Callable[[Path], Outcome]:
    def case(work: Path) -> Outcome:
        return judge(oms(work, *args), expect, code=2)
    return case


def horizon_beyond_champion(work: Path) -> Outcome:
    with_lake(work)
    train_forecast(work, "demo")
    return judge(oms(work, "forecast", "--horizon", "99"), "beyond the champion")


def _read_only_store(kind: str) -> Callable[[Path], Outcome]:
    def case(work: Path) -> Outcome:
        db = make_store(work, kind)
        before = db.read_bytes()
        p = oms(work, "forecast")
        if db.read_bytes() != before:
            return "lost", f"forecast wrote into the {kind} file (tables: {_tables(db)})"
        return judge(p, "not an MLflow store" if kind == "foreign" else "no MLflow store")
    return case


# ----------------------------------------------------------------------------- item 9
def _corrupt(kind: str, args: list[str], needs_lake: bool = False) -> Callable[[Path], Outcome]:
    def case(work: Path) -> Outcome:
        if needs_lake:
            with_lake(work)
        db = make_store(work, kind)
        before = db.read_bytes()
        t0 = time.perf_counter()
        p = oms(work, *args)
        took = time.perf_counter() - t0
        res = judge(p, "corrupt MLflow store")
        if res[0] == "clean" and took > 60:
            return "silent", f"found out only after {took:.0f} s"
        if db.read_bytes() != before:
            return "lost", "the corrupt store was modified"
        return res[0], f"{res[1]} ({took:.1f} s)"
    return case


def _unreachable(args: list[str], needs_lake: bool = False) -> Callable[[Path], Outcome]:
    def case(work: Path) -> Outcome:
        if needs_lake:
            with_lake(work)
        t0 = time.perf_counter()
        p = oms(work, *args, env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed_port()}"})
        took = time.perf_counter() - t0
        res = judge(p, "tracking server unreachable")
        if res[0] == "clean" and took > 30:
            return "silent", f"unreachable reported only after {took:.0f} s"
        return res[0], f"{res[1]} ({took:.1f} s)"
    return case


# ----------------------------------------------------------------------------- item 10
def artifacts_beside_store(work: Path) -> Outcome:
    """Training from another working directory: artifacts go to data/mlartifacts only."""
    with_lake(work)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    p = oms(work, "train", "forecast", *FAST_TRAIN, cwd=elsewhere)
    if p.returncode != 0:
        return judge(p, "champion")
    strays = [str(d) for d in (elsewhere / "mlruns", work / "mlruns") if d.exists()]
    if strays:
        return "silent", f"artifacts written to {strays}"
    found = list((work / "data" / "mlartifacts").rglob("MLmodel"))
    return ("clean", f"{len(found)} model(s) under data/mlartifacts, no ./mlruns") if found \
        else ("silent", "no model artifacts under data/mlartifacts")


BAD_IDS = {"dotdot-space": "../../etc/x y", "slash": "a/b", "empty": "", "65-chars": "x" * 65}
CASES: list[tuple[str, Callable[[Path], Outcome]]] = [
    ("tenant id '../../etc/x y' → forecast", _bad_tenant(["forecast"], BAD_IDS["dotdot-space"])),
    ("tenant id 'a/b' → score churn", _bad_tenant(["score", "churn"], BAD_IDS["slash"])),
    ("tenant id '' → train forecast", _bad_tenant(["train", "forecast"], BAD_IDS["empty"])),
    ("tenant id of 65 chars → train churn", _bad_tenant(["train", "churn"], BAD_IDS["65-chars"])),
    ("tenant id 'a/b' → train router", _bad_tenant(["train", "router"], BAD_IDS["slash"])),
    ("tenant id '../x' → route reroute", _bad_tenant(
        ["route", "reroute", "--orders", "o.csv", "--warehouses", "w.csv", "--stock", "s.csv",
         "--down", "w1"], "../x")),
    ("tenant id 'a b' → import online-retail", _bad_tenant(
        ["import", "online-retail", "x.parquet"], "a b")),
    ("forecast demo after train t2 only", demo_without_champion_after_t2),
    ("forecast demo keeps t2's forecast", forecasts_per_tenant),
    ("train t2 keeps demo's sales trend", sales_trend_per_tenant),
    ("score churn demo keeps t2's outputs; SKUs in-tenant", churn_outputs_per_tenant),
    ("forecast --horizon 0", _usage(["forecast", "--horizon", "0"], "must be at least 1")),
    ("forecast --horizon -2", _usage(["forecast", "--horizon", "-2"], "must be at least 1")),
    ("forecast --target foo", _usage(["forecast", "--target", "foo"], "is not one of")),
    ("train forecast --target foo", _usage(["train", "forecast", "--target", "foo"],
                                           "is not one of")),
    ("forecast --horizon beyond the champion", horizon_beyond_champion),
    ("forecast on a 0-byte mlflow.db", _read_only_store("empty")),
    ("forecast on a foreign SQLite file", _read_only_store("foreign")),
    ("forecast on a garbage mlflow.db", _corrupt("garbage", ["forecast"])),
    ("forecast on a truncated mlflow.db", _corrupt("truncated", ["forecast"])),
    ("score churn on a corrupt mlflow.db", _corrupt("truncated", ["score", "churn"], True)),
    ("train forecast on a corrupt mlflow.db (before the backtest)",
     _corrupt("truncated", ["train", "forecast", *FAST_TRAIN], True)),
    ("route evaluate on a corrupt mlflow.db", _corrupt("garbage", ["route", "evaluate",
                                                                   "--episodes", "2"])),
    ("forecast with an unreachable tracking server", _unreachable(["forecast"])),
    ("train churn with an unreachable tracking server", _unreachable(["train", "churn"], True)),
    ("artifacts beside the store, never ./mlruns", artifacts_beside_store),
]


def run_cases(cases: list[tuple[str, Callable[[Path], Outcome]]] = CASES
              ) -> list[tuple[str, str, str, float]]:
    """Run every case in a fresh directory: ``(name, outcome, detail, seconds)``."""
    rows = []
    for name, fn in cases:
        work = Path(tempfile.mkdtemp(prefix="oms-rel-case-"))
        t0 = time.perf_counter()
        try:
            outcome, detail = fn(work)
        except Exception as e:  # noqa: BLE001 - a setup failure is reported, not hidden
            outcome, detail = "traceback", f"case setup failed: {e}"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append((name, outcome, detail, time.perf_counter() - t0))
        print(f"{outcome:<9} {time.perf_counter() - t0:6.1f}s  {name}: {detail}", flush=True)
    return rows


def main() -> None:
    """Run the cases and write ``bench/results/reliability_tenant.md``."""
    t0, load = time.perf_counter(), os.getloadavg()
    rows = run_cases()
    counts = {k: sum(r[1] == k for r in rows) for k in ("clean", "silent", "lost", "traceback")}
    lines = ["## Reliability: tenants and the MLflow store (issue 16 items 4, 8-10)", "",
             f"`python bench/reliability_tenant.py` — {len(rows)} cases in "
             f"{time.perf_counter() - t0:.0f} s on 2 cores (load average at start "
             f"{load[0]:.1f}).", "",
             "tried | handled cleanly | silent | lost | traceback", "---|---|---|---|---",
             f"{len(rows)} | {counts['clean']} | {counts['silent']} | {counts['lost']} | "
             f"{counts['traceback']}", "", "case | outcome | detail", "---|---|---"]
    lines += [f"{n} | {o} | {d.replace('|', '/')}" for n, o, d, _ in rows]
    out = ROOT / "bench" / "results" / "reliability_tenant.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8]))


if __name__ == "__main__":
    main()
