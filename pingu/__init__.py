"""pingu: live ping in the browser, one reply at a time."""

__version__ = "0.1.0"
