"""Per-tenant API keys (constant-time compare), the admin key and the request size limit."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from oms.tenancy import TENANT_PATTERN
from serving.errors import APIError, json_response

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="The tenant's API key.")
bearer = HTTPBearer(auto_error=False, description="The tenant's API key as a bearer token.")
admin_key_header = APIKeyHeader(name="X-Admin-Key", auto_error=False,
                                description="The admin key (reload only).")

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def match_key(presented: str, keys: dict[str, str]) -> str | None:
    """Tenant whose key equals ``presented``; every key is compared (constant time)."""
    found = None
    given = presented.encode()
    for tenant, key in keys.items():
        if hmac.compare_digest(given, key.encode()) and found is None:
            found = tenant
    return found


async def tenant_of(
    request: Request,
    x_api_key: Annotated[str | None, Depends(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    tenant: str | None = Query(None, pattern=TENANT_PATTERN.pattern,
                               description="Tenant to act for (must be the key's own)."),
) -> str:
    """The caller's tenant: 401 without a valid key, 403 when asking for another tenant.

    A coroutine on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a
    thread hop per request that costs more than the key check itself.
    """
    presented = x_api_key or (credentials.credentials if credentials else None)
    if not presented:
        raise APIError(401, "missing API key: send X-API-Key or Authorization: Bearer",
                       UNAUTHORIZED)
    own = match_key(presented, request.app.state.api_keys)
    if own is None:
        raise APIError(401, "invalid API key", UNAUTHORIZED)
    if tenant is not None and tenant != own:
        raise APIError(403, "this key may not act for another tenant")
    return own


async def require_admin(request: Request, key: str | None = Depends(admin_key_header)) -> None:
    """401 unless the admin key is presented (admin routes are off without one)."""
    admin = request.app.state.admin_key
    if not key:
        raise APIError(401, "missing admin key (X-Admin-Key)", UNAUTHORIZED)
    if not admin or not hmac.compare_digest(key.encode(), admin.encode()):
        raise APIError(403, "invalid admin key")


class BodyLimit:
    """ASGI middleware: 413 for bodies over the limit (declared or streamed).

    Batch routes (``/batch``, ``/reroute``) get the larger batch limit.
    """

    def __init__(self, app: Any, limit: int, batch_limit: int) -> None:
        self.app, self.limit, self.batch_limit = app, limit, batch_limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = self.batch_limit if path.endswith(("/batch", "/reroute")) else self.limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    return await self._reject(scope, receive, send, limit)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise APIError(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, limited, send)

    async def _reject(self, scope: dict, receive: Any, send: Any, limit: int) -> None:
        resp = json_response(413, {"detail": f"request body over {limit} bytes"})
        await resp(scope, receive, send)
