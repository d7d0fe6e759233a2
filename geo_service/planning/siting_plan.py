"""Facility siting posed once for ``geo-service site`` and ``/siting``: the need, the
existing facilities kept fixed, the walking thresholds from ``layers/`` and the siting
problem over the given candidates (:func:`plan_siting`). The CLI and the API then solve it
and present it their own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.inputs.layer_points import counted
from geo_service.layers import Category, load_resource_layer, load_vocabulary
from geo_service.planning import siting
from geo_service.planning.gaps import walk_thresholds
from geo_service.planning.siting import (
    STOP_CATCHMENT_M,
    Candidates,
    SitingProblem,
    served_by_existing,
)
from geo_service.planning.siting.coverage import coverage_sets

if TYPE_CHECKING:
    from geo_service.engine.access import Attachment
    from geo_service.service.walking import WalkingService


@dataclass
class ExistingFacilities:
    """The facilities of a category that siting keeps fixed: their attachment (None when
    there are none), how many, and where from — ``"registry"`` or a region layer's id."""

    attachment: Attachment | None
    count: int
    source: str


@dataclass
class SitingPlan:
    """A siting problem as posed: the need, the candidates, the problem, the thresholds
    (new sites serve ``threshold_m``; existing ones ``existing_threshold_m``), the existing
    facilities and, for a new route's stops, the existing mobile-sales stops counted as
    serving at ``stop_threshold_m`` (None otherwise)."""

    category: Category
    candidates: Candidates
    problem: SitingProblem
    threshold_m: float
    existing_threshold_m: float
    existing: ExistingFacilities
    stops: ExistingFacilities | None
    stop_threshold_m: float


def siting_need(need: str, *, column: str) -> Category:
    """The category to site (id, label or alias); a service that comes to people (its
    coverage is its service area) is refused."""
    vocab = load_vocabulary()
    category = vocab.category(vocab.category_key(need, column=column))
    if category.kind == "service":
        raise InputError(msg("{label} is a service that comes to people (its coverage is its "
                             "service area); siting is for places and stops",
                             label=category.label),
                         column=column, value=need)
    return category


def existing_facilities(walking: WalkingService, category: str, *,
                        staff: bool) -> ExistingFacilities:
    """The existing facilities of ``category``: the registry's located resources of it
    (stops of a mobile-sales route included); for a category detailed by a region layer
    (食料品店) with none registered, that layer's."""
    loc = walking.located_of(category, staff=staff)
    if len(loc.attachment):
        return ExistingFacilities(loc.attachment, len(loc.attachment), "registry")
    layer = load_vocabulary().category(category).layer
    region = walking.region
    if layer and layer in region.resources:
        stores = counted(region.resources[layer], load_resource_layer(layer))
        if len(stores):
            return ExistingFacilities(region.attach(stores, source=layer), len(stores), layer)
    return ExistingFacilities(None, 0, "")


def registry_candidates(walking: WalkingService, category_name: str, *, staff: bool,
                        column: str) -> Candidates:
    """Candidate sites from the registry: the located resources (or stops) of a category,
    e.g. a 公共施設一覧 imported as 公共施設."""
    category = load_vocabulary().category_key(category_name, column=column)
    loc = walking.located_of(category, staff=staff)
    source = f"registry:{category_name}"
    if len(loc.attachment) == 0:
        raise InputError(msg("no candidate sites: the registry has no located resource of "
                             "this category"), column=column, value=source)
    xy = np.column_stack(walking.net.from_geographic.transform(loc.lonlat[:, 0],
                                                               loc.lonlat[:, 1]))
    ids = loc.resource_ids
    names = np.array([loc.resources[r].name for r in ids], dtype=object)
    return Candidates(ids, names, xy, loc.attachment, source)


def plan_siting(walking: WalkingService, category: Category, candidates: Candidates, *,
                route: bool = False, threshold_m: float | None = None,
                existing_threshold_m: float | None = None, staff: bool) -> SitingPlan:
    """Pose the siting of ``category`` among ``candidates`` on the region's people 65+.

    New sites serve ``threshold_m`` (default: the need's ``walk_threshold_m`` in
    ``layers/``, else the service's threshold; with ``route``, the mobile-sales stop's
    catchment); existing facilities serve ``existing_threshold_m`` (default: the need's).
    With ``route`` for a food need, people whom an existing mobile-sales stop serves count
    as served too.
    """
    walks = walk_thresholds()
    need_m = walks.get(category.id, walking.threshold_m)
    stop_m = walks.get("mobile_sales", STOP_CATCHMENT_M)
    serve_m = threshold_m or (stop_m if route else need_m)
    existing_m = existing_threshold_m or need_m
    region = walking.region
    existing = existing_facilities(walking, category.id, staff=staff)
    stops, also = None, None
    if route and category.food and category.id != "mobile_sales":
        stops = existing_facilities(walking, "mobile_sales", staff=staff)
        also = served_by_existing(walking.net, region.demand_attachment, stops.attachment,
                                  stop_m)
    served = saved_served(walking, existing.attachment, existing_m)
    problem = SitingProblem.from_network(
        walking.net, region.demand_attachment, region.demand["pop_65plus"].to_numpy(float),
        candidates, threshold_m=serve_m, also_served=served if also is None else served | also,
        incidence=saved_coverage(walking, candidates.attachment, serve_m))
    return SitingPlan(category, candidates, problem, serve_m, existing_m, existing, stops,
                      stop_m)


def saved_coverage(walking: WalkingService, candidates: Attachment,
                   threshold_m: float) -> sparse.csr_matrix | None:
    """The candidates' coverage sets (:func:`coverage_sets`) saved with a region loaded
    from a folder, by the network, the demand points, the candidates' places and the
    threshold (``site`` on the same grid or file reads them again); None when the region
    saves nothing (the problem computes them)."""
    region = walking.region
    if region.folder is None:
        return None
    shape = (len(candidates), len(region.demand))

    def make() -> dict[str, np.ndarray]:
        made = coverage_sets(walking.net, region.demand_attachment, candidates, threshold_m)
        return {"indptr": made.indptr, "indices": made.indices}

    entry = _saved(walking, "siting_coverage", candidates, threshold_m, make,
                   lambda got: len(got["indptr"]) == shape[0] + 1)
    indices = entry["indices"]
    return sparse.csr_matrix((np.ones(len(indices), dtype=bool), indices, entry["indptr"]),
                             shape=shape)


def saved_served(walking: WalkingService, existing: Attachment | None,
                 threshold_m: float) -> np.ndarray:
    """Per demand point: whether an existing facility lies within ``threshold_m``
    (:func:`served_by_existing`), saved with a region loaded from a folder by the
    network, the demand points, the facilities' places and the threshold."""
    region = walking.region

    def make() -> dict[str, np.ndarray]:
        return {"served": served_by_existing(walking.net, region.demand_attachment, existing,
                                             threshold_m)}

    if existing is None or len(existing) == 0:
        return make()["served"]
    entry = _saved(walking, "siting_served", existing, threshold_m, make,
                   lambda got: len(got["served"]) == len(region.demand))
    return entry["served"].astype(bool)


def _saved(walking: WalkingService, name: str, places: Attachment, threshold_m: float,
           make: Callable[[], dict[str, np.ndarray]],
           valid: Callable[[dict[str, np.ndarray]], bool]) -> dict[str, np.ndarray]:
    """Entry ``name`` of the region's saved results for ``places`` (their attachment) at
    ``threshold_m``, keyed by those, the network and the demand points
    (:func:`~geo_service.engine.saved.load_or_make`)."""
    from geo_service.engine import saved

    return saved.load_or_make(walking.region, name, ("demand",), {name: [
        threshold_m, siting.COVER_TOLERANCE_M, places.digest()]}, make, valid=valid)
