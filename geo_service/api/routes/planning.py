"""Planning tools (issue 10): the gap ranking, facility siting and what-if scenarios.

The numbers come from :mod:`geo_service.planning.answers` (which calls the cores: gaps, siting,
scenarios); the routes only check who asks and build the answers' models.

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

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from geo_service.api.deps import AppState, Staff, State, Viewer
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.layers import FOOD_STORE_CATEGORY
from geo_service.planning import answers as planning
from geo_service.registry.store import NotFoundError
from geo_service.reports import karte_render
from geo_service.service.walking import WalkingService

router = APIRouter(tags=["planning"], route_class=StrictJSONRoute)


def _walking(state: AppState) -> WalkingService:
    if state.walking is None:
        raise NotFoundError("region", "", "no region is loaded")
    return state.walking


# ------------------------------------------------------------------------------ gaps

class Alternative(BaseModel):
    """An alternative to walking and how it was decided."""

    id: str
    label: str
    detail: str


class GapArea(BaseModel):
    """One area of the ranking."""

    area_id: str
    name: str
    pop_65plus: float | None
    beyond_65plus: float | None = Field(description="people 65+ beyond walking range")
    beyond_share: float | None
    covered: dict[str, float | None] = Field(
        description="per alternative id: people 65+ beyond walking range it covers "
                    "(they overlap: the reasons)")
    covered_any: float | None
    gap_65plus: float | None = Field(description="beyond walking range, no alternative")
    gap_share: float | None = Field(description="of the area's people 65+ (null: none)")
    rank_count: int
    rank_share: int
    geometry: dict[str, Any] | None = Field(description="the area's outline (GeoJSON, lon/lat)")


class GapRanking(BaseModel):
    """The ranking of a layer for a need, largest gap first."""

    layer: str
    need: str
    need_label: str
    threshold_m: float
    alternatives: list[Alternative]
    notes: list[str]
    summary: dict[str, float | None]
    areas: list[GapArea]


@router.get("/gaps/{layer}", response_model=GapRanking,
            responses=error_responses(401, 404, 422))
def gaps(state: State, viewer: Viewer, layer: str,
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
    (``geo-service gaps``; no bus feed is read here)."""
    walking = _walking(state)
    alts = None
    if alternatives is not None:
        alts = [] if alternatives.strip() == "none" else [
            a.strip() for a in alternatives.split(",") if a.strip()]
    try:
        answer = planning.gap_ranking(walking, layer, need, staff=viewer is not None,
                                      threshold_m=threshold, alternatives=alts)
    except LookupError as e:
        raise NotFoundError("area layer", "", str(e.args[0])) from None
    return GapRanking(**answer)


# ------------------------------------------------------------------------------ siting

class Site(BaseModel):
    """A chosen site, in order of marginal gain."""

    order: int
    id: str
    name: str
    lon: float
    lat: float
    new_65plus: float | None = Field(description="people 65+ it newly brings within range, "
                                     "given the sites before it")
    cumulative_new_65plus: float | None
    share_after: float | None


class CurvePoint(BaseModel):
    """The best coverage found with k new sites."""

    k: int
    covered_new_65plus: float | None
    share_after: float | None
    greedy_new_65plus: float | None
    bound_65plus: float | None
    optimal: bool


class SitingAnswer(BaseModel):
    """Sites chosen by maximal covering (or set covering with ``target_share``)."""

    mode: Literal["maximal_covering", "set_covering"]
    need: str
    need_label: str
    threshold_m: float
    candidates: str
    n_candidates: int
    existing: str
    k: int
    feasible: bool
    target_share: float | None
    best_share: float | None
    method: str
    optimal: bool
    gap: float | None
    bound: float | None
    total_65plus: float | None
    share_before: float | None
    share_after: float | None
    covered_new: float | None
    greedy_new: float | None
    notes: list[str]
    sites: list[Site]
    curve: list[CurvePoint]


@router.get("/siting", response_model=SitingAnswer, responses=error_responses(401, 422))
def siting(state: State, user: Staff,
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
    the coverage curve; staff only (``geo-service site``)."""
    return SitingAnswer(**planning.site(_walking(state), need, k=k, candidates=candidates,
                                        target_share=target_share, curve=curve, staff=True))


# ------------------------------------------------------------------------------ scenarios

#: a scenario's slowest walking speed: slower than any walker (a speed near 0 makes every
#: walk infinitely long, and no answer can be computed)
MIN_WALKING_SPEED_MPS = 0.1


class Change(BaseModel):
    """One change: ``close_store`` (``store``: id or name), ``add_store`` (``id``, ``name``,
    ``lon``, ``lat``, ``category``), ``add_stop`` (a 移動販売 stop: ``id``, ``name``,
    ``lon``, ``lat``), ``threshold`` (``metres``), ``speed`` (``mps``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["close_store", "add_store", "add_stop", "threshold", "speed"]
    store: str | None = Field(default=None, max_length=200)
    id: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    category: str | None = Field(default=None, max_length=100)
    metres: float | None = Field(default=None, gt=0, le=5000)
    mps: float | None = Field(default=None, ge=MIN_WALKING_SPEED_MPS, le=5,
                              description="flat walking speed (m/s); from the slowest "
                                          "walker with a frame to a runner")


class ScenarioIn(BaseModel):
    """A new scenario: a name and its changes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, description="letters, digits, spaces "
                      "and - _ . ( ) ・")
    description: str = Field(default="", max_length=1000)
    changes: list[Change] = Field(min_length=1, max_length=200)


class ScenarioInfo(BaseModel):
    """A saved scenario."""

    name: str
    description: str
    created: str
    changes: list[dict[str, Any]]


class Store(BaseModel):
    """A store of the baseline, or one closed or added by a scenario."""

    id: str
    name: str
    lon: float
    lat: float
    category: str | None = None


class ScenarioList(BaseModel):
    """The saved scenarios and the baseline's stores (those a scenario may close)."""

    scenarios: list[ScenarioInfo]
    stores: list[Store]


class Totals(BaseModel):
    """Headline numbers of one side."""

    pop_65plus: float | None
    beyond_65plus: float | None
    beyond_share: float | None
    unreachable_65plus: float | None
    stores: float | None


class ScenarioArea(BaseModel):
    """One area before and after."""

    area_id: str
    name: str
    pop_65plus_before: float | None
    pop_65plus_after: float | None
    beyond_65plus_before: float | None
    beyond_65plus_after: float | None
    beyond_65plus_change: float | None
    beyond_share_before: float | None
    beyond_share_after: float | None
    beyond_share_change_pt: float | None = Field(description="percentage points")
    median_m_before: float | None
    median_m_after: float | None
    geometry: dict[str, Any] | None


class ScenarioAnswer(BaseModel):
    """A scenario against the baseline: totals and per area before, after, difference."""

    scenario: ScenarioInfo
    layer: str
    threshold_m_before: float
    threshold_m_after: float
    before: Totals
    after: Totals
    closed: list[Store]
    added: list[Store]
    notes: list[str]
    areas: list[ScenarioArea]


LayerQuery = Annotated[str | None, Query(max_length=100, description="area layer (name or "
                                         "id); default the region's first")]


def _layer_or_404(walking: WalkingService, layer: str | None) -> None:
    if layer is not None:
        try:
            walking.area_layer(layer)
        except LookupError as e:
            raise NotFoundError("area layer", "", str(e.args[0])) from None


@router.get("/scenarios", response_model=ScenarioList, responses=error_responses(404))
def list_scenarios(state: State) -> ScenarioList:
    """The region's saved scenarios and the stores a scenario may close."""
    walking = _walking(state)
    return ScenarioList(scenarios=planning.list_saved(walking, state.settings.data_dir),
                        stores=planning.baseline_stores(walking))


@router.get("/scenarios/{name}", response_model=ScenarioAnswer,
            responses=error_responses(404, 422))
def show_scenario(state: State, name: str, layer: LayerQuery = None) -> ScenarioAnswer:
    """A saved scenario: before, after and the difference per area."""
    walking = _walking(state)
    _layer_or_404(walking, layer)
    try:
        answer = planning.show(walking, state.settings.data_dir, name, layer)
    except LookupError as e:
        raise NotFoundError("scenario", name, str(e.args[0])) from None
    return ScenarioAnswer(**answer)


@router.post("/scenarios", response_model=ScenarioAnswer, status_code=201,
             responses=error_responses(401, 404, 409, 422))
def create_scenario(state: State, user: Staff, body: ScenarioIn,
                    layer: LayerQuery = None) -> ScenarioAnswer:
    """Create, compute and save a scenario (staff); nothing is saved when a change names an
    unknown store or a point off the network; the baseline is never modified."""
    walking = _walking(state)
    _layer_or_404(walking, layer)
    changes = [c.model_dump(exclude_none=True) for c in body.changes]
    return ScenarioAnswer(**planning.create(walking, state.settings.data_dir, body.name,
                                            changes, description=body.description,
                                            layer=layer))


@router.delete("/scenarios/{name}", status_code=204, response_class=Response,
               responses=error_responses(401, 404, 422))
def delete_scenario(state: State, user: Staff, name: str) -> Response:
    """Delete a saved scenario (staff)."""
    try:
        planning.delete(_walking(state), state.settings.data_dir, name)
    except LookupError as e:
        raise NotFoundError("scenario", name, str(e.args[0])) from None
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
