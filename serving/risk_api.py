"""Risk routes: support triage, refund decisions and delivery-time quantiles (issue 12 families).

Each route uses the tenant's champion from the registry (``support_triage``,
``refund_approval``, ``delivery_eta`` — registered by ``oms-ml train risk``) through the
estimator inside ``models.risk.pyfunc.RiskDecisionModel``, on a one-row frame built from the
request and, for refunds and ETA, from the lake (the order, the customer's history and
credit, the warehouses). Bad input is a 4xx naming the field (an empty or over-long message,
a non-positive amount, an unknown warehouse) or a 404 naming what is unknown (an order,
no champion); a refund the model cannot judge is an explicit ``human_review`` with its
reason — never a silent approval. Lake reads run in a worker thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from serving.errors import APIError, unprocessable
from serving.lake_lookup import credit_rows, lake_rows
from serving.registry import ETA, REFUNDS, TRIAGE, Slot
from serving.risk_schemas import (
    EtaOption,
    EtaRequest,
    EtaResponse,
    RefundRequest,
    RefundResponse,
    TriageRequest,
    TriageResponse,
)
from serving.schemas import ErrorResponse, ModelRef
from serving.security import tenant_of

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (401, 403, 404, 413, 422)}
router = APIRouter(tags=["risk"])


def _json(model: Any) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _slot(request: Request, tenant: str, family: str) -> Slot | None:
    return request.app.state.store.get(tenant, family)


def _ref(slot: Slot) -> ModelRef:
    return ModelRef(name=slot.name, version=str(slot.version))


def _need(slot: Slot | None, family: str) -> Slot:
    if slot is None:
        raise APIError(404, f"no {family} champion is loaded for this tenant "
                            f"(train it with `oms-ml train risk`)")
    return slot


def _float(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(float(x)) else None


@router.post("/v1/risk/triage", response_model=TriageResponse, responses=ERRORS)
async def triage(body: TriageRequest, request: Request, tenant: str = Depends(tenant_of)
                 ) -> Response:
    """Intent, order id and route (complaints always to a person) for a support message."""
    slot = _need(_slot(request, tenant, TRIAGE), TRIAGE)
    if not body.message.strip():
        unprocessable(["body", "message"], "the message is blank (white space only)")
    row = (await run_in_threadpool(slot.fast.decide, [body.message])).iloc[0]
    return _json(TriageResponse(
        tenant=tenant, intent=row["intent"] or None, confidence=float(row["confidence"]),
        order_id=row["order_id"] or None, route=row["route"], reason=str(row["reason"]),
        model=_ref(slot)))


def _refund_frame(lake: str, landing: str, tenant: str, body: RefundRequest) -> pd.DataFrame:
    """The refund request joined to its order, customer, history and credit (one row)."""
    from models.risk.refunds import refund_features

    order = lake_rows(lake, "orders", tenant, "order_id", [body.order_id])
    if order is None or order.empty:
        raise APIError(404, f"unknown order {body.order_id!r} for this tenant")
    o = order.iloc[0]
    customer = o["customer_id"] if pd.notna(o["customer_id"]) else None
    ts = pd.Timestamp(body.request_ts) if body.request_ts else pd.Timestamp.now(tz="UTC")
    ts = ts.tz_convert("UTC")
    days = body.days_since_delivery
    if days is None and pd.notna(o.get("delivery_hours")):
        delivered = pd.Timestamp(o["order_ts"]) + pd.Timedelta(hours=float(o["delivery_hours"]))
        days = max(0.0, (ts - delivered).total_seconds() / 86_400)
    history = (lake_rows(lake, "orders", tenant, "customer_id", [customer])
               if customer else None)
    orders = pd.concat([order, history]) if history is not None else order
    orders = orders.drop_duplicates("order_id")
    customers = lake_rows(lake, "customers", tenant, "customer_id", [customer]) if customer \
        else None
    if customers is None or customers.empty:
        customers = pd.DataFrame({"customer_id": pd.Series([customer], dtype=object),
                                  "signup_date": pd.Series([pd.NaT], dtype="datetime64[ns]")})
    credit = credit_rows(lake, landing, customer)
    req = pd.DataFrame([{
        "tenant_id": tenant, "request_id": body.request_id or f"refund-{body.order_id}",
        "order_id": body.order_id, "customer_id": customer, "request_ts": ts,
        "reason": body.reason, "has_evidence": body.has_evidence, "amount": body.amount,
        "days_since_delivery": float(days) if days is not None else 0.0}])
    return refund_features(req, orders, customers[["customer_id", "signup_date"]], credit)


def _refund_decision(slot: Slot | None, d: pd.DataFrame) -> dict[str, Any]:
    from models.risk.refunds import design_rule

    rule = design_rule(d).iloc[0]
    out = {"rule_decision": str(rule["decision"]), "rule_reason": str(rule["reason"])}
    if slot is None:  # the design's rule decides, and says so
        return {**out, "decision": out["rule_decision"], "reason": out["rule_reason"],
                "p_abuse": None, "expected_loss": None, "degraded": True, "model": None}
    m = slot.fast.decide(d).iloc[0]
    return {**out, "decision": str(m["decision"]), "reason": str(m["reason"]),
            "p_abuse": _float(m["p_abuse"]), "expected_loss": _float(m["expected_loss"]),
            "degraded": False, "model": _ref(slot)}


@router.post("/v1/risk/refund", response_model=RefundResponse, responses=ERRORS)
async def refund(body: RefundRequest, request: Request, tenant: str = Depends(tenant_of)
                 ) -> Response:
    """Auto-approve or send to human review, with the reason (and the design rule's call)."""
    st = request.app.state
    slot = _slot(request, tenant, REFUNDS)

    def work() -> RefundResponse:
        d = _refund_frame(st.settings.lake, st.settings.landing, tenant, body)
        return RefundResponse(tenant=tenant, request_id=str(d["request_id"].iloc[0]),
                              order_id=body.order_id, **_refund_decision(slot, d))

    return _json(await run_in_threadpool(work))


def _eta_frame(lake: str, tenant: str, body: EtaRequest) -> pd.DataFrame:
    """One ``eta_features`` row per candidate warehouse; its load from ``booked_orders``."""
    from models.risk.eta import eta_features

    wh = lake_rows(lake, "warehouses", tenant, "warehouse_id", list(body.warehouse_ids))
    if wh is not None:
        wh = wh.drop_duplicates("warehouse_id")
    known = set() if wh is None else set(wh["warehouse_id"].astype(str))
    for i, w in enumerate(body.warehouse_ids):
        if w not in known:
            unprocessable(["body", "warehouse_ids", i], f"unknown warehouse {w!r} for this "
                                                        "tenant")
    for w in body.booked_orders:
        if w not in body.warehouse_ids:
            unprocessable(["body", "booked_orders", w], f"{w!r} is not among warehouse_ids")
    ts = pd.Timestamp(body.order_ts) if body.order_ts else pd.Timestamp.now(tz="UTC")
    day = ts.tz_convert("Asia/Shanghai").tz_localize(None).normalize()
    n = len(body.warehouse_ids)
    orders = pd.DataFrame({"order_id": [body.order_id] * n, "customer_id": ["_"] * n,
                           "warehouse_id": list(body.warehouse_ids), "order_date": [day] * n,
                           "region": [body.region] * n, "order_ts": [ts] * n})
    customers = pd.DataFrame({"customer_id": ["_"], "lat": [body.customer_lat],
                              "lon": [body.customer_lon]})
    context = pd.DataFrame({"date": [day], "region": [body.region],
                            "is_holiday": [body.is_holiday],
                            "promotion_intensity": [body.promotion_intensity],
                            "weather": [body.weather]})
    d = eta_features(orders, customers, wh, context)
    booked = d["warehouse_id"].map(body.booked_orders).fillna(0).astype(float)
    d["wh_load"] = booked / d["capacity_per_day"].astype(float).clip(lower=1)
    return d


@router.post("/v1/risk/eta", response_model=EtaResponse, responses=ERRORS)
async def eta(body: EtaRequest, request: Request, tenant: str = Depends(tenant_of)
              ) -> Response:
    """p50 and conformal p90 delivery hours from each candidate warehouse."""
    slot = _need(_slot(request, tenant, ETA), ETA)
    lake = request.app.state.settings.lake

    def work() -> EtaResponse:
        pred = slot.fast.predict(_eta_frame(lake, tenant, body))
        options = [EtaOption(warehouse_id=w, p50_hours=_float(a), p90_hours=_float(b),
                             problem=p or None)
                   for w, a, b, p in zip(body.warehouse_ids, pred["p50_hours"],
                                         pred["p90_hours"], pred["problem"], strict=True)]
        return EtaResponse(tenant=tenant, order_id=body.order_id, options=options,
                           model=_ref(slot))

    return _json(await run_in_threadpool(work))
