"""Error responses: 4xx with a precise message naming the field; never a trace or a path."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error with its status code and a JSON-safe ``detail``."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status, self.detail, self.headers = status, detail, headers


def unprocessable(loc: list[Any], msg: str) -> NoReturn:
    """Raise a 422 for one field."""
    raise APIError(422, [{"loc": [str(x) if not isinstance(x, int) else x for x in loc],
                          "msg": msg, "type": "value_error"}])


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """Strict JSON (``allow_nan=False``) response."""
    import json

    return Response(json.dumps(body, allow_nan=False, separators=(",", ":")), status_code=status,
                    media_type="application/json", headers=headers)


def _items(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors without the echoed input (it may hold NaN or secrets)."""
    out = []
    for e in errors:
        loc = [x if isinstance(x, int) else str(x) for x in e.get("loc", ())]
        msg = str(e.get("msg", "invalid value"))
        if e.get("type") == "json_invalid":
            msg = f"malformed JSON: {e.get('ctx', {}).get('error', 'cannot parse the body')}"
        out.append({"loc": loc, "msg": msg, "type": str(e.get("type", "value_error"))})
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a clean JSON 4xx (or a bare 500)."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return json_response(422, {"detail": _items(list(exc.errors()))})

    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError) -> Response:
        return json_response(exc.status, {"detail": exc.detail}, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return json_response(exc.status_code, {"detail": detail},
                             getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # logged with the trace on the server; the client sees no trace, path or type
        log.exception("unhandled error on %s", request.url.path)
        return json_response(500, {"detail": "internal error"})
