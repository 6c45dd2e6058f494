"""The hot path of ``POST /v1/route``: one function, reached without FastAPI's per-request layers.

:func:`route_json` is the whole routing answer (the champion or the degraded fallback, then
the response bytes); the FastAPI route in ``serving.api`` calls it, and so does
:class:`RouteFastLane`, an ASGI middleware that answers a *well-formed, authenticated*
one-order request directly: key check (constant time), ``model_validate_json`` on the raw
body (pydantic-core parses and validates in one pass), :func:`route_json`, send. Measured in
process (``bench/serve_handler.py``), FastAPI's dependency solving, its sync-dependency
thread hop, telemetry and exception layers cost about 2 ms of CPU per request, four times
the routing itself; at 300 requests/s on a shared 2-core machine that is what fills the tail.

Anything else — no or a wrong key, a ``?tenant=`` query, a body that does not validate, an
unknown warehouse, a non-JSON content type — is handed to the FastAPI app unchanged (the
body replayed), so every error response, status and OpenAPI schema is the FastAPI route's
own: the fast lane only answers what the route would answer with 200, and with the same
bytes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from serving.errors import APIError, json_response
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
        try:
            payload = route_json(self.state, tenant, RouteRequest.model_validate_json(body))
        except (ValidationError, APIError):  # the FastAPI route answers with its own 4xx
            return await self.app(scope, _replay(body, receive), send)
        scope["route"] = ROUTE  # what the metrics label the request with, as FastAPI would
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(payload)).encode()),
                                *JSON_HEADERS]})
        await send({"type": "http.response.body", "body": payload})


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
