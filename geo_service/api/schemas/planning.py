"""Request and response models of ``routes/planning.py``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: a scenario's slowest walking speed: slower than any walker (a speed near 0 makes every
#: walk infinitely long, and no answer can be computed)
MIN_WALKING_SPEED_MPS = 0.1


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
