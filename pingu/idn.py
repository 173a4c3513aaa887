"""Host names as browsers ask for them: IDNA 2008 with UTS 46 non-transitional
mapping (the ``idna`` package), and nothing a mapping would hide.

Python's own ``"idna"`` codec is IDNA 2003: it asks ``fass.de`` for
``faß.de`` (another domain: browsers ask ``xn--fa-hia.de``), and its
mapping silently deletes invisible characters (``pay\\u00adpal.com`` is
``paypal.com``) and folds look-alikes (``ⓛocalhost``, fullwidth letters) into
the very name they imitate.  Here a label is mapped per UTS 46, and when the
mapped label differs from what the client wrote (normalised to NFC and
lower-cased) other than by case, the name is refused, naming that label:
the name resolved is always the one the user sees.  Invisible joiners
(ZWJ, ZWNJ) are refused too, even where IDNA 2008's context rules would let
them stand: they change the domain without changing what a page shows.

Nothing here does I/O; the policy still sees only the addresses the server
resolved for the name this returns.
"""

from __future__ import annotations

import unicodedata

import idna

#: Characters that change a domain without changing what is shown.
JOINERS = {"\u200c": "ZWNJ (U+200C)", "\u200d": "ZWJ (U+200D)"}


class BadName(ValueError):
    """A name that cannot be asked as the client wrote it; the message says
    which label and why."""


def _as_written(label: str) -> str:
    """What a label is when only its case and its normal form are set aside."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", label).lower())


def _a_label(label: str) -> str:
    """One label in ASCII: itself when it is ASCII (an ``xn--`` one must be a
    valid IDNA 2008 A-label), else its IDNA 2008 A-label."""
    if label.isascii():
        if label.lower().startswith("xn--"):
            try:
                idna.ulabel(label.lower())
            except UnicodeError as e:  # idna.IDNAError, or a codec error it lets through
                raise BadName(f"the label {label!r} is not a valid IDNA A-label ({e})") from None
        return label
    for joiner, name in JOINERS.items():
        if joiner in label:
            raise BadName(f"the label {label!r} contains an invisible joiner, {name}")
    try:
        mapped = idna.uts46_remap(label, std3_rules=False, transitional=False)
    except UnicodeError as e:  # idna.IDNAError, or a codec error it lets through
        raise BadName(f"the label {label!r} is not a valid host name label ({e})") from None
    if mapped != _as_written(label):
        raise BadName(
            f"the label {label!r} would be asked as {mapped!r}: its IDNA mapping deletes "
            "or changes characters (an invisible or look-alike character?)"
        )
    try:
        return idna.alabel(mapped).decode("ascii")
    except UnicodeError as e:  # idna.IDNAError, or a codec error it lets through
        raise BadName(f"the label {label!r} is not a valid IDNA 2008 label ({e})") from None


def to_ascii(name: str) -> str:
    """``name`` as the ASCII name a browser would ask DNS for (a trailing dot
    kept); :class:`BadName` when no label of it may be changed to get there."""
    trailing = name.endswith(".")
    labels = (name[:-1] if trailing else name).split(".")
    return ".".join(_a_label(label) for label in labels) + ("." if trailing else "")
