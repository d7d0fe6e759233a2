"""Candidate sites on a square grid over the walking network (``geo-service site --grid``)."""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from geo_service.engine.access import attach_points
from geo_service.engine.network import WalkNetwork
from geo_service.i18n import Term, msg
from geo_service.planning.siting.candidates import Candidates, SitingError


def grid_candidates(net: WalkNetwork, spacing_m: float) -> Candidates:
    """Network nodes near the points of a square grid of ``spacing_m`` over the network:
    per grid point, the nearest node of the main network within half a spacing."""
    if not spacing_m > 0:
        raise SitingError(msg("the grid spacing must be positive"), column="--grid",
                          value=spacing_m)
    main = np.zeros(net.n_nodes, dtype=bool)
    on_main = ~net.edge_on_fragment
    main[net.edge_u[on_main]] = main[net.edge_v[on_main]] = True
    nodes = np.flatnonzero(main)
    lo, hi = net.node_xy[nodes].min(axis=0), net.node_xy[nodes].max(axis=0)
    gx = np.arange(lo[0], hi[0] + spacing_m, spacing_m)
    gy = np.arange(lo[1], hi[1] + spacing_m, spacing_m)
    if len(gx) * len(gy) > 2_000_000:
        raise SitingError(msg("a {spacing:g} m grid over this network has {n:,} points; use "
                              "a wider spacing", spacing=spacing_m, n=len(gx) * len(gy)),
                          column="--grid", value=spacing_m)
    grid = np.column_stack([a.ravel() for a in np.meshgrid(gx, gy)])
    dist, which = cKDTree(net.node_xy[nodes]).query(grid, distance_upper_bound=spacing_m / 2)
    picked = np.unique(nodes[which[np.isfinite(dist)]])
    if len(picked) == 0:
        raise SitingError(msg("no network node lies near the grid"), column="--grid",
                          value=spacing_m)
    xy = net.node_xy[picked]
    att = attach_points(net, xy, max_snap_m=math.inf)
    ids = np.array([f"node-{net.node_id[n]}" for n in picked], dtype=object)
    names = np.array([Term(f"格子点 {i + 1}", f"grid point {i + 1}")
                      for i in range(len(picked))], dtype=object)
    return Candidates(ids, names, xy, att, f"grid {spacing_m:g} m")
