"""A TCP proxy that sits between mcp-rag and a server (Redis, Chroma) and misbehaves on command:
it passes bytes through, delays them, swallows them, or cuts every connection."""

from __future__ import annotations

import socket
import threading
import time


class FaultProxy:
    """Listens on a loopback port of its own and forwards each connection to `upstream_port`.

    Modes, changed at any time with `set_mode` and applied to every connection at once:
    - "pass": bytes go through as they come;
    - "delay": each chunk of bytes is held `delay` seconds first (in both directions);
    - "drop": nothing goes through either way, and nothing is answered: a server that hangs;
    - "refuse": new connections are closed as soon as they are accepted; open ones stay (with
      `cut`, a server that went away).
    `cut()` closes every open connection at once, whatever the mode.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.delay = 0.0
        self.cuts = 0
        self.accepted = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept_loop, name="fault-proxy-accept", daemon=True).start()

    def set_mode(self, mode: str, delay: float = 0.0) -> None:
        assert mode in ("pass", "delay", "drop", "refuse"), mode
        with self._lock:
            self.mode, self.delay = mode, delay

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
            self.cuts += 1
        for sock in sockets:
            self._close(sock)

    def close(self) -> None:
        self._closed = True
        self._close(self._listener)
        self.cut()

    @staticmethod
    def _close(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == "refuse":
                self._close(client)
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
                server.settimeout(None)
            except OSError:
                # Upstream is down: the client sees its connection closed, as with a dead server.
                self._close(client)
                continue
            with self._lock:
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                mode, delay = self.mode, self.delay
                if mode == "drop":
                    continue
                if mode == "delay":
                    time.sleep(delay)
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)
            self._close(source)
            self._close(target)
