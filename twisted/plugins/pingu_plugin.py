"""The ``twistd pingu`` plugin: a pointer to :mod:`pingu.tap`, nothing heavy.

twistd imports every plugin module to list them, so this file must stay
cheap to import.  There is no ``__init__.py`` in ``twisted/`` or
``twisted/plugins/``: they extend Twisted's own namespace.
"""

from twisted.application.service import ServiceMaker

pingu = ServiceMaker(
    "pingu",
    "pingu.tap",
    "Stream live ping output to browsers and WebSocket clients",
    "pingu",
)
