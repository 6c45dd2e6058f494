"""The hot path of ``POST /v1/route``: one function, reached without FastAPI's per-request layers.

:func:`route_json` is the whole routing answer (the champion or the degraded fallback, then
the response bytes); the FastAPI route in ``serving.api`` calls it, and so does
:class:`RouteFastLane`, an ASGI middleware that answers a *well-formed, authenticated*
one-order request directly: key check (constant time), ``model_validate_json`` on the raw
body (pydantic-core parses and validates in one pass), :func:`route_json`, send. Measured in
process (``bench/serve_handler.py``), FastAPI's dependency solving, its sync-dependency
thread hop, telemetry and exception layers cost about 2 ms of CPU per request, four times
the routing itself; at 300 requests/s on a shared 2-core machine that is what fills the tail.

Requests that arrive together are routed together (:class:`RouteBatcher`): a valid request
is queued and the queue is flushed by a callback scheduled behind the requests the event loop
has already read, so the batch is exactly the requests that were waiting anyway — no timer,
no added delay. One ``FastRouter.route`` call for k orders costs about what one order costs
(observations, masks and the Q-network are vectorised: 240 µs for 10 orders against 140 µs for
one, ``bench/serve_handler.py``); each request still gets its own response bytes, identical to
routing it alone (``tests/serving/test_service.py``). A batch that fails (an unknown
warehouse in one order) is routed order by order, so each request gets its own answer.

A request with a key but a bad body gets its 422 here too, built by the same code as the
FastAPI route's handlers (``serving.errors``) — but only where that answer is certainly the
route's own: malformed JSON (FastAPI's ``json.loads`` error, position and message), a JSON
object failing validation (pydantic's errors, under ``body``), an unknown warehouse (the
routing ``APIError``). Under a flood of bad requests this skips FastAPI's per-request layers
for them (``bench/serve.py`` phase 4). Anything else — no or a wrong key, a ``?tenant=``
query, an empty body, JSON that is not an object, a non-JSON content type — is handed to the
FastAPI app unchanged (the body replayed), so every other response, status and the OpenAPI
schema are the FastAPI route's own; ``tests/serving`` compares both lanes byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from serving.errors import APIError, _items, json_response
from serving.registry import ROUTER
from serving.routing import decide, responses
from serving.schemas import RouteRequest
from serving.security import match_key

PATH = "/v1/route"
ROUTE = SimpleNamespace(path=PATH)
JSON_HEADERS = [(b"content-type", b"application/json")]


def route_json(state: Any, tenant: str, body: RouteRequest) -> bytes:
    """Route one order for ``tenant`` and return the response body (strict JSON bytes)."""
    d, net, degraded, ref = decide(state.store.get(tenant, ROUTER), state.fallbacks[tenant],
                                   [body], field="")
    return responses([body], d, net, tenant, degraded, ref)[0].model_dump_json().encode()


def route_many(state: Any, tenant: str, bodies: list[RouteRequest]) -> list[bytes]:
    """Route several orders of ``tenant`` in one call; one response body per order."""
    d, net, degraded, ref = decide(state.store.get(tenant, ROUTER), state.fallbacks[tenant],
                                   bodies, field="")
    return [r.model_dump_json().encode()
            for r in responses(bodies, d, net, tenant, degraded, ref)]


class RouteBatcher:
    """Routes the one-order requests that are waiting on the event loop together.

    Args:
        state: The app's ``state`` (store, fallbacks).
    """

    def __init__(self, state: Any) -> None:
        self.state = state
        self._pending: list[tuple[str, RouteRequest, asyncio.Future]] = []
        self._scheduled = False
        metrics = getattr(state, "metrics", None)
        self._observe = metrics.route_batch.observe if metrics is not None else None

    def route(self, tenant: str, body: RouteRequest) -> asyncio.Future:
        """Queue one order; the future resolves to its response bytes (or its APIError)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((tenant, body, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)  # runs after the request tasks already ready to run
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        groups: dict[str, list[tuple[RouteRequest, asyncio.Future]]] = {}
        for tenant, body, fut in pending:
            if not fut.done():  # a client that went away cancels its future
                groups.setdefault(tenant, []).append((body, fut))
        for tenant, items in groups.items():
            if self._observe is not None:
                self._observe(len(items))
            if len(items) > 1:
                try:
                    payloads = route_many(self.state, tenant, [b for b, _ in items])
                except Exception:  # noqa: BLE001 — one bad order: answer each on its own
                    pass
                else:
                    for (_, fut), payload in zip(items, payloads, strict=True):
                        fut.set_result(payload)
                    continue
            for body, fut in items:
                try:
                    fut.set_result(route_json(self.state, tenant, body))
                except Exception as e:  # noqa: BLE001 — delivered to that request's task
                    fut.set_exception(e)


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key as ``tenant_of`` reads it: ``X-API-Key`` first, else a Bearer token."""
    api_key = bearer = None
    for name, value in headers:
        if name == b"x-api-key" and api_key is None:
            api_key = value
        elif name == b"authorization" and bearer is None:
            bearer = value
    if api_key:
        return api_key.decode("latin-1")
    if bearer:
        scheme, _, token = bearer.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token:
            return token
    return None


def _json_content(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            v = value.split(b";", 1)[0].strip().lower()
            return v == b"application/json" or v.endswith(b"+json")
    return False


class RouteFastLane:
    """ASGI middleware answering valid, authenticated ``POST /v1/route`` calls directly.

    Args:
        app: The rest of the ASGI stack (the FastAPI app).
        state: The app's ``state`` (store, fallbacks, API keys).
    """

    def __init__(self, app: Any, state: Any) -> None:
        self.app, self.state = app, state
        self.batcher = state.batcher = RouteBatcher(state)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """ASGI entry point."""
        if (scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST"
                or scope.get("query_string") or not _json_content(scope["headers"])):
            return await self.app(scope, receive, send)
        presented = presented_key(scope["headers"])
        tenant = match_key(presented, self.state.api_keys) if presented else None
        if tenant is None:
            return await self.app(scope, receive, send)
        try:
            body = await _read(receive)
        except APIError as e:  # over the size limit while streaming
            return await json_response(e.status, {"detail": e.detail})(scope, receive, send)
        scope["route"] = ROUTE  # what the metrics label the request with, as FastAPI would
        try:
            payload = await self.batcher.route(tenant, RouteRequest.model_validate_json(body))
        except ValidationError as e:
            detail = validation_detail(body, e)
            if detail is None:  # not certain to be the route's answer: let the route answer
                del scope["route"]
                return await self.app(scope, _replay(body, receive), send)
            return await json_response(422, {"detail": detail})(scope, receive, send)
        except APIError as e:  # the route's own handler answers exactly this
            return await json_response(e.status, {"detail": e.detail}, e.headers)(
                scope, receive, send)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(payload)).encode()),
                                *JSON_HEADERS]})
        await send({"type": "http.response.body", "body": payload})


def validation_detail(body: bytes, error: ValidationError) -> list[dict] | None:
    """The ``detail`` of the FastAPI route's 422 for this body, or ``None`` if not certain.

    FastAPI parses a JSON body with ``json.loads`` (a decode error is a 422 at its position)
    and validates the resulting object (errors under ``body``); both are reproduced here for a
    non-empty body that is malformed or is a JSON object. A body pydantic calls invalid JSON
    but ``json.loads`` accepts, or any other shape, is left to the route.
    """
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as e:
        return _items([{"type": "json_invalid", "loc": ("body", e.pos),
                        "msg": "JSON decode error", "ctx": {"error": e.msg}}])
    except Exception:  # noqa: BLE001 — e.g. undecodable bytes: FastAPI's 400, not ours
        return None
    errors = error.errors(include_input=False)
    if not isinstance(parsed, dict) or any(x.get("type") == "json_invalid" for x in errors):
        return None
    return _items([{**x, "loc": ("body", *x.get("loc", ()))} for x in errors])


async def _read(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands out the already-read body once, then the real channel."""
    done = False

    async def again() -> dict:
        nonlocal done
        if done:
            return await receive()
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again
