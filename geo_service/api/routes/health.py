"""``GET /health``: liveness and what is loaded."""

from __future__ import annotations

from fastapi import APIRouter

from geo_service import __version__
from geo_service.api.deps import State, Viewer
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas.resources import Health

router = APIRouter(tags=["health"], route_class=StrictJSONRoute)


@router.get("/health", response_model=Health, responses=error_responses(401))
def health(state: State, viewer: Viewer) -> Health:
    """Whether the service is up, its database backend, the loaded region, and how many
    resources the caller may see (the public: the public ones; staff: all)."""
    walking, staff = state.walking, viewer is not None
    # with a region loaded, the count is kept per registry state (no query per request)
    count = (walking.resource_count(staff=staff) if walking is not None
             else state.store.count(include_staff=staff))
    return Health(status="ok", version=__version__,
                  database="postgis" if state.store.postgis else "sqlite",
                  resources=count,
                  region=walking.name if walking is not None else None,
                  walk_nodes=walking.n_nodes if walking is not None else None)
