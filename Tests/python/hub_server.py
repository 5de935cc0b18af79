"""A local HTTP server that serves model repositories in the Hugging Face Hub's URL layout, for the
tests of `mcp-rag model fetch` (these machines cannot reach the real Hub).

What it serves, as the Hub does:
- `GET /api/models/{owner}/{name}/revision/{revision}?blobs=true`: the commit and every file with its
  size, its git blob id and, for LFS files, its SHA-256;
- `GET /{owner}/{name}/resolve/{revision}/{path}`: the file; LFS files answer with a redirect to
  `/cdn/{sha256}` (the Hub sends them to its CDN), which serves the bytes;
- `Range: bytes=N-` answered with 206 and the rest;
- JSON errors (`{"error": ...}`) with 401 and 404.

And on command, what goes wrong in real downloads: `drop_after[path] = n` sends the first `n` bytes
of the next whole-file answer and closes the connection; `corrupt` serves a file with one byte changed
(its checksum as listed stays the true one); `token` refuses requests without `Authorization: Bearer
<token>`, echoing the header it got (as some servers and proxies do) so a test can check that mcp-rag
does not repeat it. Every request is recorded in `requests`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LFS_THRESHOLD = 10 << 20
LFS_SUFFIXES = (".safetensors", ".bin", ".onnx")


class HubRepository:
    def __init__(self, commit: str, files: dict[str, bytes]):
        self.commit = commit
        self.files = files

    def listing(self) -> dict:
        siblings = []
        for path, content in sorted(self.files.items()):
            entry = {"rfilename": path, "size": len(content),
                     "blobId": hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()}
            if is_lfs(path, content):
                entry["lfs"] = {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
            siblings.append(entry)
        return {"id": "", "sha": self.commit, "siblings": siblings}


def is_lfs(path: str, content: bytes) -> bool:
    return len(content) >= LFS_THRESHOLD or path.endswith(LFS_SUFFIXES)


def folder_files(folder: Path, extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Every file under `folder` (links followed) by its path relative to it, plus `extra`."""
    files = {path.relative_to(folder).as_posix(): path.read_bytes()
             for path in sorted(folder.rglob("*")) if path.is_file()}
    files.update(extra or {})
    return files


class HubServer:
    def __init__(self):
        self.repositories: dict[str, HubRepository] = {}
        self.drop_after: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.token: str | None = None
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()

    def add(self, repository: str, files: dict[str, bytes], commit: str | None = None) -> HubRepository:
        commit = commit or hashlib.sha1("\n".join([repository, *sorted(files)]).encode()).hexdigest()
        self.repositories[repository] = HubRepository(commit, files)
        return self.repositories[repository]

    def downloads(self) -> list[dict]:
        """The requests for file content (not the listings)."""
        with self._lock:
            return [r for r in self.requests if "/resolve/" in r["path"] or r["path"].startswith("/cdn/")]

    # The handler's work.

    def _handle(self, request: BaseHTTPRequestHandler):
        with self._lock:
            self.requests.append({"path": request.path, "range": request.headers.get("Range"),
                                  "authorization": request.headers.get("Authorization")})
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            sent = request.headers.get("Authorization") or "nothing"
            return self._json(request, 401, {"error": f"Invalid credentials: got {sent}"})
        if match := re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^?]+)\?blobs=true", request.path):
            repository = self.repositories.get(match[1])
            if repository is None:
                return self._json(request, 404, {"error": "Repository not found"})
            if match[2] not in ("main", repository.commit):
                return self._json(request, 404, {"error": f"Invalid rev id: {match[2]}"})
            return self._json(request, 200, repository.listing())
        if match := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([0-9a-f]{40})/(.+)", request.path):
            repository = self.repositories.get(match[1])
            content = repository.files.get(match[3]) if repository and repository.commit == match[2] else None
            if content is None:
                return self._json(request, 404, {"error": "Entry not found"})
            if is_lfs(match[3], content):
                request.send_response(302)
                request.send_header("Location", f"/cdn/{hashlib.sha256(content).hexdigest()}?file={match[3]}")
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
            return self._file(request, match[3], content)
        if match := re.fullmatch(r"/cdn/([0-9a-f]{64})\?file=(.+)", request.path):
            for repository in self.repositories.values():
                content = repository.files.get(match[2])
                if content is not None and hashlib.sha256(content).hexdigest() == match[1]:
                    return self._file(request, match[2], content)
            return self._json(request, 404, {"error": "Entry not found"})
        return self._json(request, 404, {"error": "Not found"})

    def _file(self, request: BaseHTTPRequestHandler, path: str, content: bytes):
        if path in self.corrupt:
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        start = 0
        if (wanted := request.headers.get("Range")) and (match := re.fullmatch(r"bytes=(\d+)-", wanted)):
            start = int(match[1])
            if start >= len(content):
                request.send_response(416)
                request.send_header("Content-Range", f"bytes */{len(content)}")
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
        request.send_response(206 if start else 200)
        if start:
            request.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        request.send_header("Content-Length", str(len(content) - start))
        request.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
        request.end_headers()
        cut = self.drop_after.pop(path, None) if not start else None
        if cut is not None:
            request.wfile.write(content[:cut])
            request.wfile.flush()
            request.close_connection = True
            return
        request.wfile.write(content[start:])

    @staticmethod
    def _json(request: BaseHTTPRequestHandler, status: int, body: dict):
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
