"""The FastAPI application: champions per tenant, routing, forecasts, churn, health, metrics.

``create_app(settings)`` builds the app; its ``lifespan`` loads every tenant's champions
(Starlette 1.0 has no ``on_startup``), starts the alias poller and stops it on shutdown.
Responses are serialised by pydantic (NaN/Infinity become null), so every body is strict
JSON. The service imports ``oms``, ``envs`` and the model families' pyfunc/fast-path code,
never ``pipelines`` or ``flows``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import Response

from oms.settings import Settings
from oms.tenancy import validate_tenant
from serving import api, inventory_api, risk_api
from serving.errors import install
from serving.fastlane import RouteFastLane
from serving.metrics import Metrics, MetricsMiddleware
from serving.outputs import OutputCache
from serving.registry import FAMILIES, ROUTER, ModelStore
from serving.security import BodyLimit

log = logging.getLogger(__name__)


def as_json(model: BaseModel, status: int = 200) -> Response:
    """Serialise a response model (pydantic, strict JSON) without a second pass."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


async def _poll(app: FastAPI, every: float) -> None:
    """Re-read the champion aliases every ``every`` seconds; swap what moved."""
    while True:
        await asyncio.sleep(every)
        try:
            await refresh(app)
        except Exception as e:  # noqa: BLE001 — a registry hiccup must not stop the poller
            log.warning("alias poll failed: %s", type(e).__name__)


async def refresh(app: FastAPI, force: bool = False) -> list[str]:
    """Refresh the store in a worker thread (loading never blocks the event loop long).

    The fallbacks of the swapped routers are built in that thread too; the event loop only
    assigns them. After a swap the new objects are frozen out of the collector's way.
    """
    store: ModelStore = app.state.store

    def work() -> tuple[list[str], dict[str, Any]]:
        if store.loader is not None:
            app.state.metrics.loader_ready.set(int(store.loader.ready()))
        changes = store.refresh(force)
        if not changes and not force:
            return changes, {}
        fallbacks = {}
        for tenant in app.state.tenants:
            slot = store.get(tenant, ROUTER)
            if slot is not None:
                fallbacks[tenant] = app.state.make_fallback(tenant, slot.fast)
        if app.state.frozen:
            gc.freeze()  # the new version's objects join the frozen start-up heap
        return changes, fallbacks

    changes, fallbacks = await asyncio.to_thread(work)
    if not changes and not force:
        return changes  # nothing moved: no work on the event loop (polls are frequent)
    app.state.metrics.publish(store)
    app.state.fallbacks.update(fallbacks)
    return changes


def tune_runtime() -> None:
    """After start-up: keep the collector off the long-lived heap, hand the GIL back sooner.

    Models, torch and MLflow leave millions of long-lived objects; without ``gc.freeze`` each
    full collection walks all of them (tens of ms on the event loop: a latency spike). The
    young-generation threshold is raised so the many short-lived objects of requests are
    collected in fewer, still short passes. Work in the refresh thread (the alias poll, one
    SQL query; a load in process when the loader process cannot do it) holds the GIL while
    in Python; a 1 ms switch interval (default 5 ms) bounds how long a request waits behind
    it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    sys.setswitchinterval(0.001)


def create_app(settings: Settings, families: tuple[str, ...] = FAMILIES,
               poll_seconds: float | None = None, load_out_of_process: bool = True) -> FastAPI:
    """Build the service for the tenants that have an API key in ``settings``.

    Args:
        settings: Settings with ``serving_api_keys`` (tenant → key) and the stores.
        families: Model families to load per tenant.
        poll_seconds: Alias poll interval (default ``settings.serving_poll_seconds``;
            0 disables polling, reload then only via ``POST /admin/reload``).
        load_out_of_process: Load new router versions in a helper process
            (``serving.loader``); the champions at start-up always load in process.
    """
    keys = {validate_tenant(t): k for t, k in settings.serving_api_keys.items()}
    if not keys or any(len(k) < 16 for k in keys.values()):
        raise ValueError("set OMS_ML_SERVING_API_KEYS to a JSON object tenant -> key "
                         "(each key at least 16 characters)")
    every = settings.serving_poll_seconds if poll_seconds is None else poll_seconds

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await refresh(app, force=True)
        for tenant in app.state.tenants:
            app.state.fallbacks.setdefault(tenant, app.state.make_fallback(tenant, None))
        tune_runtime()
        app.state.frozen = True
        store: ModelStore = app.state.store
        if load_out_of_process and ROUTER in families:
            from serving.loader import LoaderProcess

            store.loader = LoaderProcess(store.tracking_uri)
            store.loader.start([f"models:/{s.name}/{s.version}" for s in store.slots.values()
                                if s.family == ROUTER and s.version is not None])
        task = asyncio.create_task(_poll(app, every)) if every > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if store.loader is not None:
            store.loader.close()

    app = FastAPI(title="oms-ml serving", version="1.0.0", lifespan=lifespan,
                  description="Routing, forecasts and churn for the thin OMS core. Every /v1 "
                              "route needs the tenant's API key (X-API-Key or Bearer).")
    _state(app, settings, keys, families)
    install(app)
    app.include_router(api.router)
    app.include_router(inventory_api.router)
    app.include_router(risk_api.router)
    app.add_middleware(RouteFastLane, state=app.state)
    app.add_middleware(BodyLimit, limit=settings.serving_max_body_bytes,
                       batch_limit=settings.serving_max_batch_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _state(app: FastAPI, settings: Settings, keys: dict[str, str],
           families: tuple[str, ...]) -> None:
    from serving.routing import fallback_router

    app.state.settings = settings
    app.state.api_keys = keys
    app.state.admin_key = settings.serving_admin_key
    app.state.tenants = sorted(keys)
    app.state.metrics = metrics = Metrics()
    app.state.store = store = ModelStore(settings.tracking_uri, app.state.tenants, families)
    store.on_reload = metrics.on_reload
    app.state.outputs = OutputCache(settings.outputs, settings.tenant_id)
    app.state.fallbacks = {}
    app.state.frozen = False

    def make_fallback(tenant: str, last: Any) -> Any:
        return fallback_router(settings.lake, tenant, last)

    app.state.make_fallback = make_fallback
