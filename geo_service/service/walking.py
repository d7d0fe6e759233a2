"""The coverage service: walking answers over a region for a registry snapshot.

Every entry point (the API's routes, the CLI, the planning tools) asks the same
:class:`WalkingService`; it knows nothing of HTTP or SQL (the registry is read through the
store's public methods). It holds one :class:`~geo_service.engine.region.Region` (network, demand
points with population 65+, area layers) and reads the registry's resources from the
store. What depends only on the registry's content — resources projected onto the network,
one distance field per category, per-area statistics — is kept per registry state
(:mod:`geo_service.service.registry_state`): each answer comes from one state; after an
edit the next state is built on the caller's thread, or (``background=True``, the API) in
a worker thread while the old state keeps answering.

Per request:

- ``nearby``: one cut-off search from the point on the (slope-aware) time graph, up to the
  asked minutes, summing the metres of each quickest walk on the way
  (:class:`~geo_service.engine.access.PointSearch`: only the nodes near the point are visited;
  targets are edge-projected at both ends, as the engine does);
- ``reach``: services whose service area covers the point (a spatial index of the
  registry's service areas, with walking-time areas checked on the network) and, per
  category, the resources within the walking threshold and the nearest one, even beyond
  it up to a bounded search limit (searches from the point);
- ``resource_reach``: the service area, or walking isochrones around a place, or the union
  of the catchments of a mobile-sales route's stops, with the people 65+ inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from geo_service import settings
from geo_service._errors import InputError
from geo_service.config import ServiceSettings
from geo_service.engine import saved
from geo_service.engine.access import (
    BAND_TOLERANCE_S,
    Attachment,
    DistanceField,
    PointSearch,
    attach_points,
    isochrone_polygon,
)
from geo_service.engine.region import Region
from geo_service.i18n import Message, msg
from geo_service.indicators.coverage import area_coverage, population_within
from geo_service.inputs.boundaries import AreaLayer, layer_id
from geo_service.inputs.layer_points import counted
from geo_service.layers import load_resource_layer, load_vocabulary
from geo_service.registry.resources import Resource, check_in_region, check_lonlat
from geo_service.registry.service_areas import service_area_geometry
from geo_service.registry.store import ResourceStore, open_store
from geo_service.registry.visibility import is_public, public_view
from geo_service.service.located import Located
from geo_service.service.registry_state import LiveStates, Memo, Token, one_state
from geo_service.service.service_coverage import covering_by_area, near_by_category


@dataclass(frozen=True)
class WalkResult:
    """The quickest walk from a point to one resource: its length (m) and time (min)."""

    resource: Resource
    distance_m: float
    minutes: float


def serve_region(store: ResourceStore, region: Region, *,
                 area_layer: str | None = None) -> tuple[float, float, float, float]:
    """Bind a registry to a region and tell it the region; return the padded bounds.

    The registry records the region it holds (:meth:`ResourceStore.bind_region`; a
    registry of another region is refused) and learns the region's area layers, extent
    (plus the snapping distance), walking speed and responsible-area layer:
    ``area_layer``, by default the region's first layer (小学校区 in the demo; a
    municipality that works by 日常生活圏域 names that layer). Stored resources whose area
    is not the one their location gives are brought in step
    (:meth:`ResourceStore.refresh_areas`).
    """
    store.bind_region(region.key, region.label)
    bounds = region.net.bounds_lonlat(pad_m=settings.max_snap_m)
    layers = {a.name: a for a in region.areas}
    area_layer = area_layer or (region.areas[0].name if region.areas else None)
    store.use_region(layers, bounds, region.net.walking_speed_mps, area_layer=area_layer)
    # a saved region remembers the registry state it last brought in step: the same
    # registry, unchanged since, needs no pass over every resource (each command would
    # otherwise read and check them all)
    def done() -> str | None:
        return region.saved_key("areas", extra={
            "areas_refreshed": [store.engine.url.render_as_string(hide_password=True),
                                list(store.state_token()), area_layer]})

    key = done()
    if key is None or not (region.cache_folder() / f"areas_refreshed-{key}.npz").exists():
        store.refresh_areas()
        if (key := done()) is not None:
            saved.save_entry(region.cache_folder(create=True), "areas_refreshed", key, {})
    return bounds


class WalkingService:
    """Walking-access answers over one region for the registry in ``store``.

    Parameters
    ----------
    region
        The loaded region (network, demand, area layers).
    store
        The registry; it is told the region (:meth:`ResourceStore.use_region`): its area
        layers draw service areas given as 小学校区 ids, locations must lie within the
        network's extent plus the snapping distance, and walking-time service areas are
        drawn at the region's walking speed.
    threshold_m
        Walking distance counted as "within walking range"; default the region's own
        (:attr:`Region.threshold_m`, the threshold its analysis was saved with).
    area_layer
        The area layer coordinators are responsible for (see :func:`serve_region`).
    background
        Rebuild what derives from the registry in a worker thread after an edit, answering
        from the previous state meanwhile (the API), instead of on the next caller's
        thread (see :mod:`geo_service.service.registry_state`).
    """

    def __init__(self, region: Region, store: ResourceStore, *,
                 threshold_m: float | None = None, area_layer: str | None = None,
                 background: bool = False) -> None:
        self.region = region
        self.store = store
        self.net = region.net
        self.threshold_m = threshold_m if threshold_m is not None else region.threshold_m
        self.layers = {a.name: a for a in region.areas}
        #: the network's extent plus the snapping distance (lon/lat, padded in metres):
        #: where a point can still be attached to a street
        self.bounds = serve_region(store, region, area_layer=area_layer)
        #: the registry's states (the current one answers)
        self.live = LiveStates(store, self.net, self.bounds, background=background)
        store.on_change(self.refresh)
        # a place reached within t seconds lies within t × this many metres (rounding aside)
        self._max_speed = self.net.fastest_walk_mps * (1 + 1e-9)
        self._static = Memo()  # what depends on the region alone

    @classmethod
    def from_settings(cls, region: Region, settings: ServiceSettings, *,
                      store: ResourceStore | None = None,
                      threshold_m: float | None = None,
                      background: bool = False) -> WalkingService:
        """The coverage service as a deployment configures it — the one constructor of the
        CLI and the API: the region's registry (``settings.registry_url``) unless ``store``
        is given, ``settings.threshold_m`` (``GEO_SERVICE_THRESHOLD_M``) unless
        ``threshold_m`` overrides it, and ``settings.area_layer``; ``background`` as in
        the class (the API's)."""
        return cls(region, store or open_store(settings.registry_url(region.key)),
                   threshold_m=threshold_m if threshold_m is not None else settings.threshold_m,
                   area_layer=settings.area_layer, background=background)

    @property
    def name(self) -> str:
        """The region's human name (:attr:`Region.label`: 飯塚市, never a file's path)."""
        return self.region.label

    @property
    def n_nodes(self) -> int:
        """Number of walk-network nodes."""
        return self.net.n_nodes

    def resource_count(self, *, staff: bool) -> int:
        """Live resources in the registry the viewer may see: for staff all, for the
        public the public ones (of the current registry state)."""
        return self.live.current().counts[staff]

    # ------------------------------------------------------------------ registry states

    def refresh(self) -> None:
        """The registry changed in this process: look for its new state now (called after
        local writes)."""
        self.live.poke()

    def registry_token(self) -> Token:
        """The registry state the answers come from now (or, within a request, came from)."""
        return self.live.current().token

    def cached(self, key: Any, make: Any) -> Any:
        """``make()``, computed once per registry state (``key`` starting "static": once)."""
        if key[0] == "static":
            return self._static.get(key, make)
        return self.live.current().memo.get(key, make)

    def saved_arrays(self, name: str, parts: Any,
                     make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """``make()``: arrays over the region's demand points derived from the registry
        (who a category covers, the walk to a need …), saved with a region loaded from a
        folder (:mod:`~geo_service.engine.saved`) for the registry's current state and
        found again by the next command while neither changed. The key holds the
        region's files, the registry (its URL and
        :meth:`~geo_service.registry.store.ResourceStore.state_token`), the service's
        threshold, the category definitions and ``parts`` (JSON-able: what ``make``
        depends on beyond those)."""
        return saved.load_or_make(self.region, name, ("demand", "areas", "resources", "meta"), {
            "registry": [self.store.engine.url.render_as_string(hide_password=True),
                         list(self.store.state_token())],
            "threshold": self.threshold_m, "vocabulary": repr(load_vocabulary().categories),
            name: parts}, make)

    def resources(self, *, staff: bool) -> list[Resource]:
        """Every resource the viewer may see (staff: all live ones; else the public ones),
        in registry order, of the current registry state."""
        return self.live.current().resources[staff]

    def resource(self, resource_id: str, *, staff: bool) -> Resource:
        """One resource of :meth:`resources` by id (else the store's, e.g. a staff-only
        one asked for by the public view's code); LookupError when there is none."""
        by_id = self.cached(("resource_ids", staff),
                            lambda: {r.id: r for r in self.resources(staff=staff)})
        return by_id[resource_id] if resource_id in by_id else self.store.get(resource_id)

    def demand_tree(self) -> shapely.STRtree:
        """A spatial index of the demand points (metric CRS), built once."""
        return self.cached(("static", "demand_tree"),
                           lambda: shapely.STRtree(self.region.demand.geometry.to_numpy()))

    def located(self, *, staff: bool) -> Located:
        """Located resources the viewer may see, projected onto the network."""
        return self.live.current().located[staff]

    def located_of(self, *categories: str, staff: bool) -> Located:
        """:meth:`located` of ``categories`` only (:meth:`LiveStates.located_of`)."""
        return self.live.located_of(frozenset(categories), staff=staff)

    def serving(self, lon: float, lat: float, *, staff: bool) -> list[str]:
        """Ids of the services whose area covers (lon, lat), in registry order.

        The same answer as the store's ``ResourceFilter(serves=...)`` query (whole-city
        services, and those whose service-area polygon covers the point), from a spatial
        index of the service areas kept per registry state instead of a query per request.
        """
        ids, citywide, tree, which = self.live.current().services[staff]
        hit = citywide.copy()
        hit[which[tree.query(shapely.Point(lon, lat), predicate="covered_by")]] = True
        return list(ids[hit])

    def category_field(self, category: str, *, staff: bool) -> tuple[DistanceField, np.ndarray]:
        """The distance field to the nearest located resource of ``category``, and the
        positions in :meth:`located` of the points it was made from (kept per state)."""
        return self.live.current().field(category, staff=staff)

    # ------------------------------------------------------------------ points

    def attach_lonlat(self, lon: float, lat: float) -> Attachment:
        """Project a query point onto the network; 422-type errors when it cannot be."""
        check_lonlat(lon, lat)
        check_in_region(lon, lat, self.bounds, column="lat")
        x, y = self.net.from_geographic.transform(lon, lat)
        return attach_points(self.net, np.array([[x, y]]), source="query")

    @one_state()
    def nearby(self, lon: float, lat: float, *, minutes: float, staff: bool,
               categories: Sequence[str] | None = None) -> list[WalkResult]:
        """Resources reachable on foot within ``minutes``, nearest (by time) first, each
        with the time and the length of the quickest walk there (one search, by time).

        A mobile-sales resource counts once, at its nearest stop.
        """
        origin = self.attach_lonlat(lon, lat)
        loc = self.located(staff=staff)
        limit_s = minutes * 60
        walk = PointSearch(self.net, origin)
        pick = loc.index.near(walk, limit_s * self._max_speed)
        if categories:
            pick = pick[np.isin(loc.categories[pick], list(categories))]
        s, d = walk.quickest(loc.attachment.take(pick), limit_s)
        hit = np.flatnonzero(s <= limit_s)
        best: dict[str, tuple[float, float]] = {}
        for rid, di, si in zip(loc.resource_ids[pick][hit], d[hit], s[hit], strict=True):
            if rid not in best or si < best[rid][1]:
                best[rid] = (float(di), float(si))
        ranked = sorted(best.items(), key=lambda kv: (kv[1][1], kv[0]))
        return [WalkResult(loc.resources[rid], di, si / 60) for rid, (di, si) in ranked]

    @one_state()
    def reach(self, lon: float, lat: float, *, staff: bool
              ) -> tuple[list[Resource], list[dict[str, Any]]]:
        """What serves a point: services whose area covers it, and walkable resources.

        Cut-off searches from the point answer both the walking-time service areas and,
        per category, the resources within the walking threshold (count) and the nearest
        one, also beyond the threshold up to :attr:`search_limit_m` (``within_threshold``
        says which; minutes are None where steep ground makes the walk longer than twice
        the flat time, i.e. a path that climbs 20 % on average): one search by distance up
        to the threshold, the categories' distance fields for those with nothing within it
        (:meth:`_nearest_beyond`), and one search by time (an A*, aimed at its targets)
        that stops once the walking-time services and those nearest resources are reached.
        """
        origin = self.attach_lonlat(lon, lat)
        loc = self.located(staff=staff)
        vocab = load_vocabulary()
        # only what comes to people (配食, 宅配, 移動販売, 見守り, 訪問 … by their kind in
        # layers/) serves a home; a place with a drawn area is still a place to walk to
        candidates = [loc.resources[i] for i in self.serving(lon, lat, staff=staff)
                      if i in loc.resources
                      and vocab.category(loc.resources[i].category).kind != "place"]
        walk = [r for r in candidates if r.service_area.kind == "walk" and r.lon is not None]
        walk_s = max((r.service_area.minutes or 0) * 60 for r in walk) if walk else 0.0
        xy = np.array([self.net.from_geographic.transform(r.lon, r.lat)
                       for r in walk]).reshape(-1, 2)
        walk_att = attach_points(self.net, xy, max_snap_m=math.inf)
        search = PointSearch(self.net, origin)
        near = loc.index.near(search, self.threshold_m)
        d = np.full(len(loc.attachment), np.inf)
        d[near] = search.metres(loc.attachment.take(near), self.threshold_m)
        nearest = self._nearest_per_category(loc, d, self.threshold_m)
        seconds: dict[int, float] = {}
        for cat in [c for c, i in nearest.items() if i is None]:
            nearest[cat] = self._nearest_beyond(cat, origin, d, seconds, staff=staff)
        picked = np.array([i for i in nearest.values()
                           if i is not None and i not in seconds], dtype=np.int64)
        s = search.seconds(Attachment.concat([walk_att, loc.attachment.take(picked)]),
                           max(self._slow_s(float(max(d[picked], default=0.0))), walk_s),
                           aimed=True)  # toward its few targets, some up to 2 km away
        ok_walk = {r.id for r, si in zip(walk, s[:len(walk)], strict=True)
                   if si <= (r.service_area.minutes or 0) * 60}
        services = [r for r in candidates if r.service_area.kind != "walk" or r.id in ok_walk]
        if not staff:
            services = [r for r in services if is_public(r) and not reveals_location(r)]
        seconds.update(zip(picked.tolist(), s[len(walk):].tolist(), strict=True))
        return services, self._walkable(loc, d, nearest, seconds)

    @property
    def search_limit_m(self) -> float:
        """How far :meth:`reach` names a category's nearest resource (m): the larger of
        the threshold and :data:`geo_service.settings.nearest_search_m`."""
        return max(self.threshold_m, settings.nearest_search_m)

    def _slow_s(self, metres: float) -> float:
        """Twice the flat walking time of ``metres`` (at least of the threshold): a walk
        slower than that (a path climbing 20 % on average) gets no minutes."""
        return 2 * max(self.threshold_m, metres) / self.net.walking_speed_mps

    def _nearest_beyond(self, category: str, origin: Attachment, d: np.ndarray,
                        seconds: dict[int, float], *, staff: bool) -> int | None:
        """The located point of ``category`` nearest the origin when none lies within the
        threshold, from the category's distance field (O(1) once it is made), or None
        beyond :attr:`search_limit_m`. Its metres go into ``d``; its seconds into
        ``seconds`` when the field's quickest walk is the walk to it (otherwise a search
        by time finds them)."""
        field, pick = self.category_field(category, staff=staff)
        at = field.at(origin)
        if not at.distance_m[0] <= self.search_limit_m:
            return None
        best = int(pick[at.nearest[0]])
        d[best] = at.distance_m[0]
        if at.quickest[0] == at.nearest[0]:
            seconds[best] = float(at.seconds[0])
        return best

    @staticmethod
    def _nearest_per_category(loc: Located, d: np.ndarray, limit_m: float,
                              only: set[str] | None = None) -> dict[str, int | None]:
        """Per category present (vocabulary order; or those of ``only``): the located point
        nearest the origin within ``limit_m``, or None."""
        within = np.flatnonzero(d <= limit_m)
        within_cats = loc.categories[within]
        out: dict[str, int | None] = {}
        for cat in (c for c in load_vocabulary().by_id
                    if c in loc.present and (only is None or c in only)):
            pick = within[within_cats == cat]
            out[cat] = int(pick[np.argmin(d[pick])]) if len(pick) else None
        return out

    def _walkable(self, loc: Located, d: np.ndarray, nearest: dict[str, int | None],
                  seconds: dict[int, float]) -> list[dict[str, Any]]:
        vocab = load_vocabulary()
        within = np.flatnonzero(d <= self.threshold_m)
        within_cats = loc.categories[within]
        out = []
        for cat, best in nearest.items():
            pick = within[within_cats == cat]
            row = {"category": cat, "category_label": vocab.by_id[cat].label,
                   "count": len(set(loc.resource_ids[pick])), "nearest": None,
                   "distance_m": None, "minutes": None, "within_threshold": False}
            if best is not None:
                metres, walk_s = float(d[best]), seconds[best]
                row.update(nearest=loc.resources[loc.resource_ids[best]], distance_m=metres,
                           minutes=walk_s / 60 if walk_s <= self._slow_s(metres) else None,
                           within_threshold=metres <= self.threshold_m)
            out.append(row)
        return out

    # ------------------------------------------------------------------ reach of a resource

    def _demand_xy(self) -> np.ndarray:
        return shapely.get_coordinates(self.region.demand.geometry.to_numpy())

    def _pop65(self, mask: np.ndarray) -> float:
        return float(self.region.demand["pop_65plus"].to_numpy(dtype=float)[mask].sum())

    @one_state()
    def resource_reach(self, resource: Resource, *, minutes: Sequence[float],
                       staff: bool) -> dict[str, Any]:
        """How far a resource reaches, with the people 65+ inside.

        Returns a dict with ``kind`` (service_area, isochrones, stops) and ``bands``: a list
        of {minutes or None, geometry (lon/lat), pop_65plus}.
        """
        view = resource.model_dump(mode="json") if staff else public_view(resource)
        if view is None:
            raise InputError(msg("resource not visible"), value=resource.id)
        demand_xy = self._demand_xy()
        sa_kind = view["service_area"]["kind"]
        if sa_kind in ("polygon", "areas", "radius", "municipality"):
            if sa_kind == "municipality":
                geom = self.net.to_lonlat(shapely.union_all(
                    self.region.areas[0].areas.to_crs(self.net.crs).geometry.to_numpy())
                ) if self.region.areas else None
                mask = np.ones(len(demand_xy), bool)
            else:
                geom = service_area_geometry(resource, self.layers)
                if geom is None:
                    raise InputError(msg("the service area's boundary layer is not loaded"),
                                     column="service_area.layer",
                                     value=resource.service_area.layer)
                metric = self.net.to_metric(geom)
                mask = shapely.contains_xy(metric, demand_xy[:, 0], demand_xy[:, 1])
            return {"kind": "service_area", "bands": [
                {"minutes": None, "geometry": geom, "pop_65plus": self._pop65(mask)}]}
        loc = self.located(staff=staff)
        pick = np.flatnonzero(loc.resource_ids == resource.id)
        if len(pick) == 0:
            located = view["lon"] is not None or len(view["schedule"]["stops"])
            raise InputError(msg("the resource lies outside the region") if located
                             else msg("the resource has no location to walk from"),
                             column="location", value=resource.id)
        field = DistanceField(self.net, loc.attachment.take(pick))
        secs = field.at(self.region.demand_attachment).seconds
        kind = "stops" if len(view["schedule"]["stops"]) else "isochrones"
        steps = [view["service_area"]["minutes"]] if sa_kind == "walk" else list(minutes)
        w65 = self.region.demand["pop_65plus"].to_numpy(dtype=float)
        bands = [{"minutes": float(m),
                  "geometry": self._isochrone_lonlat(field, m),
                  "pop_65plus": population_within(secs, w65, m, tolerance_s=BAND_TOLERANCE_S)}
                 for m in steps]
        return {"kind": kind, "bands": bands}

    def isochrone(self, lon: float, lat: float, minutes: float) -> dict[str, Any]:
        """The walking-time area of a place at (lon, lat): what a ``walk`` service area of
        ``minutes`` covers once a resource is saved there (the band
        :meth:`resource_reach` draws), with the people 65+ inside; for previews.

        Returns {minutes, geometry (lon/lat, None when no street lies within), pop_65plus}.
        """
        field = DistanceField(self.net, self.attach_lonlat(lon, lat))
        secs = field.at(self.region.demand_attachment).seconds
        w65 = self.region.demand["pop_65plus"].to_numpy(dtype=float)
        shape = self._isochrone_lonlat(field, minutes)
        return {"minutes": float(minutes), "geometry": None if shape.is_empty else shape,
                "pop_65plus": population_within(secs, w65, minutes,
                                                tolerance_s=BAND_TOLERANCE_S)}

    def _isochrone_lonlat(self, field: DistanceField, minutes: float) -> shapely.Geometry:
        shape = isochrone_polygon(self.net, field.node_seconds, minutes)
        return shape if shape.is_empty else self.net.to_lonlat(shape)

    # ------------------------------------------------------------------ areas

    def area_layer(self, name: str) -> AreaLayer:
        """The region's area layer called ``name`` or with that id (:func:`layer_id`:
        ``elementary`` for 小学校区, ``mesh250`` …); 404-type error when absent."""
        by_id = {layer_id(k): v for k, v in self.layers.items()}
        layer = self.layers.get(name) or by_id.get(name)
        if layer is None:
            known = ", ".join(f"{k} ({layer_id(k)})" for k in self.layers)
            raise LookupError(msg("no area layer {name!r}; layers: {known}", name=name,
                                  known=known))
        return layer

    def area_layers(self) -> list[dict[str, Any]]:
        """The region's area layers: name, ASCII id and number of areas."""
        return [{"name": k, "id": layer_id(k), "areas": len(v.areas)}
                for k, v in self.layers.items()]

    def _demand_area(self, layer: AreaLayer) -> np.ndarray:
        def make() -> np.ndarray:
            areas = layer.areas.to_crs(self.net.crs).reset_index(drop=True)
            return AreaLayer(layer.name, areas).assign(self.region.demand.geometry)

        return self.cached(("static", "demand_area", layer.name), make)

    @one_state()
    def area_coverage(self, layer_name: str, *, staff: bool,
                      area_id: str | None = None) -> list[dict[str, Any]]:
        """Per area: 65+ population, and per category the resources located in it, the
        services covering it, and the share of 65+ within walking range (threshold); see
        :func:`geo_service.indicators.coverage.area_coverage`."""
        layer = self.area_layer(layer_name)
        areas = layer.areas.reset_index(drop=True)
        ids = [str(a) for a in areas["area_id"]]
        if area_id is not None and area_id not in set(ids):
            raise LookupError(msg("no area {area!r} in layer {layer!r}", area=area_id,
                                  layer=layer_name))
        loc = self.located(staff=staff)
        geoms_ll = areas.to_crs(4326).geometry.to_numpy()
        res_area = AreaLayer(layer.name, areas.to_crs(4326)).assign(
            _points(loc.lonlat)) if len(loc.lonlat) else np.zeros(0, np.int64)
        within_walk = {cat: self.cached(("demand_near", cat, staff),
                                        lambda c=cat: near_by_category(self, loc, c))
                       for cat in load_vocabulary().by_id if cat in loc.present}
        covering = self.cached(("covering", layer.name, staff),
                               lambda: covering_by_area(self, layer.name, ids, geoms_ll,
                                                        staff))
        if area_id is not None:
            covering = [c if aid == area_id else [] for aid, c in zip(ids, covering,
                                                                      strict=True)]
        return area_coverage(
            ids, [str(n) for n in areas["name"]], geoms_ll,
            demand_area=self._demand_area(layer),
            pop_65plus=self.region.demand["pop_65plus"].to_numpy(dtype=float),
            located_area=res_area,
            located=[(rid, loc.resources[rid].category) for rid in loc.resource_ids],
            covering=covering, within_walk=within_walk,
            labels={k: c.label for k, c in load_vocabulary().by_id.items()},
            only=area_id)

    @one_state()
    def difficulty(self, layer_name: str) -> tuple[Any, str, int]:
        """The engine's shopping-difficulty indicators per area of a layer, with where the
        food stores came from ("registry", "region", or "none": a region without food
        stores gets its areas and their people, every walk to a store unknown) and how many
        there are.

        The registry's public, located 食料品店 are used when it has any, so that a store
        added, closed (deleted) or moved by a coordinator shows at once (cached per
        registry state); otherwise the region's own food-store layer (e.g. from OSM).
        """
        from geo_service.indicators import difficulty

        layer = self.area_layer(layer_name)

        def make() -> tuple[Any, str, int]:
            try:
                source, stores, field = self._food_stores()
            except NoFoodStoresError:  # the areas and their people, nothing measured
                table = difficulty.areas_without_stores(self.region.demand, [layer],
                                                        threshold_m=self.threshold_m)
                return table.to_crs(4326), "none", 0
            points = difficulty.point_indicators(
                self.region.demand, field.at(self.region.demand_attachment), stores,
                threshold_m=self.threshold_m)
            table = difficulty.area_indicators(points, [layer], stores,
                                               threshold_m=self.threshold_m).to_crs(4326)
            return table, source, len(stores)

        return self.cached(("difficulty", layer.name), make)

    def _food_stores(self) -> tuple[str, Any, DistanceField]:
        import geopandas as gpd

        loc = self.located(staff=False)
        food = load_vocabulary().food_places  # 食料品店, as layers/ define it
        pick = np.flatnonzero(np.isin(loc.categories, [c.id for c in food]))
        if len(pick):
            stores = gpd.GeoDataFrame(
                {"store_id": loc.resource_ids[pick].astype(str)},
                geometry=_points(loc.lonlat[pick]).to_numpy(), crs=4326).to_crs(self.net.crs)
            return "registry", stores, DistanceField(self.net, loc.attachment.take(pick))
        for key in (c.layer for c in food if c.layer in self.region.resources):
            # the categories its layer definition counts, as the CLI does
            stores = counted(self.region.resources[key],
                             load_resource_layer(key)).to_crs(self.net.crs)
            return "region", stores, self.region.distance_field(stores, source="food stores")
        raise NoFoodStoresError()


def no_food_stores() -> Message:
    """What to say when neither the registry nor the region has food stores (食料品店),
    and how to add them."""
    return msg("the region has no food store (食料品店) data (add them with --stores)")


class NoFoodStoresError(LookupError):
    """Neither the registry nor the region has food stores: nothing that walks to a store
    can be measured (``args[0]``: :func:`no_food_stores`)."""

    def __init__(self) -> None:
        super().__init__(no_food_stores())


def _points(lonlat: np.ndarray) -> Any:
    import geopandas as gpd

    return gpd.GeoSeries(shapely.points(lonlat), crs=4326)


def reveals_location(r: Resource) -> bool:
    """A radius or walking-time area drawn around a staff-only location would reveal it."""
    return "location" in r.staff_fields and r.service_area.kind in ("radius", "walk")
