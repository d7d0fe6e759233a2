"""What-if scenarios: a named list of changes to a baseline region, recomputed incrementally.

A :class:`Scenario` is data (saved as JSON): a name, a description and a list of changes:

==================  ===========================================================================
``close_store``     a store closes (``store``: its id, or its name when that is unique)
``add_store``       a new store (``id``, ``name``, ``lon``, ``lat``, ``category`` of the layer)
``add_stop``        a new 移動販売 stop, counted as a food source people walk to (``id``,
                    ``name``, ``lon``, ``lat``); it serves only on its days — say so when
                    reading the numbers
``threshold``       another walking threshold (``metres``)
``speed``           another flat walking speed (``mps``)
``projection``      a future population (``file``, ``year``, optional ``layer`` and
                    ``columns``; see :mod:`geo_service.planning.projection`)
``bus_network``     the GTFS / GTFS-JP feeds running today (``feeds``; optional
                    ``threshold_m`` and ``min_departures``, else those of
                    ``layers/resource_categories.toml``: 300 m, 10 weekday departures)
``cut_route``       a feed (one route, or a group of routes) that stops running (``feed``)
``add_route``       a feed that starts running (``feed``)
``service_area``    a service of the registry (配食, 宅配, 買い物代行: ``resource``, its id)
                    gets another service area (``service_area``: the registry's
                    :class:`~geo_service.registry.resources.ServiceArea`, e.g. ``{"kind": "polygon",
                    "geometry": {...}}``, ``{"kind": "areas", "layer": "小学校区",
                    "area_ids": [...]}``, ``{"kind": "radius", "radius_m": 800}``,
                    ``{"kind": "walk", "minutes": 15}``, ``{"kind": "municipality"}``)
``withdraw_service`` a service of the registry stops (``resource``, its id)
==================  ===========================================================================

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

The baseline (:class:`Baseline`) is one full distance-field pass, the same numbers as
:func:`~geo_service.jobs.pipeline.compute_difficulty`; its arrays are made read-only and a
scenario works on copies, so the baseline is never modified.

Recomputing only what changed (:class:`ScenarioState`):

- **a closure** can only lengthen walks, and only for the network nodes whose nearest store
  was the closed one (the engine keeps no second-nearest, so those nodes are searched
  again): their values are cleared and a Dijkstra restricted to them starts from the
  unchanged nodes around them (each at its own distance, with its own nearest store) and
  from the remaining stores on their edges. Nothing outside that set can change.
- **a new store** can only shorten walks: a Dijkstra from the new store that goes on only
  through nodes it reaches strictly sooner than their current store (a pruned search).
- The same is done on the slope-aware time field (by direction of travel) when the network
  has elevations; on the flat, times are distances / speed.
- Only points on an edge with a changed end node, or sharing an edge with a changed store,
  are evaluated again (:meth:`~geo_service.engine.access.DistanceField.at`, the engine's own
  formula); straight-line distances only for the points whose nearest store closed (a
  query among the remaining stores) or that a new store is nearer to. Per area, only the
  areas holding a point whose indicators changed are counted again (their weighted
  quantiles from the baseline's sorted order with their segments re-sorted); the others
  keep the baseline's row — bit for bit the table of
  :func:`~geo_service.indicators.difficulty.area_indicators` (tested). Another threshold or car rate
  counts every area.
- A speed change recomputes the fields once (a full pass; distances are unchanged);
  a threshold or a projection changes no walk at all, only the indicators.

Because floating-point addition rounds monotonically, both searches give node distances
that are bit for bit those of a full recomputation (tested); the *identity* of the nearest
store may differ where two stores are exactly equally far.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numba import njit
from scipy import sparse

from geo_service._errors import InputError
from geo_service.engine.access import Attachment, DistanceField, PointAccess
from geo_service.engine.region import Region
from geo_service.indicators.difficulty import (
    AREA_COLUMNS,
    DifficultyResult,
    area_indicators,
    car_adjusted,
    point_indicators,
    sorted_weighted_quantile,
    store_counts,
)
from geo_service.inputs.boundaries import AreaLayer
from geo_service.inputs.layer_points import counted
from geo_service.inputs.readers import check_lon_lat
from geo_service.layers import ResourceLayer

if TYPE_CHECKING:
    from geo_service.service.walking import WalkingService

#: change kinds a scenario may hold today
KINDS = ("close_store", "add_store", "add_stop", "threshold", "speed", "projection",
         "bus_network", "cut_route", "add_route", "service_area", "withdraw_service")
#: change kinds that read the registry's services (their service areas)
SERVICE_KINDS = ("service_area", "withdraw_service")
#: change kinds accepted in saved files but not available yet (none today)
PENDING_KINDS: tuple[str, ...] = ()
#: the category recorded for an added 移動販売 stop
STOP_CATEGORY = "mobile_sales"
_NAME = re.compile(r"^[\w\-. ()（）・]{1,80}$")


class ScenarioError(InputError):
    """A scenario is malformed, names unknown stores, or asks for what is not available."""


# --- the scenario as data ------------------------------------------------------------------

@dataclass
class Scenario:
    """A named what-if: changes applied, in order, to a baseline region."""

    name: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    created: str = ""
    region: str = ""  # the key of the region it was made for (Region.key)

    def __post_init__(self) -> None:
        check_scenario_name(self.name)
        self.changes = [normalise_change(c, i, scenario=self.name)
                        for i, c in enumerate(self.changes)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "description": self.description, "created": self.created,
                "region": self.region, "changes": self.changes}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | Path | None = None) -> Scenario:
        """Read the JSON form; errors name the file (``source``)."""
        if not isinstance(data, dict) or "name" not in data:
            raise ScenarioError("a scenario is a JSON object with a name and changes",
                                file=source)
        try:
            return cls(name=str(data["name"]), changes=list(data.get("changes") or []),
                       description=str(data.get("description", "")),
                       created=str(data.get("created", "")), region=str(data.get("region", "")))
        except ScenarioError as exc:
            if source is None:
                raise
            raise ScenarioError(exc.reason, file=source, row=exc.row, column=exc.column,
                                value=exc.value) from exc


def check_scenario_name(name: str) -> str:
    """A scenario's name: letters (any script), digits, ``-_. ()・`` and spaces, ≤ 80."""
    if not _NAME.match(name or "") or name.strip() != name or name in (".", ".."):
        raise ScenarioError("a scenario name may hold letters, digits, spaces and - _ . ( ) ・ "
                            "(at most 80, no leading or trailing space)", column="name",
                            value=name)
    return name


def _number(change: dict[str, Any], key: str, where: str, *, positive: bool = True) -> float:
    try:
        value = float(change[key])
    except KeyError:
        raise ScenarioError(f"{where}: '{change.get('kind')}' needs '{key}'",
                            column=key) from None
    except (TypeError, ValueError):
        raise ScenarioError(f"{where}: not a number", column=key, value=change[key]) from None
    if positive and not (np.isfinite(value) and value > 0):
        raise ScenarioError(f"{where}: must be a positive number", column=key, value=value)
    return value


def normalise_change(change: dict[str, Any], index: int, *, scenario: str = "") -> dict[str, Any]:
    """Check one change's fields (not yet against a region) and return it normalised."""
    where = f"scenario {scenario!r}, change {index + 1}" if scenario else f"change {index + 1}"
    if not isinstance(change, dict):
        raise ScenarioError(f"{where}: a change is an object with a 'kind'", value=change)
    kind = change.get("kind")
    if kind in PENDING_KINDS:
        raise ScenarioError(f"{where}: '{kind}' is not available yet", column="kind",
                            value=kind)
    if kind not in KINDS:
        raise ScenarioError(f"{where}: unknown kind; known kinds are {', '.join(KINDS)}",
                            column="kind", value=kind)
    out: dict[str, Any] = {"kind": kind}
    if kind == "close_store":
        store = str(change.get("store", "")).strip()
        if not store:
            raise ScenarioError(f"{where}: close_store needs 'store' (an id or a name)",
                                column="store")
        out["store"] = store
    elif kind in ("add_store", "add_stop"):
        lon, lat = _number(change, "lon", where, positive=False), _number(change, "lat", where,
                                                                          positive=False)
        check_lon_lat(np.array([lon]), np.array([lat]), source=where)
        ident = str(change.get("id", "")).strip()
        if not ident:
            raise ScenarioError(f"{where}: {kind} needs an 'id'", column="id")
        out.update(id=ident, name=str(change.get("name", "")), lon=lon, lat=lat)
        if kind == "add_store":
            if not str(change.get("category", "")).strip():
                raise ScenarioError(f"{where}: add_store needs a 'category'",
                                    column="category")
            out["category"] = str(change["category"]).strip()
    elif kind == "threshold":
        out["metres"] = _number(change, "metres", where)
    elif kind == "speed":
        out["mps"] = _number(change, "mps", where)
    elif kind == "bus_network":
        feeds = change.get("feeds")
        if not isinstance(feeds, list) or not feeds or not all(str(f).strip() for f in feeds):
            raise ScenarioError(f"{where}: bus_network needs 'feeds', a list of GTFS feeds",
                                column="feeds", value=feeds)
        out["feeds"] = [str(f) for f in feeds]
        if change.get("threshold_m") is not None:
            out["threshold_m"] = _number(change, "threshold_m", where)
        if change.get("min_departures") is not None:
            value = _number(change, "min_departures", where, positive=False)
            if value < 0 or value != int(value):
                raise ScenarioError(f"{where}: a whole number of departures",
                                    column="min_departures", value=value)
            out["min_departures"] = int(value)
    elif kind in ("cut_route", "add_route"):
        if not str(change.get("feed", "")).strip():
            raise ScenarioError(f"{where}: {kind} needs 'feed' (a GTFS zip or folder)",
                                column="feed")
        out["feed"] = str(change["feed"])
    elif kind in SERVICE_KINDS:
        resource = str(change.get("resource", "")).strip()
        if not resource:
            raise ScenarioError(f"{where}: {kind} needs 'resource' (the service's id in the "
                                "registry)", column="resource")
        out["resource"] = resource
        if kind == "service_area":
            out["service_area"] = _service_area(change.get("service_area"), where)
    elif kind == "projection":
        if not str(change.get("file", "")).strip():
            raise ScenarioError(f"{where}: projection needs a 'file'", column="file")
        year = _number(change, "year", where)
        if year != int(year) or not 1900 < year < 2200:
            raise ScenarioError(f"{where}: a year such as 2035", column="year", value=year)
        out.update(file=str(change["file"]), year=int(year))
        if change.get("layer"):
            out["layer"] = str(change["layer"])
        columns = change.get("columns") or {}
        if not isinstance(columns, dict):
            raise ScenarioError(f"{where}: 'columns' maps a role to a column name",
                                column="columns", value=columns)
        if columns:
            out["columns"] = {str(k): str(v) for k, v in columns.items()}
    return out


def _service_area(value: Any, where: str) -> dict[str, Any]:
    """A service area checked by the registry's model, in its JSON form."""
    from pydantic import ValidationError

    from geo_service.registry.resources import ServiceArea

    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: service_area needs 'service_area', an object with a "
                            "'kind' (polygon, areas, radius, walk, municipality)",
                            column="service_area", value=value)
    if value.get("kind") == "none":
        raise ScenarioError(f"{where}: to stop a service use withdraw_service",
                            column="service_area.kind", value="none")
    try:
        area = ServiceArea.model_validate(value)
    except InputError as exc:
        raise ScenarioError(f"{where}: {exc.reason}", column=exc.column or "service_area",
                            value=exc.value) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ScenarioError(f"{where}: {msg}", column="service_area." + ".".join(
            str(p) for p in first["loc"]), value=first.get("input")) from None
    return area.model_dump(mode="json", exclude_none=True,
                           exclude_defaults=False)


def scenario_folder(region: Region, folder: str | Path | None = None) -> Path:
    """Where a region's scenarios are kept: ``folder``, else ``scenarios/<region key>`` in
    the data directory."""
    if folder is not None:
        return Path(folder)
    from geo_service.config import data_dir  # read when called (GEO_SERVICE_DATA_DIR)

    return data_dir() / "scenarios" / region.key


def _scenario_path(folder: Path, name: str) -> Path:
    return folder / f"{check_scenario_name(name)}.json"


def save_scenario(scenario: Scenario, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``<name>.json`` into ``folder`` (atomically); refuse to overwrite unless asked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = _scenario_path(folder, scenario.name)
    if path.exists() and not overwrite:
        raise ScenarioError("a scenario of this name exists (delete it first, or replace it)",
                            file=path, value=scenario.name)
    if not scenario.created:
        scenario.created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(scenario.to_dict(), ensure_ascii=False, indent=2) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def load_scenario(name_or_path: str | Path, folder: str | Path | None = None) -> Scenario:
    """A saved scenario, by name (in ``folder``) or by the path of its JSON file."""
    path = Path(name_or_path)
    if not (path.suffix == ".json" and path.exists()):
        if folder is None:
            raise ScenarioError("no such scenario file", value=str(name_or_path))
        path = _scenario_path(Path(folder), str(name_or_path))
        if not path.exists():
            known = ", ".join(s.name for s in list_scenarios(folder)) or "none"
            raise ScenarioError(f"no scenario of this name (saved: {known})", file=folder,
                                value=str(name_or_path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"not a scenario JSON file: {exc}", file=path) from exc
    return Scenario.from_dict(data, source=path)


def list_scenarios(folder: str | Path) -> list[Scenario]:
    """The scenarios saved in ``folder``, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [load_scenario(p) for p in sorted(folder.glob("*.json"))]


def delete_scenario(name: str, folder: str | Path) -> Path:
    """Remove a saved scenario; an unknown name is an error."""
    path = _scenario_path(Path(folder), name)
    if not path.exists():
        raise ScenarioError("no scenario of this name", file=folder, value=name)
    path.unlink()
    return path


# --- the baseline ------------------------------------------------------------------------

def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


@dataclass(eq=False)
class Baseline:
    """The baseline of a region: counted stores, node fields and per-point answers (one
    full pass) and the indicators; every array read-only."""

    region: Region
    layer: ResourceLayer
    threshold_m: float
    car_rate: float | pd.Series | None
    stores: gpd.GeoDataFrame  # counted stores, metric CRS (store_id, name, category)
    store_att: Attachment
    node: dict[str, np.ndarray]  # distance, nearest, seconds, quickest
    point: dict[str, np.ndarray]  # the same per demand point, and the straight line's
    result: DifficultyResult
    #: per area layer, made once when first needed (:meth:`area_index`)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def area_index(self) -> list[dict[str, Any]]:
        """Per area layer of the region: its areas in the points' CRS (``areas``), each
        demand point's area (``which``, −1 for none; the assignment of
        :func:`~geo_service.indicators.difficulty.area_indicators`) and the baseline's order of the
        points inside by area, then walk (``order_m``) and by area, then minutes
        (``order_min``): what the per-area recount of a scenario reuses."""
        if "areas" not in self.cache:
            points = self.result.points
            out = []
            dist, minutes = _walk_values(points)
            for layer in self.region.areas:
                areas = layer.areas.to_crs(points.crs).reset_index(drop=True)
                which = AreaLayer(layer.name, areas).assign(points.geometry)
                inside = np.flatnonzero(which >= 0)
                out.append({"areas": areas, "which": _frozen(which),
                            "order_m": _frozen(inside[np.lexsort((dist[inside],
                                                                  which[inside]))]),
                            "order_min": _frozen(inside[np.lexsort((minutes[inside],
                                                                    which[inside]))])})
            self.cache["areas"] = out
        return list(self.cache["areas"])

    @classmethod
    def compute(cls, region: Region, *, layer: ResourceLayer,
                threshold_m: float | None = None,
                car_rate: float | pd.Series | None = None) -> Baseline:
        """The baseline (the numbers of :func:`~geo_service.jobs.pipeline.compute_difficulty`)."""
        threshold_m = region.threshold_m if threshold_m is None else threshold_m
        started = time.perf_counter()
        stores = counted(region.resources[layer.id], layer).to_crs(region.net.crs)
        if stores.empty:
            raise InputError(f"no stores of the counted categories {layer.included_ids}")
        att = region.attach(stores, source="stores")
        dfield = DistanceField(region.net, att)
        access = dfield.at(region.demand_attachment)
        points = point_indicators(region.demand, access, stores, threshold_m=threshold_m)
        areas = area_indicators(points, region.areas, stores, threshold_m=threshold_m,
                                car_rate=car_rate)
        result = DifficultyResult(points, areas, stores,
                                  {"baseline": time.perf_counter() - started},
                                  list(region.notes), threshold_m, region, layer)
        node = {"distance": dfield.node_distance, "nearest": dfield.node_nearest,
                "seconds": dfield.node_seconds, "quickest": dfield.node_quickest}
        straight, straight_nearest = straight_nearest_stores(region.demand.geometry.to_numpy(),
                                                             stores.geometry.to_numpy())
        point = {"distance": access.distance_m, "nearest": access.nearest,
                 "seconds": access.seconds, "quickest": access.quickest,
                 "straight": straight, "straight_nearest": straight_nearest}
        att = Attachment(*(_frozen(getattr(att, f)) for f in ("edge", "offset", "connector")))
        return cls(region, layer, threshold_m, car_rate, stores, att,
                   {k: _frozen(v) for k, v in node.items()},
                   {k: _frozen(v) for k, v in point.items()}, result)


def straight_nearest_stores(points: np.ndarray, stores: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Straight-line distance (m) from each point to the nearest store and that store's
    position (−1 and ``inf`` without stores): the query of
    :func:`~geo_service.indicators.difficulty.straight_distances`, keeping which store it was."""
    dist = np.full(len(points), np.inf)
    which = np.full(len(points), -1, dtype=np.int64)
    if len(stores) == 0 or len(points) == 0:
        return dist, which
    (at, store), d = shapely.STRtree(stores).query_nearest(points, return_distance=True,
                                                           all_matches=False)
    dist[at], which[at] = d, store
    return dist, which


# --- the incremental engine ----------------------------------------------------------------

@njit(cache=True, nogil=True)
def _push(hc: np.ndarray, hn: np.ndarray, size: int, cost: float,
          node: int) -> tuple[np.ndarray, np.ndarray, int]:  # pragma: no cover - compiled
    if size == len(hc):
        hc = np.concatenate((hc, np.empty_like(hc)))
        hn = np.concatenate((hn, np.empty_like(hn)))
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if hc[parent] <= cost:
            break
        hc[i], hn[i] = hc[parent], hn[parent]
        i = parent
    hc[i], hn[i] = cost, node
    return hc, hn, size + 1


@njit(cache=True, nogil=True)
def _pop(hc: np.ndarray, hn: np.ndarray, size: int) -> tuple[float, int, int]:  # pragma: no cover
    cost, node = hc[0], hn[0]
    size -= 1
    last_c, last_n = hc[size], hn[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and hc[child + 1] < hc[child]:
            child += 1
        if hc[child] >= last_c:
            break
        hc[i], hn[i] = hc[child], hn[child]
        i = child
    if size > 0:
        hc[i], hn[i] = last_c, last_n
    return cost, node, size


@njit(cache=True, nogil=True)
def _improve(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, seed_node: np.ndarray,
             seed_cost: np.ndarray, seed_label: np.ndarray, best: np.ndarray,
             label: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    # Dijkstra from the seeds that enters a node only when it is reached strictly sooner
    # than its current value (best, label updated in place); returns the nodes improved.
    hc = np.empty(max(64, 2 * len(seed_node)))
    hn = np.empty(len(hc), dtype=np.int64)
    size = 0
    changed = np.empty(max(64, len(seed_node)), dtype=np.int64)
    n_changed = 0
    for k in range(len(seed_node)):
        s, c = seed_node[k], seed_cost[k]
        if c < best[s]:
            best[s], label[s] = c, seed_label[k]
            hc, hn, size = _push(hc, hn, size, c, s)
            if n_changed == len(changed):
                changed = np.concatenate((changed, np.empty_like(changed)))
            changed[n_changed] = s
            n_changed += 1
    while size > 0:
        c, u, size = _pop(hc, hn, size)
        if c > best[u]:
            continue  # a stale entry
        lab = label[u]
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            nd = c + data[j]
            if nd < best[v]:
                best[v], label[v] = nd, lab
                hc, hn, size = _push(hc, hn, size, nd, v)
                if n_changed == len(changed):
                    changed = np.concatenate((changed, np.empty_like(changed)))
                changed[n_changed] = v
                n_changed += 1
    return changed[:n_changed]


def _ragged_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR ``rows``: the row of each entry and the entry positions, flattened."""
    starts, ends = indptr[rows], indptr[rows + 1]
    counts = ends - starts
    total = int(counts.sum())
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return np.repeat(rows, counts), offsets + np.arange(total)


_TIME_REVERSE: weakref.WeakKeyDictionary[Any, sparse.csr_matrix] = weakref.WeakKeyDictionary()


class _FieldView(DistanceField):
    """A distance field from given node arrays (no search): :meth:`DistanceField.at`
    evaluates points with the engine's own formula."""

    def __init__(self, net: Any, resources: Attachment, node: dict[str, np.ndarray]) -> None:
        self.net, self.resources = net, resources
        self.node_distance, self.node_nearest = node["distance"], node["nearest"]
        self.node_seconds, self.node_quickest = node["seconds"], node["quickest"]


@dataclass
class _Field:
    """One propagating field: the graph it propagates on, its reverse, and its arrays."""

    graph: sparse.csr_matrix  # from a resource outwards
    reverse: sparse.csr_matrix  # row a: the edges into a (weights of graph)
    value: np.ndarray
    label: np.ndarray


class ScenarioState:
    """The working copy of a baseline that changes are applied to, incrementally.

    Stores are indexed in one growing table: the baseline's counted stores, then those
    added; closed ones stay in it, inactive.
    """

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline
        self.net = baseline.region.net
        self.stores = baseline.stores.copy()
        self.att = Attachment(*(np.array(getattr(baseline.store_att, f))
                                for f in ("edge", "offset", "connector")))
        self.active = np.ones(len(self.stores), dtype=bool)
        self.node = {k: np.array(v) for k, v in baseline.node.items()}
        self.point = {k: np.array(v) for k, v in baseline.point.items()}
        self.threshold_m = baseline.threshold_m
        self.demand = baseline.region.demand
        self.notes: list[str] = []
        self._changed_nodes = np.zeros(self.net.n_nodes, dtype=bool)
        self._changed_edges = np.zeros(self.net.n_edges, dtype=bool)
        self.stats = {"nodes_searched_again": 0, "points_evaluated_again": 0,
                      "full_passes": 0, "areas_counted_again": 0}

    # fields ------------------------------------------------------------------------
    def _fields(self) -> list[tuple[str, _Field, str]]:
        net = self.net
        out = [("distance", _Field(net.distance_graph, net.distance_graph,
                                   self.node["distance"], self.node["nearest"]), "nearest")]
        if net.has_elevation:
            out.append(("seconds", _Field(self._time_reverse, net.time_graph,
                                          self.node["seconds"], self.node["quickest"]),
                        "quickest"))
        return out

    @property
    def _time_reverse(self) -> sparse.csr_matrix:
        """The graph DistanceField searches for times (reversed), built once per network."""
        cached = _TIME_REVERSE.get(self.net)
        if cached is None:
            cached = _TIME_REVERSE[self.net] = self.net.time_graph.T.tocsr()
        return cached

    def _store_seeds(self, which: np.ndarray, kind: str) -> tuple[np.ndarray, ...]:
        """Virtual edges from stores ``which`` to their edge ends (costs as DistanceField)."""
        net, e = self.net, self.att.edge[which]
        u, v, length = net.edge_u[e], net.edge_v[e], net.edge_length[e]
        a, c = self.att.offset[which], self.att.connector[which]
        if kind == "distance":
            w_u, w_v = a + c, length - a + c
        else:
            t_uv, t_vu = (t[e] for t in net.edge_seconds)
            walk_c = c / net.walking_speed_mps
            w_u = a / length * t_uv + walk_c
            w_v = (length - a) / length * t_vu + walk_c
        return (np.concatenate([u, v]), np.concatenate([w_u, w_v]),
                np.concatenate([which, which]))

    def _flat_seconds(self, nodes: np.ndarray) -> None:
        if not self.net.has_elevation:
            self.node["seconds"][nodes] = self.node["distance"][nodes] / self.net.walking_speed_mps
            self.node["quickest"][nodes] = self.node["nearest"][nodes]

    def _mark(self, nodes: np.ndarray, store_edges: np.ndarray) -> None:
        self._changed_nodes[nodes] = True
        self._changed_edges[store_edges] = True
        self.stats["nodes_searched_again"] += len(nodes)

    # changes -------------------------------------------------------------------------
    def close(self, positions: Sequence[int]) -> None:
        """Close stores (positions in :attr:`stores`): repair the nodes they served."""
        which = np.unique(np.asarray(positions, dtype=np.int64))
        self.active[which] = False
        closed = np.zeros(len(self.stores), dtype=bool)
        closed[which] = True
        remaining = np.flatnonzero(self.active)
        # points on a closed store's edge may have walked to it directly, even where it is
        # no node's nearest (another store as near): they are evaluated again in any case
        self._changed_edges[self.att.edge[which]] = True
        lost = np.flatnonzero(np.isin(self.point["straight_nearest"], which))
        if len(lost):  # the straight line: only the points whose nearest store closed
            d, w = straight_nearest_stores(self.demand.geometry.to_numpy()[lost],
                                           self.stores.geometry.to_numpy()[remaining])
            self.point["straight"][lost] = d
            self.point["straight_nearest"][lost] = np.append(remaining, -1)[w]
        for kind, f, _ in self._fields():
            hit = np.flatnonzero((f.label >= 0) & closed[np.maximum(f.label, 0)])
            if len(hit) == 0:
                continue
            f.value[hit], f.label[hit] = np.inf, -1
            inside = np.zeros(self.net.n_nodes, dtype=bool)
            inside[hit] = True
            # seeds: each edge into a cleared node from an unchanged one …
            rows, pos = _ragged_rows(f.reverse.indptr, hit)
            src = f.reverse.indices[pos]
            keep = ~inside[src] & np.isfinite(f.value[src])
            seed_node, src = rows[keep], src[keep]
            seed_cost = f.value[src] + f.reverse.data[pos[keep]]
            seed_label = f.label[src]
            # … and the remaining stores on the cleared nodes' edges
            s_node, s_cost, s_label = self._store_seeds(remaining, kind)
            near = inside[s_node]
            changed = _improve(f.graph.indptr, f.graph.indices, f.graph.data,
                               np.concatenate([seed_node, s_node[near]]).astype(np.int64),
                               np.concatenate([seed_cost, s_cost[near]]),
                               np.concatenate([seed_label, s_label[near]]).astype(np.int64),
                               f.value, f.label)
            del changed  # every changed node is in `hit`
            self._mark(hit, self.att.edge[which])
            if kind == "distance":
                self._flat_seconds(hit)

    def add(self, new: gpd.GeoDataFrame, *, source: str | None = None) -> np.ndarray:
        """Open stores (``store_id``, ``name``, ``category``, points in any CRS): a pruned
        search from each; returns their positions in :attr:`stores`."""
        new = new.to_crs(self.net.crs)
        att = self.baseline.region.attach(new, source=source)
        first = len(self.stores)
        self.stores = gpd.GeoDataFrame(pd.concat([self.stores, new[self.stores.columns]],
                                                 ignore_index=True),
                                       geometry="geometry", crs=self.net.crs)
        self.att = Attachment.concat([self.att, att])
        self.active = np.concatenate([self.active, np.ones(len(new), dtype=bool)])
        which = np.arange(first, len(self.stores))
        points = self.demand.geometry.to_numpy()
        for k in which:  # the straight line: the points a new store is strictly nearer to
            d = shapely.distance(points, self.stores.geometry.iloc[k])
            nearer = d < self.point["straight"]
            self.point["straight"][nearer] = d[nearer]
            self.point["straight_nearest"][nearer] = k
        for kind, f, _ in self._fields():
            s_node, s_cost, s_label = self._store_seeds(which, kind)
            changed = _improve(f.graph.indptr, f.graph.indices, f.graph.data,
                               s_node.astype(np.int64), s_cost, s_label.astype(np.int64),
                               f.value, f.label)
            changed = np.unique(changed)
            self._mark(changed, self.att.edge[which])
            if kind == "distance":
                self._flat_seconds(changed)
        return which

    def set_speed(self, mps: float) -> None:
        """Another flat walking speed: the network's times change, so the fields are
        computed again in one pass (distances stay as they were)."""
        self.net = self.net.with_speed(mps)
        self.refresh_all()

    def refresh_all(self) -> None:
        """Recompute every field and point from the active stores (one full pass)."""
        active = np.flatnonzero(self.active)
        dfield = DistanceField(self.net, self.att.take(active))
        for key, array in (("distance", dfield.node_distance), ("seconds", dfield.node_seconds)):
            self.node[key] = np.array(array)
        for key, array in (("nearest", dfield.node_nearest), ("quickest", dfield.node_quickest)):
            self.node[key] = np.where(array >= 0, active[np.maximum(array, 0)], -1)
        self._changed_nodes[:] = True
        self.stats["full_passes"] += 1

    # results --------------------------------------------------------------------------
    def access(self) -> PointAccess:
        """Per-point answers: the baseline's, evaluated again where anything changed."""
        active = np.flatnonzero(self.active)
        to_active = np.full(len(self.stores), -1, dtype=np.int64)
        to_active[active] = np.arange(len(active))
        net, att = self.net, self.baseline.region.demand_attachment
        edges = (self._changed_nodes[net.edge_u] | self._changed_nodes[net.edge_v]
                 | self._changed_edges)
        redo = np.flatnonzero(edges[att.edge])
        if len(redo):
            node = {k: (np.where(v >= 0, to_active[np.maximum(v, 0)], -1)
                        if k in ("nearest", "quickest") else v) for k, v in self.node.items()}
            got = _FieldView(net, self.att.take(active), node).at(att.take(redo))
            self.point["distance"][redo] = got.distance_m
            self.point["seconds"][redo] = got.seconds
            for key, values in (("nearest", got.nearest), ("quickest", got.quickest)):
                self.point[key][redo] = np.append(active, -1)[values]  # −1 stays −1
        self.stats["points_evaluated_again"] += len(redo)
        self._changed_nodes[:] = False
        self._changed_edges[:] = False
        return PointAccess(self.point["distance"], self.point["seconds"],
                           self.point["nearest"], self.point["quickest"])

    def result(self, *, car_rate: float | pd.Series | None = None,
               seconds: dict[str, float] | None = None,
               canonical: bool = False) -> DifficultyResult:
        """The indicators of the current state (per point and per area).

        The per-point table is the baseline's with the state's columns put in (the
        formulas of :func:`point_indicators`); ``canonical`` builds
        it with ``point_indicators`` itself, straight lines queried anew (the reference).
        """
        access = self.access()
        active = np.flatnonzero(self.active)
        to_active = np.full(len(self.stores), -1, dtype=np.int64)
        to_active[active] = np.arange(len(active))
        stores = self.stores.iloc[active].reset_index(drop=True)

        def mapped(v: np.ndarray) -> np.ndarray:
            return np.where(v >= 0, to_active[np.maximum(v, 0)], -1)

        access = PointAccess(access.distance_m, access.seconds, mapped(access.nearest),
                             mapped(access.quickest))
        region = self.baseline.region
        if not canonical:
            points = self._points_table(access, stores)
        elif len(stores):
            points = point_indicators(self.demand, access, stores, threshold_m=self.threshold_m)
        else:  # every store closed: no one reaches one (point_indicators needs a store row)
            points = point_indicators(self.demand, access, self.stores.iloc[:1],
                                      threshold_m=self.threshold_m)
            points["straight_m"], points["beyond_straight"] = np.inf, True
        if (not canonical and self.threshold_m == self.baseline.threshold_m
                and car_rate is self.baseline.car_rate and region.areas):
            areas = self._areas_again(points, stores)
        else:
            areas = area_indicators(points, region.areas, stores,
                                    threshold_m=self.threshold_m, car_rate=car_rate)
            self.stats["areas_counted_again"] = len(areas)
        layer = self.baseline.layer
        after_region = replace(region, net=self.net, demand=self.demand,
                               resources={**region.resources, layer.id: stores},
                               notes=[*region.notes, *self.notes],
                               threshold_m=self.threshold_m)
        return DifficultyResult(points, areas, stores, dict(seconds or {}),
                                after_region.notes, self.threshold_m, after_region, layer)

    def _areas_again(self, points: gpd.GeoDataFrame,
                     stores: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """:func:`~geo_service.indicators.difficulty.area_indicators`' table, bit for bit, with only
        the areas holding a point whose indicators changed counted again.

        Sums per area are pandas' grouped sums, as there; the weighted quantiles take
        the baseline's sorted order of the points, re-sorting only the changed areas'
        segments, and then the steps of
        :func:`~geo_service.indicators.difficulty.grouped_weighted_quantile` (whose cumulative sum
        runs over every area); the store counts are made for every area (cheap).
        """
        base_points = self.baseline.result.points
        changed = np.zeros(len(points), dtype=bool)
        for col in ("pop_total", "pop_65plus", "network_m", "walk_min", "reachable",
                    "beyond", "beyond_straight"):
            a, b = points[col].to_numpy(), base_points[col].to_numpy()
            if a.dtype.kind == "f":
                changed |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
            else:
                changed |= a != b
        out = self.baseline.result.areas.copy()
        dist, minutes = _walk_values(points)
        w65 = points["pop_65plus"].to_numpy(dtype=float)
        columns = {c: out[c].to_numpy().copy() for c in AREA_COLUMNS}
        first, recounted = 0, 0
        for info in self.baseline.area_index():
            areas, which = info["areas"], info["which"]
            n = len(areas)
            rows = np.unique(which[changed & (which >= 0)])
            counts = store_counts(areas, stores, self.threshold_m)
            columns["stores_in_area"][first:first + n] = counts[0]
            columns["stores_near_area"][first:first + n] = counts[1]
            if len(rows):
                recounted += len(rows)
                again = np.zeros(n, dtype=bool)
                again[rows] = True
                # pandas' grouped sums over every point, as area_indicators makes them
                # (a subset's sums may round otherwise: pandas sums a lone group another
                # way); cheap beside the quantiles
                df = pd.DataFrame({"area": which, "pop_total": points["pop_total"].to_numpy(),
                                   "pop_65plus": w65,
                                   "beyond_65plus": w65 * points["beyond"].to_numpy(),
                                   "beyond_65plus_straight":
                                       w65 * points["beyond_straight"].to_numpy()})
                df = df[df["area"] >= 0]
                sums = df.groupby("area").sum().reindex(range(n), fill_value=0.0).iloc[rows]
                at = first + rows
                for col in ("pop_total", "pop_65plus", "beyond_65plus",
                            "beyond_65plus_straight"):
                    columns[col][at] = sums[col].to_numpy()
                pop = columns["pop_65plus"][at]
                with np.errstate(invalid="ignore", divide="ignore"):
                    for col, num in (("beyond_share", "beyond_65plus"),
                                     ("beyond_share_straight", "beyond_65plus_straight")):
                        columns[col][at] = np.where(pop > 0, columns[num][at] / pop, np.nan)
                for key, values in (("m", dist), ("min", minutes)):
                    order = _resorted(info[f"order_{key}"], which, values, again)
                    for q, name in ((0.5, "median"), (0.9, "p90")):
                        columns[f"{name}_{key}"][at] = sorted_weighted_quantile(
                            which[order], values[order], w65[order], q, n)[rows]
                table = pd.DataFrame({"area_id": columns["area_id"][at],
                                      "beyond_65plus": columns["beyond_65plus"][at]})
                columns["car_adjusted_65plus"][at] = car_adjusted(table,
                                                                   self.baseline.car_rate)
            first += n
        for col in AREA_COLUMNS:
            out[col] = columns[col]
        self.stats["areas_counted_again"] = recounted
        return out

    def _points_table(self, access: PointAccess, stores: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """:func:`point_indicators`' table from the state's arrays
        (``access`` indexed into ``stores``), without querying anything again."""
        points = self.baseline.result.points.copy()
        if self.demand is not self.baseline.region.demand:  # a projection
            for col in ("pop_total", "pop_65plus", "pop_75plus"):
                points[col] = self.demand[col].to_numpy()
        reach = np.isfinite(access.distance_m)
        ids = np.append(stores["store_id"].astype(str).to_numpy(), "")
        straight = np.array(self.point["straight"])
        points["network_m"] = np.where(reach, access.distance_m, np.nan)
        points["walk_min"] = np.where(np.isfinite(access.seconds), access.seconds / 60.0, np.nan)
        points["straight_m"] = straight
        points["nearest_store_id"] = np.where(access.nearest >= 0, ids[access.nearest], "")
        points["reachable"] = reach
        points["beyond"] = ~reach | (access.distance_m > self.threshold_m)
        points["beyond_straight"] = straight > self.threshold_m
        return points


def _walk_values(points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The walk (m) and minutes per point as :func:`area_indicators` ranks them (inf for
    no store reached)."""
    dist = np.where(points["reachable"], points["network_m"], np.inf).astype(float)
    minutes = np.where(np.isfinite(points["walk_min"]), points["walk_min"], np.inf)
    return dist, minutes.astype(float)


def _resorted(order: np.ndarray, which: np.ndarray, values: np.ndarray,
              again: np.ndarray) -> np.ndarray:
    """The order of ``np.lexsort((values, which))`` over the points inside an area, from
    the baseline's ``order``: the segments of the areas ``again`` sorted anew (areas keep
    their points, so each segment keeps its place and length)."""
    out = order.copy()
    slots = np.flatnonzero(again[which[order]])
    if len(slots):
        members = np.sort(order[slots])  # by position, as lexsort breaks ties
        out[slots] = members[np.lexsort((values[members], which[members]))]
    return out


# --- applying a scenario -------------------------------------------------------------------

def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().casefold()


def resolve_stores(baseline: Baseline, refs: Iterable[str], *,
                   scenario: str = "") -> list[int]:
    """Positions (in the baseline's counted stores) of stores named by id or by name.

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
        raise ScenarioError(where + "; ".join(problems) + f" ({len(ids)} counted stores, "
                            "e.g. " + ", ".join(ids[:5]) + ")", column="store",
                            value=(unknown + ambiguous + not_counted)[0])
    return found


def _new_points(changes: list[dict[str, Any]], layer: ResourceLayer, taken: set[str],
                scenario: str, net: Any) -> gpd.GeoDataFrame:
    """The added stores and stops as points in the network's metric CRS."""
    rows = []
    for change in changes:
        ident = change["id"]
        if ident in taken:
            raise ScenarioError(f"scenario {scenario!r}: a store or stop with this id exists "
                                "already", column="id", value=ident)
        taken.add(ident)
        category = (layer.category_key(change["category"]) if change["kind"] == "add_store"
                    else STOP_CATEGORY)
        if change["kind"] == "add_store" and category not in layer.included_ids:
            raise ScenarioError(f"scenario {scenario!r}: category {category!r} is not counted "
                                f"by layer {layer.id!r}", column="category",
                                value=change["category"])
        rows.append({"store_id": ident, "name": change.get("name", ""), "category": category,
                     "geometry": shapely.Point(*net.from_geographic.transform(change["lon"],
                                                                              change["lat"]))})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs)


@dataclass
class ScenarioResult:
    """Before and after of a scenario, with the differences per area and per point."""

    scenario: Scenario
    before: DifficultyResult
    after: DifficultyResult
    closed: gpd.GeoDataFrame
    added: gpd.GeoDataFrame
    stats: dict[str, Any]
    notes: list[str]
    #: with bus changes: per demand point, whether a frequent stop is within walking range
    #: ("before", "after") and what was counted ("rule")
    bus: dict[str, Any] | None = None
    #: with service changes: per demand point, whether any alternative covers them
    #: ("before", "after"), per alternative its mask ("covers_before", "covers_after"),
    #: the changed services ("changed") and how each alternative was counted ("detail")
    alternatives: dict[str, Any] | None = None

    def _uncovered(self, side: str) -> np.ndarray:
        """Per point: 65+ beyond the walk and covered by no alternative (``side``)."""
        assert self.alternatives is not None
        res = self.before if side == "before" else self.after
        return (res.points["pop_65plus"].to_numpy(dtype=float)
                * (res.points["beyond"].to_numpy() & ~self.alternatives[side]))

    def _per_area(self, weights: np.ndarray) -> np.ndarray:
        """Per area of every layer (the order of :attr:`before`'s areas): sums of
        ``weights`` over the demand points inside."""
        points = self.before.points
        return np.concatenate([
            np.bincount(np.maximum(which, 0), weights * (which >= 0), minlength=len(a.areas))
            for a in self.before.region.areas
            for which in [a.to_crs(points.crs).assign(points.geometry)]])

    def _no_bus(self, side: str) -> np.ndarray:
        """Per point: 65+ beyond the walk and without a frequent bus stop (``side``)."""
        assert self.bus is not None
        res = self.before if side == "before" else self.after
        return (res.points["pop_65plus"].to_numpy(dtype=float)
                * (res.points["beyond"].to_numpy() & ~self.bus[side]))

    def area_difference(self, layer: str | None = None) -> pd.DataFrame:
        """Per area: 65+, people beyond the threshold and their share, before and after,
        and the change (shares in percentage points), the median walk before and after;
        with bus changes also the 65+ beyond the walk without a frequent bus stop."""
        b, a = self.before.areas, self.after.areas
        out = pd.DataFrame({"layer": b["layer"].to_numpy(), "area_id": b["area_id"].to_numpy(),
                            "name": b["name"].to_numpy()})
        for col in ("pop_65plus", "beyond_65plus", "beyond_share", "median_m"):
            out[f"{col}_before"] = b[col].to_numpy()
            out[f"{col}_after"] = a[col].to_numpy()
        out["beyond_65plus_change"] = out["beyond_65plus_after"] - out["beyond_65plus_before"]
        out["beyond_share_change_pt"] = 100 * (out["beyond_share_after"]
                                               - out["beyond_share_before"])
        if self.bus is not None:
            points, counts = self.before.points, {}
            for side in ("before", "after"):
                w = self._no_bus(side)
                counts[side] = np.concatenate([
                    np.bincount(np.maximum(which, 0), w * (which >= 0), minlength=len(a.areas))
                    for a in self.before.region.areas
                    for which in [a.to_crs(points.crs).assign(points.geometry)]])
                out[f"beyond_no_bus_65plus_{side}"] = counts[side]
            out["beyond_no_bus_65plus_change"] = counts["after"] - counts["before"]
        if self.alternatives is not None:
            gap = {side: self._per_area(self._uncovered(side)) for side in ("before", "after")}
            for side in ("before", "after"):
                out[f"gap_65plus_{side}"] = gap[side]
            out["gap_65plus_change"] = gap["after"] - gap["before"]
            for alt in self.alternatives["covers_after"]:
                for side in ("before", "after"):
                    res = self.before if side == "before" else self.after
                    mask = self.alternatives[f"covers_{side}"][alt]
                    out[f"covered_{alt}_{side}"] = self._per_area(
                        res.points["pop_65plus"].to_numpy(dtype=float)
                        * (res.points["beyond"].to_numpy() & mask))
        if layer is not None:
            out = out[out["layer"] == layer].reset_index(drop=True)
        return out

    def point_difference(self, *, changed_only: bool = False) -> pd.DataFrame:
        """Per demand point: walking distance and nearest store before and after, the change
        and what it means (新たに徒歩圏外 / 新たに徒歩圏内 / 遠くなった / 近くなった / 変化なし)."""
        b, a = self.before.points, self.after.points
        before_m = np.where(b["reachable"], b["network_m"], np.inf)
        after_m = np.where(a["reachable"], a["network_m"], np.inf)
        with np.errstate(invalid="ignore"):
            change = np.where(before_m == after_m, 0.0, after_m - before_m)
        status = np.select(
            [~b["beyond"].to_numpy() & a["beyond"].to_numpy(),
             b["beyond"].to_numpy() & ~a["beyond"].to_numpy(), change > 0, change < 0],
            ["新たに徒歩圏外", "新たに徒歩圏内", "遠くなった", "近くなった"], "変化なし")
        out = pd.DataFrame({
            "point_id": b["point_id"].to_numpy(),
            "pop_65plus_before": b["pop_65plus"].to_numpy(),
            "pop_65plus_after": a["pop_65plus"].to_numpy(),
            "network_m_before": b["network_m"].to_numpy(),
            "network_m_after": a["network_m"].to_numpy(),
            "change_m": np.where(np.isfinite(change), change, np.nan),
            "nearest_store_before": b["nearest_store_id"].to_numpy(),
            "nearest_store_after": a["nearest_store_id"].to_numpy(),
            "beyond_before": b["beyond"].to_numpy(), "beyond_after": a["beyond"].to_numpy(),
            "status": status})
        if self.bus is not None:
            out["bus_stop_before"] = self.bus["before"]
            out["bus_stop_after"] = self.bus["after"]
        if self.alternatives is not None:
            out["alternative_before"] = self.alternatives["before"]
            out["alternative_after"] = self.alternatives["after"]
        if changed_only:
            keep = (status != "変化なし") | (out["pop_65plus_before"] != out["pop_65plus_after"])
            if self.alternatives is not None:
                keep |= out["alternative_before"] != out["alternative_after"]
            out = out[keep]
        return out.reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Headline numbers before and after."""
        return {"scenario": self.scenario.name, "before": self.before.summary(),
                "after": self.after.summary(), "threshold_m_after": self.after.threshold_m,
                "closed": self.closed["store_id"].astype(str).tolist(),
                "added": self.added["store_id"].astype(str).tolist(), "stats": self.stats,
                "notes": self.notes,
                **({} if self.bus is None else {"bus": {
                    "rule": self.bus["rule"],
                    "beyond_no_bus_65plus_before": float(self._no_bus("before").sum()),
                    "beyond_no_bus_65plus_after": float(self._no_bus("after").sum())}}),
                **({} if self.alternatives is None else {"alternatives": {
                    "changed": self.alternatives["changed"],
                    "counted": self.alternatives["detail"],
                    "gap_65plus_before": float(self._uncovered("before").sum()),
                    "gap_65plus_after": float(self._uncovered("after").sum())}})}


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
        state.notes.append(f"scenario {name!r} was made for region {scenario.region}; it is "
                           f"applied to {baseline.region.key}")
    refs = [c["store"] for c in scenario.changes if c["kind"] == "close_store"]
    if refs:  # every unknown store named at once, before anything is computed
        resolve_stores(baseline, refs, scenario=name)
    services = _check_services(baseline, scenario, walking, staff=staff)
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
            if incremental:
                state.add(new, source=f"scenario {name!r}: {kind} {change['id']}")
            else:
                att = baseline.region.attach(new, source=f"scenario {name!r}: {kind} "
                                             f"{change['id']}")
                state.stores = gpd.GeoDataFrame(
                    pd.concat([state.stores, new.to_crs(state.net.crs)[state.stores.columns]],
                              ignore_index=True), geometry="geometry", crs=state.net.crs)
                state.att = Attachment.concat([state.att, att])
                state.active = np.concatenate([state.active, [True]])
            added_frames.append(new)
            if kind == "add_stop":
                state.notes.append(f"移動販売 stop {change['id']} counted as a food source; it "
                                   "serves only on its days")
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
    bus = _bus_cover(baseline.region, scenario.changes, base_dir, state.notes)
    alternatives = None
    if services is not None:
        assert walking is not None
        alternatives = _alternative_cover(walking, services, bus, staff=staff,
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


def _check_services(baseline: Baseline, scenario: Scenario, walking: WalkingService | None,
                    *, staff: bool) -> dict[str, Any] | None:
    """The scenario's service changes checked against the registry, before anything is
    computed: {"edits": {id: ServiceArea or None (withdrawn)}, "resources": {id:
    Resource}, "categories": the alternative categories}; None without service changes.

    Unknown ids (and, for the public view, staff-only services) are named all at once;
    so are services that are no alternative to walking to the layer's stores, and service
    areas that lie wholly outside the region.
    """
    from geo_service.layers import load_vocabulary
    from geo_service.planning.gaps import BUS, default_alternatives
    from geo_service.registry.resources import ServiceArea, public_view, service_area_geometry

    changes = [c for c in scenario.changes if c["kind"] in SERVICE_KINDS]
    if not changes:
        return None
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


def _alternative_cover(walking: WalkingService, services: dict[str, Any],
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


def _bus_cover(region: Region, changes: list[dict[str, Any]], base_dir: str | Path | None,
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


def compare_scenarios(results: Sequence[ScenarioResult], *, layer: str | None = None,
                      measure: str = "beyond_share") -> pd.DataFrame:
    """One row per area: the baseline's share beyond the threshold and each scenario's.

    ``measure="gap_65plus"`` compares the people 65+ beyond the walk and covered by no
    alternative instead (scenarios that change services; the others are refused)."""
    if not results:
        raise ScenarioError("nothing to compare: name at least one scenario")
    if measure not in ("beyond_share", "gap_65plus"):
        raise ScenarioError("compare beyond_share or gap_65plus", column="measure",
                            value=measure)
    if measure == "gap_65plus":
        without = [r.scenario.name for r in results if r.alternatives is None]
        if without:
            raise ScenarioError("the uncovered people are counted only by scenarios that "
                                f"change services; these do not: {', '.join(without)}",
                                column="measure", value=without[0])
    first = results[0].area_difference(layer)
    out = first[["layer", "area_id", "name", "pop_65plus_before", f"{measure}_before"]].rename(
        columns={"pop_65plus_before": "pop_65plus", f"{measure}_before": "baseline"})
    for res in results:
        diff = res.area_difference(layer)
        out[res.scenario.name] = diff[f"{measure}_after"].to_numpy()
    return out


__all__ = ["KINDS", "PENDING_KINDS", "SERVICE_KINDS", "Baseline", "Scenario", "ScenarioError",
           "ScenarioResult", "ScenarioState", "apply_scenario", "compare_scenarios",
           "delete_scenario", "list_scenarios", "load_scenario", "resolve_stores",
           "save_scenario", "scenario_folder"]
