"""A TCP proxy on a fixed loopback port that a test can cut and restore.

Stopping a threaded HTTP server (werkzeug, moto) only stops it *accepting* connections: clients
holding a keep-alive connection go on being served, so such a "stop" is no outage at all. Putting
this proxy between the clients and the server makes an outage real: :meth:`cut` shuts down the
listening socket and every open connection (clients see resets and refused connections), and
:meth:`restore` listens again on the same port.
"""

from __future__ import annotations

import socket
import struct
import threading

from services.gateway.server import free_port


class TcpProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self.connections = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Listen (again) on the proxy's port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    start = restore

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for c in conns:
            _close(c, wake=True)

    stop = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close(client)
                    _close(server)
                    return
                self._conns.update((client, server))
                self.connections += 1
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with self._lock:
                    self._conns.discard(s)
                _close(s)


def _close(s: socket.socket, *, wake: bool = False) -> None:
    """Reset ``s``. ``wake``: shut it down first, for a socket another thread may be blocked on in
    ``recv``: a bare ``close`` leaves such a connection open until that call returns (the kernel keeps
    the socket while a system call uses it), so a request in flight at the cut would hang instead of
    failing."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
    except OSError:
        pass
    if wake:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        s.close()
    except OSError:
        pass
