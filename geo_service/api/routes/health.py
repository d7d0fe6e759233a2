"""``GET /health``: liveness and what is loaded."""

from __future__ import annotations

from fastapi import APIRouter

from geo_service import __version__
from geo_service.api.deps import State
from geo_service.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(state: State) -> Health:
    """Whether the service is up, its database backend, and the loaded region."""
    access = state.access
    # with a region loaded, the count is kept per registry state (no query per request)
    count = (access.cached(("count",), state.store.count) if access is not None
             else state.store.count())
    return Health(status="ok", version=__version__,
                  database="postgis" if state.store.postgis else "sqlite",
                  resources=count,
                  region=access.name if access is not None else None,
                  walk_nodes=access.n_nodes if access is not None else None)
