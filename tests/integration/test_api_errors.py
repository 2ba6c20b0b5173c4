"""Rejected requests: each gets exactly one well-formed error, changes nothing, and leaves the
daemon serving. Also the HTTP front door: keep-alive, header limit, slow clients."""

import http.client
import json
import os
import re
import socket
import threading
import time
import unittest

from harness import (TOKEN, Daemon, base_config, email_message, outbox_config, raw_exchange,
                     status_of)
from fake_http import FakeHttpServer

MIB = 1 << 20


class ApiErrorsTest(unittest.TestCase):
    """One daemon for the class: every test here must leave it unchanged, which tearDown checks
    (no webhook request beyond the one known message, which is still readable)."""

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeHttpServer()
        config = base_config(cls.fake)
        config["server"]["read_timeout"] = "1s"
        cls.daemon = Daemon(config)
        try:
            cls.daemon.__enter__()
            cls.known = cls.daemon.send(email_message("known@example.com"))
            cls.daemon.wait_status(cls.known["id"], {"sent"})
        except BaseException:
            cls.daemon.cleanup(failed=True)
            cls.fake.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.__exit__(None, None, None)
        finally:
            cls.fake.close()

    def tearDown(self):
        self.assertEqual(self.fake.count(), 1, f"a rejected request was delivered: "
                                               f"{self.fake.requests()}")
        record = self.daemon.get(self.known["id"])
        self.assertEqual(record["status"], "sent")
        self.assertTrue(self.daemon.running(), "the daemon died")

    def assert_error(self, resp, status, code, mentions=()):
        self.assertEqual(resp.status, status, resp)
        self.assertTrue(resp.headers.get("content-type", "").startswith("application/json"),
                        resp.headers)
        body = resp.json
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertIsInstance(body["error"]["message"], str)
        self.assertTrue(body["error"]["message"], body)
        for field in mentions:
            # As a whole name: "to" must not be satisfied by "token" or "customer_id" by "id".
            whole_name = rf"(?<![A-Za-z_]){re.escape(field)}(?![A-Za-z_])"
            self.assertRegex(body["error"]["message"], whole_name)
        return body

    def post_raw(self, body, headers=None, token=...):
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return self.daemon.request("POST", "/v1/messages", body, headers=all_headers, token=token)

    # --- body errors ------------------------------------------------------------------------------

    def test_malformed_json_is_400(self):
        for body in ['{"to": ', "not json", '{"to": {"email": "a@example.com"}} trailing', ""]:
            with self.subTest(body=body):
                self.assert_error(self.post_raw(body), 400, "invalid_json")

    def test_non_object_body_is_rejected(self):
        for body in ["[]", "5", '"text"', "null"]:
            with self.subTest(body=body):
                resp = self.post_raw(body)
                self.assertIn(resp.status, (400, 422), resp)
                self.assertIn(resp.error_code, ("invalid_json", "invalid_request"), resp)

    def test_wrong_types_are_422_naming_the_field(self):
        good = email_message()
        cases = [
            ("to", {**good, "to": 5}),
            ("to", {**good, "to": "a@example.com"}),
            ("email", {**good, "to": {"email": 5}}),
            ("phone", {**good, "to": {"phone": ["+79161234567"]}}),
            ("content", {**good, "content": "hello"}),
            ("subject", {**good, "content": {"email": {"subject": 5, "text": "t"}}}),
            ("ttl", {**good, "ttl": 7}),
            ("ttl", {**good, "ttl": "soon"}),
            ("ttl", {**good, "ttl": "-5s"}),
            ("send_at", {**good, "send_at": "tomorrow"}),
            ("send_at", {**good, "send_at": "2026-13-45T99:00:00Z"}),
            ("send_at", {**good, "send_at": 1700000000}),
            ("channels", {**good, "channels": "email"}),
            ("channels", {**good, "channels": ["email", "fax"]}),
            ("category", {**good, "category": 5}),
            ("priority", {**good, "priority": "urgent"}),
            ("strategy", {**good, "strategy": "shotgun"}),
            ("metadata", {**good, "metadata": "x"}),
            ("customer_id", {**good, "customer_id": 42}),
            ("platform", {**good, "to": {"push": [{"platform": "bbm", "token": "t"}]}}),
        ]
        for field, body in cases:
            with self.subTest(field=field, body=body):
                self.assert_error(self.post_raw(json.dumps(body)), 422, "invalid_request",
                                  mentions=[field])

    def test_missing_required_fields_are_422(self):
        cases = [
            ("content", {"to": {"email": "a@example.com"}}),
            ("subject", {"to": {"email": "a@example.com"},
                         "content": {"email": {"text": "no subject"}}}),
            ("text", {"to": {"phone": "+79161234567"}, "content": {"sms": {}}}),
        ]
        for field, body in cases:
            with self.subTest(field=field):
                self.assert_error(self.post_raw(json.dumps(body)), 422, "invalid_request",
                                  mentions=[field])

    def test_no_possible_channel_is_422_no_channel(self):
        cases = [
            # a contact without matching content, and content without a contact
            {"to": {"email": "a@example.com"}, "content": {"sms": {"text": "t"}}},
            # push has contact and content but no provider is configured for it
            {"to": {"push": [{"platform": "fcm", "token": "tok"}]},
             "content": {"push": {"title": "T", "body": "B"}}},
            # the only requested channel has no contact
            {**email_message(), "channels": ["sms"]},
        ]
        for body in cases:
            with self.subTest(body=body):
                self.assert_error(self.post_raw(json.dumps(body)), 422, "no_channel")

    def test_body_over_1mib_is_413(self):
        filler = "x" * (MIB + 1 - len(json.dumps(email_message(text=""))))
        body = json.dumps(email_message(text=filler)).encode()
        self.assertEqual(len(body), MIB + 1)
        request = (b"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n"
                   b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                   b"Content-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        reply = raw_exchange(self.daemon.port, request)
        self.assertEqual(status_of(reply), 413, reply[:500])
        self.assertIn(b'"payload_too_large"', reply)

    def test_chunked_body_over_1mib_is_413(self):
        # Without Content-Length the limit must still hold while the body streams in.
        chunk = b"x" * 65536
        head = (b"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17)) + b"0\r\n\r\n"
        reply = raw_exchange(self.daemon.port, head + body)
        self.assertEqual(status_of(reply), 413, reply[:500])

    # --- authentication, media type, routing ------------------------------------------------------

    def test_missing_token_is_401(self):
        self.assert_error(self.post_raw(json.dumps(email_message()), token=None), 401,
                          "unauthorized")
        resp = self.daemon.request("GET", f"/v1/messages/{self.known['id']}", token=None)
        self.assert_error(resp, 401, "unauthorized")

    def test_wrong_token_is_401(self):
        for header in [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, f"bearer{TOKEN}"]:
            with self.subTest(header=header):
                resp = self.post_raw(json.dumps(email_message()),
                                     headers={"Authorization": header}, token=None)
                self.assert_error(resp, 401, "unauthorized")
        resp = self.daemon.request("DELETE", f"/v1/messages/{self.known['id']}", token="nope")
        self.assert_error(resp, 401, "unauthorized")

    def test_wrong_content_type_is_415(self):
        body = json.dumps(email_message())
        for content_type in ["text/plain", "application/x-www-form-urlencoded", None]:
            with self.subTest(content_type=content_type):
                resp = self.daemon.request("POST", "/v1/messages", body,
                                           headers={"Content-Type": content_type})
                self.assert_error(resp, 415, "unsupported_media_type")

    def test_json_content_type_with_charset_is_accepted_as_json(self):
        # Checked with a body that is rejected later, so the class's invariant holds.
        resp = self.daemon.request("POST", "/v1/messages", '{"to": 5}',
                                   headers={"Content-Type": "application/json; charset=utf-8"})
        self.assert_error(resp, 422, "invalid_request", mentions=["to"])

    def test_unknown_paths_are_404(self):
        for method, path in [("GET", "/v1/nothing"), ("GET", "/nothing"), ("POST", "/v2/messages"),
                             ("GET", "/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                             ("DELETE", "/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                             ("GET", "/v1/messages/not-a-ulid")]:
            with self.subTest(method=method, path=path):
                self.assert_error(self.daemon.request(method, path), 404, "not_found")

    def test_health_endpoints_need_no_token(self):
        for path in ["/healthz", "/readyz"]:
            with self.subTest(path=path):
                self.assertEqual(self.daemon.request("GET", path, token=None).status, 200)

    def test_bad_idempotency_key_is_422(self):
        resp = self.post_raw(json.dumps(email_message()), headers={"Idempotency-Key": "k" * 300})
        self.assert_error(resp, 422, "invalid_request")

    # --- the HTTP front door ----------------------------------------------------------------------

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        client = self.daemon.client()
        self.addCleanup(client.close)
        first = client.request("GET", f"/v1/messages/{self.known['id']}")
        self.assertEqual(first.status, 200)
        sock = client.conn.sock
        self.assertIsNotNone(sock)
        bad = json.dumps({"to": 5})
        for i in range(150):
            kind = i % 5
            if kind == 0:
                resp = client.request("GET", f"/v1/messages/{self.known['id']}")
                expected = 200
            elif kind == 1:
                resp = client.request("POST", "/v1/messages", bad,
                                      headers={"Content-Type": "application/json"})
                expected = 422
            elif kind == 2:
                resp = client.request("GET", "/v1/nothing")
                expected = 404
            elif kind == 3:
                resp = client.request("GET", "/v1/nothing", token="wrong")
                expected = 401
            else:
                resp = client.request("POST", "/v1/messages", "{",
                                      headers={"Content-Type": "application/json"})
                expected = 400
            self.assertEqual(resp.status, expected, (i, resp))
            self.assertIs(client.conn.sock if client.conn else None, sock,
                          f"connection was closed after request {i} ({resp})")

    def test_pipelined_requests_are_answered_in_order(self):
        target = f"/v1/messages/{self.known['id']}".encode()
        get = (b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
               TOKEN.encode() + b"\r\n\r\n")
        last = b"GET /nothing-here HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        reply = raw_exchange(self.daemon.port, get * 3 + last)
        statuses = [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)]
        self.assertEqual(statuses, [200, 200, 200, 404], reply[:500])

    def test_headers_over_8kib_are_431(self):
        request = (b"GET /v1/messages/" + self.known["id"].encode() + b" HTTP/1.1\r\n"
                   b"Host: localhost\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
                   b"X-Padding: " + b"p" * (9 * 1024) + b"\r\n\r\n")
        reply = raw_exchange(self.daemon.port, request)
        self.assertEqual(status_of(reply), 431, reply[:300])

    def test_headers_just_under_the_limit_are_served(self):
        request = (b"GET /v1/messages/" + self.known["id"].encode() + b" HTTP/1.1\r\n"
                   b"Host: localhost\r\nConnection: close\r\n"
                   b"Authorization: Bearer " + TOKEN.encode() +
                   b"\r\nX-Padding: " + b"p" * (6 * 1024) + b"\r\n\r\n")
        reply = raw_exchange(self.daemon.port, request)
        self.assertEqual(status_of(reply), 200, reply[:300])

    def test_stalled_clients_are_disconnected_after_read_timeout(self):
        cases = {
            "half a header block": b"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Le",
            "headers but half the body": (
                b"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
                TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{\"to\": {"),
        }
        for name, partial in cases.items():
            with self.subTest(case=name):
                with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=6) as s:
                    started = time.monotonic()
                    s.sendall(partial)
                    # Meanwhile everyone else is served promptly.
                    t0 = time.monotonic()
                    self.assertEqual(self.daemon.get(self.known["id"])["status"], "sent")
                    self.assertLess(time.monotonic() - t0, 0.5)
                    try:
                        while s.recv(4096):  # an error response (408) before closing is fine
                            pass
                    except ConnectionResetError:
                        pass
                    except socket.timeout:
                        self.fail("the stalled connection was still open after 6 s")
                    elapsed = time.monotonic() - started
                self.assertGreaterEqual(elapsed, 0.9, "closed before the read timeout")
                self.assertLess(elapsed, 3.0, "read_timeout = 1s was not enforced")

    def test_trickling_client_is_disconnected_after_read_timeout(self):
        # One byte every 200 ms keeps an idle timer happy but not a whole-request deadline.
        request = (b"GET /v1/messages/" + self.known["id"].encode() + b" HTTP/1.1\r\n"
                   b"Host: localhost\r\nX-Slow: " + b"s" * 200)
        closed_after = None
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5) as s:
            started = time.monotonic()
            try:
                for byte in request:
                    s.sendall(bytes([byte]))
                    time.sleep(0.2)
                    if time.monotonic() - started > 4:
                        break
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
            if closed_after is None:
                s.settimeout(1)
                try:
                    closed = s.recv(4096) == b""
                except ConnectionResetError:
                    closed = True
                except socket.timeout:
                    closed = False
                self.assertTrue(closed, "a trickling request was allowed to take over 4 s")
        if closed_after is not None:
            self.assertGreaterEqual(closed_after, 0.9)
            self.assertLess(closed_after, 3.5)

    def test_concurrent_bad_requests_do_not_disturb_each_other(self):
        errors = []

        def worker():
            client = self.daemon.client()
            try:
                for _ in range(30):
                    resp = client.request("POST", "/v1/messages", '{"to": 5}',
                                          headers={"Content-Type": "application/json"})
                    if resp.status != 422:
                        errors.append(resp)
            except Exception as e:  # reported below; a thread must not swallow failures
                errors.append(e)
            finally:
                client.close()

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class UnixSocketTest(unittest.TestCase):
    def test_api_is_served_on_the_unix_socket(self):
        config = outbox_config()
        config["server"]["unix_socket"] = "api.sock"
        with Daemon(config) as daemon:
            path = daemon.path("api.sock")  # relative to the config's directory
            self.assertTrue(os.path.exists(path), os.listdir(daemon.path()))
            conn = _UnixConnection(path)
            self.addCleanup(conn.close)

            def call(method, target, body=None, token=TOKEN):
                headers = {"Content-Type": "application/json"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()

            self.assertEqual(call("GET", "/readyz", token=None)[0], 200)
            status, _ = call("POST", "/v1/messages", json.dumps(email_message()), token=None)
            self.assertEqual(status, 401, "the Unix socket must not bypass authentication")
            status, body = call("POST", "/v1/messages", json.dumps(email_message()))
            self.assertEqual(status, 202, body)
            message_id = json.loads(body)["id"]
            daemon.wait_status(message_id, {"sent"})  # over TCP: both doors reach one store
            status, body = call("GET", f"/v1/messages/{message_id}")
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["status"], "sent")

    def test_stale_socket_file_does_not_prevent_start(self):
        config = outbox_config()
        config["server"]["unix_socket"] = "api.sock"
        daemon = Daemon(config, start=False)
        # A crashed daemon leaves its socket file behind.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
            stale.bind(daemon.path("api.sock"))
        with daemon:
            daemon.start()
            self.assertEqual(daemon.request("GET", "/readyz", token=None).status, 200)


class BodyLimitBoundaryTest(unittest.TestCase):
    def test_body_of_exactly_1mib_is_accepted(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            # Insignificant whitespace pads a valid message to exactly the limit.
            message = json.dumps(email_message(text="boundary"))
            body = message[:-1] + " " * (MIB - len(message)) + "}"
            self.assertEqual(len(body), MIB)
            resp = daemon.request("POST", "/v1/messages", body,
                                  headers={"Content-Type": "application/json"})
            self.assertEqual(resp.status, 202, resp)
            daemon.wait_status(resp.json["id"], {"sent"})
            [request] = fake.wait_for(1, path="/email")
            self.assertEqual(request.json["text"], "boundary")


if __name__ == "__main__":
    unittest.main()
