"""Typed HTTP client of the oms-ml service (``oms-ml serve``), for the thin OMS core.

Only the contract and HTTP: this module imports nothing from ``serving`` or the models::

    from oms.client import OmsClient

    with OmsClient("http://127.0.0.1:8080", api_key="...") as oms:
        d = oms.route({"order_id": "o1", "order_value": 120.0, ...})
        print(d.warehouse_id, d.expected_delivery_hours, d.degraded)

Every non-2xx answer raises :class:`ServiceError` with the status and the service's
``detail`` (a message, or a list of ``{loc, msg}`` naming the bad fields). Connection
errors and 502/503/504 are retried with backoff (the requests are idempotent).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUS = (502, 503, 504)


class ServiceError(RuntimeError):
    """The service refused or failed a request.

    Attributes:
        status: HTTP status code.
        detail: The ``detail`` of the error body (string or list of field errors).
    """

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class WarehouseOption:
    """One warehouse's score for an order (``score`` is None where it cannot serve)."""

    warehouse_id: str
    score: float | None
    expected_cost: float | None
    expected_delivery_hours: float | None
    masked: bool
    reason: str | None


@dataclass(frozen=True)
class RouteDecision:
    """The service's routing decision for one order."""

    order_id: str
    tenant: str
    warehouse_id: str | None
    routable: bool
    reason: str | None
    expected_cost: float | None
    expected_delivery_hours: float | None
    degraded: bool
    model_name: str | None
    model_version: str | None
    options: tuple[WarehouseOption, ...] = field(default=())

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RouteDecision:
        """Build from a ``/v1/route`` response body."""
        model = d.get("model") or {}
        return cls(d["order_id"], d["tenant"], d.get("warehouse_id"), bool(d["routable"]),
                   d.get("reason"), d.get("expected_cost"), d.get("expected_delivery_hours"),
                   bool(d["degraded"]), model.get("name"), model.get("version"),
                   tuple(WarehouseOption(**w) for w in d.get("warehouses", ())))


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ServiceError(502, f"service sent non-standard JSON ({name})")

    return json.loads(text, parse_constant=refuse)


class OmsClient:
    """Client of one service for one tenant (the API key decides the tenant).

    Args:
        base_url: Service URL, e.g. ``http://127.0.0.1:8080``.
        api_key: The tenant's API key.
        timeout: Seconds per request.
        retries: Extra attempts on connection errors and 502/503/504.
        transport: Optional httpx transport (tests, custom TLS).
    """

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0, retries: int = 2,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.retries = retries
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                  headers={"X-API-Key": api_key}, transport=transport)

    def __enter__(self) -> OmsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        for attempt in range(self.retries + 1):
            try:
                r = self._http.request(method, path, **kw)
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise ServiceError(0, f"service unreachable: {e}") from e
            else:
                if r.status_code not in RETRY_STATUS or attempt == self.retries:
                    break
            time.sleep(0.2 * 2 ** attempt)
        body = _strict_json(r.text) if r.content else None
        if r.status_code >= 400:
            raise ServiceError(r.status_code, (body or {}).get("detail", r.reason_phrase))
        return body

    def route(self, order: dict[str, Any]) -> RouteDecision:
        """Route one order (fields of ``POST /v1/route``)."""
        return RouteDecision.from_json(self._call("POST", "/v1/route", json=order))

    def route_batch(self, orders: list[dict[str, Any]]) -> list[RouteDecision]:
        """Route many orders in one call; decisions in request order."""
        body = self._call("POST", "/v1/route/batch", json={"orders": orders})
        return [RouteDecision.from_json(r) for r in body["results"]]

    def reroute(self, down: list[str], warehouses: list[dict[str, Any]],
                stock: list[dict[str, Any]], orders: list[dict[str, Any]]) -> dict[str, Any]:
        """Reassign open orders after ``down`` warehouses fail: ``{report, assignments}``."""
        return self._call("POST", "/v1/route/reroute", json={
            "down": down, "warehouses": warehouses, "stock": stock, "orders": orders})

    def order_volume_forecast(self, horizon: str = "7d") -> dict[str, Any]:
        """Latest order-volume forecast (``72h``, ``7d``, ...)."""
        return self._call("GET", "/v1/forecast/order-volume", params={"horizon": horizon})

    def sku_forecast(self, sku: str, horizon: str | None = None) -> dict[str, Any]:
        """Latest demand forecast of one SKU."""
        params = {"horizon": horizon} if horizon else None
        return self._call("GET", f"/v1/forecast/sku/{sku}", params=params)

    def churn_score(self, customer_id: str, features: dict[str, float]) -> dict[str, Any]:
        """Churn probability, segment and retention strategy for a feature vector."""
        return self._call("POST", "/v1/churn/score",
                          json={"customer_id": customer_id, "features": features})

    def customer(self, customer_id: str) -> dict[str, Any]:
        """A customer's latest batch scores (probability, segment, strategy, CLV)."""
        return self._call("GET", f"/v1/customers/{customer_id}")

    def ready(self) -> dict[str, Any]:
        """``/readyz``: loaded model versions and the degraded flag."""
        return self._call("GET", "/readyz")
