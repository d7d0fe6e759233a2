"""Saved scenarios: one JSON file per scenario in a region's folder (``<name>.json``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from geo_service.engine.region import Region
from geo_service.i18n import msg
from geo_service.planning.scenarios.changes import Scenario, ScenarioError, check_scenario_name


def scenario_folder(region: Region, folder: str | Path | None = None) -> Path:
    """Where a region's scenarios are kept: ``folder``, else ``scenarios/<region key>`` in
    the data directory."""
    if folder is not None:
        return Path(folder)
    from geo_service.config import data_dir  # read when called (GEO_SERVICE_DATA_DIR)

    return data_dir() / "scenarios" / region.key


def _scenario_path(folder: Path, name: str) -> Path:
    return folder / f"{check_scenario_name(name)}.json"


def save_scenario(scenario: Scenario, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``<name>.json`` into ``folder`` (atomically); refuse to overwrite unless asked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = _scenario_path(folder, scenario.name)
    if path.exists() and not overwrite:
        raise ScenarioError(msg("a scenario of this name exists (delete it first, or replace "
                                "it)"), file=path, value=scenario.name)
    if not scenario.created:
        scenario.created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(scenario.to_dict(), ensure_ascii=False, indent=2) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def load_scenario(name_or_path: str | Path, folder: str | Path | None = None) -> Scenario:
    """A saved scenario, by name (in ``folder``) or by the path of its JSON file."""
    path = Path(name_or_path)
    if not (path.suffix == ".json" and path.exists()):
        if folder is None:
            raise ScenarioError(msg("no such scenario file"), value=str(name_or_path))
        path = _scenario_path(Path(folder), str(name_or_path))
        if not path.exists():
            known = ", ".join(s.name for s in list_scenarios(folder)) or "—"
            raise ScenarioError(msg("no scenario of this name (saved: {known})", known=known),
                                file=folder, value=str(name_or_path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(msg("not a scenario JSON file: {error}", error=str(exc)),
                            file=path) from exc
    return Scenario.from_dict(data, source=path)


def list_scenarios(folder: str | Path) -> list[Scenario]:
    """The scenarios saved in ``folder``, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [load_scenario(p) for p in sorted(folder.glob("*.json"))]


def delete_scenario(name: str, folder: str | Path) -> Path:
    """Remove a saved scenario; an unknown name is an error."""
    path = _scenario_path(Path(folder), name)
    if not path.exists():
        raise ScenarioError(msg("no scenario of this name"), file=folder, value=name)
    path.unlink()
    return path
