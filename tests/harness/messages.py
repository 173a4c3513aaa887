"""A WebSocket message read as the face reads it (``pingu.websocket``): its size
checked, then its fields (the text face's through the tool's ``text_fields``,
``pingu.json``'s as a JSON object), then the request checked.  The face itself
does this inline, as each message arrives; the tests of the reading use these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import Request, check_size, json_fields, parse_fields, text_fields
from pingu.tools import DEFAULT_TOOL


def parse_text(message: str, limits: Limits, tool: str = DEFAULT_TOOL) -> Request:
    """A text-face message (``/ws`` or ``/ws/<tool>``)."""
    check_size(message, limits)
    return parse_fields(text_fields(message, tool), limits)


def parse_json(message: str, limits: Limits) -> Request:
    """A ``pingu.json`` message."""
    check_size(message, limits)
    return parse_fields(json_fields(message), limits)


def refused(fields: Mapping[str, Any], limits: Limits) -> Refused:
    """Why a request's fields are refused (:func:`parse_fields`); the test
    fails when they are not."""
    import pytest

    with pytest.raises(Refused) as caught:
        parse_fields(dict(fields), limits)
    return caught.value
