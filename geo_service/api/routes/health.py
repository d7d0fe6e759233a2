"""``GET /health``: liveness and what is loaded."""

from __future__ import annotations

from fastapi import APIRouter

from geo_service import __version__
from geo_service.api.deps import State
from geo_service.api.errors import StrictJSONRoute
from geo_service.api.schemas import Health

router = APIRouter(tags=["health"], route_class=StrictJSONRoute)


@router.get("/health", response_model=Health)
def health(state: State) -> Health:
    """Whether the service is up, its database backend, and the loaded region."""
    walking = state.walking
    # with a region loaded, the count is kept per registry state (no query per request)
    count = walking.resource_count() if walking is not None else state.store.count()
    return Health(status="ok", version=__version__,
                  database="postgis" if state.store.postgis else "sqlite",
                  resources=count,
                  region=walking.name if walking is not None else None,
                  walk_nodes=walking.n_nodes if walking is not None else None)
