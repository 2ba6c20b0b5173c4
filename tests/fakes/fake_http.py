"""A scriptable HTTP peer for integration tests.

FakeHttpServer listens on 127.0.0.1 (port 0, so tests never collide), records every request it
receives and answers from a per-path script: a queue of Reply objects consumed in order, then a
per-path default, then 200 {"ok": true}. It runs on its own threads, so a test can block on
wait_for() while the daemon talks to it.
"""

import http.server
import json
import sys
import threading
import time

__all__ = ["FakeHttpServer", "Reply", "Recorded"]


class Reply:
    """One scripted answer. `hang=True` reads the request and then never answers (until the
    server is closed or `release_hangs()` is called), which is how a stuck provider looks."""

    def __init__(self, status=200, body=None, headers=None, delay=0.0, hang=False):
        self.status = status
        self.body = {"ok": True} if body is None else body
        self.headers = dict(headers or {})
        self.delay = delay
        self.hang = hang

    def encoded_body(self):
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()

    def __repr__(self):
        return f"Reply({self.status}, hang={self.hang}, delay={self.delay})"


class Recorded:
    """A request as the fake saw it. `at` is time.monotonic() when the request line arrived,
    `wall` is time.time() at the same moment (for comparing against RFC 3339 times)."""

    def __init__(self, at, wall, method, path, headers, raw_body):
        self.at = at
        self.wall = wall
        self.done_at = None  # time.monotonic() when the reply started (None: never answered)
        self.method = method
        self.path = path
        self.headers = headers
        self.raw_body = raw_body
        try:
            self.json = json.loads(raw_body) if raw_body else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return f"<{self.method} {self.path} at={self.at:.3f} body={self.raw_body[:120]!r}>"


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 so that the daemon's connection reuse is exercised as it would be in production.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the peer's
    # delayed ACK (40 ms) and the fake, not the daemon, would set the pace.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # keep test output readable
        pass

    def _handle(self):
        at, wall = time.monotonic(), time.time()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        recorded = Recorded(at, wall, self.command, path, self.headers, raw)
        reply = fake._record_and_pick(recorded)
        if reply.hang:
            fake._hang_released.wait()
            self.close_connection = True
            return
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.encoded_body()
        # The reply counts as given when it starts going out: the daemon can read it and send its
        # next request (on another connection) before this thread runs again, and that request
        # must not look concurrent with this one (max_concurrency).
        replying_at = time.monotonic()
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, str(value))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        recorded.done_at = replying_at

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A peer killed mid-request (the crash test does this on purpose) is not news.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FakeHttpServer:
    def __init__(self):
        self._lock = threading.Condition()
        self._requests = []
        self._scripts = {}
        self._defaults = {}
        self._hang_released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    # --- scripting --------------------------------------------------------------------------------

    def script(self, path, *replies):
        """Queues replies for `path`; each request consumes one, then the default applies."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def set_default(self, path, reply):
        with self._lock:
            self._defaults[path] = reply

    def release_hangs(self):
        self._hang_released.set()

    def _record_and_pick(self, recorded):
        with self._lock:
            self._requests.append(recorded)
            queue = self._scripts.get(recorded.path)
            reply = queue.pop(0) if queue else self._defaults.get(recorded.path, Reply())
            self._lock.notify_all()
            return reply

    # --- inspection -------------------------------------------------------------------------------

    def requests(self, path=None):
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def count(self, path=None):
        return len(self.requests(path))

    def max_concurrency(self, path=None):
        """The most requests that were being answered at the same moment."""
        events = []
        for r in self.requests(path):
            events.append((r.at, 1))
            events.append((r.done_at if r.done_at is not None else float("inf"), -1))
        active = peak = 0
        for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
            active += delta
            peak = max(peak, active)
        return peak

    def wait_for(self, n_requests, timeout=10.0, path=None):
        """Blocks until at least n_requests (to `path`, or in total) have arrived; returns them.
        Raises AssertionError on timeout, listing what did arrive."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                seen = [r for r in self._requests if path is None or r.path == path]
                if len(seen) >= n_requests:
                    return seen
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"fake server: expected {n_requests} request(s) to {path or 'any path'} "
                        f"within {timeout}s, got {len(seen)}: {seen[:10]}")
                self._lock.wait(left)

    def close(self):
        self._hang_released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
