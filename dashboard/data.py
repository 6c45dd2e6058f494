"""Where the dashboard reads from, and the one way it says that something is not there yet.

Every loader here reads through ``oms.lake`` (the versioned lake) or ``oms.outputs`` (the
batch outputs, ``<outputs>/<kind>/<tenant>/<kind>.parquet``). A loader that finds nothing
raises :class:`NoData` with a sentence for a person ("the lake has no orders for tenant
demo yet: run ..."); the pages show that sentence instead of an exception or a blank chart.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads

from oms.lake import LakeError, exists, read_table, table_uri
from oms.outputs import output_root, read_output
from oms.tenancy import validate_tenant


class NoData(LookupError):  # noqa: N818 - reads as a sentence: raise NoData("...")
    """Something a page needs has not been produced yet; the message says what and how."""


@dataclass(frozen=True)
class Sources:
    """The three places the dashboard reads.

    Attributes:
        lake: Lake root (validated contract tables).
        outputs: Output root of the batch jobs.
        tracking_uri: MLflow tracking/registry URI.
    """

    lake: str
    outputs: str
    tracking_uri: str

    @classmethod
    def from_settings(cls, lake: str | None = None, outputs: str | None = None,
                      tracking_uri: str | None = None) -> Sources:
        """The settings' lake, outputs and store, each overridable."""
        from oms.settings import get_settings

        s = get_settings()
        return cls(lake or s.lake, output_root(outputs), tracking_uri or s.tracking_uri)


def lake_table(src: Sources, table: str, tenant: str,
               columns: list[str] | None = None) -> pd.DataFrame:
    """One tenant's rows of a lake table (contract dtypes).

    Raises:
        NoData: The lake or the table does not exist, or the tenant has no rows in it.
    """
    validate_tenant(tenant)
    uri = table_uri(src.lake, table)
    if not exists(uri):
        raise NoData(f"The lake at {src.lake} has no {table} table yet: generate or import "
                     "data and ingest it (oms-ml generate, oms-ml ingest).")
    try:
        df = read_table(uri, columns, pads.field("tenant_id") == tenant, table=table)
    except LakeError as e:
        raise NoData(f"The {table} table cannot be read: {e}") from e
    if df.empty:
        raise NoData(f"The lake has no {table} rows for tenant {tenant!r} yet.")
    return df


def tenants(src: Sources) -> list[str]:
    """Tenants with orders in the lake or a folder under any output kind (sorted)."""
    found: set[str] = set()
    uri = table_uri(src.lake, "orders")
    if exists(uri):
        try:
            ids = read_table(uri, ["tenant_id"])["tenant_id"]
            found |= set(ids.dropna().astype(str))
        except LakeError:
            pass
    root = Path(src.outputs.removeprefix("file://"))
    if root.is_dir():  # <kind>/<tenant>/<kind>*: other folders (features, reports) are not tenants
        found |= {p.name for p in root.glob("*/*")
                  if p.is_dir() and any(p.glob(f"{p.parent.name}*"))}
    return sorted(t for t in found if _valid(t))


def _valid(tenant: str) -> bool:
    try:
        validate_tenant(tenant)
    except ValueError:
        return False
    return True


def output(src: Sources, kind: str, tenant: str, what: str, how: str) -> pd.DataFrame:
    """The latest output of ``kind`` for ``tenant``.

    Args:
        src: Where to read.
        kind: Output kind (folder name under the output root).
        tenant: Tenant id.
        what: What the output is, for the message ("churn scores").
        how: The command that produces it, for the message.

    Raises:
        NoData: No such output for this tenant (or it has no rows).
    """
    df = read_output(kind, [validate_tenant(tenant)], root=src.outputs)
    if df.empty:
        raise NoData(f"No {what} for tenant {tenant!r} yet: {how} writes them "
                     f"(under {src.outputs}/{kind}).")
    return df


def first_output(src: Sources, kinds: tuple[str, ...], tenant: str) -> pd.DataFrame:
    """The first of ``kinds`` that has rows for ``tenant`` (empty frame if none has)."""
    for kind in kinds:
        df = read_output(kind, [validate_tenant(tenant)], root=src.outputs)
        if not df.empty:
            return df
    return pd.DataFrame()


def dated_outputs(src: Sources, kind: str, tenant: str) -> pd.DataFrame:
    """The latest and every dated copy ``<kind>-<YYYY-MM-DD>.parquet`` of one tenant's output."""
    folder = os.path.join(src.outputs.removeprefix("file://"), kind, validate_tenant(tenant))
    files = sorted(glob.glob(os.path.join(folder, f"{kind}*.parquet")))
    frames = [pd.read_parquet(f) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
