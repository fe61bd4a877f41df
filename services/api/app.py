"""The FastAPI application: routers, problem+json errors, request metrics and access logs, CORS.

`create_app(deps)` only assembles: no connection is opened here, so importing or building the app
in a test costs nothing and every adapter comes from the caller (services.bootstrap in production).
"""

from __future__ import annotations

import time

from fastapi import Depends, FastAPI, Request

from services.api import problems
from services.api.deps import ApiDeps, refuse_nul
from services.api.routes import commands, exports, health, kpis, templates, tickets
from services.logs import log

TITLE = "ticketflow HTTP API"
VERSION = "1.0.0"
DESCRIPTION = (
    "For the people who work the tickets (seed 000's merchant API, 004's shared portal). Every request but "
    "/healthz, /readyz and /openapi.json needs `Authorization: Bearer <token>` from `ticketflow users add`. "
    "Commands answer 202 and become inbound CloudEvents on `<ns>.in`; errors are RFC 9457 problem+json."
)


def create_app(deps: ApiDeps) -> FastAPI:
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # operationId = the handler name
        dependencies=[Depends(refuse_nul)],
    )
    app.state.deps = deps
    problems.install(app)
    for r in (health.router, tickets.router, commands.router, templates.router, kpis.router, exports.router):
        app.include_router(r)
    if deps.cors_origins:  # off unless an operator names the origins (TICKETFLOW_API_CORS_ORIGINS)
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(deps.cors_origins),
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.middleware("http")
    async def observe(request: Request, call_next):
        """Count by route template and code, and log one line without body, query or token."""
        started = time.perf_counter()
        code = 500
        try:
            response = await call_next(request)
            code = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", None) or "unmatched"
            if deps.metrics is not None:
                deps.metrics.count(route, code)
            log.info(
                "api.request",
                method=request.method,
                route=route,
                status=code,
                ms=round((time.perf_counter() - started) * 1000, 2),
                user_id=getattr(request.state, "user_id", None),
            )

    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, with every error response declared as what it is: problem+json only."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for ops in doc["paths"].values():
            for op in ops.values():
                for resp in op.get("responses", {}).values():
                    content = resp.get("content", {})
                    if problems.MEDIA_TYPE in content:
                        resp["content"] = {problems.MEDIA_TYPE: content.get("application/json", {})}
        app.openapi_schema = doc
    return app.openapi_schema
