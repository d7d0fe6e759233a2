"""Repairing a distance field in place after sources are removed or added.

A field (one value and one label per node: the least cost from any source, and which
source) changes only near an edit:

- **a removed source** can only lengthen walks, and only for the nodes whose label it was
  (the field keeps no second-nearest, so those nodes are searched again): their values are
  cleared, and a Dijkstra restricted to them starts from the unchanged nodes around them
  (each at its own cost, with its own label) and from the remaining sources on them
  (:func:`repair_removed`). Nothing outside that set can change.
- **an added source** can only shorten walks: a Dijkstra from it that goes on only through
  nodes it reaches strictly sooner than their current value (:func:`improve_dijkstra`).

Because floating-point addition rounds monotonically, both give values that are bit for
bit those of a search from every source anew (tested); the label of a node exactly as near
to two sources may differ. The searches are the compiled ones of
:mod:`~geo_service.engine.cutoff_dijkstra`, which let other threads run meanwhile.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from geo_service.engine.cutoff_dijkstra import improve_dijkstra


def ragged_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR ``rows``: the row of each entry and the entry positions, flattened."""
    starts, ends = indptr[rows], indptr[rows + 1]
    counts = ends - starts
    total = int(counts.sum())
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return np.repeat(rows, counts), offsets + np.arange(total)


def repair_removed(graph: sparse.csr_matrix, reverse: sparse.csr_matrix, value: np.ndarray,
                   label: np.ndarray, gone: np.ndarray,
                   seeds: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Search again, in place, the nodes of a field whose source is gone.

    Parameters
    ----------
    graph, reverse
        The graph the field propagates on (from a source outwards), and its reverse (row
        ``a``: the edges into ``a``, with ``graph``'s weights).
    value, label
        The field: per node its cost and its source (−1: none); changed in place.
    gone
        Per source label: whether it was removed.
    seeds
        The remaining sources' entries into the network: nodes, costs, labels (those on a
        cleared node start the search again).

    Returns
    -------
    The nodes cleared and searched again (every node whose value may have changed).
    """
    hit = np.flatnonzero(np.append(gone, False)[label])  # −1 (none) is never gone
    if len(hit) == 0:
        return hit
    value[hit], label[hit] = np.inf, -1
    inside = np.zeros(len(value), dtype=bool)
    inside[hit] = True
    # each edge into a cleared node from an unchanged one …
    rows, pos = ragged_rows(reverse.indptr, hit)
    src = reverse.indices[pos]
    keep = ~inside[src] & np.isfinite(value[src])
    src = src[keep]
    seed_node, seed_cost, seed_label = seeds
    near = inside[seed_node]  # … and the remaining sources on the cleared nodes
    improve_dijkstra(graph, np.concatenate([rows[keep], seed_node[near]]),
                     np.concatenate([value[src] + reverse.data[pos[keep]], seed_cost[near]]),
                     np.concatenate([label[src], seed_label[near]]), value, label)
    return hit
