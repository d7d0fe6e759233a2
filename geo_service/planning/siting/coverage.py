"""Coverage sets: which demand points each candidate, and the existing facilities, reach
within a walking threshold along the network (the threshold plus
:data:`~geo_service.planning.siting.COVER_TOLERANCE_M`)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from geo_service.engine.access import Attachment, DistanceField, PointSearch, TargetIndex
from geo_service.engine.network import WalkNetwork
from geo_service.planning import siting  # the package's settings, read when called


def coverage_sets(net: WalkNetwork, demand: Attachment, candidates: Attachment,
                  threshold_m: float) -> sparse.csr_matrix:
    """Which demand points each candidate reaches within ``threshold_m`` along the network.

    One cut-off search per candidate, visiting only the streets within the threshold, to
    the demand points a spatial index says may lie within it.

    Returns
    -------
    A boolean CSR matrix, candidates × demand points.
    """
    limit = threshold_m + siting.COVER_TOLERANCE_M
    index = TargetIndex(net, demand)
    indptr = np.zeros(len(candidates) + 1, dtype=np.int64)
    cols: list[np.ndarray] = []
    for i in range(len(candidates)):
        search = PointSearch(net, candidates.take(np.array([i])))
        near = index.near(search, limit)
        d = search.metres(demand.take(near), limit)
        hit = near[d <= limit]
        cols.append(hit)
        indptr[i + 1] = indptr[i] + len(hit)
    indices = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    return sparse.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr),
                             shape=(len(candidates), len(demand)))


def served_by_existing(net: WalkNetwork, demand: Attachment, existing: Attachment | None,
                       threshold_m: float) -> np.ndarray:
    """Per demand point: whether an existing facility lies within ``threshold_m`` (one
    multi-source pass, stopped at the threshold)."""
    if existing is None or len(existing) == 0:
        return np.zeros(len(demand), dtype=bool)
    limit = threshold_m + siting.COVER_TOLERANCE_M  # a pass up to the limit only
    return DistanceField.within_metres(net, existing, limit).at(demand).distance_m <= limit
