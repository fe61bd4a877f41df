"""RFC 9457 problem details: every error of the API is `application/problem+json`
{type, title, status, detail}, with `errors` for a bad body and `reason` for a refused command."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ProblemModel(BaseModel):
    """What an error response carries (RFC 9457), for the OpenAPI document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    reason: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, reason: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.reason, self.headers = status, detail, reason, headers


def problem_response(status: int, detail: str | None, headers: dict | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry of these error codes."""
    return {
        c: {"model": ProblemModel, "content": {MEDIA_TYPE: {}}, "description": TITLES.get(c, "Error")} for c in codes
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, e: Problem):
        return problem_response(e.status, e.detail, e.headers, reason=e.reason)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError):
        errors = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))[:300], "type": err.get("type")}
            for err in e.errors()[:20]
        ]  # never the input itself: it may be customer text
        return problem_response(422, "the request does not match the schema", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        headers = getattr(e, "headers", None)
        if e.status_code == 405:  # Starlette names only the first matching route's methods
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(app, request))}
        return problem_response(e.status_code, str(e.detail), headers)


def _allowed(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    methods.discard("HEAD")
    return sorted(methods)
