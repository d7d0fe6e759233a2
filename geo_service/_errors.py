"""Typed exceptions that say which file, row, column and value is at fault, and why.

Each subclasses a built-in (mostly ``ValueError``) so callers may catch broadly; the CLI
prints ``str(error)`` and exits with code 2 for any :class:`InputError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Invalid user input; the message names the file, row, column and value."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | Path | None = None,
        row: Any = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.value = value
        where = []
        if self.file is not None:
            where.append(self.file)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        if value is not None:
            where.append(f"value {value!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class CRSError(InputError):
    """A layer has no CRS, or its coordinates do not fit the CRS it claims."""


class SwappedCoordinatesError(InputError):
    """Latitude and longitude appear to be exchanged."""


class OutsideNetworkError(InputError):
    """Points lie too far from the walking network to be attached to it."""


class EmptyNetworkError(InputError):
    """The source holds no walkable edges."""


class UnknownCategoryError(InputError):
    """A category value is not defined in the layer definitions."""


class ConflictError(InputError):
    """The request conflicts with the current state (an API answers 409)."""


class DuplicateIdError(ConflictError):
    """An id column holds the same value twice."""


class PopulationError(InputError):
    """A population count is missing, non-numeric or negative."""


class EncodingError(InputError):
    """A text file is in neither UTF-8 (with or without BOM) nor CP932."""


class ServiceAreaError(InputError):
    """A service area is malformed or names areas that are not in the boundary layer."""
