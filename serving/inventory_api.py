"""Inventory routes: the latest recommendation report of the tenant, listed or per SKU.

The report is the output of ``oms-ml report inventory`` (``pipelines.inventory_report``),
read through :class:`serving.outputs.OutputCache` (once per file change); the service never
computes a policy itself.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from serving import outputs as out
from serving.errors import APIError
from serving.schemas import (
    ID_PATTERN,
    ErrorResponse,
    InventoryRecommendation,
    InventoryResponse,
)
from serving.security import tenant_of

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (401, 403, 404, 413, 422)}
TYPED = ("sku", "warehouse_id", "priority", "reorder_now", "order_quantity", "reorder_point",
         "order_up_to", "safety_stock", "inventory_position", "days_of_cover",
         "stockout_probability", "method", "exception")
router = APIRouter(tags=["inventory"])


def _row(r: dict[str, Any]) -> InventoryRecommendation:
    prio = r.get("priority")
    return InventoryRecommendation(
        **{k: r.get(k) for k in TYPED if k != "priority"},
        priority=int(prio) if isinstance(prio, (int, float)) else None,
        details={k: v for k, v in r.items() if k not in TYPED and k != "tenant_id"})


def _report(request: Request, tenant: str) -> tuple[dict[str, list[dict]], str | None]:
    rows, _ = request.app.state.outputs.rows(tenant, out.INVENTORY, "sku")
    path = out.output_candidates(request.app.state.outputs.outputs, tenant, out.INVENTORY)[0]
    try:
        at = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC).isoformat()
    except OSError:
        at = None
    return rows, at


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Purchase priority first (as in the report), then SKU and warehouse."""
    return sorted(rows, key=lambda r: (r.get("priority") is None, r.get("priority") or 0,
                                       str(r.get("sku")), str(r.get("warehouse_id"))))


@router.get("/v1/inventory/recommendations", response_model=InventoryResponse,
            responses=ERRORS)
async def recommendations(request: Request, tenant: str = Depends(tenant_of),
                          reorder_only: bool = Query(False, description="Only rows due for "
                                                     "a reorder now."),
                          warehouse_id: str | None = Query(None, pattern=ID_PATTERN),
                          limit: int = Query(100, ge=1, le=10_000)) -> Response:
    """The latest inventory recommendations, in purchase-priority order."""
    by_sku, at = _report(request, tenant)
    rows = [r for rs in by_sku.values() for r in rs
            if (not reorder_only or r.get("reorder_now"))
            and (warehouse_id is None or r.get("warehouse_id") == warehouse_id)]
    rows = _sorted(rows)
    body = InventoryResponse(tenant=tenant, sku=None, report_at=at, total=len(rows),
                             recommendations=[_row(r) for r in rows[:limit]])
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/v1/inventory/{sku}", response_model=InventoryResponse, responses=ERRORS)
async def inventory_sku(request: Request, sku: str = Path(pattern=ID_PATTERN),
                        tenant: str = Depends(tenant_of)) -> Response:
    """The latest recommendation of one SKU (one row per warehouse)."""
    by_sku, at = _report(request, tenant)
    if sku not in by_sku:
        raise APIError(404, f"SKU {sku!r} is not in the latest inventory report of this "
                            f"tenant ({len(by_sku)} SKUs; the report covers the top sellers)")
    rows = _sorted(by_sku[sku])
    body = InventoryResponse(tenant=tenant, sku=sku, report_at=at, total=len(rows),
                             recommendations=[_row(r) for r in rows])
    return Response(body.model_dump_json(), media_type="application/json")
