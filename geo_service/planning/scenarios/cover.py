"""Who has an alternative to the walk, before and after a scenario's service and bus changes.

Service areas live in the registry: a scenario with either service kind is applied with
the coverage service (``apply_scenario(..., walking=WalkingService)``), whose registry is
read, never written. The result then also gives, before and after, the people 65+ beyond
the walk **and not covered by any alternative** (the rule of ``geo-service gaps``: a
service of an alternative category whose area contains them —
:func:`geo_service.planning.gaps.category_alternative` and
:func:`geo_service.service.service_coverage.service_mask` —, a 移動販売 stop within its catchment,
and with bus changes a frequent bus stop). Unknown resource ids, resources that are not an
alternative to walking to the layer's stores, and service areas wholly outside the region
are refused, naming them. A 移動販売 route withdrawn takes its stops' catchment with it; a
new service area for it keeps its stops.

Bus routes do not change anyone's walk to a store; they change who has an alternative.
With any of the bus kinds the result also gives, before and after, the people 65+
beyond the walk **and** without a frequent bus stop within walking range (a stop with at
least ``min_departures`` departures on every weekday within ``threshold_m`` on the
network: the rule of ``geo-service gaps``, :func:`geo_service.planning.gaps.bus_alternative`).
Before = the bus network and the cut feeds; after = the bus network without the cut feeds, with
the added ones. A route is cut or added as a whole feed (飯塚市's routes cut in 2022 come as
one feed, ``old4routes.zip``); these two distance fields are full passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from geo_service._errors import InputError
from geo_service.engine.access import DistanceField
from geo_service.engine.region import Region
from geo_service.planning.scenarios.baseline import Baseline
from geo_service.planning.scenarios.changes import SERVICE_KINDS, Scenario, ScenarioError

if TYPE_CHECKING:
    from geo_service.service.walking import WalkingService


def check_services(baseline: Baseline, scenario: Scenario, walking: WalkingService | None,
                    *, staff: bool) -> dict[str, Any] | None:
    """The scenario's service changes checked against the registry, before anything is
    computed: {"edits": {id: ServiceArea or None (withdrawn)}, "resources": {id:
    Resource}, "categories": the alternative categories}; None without service changes.

    Unknown ids (and, for the public view, staff-only services) are named all at once;
    so are services that are no alternative to walking to the layer's stores, and service
    areas that lie wholly outside the region.
    """
    changes = [c for c in scenario.changes if c["kind"] in SERVICE_KINDS]
    if not changes:
        return None
    from geo_service.layers import load_vocabulary
    from geo_service.planning.gaps import BUS, default_alternatives
    from geo_service.registry.resources import ServiceArea
    from geo_service.registry.service_areas import service_area_geometry
    from geo_service.registry.visibility import public_view

    where = f"scenario {scenario.name!r}: "
    if walking is None:
        raise ScenarioError(where + "service changes read the registry's services: apply "
                            "the scenario with the coverage service (walking=...)",
                            column="kind", value=changes[0]["kind"])
    if walking.region.key != baseline.region.key:
        raise ScenarioError(where + "the registry serves another region", value=walking.name)
    vocab = load_vocabulary()
    food = [c for c in vocab.categories if c.food and c.kind == "place"]
    need = food[0] if food else vocab.categories[0]
    allowed = [c for c in default_alternatives(need) if c != BUS]
    resources: dict[str, Any] = {}
    unknown: list[str] = []
    for c in changes:
        rid = c["resource"]
        if rid in resources or rid in unknown:
            continue
        try:
            r = walking.store.get(rid)
        except LookupError:
            unknown.append(rid)
            continue
        if not staff and public_view(r) is None:
            unknown.append(rid)  # the public view does not know it
            continue
        resources[rid] = r
    if unknown:
        from geo_service.registry.store import ResourceFilter

        known = [f"{r.id} ({r.name})" for cat in allowed
                 for r in walking.store.all(ResourceFilter(category=cat, include_staff=staff))]
        raise ScenarioError(where + f"no service with id {', '.join(unknown)} in the registry"
                            + (f" (services: {', '.join(known[:8])})" if known else
                               " (it has no services of "
                               + ", ".join(vocab.by_id[a].label for a in allowed) + ")"),
                            column="resource", value=unknown[0])
    wrong = [f"{r.id} ({r.name}: {vocab.by_id[r.category].label})"
             for r in resources.values() if r.category not in allowed]
    if wrong:
        raise ScenarioError(where + "not an alternative to walking to the stores (those are "
                            + ", ".join(vocab.by_id[a].label for a in allowed) + "): "
                            + ", ".join(wrong), column="resource",
                            value=wrong[0].split(" ")[0])
    edits: dict[str, Any] = {}
    box = shapely.box(*walking.bounds)
    for c in changes:
        r = resources[c["resource"]]
        if c["kind"] == "withdraw_service":  # a 移動販売 route: its stops go too
            edits[r.id] = None
            continue
        area = ServiceArea.model_validate(c["service_area"])
        if area.kind in ("radius", "walk") and (r.lon is None or r.lat is None):
            raise ScenarioError(where + f"a {area.kind} service area is measured from the "
                                f"service's location, and {r.id} ({r.name}) has none",
                                column="service_area.kind", value=area.kind)
        if area.kind == "areas" and area.layer not in walking.layers:
            raise ScenarioError(where + f"no area layer {area.layer!r}; the region has "
                                + ", ".join(walking.layers), column="service_area.layer",
                                value=area.layer)
        edited = r.model_copy(update={"service_area": area})
        try:
            geom = service_area_geometry(edited, walking.layers,
                                         walking_speed_mps=walking.net.walking_speed_mps)
        except InputError as exc:
            raise ScenarioError(where + f"{r.id}: {exc.reason}", column=exc.column,
                                value=exc.value) from None
        if geom is not None and not geom.intersects(box):
            w, s_, e, n = walking.bounds
            raise ScenarioError(where + f"the new service area of {r.id} ({r.name}) lies "
                                f"outside the region (lon {w:.4f}–{e:.4f}, lat {s_:.4f}–"
                                f"{n:.4f})", column="service_area", value=r.id)
        edits[r.id] = edited
    return {"edits": edits, "resources": resources, "allowed": allowed}


def alternative_cover(walking: WalkingService, services: dict[str, Any],
                       bus: dict[str, Any] | None, *, staff: bool,
                       notes: list[str]) -> dict[str, Any]:
    """Per demand point, before and after the service changes: covered by an alternative
    (each alternative category, and with bus changes a frequent bus stop)."""
    from geo_service.layers import load_vocabulary
    from geo_service.planning.gaps import (
        BUS,
        BUS_THRESHOLD_M,
        TOLERANCE_M,
        category_alternative,
        walk_thresholds,
    )
    from geo_service.registry.store import ResourceFilter
    from geo_service.service.service_coverage import service_mask
    from geo_service.service.walking import reveals_location

    vocab = load_vocabulary()
    thresholds = walk_thresholds()
    edits: dict[str, Any] = services["edits"]
    touched = {services["resources"][rid].category for rid in edits}
    before: dict[str, np.ndarray] = {}
    after: dict[str, np.ndarray] = {}
    detail: dict[str, str] = {}
    for cat in services["allowed"]:
        alt = category_alternative(walking, cat, staff=staff,
                                   threshold_m=thresholds.get(cat, BUS_THRESHOLD_M))
        before[cat] = after[cat] = alt.covers
        detail[cat] = alt.detail
        if cat not in touched:
            continue
        # the category's services as category_alternative counts them, with the edits
        covers = np.zeros(len(walking.region.demand), bool)
        if vocab.by_id[cat].kind == "mobile":  # the catchment of the stops still served
            limit = thresholds.get(cat, BUS_THRESHOLD_M)
            loc = walking.located(staff=staff)
            gone = [rid for rid, edit in edits.items() if edit is None]
            pick = np.flatnonzero((loc.categories == cat) & ~np.isin(loc.resource_ids, gone))
            if len(pick):
                d = DistanceField(walking.net, loc.attachment.take(pick)).at(
                    walking.region.demand_attachment).distance_m
                covers |= d <= limit + TOLERANCE_M
        for r in walking.store.all(ResourceFilter(category=cat, include_staff=staff)):
            if r.id in edits:
                r = edits[r.id]
                if r is None:
                    continue
            if r.service_area.kind != "none" and (staff or not reveals_location(r)):
                covers |= service_mask(r, walking, staff=staff)
        after[cat] = covers
    if bus is not None:
        before[BUS], after[BUS] = bus["before"], bus["after"]
        detail[BUS] = bus["rule"]
    n = len(walking.region.demand)
    changed = []
    for rid, edit in edits.items():
        r = services["resources"][rid]
        what = "withdrawn" if edit is None else f"service area → {edit.service_area.kind}"
        changed.append(f"{rid} ({r.name}): {what}")
        if edit is not None and not service_mask(edit, walking, staff=staff).any():
            notes.append(f"the new service area of {rid} ({r.name}) holds no demand point")
    return {"before": np.logical_or.reduce([*before.values(), np.zeros(n, bool)]),
            "after": np.logical_or.reduce([*after.values(), np.zeros(n, bool)]),
            "covers_before": before, "covers_after": after, "changed": changed,
            "detail": detail}


def bus_cover(region: Region, changes: list[dict[str, Any]], base_dir: str | Path | None,
               notes: list[str]) -> dict[str, Any] | None:
    """Per demand point, before and after the bus changes: a frequent stop within range."""
    network = [f for c in changes if c["kind"] == "bus_network" for f in c["feeds"]]
    cut = [c["feed"] for c in changes if c["kind"] == "cut_route"]
    added = [c["feed"] for c in changes if c["kind"] == "add_route"]
    if not (network or cut or added):
        return None
    from types import SimpleNamespace

    from geo_service.inputs.gtfs import read_bus_stops
    from geo_service.planning.gaps import bus_alternative, public_transport_defaults

    threshold, min_dep = public_transport_defaults()
    for c in changes:
        if c["kind"] == "bus_network":
            threshold = c.get("threshold_m", threshold)
            min_dep = c.get("min_departures", min_dep)

    def path(feed: str) -> Path:
        p = Path(feed)
        return Path(base_dir) / p if base_dir is not None and not p.is_absolute() else p

    before = list(dict.fromkeys([*network, *cut]))
    after = [f for f in dict.fromkeys([*network, *added]) if f not in set(cut)]
    walking = SimpleNamespace(net=region.net, region=region)  # what bus_alternative reads
    cover: dict[str, Any] = {"rule": f"a stop with ≥ {min_dep} departures every weekday "
                             f"within {threshold:g} m", "feeds_before": before,
                             "feeds_after": after}
    for side, feeds in (("before", before), ("after", after)):
        if not feeds:
            cover[side] = np.zeros(len(region.demand), dtype=bool)
            continue
        stops = read_bus_stops([path(f) for f in feeds])
        alt, found = bus_alternative(walking, stops, threshold_m=threshold,  # type: ignore[arg-type]
                                     min_departures=min_dep, source=", ".join(feeds))
        cover[side] = alt.covers
        notes += [f"バス ({side}): {n}" for n in found]
    return cover
