"""The pruned search that repairs a distance field in place (``improve_dijkstra``, the
scenarios' incremental closures and openings) gives scipy's multi-source answers."""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import dijkstra

from geo_service.engine.cutoff_dijkstra import improve_dijkstra
from tests.conftest import grid_network


def test_improve_dijkstra_from_nothing_and_from_a_field():
    net = grid_network(30, 30, 25.0)
    graph = net.distance_graph
    rng = np.random.default_rng(7)
    seeds = rng.choice(net.n_nodes, 5, replace=False)
    costs = rng.integers(0, 40, 5) * 0.25  # sums of quarters and 25 m blocks are exact
    best = np.full(net.n_nodes, np.inf)
    label = np.full(net.n_nodes, -1, dtype=np.int64)
    per_seed = dijkstra(graph, indices=seeds) + costs[:, None]  # from each seed
    lowered = improve_dijkstra(graph, seeds[:4], costs[:4], np.arange(4), best, label)
    np.testing.assert_array_equal(best, per_seed[:4].min(axis=0))
    assert set(lowered) == set(range(net.n_nodes))
    # the label is a seed from which the node's value is reached
    assert (per_seed[label, np.arange(net.n_nodes)] == best).all()
    # one more seed: only the nodes it reaches strictly sooner change
    before = best.copy()
    lowered = improve_dijkstra(graph, seeds[4:], costs[4:], [4], best, label)
    np.testing.assert_array_equal(best, np.minimum(before, per_seed[4]))
    assert set(lowered) == set(np.flatnonzero(per_seed[4] < before))
    assert (label[lowered] == 4).all()
