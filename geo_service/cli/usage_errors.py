"""Usage errors of the command line in the user's language: an option missing or unknown,
a command unknown, an option without its value, a value that is not a number, an argument
too many.

Typer parses the command line with a Click of its own (``typer._click``), which words
these errors in English f-strings, so they showed in English inside the Japanese error
panel. :func:`worded` words them again from what each error holds (its parameter, option
name, possibilities, the pydantic error Typer raised it from) or, for the few Typer words
as a plain message, from that message's fixed form; an error it does not know keeps
Typer's English. :func:`~geo_service.cli.help.localize` has Typer's error panel show it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from typer._click import exceptions as click_errors

from geo_service.i18n import Message, msg

#: Typer's plain messages, by their fixed form, and what they say (the form's named
#: groups are the message's values)
_PLAIN: tuple[tuple[re.Pattern[str], Message], ...] = (
    (re.compile(r"No such command (?P<name>'.*')\."), msg("there is no command {name}")),
    (re.compile(r"Got unexpected extra argument\(s\) \((?P<args>.*)\)"),
     msg("unexpected extra arguments: {args}")),
    (re.compile(r"Option (?P<name>'.*') requires an argument\."),
     msg("the option {name} needs a value")),
    (re.compile(r"Option (?P<name>'.*') requires (?P<n>\d+) arguments\."),
     msg("the option {name} needs {n} values")),
    (re.compile(r"Option (?P<name>'.*') does not take a value\."),
     msg("the option {name} takes no value")),
)


def worded(error: click_errors.ClickException, lang: str) -> str | None:
    """The message of the usage ``error`` in ``lang``; None to keep Typer's (English, or
    an error this does not know)."""
    if lang == "en":
        return None
    found = _message(error)
    return None if found is None else found.text(lang)


def _message(error: click_errors.ClickException) -> Message | None:
    if isinstance(error, click_errors.MissingParameter):
        hint = _hint(error)
        kind = error.param_type or (error.param.param_type_name if error.param else None)
        if kind == "argument":
            return msg("the argument {name} is required", name=hint)
        return msg("the option {name} is required", name=hint)
    if isinstance(error, click_errors.NoSuchOption):
        name = repr(error.option_name)
        if error.possibilities:
            return msg("there is no option {name} (did you mean {names}?)", name=name,
                       names=", ".join(repr(p) for p in sorted(error.possibilities)))
        return msg("there is no option {name}", name=name)
    if isinstance(error, click_errors.BadParameter):
        return msg("the value of {name} is not valid: {reason}", name=_hint(error),
                   reason=_reason(error))
    for form, says in _PLAIN:
        m = form.fullmatch(error.message)
        if m is not None:
            return Message(says.msgid, m.groupdict())
    return None


def _hint(error: click_errors.BadParameter) -> str:
    """The parameter of ``error`` as the user typed it (``'--k'``, ``'FILE'``)."""
    hint: Sequence[str] | str | None = error.param_hint
    if hint is None and error.param is not None:
        hint = error.param.get_error_hint()
    return click_errors._join_param_hints(hint) or "?"  # as Typer's own message joins them


def _reason(error: click_errors.BadParameter) -> Any:
    """Why the value is not valid: pydantic's reason in Japanese by its error type when
    Typer raised ``error`` from pydantic (e.g. 整数ではありません), else the error's own
    message."""
    from pydantic import ValidationError

    from geo_service.registry.resources import validation_reasons_ja

    cause = error.__cause__
    if isinstance(cause, ValidationError):
        reasons = validation_reasons_ja(cause)
        if reasons and reasons[0]:
            return reasons[0]
    return error.message
