"""What-if scenarios: a named list of changes to a baseline region, recomputed incrementally.

A scenario is data (:class:`Scenario`, saved as JSON): closures and new stores, 移動販売
stops, another threshold or walking speed, a future population, bus routes cut or added,
services given another service area or withdrawn. Applied to a :class:`Baseline` (one full
pass, never modified) it gives before and after (:class:`ScenarioResult`), recomputing
only what changed (:class:`ScenarioState`).

The modules, in the order a scenario goes through them:

- :mod:`~geo_service.planning.scenarios.changes`: the scenario as data, the change kinds
  and their checks;
- :mod:`~geo_service.planning.scenarios.storage`: saved scenarios (a JSON file each);
- :mod:`~geo_service.planning.scenarios.baseline`: the baseline, one read-only full pass;
- :mod:`~geo_service.planning.scenarios.state`: the working copy that closures and new
  stores are applied to incrementally, and its indicators;
- :mod:`~geo_service.planning.scenarios.cover`: who has an alternative to the walk (a
  service, a 移動販売 stop, a frequent bus stop), before and after;
- :mod:`~geo_service.planning.scenarios.result`: before and after, per area and per point,
  and scenarios side by side;
- :mod:`~geo_service.planning.scenarios.apply`: :func:`apply_scenario`, the changes in order.
"""

from geo_service.planning.scenarios.apply import apply_scenario, resolve_stores
from geo_service.planning.scenarios.baseline import Baseline, straight_nearest_stores
from geo_service.planning.scenarios.changes import (
    KINDS,
    PENDING_KINDS,
    SERVICE_KINDS,
    STOP_CATEGORY,
    Scenario,
    ScenarioError,
    check_scenario_name,
    normalise_change,
)
from geo_service.planning.scenarios.result import ScenarioResult, compare_scenarios
from geo_service.planning.scenarios.state import ScenarioState
from geo_service.planning.scenarios.storage import (
    delete_scenario,
    list_scenarios,
    load_scenario,
    save_scenario,
    scenario_folder,
)

__all__ = ["KINDS", "PENDING_KINDS", "SERVICE_KINDS", "STOP_CATEGORY", "Baseline", "Scenario",
           "ScenarioError", "ScenarioResult", "ScenarioState", "apply_scenario",
           "check_scenario_name", "compare_scenarios", "delete_scenario", "list_scenarios",
           "load_scenario", "normalise_change", "resolve_stores", "save_scenario",
           "scenario_folder", "straight_nearest_stores"]
