"""Where batch outputs live, one place for every job: partitioned by tenant, written atomically.

Layout under the settings' output root (``<data_dir>/outputs`` by default)::

    <root>/<kind>/<tenant>/<kind>.parquet               the latest run for that tenant
    <root>/<kind>/<tenant>/<kind>-<YYYY-MM-DD>.parquet  a dated copy (when a run date is given)

A run for one tenant writes only that tenant's file, so ``score churn --tenant demo`` never
touches another tenant's scores. Reading ``<root>/<kind>`` with :func:`read_output` gives
every tenant's latest rows (each file keeps its ``tenant_id`` column). Local files are
written to a temporary file in the same folder and moved into place with ``os.replace``
(a reader sees the old or the new file, never half of one); other URIs go through
``oms.lake.write_frame`` (temporary file + move on that filesystem).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import date
from pathlib import Path

import pandas as pd

from oms.tenancy import validate_tenant

#: Every output the pipelines write (a new job adds its kind here).
KINDS = (
    "churn_scores", "churn_exclusions", "churn_segments",
    "order_volume_forecast", "sku_demand_forecast",
    "order_volume_forecast_challenger", "sku_demand_forecast_challenger",
    "sales_trend", "reroute",
    # the daily batch (flows/daily.py)
    "order_volume_forecast_72h", "inventory_recommendations", "abnormal_order_flags",
    "refund_decisions",
)


def output_root(root: str | os.PathLike | None = None) -> str:
    """The output root: ``root`` if given, else the settings' outputs."""
    if root:
        return str(root).rstrip("/")
    from oms.settings import get_settings

    return get_settings().outputs.rstrip("/")


def output_path(kind: str, tenant: str, run_date: date | str | None = None,
                root: str | os.PathLike | None = None) -> str:
    """Location of one tenant's output of ``kind`` (see the module docstring for the layout).

    Args:
        kind: One of :data:`KINDS`.
        tenant: Tenant id (validated: it becomes a folder name).
        run_date: Also name a dated copy ``<kind>-<YYYY-MM-DD>.parquet``.
        root: Output root (default: the settings' outputs).

    Raises:
        ValueError: Unknown kind or invalid tenant id.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}; known: {', '.join(KINDS)}")
    validate_tenant(tenant)
    name = kind if run_date is None else f"{kind}-{pd.Timestamp(run_date).date().isoformat()}"
    return f"{output_root(root)}/{kind}/{tenant}/{name}.parquet"


def write_output(df: pd.DataFrame, kind: str, tenant: str, run_date: date | str | None = None,
                 root: str | os.PathLike | None = None) -> str:
    """Write one tenant's output atomically and return its path.

    With ``run_date`` the dated copy ``<kind>-<YYYY-MM-DD>.parquet`` is written first, then
    the latest file ``<kind>.parquet`` (same bytes); the dated path is returned. Rows of other
    tenants in ``df`` are refused (they would land in the wrong partition).
    """
    if "tenant_id" in df.columns and len(df):
        others = set(df["tenant_id"].astype(str)) - {tenant}
        if others:
            raise ValueError(f"{kind} for tenant {tenant!r} holds rows of {sorted(others)}")
    paths = [output_path(kind, tenant, run_date, root)]
    if run_date is not None:
        paths.append(output_path(kind, tenant, None, root))
    for path in paths:
        if "://" in path and not path.startswith("file://"):
            from oms.lake import write_frame

            write_frame(df, path)
        else:
            atomic_parquet(df, Path(path.removeprefix("file://")))
    return paths[0]


def atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_output(kind: str, tenants: list[str] | None = None,
                root: str | os.PathLike | None = None) -> pd.DataFrame:
    """The latest output of ``kind`` for ``tenants`` (default: every tenant that has one)."""
    base = Path(output_root(root).removeprefix("file://")) / kind
    if tenants is None:
        tenants = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    files = [base / validate_tenant(t) / f"{kind}.parquet" for t in tenants]
    frames = [pd.read_parquet(f) for f in files if f.is_file()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
