"""Facility siting: where would k new places, or n stops of a new route, bring the most
people 65+ within walking range?

**Coverage sets.** One bounded search per candidate on the walking network
(:class:`~geo_service.engine.access.PointSearch`, cut off at the threshold, visiting only the
streets within it) gives the demand points it would serve; the sets are kept as a sparse
candidate × demand incidence matrix, never a dense one. Distances are the engine's:
points are projected onto their nearest edges, and a walk counts when it is at most the
threshold (plus :data:`COVER_TOLERANCE_M`, so a lon/lat round trip does not push a person
on the boundary out). Existing facilities stay where they are: people already within
*their* threshold of one (one multi-source pass, :class:`~geo_service.engine.access.DistanceField`)
are not counted as newly served.

**Reduction.** Demand that no candidate reaches, or that is already served, or that has no
one 65+, is left out; demand points reached by exactly the same candidates are merged into
one weighted group. The models below are solved over these groups; a candidate whose
groups another candidate also reaches (all of them) is left out of the MIP, as swapping it
for that one never loses anyone (the answer is filled up to k sites greedily).

**Maximal covering** (MCLP, Church & ReVelle 1974): choose k candidates maximising the
people 65+ newly within range::

    max Σ_g w_g y_g   s.t.  y_g ≤ Σ_{i covers g} x_i,  Σ_i x_i = k,  x ∈ {0,1}, 0 ≤ y ≤ 1

solved exactly with HiGHS (``highspy``), warm-started from the lazy greedy solution (with
whole people, an incumbent within one person of the bound is optimal, so HiGHS stops
there; with apportioned fractional people it closes the gap to 1e-9). Each k is first
tried on the LP relaxation, hot-started from the previous k's basis: its optimum bounds
every choice of k sites, so a choice reaching it (the warm start, or the relaxation's own
solution when whole, as it usually is on a street network) is optimal without the MIP. When
the instance is larger than :data:`MIP_MAX_NONZEROS` or the time limit is reached, the best
solution found (HiGHS's or greedy's) is reported with its gap to an upper bound: the MIP's
dual bound, the LP relaxation, or the data-dependent bound of submodular coverage
(Leskovec et al. 2007: ``f(S) + the k largest marginal gains w.r.t. S``; greedy itself is
within ``1 − 1/e`` of the optimum), whichever is lowest.

**Set covering**: the fewest candidates that bring the share of people 65+ within range
(existing and new together) to a target; when even every candidate together falls short,
the answer says so and gives the best share achievable and how many sites reach it.

**Route stops**: the same maximal-covering model with a stop's catchment as the threshold
(300 m for a bus stop, ``STOP_CATCHMENT_M``); the chosen stops are then put in the order of
the shortest walk through them along the network (exact up to :data:`ROUTE_EXACT_MAX_STOPS`
stops, else nearest neighbour + 2-opt, stated as such).

Module settings: :data:`COVER_TOLERANCE_M`, :data:`MIP_TIME_LIMIT_S`,
:data:`MIP_MAX_NONZEROS`, :data:`STOP_CATCHMENT_M`, :data:`ROUTE_EXACT_MAX_STOPS`.

The modules: :mod:`~geo_service.planning.siting.candidates` (reading candidate sites),
:mod:`~geo_service.planning.siting.grid` (candidates on a grid over the network),
:mod:`~geo_service.planning.siting.coverage` (the coverage sets, by network searches),
:mod:`~geo_service.planning.siting.greedy` (coverage arithmetic without a solver),
:mod:`~geo_service.planning.siting.highs` (the HiGHS models),
:mod:`~geo_service.planning.siting.model` (:class:`SitingProblem` and its answers) and
:mod:`~geo_service.planning.siting.ordering` (the walking order of a route's stops).

The settings are this package's: the modules read them from here when they run, so that
setting one here (``siting.MIP_MAX_NONZEROS = …``) takes effect; hence they come before the
modules are imported.
"""

from __future__ import annotations

#: metres added to a threshold, so a point on the boundary is not lost to rounding
COVER_TOLERANCE_M = 1e-6
#: seconds HiGHS may take for one solve before the best solution found is reported
MIP_TIME_LIMIT_S = 30.0
#: incidence entries above which the MIP is not tried (greedy + bounds instead)
MIP_MAX_NONZEROS = 5_000_000
#: a stop's walking catchment (m): MLIT's bus-stop coverage
STOP_CATCHMENT_M = 300.0
#: route orders up to this many stops are exact (dynamic programming), above heuristic
ROUTE_EXACT_MAX_STOPS = 10

from geo_service.planning.siting.candidates import (  # noqa: E402
    ID_ALIASES,
    NAME_ALIASES,
    Candidates,
    SitingError,
    candidates_from_points,
    read_candidates,
)
from geo_service.planning.siting.coverage import coverage_sets, served_by_existing  # noqa: E402
from geo_service.planning.siting.grid import grid_candidates  # noqa: E402
from geo_service.planning.siting.model import (  # noqa: E402
    CurvePoint,
    SetCoverResult,
    SitingProblem,
    SitingResult,
)
from geo_service.planning.siting.ordering import (  # noqa: E402
    RouteOrder,
    nn_two_opt,
    order_stops,
    path_length,
)

__all__ = ["COVER_TOLERANCE_M", "ID_ALIASES", "MIP_MAX_NONZEROS", "MIP_TIME_LIMIT_S",
           "NAME_ALIASES", "ROUTE_EXACT_MAX_STOPS", "STOP_CATCHMENT_M", "Candidates",
           "CurvePoint", "RouteOrder", "SetCoverResult", "SitingError", "SitingProblem",
           "SitingResult", "candidates_from_points", "coverage_sets", "grid_candidates",
           "nn_two_opt", "order_stops", "path_length", "read_candidates",
           "served_by_existing"]
