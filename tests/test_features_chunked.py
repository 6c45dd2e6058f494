"""The low-memory pandas feature path gives exactly what the one-shot functions give.

The pipeline aggregates order lines file by file (``daily_sku_units`` per chunk, combined by
``concat_units``) and writes big frames one row group at a time; both must be invisible in
the outputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_features_parity import CUTOFF, complete, synthetic

from features import demand


@pytest.fixture(scope="module")
def data():
    return synthetic(seed=5)


@pytest.mark.parametrize("top_n,min_days", [(None, 0), (7, 100), (3, 0)])
def test_sku_panel_from_chunked_units_equals_one_shot(data, top_n, min_days):
    lines = data["order_lines"]
    month = lines["order_date"].dt.to_period("M")
    # chunks by month and tenant, in shuffled order, with a tenant absent from some chunks
    chunks = [g for _, g in lines.groupby([month, lines["tenant_id"]], sort=False)]
    rng = np.random.default_rng(0)
    parts = [demand.daily_sku_units(chunks[i]) for i in rng.permutation(len(chunks))]
    units, end = demand.concat_units(parts)
    got = demand.sku_panel_from_units(units, end, data["daily_context"], top_n, min_days)
    want = demand.sku_demand_panel(lines, data["daily_context"], top_n, min_days)
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_units_edge_cases(data):
    lines = data["order_lines"]
    empty, end = demand.daily_sku_units(lines.iloc[:0])
    assert empty.empty and end is None
    no_products = lines[~lines["is_product"]]
    units, end = demand.daily_sku_units(no_products)
    assert units.empty and end == demand.day_numbers(no_products["order_date"]).max()
    # the last day comes from every line, also non-product ones: the panel runs to it
    combined = demand.concat_units([demand.daily_sku_units(lines[lines["is_product"]]),
                                    (units, end)])
    panel = demand.sku_panel_from_units(*combined)
    assert panel["ds"].max() == max(lines["order_date"])
    assert demand.sku_panel_from_units(*demand.concat_units([])).empty


def test_write_frame_row_groups_read_back_identical(tmp_path, monkeypatch, data):
    from oms.lake import read_table, write_table
    from pipelines import features

    panel = demand.sku_demand_panel(data["order_lines"], data["daily_context"])
    monkeypatch.setattr(features, "ROW_GROUP", 1000)
    assert features.write_frame(panel, str(tmp_path / "chunked")) == len(panel)
    write_table(panel, tmp_path / "whole")
    files = list((tmp_path / "chunked").glob("*.parquet"))
    assert len(files) == 1 and pq.ParquetFile(files[0]).metadata.num_row_groups == \
        -(-len(panel) // 1000)
    pd.testing.assert_frame_equal(read_table(tmp_path / "chunked"),
                                  read_table(tmp_path / "whole"), check_exact=True)


def test_one_tenant_of_a_lake_read_file_by_file(tmp_path, data):
    """``build_features(tenant=…)`` on a two-tenant lake = the functions on that tenant's rows."""
    from oms.lake import table_uri, write_table
    from pipelines.features import build_features

    lake = tmp_path / "lake"
    for name, frame in data.items():
        write_table(complete(frame, name), lake / name, table=name)
    rep = build_features(str(lake), str(tmp_path / "out"), cutoff=CUTOFF, tenant="acme")
    mine = {k: v[v["tenant_id"] == "acme"] for k, v in data.items()}
    assert rep.rows_in["order_lines"] == len(mine["order_lines"])
    # read the file itself: read_table drops a ``month`` column (the lake's partition key)
    got = pd.read_parquet(table_uri(str(tmp_path / "out"), "sku_demand"))
    want = demand.sku_demand_panel(mine["order_lines"], mine["daily_context"])
    assert set(got["tenant_id"]) == {"acme"}
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False)
