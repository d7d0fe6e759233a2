"""Walking routes (need a loaded region): nearby, reach, a resource's reach, areas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from shapely.geometry import mapping

from geo_service._errors import InputError
from geo_service.api import coverage_views as cv
from geo_service.api.deps import AppState, Language, State, Viewer
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas.resources import (
    AreaCollection,
    AreaFeature,
    AreaLayerInfo,
    BandFeature,
    BandProperties,
    IndicatorCollection,
    ResourceReach,
)
from geo_service.api.views import GeoJSONResponse, as_json
from geo_service.config import ServiceSettings
from geo_service.i18n import msg

router = APIRouter(tags=["coverage"], route_class=StrictJSONRoute,
                   default_response_class=GeoJSONResponse)

Lat = Annotated[float, Query(ge=-90, le=90, description="latitude (degrees)")]
Lon = Annotated[float, Query(ge=-180, le=180, description="longitude (degrees)")]


# /nearby and /reach are async on purpose: they are short CPU-bound computations (a few ms)
# on data kept in memory, so running them on the event loop saves the thread-pool round
# trip and the GIL hand-offs that cost a quarter of their throughput under load. They never
# rebuild: after a registry edit the service's worker thread builds the next state while
# they answer from the current one (geo_service.service.registry_state).
@router.get("/nearby", response_model=cv.AnyNearby, responses=error_responses(401, 422))
async def nearby(state: State, viewer: Viewer, lat: Lat, lon: Lon,
           category: Annotated[str | None, Query(description="one or more, comma-separated")]
           = None,
           minutes: Annotated[float, Query(gt=0, description="at most NEARBY_MAX_MINUTES "
                                                             "(422 beyond)")] = 15) -> Response:
    """Resources reachable on foot within ``minutes``, sorted by walking time."""
    _check_minutes(state, minutes)
    return as_json(cv.nearby(state.walking, lat, lon, category=category, minutes=minutes,
                             staff=viewer is not None))


def _check_minutes(state: AppState, minutes: float) -> None:
    """Refuse more ``minutes`` than the service's ``NEARBY_MAX_MINUTES`` (422)."""
    cap = state.settings.nearby_max_minutes
    if minutes > cap:
        raise InputError(msg("at most {cap:g} minutes (the service's NEARBY_MAX_MINUTES)", cap=cap),
                         column="minutes", value=minutes)


def document_settings(schema: dict[str, Any], settings: ServiceSettings) -> None:
    """Put the configured limits into the OpenAPI ``schema`` (``/nearby``'s maximum
    ``minutes``), so that it states what the running service accepts."""
    for path in ("/nearby", "/isochrone"):
        for param in schema["paths"].get(path, {}).get("get", {}).get("parameters", []):
            if param["name"] == "minutes":
                param["schema"]["maximum"] = settings.nearby_max_minutes


@router.get("/reach", response_model=cv.AnyReach, responses=error_responses(401, 422))
async def reach(state: State, viewer: Viewer, lat: Lat, lon: Lon) -> Response:
    """Everything that serves this point: covering services and walkable resources."""
    return as_json(cv.reach(state.walking, lat, lon, staff=viewer is not None))


@router.get("/resources/{resource_id}/reach", response_model=ResourceReach,
            responses=error_responses(401, 404, 422))
def resource_reach(state: State, viewer: Viewer, resource_id: str) -> ResourceReach:
    """A service area, walking isochrones of a place, or a mobile-sales route's catchment."""
    return cv.resource_reach(state.walking, resource_id, minutes=state.settings.reach_minutes,
                             staff=viewer is not None)


@router.get("/isochrone", response_model=BandFeature, responses=error_responses(422))
def isochrone(state: State, lat: Lat, lon: Lon,
              minutes: Annotated[float, Query(gt=0, description="at most NEARBY_MAX_MINUTES "
                                                                 "(422 beyond)")]) -> BandFeature:
    """The area within ``minutes`` of walking of a point, as a ``walk`` service area of a
    resource placed there covers it (a preview before saving), with the people 65+ inside."""
    _check_minutes(state, minutes)
    band = state.walking.isochrone(lon, lat, minutes)
    return BandFeature(geometry=mapping(band["geometry"]) if band["geometry"] is not None
                       else None,
                       properties=BandProperties(minutes=band["minutes"],
                                                 pop_65plus=round(band["pop_65plus"], 1)))


@router.get("/areas", response_model=list[AreaLayerInfo])
def area_layers(state: State) -> list[AreaLayerInfo]:
    """The region's area layers: name, ASCII id (either names a layer below), areas."""
    return cv.area_layers(state.walking)


@router.get("/areas/{layer}", response_model=AreaCollection,
            responses=error_responses(401, 404, 422))
def areas(state: State, viewer: Viewer, layer: str) -> Response:
    """Per area and category: resources in it, services covering it, walkable 65+ share
    (``layer``: a layer's name or its id, e.g. 小学校区 or elementary; see ``GET /areas``)."""
    return as_json(cv.areas(state.walking, layer, staff=viewer is not None))


@router.get("/areas/{layer}/{area_id}/coverage", response_model=AreaFeature,
            responses=error_responses(401, 404, 422))
def area_coverage(state: State, viewer: Viewer, layer: str, area_id: str) -> AreaFeature:
    """The coverage of one area."""
    return cv.area(state.walking, layer, area_id, staff=viewer is not None)


@router.get("/difficulty/{layer}", response_model=IndicatorCollection,
            responses=error_responses(404, 422))
def difficulty(state: State, lang: Language, layer: str) -> Response:
    """The shopping-difficulty indicators (買い物環境マップ) per area of ``layer``; in a
    region without food stores, its areas and their people 65+ with every indicator null
    and a ``note`` saying why (in the language of ``Accept-Language``)."""
    return as_json(cv.difficulty(state.walking, layer, lang=lang))
