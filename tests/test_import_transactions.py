"""Purchase-log importer: mapping, nothing invented, every row accounted for, and end to end.

The fixture ``tests/fixtures/purchase_log.csv`` (300 rows: customer, date, quantity, amount)
is written by ``tests/fixtures/make_purchase_log.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from oms.lake import read_table, table_uri
from oms.validate import ContractError
from pipelines.importers.transactions import (
    ColumnMapping,
    import_transactions,
    resolve_mapping,
)

LOG = Path(__file__).parent / "fixtures" / "purchase_log.csv"


def land(root: Path, table: str) -> pd.DataFrame:
    return read_table(table_uri(str(root), table))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("tx") / "landing"
    return import_transactions(str(LOG), str(out)), out


def test_every_row_is_accounted_for_with_reasons(imported):
    rep, out = imported
    assert rep.rows_in == 300 == rep.rows_mapped + rep.rows_set_aside
    assert rep.columns == {"customer": "customer", "timestamp": "date", "amount": "amount",
                           "quantity": "quantity"}
    rejects = read_table(rep.rejects_uri)
    assert len(rejects) == rep.rows_set_aside == 6
    by_reason = rejects.set_index("_reason")
    assert set(by_reason.loc["missing or unparseable timestamp", "date"]) == {
        "not a date", "2023-13-45"}
    assert {"zero amount", "missing or unparseable amount", "zero quantity",
            "refund with no earlier purchase to return against"} <= set(rejects["_reason"])
    # raw values are kept as text with their source row number
    assert rejects["_row"].between(0, 299).all() and rejects["customer"].notna().all()


def test_absent_columns_stay_null_and_nothing_is_invented(imported):
    _, out = imported
    orders = land(out, "orders")
    for col in ("channel", "support_contacts", "is_late", "delivery_hours", "warehouse_id"):
        assert orders[col].isna().all(), col
    assert set(orders["currency"]) == {"XXX"} and set(orders["region"]) == {"Unspecified"}
    # no SKU column: no order lines or products are made up
    assert not (out / "order_lines").exists() and not (out / "products").exists()


def test_same_day_rows_form_one_order_and_refunds_return_earlier_orders(imported):
    _, out = imported
    raw = pd.read_csv(LOG)
    orders, events = land(out, "orders"), land(out, "order_events")
    sales = raw[pd.to_numeric(raw["amount"], errors="coerce") > 0].copy()
    sales["day"] = pd.to_datetime(sales["date"], errors="coerce").dt.normalize()
    sales = sales.dropna(subset=["day"])
    sales = sales[pd.to_numeric(sales["quantity"]) != 0]
    assert len(orders) == sales.groupby(["customer", "day"]).ngroups
    assert orders["total_amount"].sum() == pytest.approx(sales["amount"].sum(), abs=0.05)
    ret = events[events["event_type"] == "Returned"]
    assert len(ret) == 8 and (ret["amount"] > 0).all() and (ret["quantity"] > 0).all()
    by_id = orders.set_index("order_id")
    # each refund points at an order of the same customer placed before it
    assert (by_id.loc[ret["order_id"], "order_ts"].to_numpy() <= ret["event_ts"].to_numpy()).all()
    assert set(by_id.loc[ret["order_id"], "status"]) == {"returned"}


def test_order_ids_skus_channels_and_parquet_input(tmp_path):
    log = pd.DataFrame({
        "Client": ["a", "a", "b", "b", None, "a"],
        "When": pd.to_datetime(["2024-03-01 10:00", "2024-03-01 11:00", "2024-03-02 09:00",
                                "2024-03-02 09:30", "2024-03-02 12:00", "2024-03-05 08:00"]),
        "Receipt": ["r1", "r1", "r2", "r3", "r4", "r1"],
        "Item": ["x", "y", "x", "z", "x", "y"],
        "Qty": [1, 2, 1, 3, 1, -2],
        "Total": [10.0, 8.0, 10.0, 9.0, 10.0, -8.0],
        "Shop": ["WEB", "web", "app", "pos", "web", "web"],
    })
    src = tmp_path / "log.parquet"
    log.to_parquet(src)
    m = ColumnMapping(customer="Client", timestamp="When", amount="Total", order_id="Receipt",
                      sku="Item", quantity="Qty", channel="Shop")
    rep = import_transactions(str(src), str(tmp_path / "l"), m, tenant_id="shop")
    assert rep.rows_set_aside == 0 and rep.mapped["refund → Returned event"] == 1
    orders = land(tmp_path / "l", "orders").set_index("order_id")
    assert orders.loc["r1", ["total_amount", "n_lines", "channel", "status"]].tolist() == [
        18.0, 2, "web", "returned"]
    assert orders.loc["r4", "is_guest"] and pd.isna(orders.loc["r4", "customer_id"])
    lines = land(tmp_path / "l", "order_lines")
    assert lines["unit_price"].tolist()[:2] == [10.0, 4.0]
    ev = land(tmp_path / "l", "order_events")
    assert ev.loc[ev["event_type"] == "Returned", ["order_id", "sku"]].values.tolist() == [
        ["r1", "y"]]


def test_mapping_errors_name_the_problem():
    cols = ["cust", "dt", "amt"]
    with pytest.raises(ContractError, match="--customer 'who' is not a column"):
        resolve_mapping(cols, ColumnMapping(customer="who"))
    with pytest.raises(ContractError, match="customer, timestamp, amount.*--customer COLUMN"):
        resolve_mapping(cols, ColumnMapping())
    got = resolve_mapping(["Customer ID", "InvoiceDate", "Revenue", "x"], ColumnMapping())
    assert got == {"customer": "Customer ID", "timestamp": "InvoiceDate", "amount": "Revenue"}


def _invoke(args: list[str]):
    from flows.cli import app

    res = CliRunner().invoke(app, args)
    assert "Traceback" not in res.output
    return res


def test_bad_logs_fail_clearly(tmp_path, settings):
    res = _invoke(["import", "transactions", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert res.exit_code == 1 and "no such file" in res.output
    (tmp_path / "odd.csv").write_text("who,when,what\n1,2024-01-01,3\n")
    res = _invoke(["import", "transactions", str(tmp_path / "odd.csv"), "--out", str(tmp_path)])
    assert res.exit_code == 1 and "--customer COLUMN" in res.output
    # one day of data / one customer: imported, but training refuses with the reason
    (tmp_path / "day.csv").write_text(
        "customer,date,amount\na,2024-01-01,5\nb,2024-01-01,7\na,2024-01-01,1\n")
    res = _invoke(["import", "transactions", str(tmp_path / "day.csv"), "--out",
                   str(tmp_path / "land")])
    assert res.exit_code == 0, res.output
    _invoke(["ingest", "--landing", str(tmp_path / "land"), "--lake", str(tmp_path / "lake"),
             "--quarantine", str(tmp_path / "q"), "--no-progress"])
    res = _invoke(["train", "churn", "--lake", str(tmp_path / "lake")])
    assert res.exit_code == 1 and "every order is on one day (2024-01-01)" in res.output


def test_purchase_log_to_churn_scores_end_to_end_via_the_cli(tmp_path, settings, mlflow_uri):
    landing, lake, out = tmp_path / "landing", tmp_path / "lake", tmp_path / "out"
    res = _invoke(["import", "transactions", str(LOG), "--out", str(landing)])
    assert res.exit_code == 0, res.output
    res = _invoke(["ingest", "--landing", str(landing), "--lake", str(lake), "--quarantine",
                   str(tmp_path / "quarantine"), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = _invoke(["train", "churn", "--lake", str(lake), "--horizon-days", "60",
                   "--n-train", "3", "--step-days", "30"])
    assert res.exit_code == 0, res.output
    assert "roc_auc" in res.output and "champion" in res.output
    res = _invoke(["score", "churn", "--lake", str(lake), "--out", str(out)])
    assert res.exit_code == 0, res.output
    scores = read_table(str(next(p for p in out.rglob("churn_scores") if p.is_dir())))
    n_customers = land(landing, "customers").shape[0]
    assert len(scores) == n_customers and f"scored {n_customers} of {n_customers}" in res.output
    assert scores["churn_probability"].between(0, 1).all()
    assert scores["clv_365d"].notna().all() and (scores["clv_365d"] >= 0).all()


def test_churn_model_on_a_purchase_log_uses_no_fake_columns(tmp_path):
    from pipelines.ingest import ingest
    from pipelines.train_churn import fit_and_test, load_tables

    import_transactions(str(LOG), str(tmp_path / "landing"))
    ingest(str(tmp_path / "landing"), str(tmp_path / "lake"), str(tmp_path / "q"))
    res = fit_and_test(load_tables(str(tmp_path / "lake")), 60, n_train=3)
    dropped = res.model.dropped_features_
    for col in ("support_contacts", "late_rate", "channel_share_web", "n_skus"):
        assert col in dropped and col not in res.model.feature_names_
    assert dropped["support_contacts"] == "all null"
    assert {"recency_days", "frequency", "monetary", "gap_mean"} <= set(
        res.model.feature_names_)
    assert res.train_frame is not None and set(res.train_frame["cutoff"]) == set(
        res.train_cutoffs)
