"""API hardening over the real binary: DNS-rebinding defence (Host and Origin checks), request
smuggling (ambiguous body framing), overload limits (admission slots and connections) and
systemd socket activation. Each of these is a property of the socket-facing daemon that no unit
test of a handler can show."""

import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import unittest

from harness import (FINAL_STATUSES, START_TIMEOUT, TOKEN, ULID_RE, Client, Daemon, binary,
                     email_message, outbox_config, raw_exchange, rss_kib, status_of,
                     unix_exchange)


def post_bytes(body, host=b"localhost", extra=b""):
    """A complete POST /v1/messages as raw bytes, for cases http.client cannot write."""
    return (b"POST /v1/messages HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Type: application/json\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def header_of(raw_response, name):
    match = re.search(rb"\r\n" + name.encode() + rb":\s*([^\r]*)\r\n", raw_response, re.I)
    return match.group(1).decode() if match else None


class HostAndOriginTest(unittest.TestCase):
    """A web page the admin visits can make the browser send requests to 127.0.0.1 under the
    page's own DNS name (rebinding) or cross-origin; neither may reach the API."""

    @classmethod
    def setUpClass(cls):
        config = outbox_config(server={
            "listen": "127.0.0.1:0", "unix_socket": "api.sock",
            "allowed_hosts": ["gw.internal"], "allowed_origins": ["https://admin.example"],
            "public_url": "https://hooks.example/omnigate"})
        cls.daemon = Daemon(config)
        cls.daemon.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def send_with(self, headers):
        return self.daemon.request("POST", "/v1/messages", email_message(), headers=headers)

    def test_loopback_listen_and_allowed_hosts_are_served(self):
        port = self.daemon.port
        for host in ["localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}",
                     "127.1.2.3", "[::1]", f"[::1]:{port}", "gw.internal", "GW.Internal:8443",
                     "localhost."]:
            with self.subTest(host=host):
                resp = self.send_with({"Host": host})
                self.assertEqual(resp.status, 202, resp)
                self.assertRegex(resp.json["id"], ULID_RE)

    def test_foreign_host_is_403_before_anything_is_stored(self):
        for host in ["evil.example", "evil.example:7447", "127.0.0.1.evil.example",
                     "gw.internal.evil.example", "hooks.example", "[::2]", "::1", ""]:
            with self.subTest(host=host):
                resp = self.send_with({"Host": host})
                self.assertEqual(resp.status, 403, resp)
                self.assertEqual(resp.error_code, "forbidden_host", resp)
                self.assertEqual(resp.headers.get("connection"), "close", resp.headers)
        # Health endpoints are no exception: a rebinding page must not even probe them.
        resp = self.daemon.request("GET", "/readyz", token=None, headers={"Host": "evil.example"})
        self.assertEqual(resp.error_code, "forbidden_host", resp)

    def test_callbacks_accept_the_public_url_host(self):
        # The reverse proxy keeps the public Host; the callback then fails for its own reason
        # (no such provider), which shows it got past the Host check.
        for host in ["hooks.example", "HOOKS.example:443"]:
            with self.subTest(host=host):
                resp = self.daemon.request("POST", "/v1/callbacks/nope", {}, token=None,
                                           headers={"Host": host})
                self.assertNotEqual(resp.error_code, "forbidden_host", resp)
                self.assertIn(resp.status, (400, 404, 422), resp)
        resp = self.daemon.request("POST", "/v1/callbacks/nope", {}, token=None,
                                   headers={"Host": "evil.example"})
        self.assertEqual(resp.error_code, "forbidden_host", resp)

    def test_origin_must_be_listed(self):
        for origin in ["https://evil.example", "null", "http://localhost",
                       f"http://127.0.0.1:{self.daemon.port}", "https://admin.example.evil"]:
            with self.subTest(origin=origin):
                resp = self.send_with({"Origin": origin})
                self.assertEqual(resp.status, 403, resp)
                self.assertEqual(resp.error_code, "forbidden_origin", resp)
        for origin in ["https://admin.example", "HTTPS://Admin.Example/"]:
            with self.subTest(origin=origin):
                self.assertEqual(self.send_with({"Origin": origin}).status, 202)

    def test_http10_without_host_is_served(self):
        reply = raw_exchange(self.daemon.port, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(status_of(reply), 200, reply[:300])

    def test_unix_socket_skips_the_host_check(self):
        body = json.dumps(email_message()).encode()
        request = post_bytes(body, host=b"evil.example", extra=b"Connection: close\r\n")
        reply = unix_exchange(self.daemon.path("api.sock"), request)
        self.assertEqual(status_of(reply), 202, reply[:300])


class SmugglingTest(unittest.TestCase):
    """A front proxy and the daemon must never disagree on where a body ends: ambiguous framing
    is refused and the connection closed, so a smuggled second request is never read."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(outbox_config())
        cls.daemon.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def test_ambiguous_framing_is_400_and_closes(self):
        body = json.dumps(email_message()).encode()
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        head = (b"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                b"Content-Type: application/json\r\n")
        length = b"Content-Length: " + str(len(chunked)).encode() + b"\r\n"
        cases = {
            "CL then TE": head + length + b"Transfer-Encoding: chunked\r\n\r\n" + chunked,
            "TE then CL": head + b"Transfer-Encoding: chunked\r\n" + length + b"\r\n" + chunked,
            "TE gzip": head + b"Transfer-Encoding: gzip\r\n\r\n" + chunked,
            "TE gzip, chunked": head + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked,
            "TE identity": head + b"Transfer-Encoding: identity\r\n\r\n" + chunked,
            "TE twice": (head + b"Transfer-Encoding: chunked\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + chunked),
            "TE chunked with junk": head + b"Transfer-Encoding: chunkedx\r\n\r\n" + chunked,
            "differing CL": (head + b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                             b"Content-Length: " + str(len(body) + 1).encode() + b"\r\n\r\n" +
                             body + b"x"),
            "CL list": (head + b"Content-Length: " + str(len(body)).encode() + b", " +
                        str(len(body) + 1).encode() + b"\r\n\r\n" + body + b"x"),
        }
        for name, request in cases.items():
            with self.subTest(case=name):
                started = time.monotonic()
                reply = raw_exchange(self.daemon.port, request + smuggled, read_timeout=4.0)
                elapsed = time.monotonic() - started
                self.assertEqual(status_of(reply), 400, reply[:400])
                self.assertIn(b'"bad_request"', reply)
                self.assertEqual(len(re.findall(rb"HTTP/1\.[01] \d{3} ", reply)), 1,
                                 f"the smuggled request was answered: {reply[:600]!r}")
                self.assertLess(elapsed, 3.0, "the connection was not closed after the 400")
        # The daemon still serves normally.
        self.assertEqual(self.daemon.request("GET", "/readyz", token=None).status, 200)

    def test_plain_chunked_and_same_length_twice_are_served(self):
        body = json.dumps(email_message()).encode()
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        head = (b"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                b"Content-Type: application/json\r\n")
        reply = raw_exchange(self.daemon.port,
                             head + b"Transfer-Encoding: Chunked\r\n\r\n" + chunked)
        self.assertEqual(status_of(reply), 202, reply[:400])
        length = b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        reply = raw_exchange(self.daemon.port, head + length + length + b"\r\n" + body)
        self.assertEqual(status_of(reply), 202, reply[:400])


class OverloadTest(unittest.TestCase):
    """Past capacity the daemon must say 503 at once (so clients back off) instead of buffering
    without bound; what it did acknowledge must still be stored and delivered."""

    MAX_PENDING = 4
    MAX_CONNECTIONS = 12

    def setUp(self):
        config = outbox_config(server={"listen": "127.0.0.1:0", "read_timeout": "5s",
                                       "max_pending": self.MAX_PENDING,
                                       "max_connections": self.MAX_CONNECTIONS})
        self.daemon = Daemon(config)
        self.daemon.__enter__()
        self.addCleanup(self.daemon.__exit__, None, None, None)

    def assert_overloaded(self, resp):
        self.assertEqual(resp.status, 503, resp)
        self.assertEqual(resp.error_code, "overloaded", resp)
        self.assertEqual(resp.headers.get("retry-after"), "1", resp.headers)

    def test_requests_over_max_pending_get_503_at_once(self):
        body = json.dumps(email_message()).encode()
        held = []
        for _ in range(self.MAX_PENDING):
            s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5)
            s.sendall(post_bytes(body)[:-5])  # headers and most of the body
            held.append(s)
        try:
            time.sleep(0.5)  # let the daemon read those headers and take their slots
            started = time.monotonic()
            client = self.daemon.client()
            resp = client.request("POST", "/v1/messages", email_message())
            self.assertLess(time.monotonic() - started, 1.0, "the refusal was not immediate")
            self.assert_overloaded(resp)
            client.close()
            # Health and metrics stay reachable for the operator while overloaded.
            self.assertEqual(self.daemon.request("GET", "/readyz", token=None).status, 200)
            ids = []
            for s in held:
                s.sendall(body[-5:])
                reply = s.recv(65536)
                self.assertEqual(status_of(reply), 202, reply[:300])
                ids.append(json.loads(reply.split(b"\r\n\r\n", 1)[1])["id"])
        finally:
            for s in held:
                s.close()
        for message_id in ids:
            self.daemon.wait_status(message_id, {"sent"})
        self.assertEqual(self.daemon.request("POST", "/v1/messages", email_message()).status, 202)

    def test_connections_over_max_connections_get_503_and_close(self):
        held = [socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5)
                for _ in range(self.MAX_CONNECTIONS + 2)]
        try:
            time.sleep(0.5)
            refused = []
            for s in held:
                readable, _, _ = select.select([s], [], [], 0)
                if readable:
                    data = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    refused.append(data)
            # The harness's own keep-alive connection counts too, hence "at least".
            self.assertGreaterEqual(len(refused), 2, "no connection over the limit was refused")
            self.assertLessEqual(len(held) - len(refused), self.MAX_CONNECTIONS)
            for data in refused:
                self.assertEqual(status_of(data), 503, data[:300])
                self.assertEqual(header_of(data, "Retry-After"), "1", data[:300])
                self.assertIn(b'"overloaded"', data)
        finally:
            for s in held:
                s.close()
        time.sleep(0.3)  # the daemon notices the closed connections
        self.assertEqual(self.daemon.request("POST", "/v1/messages", email_message()).status, 202)

    def test_burst_is_consistent_and_memory_stays_bounded(self):
        rss_before = rss_kib(self.daemon.proc.pid)
        clients = 48
        barrier = threading.Barrier(clients)
        results = [None] * clients

        def one(i):
            client = Client(self.daemon.port, timeout=15)
            barrier.wait()
            try:
                resp = client.request("POST", "/v1/messages",
                                      email_message(text="x" * 20000 + str(i)))
                results[i] = ("ok", resp)
            except OSError as e:
                results[i] = ("error", e)
            finally:
                client.close()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        errors = [r for r in results if r is None or r[0] == "error"]
        self.assertEqual(errors, [], "clients failed below HTTP (reset instead of 503?)")
        accepted = [r[1] for r in results if r[1].status == 202]
        refused = [r[1] for r in results if r[1].status != 202]
        for resp in refused:
            self.assert_overloaded(resp)
        self.assertGreater(len(accepted), 0)
        sys.stderr.write(f"\nburst: {len(accepted)} accepted, {len(refused)} refused\n")
        # Right after the burst the daemon answers normally.
        started = time.monotonic()
        self.assertEqual(self.daemon.request("POST", "/v1/messages", email_message()).status, 202)
        self.assertLess(time.monotonic() - started, 2.0)
        for resp in accepted:
            final = self.daemon.wait_status(resp.json["id"], FINAL_STATUSES)
            self.assertEqual(final["status"], "sent", final)
        growth_mib = (rss_kib(self.daemon.proc.pid) - rss_before) / 1024
        self.assertLess(growth_mib, 64, f"RSS grew by {growth_mib:.1f} MiB in a 48-client burst")


_WRAPPER = """
import os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
for i, fd in enumerate(fds):
    os.dup2(fd, 3 + i)  # SD_LISTEN_FDS_START, in order
    os.set_inheritable(3 + i, True)
env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)))
os.execve(sys.argv[2], sys.argv[2:], env)
"""


class ActivatedDaemon(Daemon):
    """A daemon started the way systemd starts it from omnigated.socket: the listening sockets
    already open on fd 3 onward, LISTEN_PID naming the daemon's own pid (which stays the same
    across exec, so the wrapper sets it to its own)."""

    def __init__(self, config, sockets):
        super().__init__(config, start=False)
        self.sockets = sockets

    def start(self, timeout=START_TIMEOUT):
        log = open(self.log_path, "ab")
        self._log_offset = log.tell()
        fds = [s.fileno() for s in self.sockets]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, ",".join(map(str, fds)), binary(), "--config",
             self.config_path], stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.cwd,
            pass_fds=fds)
        log.close()
        deadline = time.monotonic() + timeout
        while "api listening" not in self.log_since_start() or not self._ready():
            if self.proc.poll() is not None:
                self._fail(f"omnigated exited with {self.proc.returncode} before listening")
            if time.monotonic() > deadline:
                self._fail(f"omnigated was not ready within {timeout}s")
            time.sleep(0.05)
        return self

    def _ready(self):
        try:
            reply = raw_exchange(self.port, b"GET /readyz HTTP/1.0\r\n\r\n", read_timeout=2)
        except OSError:
            return False
        return status_of(reply) == 200


class SocketActivationTest(unittest.TestCase):
    """Under systemd socket activation the daemon must serve on the sockets it was given (and
    bind nothing itself): that is what makes restarts lose no connection attempts."""

    def test_serves_on_inherited_tcp_and_unix_sockets(self):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(16)
        # The configured address is taken: binding it instead of using fd 3 would fail.
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        config = outbox_config(server={"listen": f"127.0.0.1:{blocker.getsockname()[1]}",
                                       "unix_socket": "configured.sock"})
        daemon = ActivatedDaemon(config, [tcp, unix])
        unix_path = daemon.path("activated.sock")
        unix.bind(unix_path)
        unix.listen(16)
        daemon.port = tcp.getsockname()[1]
        try:
            with daemon:
                daemon.start()
                for s in (tcp, unix):
                    s.close()  # only the daemon holds them now
                log = daemon.log_since_start()
                self.assertIn("socket activation", log)
                self.assertIn(f"unix:{unix_path}", log)
                sent = daemon.send(email_message())
                daemon.wait_status(sent["id"], {"sent"})
                body = json.dumps(email_message()).encode()
                reply = unix_exchange(unix_path,
                                      post_bytes(body, extra=b"Connection: close\r\n"))
                self.assertEqual(status_of(reply), 202, reply[:300])
                self.assertFalse(os.path.exists(daemon.path("configured.sock")),
                                 "the configured unix socket was bound as well")
                daemon.stop()
                self.assertTrue(os.path.exists(unix_path),
                                "the daemon removed systemd's socket file")
        finally:
            blocker.close()
            tcp.close()
            unix.close()


if __name__ == "__main__":
    unittest.main()
