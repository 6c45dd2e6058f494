"""Lake I/O: partitioned round trips, atomic publish, clear errors naming the path."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from oms.contract import empty_frame
from oms.lake import (
    DatasetWriter,
    LakeError,
    inspect_file,
    iter_batches,
    list_files,
    read_table,
    table_uri,
    write_frame,
    write_table,
)


def lines(n: int = 6, start: str = "2024-01-30") -> pd.DataFrame:
    return pd.DataFrame({
        "tenant_id": "t1", "order_id": [f"o{i}" for i in range(n)], "line_no": 1,
        "sku": "s", "quantity": range(1, n + 1), "unit_price": 2.0,
        "line_amount": [2.0 * q for q in range(1, n + 1)], "is_product": True,
        "order_date": pd.date_range(start, periods=n, freq="D"),
    })


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_round_trip_is_hive_partitioned_by_month_with_contract_dtypes(tmp_path):
    uri = table_uri(tmp_path / "lake", "order_lines")
    assert write_table(lines(), uri, table="order_lines") == 6
    months = sorted(p.name for p in (tmp_path / "lake" / "order_lines").iterdir())
    assert months == ["month=2024-01", "month=2024-02"]
    back = read_table(uri, table="order_lines").sort_values("order_id").reset_index(drop=True)
    assert list(back.columns) == list(lines().columns)
    assert str(back["quantity"].dtype) == "Int64" and str(back["sku"].dtype) == "string"
    assert back["quantity"].tolist() == list(range(1, 7))


def test_timestamps_read_back_as_utc_nanoseconds(tmp_path):
    row = {"tenant_id": "t", "event_id": "e1", "order_id": "o1", "event_type": "Shipped",
           "event_ts": pd.Timestamp("2024-05-01 12:00:00.123456789", tz="UTC"),
           "event_date": pd.Timestamp("2024-05-01"), "warehouse_id": None, "sku": None,
           "quantity": None, "amount": None}
    write_table(pd.DataFrame([row]), tmp_path / "ev", table="order_events")
    back = read_table(tmp_path / "ev", table="order_events")
    assert str(back["event_ts"].dtype) == "datetime64[ns, UTC]"
    assert back["event_ts"].iloc[0] == pd.Timestamp("2024-05-01 12:00:00.123456", tz="UTC")


def test_exception_mid_write_keeps_previous_dataset_and_leaves_no_temp(tmp_path):
    uri = tmp_path / "order_lines"
    write_table(lines(3), uri, table="order_lines")
    before = sorted(list_files(uri))
    with pytest.raises(RuntimeError, match="boom"), DatasetWriter(uri, table="order_lines") as w:
        w.write(lines(6, start="2023-01-01"))
        raise RuntimeError("boom")
    assert sorted(list_files(uri)) == before
    assert len(read_table(uri)) == 3
    assert leftovers(tmp_path) == []


def test_exception_on_first_write_leaves_nothing(tmp_path):
    uri = tmp_path / "new_table"
    with pytest.raises(KeyboardInterrupt), DatasetWriter(uri, table="order_lines") as w:
        w.write(lines(2))
        raise KeyboardInterrupt
    assert not uri.exists() and leftovers(tmp_path) == []


def test_empty_dataset_keeps_its_schema(tmp_path):
    write_table(empty_frame("orders"), tmp_path / "orders", table="orders")
    back = read_table(tmp_path / "orders", table="orders")
    assert back.empty and list(back.columns) == list(empty_frame("orders").columns)


def test_null_partition_date_is_refused_not_dropped(tmp_path):
    df = lines(2)
    df.loc[1, "order_date"] = pd.NaT
    with pytest.raises(LakeError, match="no partition date"):
        write_table(df, tmp_path / "ol", table="order_lines")
    assert not (tmp_path / "ol").exists()


def test_write_frame_is_atomic(tmp_path):
    target = tmp_path / "out" / "report.parquet"
    write_frame(pd.DataFrame({"a": [1, 2]}), target)
    with pytest.raises(Exception):  # noqa: B017 - arrow's own error type for mixed objects
        write_frame(pd.DataFrame({"a": [1, object()]}), target)
    assert pd.read_parquet(target)["a"].tolist() == [1, 2]
    assert [p.name for p in target.parent.iterdir()] == ["report.parquet"]


def test_missing_path_and_corrupt_file_are_named(tmp_path):
    with pytest.raises(LakeError, match="does not exist"):
        read_table(tmp_path / "nope")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"definitely not parquet" * 10)
    with pytest.raises(LakeError, match="bad.parquet"):
        inspect_file(str(bad))
    with pytest.raises(LakeError, match="bad.parquet"):
        list(iter_batches(bad))


def test_zero_byte_file_is_empty_not_corrupt(tmp_path):
    (tmp_path / "empty.parquet").write_bytes(b"")
    info = inspect_file(str(tmp_path / "empty.parquet"))
    assert info.rows == 0 and info.columns is None
    assert list(iter_batches(tmp_path / "empty.parquet")) == []


def test_listing_skips_hidden_and_temporary_folders(tmp_path):
    uri = tmp_path / "t"
    write_table(lines(2), uri, table="order_lines")
    (uri / ".t.tmp-dead").mkdir()
    pq.write_table(pq.read_table(list_files(uri)[0]), uri / ".t.tmp-dead" / "x.parquet")
    (uri / "_SUCCESS").write_text("")
    assert all("/." not in f and "_SUCCESS" not in f for f in list_files(uri))
    assert len(read_table(uri)) == 2


def test_iter_batches_bounds_batch_size(tmp_path):
    write_table(lines(6), tmp_path / "t", table="order_lines")
    sizes = [len(df) for _, df in iter_batches(tmp_path / "t", batch_rows=1)]
    assert sizes == [1] * 6


# --- versioned roots (oms.versions) ------------------------------------------------------------


def test_transaction_publishes_all_tables_as_one_version_and_readers_resolve_it(tmp_path):
    from oms.versions import Transaction, read_pointer

    root = tmp_path / "lake"
    with Transaction(root, run="t") as txn:
        write_table(lines(2), txn.path("order_lines"), table="order_lines")
        write_table(lines(1), txn.path("other"), table="order_lines")
    assert read_pointer(root)["tables"] == ["order_lines", "other"]
    assert len(read_table(root / "order_lines")) == 2  # path join resolves the pointer
    assert "/_snapshots/v000001-" in table_uri(root, "order_lines")
    with Transaction(root) as txn:  # a run writing one table carries the other by hard link
        write_table(lines(3), txn.path("order_lines"), table="order_lines")
    assert len(read_table(root / "order_lines")) == 3 and len(read_table(root / "other")) == 1


def test_failed_transaction_leaves_the_version_and_no_staging(tmp_path):
    from oms.versions import Transaction, read_pointer

    root = tmp_path / "lake"
    with Transaction(root) as txn:
        write_table(lines(2), txn.path("t"), table="order_lines")
    with pytest.raises(RuntimeError, match="boom"), Transaction(root) as txn:
        write_table(lines(5), txn.path("t"), table="order_lines")
        raise RuntimeError("boom")
    assert read_pointer(root)["version"] == 1 and len(read_table(root / "t")) == 2
    assert sorted(p.name for p in root.iterdir()) == ["_current", "_lock", "_snapshots"]


def test_old_snapshots_are_collected_and_leftovers_of_killed_runs_removed(tmp_path):
    from oms.versions import STAGING, Transaction, versions

    root = tmp_path / "lake"
    for n in range(4):
        with Transaction(root, keep=2) as txn:
            write_table(lines(n + 1), txn.path("t"), table="order_lines")
    assert len(versions(root)) == 2 and len(read_table(root / "t")) == 4
    dead = root / STAGING / "dead-run"
    dead.mkdir(parents=True)
    (root / "_snapshots" / "v999999-never-pointed-to").mkdir()
    with Transaction(root, keep=2):
        pass
    assert not dead.exists() and not (root / "_snapshots" / "v999999-never-pointed-to").exists()


def test_writing_into_a_versioned_root_directly_is_refused(tmp_path):
    from oms.versions import Transaction

    with Transaction(tmp_path / "lake") as txn:
        write_table(lines(1), txn.path("t"), table="order_lines")
    with pytest.raises(LakeError, match="versioned root"):
        write_table(lines(1), tmp_path / "lake" / "t", table="order_lines")
