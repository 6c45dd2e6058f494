"""Online Retail importer: the committed real sample, edge rows, and the full shared file."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from oms.lake import LakeError, read_table, table_uri
from oms.validate import REASON, ContractError
from pipelines.importers.online_retail import NEGATIVE_PRICE, import_online_retail
from pipelines.ingest import ingest

SAMPLE = Path(__file__).parent / "fixtures" / "online_retail_sample.parquet"
TABLES = ("orders", "order_lines", "order_events", "customers", "products", "daily_context")


def expected(df: pd.DataFrame) -> dict[str, int]:
    """The mapping rules, re-derived independently with plain pandas."""
    cancel = df["InvoiceNo"].str.startswith("C")
    sale = ~cancel & (df["Quantity"] > 0) & (df["UnitPrice"] > 0)
    c = df[cancel & df["CustomerID"].notna()].reset_index()
    s = df[sale]
    pairs = c.merge(s, on=["CustomerID", "StockCode"], suffixes=("", "_o"))
    pairs = pairs[pairs["InvoiceDate_o"] <= pairs["InvoiceDate"]]
    product = ~pairs["StockCode"].str.upper().isin(["POST", "M", "D", "S", "DOT", "C2", "CRUK",
                                                      "AMAZONFEE", "BANK CHARGES", "PADS", "B"])
    return {
        "orders": s["InvoiceNo"].nunique(),
        "guest_orders": s.loc[s["CustomerID"].isna(), "InvoiceNo"].nunique(),
        "lines": int(sale.sum()),
        "cancellations": int(cancel.sum()),
        "returned": pairs.loc[product, "index"].nunique(),
        "zero_price": int((df["UnitPrice"] == 0).sum()),
        "negative_price": int((df["UnitPrice"] < 0).sum()),
    }


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("retail") / "landing"
    report = import_online_retail(str(SAMPLE), str(out))
    return report, out


def land(out: Path, name: str) -> pd.DataFrame:
    return read_table(table_uri(out, name), table=name)


def test_every_source_row_is_accounted_for(imported):
    rep, _ = imported
    exp = expected(pd.read_parquet(SAMPLE))
    assert rep.rows_in == 3178 == rep.rows_mapped + rep.rows_set_aside
    assert rep.mapped["sale line (product)"] + rep.mapped["sale line (non-product code)"] == (
        exp["lines"])
    assert rep.mapped["cancellation → Returned"] == exp["returned"]
    assert rep.mapped["cancellation → Returned"] + rep.mapped["cancellation → Cancelled"] == (
        exp["cancellations"])
    assert sum(rep.set_aside.values()) == exp["zero_price"]
    assert set(rep.set_aside) == {"stock adjustment (negative quantity, zero price)",
                                  "zero unit price (free item or stock adjustment)"}
    assert rep.to_quarantine == {NEGATIVE_PRICE: exp["negative_price"]}
    rejects = pd.read_parquet(rep.rejects_uri)
    assert len(rejects) == exp["zero_price"] and rejects[REASON].notna().all()
    assert (rejects["UnitPrice"].astype(float) == 0).all()


def test_orders_lines_and_guests(imported):
    rep, out = imported
    exp = expected(pd.read_parquet(SAMPLE))
    orders, lines = land(out, "orders"), land(out, "order_lines")
    assert len(orders) == exp["orders"] == rep.tables["orders"]
    guests = orders[orders["is_guest"]]
    assert len(guests) == exp["guest_orders"] > 0 and guests["customer_id"].isna().all()
    assert orders.loc[~orders["is_guest"], "customer_id"].str.fullmatch(r"\d+").all()
    assert set(orders["channel"]) == {"web"} and set(orders["currency"]) == {"GBP"}
    assert orders["warehouse_id"].isna().all() and orders["delivery_hours"].isna().all()
    ok = lines[lines["unit_price"] >= 0]
    assert (ok["quantity"] > 0).all() and len(ok) == exp["lines"]
    n_lines = ok.groupby("order_id").size()
    assert (orders.set_index("order_id")["n_lines"] == n_lines.reindex(orders["order_id"])).all()
    product_value = ok[ok["is_product"]].groupby("order_id")["line_amount"].sum()
    totals = orders.set_index("order_id")["total_amount"]
    assert (totals - product_value.reindex(totals.index, fill_value=0)).abs().max() < 0.01


def test_non_product_codes_are_lines_flagged_out_of_demand(imported):
    rep, out = imported
    lines, products = land(out, "order_lines"), land(out, "products")
    flagged = set(lines.loc[~lines["is_product"], "sku"])
    assert {"POST", "DOT", "C2", "BANK CHARGES", "PADS", "M", "m", "AMAZONFEE", "S",
            "gift_0001_10", "gift_0001_20"} <= flagged
    assert not any(s[:5].isdigit() for s in flagged)
    assert sum(rep.non_product_lines.values()) == (~lines["is_product"]).sum() - 2  # 2× B < 0
    assert set(products.loc[~products["is_product"], "category"]) == {"non_product"}
    assert products["sku"].is_unique and (products["unit_price"] >= 0).all()


def test_uk_local_time_becomes_utc(imported):
    _, out = imported
    orders = land(out, "orders").set_index("order_id")
    summer, winter = orders.loc["558747"], orders.loc["540116"]
    assert summer["order_ts"] == pd.Timestamp("2011-07-03 09:11", tz="UTC")  # BST = UTC+1
    assert summer["order_date"] == pd.Timestamp("2011-07-03")
    assert winter["order_ts"] == pd.Timestamp("2011-01-05 09:54", tz="UTC")  # GMT = UTC


def test_cancellations_become_events_not_negative_lines(imported):
    _, out = imported
    events = land(out, "order_events")
    orders = land(out, "orders").set_index("order_id")
    assert set(events["event_type"]) == {"OrderCreated", "Returned", "Cancelled"}
    assert "Delivered" not in set(events["event_type"])  # unknown in the export: not invented
    created = events[events["event_type"] == "OrderCreated"]
    assert len(created) == len(orders) and created["order_id"].isin(orders.index).all()
    returned = events[events["event_type"] == "Returned"]
    assert returned["order_id"].isin(orders.index).all()  # points at the original order
    assert (orders.loc[returned["order_id"].unique(), "status"] == "returned").all()
    ret = returned.set_index("event_id").loc["C542260-1"]  # customer 13890, SKU 85150
    assert (ret["order_id"], ret["sku"], ret["quantity"], ret["amount"]) == (
        "539084", "85150", 2, 5.1)
    assert orders.loc[ret["order_id"], "order_ts"] <= ret["event_ts"]
    cancelled = events[events["event_type"] == "Cancelled"]
    assert cancelled["order_id"].str.startswith("C").all()
    assert (events.loc[events["event_type"] != "OrderCreated", "quantity"] > 0).all()
    assert events["event_id"].is_unique


def test_customers_and_daily_context(imported):
    _, out = imported
    customers, orders = land(out, "customers"), land(out, "orders")
    known = orders.dropna(subset=["customer_id"])
    assert set(known["customer_id"]) <= set(customers["customer_id"])
    first = known.groupby("customer_id")["order_date"].min()
    signup = customers.set_index("customer_id")["signup_date"]
    assert (signup.reindex(first.index) <= first).all()
    assert set(customers["tier"]) <= {"bronze", "silver", "gold", "platinum"}
    ctx = land(out, "daily_context")
    assert set(ctx["region"]) == set(orders["region"])
    assert len(ctx) == ctx["date"].nunique() * ctx["region"].nunique()
    holiday = ctx.drop_duplicates("date").set_index("date")["holiday_name"]
    assert holiday[pd.Timestamp("2011-04-29")] and "Wedding" in holiday[pd.Timestamp("2011-04-29")]
    assert holiday[pd.Timestamp("2010-12-27")]  # Christmas Day substitute
    assert ctx["weather"].isna().all() and (ctx["promotion_intensity"] == 0).all()


def test_import_then_ingest_quarantines_only_the_negative_prices(imported, tmp_path):
    rep, out = imported
    ing = ingest(str(out), str(tmp_path / "lake"), str(tmp_path / "q"))
    assert set(ing.tables) == set(TABLES)
    for name, t in ing.tables.items():
        assert t.rows_in == rep.tables[name] == t.rows_valid + t.rows_quarantined
    assert ing.rows_quarantined == 2
    assert ing.tables["order_lines"].reasons == {"unit_price < 0": 2, "line_amount < 0": 2}


def write_rows(path: Path, rows: pd.DataFrame) -> str:
    rows.to_parquet(path, index=False)
    return str(path)


def test_unmappable_rows_are_set_aside_with_reasons(tmp_path):
    base = pd.read_parquet(SAMPLE).iloc[:6].copy()
    base.loc[0, "InvoiceNo"] = None
    base.loc[1, "Quantity"] = 0
    base.loc[2, "InvoiceDate"] = pd.Timestamp("2011-03-27 01:30")  # skipped by the clocks
    base.loc[3, "InvoiceNo"] = "C999999"  # cancellation with a positive quantity
    rep = import_online_retail(write_rows(tmp_path / "x.parquet", base), str(tmp_path / "out"))
    assert rep.set_aside == {
        "missing InvoiceNo": 1, "zero quantity": 1,
        "InvoiceDate does not exist or is ambiguous in Europe/London": 1,
        "cancellation with a positive quantity": 1,
    }
    assert rep.rows_mapped == 2 and rep.rows_in == 6


def test_bad_exports_fail_with_clear_errors(tmp_path):
    with pytest.raises(LakeError, match="does not exist"):
        import_online_retail(str(tmp_path / "missing.parquet"), str(tmp_path / "out"))
    cut = pd.read_parquet(SAMPLE).drop(columns=["CustomerID"]).iloc[:5]
    with pytest.raises(ContractError, match="CustomerID"):
        import_online_retail(write_rows(tmp_path / "cut.parquet", cut), str(tmp_path / "out"))
    runner = CliRunner()
    from flows.cli import app

    bad = runner.invoke(app, ["import", "online-retail", str(tmp_path / "nope.parquet"),
                              "--out", str(tmp_path / "out")])
    assert bad.exit_code == 1 and "does not exist" in bad.output
    assert "Traceback" not in bad.output


def test_cli_imports_the_sample(tmp_path):
    from flows.cli import app

    res = CliRunner().invoke(app, ["import", "online-retail", str(SAMPLE), "--out",
                                   str(tmp_path / "landing"), "--tenant", "uk_shop"])
    assert res.exit_code == 0, res.output
    assert "3,178" in res.output and "oms-ml ingest" in res.output
    assert set(land(tmp_path / "landing", "orders")["tenant_id"]) == {"uk_shop"}


def test_full_export_imports_fast_and_ingests_cleanly(retail_path, tmp_path):
    started = time.perf_counter()
    rep = import_online_retail(str(retail_path), str(tmp_path / "landing"))
    seconds = time.perf_counter() - started
    assert seconds < 60, f"full import took {seconds:.1f}s"
    exp = expected(pd.read_parquet(retail_path))
    assert rep.rows_in == 541_909 == rep.rows_mapped + rep.rows_set_aside
    assert rep.tables["orders"] == exp["orders"]
    assert rep.mapped["cancellation → Returned"] == exp["returned"]
    assert sum(rep.set_aside.values()) == exp["zero_price"]
    ing = ingest(str(tmp_path / "landing"), str(tmp_path / "lake"), str(tmp_path / "q"))
    assert ing.rows_quarantined == 2 and ing.rows_valid == ing.rows_in - 2
    customers = land(tmp_path / "lake", "customers").set_index("customer_id")
    assert customers.loc["12346", "tier"] == "bronze"  # bought 74,215 units, returned them all
