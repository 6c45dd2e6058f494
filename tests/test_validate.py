"""validate_frame: every kind of bad row is quarantined with its own reason, none is lost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oms.validate import (
    REASON,
    ROW,
    SOURCE,
    ContractError,
    KeyIndex,
    conform,
    validate_frame,
)

NOW = pd.Timestamp("2025-01-01", tz="UTC")


def orders(n: int = 4, **overrides) -> pd.DataFrame:
    """Raw, valid orders as an export would have them (text ids, ISO timestamps)."""
    df = pd.DataFrame({
        "tenant_id": ["t1"] * n,
        "order_id": [f"o{i}" for i in range(n)],
        "customer_id": [f"c{i}" for i in range(n)],
        "is_guest": [False] * n,
        "order_ts": ["2024-03-01T10:00:00Z"] * n,
        "order_date": ["2024-03-01"] * n,
        "channel": ["app"] * n,
        "region": ["east"] * n,
        "warehouse_id": [None] * n,
        "status": ["created"] * n,
        "total_amount": [10.0] * n,
        "currency": ["CNY"] * n,
        "n_lines": [1] * n,
        "promised_hours": [48.0] * n,
        "delivery_hours": [None] * n,
        "is_late": [None] * n,
        "support_contacts": [0] * n,
    })
    for col, values in overrides.items():
        df[col] = values
    return df


def reasons_by_id(res) -> dict[str, str]:
    return dict(zip(res.quarantine["order_id"].fillna("<null>"), res.quarantine[REASON],
                    strict=True))


def test_clean_rows_conform_to_contract_dtypes():
    res = validate_frame(orders(), "orders", now=NOW)
    assert len(res.valid) == 4 and res.quarantine.empty
    assert str(res.valid["order_ts"].dtype) == "datetime64[ns, UTC]"
    assert str(res.valid["order_date"].dtype) == "datetime64[ns]"
    assert str(res.valid["n_lines"].dtype) == "Int64"
    assert str(res.valid["is_guest"].dtype) == "boolean"


@pytest.mark.parametrize(
    ("column", "bad", "reason"),
    [
        ("order_id", None, "order_id: null"),
        ("order_id", "  ", "order_id: null"),
        ("tenant_id", None, "tenant_id: null"),
        ("total_amount", -5.0, "total_amount < 0"),
        ("total_amount", "abc", "total_amount: not a valid float64"),
        ("n_lines", "abc", "n_lines: not a valid int64"),
        ("n_lines", 1.5, "n_lines: not a valid int64"),
        ("channel", "fax", "channel not in allowed values"),
        ("status", "lost", "status not in allowed values"),
        ("is_guest", "maybe", "is_guest: not a valid bool"),
        ("order_ts", "not a time", "order_ts: not a valid timestamp"),
        ("order_ts", "2030-01-01T00:00:00Z", "order_ts in the future"),
    ],
)
def test_each_bad_value_has_its_own_reason(column, bad, reason):
    df = orders()
    df[column] = df[column].astype(object)
    df.loc[2, column] = bad
    res = validate_frame(df, "orders", source="export.parquet", now=NOW)
    assert len(res.quarantine) == 1
    row = res.quarantine.iloc[0]
    assert row[REASON] == reason
    assert row[SOURCE] == "export.parquet" and row[ROW] == 2
    assert sorted(res.valid["order_id"]) == ["o0", "o1", "o3"]
    assert res.reason_counts == {reason: 1}


def test_negative_quantity_in_order_lines_is_quarantined():
    lines = pd.DataFrame({
        "tenant_id": "t1", "order_id": ["a", "a", "b"], "line_no": [1, 2, 1],
        "sku": ["s1", "s2", "s3"], "quantity": [2, -1, 0], "unit_price": [1.0, 1.0, 1.0],
        "line_amount": [2.0, 1.0, 0.0], "is_product": [True, True, True],
        "order_date": pd.to_datetime(["2024-01-01"] * 3),
    })
    res = validate_frame(lines, "order_lines", now=NOW)
    assert list(res.quarantine[REASON]) == ["quantity <= 0", "quantity <= 0"]
    assert list(res.quarantine["quantity"]) == ["-1", "0"]  # raw values kept as text
    assert len(res.valid) == 1


def test_several_problems_on_one_row_are_all_listed():
    df = orders(2, channel=["fax", "app"], total_amount=[-1.0, 3.0])
    res = validate_frame(df, "orders", now=NOW)
    assert res.quarantine[REASON].iloc[0] == "channel not in allowed values; total_amount < 0"
    assert res.reason_counts == {"total_amount < 0": 1, "channel not in allowed values": 1}


def test_duplicate_ids_within_a_frame_keep_the_first_valid_one():
    df = orders(4, order_id=["a", "a", "b", "b"], total_amount=[1.0, 2.0, -1.0, 4.0])
    res = validate_frame(df, "orders", now=NOW)
    # "b" first appears on an invalid row, so the later valid "b" is the one kept
    assert sorted(zip(res.valid["order_id"], res.valid["total_amount"], strict=True)) == [
        ("a", 1.0), ("b", 4.0)]
    assert reasons_by_id(res) == {"a": "duplicate primary key (tenant_id, order_id)",
                                  "b": "total_amount < 0"}


def test_duplicates_across_batches_via_key_index():
    seen = KeyIndex()
    first = validate_frame(orders(3), "orders", now=NOW, seen=seen)
    second = validate_frame(orders(4, order_id=["o2", "x", "o0", "y"]), "orders", now=NOW,
                            seen=seen, row_offset=3)
    assert len(first.valid) == 3
    assert sorted(second.valid["order_id"]) == ["x", "y"]
    assert list(second.quarantine[ROW]) == [3, 5]
    assert len(seen) == 5
    # same id under another tenant is a different key
    other = validate_frame(orders(1, tenant_id=["t2"]), "orders", now=NOW, seen=seen)
    assert len(other.valid) == 1


def test_key_index_membership_over_many_adds():
    idx = KeyIndex()
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**63, size=5000, dtype=np.uint64)
    for chunk in np.array_split(keys, 17):
        idx.add(chunk)
    assert idx.contains(keys).all()
    assert not idx.contains(rng.integers(0, 2**63, size=1000, dtype=np.uint64)).any()
    assert len(idx) == len(np.unique(keys)) and len(idx._runs) <= 5


def test_mixed_time_zones_are_normalised_to_the_same_instant():
    stamps = ["2024-03-01T18:00:00+08:00", "2024-03-01T10:00:00Z",
              "2024-03-01T05:00:00-05:00", "2024-03-01T10:00:00+00:00"]
    res = validate_frame(orders(4, order_ts=stamps), "orders", now=NOW)
    assert res.quarantine.empty
    assert (res.valid["order_ts"] == pd.Timestamp("2024-03-01T10:00:00Z")).all()


def test_tz_aware_and_naive_datetime_columns():
    aware = pd.Series(pd.date_range("2024-03-01 18:00", periods=2, freq="h", tz="Asia/Shanghai"))
    res = validate_frame(orders(2, order_ts=aware), "orders", now=NOW)
    assert list(res.valid["order_ts"].dt.hour) == [10, 11]
    naive = pd.Series(pd.date_range("2024-03-01 10:00", periods=2, freq="h"))
    res = validate_frame(orders(2, order_ts=naive), "orders", now=NOW)  # naive = UTC
    assert list(res.valid["order_ts"].dt.hour) == [10, 11]


def test_out_of_range_dates_do_not_crash():
    df = orders(2)
    df["order_date"] = ["9999-12-31", "2024-03-01"]
    res = validate_frame(df, "orders", now=NOW)
    assert res.quarantine[REASON].tolist() == ["order_date: not a valid date"]


def test_missing_column_names_source_and_column():
    with pytest.raises(ContractError, match=r"export\.parquet.*'channel'"):
        validate_frame(orders().drop(columns=["channel"]), "orders", source="export.parquet")


def test_extra_columns_are_reported_not_written():
    res = validate_frame(orders(2, note=["x", "y"]), "orders", now=NOW)
    assert res.ignored_columns == ["note"] and "note" not in res.valid.columns


def test_conform_raises_on_bad_rows_and_passes_clean_ones():
    assert len(conform(orders(), "orders")) == 4
    with pytest.raises(ContractError, match="total_amount < 0"):
        conform(orders(2, total_amount=[1.0, -2.0]), "orders")


def test_empty_frame_validates():
    res = validate_frame(orders(0), "orders", now=NOW)
    assert res.valid.empty and res.quarantine.empty and res.rows_in == 0
