"""Typed exceptions that say which file, row, column and value is at fault, and why.

Each subclasses a built-in (mostly ``ValueError``) so callers may catch broadly; the CLI
prints ``str(error)`` and exits with code 2 for any :class:`InputError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geo_service.i18n import Message, msg, msg_n

#: Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row 2
#: (the importer's and the CLI readers' messages alike).
FIRST_DATA_ROW = 2
#: A message lists at most this many bad rows, then says how many more there are.
MAX_ROWS_LISTED = 20


def sheet_row(position: int) -> int:
    """The spreadsheet row of the data row at 0-based ``position``."""
    return int(position) + FIRST_DATA_ROW


def sheet_rows(positions: Iterable[int]) -> list[int]:
    """The spreadsheet rows of 0-based data-row positions (e.g. ``np.flatnonzero(bad)``)."""
    return [sheet_row(i) for i in positions]


def _rows_text(row: Any) -> Message:
    if not isinstance(row, list):
        return msg("row {row}", row=row)
    if len(row) == 1:
        return msg("row {row}", row=row[0])
    more = len(row) - MAX_ROWS_LISTED
    listed = ", ".join(str(r) for r in row[:MAX_ROWS_LISTED])
    if more > 0:
        return msg_n("rows {rows} and {n} more", "rows {rows} and {n} more", more, rows=listed)
    return msg("rows {rows}", rows=listed)


class InputError(ValueError):
    """Invalid user input; the message names the file, row, column and value.

    ``row`` is a spreadsheet row (:func:`sheet_row`) or a list of them (every bad row; the
    message lists :data:`MAX_ROWS_LISTED` and counts the rest); ``value`` the first bad
    value, NumPy scalars shown as plain numbers. ``reason_ja``, where given, says the
    ``reason`` in Japanese (the API answers in Japanese unless English is asked for); a
    ``reason`` from the message catalogue (:func:`geo_service.i18n.msg`) brings both.
    ``str()`` is the English message; :meth:`text` the message in either language.
    """

    def __init__(
        self,
        reason: str | Message,
        *,
        file: str | Path | None = None,
        row: int | list[int] | None = None,
        column: str | None = None,
        value: Any = None,
        reason_ja: str | None = None,
    ) -> None:
        if isinstance(reason, Message):
            reason_ja = reason_ja or reason.text("ja")
        self.reason: str = reason.text("en") if isinstance(reason, Message) else reason
        self.reason_ja = reason_ja
        self.file = str(file) if file is not None else None
        self.row = plain(row)
        self.column = column
        self.value = plain(value)
        super().__init__(self.text("en"))

    def text(self, lang: str = "en") -> str:
        """The message in ``lang`` (``ja``: the Japanese reason where there is one): where
        (file, row, column, value), then why."""
        where: list[Message | str] = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None and self.row != []:
            where.append(_rows_text(self.row))
        if self.column is not None:
            where.append(msg("column {column!r}", column=self.column))
        if self.value is not None:
            where.append(msg("value {value!r}", value=self.value))
        japanese = lang == "ja"
        reason = self.reason_ja if japanese and self.reason_ja else self.reason
        prefix = ("、" if japanese else ", ").join(str(w if isinstance(w, str) else w.text(lang))
                                                  for w in where)
        return f"{prefix}{'：' if japanese else ': '}{reason}" if prefix else reason

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with every attribute (for errors raised in a worker process): the
        keyword-only arguments would otherwise be lost."""
        return _restore, (type(self), str(self), self.__dict__)


def _restore(cls: type[InputError], message: str, state: dict[str, Any]) -> InputError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars (also inside tuples, lists and dicts) as Python
    numbers, so that messages read ``1.5``, not ``np.float64(1.5)``."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    if isinstance(value, tuple | list):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


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


class TooLargeError(InputError):
    """Input beyond a configured limit (an API answers 413): ``reason`` says which, and the
    message names the ``settings`` (environment variables) that set the limit."""

    def __init__(self, reason: Message, *, settings: str, **where: Any) -> None:
        super().__init__(msg("{reason} ({settings})", reason=reason, settings=settings),
                         **where)


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
