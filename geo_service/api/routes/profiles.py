"""Area profiles for councils and planners: how far the covering services reach.

``GET /profiles/{layer}``: per area of a boundary layer and per category, the resources
located in it and the services covering it — with names — and how many of the area's
people 65+ those services reach (``covered`` / ``partly`` / ``none``; see
:mod:`geo_service.service.service_coverage`). The council page's coverage table and profile read
it; public by default, staff see staff-only resources too.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from geo_service.api.deps import State, Viewer
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.registry.store import NotFoundError
from geo_service.service.service_coverage import area_profiles

router = APIRouter(tags=["coverage"], route_class=StrictJSONRoute)


class NamedResource(BaseModel):
    """A resource located in the area."""

    id: str
    name: str


class CoveringService(BaseModel):
    """A service whose service area covers (part of) the area."""

    id: str
    name: str
    share_65plus: float | None = Field(
        description="share of the area's people 65+ inside the service's area "
                    "(null: no one 65+ lives in the area)")


class CategoryProfile(BaseModel):
    """One category in one area."""

    label: str
    located: list[NamedResource]
    covering: list[CoveringService]
    share_65plus_covered: float | None = Field(
        description="share of the area's people 65+ inside at least one covering service")
    status: Literal["covered", "partly", "none"] = Field(
        description="covered: the covering services reach everyone 65+ in the area; "
                    "partly: a covering service exists but reaches fewer; none: no service "
                    "of the category covers the area")
    share_65plus_within_walk: float | None = Field(
        description="share of the area's people 65+ within the walking threshold of a "
                    "located resource of the category")


class AreaProfile(BaseModel):
    """One area."""

    area_id: str
    name: str
    pop_65plus: float
    categories: dict[str, CategoryProfile]


class ProfileCollection(BaseModel):
    """Every area of a layer."""

    layer: str
    threshold_m: float
    areas: list[AreaProfile]


@router.get("/profiles/{layer}", response_model=ProfileCollection,
            responses=error_responses(401, 404, 422))
def profiles(state: State, viewer: Viewer, layer: str) -> ProfileCollection:
    """Per area of ``layer`` (name or id, see ``GET /areas``) and category: resources in it,
    covering services with the share of the area's people 65+ each reaches, and whether
    they reach everyone (covered), some (partly) or no one (none)."""
    walking = state.walking
    if walking is None:
        raise NotFoundError("area layer", "", "no region is loaded")
    try:
        name = walking.area_layer(layer).name
        rows = area_profiles(walking, name, staff=viewer is not None)
    except LookupError as e:
        raise NotFoundError("area layer", "", str(e.args[0])) from None
    return ProfileCollection(
        layer=name, threshold_m=walking.threshold_m,
        areas=[AreaProfile(area_id=r["area_id"], name=r["name"],
                           pop_65plus=round(r["pop_65plus"], 1),
                           categories={k: CategoryProfile(**v)
                                       for k, v in r["categories"].items()})
               for r in rows])
