"""Keep the message catalogue in step with the code: ``python -m geo_service.i18n_update``.

Extracts every :func:`~geo_service.i18n.msg` / :func:`~geo_service.i18n.msg_n` message of
the package with Babel (the same extraction as ``pybabel extract -k msg -k msg_n:1,2``),
and the help texts of the command line (:func:`extract_help`), then updates the Japanese
catalogue: new messages are added untranslated (an empty ``msgstr`` to fill in), messages
no longer in the code are dropped, the others keep their translation. It prints what is
left to translate; ``tests/test_i18n_catalogue.py`` fails while any message is
untranslated.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from geo_service.i18n import CATALOGUE, DOMAIN

PACKAGE = Path(__file__).resolve().parent
#: the functions whose first (and, for msg_n, second) argument is a message
KEYWORDS: dict[str, Any] = {"msg": None, "msg_n": (1, 2)}
#: how each file's messages are found: the command line's help texts besides its messages
METHODS = [("cli/**.py", "geo_service.i18n_update:extract_help"), ("**.py", "python")]


def extract() -> Any:
    """Every message of the package's code, as a Babel catalogue (the template)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    template = Catalog(domain=DOMAIN, project="geo-service")
    found = extract_from_dir(str(PACKAGE), method_map=METHODS,
                             keywords=KEYWORDS, comment_tags=("NOTE:",),
                             strip_comment_tags=True)
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(filename, lineno)], auto_comments=comments,
                     context=context)
    return template


def extract_help(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
                 options: Any) -> Iterator[tuple[Any, ...]]:
    """A Babel extraction method for the command line's modules: their ``msg()``
    messages (Babel's Python extraction) and their help texts — every ``help=`` string
    and the docstring of every command (a function given to ``….command(…)``, as a
    decorator or called; groups take their help from ``typer.Typer(help=…)``)."""
    from babel.messages.extract import extract_python

    yield from extract_python(fileobj, keywords, comment_tags, options)
    fileobj.seek(0)
    tree = ast.parse(fileobj.read())
    commands: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "help" and isinstance(
                node.value, ast.Constant) and isinstance(node.value.value, str):
            yield node.value.lineno, None, node.value.value, []
        elif isinstance(node, ast.Call) and _registers(node.func) and node.args and isinstance(
                node.args[0], ast.Name):  # app.command("serve")(serve)
            commands.add(node.args[0].id)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (node.name in commands or any(
                _registers(d) for d in node.decorator_list)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield node.body[0].lineno, None, doc, []


def _registers(node: ast.expr) -> bool:
    """Whether ``node`` is a call of ``….command(…)``."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "command")


def update(lang: str = "ja") -> list[str]:
    """Update the catalogue of ``lang`` from the code (see the module); return the
    message ids still untranslated."""
    from babel.messages.pofile import read_po, write_po

    path = PACKAGE / CATALOGUE.format(lang=lang)
    with path.open("rb") as f:
        catalogue = read_po(f, locale=lang, domain=DOMAIN)
    template = extract()
    template.creation_date = catalogue.creation_date  # no change to the file but messages
    catalogue.update(template, no_fuzzy_matching=True)
    catalogue.obsolete.clear()
    temp = path.with_suffix(".po.tmp")
    with temp.open("wb") as f:
        write_po(f, catalogue, width=100, no_location=True, sort_output=False)
    temp.replace(path)
    return [m.id if isinstance(m.id, str) else m.id[0] for m in catalogue
            if m.id and (not m.string or isinstance(m.string, tuple) and not all(m.string))]


def main() -> int:
    """Update the Japanese catalogue and list what is left to translate."""
    missing = update("ja")
    for message in missing:
        print(f"untranslated: {message}")
    print(f"{len(missing)} message(s) to translate in "
          f"geo_service/{CATALOGUE.format(lang='ja')}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
