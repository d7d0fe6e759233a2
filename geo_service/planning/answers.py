"""The planning tools for the API and the planner page: gaps, siting and scenarios as typed
answers (:mod:`geo_service.planning.answer_types`), computed by the cores and cached per
registry state.

Nothing here knows of HTTP; ``api/routes/planning.py`` only checks who asks and builds its
models from these answers. The numbers are those of the cores:

- :func:`gap_ranking` is :func:`geo_service.planning.gaps.find_gaps` (no GTFS feed: the API reads no
  server files on a caller's behalf, so bus stops are not counted, and the notes say so);
- :func:`site` is :class:`geo_service.planning.siting.SitingProblem` with the existing facilities
  and candidates of ``geo-service site`` (grid nodes or the registry's located resources
  of a category), bounded so that one request cannot take minutes (:data:`MAX_K`,
  :data:`MIN_GRID_M`, :data:`MAX_CANDIDATES`, :data:`TIME_LIMIT_S`);
- :func:`scenario_answer` is :func:`geo_service.planning.scenarios.apply_scenario` on the region's
  baseline (computed once), per area before, after and the difference. Through the API a
  scenario may close stores, add stores or 移動販売 stops, and change the threshold or the
  speed (:data:`API_KINDS`); the kinds that name files on the server (projection, GTFS
  feeds) are refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from shapely.geometry import mapping

from geo_service._errors import ConflictError, InputError
from geo_service.i18n import Term, msg, msg_n, render, text_of
from geo_service.layers import FOOD_STORE_CATEGORY, FOOD_STORE_LAYER
from geo_service.planning.answer_types import (
    AlternativeInfo,
    CurveRow,
    GapArea,
    GapRanking,
    ScenarioAnswer,
    ScenarioArea,
    ScenarioInfo,
    ScenarioList,
    Site,
    SitingAnswer,
    Store,
    Totals,
)
from geo_service.service.walking import no_food_stores

if TYPE_CHECKING:
    from geo_service.planning.scenarios import Baseline, Scenario, ScenarioResult
    from geo_service.service.walking import WalkingService

#: most new sites one request may ask for
MAX_K = 20
#: the finest candidate grid (m)
MIN_GRID_M = 100.0
#: most candidates one request may weigh
MAX_CANDIDATES = 2_000
#: seconds per exact solve (the coverage curve shares one more budget of this size)
TIME_LIMIT_S = 5.0
#: scenario changes the API accepts (the others name files on the server)
API_KINDS = ("close_store", "add_store", "add_stop", "threshold", "speed")
#: the store layer scenarios work on
STORE_LAYER = FOOD_STORE_LAYER
#: the gap ranking's note when no GTFS feed was given, as the command line says it and as
#: the pages say it (the service reads no feed on a caller's behalf)
NO_FEED = msg("bus stops not counted: no GTFS feed given (--gtfs)")
NO_FEED_HERE = msg("bus stops are not counted here: the service reads no GTFS feed")


def _num(x: Any, digits: int = 4) -> float | None:
    """A finite float rounded, else None (JSON has no NaN)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if math.isfinite(v) else None


def area_shapes(walking: WalkingService, layer: str) -> dict[str, Any]:
    """Per area id of ``layer``: its outline as a GeoJSON geometry (lon/lat), cached."""
    area_layer = walking.area_layer(layer)

    def make() -> dict[str, Any]:
        areas = area_layer.areas.to_crs(4326)
        return {str(a): mapping(g) for a, g in zip(areas["area_id"], areas.geometry,
                                                    strict=True)}

    return dict(walking.cached(("static", "planning_shapes", area_layer.name), make))


# ------------------------------------------------------------------------------ gaps

def gap_ranking(walking: WalkingService, layer: str, need: str = FOOD_STORE_CATEGORY, *,
                staff: bool, threshold_m: float | None = None,
                alternatives: list[str] | None = None, lang: str = "ja") -> GapRanking:
    """The gap ranking of ``layer`` for ``need`` (:func:`~geo_service.planning.gaps.find_gaps`) as
    data: settings, alternatives with how they were decided, notes, totals and one row per
    area (largest gap first) with its outline; words in ``lang``. Cached per registry state
    (the ranking once, its answer per language)."""
    from geo_service.planning.gaps import find_gaps

    name = walking.area_layer(layer).name
    key = ("planning_gaps", name, need, staff, threshold_m,
           None if alternatives is None else tuple(alternatives))

    def make() -> GapRanking:
        result = walking.cached(key, lambda: find_gaps(
            walking, name, need, threshold_m=threshold_m, alternatives=alternatives,
            staff=staff))
        shapes = area_shapes(walking, name)
        alt_ids = [a.id for a in result.alternatives]
        rows = [GapArea(
            area_id=str(r["area_id"]), name=str(r["name"]),
            pop_65plus=_num(r["pop_65plus"], 2), beyond_65plus=_num(r["beyond_65plus"], 2),
            beyond_share=_num(r["beyond_share"]),
            covered={a: _num(r[f"covered_{a}"], 2) for a in alt_ids},
            covered_any=_num(r["covered_any"], 2), gap_65plus=_num(r["gap_65plus"], 2),
            gap_share=_num(r["gap_share"]), rank_count=int(r["rank_count"]),
            rank_share=int(r["rank_share"]), geometry=shapes.get(str(r["area_id"])))
            for r in result.table.to_dict("records")]
        return GapRanking(
            layer=result.layer, need=result.need, need_label=result.need_label,
            threshold_m=result.threshold_m,
            alternatives=[AlternativeInfo(a.id, a.label, a.detail.text(lang))
                          for a in result.alternatives],
            notes=[(NO_FEED_HERE if n == NO_FEED else n).text(lang) for n in result.notes],
            summary={k: _num(v, 2) for k, v in result.summary().items()}, areas=rows)

    return walking.cached((*key, lang), make)


# ------------------------------------------------------------------------------ siting

def parse_candidates(walking: WalkingService, spec: str, *, staff: bool) -> Any:
    """Candidates from ``grid:METRES`` or ``registry:CATEGORY`` (bounded, see the module)."""
    from geo_service.planning import siting
    from geo_service.planning.siting_plan import registry_candidates

    kind, sep, arg = spec.partition(":")
    if kind == "grid":
        try:
            spacing = float(arg) if sep else 250.0
        except ValueError:
            spacing = math.nan
        if not (math.isfinite(spacing) and spacing >= MIN_GRID_M):
            raise InputError(msg("a grid of at least {m:g} m: grid:250", m=MIN_GRID_M),
                             column="candidates", value=spec)
        cands = siting.grid_candidates(walking.net, spacing)
    elif kind == "registry" and arg:
        cands = registry_candidates(walking, arg, staff=staff, column="candidates")
    else:
        raise InputError(msg("candidates are grid:METRES or registry:CATEGORY"),
                         column="candidates", value=spec)
    if len(cands) > MAX_CANDIDATES:
        raise InputError(msg("{n:,} candidates; at most {most:,} (a wider grid)",
                             n=len(cands), most=MAX_CANDIDATES),
                         column="candidates", value=spec)
    return cands


def site(walking: WalkingService, need: str, *, k: int = 5, candidates: str = "grid:250",
         target_share: float | None = None, curve: bool = True,
         staff: bool = True, lang: str = "ja") -> SitingAnswer:
    """Choose ``k`` new sites of ``need`` (maximal covering), or the fewest reaching
    ``target_share`` (set covering): the sites in order with their marginal gains and
    lon/lat, the coverage curve, the method and its quality; words in ``lang``. Cached per
    registry state (the solution once, its answer per language)."""
    from geo_service.planning.siting_plan import plan_siting, siting_need

    category = siting_need(need, column="need")
    if isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InputError(msg("k from 1 to {most}", most=MAX_K), column="k", value=k)
    key = ("planning_site", category.id, k, candidates, target_share, curve, staff)

    def solve() -> tuple[Any, Any, Any]:
        """(candidates, plan, the set-covering or maximal-covering result)."""
        cands = parse_candidates(walking, candidates, staff=staff)
        plan = plan_siting(walking, category, cands, staff=staff)
        if target_share is not None:
            return cands, plan, plan.problem.set_covering(target_share,
                                                           time_limit_s=TIME_LIMIT_S)
        if k > len(cands):
            raise InputError(msg_n("k = {k} is more than the {n} candidate site; give "
                                   "more candidates or a smaller k",
                                   "k = {k} is more than the {n} candidate sites; give "
                                   "more candidates or a smaller k", len(cands), k=k),
                             column="k", value=k)
        return cands, plan, plan.problem.maximal_covering(k, time_limit_s=TIME_LIMIT_S,
                                                           curve=curve)

    def make() -> SitingAnswer:
        cands, plan, solved = walking.cached(key, solve)
        existing, problem = plan.existing, plan.problem

        def share(new: float) -> float | None:
            return _num((problem.already + new) / problem.total if problem.total else math.nan)

        where = (msg("registry") if existing.source == "registry"
                 else msg("region: {layer}", layer=existing.source))
        existing_note = (msg("{n} ({source})", n=existing.count, source=where)
                         if existing.count else msg("none"))
        common: dict[str, Any] = dict(
            need=category.id, need_label=category.label, threshold_m=plan.threshold_m,
            candidates=cands.source, n_candidates=len(cands),
            existing=existing_note.text(lang),
            total_65plus=_num(problem.total, 2), share_before=share(0.0))
        if target_share is not None:
            cover = solved
            chosen, gains = cover.chosen, cover.gains
            mode: dict[str, Any] = dict(
                mode="set_covering", k=len(chosen), feasible=cover.feasible,
                target_share=target_share, best_share=_num(cover.best_share),
                method=cover.method, optimal=cover.optimal, gap=None, bound=None,
                covered_new=_num(cover.covered_new, 2), share_after=_num(cover.share_after),
                greedy_new=None, notes=render(list(cover.notes), lang), curve=[])
        else:
            res = solved
            chosen, gains = res.chosen, res.gains
            mode = dict(
                mode="maximal_covering", k=k, feasible=True, target_share=None,
                best_share=None, method=res.method, optimal=res.optimal, gap=_num(res.gap),
                bound=_num(res.bound, 2), covered_new=_num(res.covered_new, 2),
                share_after=_num(res.share_after), greedy_new=_num(res.greedy_new, 2),
                notes=render(list(res.notes), lang),
                curve=[CurveRow(k=p.k, covered_new_65plus=_num(p.covered_new, 2),
                                share_after=share(p.covered_new),
                                greedy_new_65plus=_num(p.greedy_new, 2),
                                bound_65plus=_num(p.bound, 2), optimal=bool(p.optimal))
                       for p in res.curve])
        lonlat = cands.lonlat(walking.net)
        cumulative = np.cumsum(gains) if len(gains) else np.zeros(0)
        sites = [Site(order=i + 1, id=str(cands.ids[c]), name=str(text_of(cands.names[c], lang)),
                         lon=round(float(lonlat[c, 0]), 7), lat=round(float(lonlat[c, 1]), 7),
                         new_65plus=_num(gains[i], 2),
                         cumulative_new_65plus=_num(cumulative[i], 2),
                         share_after=share(cumulative[i]))
                 for i, c in enumerate(np.asarray(chosen, dtype=np.int64))]
        return SitingAnswer(**common, **mode, sites=sites)

    return walking.cached((*key, lang), make)


# ------------------------------------------------------------------------------ scenarios

def scenario_folder(walking: WalkingService, data_dir: str | Path) -> Path:
    """Where the service keeps the region's scenarios: ``scenarios/<region key>`` in its
    data directory (as ``geo-service scenario``)."""
    return Path(data_dir) / "scenarios" / walking.region.key


def baseline(walking: WalkingService) -> Baseline:
    """The region's scenario baseline (the food-store layer at the service's threshold),
    computed once."""
    from geo_service.layers import load_resource_layer
    from geo_service.planning.scenarios import Baseline

    layer = load_resource_layer(STORE_LAYER)
    if layer.id not in walking.region.resources:
        raise InputError(no_food_stores(), column="layer", value=layer.id)
    return walking.cached(("static", "planning_baseline"), lambda: Baseline.saved(
        walking.region, layer=layer, threshold_m=walking.threshold_m))


def baseline_stores(walking: WalkingService) -> list[Store]:
    """The stores a scenario may close: id, name, category, lon/lat."""
    def make() -> list[Store]:
        stores = baseline(walking).stores.to_crs(4326)
        return [Store(id=str(r["store_id"]), name=str(r["name"]),
                           category=str(r["category"]), lon=round(float(r.geometry.x), 7),
                           lat=round(float(r.geometry.y), 7))
                for _, r in stores.iterrows()]

    return list(walking.cached(("static", "planning_stores"), make))


#: change keys that name a file on the server (a projection CSV, a GTFS feed)
FILE_KEYS = ("file", "feed")


def _describe(s: Scenario) -> ScenarioInfo:
    """A saved scenario as anyone may read it: the files its changes name are shown by
    their names only, never by where they lie on the server."""
    changes = [{k: Path(str(v)).name if k in FILE_KEYS else v for k, v in c.items()}
               for c in s.changes]
    return ScenarioInfo(name=s.name, description=s.description, created=s.created,
                         changes=changes)


def list_saved(walking: WalkingService, data_dir: str | Path) -> ScenarioList:
    """The region's saved scenarios and the stores a scenario may close."""
    from geo_service.planning.scenarios import list_scenarios

    return ScenarioList(
        scenarios=[_describe(s) for s in list_scenarios(scenario_folder(walking, data_dir))],
        stores=baseline_stores(walking))


def _result(walking: WalkingService, scenario: Scenario) -> ScenarioResult:
    from geo_service.planning.scenarios import apply_scenario

    key = ("static", "planning_scenario",
           json.dumps(scenario.to_dict(), sort_keys=True, ensure_ascii=False))
    base = baseline(walking)
    return walking.cached(key, lambda: apply_scenario(base, scenario))


def _points(frame: Any) -> list[Store]:
    if frame is None or len(frame) == 0:
        return []
    ll = frame.to_crs(4326)
    return [Store(id=str(r["store_id"]), name=str(r.get("name", "") or ""),
                       lon=round(float(r.geometry.x), 7), lat=round(float(r.geometry.y), 7))
            for _, r in ll.iterrows()]


def _totals(side: dict[str, Any]) -> Totals:
    return Totals(**{f.name: _num(side.get(f.name), 4) for f in fields(Totals)})


def answer(walking: WalkingService, result: ScenarioResult, layer: str | None, *,
           lang: str = "ja") -> ScenarioAnswer:
    """Before, after and the difference per area of ``layer`` (default the region's
    first), the totals, and the closed and added stores; notes in ``lang``."""
    name = walking.area_layer(layer).name if layer else walking.region.areas[0].name
    diff = result.area_difference(name)
    shapes = area_shapes(walking, name)
    rows = [ScenarioArea(
        area_id=str(r["area_id"]), name=str(r["name"]),
        pop_65plus_before=_num(r["pop_65plus_before"], 2),
        pop_65plus_after=_num(r["pop_65plus_after"], 2),
        beyond_65plus_before=_num(r["beyond_65plus_before"], 2),
        beyond_65plus_after=_num(r["beyond_65plus_after"], 2),
        beyond_65plus_change=_num(r["beyond_65plus_change"], 2),
        beyond_share_before=_num(r["beyond_share_before"]),
        beyond_share_after=_num(r["beyond_share_after"]),
        beyond_share_change_pt=_num(r["beyond_share_change_pt"], 3),
        median_m_before=_num(r["median_m_before"], 1),
        median_m_after=_num(r["median_m_after"], 1),
        geometry=shapes.get(str(r["area_id"])))
        for r in diff.to_dict("records")]
    s = result.summary()
    return ScenarioAnswer(
        scenario=_describe(result.scenario), layer=name,
        threshold_m_before=result.before.threshold_m,
        threshold_m_after=result.after.threshold_m,
        before=_totals(s["before"]), after=_totals(s["after"]),
        closed=_points(result.closed), added=_points(result.added),
        notes=render(list(result.notes), lang), areas=rows)


def show(walking: WalkingService, data_dir: str | Path, name: str,
         layer: str | None = None, *, lang: str = "ja") -> ScenarioAnswer:
    """A saved scenario computed against the baseline (:func:`answer`); LookupError when
    no scenario has this name."""
    from geo_service.planning.scenarios import ScenarioError, check_scenario_name, load_scenario

    folder = scenario_folder(walking, data_dir)
    try:
        check_scenario_name(name)
    except ScenarioError:
        raise LookupError(msg("no scenario {name!r}", name=name)) from None
    if not (folder / f"{name}.json").exists():
        raise LookupError(msg("no scenario {name!r}", name=name))
    return answer(walking, _result(walking, load_scenario(name, folder)), layer, lang=lang)


def create(walking: WalkingService, data_dir: str | Path, name: str,
           changes: list[dict[str, Any]], *, description: str = "",
           layer: str | None = None, lang: str = "ja") -> ScenarioAnswer:
    """Check, compute and save a scenario; refused (nothing written) when a change is of a
    kind the API does not take, names unknown stores, lies off the network, or the name is
    taken (:class:`~geo_service._errors.ConflictError`)."""
    from geo_service.planning.scenarios import Scenario, save_scenario

    if not changes:
        raise InputError(msg("a scenario needs at least one change"), column="changes",
                         value=[])
    for i, c in enumerate(changes):
        if c.get("kind") not in API_KINDS:
            raise InputError(msg("change {i}: through the API a change is one of {kinds}",
                                 i=i + 1, kinds=", ".join(API_KINDS)),
                             column=f"changes.{i}.kind", value=c.get("kind"))
    scenario = Scenario(name, [dict(c) for c in changes], description=description,
                        region=walking.region.key)
    for i, c in enumerate(scenario.changes):  # a new point off the streets: name the change
        if c["kind"] in ("add_store", "add_stop"):
            try:
                walking.attach_lonlat(c["lon"], c["lat"])
            except InputError as exc:
                raise InputError(msg("change {i} ({kind} {id}): {reason}", i=i + 1,
                                     kind=c["kind"], id=c["id"],
                                     reason=Term(exc.reason_ja or exc.reason, exc.reason)),
                                 column=f"changes.{i}.lon/lat",
                                 value=f"{c['lon']}, {c['lat']}") from exc
    folder = scenario_folder(walking, data_dir)
    if (folder / f"{name}.json").exists():
        raise ConflictError(msg("a scenario of this name exists (delete it first)"),
                            column="name", value=name)
    result = _result(walking, scenario)  # unknown stores, points off the network: refused
    save_scenario(scenario, folder)
    return answer(walking, result, layer, lang=lang)


def delete(walking: WalkingService, data_dir: str | Path, name: str) -> None:
    """Remove a saved scenario; LookupError when there is none of this name."""
    from geo_service.planning.scenarios import ScenarioError, check_scenario_name, delete_scenario

    try:
        check_scenario_name(name)
        delete_scenario(name, scenario_folder(walking, data_dir))
    except ScenarioError:
        raise LookupError(msg("no scenario {name!r}", name=name)) from None
