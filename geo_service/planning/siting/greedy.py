"""Coverage arithmetic without a solver, over a candidates × groups coverage matrix: the
weight some rows cover, lazy greedy (Minoux), filling a solution up to k rows, and the
tolerance that weight comparisons allow."""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
from scipy import sparse


def tolerance(scale: float) -> float:
    """What a comparison of weights around ``scale`` allows for rounding."""
    return 1e-9 * max(1.0, abs(scale))


def lazy_greedy(cover: sparse.csr_matrix, w: np.ndarray, k: int, *,
                target: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Lazy greedy max coverage (Minoux): up to k rows of ``cover`` (or until ``target``
    is covered), each adding the most weight; ties to the lower index."""
    hit = np.zeros(cover.shape[1], dtype=bool)
    gains0 = cover @ w if cover.shape[1] else np.zeros(cover.shape[0])
    heap = list(zip((-np.asarray(gains0, dtype=float)).tolist(), range(len(gains0)),
                    itertools.repeat(0)))
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    total = 0.0
    while len(chosen) < k and heap and total < target:
        neg, i, r = heapq.heappop(heap)
        if r == len(chosen):
            cols = cover.indices[cover.indptr[i]:cover.indptr[i + 1]]
            hit[cols] = True
            chosen.append(i)
            gains.append(-neg)
            total += -neg
            continue
        cols = cover.indices[cover.indptr[i]:cover.indptr[i + 1]]
        g = float(w[cols[~hit[cols]]].sum())
        heapq.heappush(heap, (-g, i, len(chosen)))
    return np.array(chosen, dtype=np.int64), np.array(gains, dtype=float)


def covered_weight(cover: sparse.csr_matrix, w: np.ndarray, chosen: np.ndarray) -> float:
    """The weight of the columns any of ``chosen`` rows reaches."""
    hit = np.zeros(cover.shape[1], dtype=bool)
    if len(chosen):
        hit[cover[np.asarray(chosen, dtype=np.int64)].indices] = True
    return float(w[hit].sum())


def fill_up(cover: sparse.csr_matrix, w: np.ndarray, chosen: np.ndarray,
            k: int) -> np.ndarray:
    """``chosen`` completed to k rows by greedy marginal gain (ties to the lower index)."""
    picked = [int(c) for c in chosen]
    if len(picked) >= k:
        return np.array(picked[:k], dtype=np.int64)
    hit = np.zeros(cover.shape[1], dtype=bool)
    if picked:
        hit[cover[np.array(picked)].indices] = True
    taken = np.zeros(cover.shape[0], dtype=bool)
    taken[picked] = True
    while len(picked) < k:
        gains = cover @ np.where(hit, 0.0, w)
        gains[taken] = -1
        best = int(np.argmax(gains))
        picked.append(best)
        taken[best] = True
        hit[cover.indices[cover.indptr[best]:cover.indptr[best + 1]]] = True
    return np.array(picked, dtype=np.int64)
