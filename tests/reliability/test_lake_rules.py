"""Issue 16 cases 5-7: mixed timestamp offsets, cross-field rules, non-parquet landing files."""

from __future__ import annotations

import pandas as pd
import pytest

from oms.lake import exists, list_files, read_table, write_table
from oms.validate import REASON
from pipelines.ingest import ingest

from .lake_helpers import tiny_landing, write_landing

NOW = pd.Timestamp("2024-03-10", tz="UTC")


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    return tiny_landing(tmp_path_factory.mktemp("rules") / "landing", days=4)


def _raw(df: pd.DataFrame) -> pd.DataFrame:
    """As an export would carry it: every column as text."""
    return df.astype(object).where(df.notna(), None).astype(str).replace("None", None)


def test_case5_mixed_offsets_and_naive_timestamps_parse_value_by_value(frames, tmp_path):
    orders = frames["orders"].head(1000).reset_index(drop=True)
    truth = orders["order_ts"]
    raw = _raw(orders)
    # 1 in 4 naive (= UTC by contract), the others with +05:00 / -03:30 / Z
    local = [truth.dt.tz_convert("Etc/GMT-5"), truth.dt.tz_convert("America/St_Johns")]
    texts = []
    for i, t in enumerate(truth):
        if i % 4 == 0:
            texts.append(t.strftime("%Y-%m-%dT%H:%M:%S.%f"))
        elif i % 4 == 3:
            texts.append(t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        else:
            texts.append(local[i % 4 - 1].iloc[i].isoformat())
    raw["order_ts"] = texts
    write_table(raw.astype("string"), tmp_path / "land" / "orders")  # text, as exported
    rep = ingest(str(tmp_path / "land"), str(tmp_path / "lake"), str(tmp_path / "q"),
                 tables=["orders"])
    assert rep.tables["orders"].rows_valid == len(orders) > 100
    back = read_table(tmp_path / "lake" / "orders", table="orders").set_index("order_id")
    expected = pd.Series(truth.dt.floor("us").to_numpy(), index=orders["order_id"])
    assert (back.loc[expected.index, "order_ts"] == expected).all()


def test_case6_cross_field_rules_quarantine_with_reasons(frames, tmp_path):
    orders = frames["orders"].head(6).copy().reset_index(drop=True)
    orders.loc[0, "order_date"] = pd.Timestamp("2099-06-01")
    orders.loc[1, "is_guest"], orders.loc[1, "customer_id"] = True, "C1"
    orders.loc[2, "order_date"] = orders.loc[2, "order_date"] - pd.Timedelta(days=3)
    ids = set(orders["order_id"].iloc[3:])
    lines = frames["order_lines"][frames["order_lines"]["order_id"].isin(ids)].head(3).copy()
    lines = lines.reset_index(drop=True)
    lines.loc[0, "line_amount"] = lines.loc[0, "line_amount"] + 5
    orphan = lines.iloc[[1]].assign(order_id="NO-SUCH-ORDER")
    lines = pd.concat([lines, orphan], ignore_index=True)
    write_landing(tmp_path / "land", {"orders": orders, "order_lines": lines})
    rep = ingest(str(tmp_path / "land"), str(tmp_path / "lake"), str(tmp_path / "q"))
    q_orders = read_table(rep.tables["orders"].quarantine_uri).set_index("order_id")
    reasons = q_orders[REASON].to_dict()
    ids6 = orders["order_id"]
    assert reasons[ids6[0]].startswith("order_date in the future")
    assert reasons[ids6[1]] == "guest order (is_guest) with a customer_id"
    assert reasons[ids6[2]] == "order_date is not the local day of order_ts"
    q_lines = read_table(rep.tables["order_lines"].quarantine_uri)
    assert sorted(q_lines[REASON]) == ["line_amount != quantity × unit_price",
                                       "order_id: no such order (tenant_id, order_id)"]
    assert not any("month=2099" in f for f in list_files(tmp_path / "lake" / "orders"))
    assert rep.tables["orders"].rows_valid == 3 and rep.tables["order_lines"].rows_valid == 2


def test_case6_lines_of_orders_already_in_the_lake_are_not_orphans(frames, tmp_path):
    orders, lines = frames["orders"], frames["order_lines"]
    write_landing(tmp_path / "d1", {"orders": orders})
    write_landing(tmp_path / "d2", {"order_lines": lines})
    ingest(str(tmp_path / "d1"), str(tmp_path / "lake"), str(tmp_path / "q"))
    rep = ingest(str(tmp_path / "d2"), str(tmp_path / "lake"), str(tmp_path / "q"))
    assert rep.tables["order_lines"].rows_quarantined == 0


def test_case7_csv_in_the_landing_is_reported_as_skipped(frames, tmp_path):
    land = write_landing(tmp_path / "land", {"customers": frames["customers"]})
    frames["orders"].head(5).to_csv(land / "orders.csv", index=False)
    (land / "notes.txt").write_text("hello")
    rep = ingest(str(land), str(tmp_path / "lake"), str(tmp_path / "q"))
    assert list(rep.tables) == ["customers"]
    assert any(s.startswith("orders.csv: a .csv file is not read") for s in rep.skipped)
    assert any(s.startswith("notes.txt: not a contract table") for s in rep.skipped)
    assert not exists(tmp_path / "lake" / "orders")
