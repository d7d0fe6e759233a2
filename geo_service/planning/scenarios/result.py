"""What a scenario gives: before and after, compared per area and per point, and several
scenarios side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.i18n import Message, msg, render
from geo_service.indicators.difficulty import DifficultyResult
from geo_service.planning.scenarios.changes import Scenario, ScenarioError


@dataclass
class ScenarioResult:
    """Before and after of a scenario, with the differences per area and per point."""

    scenario: Scenario
    before: DifficultyResult
    after: DifficultyResult
    closed: gpd.GeoDataFrame
    added: gpd.GeoDataFrame
    stats: dict[str, Any]
    notes: list[Message | str]
    #: with bus changes: per demand point, whether a frequent stop is within walking range
    #: ("before", "after") and what was counted ("rule")
    bus: dict[str, Any] | None = None
    #: with service changes: per demand point, whether any alternative covers them
    #: ("before", "after"), per alternative its mask ("covers_before", "covers_after"),
    #: the changed services ("changed") and how each alternative was counted ("detail")
    alternatives: dict[str, Any] | None = None

    def _beyond_65plus(self, side: str, mask: np.ndarray) -> np.ndarray:
        """Per point: 65+ beyond the walk (``side``: "before" or "after") where ``mask``."""
        res = self.before if side == "before" else self.after
        return (res.points["pop_65plus"].to_numpy(dtype=float)
                * (res.points["beyond"].to_numpy() & mask))

    def _uncovered(self, side: str) -> np.ndarray:
        """Per point: 65+ beyond the walk and covered by no alternative (``side``)."""
        assert self.alternatives is not None
        return self._beyond_65plus(side, ~self.alternatives[side])

    def _per_area(self, weights: np.ndarray) -> np.ndarray:
        """Per area of every layer (the order of :attr:`before`'s areas): sums of
        ``weights`` over the demand points inside."""
        points = self.before.points
        return np.concatenate([
            np.bincount(np.maximum(which, 0), weights * (which >= 0), minlength=len(a.areas))
            for a in self.before.region.areas
            for which in [a.to_crs(points.crs).assign(points.geometry)]])

    def _no_bus(self, side: str) -> np.ndarray:
        """Per point: 65+ beyond the walk and without a frequent bus stop (``side``)."""
        assert self.bus is not None
        return self._beyond_65plus(side, ~self.bus[side])

    def area_difference(self, layer: str | None = None) -> pd.DataFrame:
        """Per area: 65+, people beyond the threshold and their share, before and after,
        and the change (shares in percentage points), the median walk before and after;
        with bus changes also the 65+ beyond the walk without a frequent bus stop."""
        b, a = self.before.areas, self.after.areas
        out = pd.DataFrame({"layer": b["layer"].to_numpy(), "area_id": b["area_id"].to_numpy(),
                            "name": b["name"].to_numpy()})
        for col in ("pop_65plus", "beyond_65plus", "beyond_share", "median_m"):
            out[f"{col}_before"] = b[col].to_numpy()
            out[f"{col}_after"] = a[col].to_numpy()
        out["beyond_65plus_change"] = out["beyond_65plus_after"] - out["beyond_65plus_before"]
        out["beyond_share_change_pt"] = 100 * (out["beyond_share_after"]
                                               - out["beyond_share_before"])
        if self.bus is not None:
            counts = {side: self._per_area(self._no_bus(side)) for side in ("before", "after")}
            for side in ("before", "after"):
                out[f"beyond_no_bus_65plus_{side}"] = counts[side]
            out["beyond_no_bus_65plus_change"] = counts["after"] - counts["before"]
        if self.alternatives is not None:
            gap = {side: self._per_area(self._uncovered(side)) for side in ("before", "after")}
            for side in ("before", "after"):
                out[f"gap_65plus_{side}"] = gap[side]
            out["gap_65plus_change"] = gap["after"] - gap["before"]
            for alt in self.alternatives["covers_after"]:
                for side in ("before", "after"):
                    out[f"covered_{alt}_{side}"] = self._per_area(self._beyond_65plus(
                        side, self.alternatives[f"covers_{side}"][alt]))
        if layer is not None:
            out = out[out["layer"] == layer].reset_index(drop=True)
        return out

    def point_difference(self, *, changed_only: bool = False) -> pd.DataFrame:
        """Per demand point: walking distance and nearest store before and after, the change
        and what it means (新たに徒歩圏外 / 新たに徒歩圏内 / 遠くなった / 近くなった / 変化なし)."""
        b, a = self.before.points, self.after.points
        before_m = np.where(b["reachable"], b["network_m"], np.inf)
        after_m = np.where(a["reachable"], a["network_m"], np.inf)
        with np.errstate(invalid="ignore"):
            change = np.where(before_m == after_m, 0.0, after_m - before_m)
        status = np.select(
            [~b["beyond"].to_numpy() & a["beyond"].to_numpy(),
             b["beyond"].to_numpy() & ~a["beyond"].to_numpy(), change > 0, change < 0],
            ["新たに徒歩圏外", "新たに徒歩圏内", "遠くなった", "近くなった"], "変化なし")
        out = pd.DataFrame({
            "point_id": b["point_id"].to_numpy(),
            "pop_65plus_before": b["pop_65plus"].to_numpy(),
            "pop_65plus_after": a["pop_65plus"].to_numpy(),
            "network_m_before": b["network_m"].to_numpy(),
            "network_m_after": a["network_m"].to_numpy(),
            "change_m": np.where(np.isfinite(change), change, np.nan),
            "nearest_store_before": b["nearest_store_id"].to_numpy(),
            "nearest_store_after": a["nearest_store_id"].to_numpy(),
            "beyond_before": b["beyond"].to_numpy(), "beyond_after": a["beyond"].to_numpy(),
            "status": status})
        if self.bus is not None:
            out["bus_stop_before"] = self.bus["before"]
            out["bus_stop_after"] = self.bus["after"]
        if self.alternatives is not None:
            out["alternative_before"] = self.alternatives["before"]
            out["alternative_after"] = self.alternatives["after"]
        if changed_only:
            keep = (status != "変化なし") | (out["pop_65plus_before"] != out["pop_65plus_after"])
            if self.alternatives is not None:
                keep |= out["alternative_before"] != out["alternative_after"]
            out = out[keep]
        return out.reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Headline numbers before and after (notes and rules in the current language)."""
        return render({"scenario": self.scenario.name, "before": self.before.summary(),
                "after": self.after.summary(), "threshold_m_after": self.after.threshold_m,
                "closed": self.closed["store_id"].astype(str).tolist(),
                "added": self.added["store_id"].astype(str).tolist(), "stats": self.stats,
                "notes": self.notes,
                **({} if self.bus is None else {"bus": {
                    "rule": self.bus["rule"],
                    "beyond_no_bus_65plus_before": float(self._no_bus("before").sum()),
                    "beyond_no_bus_65plus_after": float(self._no_bus("after").sum())}}),
                **({} if self.alternatives is None else {"alternatives": {
                    "changed": self.alternatives["changed"],
                    "counted": self.alternatives["detail"],
                    "gap_65plus_before": float(self._uncovered("before").sum()),
                    "gap_65plus_after": float(self._uncovered("after").sum())}})})


def compare_scenarios(results: Sequence[ScenarioResult], *, layer: str | None = None,
                      measure: str = "beyond_share") -> pd.DataFrame:
    """One row per area: the baseline's share beyond the threshold and each scenario's.

    ``measure="gap_65plus"`` compares the people 65+ beyond the walk and covered by no
    alternative instead (scenarios that change services; the others are refused)."""
    if not results:
        raise ScenarioError(msg("nothing to compare: name at least one scenario"))
    if measure not in ("beyond_share", "gap_65plus"):
        raise ScenarioError(msg("compare beyond_share or gap_65plus"), column="measure",
                            value=measure)
    if measure == "gap_65plus":
        without = [r.scenario.name for r in results if r.alternatives is None]
        if without:
            raise ScenarioError(msg("the uncovered people are counted only by scenarios that "
                                    "change services; these do not: {names}",
                                    names=", ".join(without)),
                                column="measure", value=without[0])
    first = results[0].area_difference(layer)
    out = first[["layer", "area_id", "name", "pop_65plus_before", f"{measure}_before"]].rename(
        columns={"pop_65plus_before": "pop_65plus", f"{measure}_before": "baseline"})
    for res in results:
        diff = res.area_difference(layer)
        out[res.scenario.name] = diff[f"{measure}_after"].to_numpy()
    return out
