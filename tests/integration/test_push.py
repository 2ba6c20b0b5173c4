"""Mobile push end to end: the real daemon against the TLS fakes of Firebase Cloud Messaging
(tests/fakes/fake_fcm.py, HTTP/1.1 plus the OAuth2 token endpoint) and of Apple's APNs
(tests/fakes/fake_apns.js, HTTP/2 only). Every assertion is about what a fake recorded on the
wire, or what the daemon reports about the message, so the credential flows (the RS256
assertion the daemon signs, the ES256 provider token it mints), the request shapes and the
mapping of each provider error to a delivery outcome are all checked for real."""

import datetime
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import Daemon, base_config, stop_after_test

_HERE = os.path.dirname(os.path.abspath(__file__))
_FAKES = os.path.join(os.path.dirname(_HERE), "fakes")
MAKE_TESTCA = os.path.join(_FAKES, "testca", "make_testca.sh")
FAKE_FCM = os.path.join(_FAKES, "fake_fcm.py")
FAKE_APNS = os.path.join(_FAKES, "fake_apns.js")

PROJECT = "omnigate-test"  # what make_testca.sh writes into the service-account file
CLIENT_EMAIL = "omnigate@omnigate-test.iam.gserviceaccount.com"
KEY_ID_FCM = "0123456789abcdef0123456789abcdef01234567"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "com.example.shop"
FAKE_START_TIMEOUT = 15.0

_pki = None


def setUpModule():
    """One throwaway PKI for the module: the CA the daemon trusts, the fakes' server certificate
    and the FCM and APNs signing keys. Made at test time so no key is ever committed."""
    global _pki
    _pki = tempfile.mkdtemp(prefix="omnigate-push-ca-")
    subprocess.run(["bash", MAKE_TESTCA, _pki, "--push-keys"], check=True,
                   capture_output=True, timeout=60)


def tearDownModule():
    if _pki:
        shutil.rmtree(_pki, ignore_errors=True)


def pki(name):
    return os.path.join(_pki, name)


def parse_time(text):
    """RFC 3339 UTC as the daemon writes it (with or without milliseconds) -> epoch seconds."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FakeProcess:
    """A fake provider in a child process. It announces `PORT n` and `CONTROL m` on stdout; the
    control port takes the scripts and reports what the fake saw."""

    def __init__(self, argv, log_name):
        self.log_path = os.path.join(_pki, log_name)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log)
        ports = {}
        buffer = b""
        deadline = time.monotonic() + FAKE_START_TIMEOUT
        try:
            while len(ports) < 2:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
                chunk = os.read(self.proc.stdout.fileno(), 4096) if ready else b""
                if not chunk:
                    raise RuntimeError(f"{argv[1]} did not announce its ports "
                                       f"(exit {self.proc.poll()}); see {self.log_path}")
                buffer += chunk
                complete = buffer[:buffer.rfind(b"\n") + 1]  # a line still being written waits
                for line in complete.decode(errors="replace").splitlines():
                    name, _, value = line.partition(" ")
                    if name in ("PORT", "CONTROL") and value.strip().isdigit():
                        ports[name] = int(value)
        except BaseException:
            self.close()
            raise
        self.port = ports["PORT"]
        self.control = ports["CONTROL"]

    def url(self, path=""):
        return f"https://127.0.0.1:{self.port}{path}"

    def _control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.control}{path}", data=data,
                                         method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def state(self):
        return self._control("GET", "/state")

    def script(self, **script):
        return self._control("POST", "/script", script)

    def reset(self):
        return self._control("POST", "/reset", {})

    def log_tail(self, lines=20):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def start_fake_fcm(log_name):
    """FCM with the one project and service account the test PKI's key file names, so a wrong
    iss or project in the daemon's requests is refused rather than accepted."""
    return FakeProcess(
        ["/usr/bin/python3", FAKE_FCM, "--cert", pki("server.pem"), "--key", pki("server.key"),
         "--public-key", pki("fcm_service_account.pub"), "--project", PROJECT,
         "--client-email", CLIENT_EMAIL], log_name)


def start_fake_apns(log_name):
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        # Not a skip: a missing peer must not turn the APNs tests into silent passes.
        raise RuntimeError("node is required for the APNs fake (scripts/deps --test installs "
                           "nodejs)")
    return FakeProcess(
        [node, FAKE_APNS, "--cert", pki("server.pem"), "--key", pki("server.key"),
         "--public-key", pki("apns_key.pub"), "--team-id", TEAM_ID, "--key-id", KEY_ID,
         "--topic", TOPIC], log_name)


class PushTestBase(unittest.TestCase):
    """A fresh daemon per test (credential caches and provider pauses are per process), sharing
    the class's fake, whose script and records are reset before each test."""

    fake = None

    def setUp(self):
        self.fake.reset()

    @classmethod
    def tearDownClass(cls):
        if cls.fake is not None:
            cls.fake.close()
            cls.fake = None

    def push_config(self, providers, channel_providers=None, **sections):
        config = base_config(**sections)
        config["tls"] = {"ca_file": pki("ca.pem")}
        config["channels"] = {"push": {"providers": channel_providers or list(providers)}}
        config["providers"] = dict(providers)
        return config

    def start_daemon(self, config):
        daemon = Daemon(config)
        daemon.__enter__()
        stop_after_test(self, daemon, on_failure=self._print_fake_logs)
        return daemon

    def _print_fake_logs(self):
        # The PKI directory holding the fakes' logs goes away with the module.
        for fake in self.fakes():
            sys.stderr.write(f"\n--- {os.path.basename(fake.log_path)} tail ---\n"
                             f"{fake.log_tail()}\n--- end ---\n")

    def fakes(self):
        return [self.fake]

    @staticmethod
    def push_message(platform, token, title="Order shipped", body="A-17 is on its way",
                     data=None, **extra):
        message = {"to": {"push": [{"platform": platform, "token": token}]},
                   "content": {"push": {"title": title, "body": body}},
                   "channels": ["push"]}
        if data is not None:
            message["content"]["push"]["data"] = data
        message.update(extra)
        return message

    def wait_attempts(self, daemon, message_id, count, timeout=10.0):
        """Waits until the message has `count` finished attempts and returns its GET body."""
        deadline = time.monotonic() + timeout
        while True:
            body = daemon.get(message_id)
            finished = [a for a in body["attempts"] if "finished_at" in a]
            if len(finished) >= count and body["status"] != "sending":
                return body
            if time.monotonic() > deadline:
                self.fail(f"message {message_id}: expected {count} finished attempts, got "
                          f"{json.dumps(body)[:2000]}\n{daemon.log_tail(15)}")
            time.sleep(0.05)

    def assert_token_marked_dead(self, daemon, customer_id, token, timeout=5.0):
        """The customer's profile lists the token as invalid (the dispatcher reports it after the
        attempt, so this polls), and a push for that customer alone is no longer planned."""
        deadline = time.monotonic() + timeout
        while True:
            resp = daemon.request("GET", f"/v1/customers/{customer_id}")
            self.assertEqual(resp.status, 200, resp)
            if f"push:{token}" in resp.json.get("invalid_contacts", []):
                break
            if time.monotonic() > deadline:
                self.fail(f"{customer_id}: push:{token} never marked invalid: {resp.json}")
            time.sleep(0.05)
        again = daemon.send({"customer_id": customer_id, "channels": ["push"],
                             "content": {"push": {"title": "Still there?"}}})
        self.assertEqual(again["status"], "suppressed", again)

    def assert_stays_queued(self, daemon, message_id, seconds=1.0):
        """The message is still waiting after `seconds`: not sent, not failed."""
        time.sleep(seconds)
        body = daemon.get(message_id)
        self.assertEqual(body["status"], "queued", body)
        return body


# --- FCM ------------------------------------------------------------------------------------------

class FcmTest(PushTestBase):
    @classmethod
    def setUpClass(cls):
        cls.fake = start_fake_fcm("fake_fcm.log")

    def fcm_daemon(self, **settings):
        provider = {"kind": "fcm", "service_account_file": pki("fcm_service_account.json"),
                    "base_url": self.fake.url(), "token_url": self.fake.url("/token"),
                    "max_concurrency": 16, "timeout": "10s"}
        provider.update(settings)
        return self.start_daemon(self.push_config({"fcm": provider}))

    def test_delivered_with_verified_assertion_and_one_token_for_many_sends(self):
        daemon = self.fcm_daemon()
        count = 20
        ids = []
        for i in range(count):
            accepted = daemon.send(self.push_message(
                "fcm", f"fcm-token-{i}", data={"order": f"A-{i}", "count": i, "gift": True}))
            self.assertEqual(accepted["channel"], "push")
            ids.append(accepted["id"])
        finals = [daemon.wait_status(i, {"sent"}) for i in ids]

        state = self.fake.state()
        # One JWT-bearer grant served all the sends; attempts that became due while it was in
        # flight waited for it instead of asking again.
        self.assertEqual(len(state["token_requests"]), 1, state["token_requests"])
        grant = state["token_requests"][0]
        self.assertNotIn("error", grant, grant)  # the fake verified the RS256 signature
        self.assertRegex(grant["access_token"], r"^ya29\.fake-\d+$")
        self.assertEqual(grant["header"]["alg"], "RS256")
        self.assertEqual(grant["header"]["kid"], KEY_ID_FCM)
        claims = grant["claims"]
        self.assertEqual(claims["iss"], CLIENT_EMAIL)
        self.assertEqual(claims["aud"], self.fake.url("/token"))
        self.assertIn(SCOPE, claims["scope"].split())
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        self.assertLess(abs(claims["iat"] - time.time()), 60)

        # Every send carried the one issued access token (the fake refuses any other with 401).
        sends = state["sends"]
        self.assertEqual(len(sends), count, sends)
        self.assertTrue(all(s["status"] == 200 and s["outcome"] == "OK" for s in sends), sends)
        self.assertTrue(all(s["project"] == PROJECT for s in sends))
        by_token = {s["token"]: s["body"] for s in sends}
        self.assertEqual(by_token["fcm-token-3"], {"message": {
            "token": "fcm-token-3",
            "notification": {"title": "Order shipped", "body": "A-17 is on its way"},
            "data": {"order": "A-3", "count": "3", "gift": "true"}}})

        for final in finals:
            [attempt] = final["attempts"]
            self.assertEqual(attempt["provider"], "fcm")
            self.assertEqual(attempt["outcome"], "accepted")
            self.assertRegex(attempt["provider_message_id"],
                             rf"^projects/{PROJECT}/messages/0:\d+%\d+$")

    def test_token_refreshed_before_it_expires(self):
        # The daemon refreshes five minutes before expiry; a 302 s token is due after 2 s.
        self.fake.script(expires_in=302)
        daemon = self.fcm_daemon()
        first = daemon.send(self.push_message("fcm", "early-1"))
        daemon.wait_status(first["id"], {"sent"})
        issued_at = time.monotonic()
        second = daemon.send(self.push_message("fcm", "early-2"))
        daemon.wait_status(second["id"], {"sent"})
        if time.monotonic() - issued_at < 1.5:  # otherwise the reuse check proves nothing
            self.assertEqual(len(self.fake.state()["token_requests"]), 1)
        time.sleep(max(0.0, 2.5 - (time.monotonic() - issued_at)))
        third = daemon.send(self.push_message("fcm", "late-1"))
        daemon.wait_status(third["id"], {"sent"})

        state = self.fake.state()
        grants = state["token_requests"]
        self.assertEqual(len(grants), 2, grants)
        self.assertTrue(all("error" not in g for g in grants), grants)
        self.assertEqual([s["outcome"] for s in state["sends"]], ["OK", "OK", "OK"])
        # No send was refused: the refresh happened before the fake would have said 401.
        self.assertEqual(len(daemon.get(third["id"])["attempts"]), 1)

    def test_token_expired_at_the_fake_is_fetched_again(self):
        self.fake.script(expires_in=400)  # the daemon would not refresh it for 100 s
        daemon = self.fcm_daemon()
        first = daemon.send(self.push_message("fcm", "before-expiry"))
        daemon.wait_status(first["id"], {"sent"})
        # Move the fake's clock past the token's expiry (but not past the next assertion's
        # exp): the cached token is now refused with 401 UNAUTHENTICATED without a detail.
        self.fake.script(clock_offset=500)
        second = daemon.send(self.push_message("fcm", "after-expiry"))
        final = daemon.wait_status(second["id"], {"sent"})

        state = self.fake.state()
        grants = state["token_requests"]
        self.assertEqual(len(grants), 2, grants)
        self.assertTrue(all("error" not in g for g in grants), grants)
        self.assertNotEqual(grants[0]["access_token"], grants[1]["access_token"])
        self.assertEqual([(s["token"], s["status"]) for s in state["sends"]],
                         [("before-expiry", 200), ("after-expiry", 401), ("after-expiry", 200)])
        # The new grant was asked for after the refusal, not before.
        self.assertGreater(grants[1]["time"], state["sends"][1]["time"])
        self.assertEqual([(a["outcome"], a["code"]) for a in final["attempts"]],
                         [("retry", "UNAUTHENTICATED"), ("accepted", "200")])

    def test_unregistered_token_is_recipient_dead(self):
        self.fake.script(tokens={"gone-token": "UNREGISTERED",
                                 "apns-gone-token": "APNS_UNREGISTERED"})
        daemon = self.fcm_daemon()
        for token, code in (("gone-token", "UNREGISTERED"),
                            ("apns-gone-token", "INVALID_ARGUMENT")):
            with self.subTest(token=token):
                customer = f"customer-{token}"
                accepted = daemon.send(self.push_message("fcm", token, customer_id=customer))
                final = daemon.wait_status(accepted["id"], {"failed"})
                [attempt] = final["attempts"]
                self.assertEqual(attempt["outcome"], "recipient_dead", attempt)
                self.assertEqual(attempt["code"], code)
                self.assertIn("recipient is gone", final["reason"])
                self.assert_token_marked_dead(daemon, customer, token)
        time.sleep(0.3)  # a final message is never tried again, a dead token never chosen
        sends = self.fake.state()["sends"]
        self.assertEqual([s["token"] for s in sends], ["gone-token", "apns-gone-token"])

    def test_quota_exceeded_retries_no_earlier_than_60s_and_pauses(self):
        for retry_after, floor in ((None, 60), (120, 120)):
            with self.subTest(retry_after=retry_after):
                self.fake.reset()
                outcome = {"outcome": "QUOTA_EXCEEDED"}
                if retry_after is not None:
                    outcome["retry_after"] = retry_after
                self.fake.script(tokens={"busy-token": outcome})
                daemon = self.fcm_daemon()
                accepted = daemon.send(self.push_message("fcm", "busy-token"))
                body = self.wait_attempts(daemon, accepted["id"], 1)
                self.assertEqual(body["status"], "queued", body)
                [attempt] = body["attempts"]
                self.assertEqual((attempt["outcome"], attempt["code"]),
                                 ("retry", "QUOTA_EXCEEDED"))
                delay = parse_time(body["next_attempt_at"]) - parse_time(attempt["finished_at"])
                self.assertGreaterEqual(delay, floor, body)
                # The whole provider waits, not just this message.
                other = daemon.send(self.push_message("fcm", "innocent-token"))
                self.assert_stays_queued(daemon, other["id"])
                self.assertEqual([s["token"] for s in self.fake.state()["sends"]],
                                 ["busy-token"])

    def test_unavailable_with_retry_after_is_retried_then_sent(self):
        self.fake.script(tokens={"flaky-token": [{"outcome": "UNAVAILABLE", "retry_after": 1}]})
        daemon = self.fcm_daemon()
        accepted = daemon.send(self.push_message("fcm", "flaky-token"))
        final = daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual([(a["outcome"], a["code"]) for a in final["attempts"]],
                         [("retry", "UNAVAILABLE"), ("accepted", "200")])
        first, second = final["attempts"]
        self.assertGreaterEqual(parse_time(second["started_at"]) - parse_time(first["finished_at"]),
                                1.0, final)
        sends = self.fake.state()["sends"]
        self.assertEqual([s["status"] for s in sends], [503, 200])
        self.assertGreaterEqual(sends[1]["time"] - sends[0]["time"], 0.95)

    def test_sender_id_mismatch_and_403_are_misconfigured_and_keep_the_message(self):
        for outcome, code in (("SENDER_ID_MISMATCH", "SENDER_ID_MISMATCH"),
                              ("PERMISSION_DENIED", "PERMISSION_DENIED")):
            with self.subTest(outcome=outcome):
                self.fake.reset()
                self.fake.script(tokens={"wrong-project-token": outcome})
                daemon = self.fcm_daemon()
                accepted = daemon.send(self.push_message("fcm", "wrong-project-token"))
                body = self.wait_attempts(daemon, accepted["id"], 1)
                self.assertEqual(body["status"], "queued", body)  # kept, not final
                [attempt] = body["attempts"]
                self.assertEqual((attempt["outcome"], attempt["code"]), ("misconfigured", code))
                delay = parse_time(body["next_attempt_at"]) - parse_time(attempt["finished_at"])
                self.assertGreaterEqual(delay, 60, body)
                # The provider is paused: another message waits instead of being sent.
                other = daemon.send(self.push_message("fcm", "good-token"))
                self.assert_stays_queued(daemon, other["id"])
                self.assert_stays_queued(daemon, accepted["id"], 0)
                self.assertEqual([s["token"] for s in self.fake.state()["sends"]],
                                 ["wrong-project-token"])


# --- APNs -----------------------------------------------------------------------------------------

DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"


def device(n):
    return f"{n:064x}"


class ApnsTest(PushTestBase):
    @classmethod
    def setUpClass(cls):
        cls.fake = start_fake_apns("fake_apns.log")

    def apns_provider(self, **settings):
        provider = {"kind": "apns", "team_id": TEAM_ID, "key_id": KEY_ID,
                    "private_key_file": pki("apns_key.p8"), "topic": TOPIC,
                    "base_url": self.fake.url(), "max_concurrency": 64, "timeout": "10s"}
        provider.update(settings)
        return provider

    def apns_daemon(self, **settings):
        return self.start_daemon(self.push_config({"apns": self.apns_provider(**settings)}))

    def test_delivered_over_http2_with_verified_jwt_and_headers(self):
        daemon = self.apns_daemon(priority="10", expiration="1h")
        accepted = daemon.send(self.push_message(
            "apns", DEVICE, data={"order": "A-17", "collapse_id": "order-A-17"}))
        final = daemon.wait_status(accepted["id"], {"sent"})
        sent_at = time.time()

        state = self.fake.state()
        [request] = state["requests"]
        # The fake serves only h2 in ALPN and records requests from HTTP/2 streams only.
        self.assertEqual(state["connections"], 1)
        self.assertEqual(state["sessions"], 1)
        self.assertEqual(request["status"], 200, request)
        self.assertEqual(request["path"], f"/3/device/{DEVICE}")
        self.assertEqual(request["jwt"]["header"], {"alg": "ES256", "kid": KEY_ID})
        self.assertEqual(request["jwt"]["claims"]["iss"], TEAM_ID)
        self.assertLess(abs(request["jwt"]["claims"]["iat"] - sent_at), 60)
        headers = request["headers"]
        self.assertEqual(headers["apns-topic"], TOPIC)
        self.assertEqual(headers["apns-push-type"], "alert")
        self.assertEqual(headers["apns-priority"], "10")
        self.assertAlmostEqual(int(headers["apns-expiration"]), sent_at + 3600, delta=60)
        self.assertEqual(headers["apns-collapse-id"], "order-A-17")
        self.assertRegex(headers["apns-id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-"
                                             r"[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(json.loads(request["body"]), {
            "order": "A-17", "aps": {"alert": {"title": "Order shipped",
                                               "body": "A-17 is on its way"}}})
        [attempt] = final["attempts"]
        self.assertEqual((attempt["provider"], attempt["outcome"]), ("apns", "accepted"))
        self.assertEqual(attempt["provider_message_id"], headers["apns-id"])

    def test_dead_device_tokens_are_recipient_dead(self):
        self.fake.script(tokens={device(1): "BadDeviceToken", device(2): "Unregistered"})
        daemon = self.apns_daemon()
        for token, code in ((device(1), "BadDeviceToken"), (device(2), "Unregistered")):
            with self.subTest(code=code):
                customer = f"customer-{code}"
                accepted = daemon.send(self.push_message("apns", token, customer_id=customer))
                final = daemon.wait_status(accepted["id"], {"failed"})
                [attempt] = final["attempts"]
                self.assertEqual((attempt["outcome"], attempt["code"]), ("recipient_dead", code))
                self.assert_token_marked_dead(daemon, customer, token)
        time.sleep(0.3)
        statuses = [(r["token"], r["status"]) for r in self.fake.state()["requests"]]
        self.assertEqual(statuses, [(device(1), 400), (device(2), 410)])

    def test_too_many_requests_is_retried(self):
        self.fake.script(tokens={DEVICE: ["TooManyRequests"]})
        daemon = self.apns_daemon()
        accepted = daemon.send(self.push_message("apns", DEVICE))
        final = daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual([(a["outcome"], a["code"]) for a in final["attempts"]],
                         [("retry", "TooManyRequests"), ("accepted", "200")])
        requests = self.fake.state()["requests"]
        self.assertEqual([r["status"] for r in requests], [429, 200])
        # A retry is the same notification: APNs deduplicates on apns-id.
        self.assertEqual(requests[0]["headers"]["apns-id"], requests[1]["headers"]["apns-id"])

    def test_payload_too_large_reply_rejects_the_message(self):
        self.fake.script(tokens={DEVICE: "PayloadTooLarge"})
        daemon = self.apns_daemon()
        accepted = daemon.send(self.push_message("apns", DEVICE))
        final = daemon.wait_status(accepted["id"], {"failed"})
        [attempt] = final["attempts"]
        self.assertEqual((attempt["outcome"], attempt["code"]), ("rejected", "PayloadTooLarge"))
        time.sleep(0.3)
        self.assertEqual([r["status"] for r in self.fake.state()["requests"]], [413])

    def test_payload_over_4096_bytes_is_refused_before_sending(self):
        daemon = self.apns_daemon()
        big = self.push_message("apns", device(7), data={"blob": "x" * 4100})
        accepted = daemon.send(big)
        final = daemon.wait_status(accepted["id"], {"failed"})
        [attempt] = final["attempts"]
        self.assertEqual((attempt["outcome"], attempt["code"]), ("rejected", "payload_too_large"))
        # Just under the limit still goes out, so the check is on the size, not on "data".
        small = daemon.send(self.push_message("apns", device(8), data={"blob": "x" * 3900}))
        daemon.wait_status(small["id"], {"sent"})
        requests = self.fake.state()["requests"]
        self.assertEqual([r["token"] for r in requests], [device(8)], "the big one reached APNs")

    def test_expired_provider_token_is_minted_again_and_retried_once(self):
        self.fake.script(tokens={DEVICE: ["ExpiredProviderToken"]})
        daemon = self.apns_daemon()
        accepted = daemon.send(self.push_message("apns", DEVICE))
        final = daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual([(a["outcome"], a["code"]) for a in final["attempts"]],
                         [("retry", "ExpiredProviderToken"), ("accepted", "200")])
        state = self.fake.state()
        requests = state["requests"]
        self.assertEqual([r["status"] for r in requests], [403, 200])
        first, second = (r["headers"]["authorization"] for r in requests)
        self.assertNotEqual(first, second, "the retry reused the refused provider token")
        self.assertEqual(state["tokens_seen"], 2)
        self.assertGreaterEqual(requests[1]["jwt"]["claims"]["iat"],
                                requests[0]["jwt"]["claims"]["iat"])
        # The next message keeps using the new token rather than minting yet another.
        again = daemon.send(self.push_message("apns", device(9)))
        daemon.wait_status(again["id"], {"sent"})
        state = self.fake.state()
        self.assertEqual(state["tokens_seen"], 2)
        self.assertEqual(state["requests"][-1]["headers"]["authorization"], second)

    def test_50_concurrent_messages_share_one_http2_connection(self):
        count = 50
        # Slow replies keep the streams open together, so they must overlap on the connection.
        self.fake.script(delay_ms=1000)
        daemon = self.apns_daemon()
        ids = []
        lock = threading.Lock()

        def submit(offset):
            client = daemon.client()
            try:
                for n in range(offset, count, 5):
                    resp = client.request("POST", "/v1/messages",
                                          self.push_message("apns", device(1000 + n)))
                    with lock:
                        ids.append((resp.status, resp.json.get("id")))
            finally:
                client.close()

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(sorted(s for s, _ in ids), [202] * count, ids)
        for _, message_id in ids:
            daemon.wait_status(message_id, {"sent"}, timeout=30)

        state = self.fake.state()
        self.assertEqual(len(state["requests"]), count)
        self.assertEqual(sorted(r["token"] for r in state["requests"]),
                         sorted(device(1000 + n) for n in range(count)))
        self.assertEqual(state["connections"], 1, state["connections"])
        self.assertEqual(state["sessions"], 1)
        self.assertEqual(len({r["session"] for r in state["requests"]}), 1)
        # Multiplexed, not one request after another on a single connection.
        self.assertGreaterEqual(state["max_concurrent_streams"], 10,
                                state["max_concurrent_streams"])


class MixedPushTest(PushTestBase):
    """Both providers on the push channel, FCM first, each with its fake."""

    fcm_fake = None

    @classmethod
    def setUpClass(cls):
        cls.fake = start_fake_apns("fake_apns_mixed.log")
        try:
            cls.fcm_fake = start_fake_fcm("fake_fcm_mixed.log")
        except BaseException:
            cls.tearDownClass()  # unittest skips it when setUpClass fails
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if cls.fcm_fake is not None:
            cls.fcm_fake.close()
            cls.fcm_fake = None

    def setUp(self):
        super().setUp()
        self.fcm_fake.reset()

    def fakes(self):
        return [self.fake, self.fcm_fake]

    def mixed_daemon(self):
        fcm = {"kind": "fcm", "service_account_file": pki("fcm_service_account.json"),
               "base_url": self.fcm_fake.url(), "token_url": self.fcm_fake.url("/token")}
        apns = {"kind": "apns", "team_id": TEAM_ID, "key_id": KEY_ID,
                "private_key_file": pki("apns_key.p8"), "topic": TOPIC,
                "base_url": self.fake.url()}
        return self.start_daemon(self.push_config({"fcm": fcm, "apns": apns},
                                                  channel_providers=["fcm", "apns"]))

    def test_fcm_target_goes_to_fcm(self):
        daemon = self.mixed_daemon()
        accepted = daemon.send(self.push_message("fcm", "mixed-fcm-token"))
        final = daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual(final["attempts"][0]["provider"], "fcm")
        self.assertEqual([s["token"] for s in self.fcm_fake.state()["sends"]],
                         ["mixed-fcm-token"])
        self.assertEqual(self.fake.state()["requests"], [])

    def test_apns_target_is_delivered_by_apns_when_fcm_is_listed_first(self):
        # FCM refuses an apns target (wrong_platform); the dispatcher then offers the message to
        # the channel's next provider at once, without counting the refused try.
        daemon = self.mixed_daemon()
        accepted = daemon.send(self.push_message("apns", DEVICE))
        final = daemon.wait_status(accepted["id"], {"sent", "failed"})
        self.assertEqual(final["status"], "sent", final)
        self.assertEqual([r["token"] for r in self.fake.state()["requests"]], [DEVICE])


if __name__ == "__main__":
    unittest.main()
