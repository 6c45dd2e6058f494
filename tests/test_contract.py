"""The data contract: every table's pandera schema, the generated reference, the CLI."""

from __future__ import annotations

import pandas as pd
import pandera.errors as pa_errors
import pytest
from typer.testing import CliRunner

from oms.contract import TABLES, contract_markdown, empty_frame, get_table

SAMPLE = {"string": "x", "int64": 1, "float64": 0.5, "bool": True,
          "timestamp": pd.Timestamp("2024-01-01 08:00", tz="UTC"),
          "date": pd.Timestamp("2024-01-01")}


def one_valid_row(name: str) -> pd.DataFrame:
    spec = get_table(name)
    row = {c.name: (c.isin[0] if c.isin else SAMPLE[c.type]) for c in spec.columns}
    return pd.DataFrame([row]).astype({c.name: c.pandas_dtype for c in spec.columns})


@pytest.mark.parametrize("name", sorted(TABLES))
def test_schema_accepts_a_valid_row_and_the_empty_frame(name):
    schema = get_table(name).pandera_schema()
    schema.validate(empty_frame(name))
    schema.validate(one_valid_row(name))


@pytest.mark.parametrize("name", sorted(TABLES))
def test_schema_rejects_nulls_in_required_columns(name):
    spec = get_table(name)
    assert "tenant_id" in spec.column_names and set(spec.primary_key) <= set(spec.column_names)
    for col in (c for c in spec.columns if not c.nullable):
        df = one_valid_row(name)
        df[col.name] = pd.Series([None], dtype=object).astype(col.pandas_dtype)
        with pytest.raises(pa_errors.SchemaError):
            spec.pandera_schema().validate(df)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_schema_enforces_domains_and_bounds(name):
    spec = get_table(name)
    for col in spec.columns:
        bad = None
        if col.isin:
            bad = "not-a-member"
        elif col.gt is not None:
            bad = col.gt
        elif col.ge is not None:
            bad = col.ge - 1
        elif col.le is not None:
            bad = col.le + 1
        if bad is None:
            continue
        df = one_valid_row(name)
        df[col.name] = pd.Series([bad]).astype(col.pandas_dtype)
        with pytest.raises(pa_errors.SchemaError):
            spec.pandera_schema().validate(df)


def test_timestamps_are_utc_and_dates_naive():
    for spec in TABLES.values():
        for col in spec.columns:
            if col.type == "timestamp":
                assert col.pandas_dtype == "datetime64[ns, UTC]"
            if col.type == "date":
                assert col.pandas_dtype == "datetime64[ns]"
        if spec.partition_date:
            assert spec.column(spec.partition_date).type == "date"


def test_markdown_reference_lists_every_table_and_column():
    md = contract_markdown()
    for spec in TABLES.values():
        assert f"## `{spec.name}`" in md
        for col in spec.columns:
            assert f"| `{col.name}` |" in md


def test_contract_docs_command_writes_the_reference(tmp_path):
    from flows.cli import app

    out = tmp_path / "docs" / "contract.md"
    result = CliRunner().invoke(app, ["contract", "docs", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().strip() == contract_markdown().strip()
    assert not list(out.parent.glob("*.tmp"))
