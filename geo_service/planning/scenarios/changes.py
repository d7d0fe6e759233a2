"""A scenario as data: its name, its changes and their checks (before any region is read).

A :class:`Scenario` is a name, a description and a list of changes, applied in order:

==================  ===========================================================================
``close_store``     a store closes (``store``: its id, or its name when that is unique)
``add_store``       a new store (``id``, ``name``, ``lon``, ``lat``, ``category`` of the layer)
``add_stop``        a new 移動販売 stop, counted as a food source people walk to (``id``,
                    ``name``, ``lon``, ``lat``); it serves only on its days — say so when
                    reading the numbers
``threshold``       another walking threshold (``metres``)
``speed``           another flat walking speed (``mps``)
``projection``      a future population (``file``, ``year``, optional ``layer`` and
                    ``columns``; see :mod:`geo_service.planning.projection`)
``bus_network``     the GTFS / GTFS-JP feeds running today (``feeds``; optional
                    ``threshold_m`` and ``min_departures``, else those of
                    ``layers/resource_categories.toml``: 300 m, 10 weekday departures)
``cut_route``       a feed (one route, or a group of routes) that stops running (``feed``)
``add_route``       a feed that starts running (``feed``)
``service_area``    a service of the registry (配食, 宅配, 買い物代行: ``resource``, its id)
                    gets another service area (``service_area``: the registry's
                    :class:`~geo_service.registry.resources.ServiceArea`, e.g. ``{"kind": "polygon",
                    "geometry": {...}}``, ``{"kind": "areas", "layer": "小学校区",
                    "area_ids": [...]}``, ``{"kind": "radius", "radius_m": 800}``,
                    ``{"kind": "walk", "minutes": 15}``, ``{"kind": "municipality"}``)
``withdraw_service`` a service of the registry stops (``resource``, its id)
==================  ===========================================================================

:func:`normalise_change` checks each change's fields and returns it normalised; the
checks against a region (unknown stores, services, feeds) are made when the scenario is
applied (:mod:`geo_service.planning.scenarios.apply`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geo_service._errors import InputError
from geo_service.i18n import Message, Term, msg
from geo_service.inputs.readers import check_lon_lat

#: change kinds a scenario may hold today
KINDS = ("close_store", "add_store", "add_stop", "threshold", "speed", "projection",
         "bus_network", "cut_route", "add_route", "service_area", "withdraw_service")
#: change kinds that read the registry's services (their service areas)
SERVICE_KINDS = ("service_area", "withdraw_service")
#: change kinds accepted in saved files but not available yet (none today)
PENDING_KINDS: tuple[str, ...] = ()
#: the category recorded for an added 移動販売 stop
STOP_CATEGORY = "mobile_sales"
_NAME = re.compile(r"^[\w\-. ()（）・]{1,80}$")


class ScenarioError(InputError):
    """A scenario is malformed, names unknown stores, or asks for what is not available."""


def _wrong(where: Message, reason: Message | Term, **place: Any) -> ScenarioError:
    """The error of the change ``where``: ``reason``, at ``place`` (column, value)."""
    return ScenarioError(msg("{where}: {reason}", where=where, reason=reason), **place)


@dataclass
class Scenario:
    """A named what-if: changes applied, in order, to a baseline region."""

    name: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    created: str = ""
    region: str = ""  # the key of the region it was made for (Region.key)

    def __post_init__(self) -> None:
        check_scenario_name(self.name)
        self.changes = [normalise_change(c, i, scenario=self.name)
                        for i, c in enumerate(self.changes)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "description": self.description, "created": self.created,
                "region": self.region, "changes": self.changes}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | Path | None = None) -> Scenario:
        """Read the JSON form; errors name the file (``source``)."""
        if not isinstance(data, dict) or "name" not in data:
            raise ScenarioError(msg("a scenario is a JSON object with a name and changes"),
                                file=source)
        try:
            return cls(name=str(data["name"]), changes=list(data.get("changes") or []),
                       description=str(data.get("description", "")),
                       created=str(data.get("created", "")), region=str(data.get("region", "")))
        except ScenarioError as exc:
            if source is None:
                raise
            raise ScenarioError(exc.reason, file=source, row=exc.row, column=exc.column,
                                value=exc.value, reason_ja=exc.reason_ja) from exc


def check_scenario_name(name: str) -> str:
    """A scenario's name: letters (any script), digits, ``-_. ()・`` and spaces, ≤ 80."""
    if not _NAME.match(name or "") or name.strip() != name or name in (".", ".."):
        raise ScenarioError(msg("a scenario name may hold letters, digits, spaces and - _ . ( "
                                ") ・ (at most 80, no leading or trailing space)"),
                            column="name", value=name)
    return name


def _number(change: dict[str, Any], key: str, where: Message, *,
            positive: bool = True) -> float:
    try:
        value = float(change[key])
    except KeyError:
        raise _wrong(where, msg("{kind!r} needs {key!r}", kind=change.get("kind"), key=key),
                     column=key) from None
    except (TypeError, ValueError):
        raise _wrong(where, msg("not a number"), column=key, value=change[key]) from None
    if positive and not (np.isfinite(value) and value > 0):
        raise _wrong(where, msg("must be a positive number"), column=key, value=value)
    return value


def normalise_change(change: dict[str, Any], index: int, *, scenario: str = "") -> dict[str, Any]:
    """Check one change's fields (not yet against a region) and return it normalised."""
    where = (msg("scenario {name!r}, change {i}", name=scenario, i=index + 1) if scenario
             else msg("change {i}", i=index + 1))
    if not isinstance(change, dict):
        raise _wrong(where, msg("a change is an object with a 'kind'"), value=change)
    kind = change.get("kind")
    if kind in PENDING_KINDS:
        raise _wrong(where, msg("{kind!r} is not available yet", kind=kind), column="kind",
                     value=kind)
    if kind not in KINDS:
        raise _wrong(where, msg("unknown kind; known kinds are {kinds}",
                                kinds=", ".join(KINDS)), column="kind", value=kind)
    out: dict[str, Any] = {"kind": kind}
    if kind == "close_store":
        store = str(change.get("store", "")).strip()
        if not store:
            raise _wrong(where, msg("close_store needs 'store' (an id or a name)"),
                         column="store")
        out["store"] = store
    elif kind in ("add_store", "add_stop"):
        lon, lat = _number(change, "lon", where, positive=False), _number(change, "lat", where,
                                                                          positive=False)
        check_lon_lat(np.array([lon]), np.array([lat]), source=str(where))
        ident = str(change.get("id", "")).strip()
        if not ident:
            raise _wrong(where, msg("{kind} needs an 'id'", kind=kind), column="id")
        out.update(id=ident, name=str(change.get("name", "")), lon=lon, lat=lat)
        if kind == "add_store":
            if not str(change.get("category", "")).strip():
                raise _wrong(where, msg("add_store needs a 'category'"), column="category")
            out["category"] = str(change["category"]).strip()
    elif kind == "threshold":
        out["metres"] = _number(change, "metres", where)
    elif kind == "speed":
        out["mps"] = _number(change, "mps", where)
    elif kind == "bus_network":
        feeds = change.get("feeds")
        if not isinstance(feeds, list) or not feeds or not all(str(f).strip() for f in feeds):
            raise _wrong(where, msg("bus_network needs 'feeds', a list of GTFS feeds"),
                         column="feeds", value=feeds)
        out["feeds"] = [str(f) for f in feeds]
        if change.get("threshold_m") is not None:
            out["threshold_m"] = _number(change, "threshold_m", where)
        if change.get("min_departures") is not None:
            value = _number(change, "min_departures", where, positive=False)
            if value < 0 or value != int(value):
                raise _wrong(where, msg("a whole number of departures"),
                             column="min_departures", value=value)
            out["min_departures"] = int(value)
    elif kind in ("cut_route", "add_route"):
        if not str(change.get("feed", "")).strip():
            raise _wrong(where, msg("{kind} needs 'feed' (a GTFS zip or folder)", kind=kind),
                         column="feed")
        out["feed"] = str(change["feed"])
    elif kind in SERVICE_KINDS:
        resource = str(change.get("resource", "")).strip()
        if not resource:
            raise _wrong(where, msg("{kind} needs 'resource' (the service's id in the "
                                    "registry)", kind=kind), column="resource")
        out["resource"] = resource
        if kind == "service_area":
            out["service_area"] = _service_area(change.get("service_area"), where)
    elif kind == "projection":
        if not str(change.get("file", "")).strip():
            raise _wrong(where, msg("projection needs a 'file'"), column="file")
        year = _number(change, "year", where)
        if year != int(year) or not 1900 < year < 2200:
            raise _wrong(where, msg("a year such as 2035"), column="year", value=year)
        out.update(file=str(change["file"]), year=int(year))
        if change.get("layer"):
            out["layer"] = str(change["layer"])
        columns = change.get("columns") or {}
        if not isinstance(columns, dict):
            raise _wrong(where, msg("'columns' maps a role to a column name"),
                         column="columns", value=columns)
        if columns:
            out["columns"] = {str(k): str(v) for k, v in columns.items()}
    return out


def _service_area(value: Any, where: Message) -> dict[str, Any]:
    """A service area checked by the registry's model, in its JSON form."""
    from pydantic import ValidationError

    from geo_service.registry.resources import ServiceArea

    if not isinstance(value, dict):
        raise _wrong(where, msg("service_area needs 'service_area', an object with a 'kind' "
                                "(polygon, areas, radius, walk, municipality)"),
                     column="service_area", value=value)
    if value.get("kind") == "none":
        raise _wrong(where, msg("to stop a service use withdraw_service"),
                     column="service_area.kind", value="none")
    try:
        area = ServiceArea.model_validate(value)
    except InputError as exc:
        raise _wrong(where, Term(exc.reason_ja or exc.reason, exc.reason),
                     column=exc.column or "service_area", value=exc.value) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise _wrong(where, Term(reason, reason), column="service_area." + ".".join(
            str(p) for p in first["loc"]), value=first.get("input")) from None
    return area.model_dump(mode="json", exclude_none=True,
                           exclude_defaults=False)
