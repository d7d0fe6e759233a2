"""The typed answers of :mod:`geo_service.planning.answers`: what the planning tools tell the
planner page and the API, as frozen dataclasses of plain values (str, float, None, lists,
GeoJSON dicts), rounded for display and JSON-safe (no NaN).

They are also the API's response models of the planning routes (FastAPI and pydantic take
dataclasses as they take models): one definition, documented where it is built. Their class
names are the schema names of the OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

#: a GeoJSON geometry (lon/lat) as a plain dict, or None when the area has no outline
Geometry = dict[str, Any] | None


@dataclass(frozen=True)
class AlternativeInfo:
    """An alternative to walking (移動販売, 配食・宅配 …) and how it was decided."""

    id: str
    label: str
    detail: str


@dataclass(frozen=True)
class GapArea:
    """One area of a gap ranking (counts of people 65+; shares of the area's 65+)."""

    area_id: str
    name: str
    pop_65plus: float | None
    beyond_65plus: Annotated[float | None, Field(
        description="people 65+ beyond walking range")]
    beyond_share: float | None
    covered: Annotated[dict[str, float | None], Field(
        description="per alternative id: people 65+ beyond walking range it covers "
                    "(they overlap: the reasons)")]
    covered_any: float | None
    gap_65plus: Annotated[float | None, Field(
        description="beyond walking range, no alternative")]
    gap_share: Annotated[float | None, Field(
        description="of the area's people 65+ (null: none)")]
    rank_count: int
    rank_share: int
    geometry: Annotated[Geometry, Field(description="the area's outline (GeoJSON, lon/lat)")]


@dataclass(frozen=True)
class GapRanking:
    """A layer's ranking for a need, largest gap first, with the alternatives to walking."""

    layer: str
    need: str
    need_label: str
    threshold_m: float
    alternatives: list[AlternativeInfo]
    notes: list[str]
    summary: dict[str, float | None]
    areas: list[GapArea]


@dataclass(frozen=True)
class Site:
    """A chosen site, in order of marginal gain."""

    order: int
    id: str
    name: str
    lon: float
    lat: float
    new_65plus: Annotated[float | None, Field(
        description="people 65+ it newly brings within range, given the sites before it")]
    cumulative_new_65plus: float | None
    share_after: float | None


@dataclass(frozen=True)
class CurveRow:
    """The best coverage found with ``k`` new sites, beside greedy's and the bound."""

    k: int
    covered_new_65plus: float | None
    share_after: float | None
    greedy_new_65plus: float | None
    bound_65plus: float | None
    optimal: bool


@dataclass(frozen=True)
class SitingAnswer:
    """New sites by maximal covering of ``k`` sites, or set covering of a target share
    (then ``gap``, ``bound``, ``greedy_new`` are None and the curve is empty)."""

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
    curve: list[CurveRow]


@dataclass(frozen=True)
class Store:
    """A store of the scenario baseline, or one a scenario closes or adds."""

    id: str
    name: str
    lon: float
    lat: float
    category: str | None = None


@dataclass(frozen=True)
class ScenarioInfo:
    """A saved scenario as anyone may read it (files named, never their server paths)."""

    name: str
    description: str
    created: str
    changes: list[dict[str, Any]]


@dataclass(frozen=True)
class ScenarioList:
    """The region's saved scenarios and the stores a scenario may close."""

    scenarios: list[ScenarioInfo]
    stores: list[Store]


@dataclass(frozen=True)
class ScenarioArea:
    """One area before and after a scenario (shares as fractions, change in points)."""

    area_id: str
    name: str
    pop_65plus_before: float | None
    pop_65plus_after: float | None
    beyond_65plus_before: float | None
    beyond_65plus_after: float | None
    beyond_65plus_change: float | None
    beyond_share_before: float | None
    beyond_share_after: float | None
    beyond_share_change_pt: Annotated[float | None, Field(description="percentage points")]
    median_m_before: float | None
    median_m_after: float | None
    geometry: Geometry


@dataclass(frozen=True)
class Totals:
    """Headline numbers of one side of a scenario."""

    pop_65plus: float | None
    beyond_65plus: float | None
    beyond_share: float | None
    unreachable_65plus: float | None
    stores: float | None


@dataclass(frozen=True)
class ScenarioAnswer:
    """A scenario against the baseline: totals and per area before, after and the
    difference, and the stores it closes and adds."""

    scenario: ScenarioInfo
    layer: str
    threshold_m_before: float
    threshold_m_after: float
    before: Totals
    after: Totals
    closed: list[Store] = field(default_factory=list)
    added: list[Store] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    areas: list[ScenarioArea] = field(default_factory=list)
