"""Reliability cases for the lake: bad inputs, history, kills at every checkpoint, concurrency.

Used by ``bench/reliability.py`` (``CASES``). Every case starts from a copy of one small lake
(``tiny`` generator data, 5 days from 2024-03-01, the last day held back as a "day-2" landing)
and runs ``oms-ml`` as a user would.

This module is over 400 lines: it is a catalogue of independent probe cases, one short
function each; keeping them in one list makes the probe easy to review.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reliability import had_traceback, oms_ml  # noqa: E402
from oms.contract import TABLES, get_table  # noqa: E402
from oms.faults import CHECKPOINTS  # noqa: E402
from oms.lake import list_files, read_table, write_table  # noqa: E402
from oms.versions import lake_lock, read_pointer, versions  # noqa: E402

FACTS = {"orders": "order_date", "order_lines": "order_date", "order_events": "event_date"}
Result = tuple[str, str]


@functools.cache
def _world() -> Path:
    """Generate once: landing frames split into day 1 (base lake) and day 2."""
    from pipelines.generate import generate
    from pipelines.ingest import ingest

    root = Path(tempfile.mkdtemp(prefix="oms-rel-world-"))
    generate("tiny", 11, str(root / "gen"), start="2024-03-01", days=5)
    frames = {t: read_table(root / "gen" / t, table=t) for t in TABLES}
    last = frames["orders"]["order_date"].max()
    for name, df in frames.items():
        col = FACTS.get(name)
        write_table(df if col is None else df[df[col] < last], root / "day1" / name, table=name)
        if col is not None:
            write_table(df[df[col] == last], root / "day2" / name, table=name)
    ingest(str(root / "day1"), str(root / "base" / "lake"), str(root / "base" / "quarantine"))
    shutil.copytree(root / "base", root / "after")  # the lake a clean day-2 run produces
    ingest(str(root / "day2"), str(root / "after" / "lake"), str(root / "after" / "quarantine"))
    return root


def frame(day: str, table: str) -> pd.DataFrame:
    """A table of the day-1 or day-2 landing, in contract dtypes."""
    return read_table(_world() / day / table, table=table)


def base(work: Path) -> None:
    """Copy the day-1 lake into ``work`` (``work/lake``, ``work/quarantine``)."""
    for zone in ("lake", "quarantine"):
        shutil.copytree(_world() / "base" / zone, work / zone)


def land(work: Path, frames: dict[str, pd.DataFrame], typed: bool = True) -> Path:
    """Write a landing zone under ``work/landing`` (typed, or as-is for raw text)."""
    for name, df in frames.items():
        write_table(df, work / "landing" / name, table=name if typed else None)
    return work / "landing"


def copy_day2(work: Path) -> None:
    shutil.copytree(_world() / "day2", work / "landing")


def rows(work: Path) -> dict[str, int]:
    """Rows per table of the lake's current version."""
    ptr = read_pointer(work / "lake")
    return {t: len(read_table(work / "lake" / t)) for t in (ptr or {}).get("tables", [])}


def digest(work: Path, zone: str = "lake") -> dict[str, int]:
    ptr = read_pointer(work / zone)
    out = {}
    for t in (ptr or {}).get("tables", []):
        df = read_table(work / zone / t)
        keys = list(get_table(t).primary_key) if t in TABLES else list(df.columns)
        out[t] = int(pd.util.hash_pandas_object(
            df.sort_values(keys).reset_index(drop=True), index=False).sum())
    return out


def reasons(work: Path, table: str) -> dict[str, int]:
    """Quarantined rows per reason over every run."""
    path = work / "quarantine" / table
    if not path.exists() or not list_files(path):
        return {}
    q = read_table(path)
    return q["_reason"].str.split("; ").explode().value_counts().to_dict() if len(q) else {}


def ingest(work: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return oms_ml(work, "ingest", "--no-progress", *extra, env=env)


# --- case factories ----------------------------------------------------------------------


def refused(setup: Callable[[Path], None], words: str, *extra: str) -> Callable[[Path], Result]:
    """The run must fail with a message containing ``words`` and leave the lake as it was."""
    def case(work: Path) -> Result:
        base(work)
        before = digest(work)
        setup(work)
        p = ingest(work, *extra)
        if had_traceback(p):
            return "traceback", p.stderr.strip().splitlines()[-1]
        if digest(work) != before:
            return "lost", f"exit {p.returncode} but the lake changed"
        if p.returncode == 0:
            return "silent", "accepted (exit 0)"
        msg = (p.stderr.strip().splitlines() or [""])[-1]
        return ("clean" if words in p.stderr else "silent"), msg[:200]
    return case


def quarantined(table: str, mutate: Callable[[pd.DataFrame], pd.DataFrame], reason: str,
                typed: bool = True) -> Callable[[Path], Result]:
    """Day-2 rows with one bad value: that row quarantined with ``reason``, the rest added."""
    def case(work: Path) -> Result:
        base(work)
        before = rows(work)
        df = mutate(frame("day2", table).reset_index(drop=True))
        if not typed:
            df = df.astype(object).where(df.notna(), None).astype("string")
        frames = {table: df}
        if table == "order_lines":  # the lines' orders land with them
            frames["orders"] = frame("day2", "orders")
        land(work, frames, typed=typed)
        p = ingest(work)
        if had_traceback(p):
            return "traceback", p.stderr.strip().splitlines()[-1]
        if p.returncode != 0:
            return "silent", f"exit {p.returncode}: {p.stderr.strip()[-200:]}"
        got = reasons(work, table)
        after = rows(work)
        hits = {k: v for k, v in got.items() if k.startswith(reason)}
        q_rows = len(read_table(work / "quarantine" / table)) if got else 0
        if any(after.get(t, 0) < n for t, n in before.items()):
            return "lost", f"rows before {before}, after {after}"
        if not hits:
            return "silent", f"no row quarantined as {reason!r} (reasons: {got})"
        if after[table] != before[table] + len(df) - q_rows:
            return "lost", (f"{table}: {after[table]} rows != {before[table]} + {len(df)} landed "
                            f"- {q_rows} quarantined")
        return "clean", f"{sum(hits.values())} row(s) quarantined: {next(iter(hits))}"
    return case


def _set(col: str, value, row: int = 0) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def f(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({col: object}) if not isinstance(value, int | float | bool) else df
        df.loc[row, col] = value
        return df
    return f


def _dup(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, df.iloc[[0]]], ignore_index=True)


def _guest(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[0, "is_guest"], df.loc[0, "customer_id"] = True, "C-SOMEONE"
    return df


def _shift_date(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[0, "order_date"] = df.loc[0, "order_date"] - pd.Timedelta(days=3)
    return df


def _amount(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[0, "line_amount"] = df.loc[0, "line_amount"] + 7.5
    return df


def _orphan(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[0, "order_id"] = "NO-SUCH-ORDER"
    return df


def _corrupt(work: Path) -> None:
    land(work, {"orders": frame("day2", "orders")})
    f = next((work / "landing" / "orders").rglob("*.parquet"))
    f.write_bytes(b"PAR1 this is not parquet" * 20)


def _truncated(work: Path) -> None:
    land(work, {"orders": frame("day2", "orders")})
    f = next((work / "landing" / "orders").rglob("*.parquet"))
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _missing_column(work: Path) -> None:
    land(work, {"orders": frame("day2", "orders").drop(columns=["channel"])}, typed=False)


def _empty_replace(work: Path) -> None:
    (work / "landing" / "orders").mkdir(parents=True)
    (work / "landing" / "orders" / "p.parquet").write_bytes(b"")


def _non_parquet_in_table_folder(work: Path) -> None:
    land(work, {"orders": frame("day2", "orders")})
    (work / "landing" / "orders" / "README.txt").write_text("exported by hand")


def _single_file_no_table(work: Path) -> None:
    (work / "landing").mkdir()
    frame("day2", "orders").to_parquet(work / "landing" / "x.parquet")
    os.rename(work / "landing" / "x.parquet", work / "one.parquet")


def pointer_corrupt(work: Path) -> Result:
    base(work)
    before = digest(work)
    copy_day2(work)
    good = (work / "lake" / "_current").read_text()
    (work / "lake" / "_current").write_text("{not json")
    p = ingest(work)
    f = oms_ml(work, "features")
    (work / "lake" / "_current").write_text(good)
    if had_traceback(p) or had_traceback(f):
        return "traceback", (p.stderr + f.stderr)[-200:]
    if digest(work) != before:
        return "lost", "the lake changed under a corrupt pointer"
    if p.returncode == 0 or f.returncode == 0 or "version pointer" not in p.stderr:
        return "silent", f"exits {p.returncode}/{f.returncode}: {p.stderr[-150:]}"
    return "clean", "ingest and features refuse a corrupt pointer, naming it; lake untouched"


# --- history -------------------------------------------------------------------------------


def day2_append(work: Path) -> Result:
    base(work)
    before = rows(work)
    copy_day2(work)
    p = ingest(work)
    if had_traceback(p) or p.returncode:
        return ("traceback" if had_traceback(p) else "lost"), p.stderr[-200:]
    after = rows(work)
    added = {t: len(frame("day2", t)) for t in FACTS}
    bad = {t: (before[t], added.get(t, 0), after[t]) for t in before
           if after[t] != before[t] + added.get(t, 0)}
    return ("lost", f"before+landed != after: {bad}") if bad else \
        ("clean", f"orders {before['orders']} + {added['orders']} = {after['orders']}")


def reingest_idempotent(work: Path) -> Result:
    base(work)
    before = digest(work)
    shutil.copytree(_world() / "day1", work / "landing")
    p = ingest(work)
    if had_traceback(p) or p.returncode:
        return "traceback" if had_traceback(p) else "lost", p.stderr[-200:]
    return ("clean", "same lake after re-ingesting day 1") if digest(work) == before else \
        ("lost", "re-ingest changed the lake")


def zero_byte_keeps_table(work: Path) -> Result:
    base(work)
    before = digest(work)
    _empty_replace(work)
    p = ingest(work)
    if had_traceback(p):
        return "traceback", p.stderr[-200:]
    if digest(work) != before:
        return "lost", f"exit {p.returncode}, lake changed: {rows(work)}"
    note = "the lake's table is unchanged" in p.stdout
    return ("clean", "0-byte orders: table unchanged, said so") if note else \
        ("silent", "table unchanged but nothing said")


def empty_schema_file_keeps_table(work: Path) -> Result:
    base(work)
    before = digest(work)
    land(work, {"orders": frame("day2", "orders").iloc[:0]})
    p = ingest(work)
    if had_traceback(p):
        return "traceback", p.stderr[-200:]
    if digest(work) != before:
        return "lost", "an empty landing changed the lake"
    return ("clean", "0-row file: table unchanged") if "unchanged" in p.stdout else \
        ("silent", "no note on the empty landing")


def replace_explicit(work: Path) -> Result:
    base(work)
    copy_day2(work)
    p = ingest(work, "--replace", "--table", "orders")
    if had_traceback(p) or p.returncode:
        return "traceback" if had_traceback(p) else "silent", p.stderr[-200:]
    got, want = rows(work), len(frame("day2", "orders"))
    if got["orders"] != want or got["order_lines"] != len(frame("day1", "order_lines")):
        return "lost", f"after --replace: {got}"
    return "clean", f"--replace: orders = the landing's {want} rows, other tables kept"


def status_upsert(work: Path) -> Result:
    base(work)
    orders = read_table(work / "lake" / "orders", table="orders")
    one = orders[~orders["status"].isin(["cancelled", "returned"])].head(1)
    land(work, {"orders": one.assign(status="returned")})
    ingest(work)
    shutil.rmtree(work / "landing")
    land(work, {"orders": one})  # the older export arrives after the newer one
    p = ingest(work)
    if had_traceback(p) or p.returncode:
        return "traceback" if had_traceback(p) else "silent", p.stderr[-200:]
    now = read_table(work / "lake" / "orders", table="orders").set_index("order_id")
    oid = one["order_id"].iloc[0]
    if len(now) != len(orders):
        return "lost", f"{len(orders)} → {len(now)} orders"
    return ("clean", "newer status kept; the late old export counted as stale") \
        if now.loc[oid, "status"] == "returned" else ("silent", "old export rolled the order back")


def gc_keeps_n(work: Path) -> Result:
    base(work)
    copy_day2(work)
    for _ in range(3):  # versions 2, 3, 4: keep 2
        ingest(work, env={"OMS_ML_KEEP_VERSIONS": "2"})
    kept = versions(work / "lake")
    return ("clean", f"{len(kept)} snapshots kept") if len(kept) == 2 else \
        ("silent", f"kept {kept}")


def features_after_ingest(work: Path) -> Result:
    base(work)
    copy_day2(work)
    ingest(work)
    p = oms_ml(work, "features")
    if had_traceback(p) or p.returncode:
        return "traceback" if had_traceback(p) else "silent", p.stderr[-300:]
    n = len(read_table(work / "outputs" / "features" / "daily_volume"))
    return ("clean", f"features read the current version: {n} days") if n == 5 else \
        ("lost", f"daily_volume has {n} days, expected 5")


# --- kills and concurrency -------------------------------------------------------------------

NEW_AFTER = {"publish:switched", "publish:gc", "ingest:quarantine"}


def kill_at(point: str) -> Callable[[Path], Result]:
    def case(work: Path) -> Result:
        base(work)
        old = digest(work)
        copy_day2(work)
        new = digest(_world() / "after")
        p = ingest(work, env={"OMS_ML_KILL_AT": point})
        if p.returncode != -signal.SIGKILL:
            return "silent", f"not killed at {point} (exit {p.returncode})"
        got = digest(work)
        state = "old" if got == old else "new" if got == new else "mixed"
        if state == "mixed":
            return "lost", f"killed at {point}: lake is neither the old nor the new version"
        p2 = ingest(work)
        leftovers = list((work / "lake").glob("_staging/*")) + list(
            (work / "quarantine").rglob(".run-*"))
        if p2.returncode or digest(work) != new or leftovers:
            return "lost", f"re-run after the kill: exit {p2.returncode}, leftovers {leftovers}"
        return "clean", f"SIGKILL at {point}: lake {state}; re-run cleaned up and published"
    return case


def features_kill(point: str) -> Callable[[Path], Result]:
    def case(work: Path) -> Result:
        base(work)
        oms_ml(work, "features")
        out = work / "outputs" / "features"
        before = digest(work, "outputs/features")
        p = oms_ml(work, "features", "--horizon-days", "3", env={"OMS_ML_KILL_AT": point})
        if p.returncode != -signal.SIGKILL:
            return "silent", f"not killed (exit {p.returncode}): {p.stderr[-200:]}"
        ptr = read_pointer(out)
        if set(ptr["tables"]) != {"daily_volume", "sku_demand", "customer_features"}:
            return "lost", f"tables after the kill: {ptr['tables']}"
        if point != "publish:switched" and digest(work, "outputs/features") != before:
            return "lost", "outputs changed although the pointer did not move"
        return "clean", f"features SIGKILLed at {point}: version {ptr['version']}, 3 datasets"
    return case


def concurrent_ingests(work: Path) -> Result:
    base(work)
    copy_day2(work)
    env = {**os.environ, "OMS_ML_DATA_DIR": str(work), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from flows.cli import app; app()", "ingest", "--no-progress"]
    procs = [subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    if any(TB in o[1] for o in outs for TB in ["Traceback (most recent call last)"]):
        return "traceback", "a concurrent run crashed"
    if any(p.returncode for p in procs):
        return "silent", f"exits {[p.returncode for p in procs]}"
    ptr = read_pointer(work / "lake")
    want = {t: n + (len(frame("day2", t)) if t in FACTS else 0)
            for t, n in {t: len(frame("day1", t)) for t in TABLES}.items()}
    got = rows(work)
    if got != want:
        return "lost", f"rows {got} != {want}"
    return "clean", f"two runs at once: serialised by the lock (version {ptr['version']})"


def locked_times_out(work: Path) -> Result:
    base(work)
    copy_day2(work)
    before = digest(work)
    with lake_lock(work / "lake", what="another ingest"):
        p = ingest(work, env={"OMS_ML_LOCK_TIMEOUT": "1"})
    if had_traceback(p):
        return "traceback", p.stderr[-200:]
    if p.returncode == 0 or digest(work) != before:
        return "silent", f"exit {p.returncode} while the lake was locked"
    return ("clean" if "locked by another run" in p.stderr else "silent"), \
        p.stderr.strip()[-200:]


def crashed_holder(work: Path) -> Result:
    base(work)
    copy_day2(work)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom oms.versions import lake_lock\n"
         f"with lake_lock({str(work / 'lake')!r}):\n    print('held', flush=True)\n"
         "    time.sleep(600)\n"], env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    t0 = time.perf_counter()
    p = ingest(work, env={"OMS_ML_LOCK_TIMEOUT": "5"})
    if p.returncode:
        return "silent", f"the dead holder's lock blocked the run: {p.stderr[-200:]}"
    secs = time.perf_counter() - t0
    return "clean", f"lock of a SIGKILLed holder released by the OS (run took {secs:.0f} s)"


def stale_staging_cleaned(work: Path) -> Result:
    base(work)
    copy_day2(work)
    junk = work / "lake" / "_staging" / "20200101T000000-dead"
    (junk / "orders").mkdir(parents=True)
    (junk / "orders" / "part-0.parquet").write_bytes(b"junk")
    p = ingest(work)
    if p.returncode:
        return "traceback" if had_traceback(p) else "silent", p.stderr[-200:]
    return ("clean", "a killed run's staging folder was removed") if not junk.exists() else \
        ("silent", "stale staging folder left")


def mixed_timezones(work: Path) -> Result:
    base(work)
    df = frame("day2", "orders").reset_index(drop=True)
    truth = df["order_ts"].dt.floor("us")
    raw = df.astype(object).where(df.notna(), None).astype("string")
    texts = [t.strftime("%Y-%m-%dT%H:%M:%S.%f") if i % 4 == 0 else
             t.tz_convert("Etc/GMT-5").isoformat() for i, t in enumerate(truth)]
    raw["order_ts"] = texts
    land(work, {"orders": raw}, typed=False)
    p = ingest(work, "--table", "orders")
    if had_traceback(p) or p.returncode:
        return "traceback" if had_traceback(p) else "silent", p.stderr[-200:]
    back = read_table(work / "lake" / "orders", table="orders").set_index("order_id")
    got = back.loc[df["order_id"], "order_ts"].to_numpy()
    wrong = int((got != truth.to_numpy()).sum())
    return ("clean", f"{len(df)} mixed naive/offset timestamps, all exact") if wrong == 0 else \
        ("silent", f"{wrong} of {len(df)} timestamps shifted")


def extra_column_reported(work: Path) -> Result:
    base(work)
    land(work, {"orders": frame("day2", "orders").assign(coupon="X")})
    p = ingest(work)
    if had_traceback(p) or p.returncode:
        return "traceback" if had_traceback(p) else "silent", p.stderr[-200:]
    return ("clean", "extra column named in the summary") if "coupon" in p.stdout else \
        ("silent", "extra column dropped without a word")


def skipped(name: str, body: str, words: str) -> Callable[[Path], Result]:
    def case(work: Path) -> Result:
        base(work)
        copy_day2(work)
        (work / "landing" / name).write_text(body)
        p = ingest(work)
        if had_traceback(p) or p.returncode:
            return "traceback" if had_traceback(p) else "silent", p.stderr[-200:]
        line = next((x for x in p.stdout.splitlines() if x.startswith("skipped")), "")
        return ("clean", line[:200]) if words in line else ("silent", f"{name} not reported")
    return case


def bools_as_text(work: Path) -> Result:
    base(work)
    df = frame("day2", "orders")
    raw = df.astype(object).where(df.notna(), None).astype("string")
    raw["is_guest"] = np.where(df["is_guest"], "yes", "no")
    land(work, {"orders": raw}, typed=False)
    p = ingest(work, "--table", "orders")
    if had_traceback(p) or p.returncode:
        return "traceback" if had_traceback(p) else "silent", p.stderr[-200:]
    n = rows(work)["orders"]
    want = len(frame("day1", "orders")) + len(df)
    return ("clean", "yes/no booleans read") if n == want else ("lost", f"{n} != {want}")


def _future(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[0, "order_date"] = pd.Timestamp("2099-06-01")
    return df


CASES: list[tuple[str, Callable[[Path], Result]]] = [
    ("lake: landing path missing", refused(lambda w: None, "does not exist",
                                           "--landing", "nowhere")),
    ("lake: corrupt parquet file", refused(_corrupt, "cannot read parquet file")),
    ("lake: truncated parquet file", refused(_truncated, "cannot read parquet file")),
    ("lake: required column missing", refused(_missing_column, "missing required column")),
    ("lake: non-parquet file inside a table folder",
     refused(_non_parquet_in_table_folder, "README.txt")),
    ("lake: --replace with an empty landing", refused(_empty_replace, "--replace refused",
                                                      "--replace")),
    ("lake: unknown --table", refused(copy_day2, "unknown table", "--table", "ordres")),
    ("lake: single file without --table", refused(
        _single_file_no_table, "name the one table", "--landing", "one.parquet")),
    ("lake: corrupt version pointer", pointer_corrupt),
    ("lake: text in an int column", quarantined(
        "order_lines", _set("quantity", "three"), "quantity: not a valid int64", typed=False)),
    ("lake: null primary key", quarantined("orders", _set("order_id", None), "order_id: null",
                                           typed=False)),
    ("lake: negative quantity", quarantined("order_lines", _set("quantity", -2),
                                            "quantity <= 0")),
    ("lake: negative amount", quarantined("orders", _set("total_amount", -5.0),
                                          "total_amount < 0")),
    ("lake: NaN amount", quarantined("orders", _set("total_amount", np.nan),
                                     "total_amount: null")),
    ("lake: infinite price", quarantined("order_lines", _set("unit_price", "inf"),
                                         "unit_price: not a valid float64", typed=False)),
    ("lake: unknown channel", quarantined("orders", _set("channel", "fax"),
                                          "channel not in allowed values")),
    ("lake: duplicate key in one landing", quarantined("orders", _dup,
                                                       "duplicate primary key")),
    ("lake: unparseable timestamp", quarantined("orders", _set("order_ts", "yesterday-ish"),
                                                "order_ts: not a valid timestamp", typed=False)),
    ("lake: date out of range (9999)", quarantined(
        "orders", _set("order_date", "9999-12-31"), "order_date: not a valid date", typed=False)),
    ("lake: order_ts in the future", quarantined(
        "orders", _set("order_ts", "2099-06-01T00:00:00Z"), "order_ts in the future",
        typed=False)),
    ("lake: order_date in 2099", quarantined("orders", _future, "order_date in the future")),
    ("lake: guest order with a customer id", quarantined("orders", _guest, "guest order")),
    ("lake: order_date not the local day of order_ts", quarantined(
        "orders", _shift_date, "order_date is not the local day")),
    ("lake: line_amount != quantity x unit_price", quarantined(
        "order_lines", _amount, "line_amount != quantity")),
    ("lake: order line without its order", quarantined("order_lines", _orphan,
                                                       "order_id: no such order")),
    ("lake: mixed naive and offset timestamps", mixed_timezones),
    ("lake: booleans as yes/no text", bools_as_text),
    ("lake: extra column", extra_column_reported),
    ("lake: orders.csv beside parquet", skipped("orders.csv", "order_id\nX\n",
                                                "a .csv file is not read")),
    ("lake: unknown file in the landing", skipped("notes.txt", "hi", "not a contract table")),
    ("lake: day-2 landing appends", day2_append),
    ("lake: re-ingest is idempotent", reingest_idempotent),
    ("lake: 0-byte landing file", zero_byte_keeps_table),
    ("lake: 0-row landing file", empty_schema_file_keeps_table),
    ("lake: --replace is explicit", replace_explicit),
    ("lake: late old export does not roll back", status_upsert),
    ("lake: old snapshots garbage-collected", gc_keeps_n),
    ("lake: features read the current version", features_after_ingest),
    *[(f"lake: SIGKILL ingest at {c}", kill_at(c)) for c in CHECKPOINTS],
    ("lake: SIGKILL features at publish:renamed", features_kill("publish:renamed")),
    ("lake: SIGKILL features at publish:switched", features_kill("publish:switched")),
    ("lake: two ingests at once", concurrent_ingests),
    ("lake: lake locked past the timeout", locked_times_out),
    ("lake: lock of a crashed holder", crashed_holder),
    ("lake: stale staging folder of a killed run", stale_staging_cleaned),
]
