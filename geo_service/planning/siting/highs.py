"""The HiGHS models (``highspy``): the maximal-covering MIP, re-solved for several k, its
LP relaxation, and the set-covering MIP, each over the candidates no other contains."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import numpy as np
from scipy import sparse

from geo_service.planning.siting.greedy import covered_weight, fill_up, lazy_greedy, tolerance

_banner_lock = threading.Lock()
_banner_shown = False


def _highs() -> Any:
    """A silent HiGHS instance with gaps set for proven optima.

    HiGHS writes its banner to the standard output (the C library's, past Python's
    ``sys.stdout``) when the first instance of a process is made; that one is made with
    the output descriptor pointed at ``os.devnull``, so the CLI's table stays clean.
    """
    import highspy

    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_shown = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-9)
    h.setOptionValue("mip_abs_gap", 1e-7)
    return h


def _coverage_lp(cover: sparse.csr_matrix, w: np.ndarray, cost_x: float, cost_y: np.ndarray,
                 extra_row: tuple[np.ndarray, np.ndarray, float, float],
                 integer: bool) -> Any:
    """The LP: x (candidates, binary) then y (groups, [0, 1]); rows y_g − Σ x_i ≤ 0, then
    one extra row (coefficients on x, on y, lower, upper)."""
    import highspy

    n_c, n_g = cover.shape
    link = sparse.hstack([-cover.T.astype(float), sparse.identity(n_g)])
    extra = sparse.csr_matrix(np.concatenate(extra_row[:2])[None, :])
    a = sparse.vstack([link, extra]).tocsc()
    a.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_c + n_g, n_g + 1
    lp.col_cost_ = np.concatenate([np.full(n_c, cost_x), cost_y])
    lp.col_lower_ = np.zeros(n_c + n_g)
    lp.col_upper_ = np.ones(n_c + n_g)
    lp.row_lower_ = np.concatenate([np.full(n_g, -highspy.kHighsInf), [extra_row[2]]])
    lp.row_upper_ = np.concatenate([np.zeros(n_g), [extra_row[3]]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_c + n_g, n_g + 1
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if integer:
        lp.integrality_ = ([highspy.HighsVarType.kInteger] * n_c
                           + [highspy.HighsVarType.kContinuous] * n_g)
    return lp


def _mclp_lp(cover: sparse.csr_matrix, w: np.ndarray, k_low: float, k_high: float,
             integer: bool) -> Any:
    """The MCLP: maximise Σ w y over x (candidates) and y (groups) with
    ``k_low ≤ Σ x ≤ k_high`` (the last row); ``integer``: x binary, else the relaxation."""
    import highspy

    n_c, n_g = cover.shape
    lp = _coverage_lp(cover, w, 0.0, w, (np.ones(n_c), np.zeros(n_g), k_low, k_high), integer)
    lp.sense_ = highspy.ObjSense.kMaximize
    return lp


def _status(h: Any) -> str:
    import highspy

    s = h.getModelStatus()
    if s == highspy.HighsModelStatus.kOptimal:
        return "optimal"
    if s == highspy.HighsModelStatus.kTimeLimit:
        return "time limit"
    return str(h.modelStatusToString(s))


def _start(h: Any, cover: sparse.csr_matrix, chosen: np.ndarray) -> None:
    """Give HiGHS a feasible starting solution (x = chosen, y = the groups they cover)."""
    import highspy

    n_c, n_g = cover.shape
    x = np.zeros(n_c)
    x[chosen] = 1
    y = np.zeros(n_g)
    if len(chosen):
        y[cover[chosen].indices] = 1
    sol = highspy.HighsSolution()
    sol.col_value = np.concatenate([x, y]).tolist()
    sol.value_valid = True
    h.setSolution(sol)


class MclpModel:
    """One HiGHS MCLP model, re-solved for several k (only the cardinality row changes).

    Candidates whose coverage is contained in another's (:func:`_undominated`) are left
    out of the model: one of them in a solution can always be swapped for the other
    without loss, so the optimum over the rest with ``Σ x ≤ k`` is the optimum; a solution
    with fewer than k sites is filled up greedily (gaining nothing more, or more).

    Each k is first tried on the LP relaxation (:meth:`_relaxation`, hot-started from the
    previous k's basis, milliseconds): its optimum bounds every solution with k sites, so
    a solution (the warm start, or the relaxation's own when it is whole) that reaches it
    is optimal. Only when none does is the MIP solved (built on first need)."""

    def __init__(self, cover: sparse.csr_matrix, w: np.ndarray) -> None:
        self.full, self.w = cover, w
        self.keep = _undominated(cover)
        self.cover = cover[self.keep]
        #: whole people: a solution within 1 of a bound is optimal
        self.whole = bool(np.array_equal(w, np.round(w)))
        self.row = self.cover.shape[1]
        self.lp = _highs()
        self.lp.passModel(_mclp_lp(self.cover, w, 0.0, 1.0, False))
        self._mip: Any = None
        #: per k solved: the model positions of the sites found
        self.solutions: dict[int, np.ndarray] = {}

    @property
    def h(self) -> Any:
        """The MIP (HiGHS), built when first needed."""
        if self._mip is None:
            self._mip = _highs()
            if self.whole:
                # an incumbent within 1 of the bound is proven optimal
                self._mip.setOptionValue("mip_abs_gap", 1 - 1e-6)
            self._mip.passModel(_mclp_lp(self.cover, self.w, 0.0, 1.0, True))
        return self._mip

    def solve(self, k: int, time_limit_s: float) -> tuple[np.ndarray, float, float, str]:
        """(chosen, objective, dual bound, status) with k sites."""
        warm = self._warm(k)
        proven = self._relaxation(k, warm, time_limit_s)
        if proven is not None:
            chosen, status = proven, "optimal"
        else:
            h = self._at_k(self.h, k, time_limit_s)
            h.clearSolver()
            _start(h, self.cover, warm)
            h.run()
            status = _status(h)
            n_c = self.cover.shape[0]
            x = np.asarray(h.getSolution().col_value[:n_c])
            chosen = np.flatnonzero(x > 0.5)
            info = h.getInfo()
            dual = (float(info.mip_dual_bound) if status != "optimal"
                    else float(info.objective_function_value))
            if len(chosen) == 0 or len(chosen) > k:  # no solution: the warm start
                chosen = warm
        chosen = fill_up(self.full, self.w, self.keep[chosen], k)
        hit = np.zeros(self.full.shape[1], dtype=bool)
        hit[self.full[chosen].indices] = True
        value = float(self.w[hit].sum())
        if proven is not None:
            dual = value
        self.solutions[k] = np.searchsorted(self.keep, chosen[np.isin(chosen, self.keep)])
        return chosen, value, dual, status

    def _relaxation(self, k: int, warm: np.ndarray, time_limit_s: float) -> np.ndarray | None:
        """A solution with k sites (model positions) proven optimal by the LP relaxation,
        or None: the warm start, or the relaxation's solution rounded (its k largest
        sites), whichever covers more, when it covers as much as the relaxation's optimum
        (within 1 with whole people, whose optimum is whole too)."""
        lp = self._at_k(self.lp, k, time_limit_s)
        lp.run()
        if _status(lp) != "optimal":
            return None
        bound = float(lp.getInfo().objective_function_value)
        x = np.asarray(lp.getSolution().col_value[:self.cover.shape[0]])
        top = np.argsort(-x, kind="stable")[:k]
        rounded = np.sort(top[x[top] > 0.5])
        best = max([warm, rounded], key=lambda c: covered_weight(self.cover, self.w, c))
        slack = 1 - 1e-6 if self.whole else tolerance(bound)
        if covered_weight(self.cover, self.w, best) >= bound - slack:
            return best
        return None

    def _at_k(self, h: Any, k: int, time_limit_s: float) -> Any:
        """``h`` (the relaxation or the MIP) with at most k sites and ``time_limit_s``."""
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.0)))
        h.changeRowBounds(self.row, 0.0, float(k))
        return h

    def _warm(self, k: int) -> np.ndarray:
        """The best start known for k sites (model positions): greedy, or a solution
        found for k − 1 sites plus the best addition, or one for k + 1 less its least
        useful site."""
        starts = [lazy_greedy(self.cover, self.w, k)[0]]
        if k - 1 in self.solutions:
            starts.append(fill_up(self.cover, self.w, self.solutions[k - 1], k))
        if k + 1 in self.solutions and len(self.solutions[k + 1]) > k:
            bigger = self.solutions[k + 1]
            order, _ = lazy_greedy(self.cover[bigger], self.w, k)
            starts.append(bigger[order])
        return max(starts, key=lambda c: covered_weight(self.cover, self.w, c))


def _undominated(cover: sparse.csr_matrix) -> np.ndarray:
    """Positions of the rows of ``cover`` not contained in another row (of two equal rows
    the first is kept); all rows when there are too many to compare cheaply."""
    n = cover.shape[0]
    size = np.diff(cover.indptr)
    if n > 20_000:
        return np.arange(n)
    c = cover.astype(np.int32)
    inter = (c @ c.T).tocoo()
    i, j, shared = inter.row, inter.col, inter.data
    inside = (i != j) & (shared == size[i]) & ((size[j] > size[i]) | (j < i))
    dominated = np.zeros(n, dtype=bool)
    dominated[i[inside]] = True
    dominated[size == 0] = True
    keep = np.flatnonzero(~dominated)
    return keep if len(keep) else np.arange(min(n, 1))


def lp_bound(cover: sparse.csr_matrix, w: np.ndarray, k: int,
             time_limit_s: float) -> float | None:
    """The LP relaxation's optimum of the MCLP with k sites, or None if not solved."""
    h = _highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.passModel(_mclp_lp(cover, w, float(k), float(k), False))
    h.run()
    if _status(h) != "optimal":
        return None
    return float(h.getInfo().objective_function_value)


def highs_set_cover(cover: sparse.csr_matrix, w: np.ndarray, need: float,
                    time_limit_s: float) -> tuple[np.ndarray | None, str, float]:
    """min Σ x with Σ w y ≥ need: (chosen or None, status, dual bound). Candidates whose
    coverage another contains are left out (swapping one for the other never loses)."""
    import highspy

    keep = _undominated(cover)
    full, cover = cover, cover[keep]
    n_c, n_g = cover.shape
    h = _highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_abs_gap", 1 - 1e-6)  # the number of sites is whole
    lp = _coverage_lp(cover, w, 1.0, np.zeros(n_g),
                      (np.zeros(n_c), w, float(need), highspy.kHighsInf), True)
    lp.sense_ = highspy.ObjSense.kMinimize
    h.passModel(lp)
    _start(h, cover, lazy_greedy(cover, w, n_c, target=need)[0])
    h.run()
    status = _status(h)
    info = h.getInfo()
    dual = float(info.mip_dual_bound) if status != "optimal" else float(
        info.objective_function_value)
    x = np.asarray(h.getSolution().col_value[:n_c])
    chosen = keep[np.flatnonzero(x > 0.5)]
    if len(chosen) == 0 or covered_weight(full, w, chosen) < need - tolerance(need):
        return None, status, dual
    return chosen, status, dual
