"""Incremental ingest without Prefect: only new landing files, whole-file quarantine, tenants."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from oms.lake import read_table, table_uri, write_table
from pipelines.landing_state import (
    discover_tenants,
    ingest_new_partitions,
    read_state,
    state_path,
    tenant_landing,
)


@pytest.fixture(scope="module")
def small_landing(tmp_path_factory) -> Path:
    """Twelve days of ``tiny`` data for tenant ``acme`` (generated once for the module)."""
    from pipelines.generate import generate

    root = tmp_path_factory.mktemp("landing-template") / "acme"
    generate("tiny", 5, str(root), tenant_id="acme", start="2024-03-01", days=12,
             progress=False)
    return root


def _landing(settings, small_landing: Path, tenant: str = "acme") -> Path:
    dest = Path(settings.landing) / tenant
    shutil.copytree(small_landing, dest)
    return dest


def _orders(settings) -> pd.DataFrame:
    return read_table(table_uri(settings.lake, "orders"))


def test_only_new_files_are_ingested_and_rows_stay_unique(settings, small_landing):
    land = _landing(settings, small_landing)
    first = ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    assert first.report is not None and first.new_files
    n_orders = len(_orders(settings))
    assert read_state(state_path("acme"))["files"].keys() == set(first.new_files)

    again = ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    assert again.report is None and again.new_files == []
    assert again.reason.startswith("no new landing files since")

    # a new day's partition file arrives: only it is ingested, upserted, nothing duplicated
    day = _orders(settings).tail(5).copy()
    day["order_id"] = day["order_id"].astype(str) + "-late"
    new = land / "orders" / "month=2024-03" / "part-late.parquet"
    day.drop(columns=[c for c in day.columns if c == "month"]).to_parquet(new, index=False)
    third = ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    assert third.new_files == ["orders/month=2024-03/part-late.parquet"]
    assert third.report.tables["orders"].rows_in == 5
    orders = _orders(settings)
    assert len(orders) == n_orders + 5 and not orders["order_id"].duplicated().any()

    # the state lost (a run killed before recording): everything again, still one row per key
    state_path("acme").unlink()
    redo = ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    assert len(redo.new_files) == len(first.new_files) + 1
    orders = _orders(settings)
    assert len(orders) == n_orders + 5 and not orders["order_id"].duplicated().any()


def test_unreadable_file_is_quarantined_whole_and_the_rest_proceeds(settings, small_landing):
    land = _landing(settings, small_landing)
    bad = land / "orders" / "month=2024-03" / "part-broken.parquet"
    bad.write_bytes(b"not parquet at all")
    cols = land / "orders" / "month=2024-03" / "part-nocols.parquet"
    pd.DataFrame({"order_id": ["x"]}).to_parquet(cols, index=False)
    delta = ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    assert set(delta.bad_files) == {"orders/month=2024-03/part-broken.parquet",
                                    "orders/month=2024-03/part-nocols.parquet"}
    assert "missing required column" in delta.bad_files[
        "orders/month=2024-03/part-nocols.parquet"]
    assert delta.report is not None and len(_orders(settings)) > 0
    kept = Path(settings.quarantine) / "_files" / "acme" / "orders" / "month=2024-03"
    assert (kept / "part-broken.parquet").read_bytes() == b"not parquet at all"
    assert (kept / "part-broken.parquet.reason.txt").read_text().strip()
    # recorded: the same bad bytes are not retried every day
    again = ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    assert again.new_files == [] and again.report is None


def test_a_wiped_lake_is_ingested_again(settings, small_landing):
    _landing(settings, small_landing)
    ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    shutil.rmtree(settings.lake)
    delta = ingest_new_partitions("acme", settings.landing, settings.lake, settings.quarantine)
    assert delta.report is not None and len(_orders(settings)) > 0


def test_tenants_are_found_from_landing_folders_and_the_lake(settings, small_landing):
    _landing(settings, small_landing, "acme")
    (Path(settings.landing) / "bad name" / "orders").mkdir(parents=True)  # not a tenant id
    (Path(settings.landing) / "_truth").mkdir(parents=True, exist_ok=True)
    assert discover_tenants(settings.landing, settings.lake) == ["acme"]
    other = read_table(small_landing / "orders", table="orders").assign(tenant_id="zeta")
    write_table(other, Path(settings.landing) / "zeta" / "orders", table="orders")
    assert discover_tenants(settings.landing, settings.lake) == ["acme", "zeta"]
    assert tenant_landing(settings.landing, "acme").endswith("/acme")
    assert tenant_landing(settings.landing, "nobody") == settings.landing

