"""What the public may see of a resource: whether it is public at all, and its public view
with the staff-only fields blanked (the single function every public response, export and
map layer goes through)."""

from __future__ import annotations

from typing import Any

from geo_service.registry.resources import (
    STAFF_ONLY_ALWAYS,
    Fee,
    Resource,
    Schedule,
    ServiceArea,
)


def is_public(resource: Resource) -> bool:
    """Whether the public may see the resource at all."""
    return resource.visibility == "public" and not resource.deleted


def area_reveals_hidden_place(resource: Resource) -> bool:
    """Whether the resource's responsible area would tell the public the district of a
    staff-only place: the area comes from the location, else from a 移動販売 route's
    first stop, so it is hidden with the location, and with the stops of a route that
    has no location (a staff-only schedule hides them)."""
    hidden = set(resource.staff_fields)
    if "location" in hidden:
        return True
    return resource.lon is None and bool(resource.schedule.stops) and "schedule" in hidden


def public_view(resource: Resource) -> dict[str, Any] | None:
    """The resource as the public may see it, or None when it is staff-only or deleted.

    Fields marked staff-only are blanked and the always-staff fields are left out; this is
    the single function every public response, export and map layer goes through.
    """
    if not is_public(resource):
        return None
    data = resource.model_dump(mode="json", exclude=set(STAFF_ONLY_ALWAYS))
    hidden = set(resource.staff_fields)
    if area_reveals_hidden_place(resource):
        data["area"] = None
    for name in hidden:
        if name == "location":
            data["lon"] = data["lat"] = None
        elif name.startswith("contact."):
            data["contact"][name.split(".", 1)[1]] = None
        elif name == "schedule":
            data["schedule"] = Schedule().model_dump(mode="json")
        elif name == "fee":
            data["fee"] = Fee().model_dump(mode="json")
        elif name == "payment_methods":
            data["payment_methods"] = []
        else:
            data[name] = None
    if "location" in hidden:
        # a radius or walk area around a hidden location would reveal it
        if data["service_area"]["kind"] in ("radius", "walk"):
            data["service_area"] = ServiceArea(kind="none").model_dump(mode="json")
        data["schedule"]["stops"] = []  # stops are where the operator parks: locations
    return data
