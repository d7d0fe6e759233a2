"""Applying a scenario: its changes, in order, to a copy of the baseline, giving before
and after (:func:`apply_scenario`)."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service.i18n import msg
from geo_service.layers import ResourceLayer
from geo_service.planning.scenarios.baseline import Baseline
from geo_service.planning.scenarios.changes import STOP_CATEGORY, Scenario, ScenarioError
from geo_service.planning.scenarios.cover import alternative_cover, bus_cover, check_services
from geo_service.planning.scenarios.result import ScenarioResult
from geo_service.planning.scenarios.state import ScenarioState

if TYPE_CHECKING:
    from geo_service.service.walking import WalkingService


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().casefold()


def resolve_stores(baseline: Baseline, refs: Iterable[str], *,
                   scenario: str = "") -> list[int]:
    """Positions (in the baseline's counted stores) of stores named by id, by name, or by
    a part of one name (ミニマート for ミニマート山手, when no other store's name has it).

    Every unknown or ambiguous reference is named in one error.
    """
    table = baseline.stores
    ids = table["store_id"].astype(str).to_numpy()
    names = np.array([_fold(n) for n in table["name"].astype(str)])
    all_stores = baseline.region.resources[baseline.layer.id]
    uncounted = set(all_stores["store_id"].astype(str)) - set(ids)
    found, unknown, ambiguous, not_counted = [], [], [], []
    for ref in refs:
        hit = np.flatnonzero(ids == ref)
        if len(hit) == 0:
            hit = np.flatnonzero(names == _fold(ref))
        if len(hit) == 0 and _fold(ref):  # part of a name, as people say it (ミニマート)
            hit = np.flatnonzero([_fold(ref) in n for n in names])
        if len(hit) == 1:
            found.append(int(hit[0]))
        elif len(hit) > 1:
            ambiguous.append(f"{ref} ({', '.join(ids[hit])})")
        elif ref in uncounted:
            not_counted.append(ref)
        else:
            unknown.append(ref)
    where = f"scenario {scenario!r}: " if scenario else ""
    problems = []
    if unknown:
        problems.append(f"no store with id or name {', '.join(unknown)}")
    if ambiguous:
        problems.append(f"names shared by several stores (use the id): {'; '.join(ambiguous)}")
    if not_counted:
        problems.append(f"stores of a category that is not counted: {', '.join(not_counted)}")
    if problems:
        listed = [f"{n} ({i})" for n, i in zip(table["name"].astype(str), ids, strict=True)]
        more = f" and {len(listed) - 20} more" if len(listed) > 20 else ""
        raise ScenarioError(where + "; ".join(problems) + f" ({len(ids)} counted stores: "
                            + ", ".join(listed[:20]) + more + ")", column="store",
                            value=(unknown + ambiguous + not_counted)[0])
    return found


def _new_points(changes: list[dict[str, Any]], layer: ResourceLayer, taken: set[str],
                scenario: str, net: Any) -> gpd.GeoDataFrame:
    """The added stores and stops as points in the network's metric CRS."""
    rows = []
    for change in changes:
        ident = change["id"]
        if ident in taken:
            raise ScenarioError(msg("scenario {name!r}: a store or stop with this id exists "
                                    "already", name=scenario), column="id", value=ident)
        taken.add(ident)
        category = (layer.category_key(change["category"]) if change["kind"] == "add_store"
                    else STOP_CATEGORY)
        if change["kind"] == "add_store" and category not in layer.included_ids:
            raise ScenarioError(msg("scenario {name!r}: category {category!r} is not counted "
                                    "by layer {layer!r}", name=scenario, category=category,
                                    layer=layer.id), column="category",
                                value=change["category"])
        rows.append({"store_id": ident, "name": change.get("name", ""), "category": category,
                     "geometry": shapely.Point(*net.from_geographic.transform(change["lon"],
                                                                              change["lat"]))})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs)


def apply_scenario(baseline: Baseline, scenario: Scenario, *, incremental: bool = True,
                   base_dir: str | Path | None = None, walking: WalkingService | None = None,
                   staff: bool = False) -> ScenarioResult:
    """Apply a scenario's changes to (a copy of) the baseline and return before/after.

    Parameters
    ----------
    baseline
        :meth:`Baseline.compute` of the region; never modified.
    scenario
        The changes, applied in order (closures and openings incrementally).
    incremental
        False recomputes the after-state from scratch (one full pass on the final store
        set): the reference the incremental answer is tested against.
    base_dir
        Folder that relative projection file paths are read from (the scenario's folder).
    walking
        The coverage service of the same region (its registry): needed by the service
        changes (``service_area``, ``withdraw_service``); only read.
    staff
        Count staff-only services too (default: the public view, as ``geo-service gaps``).
    """
    from geo_service.planning.projection import load_projection, project_demand

    started = time.perf_counter()
    state = ScenarioState(baseline)
    name = scenario.name
    taken = set(baseline.region.resources[baseline.layer.id]["store_id"].astype(str))
    closed_rows: list[int] = []
    added_frames: list[gpd.GeoDataFrame] = []
    car_rate = baseline.car_rate
    if scenario.region and scenario.region != baseline.region.key:
        state.notes.append(msg("scenario {name!r} was made for region {made_for}; it is "
                               "applied to {region}", name=name, made_for=scenario.region,
                               region=baseline.region.key))
    refs = [c["store"] for c in scenario.changes if c["kind"] == "close_store"]
    if refs:  # every unknown store named at once, before anything is computed
        resolve_stores(baseline, refs, scenario=name)
    services = check_services(baseline, scenario, walking, staff=staff)
    for change in scenario.changes:
        kind = change["kind"]
        if kind == "close_store":
            which = resolve_stores(baseline, [change["store"]], scenario=name)
            which = [w for w in which if state.active[w]]
            closed_rows += which
            if which and incremental:
                state.close(which)
            else:
                state.active[which] = False
        elif kind in ("add_store", "add_stop"):
            new = _new_points([change], baseline.layer, taken, name, baseline.region.net)
            source = f"scenario {name!r}: {kind} {change['id']}"
            if incremental:
                state.add(new, source=source)
            else:
                state.append_stores(new, source=source)
            added_frames.append(new)
            if kind == "add_stop":
                state.notes.append(msg("移動販売 stop {id} counted as a food source; it "
                                       "serves only on its days", id=change["id"]))
        elif kind == "threshold":
            state.threshold_m = change["metres"]
        elif kind == "speed":
            if incremental:
                state.set_speed(change["mps"])
            else:
                state.net = state.net.with_speed(change["mps"])
        elif kind == "projection":
            path = Path(change["file"])
            if base_dir is not None and not path.is_absolute():
                path = Path(base_dir) / path
            projection = load_projection(path, baseline.region, year=change["year"],
                                         layer=change.get("layer"),
                                         columns=change.get("columns"))
            state.demand = project_demand(baseline.region.demand, projection)
            state.notes += projection.notes
    bus = bus_cover(baseline.region, scenario.changes, base_dir, state.notes)
    alternatives = None
    if services is not None:
        assert walking is not None
        alternatives = alternative_cover(walking, services, bus, staff=staff,
                                         notes=state.notes)
    if not incremental:
        state.refresh_all()
    after = state.result(car_rate=car_rate, seconds={"scenario": time.perf_counter() - started},
                         canonical=not incremental)
    closed = baseline.stores.iloc[sorted(set(closed_rows))].reset_index(drop=True)
    added = (pd.concat(added_frames, ignore_index=True) if added_frames
             else gpd.GeoDataFrame({"store_id": [], "name": [], "category": []},
                                   geometry=[], crs=baseline.region.net.crs))
    stats = {**state.stats, "seconds": time.perf_counter() - started,
             "incremental": incremental}
    return ScenarioResult(scenario, baseline.result, after, closed,
                          gpd.GeoDataFrame(added, geometry="geometry",
                                           crs=baseline.region.net.crs),
                          stats, state.notes, bus, alternatives)
