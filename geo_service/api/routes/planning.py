"""Planning tools (issue 10): the gap ranking, facility siting and what-if scenarios.

The numbers come from :mod:`geo_service.planning.answers` (which calls the cores: gaps, siting,
scenarios) as typed answers, which are also the routes' response models; the routes only
check who asks.

- ``GET /gaps/{layer}``: public, staff-only resources counted for staff (as ``/profiles``);
- ``GET /siting``: staff only (a planning tool; bounded: k ≤ 20, a grid of at least 100 m,
  at most 2,000 candidates, 5 s per exact solve);
- ``GET /scenarios``, ``GET /scenarios/{name}``: public (the region's stores and the saved
  scenarios, no registry data); ``POST /scenarios`` and ``DELETE /scenarios/{name}``: staff.
  Scenarios are saved in ``scenarios/<region key>/`` of the service's data directory; the
  baseline is never modified.
- ``GET /karte/{layer}/{area_id}``, ``GET /booklet/{layer}/{area_id}``: an area's 地域カルテ
  and 生活便利帳 as printable HTML pages (:mod:`geo_service.reports.karte_render`): public data,
  everything for staff.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from geo_service.api.deps import AppState, Language, Staff, State, Viewer
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas.planning import ScenarioIn
from geo_service.i18n import msg
from geo_service.layers import FOOD_STORE_CATEGORY
from geo_service.planning import answers as planning
from geo_service.planning.answer_types import (
    GapRanking,
    ScenarioAnswer,
    ScenarioList,
    SitingAnswer,
)
from geo_service.registry.store import NotFoundError
from geo_service.reports import karte_render
from geo_service.service.walking import WalkingService

router = APIRouter(tags=["planning"], route_class=StrictJSONRoute)


def _walking(state: AppState) -> WalkingService:
    if state.walking is None:
        raise NotFoundError("region", "", msg("no region is loaded"))
    return state.walking


# ------------------------------------------------------------------------------ gaps


@router.get("/gaps/{layer}", response_model=GapRanking,
            responses=error_responses(401, 404, 422))
def gaps(state: State, viewer: Viewer, lang: Language, layer: str,
         need: Annotated[str, Query(max_length=100, description="a category people walk to "
                                    "(food_store / 食料品店, salon …)")] = FOOD_STORE_CATEGORY,
         threshold: Annotated[float | None, Query(gt=0, le=5000, description="walk counted "
                                                  "as within range (m); default the need's")]
         = None,
         alternatives: Annotated[str | None, Query(
             max_length=500, description="comma-separated alternative categories; 'none' "
             "for the walk alone; default the need's")] = None) -> GapRanking:
    """Per area of ``layer``: people 65+ beyond a walk to ``need`` and covered by no
    alternative (移動販売, 配食・宅配), ranked by count and share, with the reasons
    (``geo-service gaps``; no bus feed is read here). Notes and reasons in the language of
    ``Accept-Language`` (Japanese unless English is preferred)."""
    walking = _walking(state)
    alts = None
    if alternatives is not None:
        alts = [] if alternatives.strip() == "none" else [
            a.strip() for a in alternatives.split(",") if a.strip()]
    try:
        answer = planning.gap_ranking(walking, layer, need, staff=viewer is not None,
                                      threshold_m=threshold, alternatives=alts, lang=lang)
    except LookupError as e:
        raise NotFoundError("area layer", "", e.args[0]) from None
    return answer


# ------------------------------------------------------------------------------ siting


@router.get("/siting", response_model=SitingAnswer, responses=error_responses(401, 422))
def siting(state: State, user: Staff, lang: Language,
           need: Annotated[str, Query(max_length=100, description="the category to site")],
           k: Annotated[int, Query(ge=1, le=planning.MAX_K, description="new sites")] = 5,
           candidates: Annotated[str, Query(max_length=120, description="grid:METRES (at "
                                            "least 100) or registry:CATEGORY")] = "grid:250",
           target_share: Annotated[float | None, Query(gt=0, le=1, description="fewest "
                                                       "sites reaching this share instead")]
           = None,
           curve: Annotated[bool, Query(description="also the best coverage for 1 … k")]
           = True) -> SitingAnswer:
    """Where k new places would bring the most people 65+ newly within walking range
    (exact with HiGHS, warm-started by greedy), in order with each one's marginal gain and
    the coverage curve; staff only (``geo-service site``). Notes in the language of
    ``Accept-Language`` (Japanese unless English is preferred)."""
    return planning.site(
        _walking(state), need, k=k, candidates=candidates, target_share=target_share,
        curve=curve, staff=True, lang=lang)


# ------------------------------------------------------------------------------ scenarios



LayerQuery = Annotated[str | None, Query(max_length=100, description="area layer (name or "
                                         "id); default the region's first")]


def _layer_or_404(walking: WalkingService, layer: str | None) -> None:
    if layer is not None:
        try:
            walking.area_layer(layer)
        except LookupError as e:
            raise NotFoundError("area layer", "", e.args[0]) from None


@router.get("/scenarios", response_model=ScenarioList, responses=error_responses(404))
def list_scenarios(state: State) -> ScenarioList:
    """The region's saved scenarios and the stores a scenario may close."""
    return planning.list_saved(_walking(state), state.settings.data_dir)


@router.get("/scenarios/{name}", response_model=ScenarioAnswer,
            responses=error_responses(404, 422))
def show_scenario(state: State, lang: Language, name: str,
                  layer: LayerQuery = None) -> ScenarioAnswer:
    """A saved scenario: before, after and the difference per area."""
    walking = _walking(state)
    _layer_or_404(walking, layer)
    try:
        answer = planning.show(walking, state.settings.data_dir, name, layer, lang=lang)
    except LookupError as e:
        raise NotFoundError("scenario", name, e.args[0]) from None
    return answer


@router.post("/scenarios", response_model=ScenarioAnswer, status_code=201,
             responses=error_responses(401, 404, 409, 422))
def create_scenario(state: State, user: Staff, lang: Language, body: ScenarioIn,
                    layer: LayerQuery = None) -> ScenarioAnswer:
    """Create, compute and save a scenario (staff); nothing is saved when a change names an
    unknown store or a point off the network; the baseline is never modified."""
    walking = _walking(state)
    _layer_or_404(walking, layer)
    changes = [c.model_dump(exclude_none=True) for c in body.changes]
    return planning.create(
        walking, state.settings.data_dir, body.name, changes, description=body.description,
        layer=layer, lang=lang)


@router.delete("/scenarios/{name}", status_code=204, response_class=Response,
               responses=error_responses(401, 404, 422))
def delete_scenario(state: State, user: Staff, name: str) -> Response:
    """Delete a saved scenario (staff)."""
    try:
        planning.delete(_walking(state), state.settings.data_dir, name)
    except LookupError as e:
        raise NotFoundError("scenario", name, e.args[0]) from None
    return Response(status_code=204)


# ------------------------------------------------------------ 地域カルテ and 生活便利帳

_HTML = {200: {"content": {"text/html": {}}, "description": "a printable HTML page"}}


def _page(html_of: Any, state: AppState, viewer: Any, layer: str, area_id: str) -> Response:
    try:
        html = html_of(_walking(state), layer, area_id, staff=viewer is not None)
    except NotFoundError:
        raise
    except LookupError as e:  # an area the layer does not have
        raise NotFoundError("area", area_id, str(e)) from e
    return Response(html, media_type="text/html; charset=utf-8")


@router.get("/karte/{layer}/{area_id}", response_class=Response,
            responses={**_HTML, **error_responses(401, 404, 422)})
def karte(state: State, viewer: Viewer, layer: str, area_id: str) -> Response:
    """The 地域カルテ of an area: one printable A4 page (public data; staff see all)."""
    return _page(karte_render.karte_page, state, viewer, layer, area_id)


@router.get("/booklet/{layer}/{area_id}", response_class=Response,
            responses={**_HTML, **error_responses(401, 404, 422)})
def booklet(state: State, viewer: Viewer, layer: str, area_id: str) -> Response:
    """The 生活便利帳 of an area: its resources by category with schedule, fee, phone and
    a map (public data; staff see all)."""
    return _page(karte_render.booklet_page, state, viewer, layer, area_id)
