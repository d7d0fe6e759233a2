"""The command line's help in the user's language.

Help texts are written in English where Typer takes them, as plain strings: an option's or
argument's ``help=``, a group's ``typer.Typer(help=…)`` and a command's docstring. They
are message ids of the catalogue like those of :func:`~geo_service.i18n.msg`
(``python -m geo_service.i18n_update`` finds them), and every command and group shows them
in the language of the user's environment (:func:`~geo_service.i18n.language_from_env`,
read when Typer builds the command line as it starts): :func:`localize` gives them the
classes that translate their texts then, with Typer's and Click's own words of the help
(panel titles, the ``--help`` option), and has long lines folded rather than cut.
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import typer
import typer.rich_utils
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from geo_service.cli.usage_errors import worded
from geo_service.i18n import language_from_env, msg, translations

#: Typer's own words in the help (its panels' titles, the default and required marks)
TYPER_WORDS = {
    "ARGUMENTS_PANEL_TITLE": msg("Arguments"),
    "OPTIONS_PANEL_TITLE": msg("Options"),
    "COMMANDS_PANEL_TITLE": msg("Commands"),
    "ERRORS_PANEL_TITLE": msg("Error"),
    "ABORTED_TEXT": msg("Aborted."),
    "DEFAULT_STRING": msg("[default: {value}]", value="{}"),  # Typer fills in the {}
    "REQUIRED_LONG_STRING": msg("[required]"),
    "RICH_HELP": msg("Try [blue]'{command_path} {help_option}'[/] for help.",
                     command_path="{command_path}", help_option="{help_option}"),
}
#: the help of Click's ``--help`` option
HELP_OPTION = msg("Show this message and exit.")
#: the first word of the usage line (in the help and above an error)
USAGE = msg("Usage: ")

#: the language help is built in (None: the environment's); :func:`english_help` sets it
_language: ContextVar[str | None] = ContextVar("geo_service_help_language", default=None)


def help_language() -> str:
    """The language the command line's help is shown in."""
    return _language.get() or language_from_env()


class _Localized:
    """Mixed in before a Typer command or group: its help texts, and those of its
    parameters, are shown in :func:`help_language` (translated once, when Typer builds
    it)."""

    help: str | None
    short_help: str | None
    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lang = help_language()
        catalogue = translations(lang)
        for name, words in TYPER_WORDS.items():  # Typer reads them as it shows the help
            setattr(typer.rich_utils, name, words.text(lang))
        if self.help:
            self.help = catalogue.gettext(self.help)
        if self.short_help:
            self.short_help = catalogue.gettext(self.short_help)
        for param in self.params:
            if getattr(param, "help", None):
                param.help = catalogue.gettext(param.help)

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        """Click's usage line, its first word in :func:`help_language` (使い方：)."""
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)),
                              prefix=USAGE.text(help_language()))

    def get_help_option(self, ctx: Any) -> Any:
        """Click's ``--help`` option, its help in :func:`help_language`."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = HELP_OPTION.text(help_language())
        return option


class LocalizedCommand(_Localized, TyperCommand):
    """A Typer command with its help in the user's language."""


class LocalizedGroup(_Localized, TyperGroup):
    """A Typer group with its help in the user's language."""


def localize(app: typer.Typer) -> None:
    """Show the help of ``app``, its commands and groups (at any depth) in the user's
    language, with Typer's own words of the help, and its usage errors in it too
    (:mod:`~geo_service.cli.usage_errors`)."""
    app.info.cls = LocalizedGroup
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):  # Typer's default
            command.cls = LocalizedCommand
    for group in app.registered_groups:
        group.cls = LocalizedGroup
        if group.typer_instance is not None:
            localize(group.typer_instance)
    if not hasattr(typer.rich_utils.rich_format_error, "words"):
        typer.rich_utils.rich_format_error = _wording(typer.rich_utils.rich_format_error)
    if not hasattr(typer.rich_utils._make_rich_text, "folds"):
        typer.rich_utils._make_rich_text = _folding(typer.rich_utils._make_rich_text)
    if not hasattr(typer.rich_utils._make_command_help, "joins"):
        typer.rich_utils._make_command_help = _joining(typer.rich_utils._make_command_help)


def _wording(show: Any) -> Any:
    """Typer's error panel, a usage error's message in :func:`help_language`
    (:func:`~geo_service.cli.usage_errors.worded`)."""
    def show_worded(error: Any) -> None:
        text = worded(error, help_language())
        if text is not None:
            error.format_message = lambda: text
        show(error)

    show_worded.words = True  # type: ignore[attr-defined]
    return show_worded


def _folding(make: Any) -> Any:
    """Typer's maker of help texts, its texts folded where a line is full rather than cut
    with "…": Rich breaks lines at spaces, which Japanese has few of."""
    def make_folding(**kwargs: Any) -> Any:
        text = make(**kwargs)
        if isinstance(text, Text):
            text.overflow = "fold"
        return text

    make_folding.folds = True  # type: ignore[attr-defined]
    return make_folding


def _joining(make: Any) -> Any:
    """Typer's maker of a command's line in its group's help, the line breaks of the
    command's first paragraph (a docstring's) taken out, as Typer takes them out of every
    other help text but keeps them there in its "rich" markup mode: the English lines broke
    where the docstring's did."""
    def make_joining(*, help_text: str, markup_mode: Any) -> Any:
        first = inspect.cleandoc(help_text).split("\n\n")[0]
        if not first.startswith("\b"):  # Click's mark of a paragraph kept as written
            first = join_lines(first)
        return make(help_text=first, markup_mode=markup_mode)

    make_joining.joins = True  # type: ignore[attr-defined]
    return make_joining


def join_lines(text: str) -> str:
    """The lines of ``text`` as one: a space between two lines, none between two
    Japanese characters."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out = lines[0] if lines else ""
    for line in lines[1:]:
        wide = {unicodedata.east_asian_width(c) for c in (out[-1], line[0])} <= {"W", "F"}
        out += ("" if wide else " ") + line
    return out


def english_help(app: typer.Typer) -> Iterator[tuple[str, str]]:
    """Every help text of ``app`` as Typer shows it in English: (the command's path,
    the text), commands and groups with their parameters, depth first."""
    token = _language.set("en")
    try:
        root = typer.main.get_command(app)
    finally:
        _language.reset(token)

    def walk(command: Any, path: str) -> Iterator[tuple[str, str]]:
        for text in (command.help, command.short_help):
            if text:
                yield path, text
        for param in command.params:
            if getattr(param, "help", None):
                yield f"{path} {param.name}", param.help
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                yield from walk(sub, f"{path} {name}")

    yield from walk(root, "geo-service")
