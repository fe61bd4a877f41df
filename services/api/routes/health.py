"""/healthz (the process answers) and /readyz (the database and the broker answer too)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.api import models as m
from services.api.deps import Deps
from services.store.queries import Q

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=m.Health)
def healthz() -> m.Health:
    return m.Health(status="ok")


@router.get("/readyz", response_model=m.Health, responses={503: {"model": m.Health}})
def readyz(deps: Deps):
    checks = {"database": _database(deps), "broker": bool(deps.publisher.ready())}
    ok = all(checks.values())
    return JSONResponse(
        m.Health(status="ok" if ok else "unavailable", checks=checks).model_dump(), status_code=200 if ok else 503
    )


def _database(deps) -> bool:
    try:
        with deps.pool.connection(timeout=2) as conn:
            conn.execute(Q["ping"])
        return True
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
