"""What every route depends on: the app's deps, a pooled connection, and the calling user
(authenticated by bearer token, rate-limited, with the role checks of the contract)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.amqp.topology import Topology
from services.api.ops import RateLimiter, RequestMetrics, retry_after
from services.api.problems import Problem
from services.core.clock import Clock
from services.core.lifecycle import Lifecycle
from services.store import users
from services.store.users import User


@dataclass
class ApiDeps:
    """Everything the app needs, built by the composition root (services.bootstrap.build_api)."""

    pool: Any  # psycopg_pool.ConnectionPool
    publisher: Any  # services.amqp.publisher.ConfirmedPublisher, or anything with publish/ready/close
    lifecycle: Lifecycle  # the core, for the quick pre-check of a command (never the authority)
    topology: Topology
    clock: Clock
    normalize_language: Callable[[str], str]
    metrics: RequestMetrics | None = None
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(rate=20.0, burst=100))
    builtin_templates: Callable[[], list[dict]] | None = None
    cors_origins: tuple[str, ...] = ()


def get_deps(request: Request) -> ApiDeps:
    return request.app.state.deps


def refuse_nul(request: Request) -> None:
    """A NUL in a path or query parameter is refused (PostgreSQL text cannot hold it): 422."""
    for value in (*request.path_params.values(), *request.query_params.values()):
        if isinstance(value, str) and "\x00" in value:
            raise Problem(422, "parameters must not contain NUL characters")


def get_conn(deps: Annotated[ApiDeps, Depends(get_deps)]) -> Iterator[Any]:
    """A pooled connection for one request; reads only, so it is rolled back (pool) after."""
    with deps.pool.connection() as conn:
        yield conn


_bearer = HTTPBearer(auto_error=False, description="a token printed by `ticketflow users add`")


def current_user(
    request: Request,
    deps: Annotated[ApiDeps, Depends(get_deps)],
    conn: Annotated[Any, Depends(get_conn)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Problem(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    user = users.authenticate(conn, creds.credentials)
    conn.rollback()
    if user is None:
        raise Problem(
            401, "the token is not valid (unknown, revoked or malformed)", headers={"WWW-Authenticate": "Bearer"}
        )
    wait = deps.rate_limiter.take(user.id)
    if wait:
        raise Problem(429, "too many requests for this token", headers={"Retry-After": retry_after(wait)})
    request.state.user_id = user.id
    return user


def require(*roles: str):
    """A dependency admitting only these roles (403 otherwise)."""

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise Problem(403, f"role {user.role!r} may not do this (needs {' or '.join(roles)})")
        return user

    return check


Conn = Annotated[Any, Depends(get_conn)]
Deps = Annotated[ApiDeps, Depends(get_deps)]
AnyUser = Annotated[User, Depends(current_user)]
Commander = Annotated[User, Depends(require("owner", "agent"))]
Owner = Annotated[User, Depends(require("owner"))]
