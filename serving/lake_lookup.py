"""Rows of the lake by key for one tenant (the risk routes' order, customer and warehouse look-ups).

Reads push the key filter down to pyarrow (``read_table(..., filter=...)``) on the lake's
current snapshot, so a look-up always sees the latest published version and never a
half-written one. The customer credit scores are not a contract table: they are read from
``risk/customer_credit.parquet`` in the lake's snapshot or, as ``oms-ml generate-risk``
writes them, in the landing zone.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.dataset as ds

from oms.lake import LakeError, exists, read_table, snapshot_root, table_uri


def lake_rows(lake: str, table: str, tenant: str, column: str, values: list[str]
              ) -> pd.DataFrame | None:
    """Rows of ``table`` with ``column`` in ``values`` for ``tenant``; None without the table."""
    try:
        df = read_table(table_uri(lake, table), table=table,
                        filter=ds.field(column).isin(values) & (ds.field("tenant_id") == tenant))
    except LakeError:
        return None
    return df.reset_index(drop=True)


def credit_rows(lake: str, landing: str, customer: str | None) -> pd.DataFrame:
    """``customer_id, credit_score`` of one customer (empty when unknown: scored as 0)."""
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=object),
                          "credit_score": pd.Series(dtype=float)})
    if customer is None:
        return empty
    for root in (snapshot_root(lake), landing):
        uri = f"{str(root).rstrip('/')}/risk/customer_credit.parquet"
        if exists(uri):
            df = read_table(uri, columns=["customer_id", "credit_score"],
                            filter=ds.field("customer_id") == customer)
            return df if len(df) else empty
    return empty
