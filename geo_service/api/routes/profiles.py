"""Area profiles for councils and planners: how far the covering services reach.

``GET /profiles/{layer}``: per area of a boundary layer and per category, the resources
located in it and the services covering it — with names — and how many of the area's
people 65+ those services reach (``covered`` / ``partly`` / ``none``; see
:mod:`geo_service.service.service_coverage`). The council page's coverage table and profile read
it; public by default, staff see staff-only resources too.
"""

from __future__ import annotations

from fastapi import APIRouter

from geo_service.api.deps import State, Viewer
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas.profiles import (
    AreaProfile,
    CategoryProfile,
    ProfileCollection,
)
from geo_service.i18n import msg
from geo_service.registry.store import NotFoundError
from geo_service.service.service_coverage import area_profiles

router = APIRouter(tags=["coverage"], route_class=StrictJSONRoute)


@router.get("/profiles/{layer}", response_model=ProfileCollection,
            responses=error_responses(401, 404, 422))
def profiles(state: State, viewer: Viewer, layer: str) -> ProfileCollection:
    """Per area of ``layer`` (name or id, see ``GET /areas``) and category: resources in it,
    covering services with the share of the area's people 65+ each reaches, and whether
    they reach everyone (covered), some (partly) or no one (none)."""
    walking = state.walking
    if walking is None:
        raise NotFoundError("area layer", "", msg("no region is loaded"))
    try:
        name = walking.area_layer(layer).name
        rows = area_profiles(walking, name, staff=viewer is not None)
    except LookupError as e:
        raise NotFoundError("area layer", "", e.args[0]) from None
    return ProfileCollection(
        layer=name, threshold_m=walking.threshold_m,
        areas=[AreaProfile(area_id=r["area_id"], name=r["name"],
                           pop_65plus=round(r["pop_65plus"], 1),
                           categories={k: CategoryProfile(**v)
                                       for k, v in r["categories"].items()})
               for r in rows])
