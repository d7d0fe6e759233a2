"""Gaps after the alternatives: who is beyond a walk to a need and served by nothing else.

For a boundary layer and a need (a registry category people walk to: 食料品店, 通いの場 …)
each person 65+ (the region's demand points, weighted) is

- **within walking range** when the nearest resource of the need is at most the need's
  walking threshold away on the network; otherwise (also when none can be reached)
- **covered by an alternative** when any of these serves them:

  - a service of an alternative category (配食, 宅配 / 買い物代行 for a food need) whose
    service area contains them — the coverage service's service areas: the whole
    municipality, areas of a boundary layer, a polygon, a radius, or walking minutes from
    its location measured on the network;
  - a mobile-sales (移動販売) stop within the category's walking threshold (its
    catchment), or a mobile-sales route's own service area;
  - a bus stop (GTFS / GTFS-JP, :mod:`geo_service.inputs.gtfs`) within the bus-stop walking
    threshold with at least the minimum number of departures on every weekday (or on a
    given date);

- otherwise part of the **gap**.

Per area the table gives the people 65+, those beyond walking range, how many of those each
alternative covers (they overlap: the reasons), those covered by any, and the gap by count
and by share of the area's 65+, with both ranks (1 = largest gap).

Thresholds come from the layer definitions (``walk_threshold_m`` of a category in
``layers/resource_categories.toml``: 500 m food stores, 800 m gathering places, 300 m a
mobile-sales stop; the ``[public_transport]`` table: 300 m to a bus stop and the minimum
weekday departures), else the region's threshold; every one can be overridden per call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from geo_service import settings
from geo_service._errors import InputError
from geo_service.engine.access import DistanceField, attach_points
from geo_service.i18n import Message, Term, msg, msg_n
from geo_service.inputs.layer_points import counted
from geo_service.layers import (
    FOOD_STORE_CATEGORY,
    FOOD_STORE_LAYER,
    Category,
    load_resource_layer,
    load_vocabulary,
)
from geo_service.registry.store import ResourceFilter
from geo_service.service.service_coverage import service_mask
from geo_service.service.walking import no_food_stores

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_service.service.walking import WalkingService

#: the id of the public-transport alternative (the categories' ids are the registry's)
BUS = "bus"
#: defaults when ``layers/`` says nothing: MLIT's 300 m to a bus stop; departures on every
#: weekday (about one an hour over the day)
BUS_THRESHOLD_M = 300.0
MIN_WEEKDAY_DEPARTURES = 10
#: lon/lat ↔ metric round trips move points by ~1e-9 m: a person exactly at a threshold
#: (common on hand-made grids) stays within it (as BAND_TOLERANCE_S does for minutes)
TOLERANCE_M = 1e-6


@dataclass(frozen=True)
class Alternative:
    """One alternative: who it covers (per demand point) and how that was decided."""

    id: str
    label: str
    covers: np.ndarray  # bool per demand point
    detail: Message | Term


@dataclass
class GapResult:
    """The ranking (:attr:`table`, one row per area, largest gap first) and its settings."""

    layer: str
    need: str
    need_label: str
    threshold_m: float
    alternatives: list[Alternative]
    table: pd.DataFrame
    notes: list[Message] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Totals over the layer: people 65+, beyond walking range, covered by each
        alternative and by any, and the gap."""
        t = self.table
        out = {"pop_65plus": float(t["pop_65plus"].sum()),
               "beyond_65plus": float(t["beyond_65plus"].sum())}
        for alt in self.alternatives:
            out[f"covered_{alt.id}"] = float(t[f"covered_{alt.id}"].sum())
        out["covered_any"] = float(t["covered_any"].sum())
        out["gap_65plus"] = float(t["gap_65plus"].sum())
        return out


# ---------------------------------------------------------------------------- thresholds

def walk_thresholds() -> dict[str, float]:
    """Per registry category with one: ``walk_threshold_m`` from the layer definitions."""
    return {c.id: c.walk_threshold_m for c in load_vocabulary().categories
            if c.walk_threshold_m is not None}


def public_transport_defaults() -> tuple[float, int]:
    """The bus-stop walking threshold (m) and minimum weekday departures from the layer
    definitions' ``[public_transport]`` table (else 300 m and 10)."""
    table = load_vocabulary().public_transport
    return (float(table.get("walk_threshold_m", BUS_THRESHOLD_M)),
            int(table.get("min_weekday_departures", MIN_WEEKDAY_DEPARTURES)))


def default_alternatives(need: Category) -> list[str]:
    """The alternatives that stand in for walking to ``need``: for a food need the food
    services and mobile sales of the vocabulary (配食, 宅配, 移動販売), and a bus stop;
    for any other need a bus stop."""
    vocab = load_vocabulary()
    if need.food:
        return [c.id for c in vocab.categories if c.food and c.kind != "place"] + [BUS]
    return [BUS]


# ---------------------------------------------------------------------------- pure table

def gap_table(area_ids: Sequence[str], names: Sequence[str], demand_area: np.ndarray,
              pop_65plus: np.ndarray, beyond: np.ndarray,
              covers: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per area: ``pop_65plus``, ``beyond_65plus`` and ``beyond_share``, per alternative
    ``covered_<id>`` (people 65+ beyond walking range it covers), ``covered_any``,
    ``gap_65plus`` (beyond and covered by none), ``gap_share`` (of the area's 65+; NaN
    without people 65+), ``rank_count`` and ``rank_share`` (1 = largest; ties share a
    rank); sorted by gap, then its share, then the people beyond walking range, then
    area id.

    ``demand_area`` is each demand point's area position (−1: in none); the masks are
    booleans per demand point.
    """
    n_areas = len(area_ids)
    inside = demand_area >= 0
    where = demand_area[inside]

    def per_area(mask: np.ndarray) -> np.ndarray:
        return np.bincount(where, weights=(pop_65plus * mask)[inside], minlength=n_areas)

    any_alt = np.zeros(len(pop_65plus), bool)
    for mask in covers.values():
        any_alt |= mask
    pop = per_area(np.ones(len(pop_65plus), bool))
    table = pd.DataFrame({"area_id": list(area_ids), "name": list(names), "pop_65plus": pop,
                          "beyond_65plus": per_area(beyond)})
    for key, mask in covers.items():
        table[f"covered_{key}"] = per_area(beyond & mask)
    table["covered_any"] = per_area(beyond & any_alt)
    table["gap_65plus"] = per_area(beyond & ~any_alt)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["beyond_share"] = np.where(pop > 0, table["beyond_65plus"] / pop, np.nan)
        table["gap_share"] = np.where(pop > 0, table["gap_65plus"] / pop, np.nan)
    table["rank_count"] = table["gap_65plus"].rank(ascending=False, method="min").astype(int)
    table["rank_share"] = table["gap_share"].rank(ascending=False, method="min",
                                                  na_option="bottom").astype(int)
    order = table.sort_values(["gap_65plus", "gap_share", "beyond_65plus", "area_id"],
                              ascending=[False, False, False, True], na_position="last").index
    return table.loc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------- masks

def need_distance(walking: WalkingService, need: str, *, staff: bool) -> tuple[np.ndarray, str]:
    """Per demand point: network metres to the nearest resource of ``need`` (inf when
    none is reachable), and where the resources came from.

    The registry's located resources of the category (the viewer's), as the coverage
    service uses them; when it has none and the category names a resource layer of the
    region (食料品店 → food_stores), that layer's counted points, as the difficulty
    indicators do.
    """
    loc = walking.located(staff=staff)
    demand = walking.region.demand_attachment
    if (loc.categories == need).any():
        field_, _ = walking.category_field(need, staff=staff)
        return field_.at(demand).distance_m, "registry"
    key = load_vocabulary().by_id[need].layer
    if key is not None and key in walking.region.resources:
        stores = counted(walking.region.resources[key], load_resource_layer(key))
        if len(stores):
            return walking.region.distance_field(stores).at(demand).distance_m, "region"
    if key == FOOD_STORE_LAYER:  # 食料品店: say how to add them
        raise InputError(no_food_stores(), column="need", value=need)
    cat = load_vocabulary().by_id[need]
    label = Term(cat.label, cat.label_en)
    raise InputError(msg("neither the registry nor the region has located resources of "
                         "{label} to walk to", label=label), column="need", value=need)


def needs_present(walking: WalkingService, *, staff: bool) -> list[str]:
    """The categories people walk to (kind ``place``) that :func:`need_distance` can measure
    in this region — the registry has located resources of them, or the region's own
    resource layer has counted points — in vocabulary order (食料品店 first)."""
    loc = walking.located(staff=staff)
    have = loc.present
    out = []
    for cat in load_vocabulary().categories:
        if cat.kind != "place":
            continue
        key = cat.layer
        if cat.id in have or (key is not None and key in walking.region.resources and len(
                counted(walking.region.resources[key], load_resource_layer(key)))):
            out.append(cat.id)
    return out


def category_alternative(walking: WalkingService, category: str, *, staff: bool,
                         threshold_m: float) -> Alternative:
    """The people a registry category covers: its services' areas (the coverage
    service's :func:`~geo_service.service.service_coverage.service_mask`) and, for mobile sales,
    the walk to its stops within ``threshold_m``."""
    from geo_service.service.walking import reveals_location

    cat = load_vocabulary().by_id[category]
    items = walking.store.all(ResourceFilter(category=category, include_staff=staff))
    covers = np.zeros(len(walking.region.demand), bool)
    # a radius or walking-time area around a staff-only location is left out of the
    # public view, as the coverage service does
    with_area = [r for r in items if r.service_area.kind != "none"
                 and (staff or not reveals_location(r))]
    for r in with_area:
        covers |= service_mask(r, walking, staff=staff)
    parts = ([msg_n("{n} service area", "{n} service areas", len(with_area))]
             if with_area or cat.kind != "mobile" else [])
    if cat.kind == "mobile":
        loc = walking.located(staff=staff)
        n_stops = int((loc.categories == category).sum())
        if n_stops:
            field_, _ = walking.category_field(category, staff=staff)
            d = field_.at(walking.region.demand_attachment).distance_m
            covers |= d <= threshold_m + TOLERANCE_M
        parts.append(msg_n("{n} stop within {m:g} m", "{n} stops within {m:g} m", n_stops,
                           m=threshold_m))
    detail = msg_n("{n} resource: {parts}", "{n} resources: {parts}", len(items),
                   parts=_joined(parts))
    return Alternative(category, cat.label, covers, detail)


def _joined(parts: list[Message]) -> Message:
    """Messages one after another (「、」 in Japanese, ", " in English)."""
    if not parts:
        return msg("none")
    joined = parts[0]
    for part in parts[1:]:
        joined = msg("{first}, {second}", first=joined, second=part)
    return joined


def _viewer(staff: bool) -> str:
    return "staff" if staff else "public"


def _saved_alternative(walking: WalkingService, category: str, *, staff: bool,
                       threshold_m: float) -> Alternative:
    """:func:`category_alternative`, saved with the region for the registry's state."""
    def make() -> dict[str, np.ndarray]:
        alt = category_alternative(walking, category, staff=staff, threshold_m=threshold_m)
        return {"covers": alt.covers, "label": np.array(alt.label),
                "detail_ja": np.array(alt.detail.text("ja")),
                "detail_en": np.array(alt.detail.text("en"))}

    # the detail is kept in both languages (a saved array holds text, not a message)
    got = walking.saved_arrays(f"gaps_alternative-{category}-{_viewer(staff)}",
                               [threshold_m], make)
    return Alternative(category, str(got["label"]), got["covers"],
                       Term(str(got["detail_ja"]), str(got["detail_en"])))


def bus_alternative(walking: WalkingService, stops: gpd.GeoDataFrame, *, threshold_m: float,
                    min_departures: int, on: date | None = None,
                    source: str = "GTFS") -> tuple[Alternative, list[Message]]:
    """The people within ``threshold_m`` of a bus stop with at least ``min_departures``
    departures on every weekday (``weekday_departures``; with ``on``, on that date).

    Stops farther than the snapping distance from every street of the region are left
    out (a feed usually reaches beyond the study area) and counted in the notes; a feed
    with none inside the region is an error.
    """
    column = "weekday_departures" if on is None else "departures_on_date"
    if column not in stops.columns:
        raise InputError(msg("the bus-stop layer has no {column!r} column", column=column),
                         file=source)
    metric = shapely.get_coordinates(stops.to_crs(walking.net.crs).geometry.to_numpy())
    att = attach_points(walking.net, metric, max_snap_m=math.inf)
    inside = att.connector <= settings.max_snap_m
    notes: list[Message] = []
    if not inside.any():
        raise InputError(msg(
            "none of the {n} bus stops lies within {m:g} m of the region's walking network: "
            "is the feed of another place?", n=len(stops), m=settings.max_snap_m),
            file=source)
    if (~inside).any():
        notes.append(msg("{n} of {total} bus stops lie outside the region (over {m:g} m from "
                         "its streets) and are left out", n=int((~inside).sum()),
                         total=len(stops), m=settings.max_snap_m))
    if on is None and {"feed", "service_from", "service_to"} <= set(stops.columns):
        for feed, part in stops.groupby("feed", sort=False):
            notes.append(msg("{feed}: the regular week of its services, which run from "
                             "{start} to {end} (--date counts one day)", feed=feed,
                             start=part["service_from"].iloc[0] or "?",
                             end=part["service_to"].iloc[0] or "?"))
    frequent = inside & (stops[column].to_numpy() >= min_departures)
    covers = np.zeros(len(walking.region.demand), bool)
    if frequent.any():
        d = DistanceField(walking.net, att.take(np.flatnonzero(frequent))).at(
            walking.region.demand_attachment).distance_m
        covers = d <= threshold_m + TOLERANCE_M
    when = msg("every weekday") if on is None else msg("on {date}", date=on.isoformat())
    label = "バス停"
    return Alternative(BUS, label, covers, msg(
        "{n} of {total} stops with ≥ {departures} departures {when}, within {m:g} m",
        n=int(frequent.sum()), total=int(inside.sum()), departures=min_departures, when=when,
        m=threshold_m)), notes


# ---------------------------------------------------------------------------- the ranking

def find_gaps(walking: WalkingService, layer: str, need: str = FOOD_STORE_CATEGORY, *,
              threshold_m: float | None = None, alternatives: Sequence[str] | None = None,
              bus_stops: gpd.GeoDataFrame | None = None, bus_threshold_m: float | None = None,
              min_departures: int | None = None, on: date | None = None,
              thresholds: dict[str, float] | None = None, staff: bool = False,
              source: str = "GTFS") -> GapResult:
    """Rank the areas of ``layer`` by people 65+ beyond a walk to ``need`` and covered by
    no alternative (see the module).

    Parameters
    ----------
    walking
        The coverage service (region and registry).
    layer
        An area layer of the region, by name or id (小学校区, ``elementary`` …).
    need
        A registry category, by id, label or alias (food_store, 食料品店, salon …).
    threshold_m
        The walk to ``need`` counted as within range (default: the category's
        ``walk_threshold_m``, else the service's threshold).
    alternatives
        Registry category ids (or labels) and ``"bus"``; default
        :func:`default_alternatives`. ``"bus"`` is used only with ``bus_stops``.
    bus_stops
        A bus-stop layer (:func:`geo_service.inputs.gtfs.read_bus_stops`).
    bus_threshold_m, min_departures
        Default from the layer definitions (:func:`public_transport_defaults`).
    on
        Count a stop's departures on this date instead of on every weekday.
    thresholds
        Walking thresholds of alternative categories (mobile sales), overriding the
        layer definitions'.
    staff
        Count staff-only resources too (default: the public view).
    """
    vocab = load_vocabulary()
    need_id = vocab.category_key(need, column="need")
    need_cat = vocab.by_id[need_id]
    if need_cat.kind != "place":
        label = Term(need_cat.label, need_cat.label_en)
        raise InputError(msg("a need is a category people walk to (kind = place); {label} "
                             "comes to people", label=label), column="need", value=need)
    area_layer = walking.area_layer(layer)
    known = {**walk_thresholds(), **(thresholds or {})}
    limit = threshold_m if threshold_m is not None else known.get(need_id,
                                                                  walking.threshold_m)
    if not limit > 0:
        raise InputError(msg("the walking threshold must be a positive number of metres"),
                         column="threshold", value=limit)
    def walk_to_need() -> dict[str, np.ndarray]:
        distance, origin = need_distance(walking, need_id, staff=staff)
        return {"distance": distance, "origin": np.array(origin)}

    # per demand point, saved with the region for the registry's state (a later command
    # with the same registry reads them instead of walking every resource again)
    walk = walking.saved_arrays(f"gaps_need-{need_id}-{_viewer(staff)}", [], walk_to_need)
    distance, origin = walk["distance"], str(walk["origin"])
    beyond = ~(distance <= limit + TOLERANCE_M)
    wanted = list(alternatives) if alternatives is not None else default_alternatives(need_cat)
    bus_m, bus_n = public_transport_defaults()
    bus_m = bus_threshold_m if bus_threshold_m is not None else bus_m
    bus_n = min_departures if min_departures is not None else bus_n
    where = msg("the registry's") if origin == "registry" else msg("the region's")
    need_label = Term(need_cat.label, need_cat.label_en)
    notes: list[Message] = [msg("{need}: {origin} resources, within {m:g} m on the network",
                                need=need_label, origin=where, m=limit)]
    alts: list[Alternative] = []
    for key in dict.fromkeys(wanted):
        if key == BUS:
            if bus_stops is None:
                if alternatives is not None:
                    raise InputError(msg("the bus alternative needs a GTFS feed (--gtfs)"),
                                     column="alternative", value=key)
                notes.append(msg("bus stops not counted: no GTFS feed given (--gtfs)"))
                continue
            alt, more = bus_alternative(walking, bus_stops, threshold_m=bus_m,
                                        min_departures=bus_n, on=on, source=source)
            notes += more
        else:
            cat_id = vocab.category_key(key, column="alternative")
            if vocab.by_id[cat_id].kind == "place":
                raise InputError(msg("an alternative is a service, mobile sales or 'bus'; "
                                     "people walk to this category (ask for it as the need)"),
                                 column="alternative", value=key)
            alt = _saved_alternative(walking, cat_id, staff=staff,
                                     threshold_m=known.get(cat_id, BUS_THRESHOLD_M))
        alts.append(alt)
    areas = area_layer.areas.reset_index(drop=True)
    table = gap_table([str(a) for a in areas["area_id"]], [str(n) for n in areas["name"]],
                      walking._demand_area(area_layer),
                      walking.region.demand["pop_65plus"].to_numpy(dtype=float), beyond,
                      {a.id: a.covers for a in alts})
    return GapResult(area_layer.name, need_id, need_cat.label, float(limit), alts, table,
                     notes)
