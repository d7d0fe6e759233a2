"""The message catalogue: what the service and the CLI say, in Japanese and in English.

A message is written in the code in English with ``{named}`` values, as :func:`msg` (or
:func:`msg_n` when it counts something: English says "1 stop", "4 stops"), and is turned
into text only when it is shown, in the language of whoever reads it: the API renders
answers per request (``Accept-Language``), the CLI per its environment
(:func:`language_from_env`). Planning results are cached, so they keep :class:`Message`
objects and are rendered on the way out (:func:`render`).

The Japanese lives in one gettext catalogue, ``geo_service/locale/ja/LC_MESSAGES/
geo_service.po``, read with Babel when first needed (no compiled ``.mo`` file is kept or
built: the catalogue is small and reading it takes milliseconds). English needs no
catalogue: the English is the message id. ``python -m geo_service.i18n_update`` adds new
messages to the catalogue and drops unused ones (README, "Languages").
"""

from __future__ import annotations

import functools
import gettext
import io
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from importlib import resources
from typing import Any

DOMAIN = "geo_service"
LANGUAGES = ("ja", "en")
#: the catalogue of a language inside the package
CATALOGUE = "locale/{lang}/LC_MESSAGES/" + DOMAIN + ".po"

_current: ContextVar[str] = ContextVar("geo_service_language", default="en")


class Message:
    """A catalogue message with its values, shown in a language by :meth:`text` (``str``
    gives the current language, :func:`current_language`). Values that are themselves
    messages are shown in the same language."""

    __slots__ = ("msgid", "plural", "n", "values")

    def __init__(self, msgid: str, values: Mapping[str, Any], *, plural: str | None = None,
                 n: int | None = None) -> None:
        self.msgid = msgid
        self.plural = plural
        self.n = n
        self.values = dict(values)

    def text(self, lang: str | None = None) -> str:
        """The message in ``lang`` (``ja`` or ``en``; default the current language)."""
        lang = lang or current_language()
        catalogue = translations(lang)
        if self.plural is None:
            template = catalogue.gettext(self.msgid)
        else:
            template = catalogue.ngettext(self.msgid, self.plural, int(self.n or 0))
        return template.format(**{k: text_of(v, lang) for k, v in self.values.items()})

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"msg({self.msgid!r}, **{self.values!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Message) and (self.msgid, self.plural, self.n, self.values)
                == (other.msgid, other.plural, other.n, other.values))

    def __hash__(self) -> int:
        return hash((self.msgid, self.plural, self.n))


class Term:
    """A name with its own Japanese and English, not from the catalogue (a category's
    label and ``label_en`` in ``layers/``): a value of messages, shown in their language."""

    __slots__ = ("ja", "en")

    def __init__(self, ja: str, en: str = "") -> None:
        self.ja = ja
        self.en = en or ja

    def text(self, lang: str | None = None) -> str:
        """The name in ``lang`` (default the current language)."""
        return self.en if (lang or current_language()) == "en" else self.ja

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Term({self.ja!r}, {self.en!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and (self.ja, self.en) == (other.ja, other.en)

    def __hash__(self) -> int:
        return hash((self.ja, self.en))


def msg(msgid: str, /, **values: Any) -> Message:
    """The catalogue message ``msgid`` (English, ``{named}`` values) with ``values``."""
    return Message(msgid, values)


def msg_n(singular: str, plural: str, n: int, /, **values: Any) -> Message:
    """A message that counts ``n`` things (``{n}`` in the text is ``n``): English picks
    ``singular`` or ``plural``; Japanese has one form."""
    return Message(singular, {"n": n, **values}, plural=plural, n=n)


def text_of(value: Any, lang: str | None = None) -> Any:
    """``value`` as shown in ``lang``: a message or a term as its text, anything else as
    it is."""
    return value.text(lang) if isinstance(value, Message | Term) else value


def render(value: Any, lang: str | None = None) -> Any:
    """``value`` (dicts, lists and tuples in one another) with every :class:`Message`
    and :class:`Term` replaced by its text in ``lang`` (default the current language)."""
    lang = lang or current_language()
    if isinstance(value, Message | Term):
        return value.text(lang)
    if isinstance(value, dict):
        return {k: render(v, lang) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(render(v, lang) for v in value)
    return value


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang``: Japanese read from its ``.po`` file (fuzzy entries left
    out, as gettext's compiler does), English the message ids themselves."""
    if lang == "en":
        return gettext.NullTranslations()
    if lang not in LANGUAGES:
        raise ValueError(f"no catalogue for language {lang!r}; one of {', '.join(LANGUAGES)}")
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    source = resources.files("geo_service").joinpath(CATALOGUE.format(lang=lang))
    with source.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def current_language() -> str:
    """The language messages are shown in here (``en`` unless :func:`use_language` set
    another)."""
    return _current.get()


def use_language(lang: str) -> Callable[[], None]:
    """Show messages in ``lang`` from now on (in this thread or task and those it starts);
    returns the function that restores the language before."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: one of {', '.join(LANGUAGES)}")
    token = _current.set(lang)
    return lambda: _current.reset(token)


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The language of a command-line user: ``GEO_SERVICE_LANG`` (``ja`` or ``en``) if set,
    else the locale's (``LC_ALL``, then ``LC_MESSAGES``, then ``LANG``, as gettext reads
    them): ``ja`` for a Japanese locale (``ja_JP.UTF-8`` …), else ``en``."""
    env = os.environ if environ is None else environ
    chosen = env.get("GEO_SERVICE_LANG", "").strip().lower()
    if chosen in LANGUAGES:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"
