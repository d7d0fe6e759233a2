"""The siting problem (:class:`SitingProblem`): demand grouped by the candidates that reach
it, maximal covering of k sites and set covering of a target share, and their answers."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from geo_service.engine.access import Attachment
from geo_service.engine.network import WalkNetwork
from geo_service.i18n import Message, msg
from geo_service.planning import siting  # the package's settings, read when called
from geo_service.planning.siting.candidates import Candidates, SitingError
from geo_service.planning.siting.coverage import coverage_sets, served_by_existing
from geo_service.planning.siting.greedy import lazy_greedy, tolerance
from geo_service.planning.siting.highs import MclpModel, highs_set_cover, lp_bound


@dataclass(frozen=True)
class CurvePoint:
    """The best coverage found with k new sites."""

    k: int
    covered_new: float
    greedy_new: float
    bound: float
    optimal: bool


#: how a result was found (``method``) and what bounds it (``bound_source``), in words
METHOD_TEXT: dict[str, Message] = {
    "greedy (asked)": msg("greedy (asked)"),
    "trivial (no one can be newly served)": msg("trivial (no one can be newly served)"),
    "greedy (instance too large for the MIP)": msg("greedy (instance too large for the MIP)"),
    "exact (HiGHS)": msg("exact (HiGHS)"),
    "best found within the time limit (HiGHS)":
        msg("best found within the time limit (HiGHS)"),
    "greedy": msg("greedy"),
    "nothing needed": msg("nothing needed"),
    "nothing coverable": msg("nothing coverable"),
    "greedy meets its bound": msg("greedy meets its bound"),
    "submodular bound": msg("submodular bound"),
    "LP relaxation": msg("LP relaxation"),
    "optimal (HiGHS)": msg("optimal (HiGHS)"),
    "MIP dual bound": msg("MIP dual bound"),
}


def method_text(method: str) -> Message | str:
    """A ``method`` or ``bound_source`` of a result in words (:data:`METHOD_TEXT`)."""
    return METHOD_TEXT.get(method, method)


@dataclass(frozen=True)
class SitingResult:
    """Sites chosen by maximal covering.

    ``chosen`` are candidate positions in report order (each adding the most of those left,
    given the ones before); ``gains`` the people 65+ each newly brings within range in that
    order (they sum to ``covered_new``). ``bound`` is an upper bound on what any k sites
    could newly cover (``bound_source`` says which); ``optimal`` when proven.
    """

    k: int
    chosen: np.ndarray
    gains: np.ndarray
    covered_new: float
    already: float
    total: float
    coverable: float
    method: str
    optimal: bool
    bound: float
    bound_source: str
    greedy_new: float
    seconds: float
    curve: list[CurvePoint] = field(default_factory=list)
    notes: list[Message] = field(default_factory=list)

    @property
    def gap(self) -> float:
        """Relative gap to the bound: ``(bound − covered_new) / bound`` (0 when proven)."""
        return 0.0 if self.bound <= 0 else max(0.0, (self.bound - self.covered_new) / self.bound)

    @property
    def share_before(self) -> float:
        """Share of people 65+ within range of an existing facility."""
        return self.already / self.total if self.total > 0 else math.nan

    @property
    def share_after(self) -> float:
        """Share within range of an existing facility or a chosen site."""
        return (self.already + self.covered_new) / self.total if self.total > 0 else math.nan


@dataclass(frozen=True)
class SetCoverResult:
    """The fewest sites reaching a target share (``feasible``), or, when no number of
    candidates can, the best share achievable and the sites that reach it."""

    target_share: float
    feasible: bool
    chosen: np.ndarray
    gains: np.ndarray
    covered_new: float
    already: float
    total: float
    best_share: float
    method: str
    optimal: bool
    lower_bound: int
    seconds: float
    notes: list[Message] = field(default_factory=list)

    @property
    def share_after(self) -> float:
        """Share of people 65+ within range with the chosen sites."""
        return (self.already + self.covered_new) / self.total if self.total > 0 else math.nan


class SitingProblem:
    """A siting instance: demand weights, what existing facilities serve, and the demand
    each candidate would serve.

    Build with :meth:`from_network` (searches on the network) or directly from an
    incidence matrix; then :meth:`maximal_covering` or :meth:`set_covering`.

    Parameters
    ----------
    incidence
        Candidates × demand points, nonzero where the candidate serves the point (sparse).
    weights
        People 65+ per demand point.
    served
        Per demand point: already within range of an existing facility.
    """

    def __init__(self, incidence: sparse.spmatrix, weights: np.ndarray,
                 served: np.ndarray | None = None) -> None:
        cover = sparse.csr_matrix(incidence, dtype=bool)
        weights = np.asarray(weights, dtype=float)
        n_cand, n_dem = cover.shape
        if len(weights) != n_dem:
            raise SitingError(f"{len(weights)} weights for {n_dem} demand points")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise SitingError("people 65+ per demand point must be finite and non-negative")
        if n_cand == 0:
            raise SitingError(msg("no candidate sites: the set of candidates is empty"))
        served = (np.zeros(n_dem, dtype=bool) if served is None
                  else np.asarray(served, dtype=bool))
        if len(served) != n_dem:
            raise SitingError(f"{len(served)} served flags for {n_dem} demand points")
        self.n_candidates = n_cand
        self.total = float(weights.sum())
        self.already = float(weights[served].sum())
        self.incidence = cover
        open_ = ~served & (weights > 0)
        cols = cover.tocsc()
        cols.sort_indices()  # the same candidates give the same key
        reached = np.diff(cols.indptr) > 0
        keep = np.flatnonzero(open_ & reached)
        # demand points reached by the same candidates become one group
        groups: dict[bytes, int] = {}
        label = np.empty(len(keep), dtype=np.int64)
        for n, j in enumerate(keep):
            key = cols.indices[cols.indptr[j]:cols.indptr[j + 1]].tobytes()
            label[n] = groups.setdefault(key, len(groups))
        n_groups = len(groups)
        self.group_weight = np.bincount(label, weights[keep], minlength=n_groups)
        member = sparse.csr_matrix((np.ones(len(keep), dtype=bool), (keep, label)),
                                   shape=(n_dem, n_groups))
        #: candidates × groups
        self.cover = sparse.csr_matrix((cover @ member) > 0, dtype=bool)
        self.cover.sort_indices()
        self.coverable = float(self.group_weight.sum())

    @classmethod
    def from_network(cls, net: WalkNetwork, demand: Attachment, weights: np.ndarray,
                     candidates: Candidates | Attachment, *, threshold_m: float,
                     existing: Attachment | None = None,
                     existing_threshold_m: float | None = None,
                     also_served: np.ndarray | None = None,
                     incidence: sparse.csr_matrix | None = None) -> SitingProblem:
        """Coverage sets by cut-off searches from each candidate (:func:`coverage_sets`)
        and the demand existing facilities serve (:func:`served_by_existing`, at
        ``existing_threshold_m``, by default ``threshold_m``); ``also_served`` marks more
        demand points already served (e.g. by existing mobile-sales stops at their own
        catchment); ``incidence``: the coverage sets when already known (saved)."""
        if not threshold_m > 0:
            raise SitingError(msg("the walking threshold must be positive"), column="threshold",
                              value=threshold_m)
        att = candidates.attachment if isinstance(candidates, Candidates) else candidates
        if len(att) == 0:
            raise SitingError(msg("no candidate sites: the set of candidates is empty"))
        if incidence is None:
            incidence = coverage_sets(net, demand, att, threshold_m)
        served = served_by_existing(net, demand, existing,
                                    threshold_m if existing_threshold_m is None
                                    else existing_threshold_m)
        if also_served is not None:
            served = served | np.asarray(also_served, dtype=bool)
        return cls(incidence, weights, served)

    # -------------------------------------------------------------- evaluation

    def _check_k(self, k: int) -> None:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise SitingError(msg("k must be a whole number ≥ 1"), column="k", value=k)
        if k > self.n_candidates:
            raise SitingError(msg("k = {k} is more than the {n} candidate sites; give more "
                                  "candidates or a smaller k", k=k, n=self.n_candidates),
                              column="k", value=k)

    def newly_covered(self, chosen: Sequence[int] | np.ndarray) -> float:
        """People 65+ newly within range when ``chosen`` (candidate positions) are opened."""
        chosen = np.asarray(chosen, dtype=np.int64)
        if len(chosen) == 0:
            return 0.0
        hit = np.zeros(len(self.group_weight), dtype=bool)
        hit[self.cover[chosen].indices] = True
        return float(self.group_weight[hit].sum())

    def ordered(self, chosen: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``chosen`` in greedy order (each adds the most of those left) with each one's
        marginal gain."""
        order, gains = lazy_greedy(self.cover[np.asarray(chosen, dtype=np.int64)],
                                    self.group_weight, len(chosen))
        return np.asarray(chosen, dtype=np.int64)[order], gains

    def greedy(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Lazy greedy: k candidate positions in the order chosen, and their gains."""
        self._check_k(k)
        return lazy_greedy(self.cover, self.group_weight, k)

    def greedy_bound(self, order: np.ndarray, k: int) -> float:
        """Upper bound on the best coverage of k sites from a greedy run: the least over
        its prefixes S of f(S) + the k largest marginal gains w.r.t. S."""
        w = self.group_weight
        hit = np.zeros(len(w), dtype=bool)
        best = math.inf
        for r in range(len(order) + 1):
            gains = self.cover @ np.where(hit, 0.0, w)
            top = np.sort(gains)[::-1][:k].sum()
            best = min(best, float(w[hit].sum() + top))
            if r < len(order):
                hit[self.cover[order[r]].indices] = True
        return min(best, self.coverable)

    # -------------------------------------------------------------- maximal covering

    def maximal_covering(self, k: int, *, time_limit_s: float = siting.MIP_TIME_LIMIT_S,
                         exact: bool = True, curve: bool = True) -> SitingResult:
        """Choose k candidates maximising the people 65+ newly within range.

        Parameters
        ----------
        k
            Number of new sites (1 … number of candidates).
        time_limit_s
            For the solve with k sites; past it the best solution found is reported with
            its gap. The curve's solves for 1 … k − 1 share one more budget of this size;
            points it does not reach give greedy's value and the bound.
        exact
            False: lazy greedy only, with the bound of submodular coverage.
        curve
            Also the best coverage for 1 … k − 1 sites (one more solve each).
        """
        self._check_k(k)
        started = time.perf_counter()
        g_order, g_gains = lazy_greedy(self.cover, self.group_weight, k)
        greedy_new = float(g_gains.sum())
        notes: list[Message] = []
        model = None
        if not exact:
            method = "greedy (asked)"
        elif len(self.group_weight) == 0:
            method = "trivial (no one can be newly served)"
        elif self.cover.nnz > siting.MIP_MAX_NONZEROS:
            method = "greedy (instance too large for the MIP)"
            notes.append(msg("{n:,} coverage entries exceed MIP_MAX_NONZEROS ({most:,}); greedy "
                             "with an LP bound", n=self.cover.nnz,
                             most=siting.MIP_MAX_NONZEROS))
        else:
            method = "exact (HiGHS)"
            model = MclpModel(self.cover, self.group_weight)
        chosen, covered, bound, source, optimal = self._solve_k(
            k, model, g_order, greedy_new, method, notes, time_limit_s)
        if model is not None and not optimal:
            method = "best found within the time limit (HiGHS)"
        order, gains = self.ordered(chosen)
        points = []
        if curve:
            deadline = time.perf_counter() + time_limit_s
            for kk in range(1, k + 1):
                greedy_kk = float(g_gains[:kk].sum())
                if kk == k:
                    c, b, opt = covered, bound, optimal
                else:
                    left = deadline - time.perf_counter()
                    _, c, b, _, opt = self._solve_k(
                        kk, model if left > 0 else None, g_order[:kk], greedy_kk,
                        method if left > 0 else "curve budget spent", [], left)
                points.append(CurvePoint(kk, c, greedy_kk, b, opt))
            if not all(p.optimal for p in points):
                notes.append(msg("coverage curve: some points are not proven optimal (their "
                                 "bound is given)"))
        return SitingResult(k, order, gains, covered, self.already, self.total,
                            self.coverable, method, optimal, bound, source, greedy_new,
                            time.perf_counter() - started, points, notes)

    def _solve_k(self, k: int, model: MclpModel | None, g_order: np.ndarray,
                 greedy_new: float, method: str, notes: list[Message],
                 time_limit_s: float) -> tuple[np.ndarray, float, float, str, bool]:
        """(chosen, newly covered, upper bound, bound's source, proven optimal) for k."""
        if len(self.group_weight) == 0:
            return g_order, 0.0, 0.0, "nothing coverable", True
        g_bound = self.greedy_bound(g_order, k)
        if greedy_new >= g_bound - tolerance(g_bound):
            return g_order, greedy_new, greedy_new, "greedy meets its bound", True
        if model is None:
            bound, source = g_bound, "submodular bound"
            if method.startswith("greedy (instance"):
                lp = lp_bound(self.cover, self.group_weight, k, time_limit_s)
                if lp is not None and lp < bound:
                    bound, source = lp, "LP relaxation"
            return g_order, greedy_new, bound, source, greedy_new >= bound - tolerance(bound)
        chosen, value, dual, status = model.solve(k, time_limit_s)
        if value < greedy_new:
            chosen, value = g_order, greedy_new
        if status == "optimal":
            return chosen, value, value, "optimal (HiGHS)", True
        notes.append(msg("k = {k}: HiGHS stopped ({status}) after {seconds:.3g} s", k=k,
                         status=status, seconds=time_limit_s))
        bound, source = (dual, "MIP dual bound") if dual < g_bound else (g_bound,
                                                                           "submodular bound")
        return chosen, value, bound, source, value >= bound - tolerance(bound)

    # -------------------------------------------------------------- set covering

    def set_covering(self, target_share: float, *,
                     time_limit_s: float = siting.MIP_TIME_LIMIT_S) -> SetCoverResult:
        """The fewest candidates that bring the share of people 65+ within range (existing
        and new together) to ``target_share``; when impossible, the best share achievable
        and the fewest sites reaching it (``feasible`` False)."""
        if not 0 < target_share <= 1:
            raise SitingError(msg("the target share must lie in (0, 1]"), column="target_share",
                              value=target_share)
        started = time.perf_counter()
        notes: list[Message] = []
        best_share = ((self.already + self.coverable) / self.total if self.total > 0
                      else math.nan)
        need = target_share * self.total - self.already
        feasible = need <= self.coverable + tolerance(self.total)
        if not feasible:
            notes.append(msg("infeasible: every candidate together brings the share to "
                             "{best:.1%}, short of {target:.1%}", best=best_share,
                             target=target_share))
            need = self.coverable
        need -= tolerance(self.total)
        if need <= 0:
            empty = np.zeros(0, dtype=np.int64)
            return SetCoverResult(target_share, feasible, empty, np.zeros(0), 0.0,
                                  self.already, self.total, best_share, "nothing needed",
                                  True, 0, time.perf_counter() - started, notes)
        g_order, g_gains = lazy_greedy(self.cover, self.group_weight, self.n_candidates,
                                        target=need)
        chosen, optimal, lower = g_order, False, 1
        method = "greedy"
        if self.cover.nnz <= siting.MIP_MAX_NONZEROS:
            x, status, dual = highs_set_cover(self.cover, self.group_weight, need,
                                               time_limit_s)
            method = "exact (HiGHS)"
            if x is not None and len(x) <= len(chosen):
                chosen = x
            optimal = status == "optimal"
            lower = len(chosen) if optimal else max(1, math.ceil(dual - 1e-6))
            if not optimal:
                method = "best found within the time limit (HiGHS)"
                notes.append(msg("HiGHS stopped ({status}) after {seconds:g} s; at least "
                                 "{lower} sites are needed", status=status,
                                 seconds=time_limit_s, lower=lower))
        order, gains = self.ordered(chosen)
        return SetCoverResult(target_share, feasible, order, gains, float(gains.sum()),
                              self.already, self.total, best_share, method, optimal, lower,
                              time.perf_counter() - started, notes)
