"""Facility siting (planning.siting): answers known by hand on the 11 × 11 street grid of
``tests/utils/grid.py`` (100 m blocks, Manhattan distances), spopt's MCLP optimum on a small
instance, brute force on random ones, and bad input."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse

from geo_service._errors import InputError, OutsideNetworkError
from geo_service.engine.access import DistanceField
from geo_service.planning.siting import (
    SitingError,
    SitingProblem,
    candidates_from_points,
    coverage_sets,
    grid_candidates,
    order_stops,
    read_candidates,
)
from geo_service.planning.siting.highs import MclpModel
from tests.utils.grid import CRS, X0, Y0, grid_region, lonlat


def _points(coords: list[tuple[float, float]], names: list[str]) -> gpd.GeoDataFrame:
    """Points at grid-local metres (x east, y north of the south-west node)."""
    return gpd.GeoDataFrame({"名称": names},
                            geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in coords],
                            crs=CRS)


def _row_weights(region, weights: dict[int, float]) -> np.ndarray:
    """People 65+ only on row j = 5 at the given columns i, nobody elsewhere."""
    w = np.zeros(len(region.demand))
    for i, value in weights.items():
        w[5 * 11 + i] = value
    return w


# ------------------------------------------------------------------ known by hand


@pytest.fixture(scope="module")
def trap():
    """Three candidates on street midpoints of row 5, threshold 100 m: 'left' (x = 250)
    reaches columns 2 and 3, 'mid' (350) columns 3 and 4, 'right' (450) columns 4 and 5.
    People: 1, 2, 2, 1 at columns 2, 3, 4, 5. Greedy takes 'mid' (4) and then gains 1;
    the optimum for k = 2 is left + right = 6."""
    region = grid_region()
    cands = candidates_from_points(
        region.net, _points([(250, 500), (350, 500), (450, 500)], ["left", "mid", "right"]))
    w = _row_weights(region, {2: 1, 3: 2, 4: 2, 5: 1})
    return region, cands, w


def test_hand_instance_exact_beats_greedy(trap):
    region, cands, w = trap
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=100)
    result = problem.maximal_covering(2)
    assert result.optimal and result.method == "exact (HiGHS)"
    assert sorted(cands.names[result.chosen]) == ["left", "right"]
    assert result.covered_new == 6 and result.greedy_new == 5
    assert list(result.gains) == [3, 3] and result.gains.sum() == result.covered_new
    assert result.share_before == 0 and result.share_after == 1
    assert [(p.k, p.covered_new, p.greedy_new, p.optimal) for p in result.curve] == [
        (1, 4, 4, True), (2, 6, 5, True)]
    k1 = problem.maximal_covering(1, curve=False)
    assert list(cands.names[k1.chosen]) == ["mid"]


def test_existing_facility_is_fixed(trap):
    """A store at x = 550 serves column 5 (50 m) but not column 4 (150 m): 'right' then
    brings only column 4 (2 people) newly within range."""
    region, cands, w = trap
    store = region.attach(gpd.GeoDataFrame({"store_id": ["S"]},
                                           geometry=[shapely.Point(X0 + 550, Y0 + 500)],
                                           crs=CRS))
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=100, existing=store)
    assert (problem.total, problem.already, problem.coverable) == (6, 1, 5)
    assert problem.newly_covered([2]) == 2 and problem.newly_covered([0, 2]) == 5
    result = problem.maximal_covering(3)
    assert result.covered_new == 5 and result.share_after == 1
    assert result.gains[-1] == 0  # the third site adds no one


def test_existing_threshold_differs_from_stop_catchment(trap):
    """Route stops at 100 m, an existing store counted at 300 m: it then serves columns
    3 to 5 (250, 150, 50 m), so only column 2 is left for the stops."""
    region, cands, w = trap
    store = region.attach(gpd.GeoDataFrame({"store_id": ["S"]},
                                           geometry=[shapely.Point(X0 + 550, Y0 + 500)],
                                           crs=CRS))
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=100, existing=store,
                                         existing_threshold_m=300)
    assert (problem.already, problem.coverable) == (5, 1)
    assert list(cands.names[problem.maximal_covering(1).chosen]) == ["left"]


def test_coverage_sets_equal_the_engine_distances():
    """Each candidate's set is what a whole-network Dijkstra (DistanceField) gives."""
    region = grid_region()
    cands = grid_candidates(region.net, 300)
    demand = region.demand_attachment
    sets = coverage_sets(region.net, demand, cands.attachment, 250).toarray()
    for i in range(len(cands)):
        d = DistanceField(region.net, cands.attachment.take(np.array([i]))).at(demand)
        np.testing.assert_array_equal(sets[i], d.distance_m <= 250 + 1e-6)
    assert sets.sum(axis=1).min() >= 1


def test_grid_candidates_are_network_nodes():
    region = grid_region()
    cands = grid_candidates(region.net, 200)
    assert len(cands) == 36  # 0, 200 … 1000 m in both directions
    assert np.allclose(cands.attachment.connector, 0)
    assert set(cands.ids) <= {f"node-{n}" for n in region.net.node_id}


# ------------------------------------------------------------------ against spopt


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pulp's own, inside spopt
def test_exact_matches_spopt_mclp_optimum():
    """Random people on the grid, 25 candidates, 2 existing stores, 250 m: our optimum
    (existing + new) equals spopt's MCLP optimum with the stores as predefined sites, on
    a cost matrix from whole-network Dijkstra runs."""
    pulp = pytest.importorskip("pulp")
    spopt = pytest.importorskip("spopt.locate")
    rng = np.random.default_rng(7)
    region = grid_region()
    w = rng.integers(0, 6, len(region.demand)).astype(float)
    xy = rng.uniform(0, 1000, (25, 2))
    cands = candidates_from_points(region.net, _points([tuple(p) for p in xy],
                                                       [f"c{i}" for i in range(25)]))
    stores = gpd.GeoDataFrame({"store_id": ["A", "B"]},
                              geometry=[shapely.Point(X0 + 0, Y0 + 0),
                                        shapely.Point(X0 + 1000, Y0 + 1000)], crs=CRS)
    existing = region.attach(stores)
    demand = region.demand_attachment
    threshold, k = 250.0, 4
    problem = SitingProblem.from_network(region.net, demand, w, cands, threshold_m=threshold,
                                         existing=existing)
    ours = problem.maximal_covering(k, curve=False)
    assert ours.optimal

    def column(att, i):
        return DistanceField(region.net, att.take(np.array([i]))).at(demand).distance_m

    cost = np.column_stack([column(cands.attachment, i) for i in range(len(cands))]
                           + [column(existing, i) for i in range(len(existing))])
    cost = np.where(np.isfinite(cost), cost, 1e9)
    predefined = np.r_[np.zeros(len(cands)), np.ones(len(existing))].astype(int)
    mclp = spopt.MCLP.from_cost_matrix(cost, w, service_radius=threshold,
                                       p_facilities=k + len(existing),
                                       predefined_facilities_arr=predefined)
    mclp.solve(pulp.HiGHS(msg=False))
    assert pulp.LpStatus[mclp.problem.status] == "Optimal"
    theirs = float(pulp.value(mclp.problem.objective))
    assert ours.already + ours.covered_new == pytest.approx(theirs, abs=1e-6)
    sites = [i for i, v in enumerate(mclp.fac_vars[:len(cands)]) if v.value() > 0.5]
    assert problem.newly_covered(sites) == pytest.approx(ours.covered_new)


# ------------------------------------------------------------------ greedy vs exact


def _random_problem(seed: int, n_cand: int = 9, n_dem: int = 40) -> SitingProblem:
    """Whole people for even seeds, apportioned (fractional) people for odd ones."""
    rng = np.random.default_rng(seed)
    incidence = sparse.random(n_cand, n_dem, density=0.2, random_state=seed,
                              data_rvs=np.ones) > 0
    w = rng.integers(0, 10, n_dem).astype(float)
    if seed % 2:
        w = w * rng.uniform(0.1, 1.0, n_dem)
    served = rng.random(n_dem) < 0.15
    return SitingProblem(incidence, w, served)


def _brute_force(problem: SitingProblem, k: int) -> float:
    return max(problem.newly_covered(c)
               for c in itertools.combinations(range(problem.n_candidates), k))


@pytest.mark.parametrize("seed", range(12))
def test_greedy_never_better_than_exact_and_within_bounds(seed):
    problem = _random_problem(seed)
    for k in (1, 2, 3, 5):
        best = _brute_force(problem, k)
        exact = problem.maximal_covering(k, curve=False)
        greedy = problem.maximal_covering(k, exact=False, curve=False)
        assert exact.covered_new == pytest.approx(best) and exact.optimal
        assert greedy.covered_new <= exact.covered_new + 1e-9
        assert greedy.covered_new >= (1 - 1 / math.e) * exact.covered_new - 1e-9
        assert greedy.bound >= best - 1e-9  # the stated bound is a bound
        assert greedy.gap == pytest.approx(max(0, (greedy.bound - greedy.covered_new)
                                               / greedy.bound) if greedy.bound else 0)


def test_time_limit_fallback_states_its_gap(monkeypatch):
    """With no time to solve, the greedy answer is kept and the gap to a bound stated."""
    problem = _random_problem(3, n_cand=30, n_dem=300)
    result = problem.maximal_covering(6, time_limit_s=0.0, curve=False)
    assert result.covered_new >= result.greedy_new
    assert result.bound >= problem.maximal_covering(6, curve=False).covered_new - 1e-9
    if not result.optimal:
        assert result.method.startswith("best found within the time limit")
        assert result.bound_source in ("MIP dual bound", "submodular bound")
        assert result.gap > 0


# ------------------------------------------------------------------ the LP relaxation's proof


def _mip_only(monkeypatch) -> None:
    """The solver as it was before the relaxation's proof: every k by the MIP."""
    monkeypatch.setattr(MclpModel, "_relaxation", lambda self, k, warm, limit: None)


def _same_as_the_mip(problem: SitingProblem, k: int, monkeypatch) -> None:
    """The answer and its curve equal the MIP-only solver's: objective and sites."""
    ours = problem.maximal_covering(k)
    with monkeypatch.context() as m:
        _mip_only(m)
        theirs = problem.maximal_covering(k)
    assert ours.optimal and theirs.optimal
    assert ours.covered_new == pytest.approx(theirs.covered_new, rel=1e-12)
    assert sorted(ours.chosen) == sorted(theirs.chosen)
    assert list(ours.gains) == pytest.approx(list(theirs.gains), rel=1e-12)
    assert [(p.k, p.optimal) for p in ours.curve] == [(p.k, p.optimal) for p in theirs.curve]
    assert ([p.covered_new for p in ours.curve]
            == pytest.approx([p.covered_new for p in theirs.curve], rel=1e-12))


def test_relaxation_proves_the_hand_optimum_without_the_mip(trap):
    """The trap's k = 2: the LP relaxation's optimum is 6 (left + right, whole), so it is
    proven optimal without building the MIP; k = 1's relaxation is 4 ('mid')."""
    region, cands, w = trap
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=100)
    model = MclpModel(problem.cover, problem.group_weight)
    chosen, value, bound, status = model.solve(2, 30.0)
    assert (sorted(cands.names[chosen]), value, bound, status) == (
        ["left", "right"], 6, 6, "optimal")
    chosen, value, _, status = model.solve(1, 30.0)
    assert (list(cands.names[chosen]), value, status) == (["mid"], 4, "optimal")
    assert model._mip is None


def test_relaxation_on_the_grid_gives_the_mip_answer(monkeypatch):
    """The 11 × 11 grid, candidates on every node, people 1–4 per node, the corner store
    serving 300 m: the same optimum and sites for 1 … 8 sites as the MIP alone."""
    region = grid_region()
    cands = grid_candidates(region.net, 100)
    n = np.arange(len(region.demand))
    w = 1.0 + (n * 7 + n // 11) % 4
    store = candidates_from_points(region.net, _points([(1000, 1000)], ["F1"])).attachment
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=250, existing=store,
                                         existing_threshold_m=300)
    _same_as_the_mip(problem, 8, monkeypatch)


@pytest.mark.parametrize("seed", range(12))
def test_relaxation_gives_the_mip_answer_on_random_instances(seed, monkeypatch):
    """Dense random instances (the relaxation often fractional, so both ways are taken):
    the same optimum and sites as the MIP alone, for k and its curve."""
    _same_as_the_mip(_random_problem(seed, n_cand=15, n_dem=80), 6, monkeypatch)


@pytest.mark.slow
def test_relaxation_on_the_demo_gives_the_mip_answer(tmp_path_factory, monkeypatch):
    """The demo town (250 m grid of candidates, 500 m, its food stores fixed): the same
    optimum, sites and curve for 10 sites as the MIP alone."""
    from geo_service.engine.region import Region
    from geo_service.jobs.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out)
    region = Region.load(out / "region")
    problem = SitingProblem.from_network(
        region.net, region.demand_attachment, region.demand["pop_65plus"].to_numpy(float),
        grid_candidates(region.net, 250), threshold_m=500,
        existing=region.attach(region.resources["food_stores"]))
    _same_as_the_mip(problem, 10, monkeypatch)


def test_random_instances_take_both_ways(monkeypatch):
    """The random instances above exercise both the relaxation's proof and the MIP."""
    proofs = []
    relaxation = MclpModel._relaxation

    def spy(self, k, warm, limit):
        found = relaxation(self, k, warm, limit)
        proofs.append(found is not None)
        return found

    monkeypatch.setattr(MclpModel, "_relaxation", spy)
    for seed in range(12):
        _random_problem(seed, n_cand=15, n_dem=80).maximal_covering(6)
    assert any(proofs) and not all(proofs)


def test_size_fallback_uses_greedy_with_lp_bound(monkeypatch):
    import geo_service.planning.siting as siting

    monkeypatch.setattr(siting, "MIP_MAX_NONZEROS", 0)
    problem = _random_problem(5, n_cand=12, n_dem=80)
    result = problem.maximal_covering(3, curve=False)
    assert result.method.startswith("greedy (instance too large")
    assert result.covered_new <= _brute_force(problem, 3) <= result.bound + 1e-9


# ------------------------------------------------------------------ set covering


@pytest.mark.parametrize("seed", range(6))
def test_set_covering_is_minimal(seed):
    problem = _random_problem(seed)
    target = (problem.already + 0.8 * problem.coverable) / problem.total
    result = problem.set_covering(target)
    assert result.feasible and result.optimal
    assert result.share_after >= target - 1e-9
    n = len(result.chosen)
    fewer = max((problem.newly_covered(c) for c in
                 itertools.combinations(range(problem.n_candidates), n - 1)), default=0)
    assert problem.already + fewer < target * problem.total - 1e-9


def test_set_covering_infeasible_gives_best_share(trap):
    """Column 6 (3 people) is out of every candidate's reach: 100 % cannot be met; the
    best share is 6 / 9, reached by two sites."""
    region, cands, _ = trap
    w = _row_weights(region, {2: 1, 3: 2, 4: 2, 5: 1, 7: 3})
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=100)
    result = problem.set_covering(1.0)
    assert not result.feasible
    assert result.best_share == pytest.approx(6 / 9)
    assert result.share_after == pytest.approx(6 / 9)
    assert sorted(cands.names[result.chosen]) == ["left", "right"]
    assert "infeasible" in str(result.notes[0])
    assert "目標に届きません" in result.notes[0].text("ja")
    reached = problem.set_covering(0.5)
    assert reached.feasible and len(reached.chosen) == 2  # 4.5 people: two sites


def test_target_already_met_needs_no_site(trap):
    region, cands, w = trap
    problem = SitingProblem(sparse.csr_matrix((3, len(w)), dtype=bool), w,
                            np.ones(len(w), dtype=bool))
    result = problem.set_covering(0.9)
    assert result.feasible and len(result.chosen) == 0


# ------------------------------------------------------------------ route stops


def test_route_stops_in_walking_order():
    """Stops given out of order along row 5 come back in order along the street."""
    region = grid_region()
    xs = [700, 100, 400, 1000, 200]
    cands = candidates_from_points(region.net, _points([(x, 500) for x in xs],
                                                       [f"x{x}" for x in xs]))
    route = order_stops(region.net, cands.attachment)
    names = list(cands.names[route.order])
    assert names in (["x100", "x200", "x400", "x700", "x1000"],
                     ["x1000", "x700", "x400", "x200", "x100"])
    assert route.exact and route.length_m == pytest.approx(900)


def test_route_heuristic_beyond_exact_size(monkeypatch):
    import geo_service.planning.siting as siting

    monkeypatch.setattr(siting, "ROUTE_EXACT_MAX_STOPS", 3)
    region = grid_region()
    xs = [700, 100, 400, 1000, 200]
    cands = candidates_from_points(region.net, _points([(x, 500) for x in xs], list("abcde")))
    route = order_stops(region.net, cands.attachment)
    assert not route.exact and "not proven" in route.note
    assert route.length_m == pytest.approx(900)


# ------------------------------------------------------------------ bad input


def test_k_larger_than_candidates(trap):
    region, cands, w = trap
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=100)
    with pytest.raises(SitingError, match="k = 4 is more than the 3 candidate"):
        problem.maximal_covering(4)
    for bad in (0, -1, 1.5):
        with pytest.raises(SitingError, match="k must be"):
            problem.maximal_covering(bad)  # type: ignore[arg-type]
    for share in (0, 1.2):
        with pytest.raises(SitingError, match="target share"):
            problem.set_covering(share)


def test_empty_candidates(tmp_path):
    region = grid_region()
    with pytest.raises(SitingError, match="empty"):
        candidates_from_points(region.net, _points([], []))
    path = tmp_path / "公共施設一覧.csv"
    path.write_text("名称,緯度,経度\n", encoding="utf-8-sig")
    with pytest.raises(SitingError, match=r"公共施設一覧.csv.*no rows"):
        read_candidates(region.net, path)
    with pytest.raises(SitingError, match="empty"):
        SitingProblem(sparse.csr_matrix((0, 4), dtype=bool), np.ones(4))


def test_candidate_outside_network_names_file_row_value(tmp_path):
    region = grid_region()
    lon, lat = lonlat(500, 500)
    far_lon, far_lat = lonlat(500, 5000)  # 4 km north of the grid
    path = tmp_path / "facilities.csv"
    pd.DataFrame({"名称": ["公民館", "遠い集会所"], "緯度": [lat, far_lat],
                  "経度": [lon, far_lon]}).to_csv(path, index=False, encoding="cp932")
    with pytest.raises(OutsideNetworkError) as err:
        read_candidates(region.net, path)
    msg = str(err.value)
    assert "facilities.csv" in msg and "row 3" in msg and "遠い集会所" in msg
    assert f"{far_lat:.6f}"[:8] in msg and err.value.row == 3


def test_reads_public_facility_list_and_gtfs_stops(tmp_path):
    """A 公共施設一覧 in CP932 (名称, 緯度, 経度) and a GTFS stops.txt give named candidates."""
    region = grid_region()
    (lon1, lat1), (lon2, lat2) = lonlat(100, 100), lonlat(900, 300)
    facilities = tmp_path / "koukyou.csv"
    pd.DataFrame({"名称": ["中央公民館", "東集会所"], "名称_カナ": ["チュウオウ", "ヒガシ"],
                  "緯度": [lat1, lat2], "経度": [lon1, lon2]}).to_csv(
        facilities, index=False, encoding="cp932")
    got = read_candidates(region.net, facilities)
    assert list(got.names) == ["中央公民館", "東集会所"]
    np.testing.assert_allclose(got.xy, [[X0 + 100, Y0 + 100], [X0 + 900, Y0 + 300]],
                               atol=1e-6)
    stops = tmp_path / "stops.txt"
    stops.write_text(f"stop_id,stop_name,stop_lat,stop_lon\n1,駅前,{lat1},{lon1}\n"
                     f"2,東口,{lat2},{lon2}\n", encoding="utf-8")
    got = read_candidates(region.net, stops)
    assert list(got.ids) == ["1", "2"] and list(got.names) == ["駅前", "東口"]


def test_bad_grid_spacing():
    region = grid_region()
    with pytest.raises(InputError, match="--grid"):
        grid_candidates(region.net, 0)


def test_duplicate_candidates_filled_up_to_k():
    """Candidates with the same or contained coverage are left out of the MIP; the answer
    still has k distinct sites."""
    incidence = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]],
                                           dtype=bool))
    problem = SitingProblem(incidence, np.array([1.0, 2.0, 3.0]))
    result = problem.maximal_covering(3)
    assert len(set(result.chosen)) == 3 and result.chosen[0] == 0
    assert result.covered_new == 3 and result.optimal


def test_route_heuristic_on_many_stops_is_quick_and_no_worse_than_nearest_neighbour():
    """30 stops at random nodes: the heuristic order is found within seconds and is no
    longer than the nearest-neighbour path from any start."""
    import time

    from geo_service.planning.siting import nn_two_opt, path_length

    rng = np.random.default_rng(3)
    pts = rng.integers(0, 11, (30, 2)) * 100
    d = np.abs(pts[:, None, :] - pts[None, :, :]).sum(axis=2).astype(float)
    t0 = time.perf_counter()
    order = nn_two_opt(d)
    assert time.perf_counter() - t0 < 10
    assert sorted(order) == list(range(30))
    for start in range(30):
        path, left = [start], set(range(30)) - {start}
        while left:
            nxt = min(left, key=lambda j: (d[path[-1], j], j))
            path.append(nxt)
            left.remove(nxt)
        assert path_length(d, order) <= path_length(d, path) + 1e-9


def test_real_public_facility_list_of_iizuka():
    """飯塚市's 公共施設一覧 (CP932, デジタル庁 layout, the ID column empty): 155 named
    candidates, on a 500 m street grid laid over the city (the test has no real network)."""
    from tests.conftest import grid_network, shared_file

    path = shared_file("opendata-iizuka-40205/public_facilities_40205.csv")
    net = grid_network(31, 37, 500.0, origin=(-38_000.0, 59_000.0))
    cands = read_candidates(net, path)
    assert len(cands) == 155 and cands.names[0] == "鯰田小学校"
    assert cands.ids[0] == "c2" and len(set(cands.ids)) == 155  # rows, as the ID is empty
    assert (cands.attachment.connector <= 250 * math.sqrt(2)).all()
    demand = cands.attachment  # one person at each facility: k sites serve at least k
    problem = SitingProblem.from_network(net, demand, np.ones(len(cands)), cands,
                                         threshold_m=1000)
    result = problem.maximal_covering(5, curve=False)
    assert result.optimal and result.covered_new >= 5


def test_stops_of_a_cut_route_as_route_candidates():
    """飯塚市's four routes cut in 2022 (GTFS-JP zip): their 72 boarding stops are the
    candidates for a new route's stops, put in walking order."""
    from tests.conftest import grid_network, shared_file

    path = shared_file("gtfs-iizuka-40205/old4routes.zip")
    net = grid_network(31, 37, 500.0, origin=(-38_000.0, 59_000.0))
    cands = read_candidates(net, path)
    assert len(cands) == 72 and all(cands.names) and len(set(cands.ids)) == 72
    demand = cands.attachment
    problem = SitingProblem.from_network(net, demand, np.ones(len(cands)), cands,
                                         threshold_m=300)
    result = problem.maximal_covering(6, curve=False)
    route = order_stops(net, cands.attachment.take(result.chosen))
    assert route.exact and sorted(route.order) == list(range(6))
    assert np.isfinite(route.length_m)


def test_also_served_counts_as_already_served(trap):
    """People marked as served otherwise (an existing mobile-sales stop) are not new."""
    region, cands, w = trap
    also = np.zeros(len(w), dtype=bool)
    also[5 * 11 + 3] = True  # column 3's two people
    problem = SitingProblem.from_network(region.net, region.demand_attachment, w, cands,
                                         threshold_m=100, also_served=also)
    assert (problem.already, problem.coverable) == (2, 4)
    assert problem.maximal_covering(1, curve=False).covered_new == 3  # right: 2 + 1
