"""Prometheus metrics: requests and latency per route, loaded model versions, reloads."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0,
           2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("oms_serving_requests", "HTTP requests by route and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("oms_serving_request_seconds", "Request latency by route.",
                                 ["route", "method"], buckets=BUCKETS, registry=self.registry)
        self.model_info = Gauge("oms_serving_model_version_info",
                                "1 for the model version loaded per tenant and family.",
                                ["tenant", "family", "name", "version"], registry=self.registry)
        self.reloads = Counter("oms_serving_model_reloads", "Model loads by outcome.",
                               ["tenant", "family", "outcome"], registry=self.registry)
        self.route_batch = Histogram(
            "oms_serving_route_batch_orders", "Orders per routing call of the one-order fast "
            "lane (requests waiting together are routed together).",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.loader_ready = Gauge(
            "oms_serving_loader_ready", "1 when the router loader process (serving.loader) is "
            "warm: new router versions load there, not in the serving process.",
            registry=self.registry)
        self.loader_loads = Counter(
            "oms_serving_loader_loads", "Router versions loaded in the loader process (the "
            "serving process only unpickled their fast path).", registry=self.registry)
        self.degraded = Gauge("oms_serving_degraded", "1 when a tenant's router is the fallback.",
                              ["tenant"], registry=self.registry)

    def on_reload(self, slot: Any, outcome: str) -> None:
        """Count a model load (``outcome`` is ``ok`` or ``error``)."""
        self.reloads.labels(slot.tenant, slot.family, outcome).inc()
        if outcome == "ok" and type(slot.model).__name__ == "LoadedElsewhere":
            self.loader_loads.inc()

    def publish(self, store: Any) -> None:
        """Set the version-info gauge and degraded flags from the store's slots."""
        self.model_info.clear()
        for slot in store.slots.values():
            if slot.version is not None:
                self.model_info.labels(slot.tenant, slot.family, slot.name, slot.version).set(1)
        for (tenant, family), slot in store.slots.items():
            if family == "warehouse_router":
                self.degraded.labels(tenant).set(0 if slot.model is not None else 1)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request by route template (not raw path)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self._children: dict[tuple[str, ...], Any] = {}  # labelled series, looked up once

    def _child(self, family: Any, *labels: str) -> Any:
        key = (family._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self._child(self.metrics.latency, name, method).observe(time.perf_counter() - start)
            self._child(self.metrics.requests, name, method, str(status[0])).inc()
