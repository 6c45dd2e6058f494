"""Latest batch outputs (forecasts, churn scores, inventory), read once per file change.

Where a tenant's outputs live is decided in one place, :func:`output_candidates`: first the
tenant's own file in the layout of ``oms.outputs`` (``<outputs>/<kind>/<tenant>/<kind>.parquet``,
what ``score forecast``, ``score churn`` and ``report inventory`` write; the inventory
report's earlier ``<outputs>/inventory/tenant=<t>/recommendations.parquet`` after it) — then
older layouts
(``<outputs>/tenant=<t>/...``, shared ``<outputs>/forecasts/<name>.parquet`` and
``<outputs>/churn_scores``) filtered to the tenant's rows. A shared file without a
``tenant_id`` column belongs to the default tenant (``OMS_ML_TENANT_ID``) only, so no tenant
ever reads another's rows.
"""

from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.errors import APIError, unprocessable

VOLUME = "order_volume_forecaster"
SKU = "sku_demand_forecaster"
CHURN_SCORES = "churn_scores"
INVENTORY = "inventory_recommendations"
#: output kind of ``oms.outputs`` for each name served here
KIND = {VOLUME: "order_volume_forecast", SKU: "sku_demand_forecast",
        CHURN_SCORES: "churn_scores", INVENTORY: "inventory_recommendations"}
HORIZON = re.compile(r"^(\d{1,4})(h|d)$")
MAX_HORIZON_DAYS = 365


def output_candidates(outputs: str, tenant: str, name: str) -> list[str]:
    """Paths that may hold ``name`` for ``tenant``, most specific first (see module doc)."""
    from oms.outputs import output_path

    root = outputs.rstrip("/")
    own = [output_path(KIND[name], tenant, root=root)]
    if name == INVENTORY:  # written by `oms-ml report inventory` (earlier layout after it)
        return [*own, f"{root}/inventory/tenant={tenant}/recommendations.parquet"]
    if name == CHURN_SCORES:
        return [*own, f"{root}/tenant={tenant}/{name}", f"{root}/{name}"]
    return [*own, f"{root}/tenant={tenant}/forecasts/{name}.parquet",
            f"{root}/forecasts/{name}.parquet"]


def parse_horizon(text: str) -> int:
    """``72h`` → 3, ``7d`` → 7 (days); anything else is a 422 naming ``horizon``."""
    m = HORIZON.match(text or "")
    if not m:
        unprocessable(["query", "horizon"], "horizon must look like 72h or 7d")
    n, unit = int(m.group(1)), m.group(2)
    if unit == "h" and n % 24:
        unprocessable(["query", "horizon"], "an hour horizon must be a multiple of 24h")
    days = n // 24 if unit == "h" else n
    if not 1 <= days <= MAX_HORIZON_DAYS:
        unprocessable(["query", "horizon"], f"horizon must be 1 to {MAX_HORIZON_DAYS} days")
    return days


def _stamp(path: str) -> tuple[int, int] | None:
    """Change stamp of a file or dataset folder (newest mtime, entry count)."""
    try:
        if os.path.isfile(path):
            return os.stat(path).st_mtime_ns, 1
        newest, count = 0, 0
        for base, _, files in os.walk(path):
            for f in files:
                if not f.startswith((".", "_")):
                    newest = max(newest, os.stat(os.path.join(base, f)).st_mtime_ns)
                    count += 1
        return (newest, count) if count else None
    except OSError:
        return None


def _clean(v: Any) -> Any:
    """A JSON-safe scalar: NaN/NaT → None, numpy → Python, timestamps → ISO text."""
    if v is None:
        return None
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if hasattr(v, "isoformat"):
        try:
            return None if v != v else v.isoformat()  # NaT != NaT
        except (TypeError, ValueError):
            return str(v)
    return v if isinstance(v, (str, int)) else str(v)


@dataclass
class Indexed:
    """One output file's rows, grouped by key."""

    stamp: tuple[int, int]
    rows: dict[str, list[dict[str, Any]]]


class OutputCache:
    """Reads an output when it changes; requests only look up dicts."""

    def __init__(self, outputs: str, default_tenant: str) -> None:
        self.outputs, self.default_tenant = outputs, default_tenant
        self._cache: dict[tuple[str, str], Indexed] = {}
        self._lock = threading.Lock()

    def rows(self, tenant: str, name: str, key: str) -> tuple[dict[str, list[dict]], bool]:
        """Rows of ``name`` for ``tenant`` grouped by ``key``; 404 when there is no output."""
        for i, path in enumerate(output_candidates(self.outputs, tenant, name)):
            shared = i > 0 and name != INVENTORY
            stamp = _stamp(path)
            if stamp is None:
                continue
            cached = self._cache.get((path, tenant))
            if cached is None or cached.stamp != stamp:
                with self._lock:
                    cached = Indexed(stamp, self._read(path, tenant, key, shared=shared))
                    self._cache[(path, tenant)] = cached
            return cached.rows, True
        if name == INVENTORY:
            raise APIError(404, "no inventory recommendations for this tenant yet; run "
                                "`oms-ml report inventory` first")
        raise APIError(404, f"no {name} output yet for this tenant; run the batch job first")

    def _read(self, path: str, tenant: str, key: str, shared: bool) -> dict[str, list[dict]]:
        import pyarrow.dataset as pads

        try:
            table = pads.dataset(path, format="parquet", partitioning="hive").to_table()
        except (OSError, ValueError) as e:
            raise APIError(404, f"output {os.path.basename(path)} cannot be read") from e
        df = table.to_pandas()
        if "tenant_id" in df.columns:  # never another tenant's row, whatever the file
            df = df[df["tenant_id"].astype(str) == tenant]
        if shared and "tenant_id" not in df.columns:
            if key == "unique_id" and path.endswith(f"{VOLUME}.parquet"):
                df = df[df["unique_id"].astype(str) == tenant]  # the volume series is the tenant
            elif tenant != self.default_tenant:
                df = df.iloc[0:0]
        out: dict[str, list[dict]] = {}
        for rec in df.to_dict("records"):
            out.setdefault(str(rec[key]), []).append({k: _clean(v) for k, v in rec.items()})
        return out
