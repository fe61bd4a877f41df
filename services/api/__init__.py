"""The HTTP API for the people who work tickets (CONTRACT "HTTP API"; 000's merchant API, 004's
shared portal): FastAPI routers per resource in `routes/`, the pool and the current user in
`deps.py`, RFC 9457 errors in `problems.py`. `create_app(deps)` does no I/O: the composition
root (services.bootstrap) builds the deps, `run --components api` serves the app with uvicorn.
"""

from services.api.app import create_app
from services.api.deps import ApiDeps

__all__ = ["ApiDeps", "create_app"]
