"""Ingest: landing → lake + quarantine; bad rows each get a reason, nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from oms.lake import LakeError, list_files, read_table, write_table
from oms.validate import REASON, ROW, SOURCE, ContractError
from pipelines.ingest import ingest

NOW = pd.Timestamp("2025-01-01", tz="UTC")
DUP = "duplicate primary key (tenant_id, order_id)"


def raw_orders(ids: list[str], **overrides) -> pd.DataFrame:
    """Orders as a user's export might carry them: all text, ISO timestamps."""
    n = len(ids)
    df = pd.DataFrame({
        "tenant_id": ["t1"] * n, "order_id": ids, "customer_id": [f"c-{i}" for i in ids],
        "is_guest": ["false"] * n, "order_ts": ["2024-06-01T09:30:00Z"] * n,
        "order_date": ["2024-06-01"] * n, "channel": ["tmall"] * n, "region": ["north"] * n,
        "warehouse_id": ["w1"] * n, "status": ["delivered"] * n, "total_amount": ["99.5"] * n,
        "currency": ["CNY"] * n, "n_lines": ["2"] * n, "promised_hours": ["48"] * n,
        "delivery_hours": ["30"] * n, "is_late": ["false"] * n, "support_contacts": ["0"] * n,
    })
    for col, values in overrides.items():
        df[col] = values
    return df


def put(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def run(tmp_path: Path, **kw):
    return ingest(str(tmp_path / "landing"), str(tmp_path / "lake"),
                  str(tmp_path / "quarantine"), now=NOW, **kw)


@pytest.fixture
def messy_landing(tmp_path):
    """Two files of orders with one of each kind of bad row, plus clean order lines."""
    a = raw_orders(
        ["g1", "", "neg", "abc", "fax", "dupA", "dupA", "fut", "tz1", "tz2", "g2"],
        total_amount=["10", "10", "-3", "abc", "10", "10", "11", "10", "10", "10", "10"],
        channel=["app", "app", "app", "app", "fax", "app", "app", "app", "app", "app", "app"],
        order_ts=["2024-06-01T09:30:00Z"] * 7
        + ["2031-01-01T00:00:00Z", "2024-06-01T17:30:00+08:00", "2024-06-01T04:30:00-05:00",
           "2024-06-01T10:30:00+01:00"],
        note=["extra column"] * 11,
    )
    b = raw_orders(["g1", "g3", "g4"])  # g1 repeats an id from the first file
    put(a, tmp_path / "landing" / "orders" / "month=2024-06" / "part-0.parquet")
    put(b, tmp_path / "landing" / "orders" / "month=2024-07" / "part-0.parquet")
    lines = pd.DataFrame({
        "tenant_id": "t1", "order_id": ["g1", "g1", "g2"], "line_no": [1, 2, 1],
        "sku": ["s1", "s2", "s1"], "quantity": [1, -2, 3], "unit_price": [5.0, 5.0, 5.0],
        "line_amount": [5.0, 10.0, 15.0], "is_product": [True, True, True],
        "order_date": pd.to_datetime(["2024-06-01"] * 3),
    })
    put(lines, tmp_path / "landing" / "order_lines.parquet")
    return tmp_path


def test_each_bad_row_lands_in_quarantine_with_its_reason(messy_landing):
    rep = run(messy_landing, batch_rows=4)  # small batches: duplicates must cross them
    orders = rep.tables["orders"]
    assert (orders.files, orders.rows_in, orders.rows_valid, orders.rows_quarantined) == (
        2, 14, 7, 7)
    q = read_table(orders.quarantine_uri)
    assert sorted(q[REASON]) == sorted([
        "order_id: null", "total_amount < 0", "total_amount: not a valid float64",
        "channel not in allowed values", DUP, DUP, "order_ts in the future"])
    single = q[q[REASON] != DUP]
    assert dict(zip(single[REASON], single["order_id"], strict=True)) == {
        "order_id: null": "", "total_amount < 0": "neg",  # raw text kept as it came
        "total_amount: not a valid float64": "abc", "channel not in allowed values": "fax",
        "order_ts in the future": "fut"}
    dups = q[q[REASON] == DUP]
    # within a file (second dupA, row 6) and across files (g1 again in the second file, row 0)
    assert sorted(zip(dups["order_id"], dups[ROW].astype(int), strict=True)) == [
        ("dupA", 6), ("g1", 0)]
    assert dups[SOURCE].str.contains("month=2024-07").sum() == 1
    assert orders.reasons[DUP] == 2 and orders.ignored_columns == ["note"]


def test_valid_rows_are_exactly_the_good_ones_and_keep_their_instant(messy_landing):
    rep = run(messy_landing, batch_rows=4)
    for t in rep.tables.values():
        assert t.rows_in == t.rows_valid + t.rows_quarantined
    lake = read_table(rep.tables["orders"].lake_uri, table="orders").set_index("order_id")
    assert sorted(lake.index) == ["dupA", "g1", "g2", "g3", "g4", "tz1", "tz2"]
    assert lake.loc["dupA", "total_amount"] == 10.0  # the first occurrence wins
    # +08:00, -05:00 and +01:00 offsets all mean 09:30 UTC
    assert (lake.loc[["g1", "tz1", "tz2", "g2"], "order_ts"]
            == pd.Timestamp("2024-06-01T09:30:00Z")).all()
    assert str(lake["order_ts"].dtype) == "datetime64[ns, UTC]"
    lines = rep.tables["order_lines"]
    assert (lines.rows_valid, lines.reasons) == (2, {"quantity <= 0": 1})


def test_quarantine_keeps_raw_text_and_source(messy_landing):
    rep = run(messy_landing)
    q = read_table(rep.tables["orders"].quarantine_uri)
    row = q[q["order_id"] == "abc"].iloc[0]
    assert row["total_amount"] == "abc" and row[ROW] == 3
    assert row[SOURCE].endswith("month=2024-06/part-0.parquet")
    assert all(str(q[c].dtype) in ("object", "string") for c in q.columns if c != ROW)


def test_missing_column_stops_before_writing_and_names_file_and_column(tmp_path):
    put(raw_orders(["a"]), tmp_path / "landing" / "orders" / "p0.parquet")
    put(raw_orders(["b"]).drop(columns=["region"]), tmp_path / "landing" / "orders" / "p1.parquet")
    with pytest.raises(ContractError, match=r"p1\.parquet.*'region'"):
        run(tmp_path)
    assert not (tmp_path / "lake").exists()


def test_corrupt_file_is_named(tmp_path):
    put(raw_orders(["a"]), tmp_path / "landing" / "orders" / "p0.parquet")
    (tmp_path / "landing" / "orders" / "p1.parquet").write_bytes(b"PAR1 garbage" * 20)
    with pytest.raises(LakeError, match=r"p1\.parquet"):
        run(tmp_path)


def test_nonexistent_paths_are_named(tmp_path):
    with pytest.raises(LakeError, match="does not exist"):
        run(tmp_path)
    (tmp_path / "landing").mkdir()
    with pytest.raises(LakeError, match="no 'orders' table"):
        run(tmp_path, tables=["orders"])
    with pytest.raises(LakeError, match="no contract table"):
        run(tmp_path)


def test_empty_files_are_reported_not_crashed_on(tmp_path):
    put(raw_orders([]), tmp_path / "landing" / "orders" / "p0.parquet")
    (tmp_path / "landing" / "orders" / "p1.parquet").write_bytes(b"")
    rep = run(tmp_path)
    t = rep.tables["orders"]
    assert (t.files, t.empty_files, t.rows_in, t.rows_valid) == (2, 2, 0, 0)
    assert read_table(t.lake_uri, table="orders").empty
    assert read_table(t.quarantine_uri).empty


def corrupt_second_row_group(path: Path) -> None:
    """Overwrite the data pages of row group 2; the footer stays valid."""
    col = pq.ParquetFile(path).metadata.row_group(1).column(0)
    start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
    data = bytearray(path.read_bytes())
    data[start:start + col.total_compressed_size] = b"\xff" * col.total_compressed_size
    path.write_bytes(bytes(data))


def test_failure_mid_ingest_keeps_previous_tables_and_leaves_no_temp(tmp_path):
    write_table(raw_orders(["old"]).assign(order_ts=pd.Timestamp("2024-01-01", tz="UTC"),
                                           order_date=pd.Timestamp("2024-01-01")).pipe(_typed),
                tmp_path / "lake" / "orders", table="orders")
    before = {f: Path(f).read_bytes() for f in list_files(tmp_path / "lake" / "orders")}
    put(raw_orders(["a", "b"]), tmp_path / "landing" / "orders" / "p0.parquet")
    second = tmp_path / "landing" / "orders" / "p1.parquet"
    pq.write_table(pq.read_table(put(raw_orders([f"x{i}" for i in range(40)]), second)),
                   second, row_group_size=20)
    corrupt_second_row_group(second)
    with pytest.raises(LakeError, match=r"p1\.parquet"):
        run(tmp_path, batch_rows=20)  # p0 and the first batch of p1 were already written
    assert {f: Path(f).read_bytes() for f in list_files(tmp_path / "lake" / "orders")} == before
    assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == ["_lock", "orders"]
    assert not (tmp_path / "quarantine").exists() or not any(
        ".tmp-" in p.name for p in (tmp_path / "quarantine").iterdir())


def test_failure_in_a_later_table_publishes_no_table(tmp_path):
    old = raw_orders(["old"]).pipe(_typed)
    write_table(old, tmp_path / "lake" / "orders", table="orders")
    put(raw_orders(["a", "b"]), tmp_path / "landing" / "orders" / "p0.parquet")
    lines = pd.DataFrame({
        "tenant_id": "t1", "order_id": [f"o{i}" for i in range(40)], "line_no": 1, "sku": "s",
        "quantity": 1, "unit_price": 1.0, "line_amount": 1.0, "is_product": True,
        "order_date": pd.Timestamp("2024-06-01"),
    })
    path = tmp_path / "landing" / "order_lines" / "p0.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(lines), path, row_group_size=20)
    corrupt_second_row_group(path)
    with pytest.raises(LakeError, match=r"order_lines/p0\.parquet"):
        run(tmp_path, batch_rows=20)  # orders were fully read and validated first
    assert read_table(tmp_path / "lake" / "orders")["order_id"].tolist() == ["old"]
    assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == ["_lock", "orders"]


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    from oms.validate import validate_frame

    return validate_frame(df, "orders", now=NOW).valid


def test_single_file_landing_with_one_named_table(tmp_path):
    f = put(raw_orders(["a", "b"]), tmp_path / "export.parquet")
    rep = ingest(str(f), str(tmp_path / "lake"), str(tmp_path / "q"), tables=["orders"], now=NOW)
    assert rep.tables["orders"].rows_valid == 2
    with pytest.raises(LakeError, match="single file"):
        ingest(str(f), str(tmp_path / "lake"), str(tmp_path / "q"))


def test_hive_folder_of_one_table_as_landing(messy_landing):
    folder = messy_landing / "landing" / "orders"
    rep = ingest(str(folder), str(messy_landing / "lake2"), str(messy_landing / "q2"),
                 tables=["orders"], now=NOW)
    assert (rep.tables["orders"].files, rep.tables["orders"].rows_in) == (2, 14)


def test_cli_prints_report_and_fails_cleanly(messy_landing):
    from flows.cli import app

    runner = CliRunner()
    args = ["ingest", "--landing", str(messy_landing / "landing"), "--lake",
            str(messy_landing / "lake"), "--quarantine", str(messy_landing / "q"), "--no-progress"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "order_lines" in ok.output and "quantity <= 0" in ok.output
    bad = runner.invoke(app, ["ingest", "--landing", str(messy_landing / "nope"), "--lake",
                              str(messy_landing / "lake")])
    assert bad.exit_code == 1
    assert "does not exist" in bad.output and "Traceback" not in bad.output
    lines = messy_landing / "landing" / "order_lines.parquet"
    pd.read_parquet(lines).drop(columns=["sku"]).to_parquet(lines)
    missing = runner.invoke(app, args)
    assert missing.exit_code == 1 and "order_lines.parquet" in missing.output
    assert "'sku'" in missing.output and "Traceback" not in missing.output
    lines.write_bytes(b"not parquet at all")
    corrupt = runner.invoke(app, args)
    assert corrupt.exit_code == 1 and "order_lines.parquet" in corrupt.output


def test_quarantine_keeps_every_run_and_lake_keeps_history(messy_landing):
    first = run(messy_landing)
    again = run(messy_landing)  # the same export again: idempotent lake, quarantine per run
    assert again.version == first.version + 1
    assert again.tables["orders"].lake_rows == first.tables["orders"].lake_rows
    assert again.tables["orders"].inserted == 0
    q = read_table(messy_landing / "quarantine" / "orders")
    assert len(q) == 2 * first.tables["orders"].rows_quarantined
    assert first.tables["orders"].quarantine_uri != again.tables["orders"].quarantine_uri
