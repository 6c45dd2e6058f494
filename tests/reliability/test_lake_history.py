"""Issue 16 case 1: ingest keeps history — day-2 landings add, keys upsert, empty never empties."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from oms.lake import LakeError, read_table
from oms.versions import read_pointer
from pipelines.ingest import ingest

from .lake_helpers import ROOT, digest, lake_rows, split_last_day, tiny_landing, write_landing


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    frames = tiny_landing(root / "all", days=6)
    before, last = split_last_day(frames)
    return frames, write_landing(root / "day1", before), write_landing(root / "day2", last)


def test_day_two_landing_adds_to_the_lake(days, tmp_path):
    frames, day1, day2 = days
    lake, q = tmp_path / "lake", tmp_path / "q"
    ingest(str(day1), str(lake), str(q))
    rep = ingest(str(day2), str(lake), str(q))
    assert rep.version == 2
    assert lake_rows(lake) == {t: len(df) for t, df in frames.items()}
    orders = rep.tables["orders"]
    assert orders.inserted == orders.rows_valid > 0 and orders.updated == 0
    # the last day's month got one more file (no key repeated: nothing rewritten); the
    # other months were linked
    assert (orders.partitions_appended, orders.partitions_rewritten) == (1, 0)


def test_reingest_is_idempotent(days, tmp_path):
    _, day1, _ = days
    lake, q = tmp_path / "lake", tmp_path / "q"
    ingest(str(day1), str(lake), str(q))
    first = digest(lake)
    rep = ingest(str(day1), str(lake), str(q))
    assert digest(lake) == first
    assert rep.tables["orders"].inserted == 0
    assert rep.tables["orders"].updated == rep.tables["orders"].rows_valid


def test_upsert_latest_status_wins_and_old_export_never_rolls_back(tmp_path, days):
    frames, day1, _ = days
    lake, q = tmp_path / "lake", tmp_path / "q"
    ingest(str(day1), str(lake), str(q))
    orders = read_table(lake / "orders", table="orders")
    one = orders[~orders["status"].isin(["cancelled", "returned"])].head(1)
    oid = one["order_id"].iloc[0]
    write_landing(tmp_path / "newer", {"orders": one.assign(status="returned")})
    rep = ingest(str(tmp_path / "newer"), str(lake), str(q), tables=["orders"])
    assert rep.tables["orders"].updated == 1
    write_landing(tmp_path / "older", {"orders": one})  # the stale export arrives late
    rep = ingest(str(tmp_path / "older"), str(lake), str(q), tables=["orders"])
    assert rep.tables["orders"].stale == 1
    back = read_table(lake / "orders", table="orders").set_index("order_id")
    assert back.loc[oid, "status"] == "returned"
    assert len(back) == len(orders)


def test_zero_byte_file_never_empties_a_table(days, tmp_path):
    _, day1, _ = days
    lake, q = tmp_path / "lake", tmp_path / "q"
    ingest(str(day1), str(lake), str(q))
    before = lake_rows(lake)
    land = tmp_path / "empty" / "orders"
    land.mkdir(parents=True)
    (land / "part-0.parquet").write_bytes(b"")
    cli = [sys.executable, "-c", "from flows.cli import app; app()", "ingest", "--no-progress",
           "--landing", str(tmp_path / "empty"), "--lake", str(lake), "--quarantine", str(q)]
    done = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "1 (1 empty)" in done.stdout
    assert "orders: the landing has no rows; the lake's table is unchanged" in done.stdout
    assert lake_rows(lake) == before


def test_replace_is_explicit_and_refused_on_empty_input(days, tmp_path):
    _, day1, day2 = days
    lake, q = tmp_path / "lake", tmp_path / "q"
    ingest(str(day1), str(lake), str(q))
    (tmp_path / "empty" / "orders").mkdir(parents=True)
    (tmp_path / "empty" / "orders" / "p.parquet").write_bytes(b"")
    with pytest.raises(LakeError, match="--replace refused"):
        ingest(str(tmp_path / "empty"), str(lake), str(q), replace=True)
    assert read_pointer(lake)["version"] == 1
    rep = ingest(str(day2), str(lake), str(q), tables=["orders"], replace=True)
    n = len(read_table(day2 / "orders"))
    assert lake_rows(lake)["orders"] == rep.tables["orders"].lake_rows == n
    assert lake_rows(lake)["order_lines"] > 0  # tables not in the run keep their history


def test_plain_lake_from_before_versioning_is_upgraded(days, tmp_path):
    frames, day1, day2 = days
    from oms.lake import write_table

    lake, q = tmp_path / "lake", tmp_path / "q"
    for name, df in frames.items():  # a lake written the old way: plain table folders
        write_table(df[df.index < len(df) // 2], lake / name, table=name)
    old = {t: len(df) // 2 for t, df in frames.items()}
    ingest(str(day2), str(lake), str(q), tables=["orders"])
    rows = lake_rows(lake)
    assert rows["customers"] == old["customers"]
    assert rows["orders"] >= old["orders"]
    assert not (lake / "orders").exists() or read_pointer(lake) is not None
    assert pd.Index(sorted(p.name for p in lake.iterdir())).str.startswith("_").all()
