"""An outage on demand: a TCP proxy in front of a real server (PostgreSQL, S3).

Tests point a stack's ``TFJOBS_DATABASE_URL`` or ``TFJOBS_S3_ENDPOINT_URL`` at the proxy;
``down()`` closes every connection and stops listening (clients see "connection
refused", as when the server stops); ``hang()`` cuts every connection and then accepts
new ones but never answers (a server wedged); ``up()`` serves again on the same port.
The real server is never touched, so other tests sharing it are not disturbed.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._hanging = False
        self.port = 0
        self.up()
        netloc = f"{parts.username + '@' if parts.username else ''}127.0.0.1:{self.port}"
        self.url = urlunsplit(parts._replace(netloc=netloc))

    def up(self) -> None:
        self._hanging = False
        if self._listener is not None:
            return  # was hanging: listening already
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            listener.close()
        for conn in conns:
            _close(conn)

    def hang(self) -> None:
        with self._lock:
            self._hanging = True
            conns, self._conns = self._conns, []
        for conn in conns:
            _close(conn)

    def close(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            if self._hanging:
                with self._lock:
                    self._conns.append(client)  # held open, never answered
                continue
            try:
                server = socket.create_connection(self._target)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(server)
                    return
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(sink)


def _close(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()
