"""HTTP routes of the service (see ``serving.app`` for the application and its lifespan)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from serving import outputs as out
from serving.errors import APIError, unprocessable
from serving.fastlane import route_json
from serving.registry import CHURN, ROUTER
from serving.routing import decide, responses
from serving.schemas import (
    ID_PATTERN,
    BatchRouteRequest,
    BatchRouteResponse,
    ChurnScoreRequest,
    ChurnScoreResponse,
    CustomerResponse,
    ErrorResponse,
    ForecastPoint,
    ForecastResponse,
    LoadedModel,
    ModelRef,
    Readiness,
    RerouteRequest,
    RerouteResponse,
    RouteRequest,
    RouteResponse,
)
from serving.security import (
    UNAUTHORIZED,
    match_key,
    require_admin,
    tenant_of,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (401, 403, 404, 413, 422)}
router = APIRouter()


def _json(model: Any) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


@router.post("/v1/route", response_model=RouteResponse, responses=ERRORS, tags=["routing"])
async def route(body: RouteRequest, request: Request, tenant: str = Depends(tenant_of)
                ) -> Response:
    """Route one order: chosen warehouse, score per warehouse, cost, hours, mask reasons."""
    return Response(route_json(request.app.state, tenant, body), media_type="application/json")


@router.post("/v1/route/batch", response_model=BatchRouteResponse, responses=ERRORS,
             tags=["routing"])
async def route_batch(body: BatchRouteRequest, request: Request,
                      tenant: str = Depends(tenant_of)) -> Response:
    """Route many orders in one call (one vectorised scoring pass)."""
    st = request.app.state
    limit = st.settings.serving_max_batch_orders
    if len(body.orders) > limit:
        unprocessable(["body", "orders"], f"at most {limit} orders per batch")

    def work() -> BatchRouteResponse:
        d, net, degraded, ref = decide(st.store.get(tenant, ROUTER), st.fallbacks[tenant],
                                       body.orders, field="orders")
        return BatchRouteResponse(tenant=tenant, degraded=degraded, model=ref,
                                  results=responses(body.orders, d, net, tenant, degraded, ref))

    return _json(await run_in_threadpool(work))


@router.post("/v1/route/reroute", response_model=RerouteResponse, responses=ERRORS,
             tags=["routing"])
async def reroute(body: RerouteRequest, request: Request, tenant: str = Depends(tenant_of)
                  ) -> Response:
    """Warehouses marked down: reassign every affected open order (min-cost flow)."""
    from serving.reroute import reroute as solve

    limit = request.app.state.settings.serving_max_reroute_orders
    if body.n_orders > limit:
        unprocessable(["body", "orders"], f"at most {limit} orders per rerouting batch")

    def work() -> Response:
        report, rows, columns = solve(body)
        return _json(RerouteResponse(tenant=tenant, report=report, assignments=rows,
                                     assignment_columns=columns))

    return await run_in_threadpool(work)


def _points(rows: list[dict[str, Any]], days: int | None) -> list[ForecastPoint]:
    rows = sorted(rows, key=lambda r: str(r.get("ds")))
    if days is not None:
        if days > len(rows):
            unprocessable(["query", "horizon"],
                          f"the latest forecast covers {len(rows)} days; ask for at most that")
        rows = rows[:days]
    return [ForecastPoint(
        unique_id=str(r["unique_id"]), ds=str(r.get("ds")), yhat=r.get("yhat"),
        intervals={k: r[k] for k in r if k.startswith("yhat-")}) for r in rows]


def _forecast(tenant: str, series: str, rows: list[dict[str, Any]], days: int | None
              ) -> Response:
    first = rows[0] if rows else {}
    return _json(ForecastResponse(
        tenant=tenant, series=series, model_version=first.get("model_version") or None,
        created_at=first.get("created_at"), points=_points(rows, days)))


@router.get("/v1/forecast/order-volume", response_model=ForecastResponse, responses=ERRORS,
            tags=["forecasts"])
async def order_volume(request: Request, horizon: str = Query("7d", max_length=16,
                                                              description="72h or 7d style."),
                       tenant: str = Depends(tenant_of)) -> Response:
    """The latest daily order-volume forecast with its intervals."""
    days = out.parse_horizon(horizon)
    rows, _ = request.app.state.outputs.rows(tenant, out.VOLUME, "unique_id")
    mine = rows.get(tenant) or (next(iter(rows.values())) if len(rows) == 1 else None)
    if not mine:
        raise APIError(404, "no order-volume forecast for this tenant yet")
    return _forecast(tenant, "order_volume", mine, days)


@router.get("/v1/forecast/sku/{sku}", response_model=ForecastResponse, responses=ERRORS,
            tags=["forecasts"])
async def sku_forecast(request: Request, sku: str = Path(pattern=ID_PATTERN),
                       horizon: str | None = Query(None, max_length=16),
                       tenant: str = Depends(tenant_of)) -> Response:
    """The latest demand forecast of one SKU with its intervals."""
    days = out.parse_horizon(horizon) if horizon is not None else None
    rows, _ = request.app.state.outputs.rows(tenant, out.SKU, "unique_id")
    if sku not in rows:
        raise APIError(404, f"no forecast for SKU {sku!r} (unknown or not in the top SKUs)")
    return _forecast(tenant, sku, rows[sku], days)


@router.post("/v1/churn/score", response_model=ChurnScoreResponse, responses=ERRORS,
             tags=["churn"])
async def churn_score(body: ChurnScoreRequest, request: Request,
                      tenant: str = Depends(tenant_of)) -> Response:
    """Features in; churn probability, RFM segment and retention strategy out."""
    slot = request.app.state.store.get(tenant, CHURN)
    if slot is None:
        raise APIError(404, "no churn champion is loaded for this tenant")
    names = [n for n in slot.model.metadata.get_input_schema().input_names()
             if n not in ("tenant_id", "customer_id")]
    unknown = sorted(set(body.features) - set(names))
    if unknown:
        unprocessable(["body", "features", unknown[0]], f"unknown feature(s) {unknown[:10]}")
    missing = [n for n in names if n not in body.features]
    if missing:
        unprocessable(["body", "features"], f"missing feature(s) {missing[:10]}")
    row = await run_in_threadpool(_score_churn, slot.model, tenant, body)
    seg = _segment(body.features.get("r_score"), body.features.get("f_score"))
    return _json(ChurnScoreResponse(
        tenant=tenant, customer_id=body.customer_id,
        churn_probability=float(row["churn_probability"]), segment=seg,
        strategy=str(row["strategy"]), coupon_amount=float(row["coupon_amount"]),
        coupon_valid_days=int(row["coupon_valid_days"]),
        model=ModelRef(name=slot.name, version=str(slot.version))))


def _segment(r: float | None, f: float | None) -> str | None:
    """RFM segment from R and F scores (``features.segments`` rule); None if either is absent."""
    if r is None or f is None:
        return None
    import pandas as pd

    from features.segments import assign_segments

    try:
        out = assign_segments(pd.DataFrame({"r_score": [int(r)], "f_score": [int(f)]}))
    except (ValueError, OverflowError):
        unprocessable(["body", "features", "r_score"], "r_score and f_score must be 1..5")
    return str(out["segment"].iloc[0])


def _score_churn(model: Any, tenant: str, body: ChurnScoreRequest) -> dict[str, Any]:
    import pandas as pd  # the churn pyfunc takes a frame; one row, off the event loop

    frame = pd.DataFrame([{"tenant_id": tenant, "customer_id": body.customer_id,
                           **{k: float(v) for k, v in body.features.items()}}])
    return model.predict(frame).iloc[0].to_dict()


@router.get("/v1/customers/{customer_id}", response_model=CustomerResponse, responses=ERRORS,
            tags=["churn"])
async def customer(request: Request, customer_id: str = Path(pattern=ID_PATTERN),
                   tenant: str = Depends(tenant_of)) -> Response:
    """Probability, RFM segment, strategy and CLV from the latest scoring run."""
    rows, _ = request.app.state.outputs.rows(tenant, out.CHURN_SCORES, "customer_id")
    hit = rows.get(customer_id)
    if not hit:
        raise APIError(404, f"unknown customer {customer_id!r} in the latest scoring run")
    return _json(CustomerResponse(tenant=tenant, customer_id=customer_id, values=hit[-1]))


@router.get("/healthz", tags=["ops"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def readiness(state: Any, scope: str | None = None) -> Readiness:
    """Loaded versions (all with ``scope="*"``, one tenant's, or none) and the degraded flag."""
    models = [LoadedModel(tenant=s.tenant, family=s.family, name=s.name, version=s.version,
                          fast_path=s.fast_path, error=s.error)
              for s in state.store.slots.values() if scope in ("*", s.tenant)]
    degraded = any(state.store.get(t, ROUTER) is None for t in state.tenants)
    return Readiness(ready=True, degraded=degraded, models=models, reloads=state.store.reloads)


@router.get("/readyz", response_model=Readiness, responses=ERRORS, tags=["ops"])
async def readyz(request: Request,
                 admin_key: Annotated[str | None, Header(alias="X-Admin-Key")] = None,
                 api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> Response:
    """Ready and ``degraded`` for anyone; model versions for a tenant key (its own) or admin."""
    st = request.app.state
    scope = None
    if admin_key is not None:  # presented, even empty: it must be right
        if not (st.admin_key and hmac.compare_digest(admin_key.encode(),
                                                     st.admin_key.encode())):
            raise APIError(401, "invalid admin key", UNAUTHORIZED)
        scope = "*"
    elif api_key is not None:
        scope = match_key(api_key, st.api_keys)
        if scope is None:
            raise APIError(401, "invalid API key", UNAUTHORIZED)
    return _json(readiness(st, scope))


@router.get("/metrics", tags=["ops"], response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(request.app.state.metrics.render(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")


@router.post("/admin/reload", response_model=Readiness, responses=ERRORS, tags=["ops"],
             dependencies=[Depends(require_admin)])
async def admin_reload(request: Request) -> Response:
    """Re-read every champion alias now and swap what moved (admin key)."""
    from serving.app import refresh

    await refresh(request.app)
    return _json(readiness(request.app.state, "*"))

