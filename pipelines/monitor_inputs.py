"""Inputs of the monitoring step: a tenant's lake rows by day and its stored forecasts.

Kept apart from :mod:`pipelines.monitor` (which decides and writes) so each stays short.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from models.monitoring.accuracy import forecast_origins
from models.monitoring.drift import LINE_NEEDS, ORDER_NEEDS
from oms.lake import exists, read_table, table_uri
from oms.outputs import output_root
from oms.tenancy import validate_tenant

#: Forecast outputs scored against the lake, and the target each one forecasts.
FORECAST_KINDS = {
    "order_volume_forecast": "volume", "order_volume_forecast_challenger": "volume",
    "sku_demand_forecast": "sku", "sku_demand_forecast_challenger": "sku",
}


def day(value: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """A calendar day as a midnight Timestamp (clear error for a bad value)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"not a date: {value!r}") from e
    if pd.isna(ts):
        raise ValueError(f"not a date: {value!r}")
    return ts.tz_localize(None).normalize() if ts.tzinfo else ts.normalize()


def _between(column: str, start: pd.Timestamp, end: pd.Timestamp, tenant: str):
    ts = pa.timestamp("us")
    return ((pads.field("tenant_id") == tenant)
            & (pads.field(column) >= pa.scalar(start.to_pydatetime(), ts))
            & (pads.field(column) < pa.scalar((end + pd.Timedelta(days=1)).to_pydatetime(), ts)))


def read_days(lake: str, table: str, columns: list[str], tenant: str, start: pd.Timestamp,
              end: pd.Timestamp) -> pd.DataFrame:
    """``columns`` of a tenant's rows with ``order_date`` in ``[start, end]`` (empty if none)."""
    uri = table_uri(lake, table)
    if not exists(uri):
        return pd.DataFrame(columns=columns)
    return read_table(uri, columns, _between("order_date", start, end, tenant))


def lake_rows(lake: str, tenant: str, start: pd.Timestamp, end: pd.Timestamp
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tenant's ``orders`` and ``order_lines`` (the drift columns) of ``[start, end]``."""
    orders = read_days(lake, "orders", ORDER_NEEDS, tenant, start, end)
    lines = read_days(lake, "order_lines", [*LINE_NEEDS, "order_date"], tenant, start, end)
    return orders, lines


def last_order_day(lake: str, tenant: str) -> pd.Timestamp | None:
    """The tenant's latest ``order_date`` in the lake (None without orders)."""
    uri = table_uri(lake, "orders")
    if not exists(uri):
        return None
    days = read_table(uri, ["order_date"], pads.field("tenant_id") == tenant)["order_date"]
    return None if days.empty else day(days.max())


def _forecast_files(root: str, kind: str, tenant: str) -> list[Path]:
    folder = Path(output_root(root).removeprefix("file://")) / kind / tenant
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{kind}*.parquet")
                  if p.name == f"{kind}.parquet" or p.name[len(kind) + 1:-8].count("-") == 2)


def stored_forecasts(root: str | None, tenant: str) -> dict[str, pd.DataFrame]:
    """Every stored forecast of a tenant (latest and dated copies), per target.

    Each file's rows get their ``forecast_date`` (the forecast's origin, computed per file
    so two runs of one model version keep apart); identical rows of the latest file and its
    dated copy collapse into one.
    """
    validate_tenant(tenant)
    out: dict[str, list[pd.DataFrame]] = {}
    for kind, target in FORECAST_KINDS.items():
        for path in _forecast_files(root, kind, tenant):
            fc = pd.read_parquet(path)
            if fc.empty or "yhat" not in fc:
                continue
            if "model_version" not in fc:
                fc["model_version"] = ""
            fc["model_version"] = fc["model_version"].astype(str)
            fc["forecast_date"] = forecast_origins(fc)
            out.setdefault(target, []).append(fc)
    key = ["model_version", "forecast_date", "unique_id", "ds"]
    return {t: pd.concat(frames, ignore_index=True).drop_duplicates(key, keep="last")
            for t, frames in out.items()}


def actuals(lake: str, tenant: str, target: str, start: pd.Timestamp, end: pd.Timestamp
            ) -> pd.DataFrame:
    """Actual ``unique_id, ds, y`` of ``[start, end]``: orders per day, or units per SKU-day.

    Uses the same definitions as the training series (``features.demand``): all orders
    placed count; only product lines count as SKU demand.
    """
    from features.demand import daily_order_volume, sku_demand_panel

    if target == "volume":
        rows = read_days(lake, "orders", ["tenant_id", "order_date"], tenant, start, end)
        frame = daily_order_volume(rows, None) if len(rows) else None
    else:
        cols = ["tenant_id", "sku", "quantity", "is_product", "order_date"]
        rows = read_days(lake, "order_lines", cols, tenant, start, end)
        frame = sku_demand_panel(rows, None) if len(rows) else None
    if frame is None or frame.empty:
        return pd.DataFrame({"unique_id": [], "ds": pd.to_datetime([]), "y": []})
    return frame[["unique_id", "ds", "y"]]
