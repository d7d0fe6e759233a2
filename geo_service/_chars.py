"""Characters that text may not hold, and text a spreadsheet would run: the patterns
behind :func:`geo_service.registry.resources.check_no_control` and
:func:`geo_service.outputs.spreadsheet_cell`.

- **not XML**: what XML 1.0 cannot carry (C0 controls but tab, line feed and carriage
  return; surrogates; U+FFFE and U+FFFF): an Excel file holding one is not well-formed;
- **noncharacters**: U+FDD0–U+FDEF and the last two code points of every plane
  (U+nFFFE, U+nFFFF), which Unicode reserves and no text means;
- **formula starters**: ``=``, ``+``, ``-``, ``@``, tab and carriage return, and what a
  spreadsheet program may read as one of them — the full-width and small forms
  (＝ ＋ － ＠ …, every character that NFKC maps to one of the four) and the minus sign
  U+2212 — also behind characters it may skip (DEL, soft hyphen, zero-width characters,
  the BOM).

The patterns are character classes of literal characters, valid in Python's ``re`` and in
RE2 (Arrow's regular expressions) alike.
"""

from __future__ import annotations

import sys
import unicodedata


def _char_class(chars: str) -> str:
    """A regular-expression character class of ``chars`` (``-``, ``\\``, ``]``, ``^``
    escaped)."""
    return "[" + "".join("\\" + c if c in "-\\]^[" else c for c in chars) + "]"


_NONCHARACTER_CODES = [*range(0xFDD0, 0xFDF0),
                       *(plane + last for plane in range(0, sys.maxunicode + 1, 0x10000)
                         for last in (0xFFFE, 0xFFFF))]
#: C0 controls that XML 1.0 has no room for (all but tab, line feed, carriage return)
XML_ILLEGAL_CONTROLS = "".join(chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))
#: noncharacters and surrogates: no text holds them (the surrogates arrive only as
#: JSON escapes such as "\\ud800")
NONCHARACTERS = "".join(map(chr, _NONCHARACTER_CODES))
_SURROGATES = "\ud800-\udfff]"
NOT_TEXT = _char_class(NONCHARACTERS)[:-1] + _SURROGATES
#: every character an Excel file (XML 1.0) cannot hold, surrogates aside (RE2 and Arrow
#: strings have none: they are UTF-8)
NOT_IN_XML = _char_class(XML_ILLEGAL_CONTROLS + NONCHARACTERS)
#: every character an Excel file (XML 1.0) or a UTF-8 file cannot hold
NOT_IN_SPREADSHEET = NOT_IN_XML[:-1] + _SURROGATES

_ASCII_STARTERS = "=+-@\t\r"
_WIDE_STARTERS = "".join(
    c for c in map(chr, range(0x80, 0x10000))
    if not 0xD800 <= ord(c) <= 0xDFFF
    and unicodedata.normalize("NFKC", c) in ("=", "+", "-", "@")) + "\u2212"
#: characters a spreadsheet program may pass over before a formula starter
_SKIPPED = "\x7f\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"
#: text a spreadsheet may run as a formula, after any quotes already added
FORMULA_START = f"'*{_char_class(_SKIPPED)}*{_char_class(_ASCII_STARTERS + _WIDE_STARTERS)}"
