"""Cut-off Dijkstra that touches only the nodes it reaches (for per-request searches).

scipy's :func:`scipy.sparse.csgraph.dijkstra` is used for the engine's whole-network
passes, but each call allocates and initialises state for *every* node of the graph (a
250,000-node network costs milliseconds before the first edge is relaxed), however small
its ``limit``. An API request searches a few thousand nodes around one point, so this
module compiles (numba) a Dijkstra on an indexed binary heap, with starting costs per
source and a cut-off; its per-thread scratch rows of the graph's size are reset node by
node after each call, so a search costs O(reached edges · log) and nothing per untouched
node.

The answers are those of scipy's Dijkstra from a virtual node with an edge of the
starting cost to each source (tested exactly, node for node).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit
from scipy import sparse


@njit(cache=True, nogil=True)
def _sift_up(heap: np.ndarray, where: np.ndarray, best: np.ndarray,
             i: int) -> None:  # pragma: no cover - compiled
    node = heap[i]
    while i > 0:
        parent = (i - 1) >> 1
        if best[heap[parent]] <= best[node]:
            break
        heap[i] = heap[parent]
        where[heap[i]] = i
        i = parent
    heap[i] = node
    where[node] = i


@njit(cache=True, nogil=True)
def _pop(heap: np.ndarray, size: int, where: np.ndarray,
         best: np.ndarray) -> int:  # pragma: no cover - compiled
    top = heap[0]
    where[top] = -2  # settled
    size -= 1
    if size > 0:
        node, i = heap[size], 0
        while True:
            child = 2 * i + 1
            if child >= size:
                break
            if child + 1 < size and best[heap[child + 1]] < best[heap[child]]:
                child += 1
            if best[heap[child]] >= best[node]:
                break
            heap[i] = heap[child]
            where[heap[i]] = i
            i = child
        heap[i] = node
        where[node] = i
    return top


@njit(cache=True, nogil=True)
def _improve(v: int, cost: float, heap: np.ndarray, size: int, reached: np.ndarray,
             n_reached: int, best: np.ndarray,
             where: np.ndarray) -> tuple[np.ndarray, int, np.ndarray, int]:  # pragma: no cover
    # give v the lower cost: into the heap (and the reached list) or up within it
    if where[v] == -1:
        if n_reached == len(reached):
            reached = np.concatenate((reached, np.empty_like(reached)))
        reached[n_reached] = v
        n_reached += 1
        if size == len(heap):
            heap = np.concatenate((heap, np.empty_like(heap)))
        heap[size] = v
        where[v] = size
        size += 1
    best[v] = cost
    _sift_up(heap, where, best, where[v])
    return heap, size, reached, n_reached


@njit(cache=True, nogil=True)
def _search(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray,
            along_weights: np.ndarray, sources: np.ndarray, source_costs: np.ndarray,
            source_along: np.ndarray, limit: float, best: np.ndarray, where: np.ndarray,
            wanted: np.ndarray, along: np.ndarray,
            at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    # an indexed binary heap (decrease-key): where[v] is v's heap slot, -1 never reached,
    # -2 settled; wanted[v] marks the nodes of `at` (the search ends once all are
    # settled); these three rows are restored before returning. With along_weights,
    # along[v] sums them over the path that gave best[v] (written, never read unset).
    track = len(along_weights) > 0
    remaining = 0
    for i in range(len(at)):
        if not wanted[at[i]]:
            wanted[at[i]] = True
            remaining += 1
    heap = np.empty(64, dtype=np.int64)
    reached = np.empty(64, dtype=np.int64)
    size = n_reached = 0
    for k in range(len(sources)):
        s, c = int(sources[k]), source_costs[k]
        if c <= limit and c < best[s]:
            heap, size, reached, n_reached = _improve(s, c, heap, size, reached, n_reached,
                                                      best, where)
            if track:
                along[s] = source_along[k]
    while size > 0 and remaining > 0:
        u = _pop(heap, size, where, best)
        size -= 1
        if wanted[u]:
            remaining -= 1
        d = best[u]
        for j in range(indptr[u], indptr[u + 1]):
            v = int(indices[j])
            nd = d + weights[j]
            if nd <= limit and nd < best[v]:
                heap, size, reached, n_reached = _improve(v, nd, heap, size, reached,
                                                          n_reached, best, where)
                if track:
                    along[v] = along[u] + along_weights[j]
    costs = np.full(len(at), np.inf)
    alongs = np.full(len(at), np.nan)
    for i in range(len(at)):
        if where[at[i]] == -2:
            costs[i] = best[at[i]]
            if track:
                alongs[i] = along[at[i]]
        wanted[at[i]] = False
    for i in range(n_reached):  # leave the scratch rows as they were found
        best[reached[i]] = np.inf
        where[reached[i]] = -1
    return costs, alongs


_scratch = threading.local()


def _scratch_rows(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """This thread's rows for an ``n``-node graph: costs (``inf``), heap slots (−1) and
    wanted marks (False), as every search leaves them, and the second sums (any)."""
    rows = getattr(_scratch, "rows", None)
    if rows is None:
        rows = _scratch.rows = {}
    if n not in rows:
        rows[n] = (np.full(n, np.inf), np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool),
                   np.zeros(n))
    return rows[n]


def cutoff_dijkstra(graph: sparse.csr_matrix, sources: np.ndarray, source_costs: np.ndarray,
                    limit: float, at: np.ndarray) -> np.ndarray:
    """Least cost from any source (starting at its cost) to the nodes ``at``, searching
    only the nodes within ``limit`` and stopping once every node of ``at`` is settled.

    Parameters
    ----------
    graph
        Directed graph, CSR, non-negative weights (row = from, column = to).
    sources, source_costs
        Start nodes and the cost already spent to reach each.
    limit
        Nodes costing more are not reached (``inf`` searches everything reachable).
    at
        The nodes whose costs are wanted (any number, repeats allowed).

    Returns
    -------
    costs
        Per node of ``at``: its least cost, or ``inf`` when it costs more than ``limit``
        or cannot be reached.
    """
    return _run(graph, None, sources, source_costs, None, limit, at)[0]


def cutoff_dijkstra_along(graph: sparse.csr_matrix, along_weights: np.ndarray,
                          sources: np.ndarray, source_costs: np.ndarray,
                          source_along: np.ndarray, limit: float,
                          at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cutoff_dijkstra`, also summing a second weight along each least-cost path
    (e.g. the metres of the quickest walk, searching by time).

    ``along_weights`` is aligned with ``graph.data``; ``source_along`` is each source's
    starting value. Returns the costs and, per node of ``at``, the second sum over the
    path that gave its cost (NaN where the cost is ``inf``).
    """
    return _run(graph, along_weights, sources, source_costs, source_along, limit, at)


def _run(graph: sparse.csr_matrix, along_weights: np.ndarray | None, sources: np.ndarray,
         source_costs: np.ndarray, source_along: np.ndarray | None, limit: float,
         at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sources = np.asarray(sources, dtype=np.int64)
    source_costs = np.asarray(source_costs, dtype=np.float64)
    if (source_costs < 0).any() or len(sources) != len(source_costs):
        raise ValueError("one non-negative starting cost per source is needed")
    at = np.asarray(at, dtype=np.int64)
    n = graph.shape[0]
    for name, nodes in (("sources", sources), ("at", at)):
        if len(nodes) and (nodes.min() < 0 or nodes.max() >= n):
            raise IndexError(f"{name} must be node indices of the graph (0 … {n - 1})")
    if along_weights is None:
        along_weights = source_along = np.zeros(0)
    elif (source_along is None or len(along_weights) != len(graph.data)
          or len(source_along) != len(sources)):
        raise ValueError("one second weight per graph entry and per source is needed")
    return _search(graph.indptr, graph.indices, graph.data,
                   np.asarray(along_weights, dtype=np.float64), sources, source_costs,
                   np.asarray(source_along, dtype=np.float64), float(limit),
                   *_scratch_rows(n), at)


def warm_up() -> None:
    """Compile the search now (about 3 s the first time, then loaded from numba's on-disk
    cache), so that a service's first request does not wait for it."""
    graph = sparse.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    cutoff_dijkstra_along(graph, graph.data, np.array([0]), np.zeros(1), np.zeros(1), 2.0,
                          np.array([1]))
