"""A misbehaving HTTP/1.1 peer for fault tests, on raw sockets.

fake_http.FakeHttpServer is built on http.server, which always answers politely. A provider in
trouble does not: it accepts and says nothing, trickles its reply, resets the connection, sends
ten megabytes, answers HTML, or sits behind a certificate that does not verify. FaultServer does
each of these on demand so the daemon's timeouts, classification and resource use can be checked
from the outside.

    with FaultServer() as server:
        server.script(Hang(), Respond(200))          # first request hangs, second is answered
        server.set_default(Respond(429, headers={"Retry-After": "2"}))
        ...
        server.requests()                            # Arrival records, with times

Every connection runs on its own thread. TLS (tls=(cert_file, key_file)) wraps each accepted
socket; a client that refuses the certificate shows up in handshake_failures, not in requests().
"""

import select
import socket
import ssl
import struct
import threading
import time

__all__ = ["FaultServer", "Arrival", "Respond", "Hang", "Trickle", "Reset", "BigBody"]

_MAX_HEAD = 64 * 1024


class Arrival:
    """One request as the server read it. `at`/`wall`: time.monotonic()/time.time() when the
    whole request had arrived. `replied_at`: when the reply was fully written (None if never).
    `peer_closed_at`: when the client closed the connection while this request was unanswered
    (how a client-side timeout looks from here)."""

    def __init__(self, at, wall, method, path, headers, body):
        self.at = at
        self.wall = wall
        self.method = method
        self.path = path
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.behaviour = None
        self.replied_at = None
        self.peer_closed_at = None
        self.counted_out = False  # no longer in the server's in-flight count

    def __repr__(self):
        return (f"<{self.method} {self.path} at={self.at:.3f} {self.behaviour!r} "
                f"replied={self.replied_at} closed={self.peer_closed_at}>")


# --- behaviours -----------------------------------------------------------------------------------

class Respond:
    """A normal reply (keep-alive), optionally after `delay` seconds."""

    def __init__(self, status=200, body=b'{"ok": true}', headers=None,
                 content_type="application/json", delay=0.0):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = dict(headers or {})
        self.content_type = content_type
        self.delay = delay

    def head(self, length):
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}",
                 f"Content-Type: {self.content_type}", f"Content-Length: {length}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def run(self, server, conn, arrival):
        if self.delay:
            time.sleep(self.delay)
        server.answering(arrival)
        conn.sendall(self.head(len(self.body)) + self.body)
        return True

    def __repr__(self):
        return f"Respond({self.status})"


class Hang:
    """Reads the request and never answers; returns once the client gives up (or the server
    closes). The client's close time is recorded as arrival.peer_closed_at."""

    def run(self, server, conn, arrival):
        _wait_for_peer_close(server, conn, arrival)
        return False

    def __repr__(self):
        return "Hang()"


class Trickle:
    """Sends a valid reply one byte every `interval` seconds: never silent long enough to look
    dead to a low-speed check, never finished in reasonable time."""

    def __init__(self, interval=1.0, body=b'{"ok": true}'):
        self.interval = interval
        self.body = body

    def run(self, server, conn, arrival):
        data = Respond(200, self.body).head(len(self.body)) + self.body
        for i in range(len(data)):
            try:
                conn.sendall(data[i:i + 1])
            except OSError:
                arrival.peer_closed_at = time.monotonic()
                return False
            deadline = time.monotonic() + self.interval
            while time.monotonic() < deadline:
                if server.closed.is_set():
                    return False
                # Watch for the client hanging up between bytes, so its time is exact.
                readable, _, _ = select.select([conn], [], [], 0.02)
                if readable and _peer_closed(conn):
                    arrival.peer_closed_at = time.monotonic()
                    return False
        return True

    def __repr__(self):
        return f"Trickle({self.interval})"


class Reset:
    """Reads the request, then closes with SO_LINGER 0 so the client gets an RST, not a FIN."""

    def run(self, server, conn, arrival):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False

    def __repr__(self):
        return "Reset()"


class BigBody:
    """`status` with a `size`-byte body, written as fast as the client reads it; stops when the
    client hangs up (recorded as peer_closed_at)."""

    def __init__(self, size=10 * 1000 * 1000, status=200):
        self.size = size
        self.status = status

    def run(self, server, conn, arrival):
        chunk = b"x" * 65536
        try:
            conn.sendall(Respond(self.status, content_type="text/plain").head(self.size))
            left = self.size
            while left > 0:
                n = min(left, len(chunk))
                conn.sendall(chunk[:n])
                left -= n
        except OSError:
            arrival.peer_closed_at = time.monotonic()
            return False
        return True

    def __repr__(self):
        return f"BigBody({self.size}, {self.status})"


_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _peer_closed(conn):
    """True if the client has closed its side (a zero-byte read that does not block)."""
    try:
        conn.setblocking(False)
        try:
            data = conn.recv(1, socket.MSG_PEEK)
        finally:
            conn.setblocking(True)
        return data == b""
    except (BlockingIOError, ssl.SSLWantReadError, ValueError):
        return False  # ValueError: TLS sockets cannot peek; treat as still open
    except OSError:
        return True


def _wait_for_peer_close(server, conn, arrival):
    conn.settimeout(0.05)
    while not server.closed.is_set():
        try:
            data = conn.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except OSError:
            data = b""
        if not data:
            arrival.peer_closed_at = time.monotonic()
            return


# --- the server -----------------------------------------------------------------------------------

class FaultServer:
    def __init__(self, tls=None, default=None):
        self.closed = threading.Event()
        self._lock = threading.Condition()
        self._arrivals = []
        self._script = []
        self._default = default or Respond()
        self._in_flight = 0
        self.peak_in_flight = 0
        self.connections = 0
        self.handshake_failures = 0
        self._conns = set()
        self._context = None
        if tls is not None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(*tls)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def url(self, path="/hook"):
        scheme = "https" if self._context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    # --- scripting --------------------------------------------------------------------------------

    def script(self, *behaviours):
        """Queues behaviours; each request consumes one, then the default applies."""
        with self._lock:
            self._script.extend(behaviours)

    def set_default(self, behaviour):
        with self._lock:
            self._default = behaviour

    def answering(self, arrival):
        """Counts `arrival` out of the requests in flight (once). A behaviour calls it just
        before writing its reply: the client may read that reply and send its next request, on
        another connection, before this thread runs again, and the two must not look concurrent
        in peak_in_flight."""
        with self._lock:
            if arrival.counted_out:
                return
            arrival.counted_out = True
            self._in_flight -= 1
            self._lock.notify_all()

    # --- inspection -------------------------------------------------------------------------------

    def requests(self):
        with self._lock:
            return list(self._arrivals)

    def count(self):
        with self._lock:
            return len(self._arrivals)

    def wait_for(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._arrivals) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fault server: expected {n} request(s) within "
                                         f"{timeout}s, got {len(self._arrivals)}")
                self._lock.wait(left)
            return list(self._arrivals)

    def wait_until(self, predicate, timeout=10.0, what="condition"):
        """Waits until predicate(arrivals) is true; returns the arrivals."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self._arrivals):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fault server: {what} not met within {timeout}s; "
                                         f"arrivals: {self._arrivals[-10:]}")
                self._lock.wait(min(left, 0.1))
            return list(self._arrivals)

    def open_connections(self):
        with self._lock:
            return len(self._conns)

    # --- serving ----------------------------------------------------------------------------------

    def _accept_loop(self):
        while not self.closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                conn.settimeout(5)
                try:
                    tls = self._context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self.handshake_failures += 1
                    return
                with self._lock:
                    self._conns.discard(conn)
                    self._conns.add(tls)
                conn = tls
            buffer = b""
            while not self.closed.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                with self._lock:
                    behaviour = self._script.pop(0) if self._script else self._default
                    request.behaviour = behaviour
                    self._arrivals.append(request)
                    self._in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                    self._lock.notify_all()
                try:
                    keep = behaviour.run(self, conn, request)
                except OSError:
                    keep = False
                finally:
                    self.answering(request)
                if keep:
                    request.replied_at = time.monotonic()
                if not keep or request.headers.get("connection", "").lower() == "close":
                    return
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, conn, buffer):
        conn.settimeout(0.05)
        while b"\r\n\r\n" not in buffer:
            if self.closed.is_set() or len(buffer) > _MAX_HEAD:
                return None, b""
            try:
                data = conn.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                return None, b""
            if not data:
                return None, b""
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            return None, b""
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(buffer) < length:
            if self.closed.is_set():
                return None, b""
            try:
                data = conn.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                return None, b""
            if not data:
                return None, b""
            buffer += data
        body, buffer = buffer[:length], buffer[length:]
        request = Arrival(time.monotonic(), time.time(), method, target.split("?", 1)[0],
                          headers, body)
        conn.settimeout(None)
        return request, buffer

    def close(self):
        self.closed.set()
        try:
            self._sock.close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
