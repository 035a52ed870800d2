"""Host-name lookups a caller can stop waiting for: getaddrinfo has no timeout, and a bad resolver can
hold it past the 10 s a service manager gives a stop."""

from __future__ import annotations

import socket
import threading
from typing import Any

__all__ = ["Address", "Lookup", "Lookups"]

Address = tuple[socket.AddressFamily, Any]  # (family, socket address), as a socket connects to it


class Lookups:
    """The addresses of bootstrap hosts, each looked up in a daemon thread, waited for a try at most.
    A lookup still running is waited for again at the next try rather than started anew, so that a
    hung resolver does not pile up threads; a finished one is forgotten, so that a name that did not
    resolve is asked for again."""

    def __init__(self, try_s: float) -> None:
        self._try_s = try_s
        self._running: dict[tuple[str, int], Lookup] = {}

    def addresses(self, host: str, port: int) -> list[Address]:
        """Each address of ``host``; none when the lookup failed or did not finish within a try."""
        key = (host, port)
        lookup = self._running.get(key)
        if lookup is None:
            lookup = self._running[key] = Lookup(host, port)
        if not lookup.done.wait(self._try_s):
            return []
        del self._running[key]
        return lookup.addresses


class Lookup:
    """The addresses of one host, looked up in a daemon thread: ``addresses`` is read once ``done`` is
    set, and is empty when the name did not resolve (``error`` says why)."""

    def __init__(self, host: str, port: int) -> None:
        self.addresses: list[Address] = []
        self.error: OSError | None = None
        self.done = threading.Event()
        # A daemon: a lookup that never returns must not keep the process from exiting.
        looking = threading.Thread(target=self._look_up, args=(host, port), daemon=True)
        looking.start()

    def _look_up(self, name: str, port: int) -> None:
        try:
            found = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            self.addresses = [(family, address) for family, _, _, _, address in found]
        except OSError as error:
            self.error = error  # no address: the server is unreachable, as when it refuses the connection
        finally:
            self.done.set()
