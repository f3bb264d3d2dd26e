"""A TCP proxy on 127.0.0.1 whose link can be cut, for broker-outage tests.

The broker advertises the proxy's address, so every client connection goes
through it. :meth:`TcpProxy.cut` closes every connection and refuses new ones,
which is what clients see while a broker is down; :meth:`TcpProxy.restore`
lets them connect again to the same broker, which kept its data.
:meth:`TcpProxy.slow_down` holds back every chunk the broker sends on the
connections open at the time, or on every connection (a slow link: each
request is answered that much later).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from streams.broker import free_port


class TcpProxy:
    def __init__(self, upstream_port: int, port: int | None = None):
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = port or free_port()
        self._delay = 0.0
        self._slowed: frozenset[socket.socket] = frozenset()  # upstream sockets whose answers are held back
        self._upstreams: set[socket.socket] = set()
        self._slow_all = False
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    @property
    def bootstrap(self) -> str:
        """The address clients connect to."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
                self._upstreams.add(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if src in self._slowed or (self._slow_all and src in self._upstreams):
                    time.sleep(self._delay)
                dst.sendall(data)
        for s in (src, dst):  # one side gone: the connection is over
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection and refuse new ones until :meth:`restore`."""
        self._open.clear()
        with self._lock:
            conns, self._conns = self._conns, set()
            self._upstreams.clear()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def slow_down(self, delay: float, *, new_connections: bool = False) -> None:
        """From now on, hold back each chunk the broker sends on the connections open now (and on every
        later one with ``new_connections``) by ``delay`` s."""
        with self._lock:
            self._delay = delay
            self._slowed = frozenset(self._upstreams & self._conns)
            self._slow_all = new_connections

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._server.close()
        self.cut()
