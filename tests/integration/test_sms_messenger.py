"""SMS providers (twilio, kannel, http_sms) and messenger providers (telegram, whatsapp,
chat_webhook) end to end: the real omnigated talks to the fakes in tests/fakes over real sockets.

For every provider: what the fake received for a delivered message (auth, fields, text with
Cyrillic and emoji intact, provider message id), throttling with a provider-given wait (the next
attempt comes no earlier, measured on the fake's clock), invalid recipients (final failure,
outcome recipient_dead), our own credentials refused (provider paused, message kept queued,
outcome misconfigured), 5xx (retried, then sent), SMS segment counts, and delivery receipts
through POST/GET /v1/callbacks/{provider} where the provider has them.

Each test starts its own daemon so that a provider paused by one test cannot slow the next.
"""

import base64
import calendar
import json
import socket
import time
import unittest
import urllib.parse

from harness import FINAL_STATUSES, Daemon, base_config, stop_after_test
from fake_http import FakeHttpServer, Reply
from fake_messenger import FakeMessenger
from fake_sms import FakeSms, count_segments

# Cyrillic, an astral-plane emoji (a surrogate pair in UTF-16), and characters that Slack and
# Telegram's markup modes treat specially: the text must arrive exactly as written.
TEXT = "Привет, Петя! Заказ A-17 отправлен 🚚 & <скоро> будет"
GSM_TEXT = "Your code is 4821. Valid 10 min."
GSM_200 = ("Order A-17 has shipped. Track it at shop.example/t/A17 (courier: DPD). " * 3)[:200]
CYRILLIC_100 = ("Заказ отправлен, ждите курьера завтра с утра. " * 3)[:100]

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "fake-twilio-token"
TWILIO_FROM = "+15005550006"
KANNEL_USER, KANNEL_PASS = "gw", "kannel-pass"
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
WA_TOKEN, WA_PHONE_ID, WA_SECRET = "fake-wa-token", "106540352242922", "fake-app-secret"
SLACK_PATH = "/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"

# The wait every throttling fake asks for (Retry-After, Telegram's parameters.retry_after): long
# enough to be told apart from base_config's 200 ms retry backoff, short enough for the budget.
RETRY_AFTER = 2
# Both timestamps come from the fake's monotonic clock (the first one is taken before the fake
# answers, so the measured gap is if anything too short): this only absorbs timer granularity.
EPSILON = 0.02


def free_port():
    """A loopback port nobody listens on right now, so the daemon's own callback URL can be
    written into its config before it starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stamp_records(fake):
    """The SMS and messenger fakes record requests without times; wrap their recorder so that
    every entry carries time.monotonic() of the moment the fake handled it."""
    original = fake.state.record

    def record(kind, entry):
        entry.setdefault("t", time.monotonic())
        original(kind, entry)

    fake.state.record = record


def sms_message(phone, text=TEXT, **extra):
    message = {"to": {"phone": phone}, "content": {"sms": {"text": text}}, "channels": ["sms"]}
    message.update(extra)
    return message


def messenger_message(chat, text=TEXT, **extra):
    message = {"to": {"telegram": chat}, "content": {"messenger": {"text": text}},
               "channels": ["messenger"]}
    message.update(extra)
    return message


def slack_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ProviderTestCase(unittest.TestCase):
    """Shared plumbing: one daemon per test with exactly one provider on one channel."""

    channel = None        # "sms" | "messenger"
    provider_name = None  # the [providers.<name>] key

    def start_daemon(self, settings, listen_port=None):
        config = base_config()
        if listen_port is not None:
            config["server"]["listen"] = f"127.0.0.1:{listen_port}"
        config["channels"] = {self.channel: {"providers": [self.provider_name]}}
        config["providers"] = {self.provider_name: dict(settings)}
        daemon = Daemon(config)
        daemon.__enter__()
        stop_after_test(self, daemon)
        return daemon


    def wait_attempts(self, daemon, message_id, count, timeout=10.0):
        """GET until `count` attempts have finished (outcome no longer in_flight)."""
        deadline = time.monotonic() + timeout
        while True:
            body = daemon.get(message_id)
            done = [a for a in body["attempts"] if a.get("outcome") != "in_flight"]
            if len(done) >= count:
                return body
            if time.monotonic() > deadline:
                self.fail(f"{count} finished attempt(s) expected within {timeout}s, got "
                          f"{json.dumps(body, indent=1)[:2000]}\n{daemon.log_tail(15)}")
            time.sleep(0.05)

    def assert_kept_and_paused(self, daemon, message_id, records, second_message):
        """Our credentials were refused: the attempt is `misconfigured`, the message stays
        queued (not final) for >= 60 s, and the provider is paused, so a second message is held
        too instead of being sent with the same bad credentials."""
        body = self.wait_attempts(daemon, message_id, 1)
        [attempt] = body["attempts"]
        self.assertEqual(attempt["outcome"], "misconfigured", body)
        self.assertNotIn(body["status"], FINAL_STATUSES, body)
        self.assertEqual(body["status"], "queued", body)
        self.assertIn("next_attempt_at", body, body)
        next_at = calendar.timegm(time.strptime(body["next_attempt_at"][:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertGreaterEqual(next_at, time.time() + 50, body)
        second = daemon.send(second_message)
        time.sleep(0.8)
        self.assertEqual(len(records()), 1, "the paused provider was called again")
        again = daemon.get(message_id)
        self.assertEqual(again["status"], "queued", again)
        self.assertEqual(len(again["attempts"]), 1, again)
        held = daemon.get(second["id"])
        self.assertEqual(held["status"], "queued", held)
        self.assertEqual(held["attempts"], [], held)
        return attempt

    def assert_single_attempt_failed(self, daemon, message_id, records, code):
        body = daemon.wait_status(message_id, {"failed"})
        [attempt] = body["attempts"]
        self.assertEqual(attempt["outcome"], "recipient_dead", body)
        self.assertEqual(str(attempt["code"]), code, body)
        time.sleep(0.4)
        self.assertEqual(len(records()), 1, "a dead recipient was tried again")
        return body

    def assert_gap(self, first, second, seconds):
        gap = second - first
        self.assertGreaterEqual(gap, seconds - EPSILON,
                                f"the retry came {gap:.3f}s after the throttled attempt; the "
                                f"provider asked for {seconds}s")

    def assert_segments(self, body, expected):
        attempt = body["attempts"][-1]
        self.assertIn("segments", attempt, body)
        self.assertEqual(attempt["segments"], expected, body)

    # --- delivery receipts ----------------------------------------------------------------------

    def wait_receipt(self, daemon, message_id, statuses, timeout=10.0):
        """Polls until the status is one of `statuses`. harness.wait_status cannot be used for
        receipts: it stops at the first final status, and `sent` is final there."""
        deadline = time.monotonic() + timeout
        while True:
            body = daemon.get(message_id)
            if body["status"] in statuses:
                return body
            if time.monotonic() > deadline:
                self.fail(f"status in {sorted(statuses)} expected within {timeout}s, last seen "
                          f"{json.dumps(body, indent=1)[:2000]}\n{daemon.log_tail(15)}")
            time.sleep(0.05)

    def assert_2xx(self, status, what):
        self.assertIsInstance(status, int, what)
        self.assertTrue(200 <= status < 300, what)


class FakeSmsMixin:
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeSms(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN,
                           kannel_user=KANNEL_USER, kannel_pass=KANNEL_PASS).start()
        stamp_records(cls.fake)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()


class FakeMessengerMixin:
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeMessenger(bot_token=BOT_TOKEN, wa_token=WA_TOKEN,
                                 wa_phone_number_id=WA_PHONE_ID, wa_app_secret=WA_SECRET).start()
        stamp_records(cls.fake)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()


class SegmentFixturesTest(unittest.TestCase):
    """The segment tests rely on these texts needing exactly two segments each."""

    def test_texts(self):
        self.assertEqual((len(GSM_200), count_segments(GSM_200)), (200, 2))
        self.assertEqual((len(CYRILLIC_100), count_segments(CYRILLIC_100)), (100, 2))


# --- Twilio ---------------------------------------------------------------------------------------

class TwilioTest(FakeSmsMixin, ProviderTestCase):
    channel = "sms"
    provider_name = "twilio"

    def settings(self, **overrides):
        settings = {"kind": "twilio", "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN,
                    "from": TWILIO_FROM, "base_url": self.fake.url()}
        settings.update(overrides)
        return settings

    def records(self):
        return self.fake.state_snapshot()["twilio"]

    def wait_records(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.records()) < count:
            if time.monotonic() > deadline:
                self.fail(f"fake Twilio: {count} request(s) expected, got {self.records()}")
            time.sleep(0.02)
        return self.records()

    def script(self, to, outcomes):
        self.fake.script({"twilio": {"recipients": {to: outcomes}}})

    def test_delivered(self):
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+12015550100"))
        final = daemon.wait_status(sent["id"], {"sent"})
        [record] = self.records()
        self.assertEqual(record["path"], f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
        expected_auth = "Basic " + base64.b64encode(
            f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        self.assertEqual(record["headers"].get("Authorization"), expected_auth)
        self.assertEqual(record["headers"].get("Content-Type"),
                         "application/x-www-form-urlencoded")
        # No StatusCallback without status_callback_url, no ValidityPeriod without the setting.
        self.assertEqual(record["fields"], {"To": "+12015550100", "From": TWILIO_FROM,
                                            "Body": TEXT})
        self.assertEqual(record["status"], 201)
        [attempt] = final["attempts"]
        self.assertEqual(attempt["provider"], "twilio")
        self.assertEqual(attempt["outcome"], "accepted")
        self.assertEqual(str(attempt["code"]), "201")
        self.assertEqual(attempt.get("provider_message_id"), record["sid"], final)
        self.assertRegex(record["sid"], r"^SM[0-9a-f]{32}$")

    def test_messaging_service_and_category_sender(self):
        settings = self.settings(messaging_service_sid="MG0123456789abcdef0123456789abcdef",
                                 from_otp="ShopOTP", validity_period=600)
        del settings["from"]
        daemon = self.start_daemon(settings)
        first = daemon.send(sms_message("+12015550101", GSM_TEXT, category="otp"))
        daemon.wait_status(first["id"], {"sent"})
        second = daemon.send(sms_message("+12015550102", GSM_TEXT, category="marketing"))
        daemon.wait_status(second["id"], {"sent"})
        by_to = {r["fields"]["To"]: r["fields"] for r in self.records()}
        self.assertEqual(by_to["+12015550101"], {"To": "+12015550101", "From": "ShopOTP",
                                                 "Body": GSM_TEXT, "ValidityPeriod": "600"})
        self.assertEqual(by_to["+12015550102"], {
            "To": "+12015550102", "MessagingServiceSid": "MG0123456789abcdef0123456789abcdef",
            "Body": GSM_TEXT, "ValidityPeriod": "600"})

    def test_throttled_with_retry_after(self):
        self.script("+12015550103", [{"outcome": "THROTTLED", "retry_after": RETRY_AFTER}])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+12015550103"))
        final = daemon.wait_status(sent["id"], {"sent"}, timeout=15)
        first, second = self.records()
        self.assertEqual((first["status"], first["code"]), (429, 20429))
        self.assertEqual(second["status"], 201)
        self.assert_gap(first["t"], second["t"], RETRY_AFTER)
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"])
        self.assertEqual(str(final["attempts"][0]["code"]), "20429")
        self.assertEqual(second["fields"]["Body"], TEXT)

    def test_invalid_recipient(self):
        for outcome, code in (("INVALID_TO", "21211"), ("NOT_MOBILE", "21614"),
                              ("UNREACHABLE", "21612"), ("LANDLINE", "21635")):
            with self.subTest(outcome=outcome):
                self.fake.reset()
                self.script("+12015550104", outcome)
                daemon = self.start_daemon(self.settings())
                sent = daemon.send(sms_message("+12015550104"))
                self.assert_single_attempt_failed(daemon, sent["id"], self.records, code)

    def test_unsubscribed_is_opted_out(self):
        self.script("+12015550105", "UNSUBSCRIBED")
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+12015550105"))
        final = daemon.wait_status(sent["id"], {"failed"})
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("opted_out", "21610")])

    def test_auth_failure_pauses_provider(self):
        daemon = self.start_daemon(self.settings(auth_token="not-the-auth-token"))
        sent = daemon.send(sms_message("+12015550100"))
        self.wait_records(1)
        attempt = self.assert_kept_and_paused(daemon, sent["id"], self.records,
                                              sms_message("+12015550106"))
        self.assertEqual(str(attempt["code"]), "20003")
        [record] = self.records()
        self.assertEqual(record["status"], 401)

    def test_server_errors_are_retried(self):
        self.script("+12015550107", ["SERVER_ERROR", "UNAVAILABLE"])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+12015550107"))
        final = daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual([r["status"] for r in self.records()], [500, 503, 201])
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "20500"), ("retry", "20503"), ("accepted", "201")])
        self.assertEqual({r["fields"]["Body"] for r in self.records()}, {TEXT})

    def test_segments(self):
        daemon = self.start_daemon(self.settings())
        results = []
        for text, segments in ((GSM_200, 2), (CYRILLIC_100, 2)):
            sent = daemon.send(sms_message("+12015550108", text))
            final = daemon.wait_status(sent["id"], {"sent"})
            results.append((final, segments))
        bodies = [r["fields"]["Body"] for r in self.records()]
        self.assertEqual(bodies, [GSM_200, CYRILLIC_100])
        for final, segments in results:
            self.assert_segments(final, segments)

    # --- receipts ---------------------------------------------------------------------------------

    def callback_daemon(self):
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1/callbacks/{self.provider_name}"
        daemon = self.start_daemon(self.settings(status_callback_url=url), listen_port=port)
        return daemon, url

    def test_status_callback_delivered(self):
        self.fake.script({"twilio": {"callback_delay_ms": 150,
                                     "callbacks": {"*": ["sent", "delivered"]}}})
        daemon, url = self.callback_daemon()
        sent = daemon.send(sms_message("+12015550100"))
        daemon.wait_status(sent["id"], {"sent", "delivered"})
        [record] = self.records()
        self.assertEqual(record["fields"]["StatusCallback"], url)
        final = self.wait_receipt(daemon, sent["id"], {"delivered"})
        self.assertEqual(final["attempts"][0].get("provider_message_id"), record["sid"])
        callbacks = self.wait_callbacks(2)
        self.assertEqual([c["fields"]["MessageStatus"] for c in callbacks], ["sent", "delivered"])
        for callback in callbacks:
            self.assert_2xx(callback.get("status"), callback)
        # "sent" is not a receipt; "delivered" is, and it is kept with the message.
        [receipt] = final["receipts"]
        self.assertEqual((receipt["provider"], receipt["status"], receipt["effect"]),
                         ("twilio", "delivered", "applied"), final)
        self.assertEqual(receipt.get("provider_message_id"), record["sid"])

    def test_status_callback_undelivered_fails_message(self):
        self.fake.script({"twilio": {"callback_delay_ms": 150,
                                     "callbacks": {"*": ["sent", "undelivered"]}}})
        daemon, _ = self.callback_daemon()
        sent = daemon.send(sms_message("+12015550109"))
        final = self.wait_receipt(daemon, sent["id"], {"failed"})
        [receipt] = final["receipts"]
        self.assertEqual((receipt["status"], receipt["effect"], receipt.get("code")),
                         ("failed", "applied", "30005"), final)

    def test_status_callback_forged(self):
        self.fake.script({"twilio": {"callback_delay_ms": 100, "forge_signatures": True,
                                     "callbacks": {"*": ["delivered"]}}})
        daemon, _ = self.callback_daemon()
        sent = daemon.send(sms_message("+12015550100"))
        daemon.wait_status(sent["id"], {"sent", "delivered"})
        [callback] = self.wait_callbacks(1)
        self.assertIn(callback.get("status"), (401, 403), callback)
        time.sleep(0.3)
        body = daemon.get(sent["id"])
        self.assertEqual(body["status"], "sent")
        self.assertEqual(body.get("receipts", []), [], body)

    def wait_callbacks(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            callbacks = self.fake.state_snapshot()["callbacks"]
            if len(callbacks) >= count:
                return callbacks
            if time.monotonic() > deadline:
                self.fail(f"{count} callback(s) expected, the fake made {callbacks}")
            time.sleep(0.05)


# --- Kannel ---------------------------------------------------------------------------------------

class KannelTest(FakeSmsMixin, ProviderTestCase):
    channel = "sms"
    provider_name = "kannel"

    def settings(self, **overrides):
        settings = {"kind": "kannel", "url": self.fake.url("/cgi-bin/sendsms"),
                    "username": KANNEL_USER, "password": KANNEL_PASS, "from": "SHOP"}
        settings.update(overrides)
        return settings

    def records(self):
        return self.fake.state_snapshot()["kannel"]

    def wait_records(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.records()) < count:
            if time.monotonic() > deadline:
                self.fail(f"fake Kannel: {count} request(s) expected, got {self.records()}")
            time.sleep(0.02)
        return self.records()

    def script(self, to, outcomes):
        self.fake.script({"kannel": {"recipients": {to: outcomes}}})

    def test_delivered_get(self):
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+4915123456780"))
        final = daemon.wait_status(sent["id"], {"sent"})
        gsm = daemon.send(sms_message("+4915123456781", GSM_TEXT))
        daemon.wait_status(gsm["id"], {"sent"})
        ucs2, plain = self.records()
        self.assertEqual(ucs2["method"], "GET")
        self.assertEqual(ucs2["status"], 202)
        self.assertEqual(ucs2["text"], TEXT)
        self.assertEqual(ucs2["params"], {"username": KANNEL_USER, "password": KANNEL_PASS,
                                          "to": "+4915123456780", "from": "SHOP", "coding": "2",
                                          "charset": "UTF-8"})
        self.assertEqual(plain["text"], GSM_TEXT)
        self.assertEqual(plain["params"]["coding"], "0")
        [attempt] = final["attempts"]
        self.assertEqual((attempt["outcome"], str(attempt["code"])), ("accepted", "202"))
        # Kannel hands out no id: the message's own id stands in (the DLR URL echoes it).
        self.assertEqual(attempt.get("provider_message_id"), sent["id"], final)

    def test_delivered_post(self):
        daemon = self.start_daemon(self.settings(method="post", smsc="smsc-a"))
        sent = daemon.send(sms_message("+4915123456780"))
        daemon.wait_status(sent["id"], {"sent"})
        [record] = self.records()
        self.assertEqual(record["method"], "POST")
        self.assertEqual(record["text"], TEXT)
        self.assertEqual(record["headers"].get("Content-Type"), "text/plain; charset=UTF-8")
        self.assertEqual(record["params"], {"username": KANNEL_USER, "password": KANNEL_PASS,
                                            "to": "+4915123456780", "coding": "2", "from": "SHOP",
                                            "smsc": "smsc-a", "charset": "UTF-8"})

    def test_delivered_utf16be(self):
        for method in ("get", "post"):
            with self.subTest(method=method):
                self.fake.reset()
                daemon = self.start_daemon(self.settings(method=method, charset="utf-16be"))
                sent = daemon.send(sms_message("+4915123456780"))
                daemon.wait_status(sent["id"], {"sent"})
                [record] = self.records()
                self.assertEqual((record["charset"], record["coding"]), ("UTF-16BE", "2"))
                self.assertEqual(record["text"], TEXT)

    def test_queued_and_sent_replies_are_accepted(self):
        self.script("+4915123456782", "QUEUED")
        self.script("+4915123456783", "SENT")
        daemon = self.start_daemon(self.settings())
        for to in ("+4915123456782", "+4915123456783"):
            sent = daemon.send(sms_message(to))
            final = daemon.wait_status(sent["id"], {"sent"})
            self.assertEqual([a["outcome"] for a in final["attempts"]], ["accepted"])

    def test_temporal_failure_pauses_then_sends(self):
        # Kannel's 503 carries no Retry-After: the dispatcher pauses the provider for its first
        # throttle step (1 s, daemon/dispatch/dispatcher.cc throttlePause), well above the
        # 200 ms message backoff, so the gap shows the pause was honoured.
        self.script("+4915123456784", ["TEMPORAL"])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+4915123456784"))
        final = daemon.wait_status(sent["id"], {"sent"})
        first, second = self.records()
        self.assertEqual((first["status"], first["reply"]),
                         (503, "Temporal failure, try again later."))
        self.assert_gap(first["t"], second["t"], 1.0)
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "503"), ("accepted", "202")])
        self.assertEqual(second["text"], TEXT)

    def test_invalid_recipient(self):
        self.script("+4915123456785", "DENIED")
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+4915123456785"))
        body = self.assert_single_attempt_failed(daemon, sent["id"], self.records, "400")
        self.assertIn("denied", body["attempts"][0]["detail"])

    def test_not_routable_is_rejected(self):
        self.script("+4915123456786", "NOT_ROUTABLE")
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+4915123456786"))
        final = daemon.wait_status(sent["id"], {"failed"})
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("rejected", "403")])

    def test_auth_failure_pauses_provider(self):
        daemon = self.start_daemon(self.settings(password="wrong-pass"))
        sent = daemon.send(sms_message("+4915123456780"))
        self.wait_records(1)
        attempt = self.assert_kept_and_paused(daemon, sent["id"], self.records,
                                              sms_message("+4915123456781"))
        self.assertEqual(str(attempt["code"]), "403")
        self.assertIn("Authorization failed", attempt["detail"])

    def test_server_errors_are_retried(self):
        self.script("+4915123456787", ["FAILED", "FAILED"])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+4915123456787"))
        final = daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual([r["status"] for r in self.records()], [500, 500, 202])
        self.assertEqual([a["outcome"] for a in final["attempts"]],
                         ["retry", "retry", "accepted"])

    def test_segments(self):
        daemon = self.start_daemon(self.settings())
        results = []
        for text, segments, coding in ((GSM_200, 2, "0"), (CYRILLIC_100, 2, "2")):
            sent = daemon.send(sms_message("+4915123456788", text))
            results.append((daemon.wait_status(sent["id"], {"sent"}), segments))
        self.assertEqual([(r["text"], r["coding"]) for r in self.records()],
                         [(GSM_200, "0"), (CYRILLIC_100, "2")])
        for final, segments in results:
            self.assert_segments(final, segments)

    # --- receipts ---------------------------------------------------------------------------------

    def test_dlr_delivered(self):
        port = free_port()
        dlr_url = f"http://127.0.0.1:{port}/v1/callbacks/{self.provider_name}"
        self.fake.script({"kannel": {"dlr_delay_ms": 150, "dlr": {"*": [8, 1]}}})
        daemon = self.start_daemon(self.settings(dlr_url=dlr_url, dlr_mask=3 + 8),
                                   listen_port=port)
        sent = daemon.send(sms_message("+4915123456780"))
        daemon.wait_status(sent["id"], {"sent", "delivered"})
        [record] = self.records()
        self.assertEqual(record["params"]["dlr-mask"], "11")
        asked = urllib.parse.urlsplit(record["params"]["dlr-url"])
        self.assertEqual(f"{asked.scheme}://{asked.netloc}{asked.path}", dlr_url)
        query = dict(urllib.parse.parse_qsl(asked.query))
        self.assertEqual((query.get("id"), query.get("type")), (sent["id"], "%d"), query)
        self.assertRegex(query.get("token", ""), r"^[0-9a-f]{32}$")
        final = self.wait_receipt(daemon, sent["id"], {"delivered"})
        [receipt] = final["receipts"]  # type 8 (SMSC ack) is intermediate: no receipt
        self.assertEqual((receipt["provider"], receipt["status"], receipt["effect"],
                          receipt.get("code")), ("kannel", "delivered", "applied", "dlr:1"), final)
        self.assertIn("stat:DELIVRD", receipt.get("detail", ""))
        deadline = time.monotonic() + 5
        while len(self.fake.state_snapshot()["callbacks"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        callbacks = self.fake.state_snapshot()["callbacks"]
        self.assertEqual([c["type"] for c in callbacks], [8, 1])
        for callback in callbacks:
            self.assert_2xx(callback.get("status"), callback)
            self.assertEqual(callback["query"].get("id"), sent["id"])

    def test_dlr_with_wrong_token_is_refused(self):
        port = free_port()
        dlr_url = f"http://127.0.0.1:{port}/v1/callbacks/{self.provider_name}"
        daemon = self.start_daemon(self.settings(dlr_url=dlr_url), listen_port=port)
        self.fake.script({"kannel": {"dlr": {"*": []}}})
        sent = daemon.send(sms_message("+4915123456780"))
        daemon.wait_status(sent["id"], {"sent", "delivered"})
        query = urllib.parse.urlencode({"id": sent["id"], "type": "1", "token": "0" * 32,
                                        "reply": "id:1 stat:DELIVRD"})
        resp = daemon.request("GET", f"/v1/callbacks/{self.provider_name}?{query}", token=None)
        self.assertIn(resp.status, (401, 403), resp)
        body = daemon.get(sent["id"])
        self.assertEqual(body["status"], "sent")
        self.assertEqual(body.get("receipts", []), [], body)


# --- http_sms (generic aggregator) ------------------------------------------------------------

class HttpSmsTest(ProviderTestCase):
    """A JSON aggregator played by fake_http.FakeHttpServer: the generic provider is configured
    entirely from settings, so the fake only has to answer with the agreed shape."""

    channel = "sms"
    provider_name = "aggregator"
    path = "/api/v2/sms"
    body = '{"to":"{to}","text":"{text}","sender":"{from}","ref":"{id}","kind":"{category}"}'

    def setUp(self):
        self.fake = FakeHttpServer()
        self.addCleanup(self.fake.close)
        self.fake.set_default(self.path, Reply(200, {"result": {"status": "queued"},
                                                     "message_id": "agg-77"}))

    def settings(self, **overrides):
        settings = {"kind": "http_sms", "url": self.fake.url(self.path),
                    "content_type": "application/json", "body": self.body,
                    "auth_token": "agg-secret", "auth_header": "X-Api-Key", "auth_scheme": "",
                    "from": "SHOP", "success_regex": '"status": *"queued"',
                    "allow_private": True}
        settings.update(overrides)
        return settings

    def records(self):
        return self.fake.requests(self.path)

    def test_delivered(self):
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+79161234567", category="transactional"))
        final = daemon.wait_status(sent["id"], {"sent"})
        [request] = self.records()
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.header("Content-Type"), "application/json")
        self.assertEqual(request.header("X-Api-Key"), "agg-secret")
        self.assertIsNone(request.header("Authorization"))
        self.assertEqual(request.json, {"to": "+79161234567", "text": TEXT, "sender": "SHOP",
                                        "ref": sent["id"], "kind": "transactional"})
        [attempt] = final["attempts"]
        self.assertEqual((attempt["outcome"], str(attempt["code"])), ("accepted", "200"))

    def test_json_success_path_and_message_id(self):
        # Keys ending in "_path" must reach the provider as written; the config loader's file
        # path resolution (isPathSetting) must not turn "result.status" into a file name.
        settings = self.settings(success_json_path="result.status", success_json_value="queued",
                                 message_id_json_path="message_id")
        del settings["success_regex"]
        daemon = self.start_daemon(settings)
        sent = daemon.send(sms_message("+79161234567"))
        final = daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual(final["attempts"][0].get("provider_message_id"), "agg-77", final)
        self.fake.script(self.path, Reply(200, {"result": {"status": "error"}}))
        refused = daemon.send(sms_message("+79161234568"))
        final = daemon.wait_status(refused["id"], {"failed"})
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["rejected"])
        self.assertIn("success_json_path result.status", final["attempts"][0]["detail"])
        self.assertEqual(len(self.records()), 2)

    def test_delivered_get_with_regex(self):
        # A GET aggregator with a text reply: Kannel's sendsms, as the fake SMS server plays it,
        # configured only through the generic provider's URL template and success_regex.
        kannel = FakeSms(kannel_user=KANNEL_USER, kannel_pass=KANNEL_PASS).start()
        self.addCleanup(kannel.stop)
        daemon = self.start_daemon({
            "kind": "http_sms", "method": "GET", "allow_private": True, "from": "SHOP",
            "url": kannel.url("/cgi-bin/sendsms") + f"?username={KANNEL_USER}"
                   f"&password={KANNEL_PASS}&to={{to}}&from={{from}}&text={{text}}&ref={{id}}",
            "success_regex": "^0: Accepted"})
        sent = daemon.send(sms_message("+79161234567"))
        final = daemon.wait_status(sent["id"], {"sent"})
        [record] = kannel.state_snapshot()["kannel"]
        self.assertEqual(record["method"], "GET")
        self.assertEqual(record["text"], TEXT)
        self.assertEqual(record["params"], {"username": KANNEL_USER, "password": KANNEL_PASS,
                                            "to": "+79161234567", "from": "SHOP",
                                            "ref": sent["id"]})
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("accepted", "202")])
        # The same aggregator answering 202 "3: Queued..." fails the regex: final, not resent.
        kannel.script({"kannel": {"recipients": {"+79161234500": "QUEUED"}}})
        refused = daemon.send(sms_message("+79161234500"))
        final = daemon.wait_status(refused["id"], {"failed"})
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["rejected"])
        self.assertIn("success_regex", final["attempts"][0]["detail"])

    def test_throttled_with_retry_after(self):
        self.fake.script(self.path, Reply(429, {"error": "slow down"},
                                          {"Retry-After": str(RETRY_AFTER)}))
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+79161234567"))
        final = daemon.wait_status(sent["id"], {"sent"}, timeout=15)
        first, second = self.records()
        self.assert_gap(first.at, second.at, RETRY_AFTER)
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "429"), ("accepted", "200")])
        self.assertEqual(second.json["text"], TEXT)

    def test_invalid_recipient_is_final(self):
        # The generic provider has no way to tell a dead number from any other refusal: every
        # 4xx but 401/403/408/429 is `rejected` (sms_providers.h). Final, never retried.
        self.fake.script(self.path, Reply(400, {"error": "invalid destination number"}))
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+79161234567"))
        final = daemon.wait_status(sent["id"], {"failed"})
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("rejected", "400")])
        time.sleep(0.4)
        self.assertEqual(len(self.records()), 1)

    def test_auth_failure_pauses_provider(self):
        self.fake.set_default(self.path, Reply(401, {"error": "invalid api key"}))
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+79161234567"))
        self.fake.wait_for(1, path=self.path)
        attempt = self.assert_kept_and_paused(daemon, sent["id"], self.records,
                                              sms_message("+79161234568"))
        self.assertEqual(str(attempt["code"]), "401")

    def test_server_errors_are_retried(self):
        self.fake.script(self.path, Reply(502, "bad gateway"), Reply(500, {"error": "oops"}))
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(sms_message("+79161234567"))
        final = daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "502"), ("retry", "500"), ("accepted", "200")])
        self.assertEqual(len(self.records()), 3)

    def test_segments(self):
        daemon = self.start_daemon(self.settings())
        results = []
        for text in (GSM_200, CYRILLIC_100):
            sent = daemon.send(sms_message("+79161234567", text))
            results.append(daemon.wait_status(sent["id"], {"sent"}))
        self.assertEqual([r.json["text"] for r in self.records()], [GSM_200, CYRILLIC_100])
        for final in results:
            self.assert_segments(final, 2)


# --- Telegram -------------------------------------------------------------------------------------

class TelegramTest(FakeMessengerMixin, ProviderTestCase):
    channel = "messenger"
    provider_name = "telegram"

    def settings(self, **overrides):
        settings = {"kind": "telegram", "bot_token": BOT_TOKEN, "base_url": self.fake.url()}
        settings.update(overrides)
        return settings

    def records(self):
        return self.fake.state_snapshot()["telegram"]

    def script(self, chat, outcomes):
        self.fake.script({"telegram": {"chats": {chat: outcomes}}})

    def test_delivered(self):
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("123456789"))
        final = daemon.wait_status(sent["id"], {"sent"})
        [record] = self.records()
        self.assertEqual((record["method"], record["path_method"]), ("POST", "sendMessage"))
        self.assertEqual(record["headers"].get("Content-Type"), "application/json")
        self.assertEqual(record["params"], {"chat_id": 123456789, "text": TEXT})
        self.assertEqual(record["text"], TEXT)
        [attempt] = final["attempts"]
        self.assertEqual((attempt["provider"], attempt["outcome"], str(attempt["code"])),
                         ("telegram", "accepted", "200"))
        self.assertEqual(attempt.get("provider_message_id"), str(record["message_id"]), final)

    def test_parse_modes_deliver_text_literally(self):
        text = "Цена 5.00 (−10%)! *не жирный* _x_ [a](b) `c` #tag a>b <b>&amp; 🚀 \\ ~"
        for mode in ("MarkdownV2", "HTML"):
            with self.subTest(parse_mode=mode):
                self.fake.reset()
                daemon = self.start_daemon(self.settings(parse_mode=mode,
                                                         disable_notification=True))
                sent = daemon.send(messenger_message("@shop_news", text))
                daemon.wait_status(sent["id"], {"sent"})
                [record] = self.records()
                self.assertEqual(record["params"]["parse_mode"], mode)
                self.assertEqual(record["params"]["chat_id"], "@shop_news")
                self.assertIs(record["params"]["disable_notification"], True)
                # The fake parses the markup like Telegram: what the user sees is the text.
                self.assertEqual(record["text"], text)

    def test_throttled_with_retry_after(self):
        self.script("1001", [{"outcome": "TOO_MANY_REQUESTS", "retry_after": RETRY_AFTER}])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("1001"))
        final = daemon.wait_status(sent["id"], {"sent"}, timeout=15)
        first, second = self.records()
        self.assertEqual(first["status"], 429)
        self.assert_gap(first["t"], second["t"], RETRY_AFTER)
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "429"), ("accepted", "200")])

    def test_invalid_recipient(self):
        for outcome, code in (("BLOCKED", "403"), ("DEACTIVATED", "403"),
                              ("CHAT_NOT_FOUND", "400"),
                              ("MIGRATED", "migrate_to_chat_id:-1001234567890")):
            with self.subTest(outcome=outcome):
                self.fake.reset()
                self.script("1002", outcome)
                daemon = self.start_daemon(self.settings())
                sent = daemon.send(messenger_message("1002"))
                self.assert_single_attempt_failed(daemon, sent["id"], self.records, code)

    def test_auth_failure_pauses_provider(self):
        daemon = self.start_daemon(self.settings(bot_token="654321:Revoked-Token_xyz"))
        sent = daemon.send(messenger_message("123456789"))
        deadline = time.monotonic() + 10
        while not self.records() and time.monotonic() < deadline:
            time.sleep(0.02)
        attempt = self.assert_kept_and_paused(daemon, sent["id"], self.records,
                                              messenger_message("123456788"))
        self.assertEqual(str(attempt["code"]), "401")
        self.assertEqual(self.records()[0]["status"], 401)

    def test_server_errors_are_retried(self):
        self.script("1003", ["SERVER_ERROR", "BAD_GATEWAY"])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("1003"))
        final = daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual([r["status"] for r in self.records()], [500, 502, 200])
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "500"), ("retry", "502"), ("accepted", "200")])


# --- WhatsApp -------------------------------------------------------------------------------------

class WhatsappTest(FakeMessengerMixin, ProviderTestCase):
    """The messenger channel's only contact is `to.telegram` (daemon/dispatch/payload.cc
    buildOutbound), so a WhatsApp number travels there; the provider drops the '+'."""

    channel = "messenger"
    provider_name = "whatsapp"

    def settings(self, **overrides):
        settings = {"kind": "whatsapp", "access_token": WA_TOKEN,
                    "phone_number_id": WA_PHONE_ID, "base_url": self.fake.url("/v19.0"),
                    "app_secret": WA_SECRET}
        settings.update(overrides)
        return settings

    def records(self):
        return self.fake.state_snapshot()["whatsapp"]

    def script(self, to, outcomes):
        self.fake.script({"whatsapp": {"recipients": {to: outcomes}}})

    def test_delivered_text(self):
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("+4915112345678"))
        final = daemon.wait_status(sent["id"], {"sent"})
        [record] = self.records()
        self.assertEqual(record["path"], f"/v19.0/{WA_PHONE_ID}/messages")
        self.assertEqual(record["headers"].get("Authorization"), f"Bearer {WA_TOKEN}")
        self.assertEqual(record["body"], {
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "4915112345678", "type": "text",
            "text": {"preview_url": False, "body": TEXT}})
        [attempt] = final["attempts"]
        self.assertEqual((attempt["outcome"], str(attempt["code"])), ("accepted", "200"))
        self.assertEqual(attempt.get("provider_message_id"), record["id"], final)
        self.assertTrue(record["id"].startswith("wamid."))

    def test_delivered_template(self):
        daemon = self.start_daemon(self.settings(template_name="order_update",
                                                 template_language="ru"))
        sent = daemon.send(messenger_message("+4915112345678"))
        daemon.wait_status(sent["id"], {"sent"})
        [record] = self.records()
        self.assertEqual(record["body"], {
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "4915112345678", "type": "template",
            "template": {"name": "order_update",
                         "language": {"code": "ru", "policy": "deterministic"},
                         "components": [{"type": "body", "parameters": [
                             {"type": "text", "text": TEXT}]}]}})

    def test_throttled_with_retry_after(self):
        self.script("4915100000001", [{"outcome": "RATE_LIMIT", "retry_after": RETRY_AFTER}])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("+4915100000001"))
        final = daemon.wait_status(sent["id"], {"sent"}, timeout=15)
        first, second = self.records()
        self.assertEqual((first["status"], first["code"]), (400, 130429))
        self.assert_gap(first["t"], second["t"], RETRY_AFTER)
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "130429"), ("accepted", "200")])

    def test_invalid_recipient(self):
        self.script("4915100000002", "UNDELIVERABLE")
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("+4915100000002"))
        self.assert_single_attempt_failed(daemon, sent["id"], self.records, "131026")

    def test_opted_out_and_outside_window(self):
        for outcome, expected in (("OPTED_OUT", ("opted_out", "131050")),
                                  ("REENGAGEMENT", ("rejected", "131047"))):
            with self.subTest(outcome=outcome):
                self.fake.reset()
                self.script("4915100000003", outcome)
                daemon = self.start_daemon(self.settings())
                sent = daemon.send(messenger_message("+4915100000003"))
                final = daemon.wait_status(sent["id"], {"failed"})
                self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                                 [expected])

    def test_auth_failure_pauses_provider(self):
        daemon = self.start_daemon(self.settings(access_token="expired-token"))
        sent = daemon.send(messenger_message("+4915112345678"))
        deadline = time.monotonic() + 10
        while not self.records() and time.monotonic() < deadline:
            time.sleep(0.02)
        attempt = self.assert_kept_and_paused(daemon, sent["id"], self.records,
                                              messenger_message("+4915112345679"))
        self.assertEqual(str(attempt["code"]), "190")

    def test_server_errors_are_retried(self):
        self.script("4915100000004", ["SERVER_ERROR", "UNAVAILABLE"])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("+4915100000004"))
        final = daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual([r["status"] for r in self.records()], [500, 503, 200])
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "131000"), ("retry", "503"), ("accepted", "200")])

    # --- receipts ---------------------------------------------------------------------------------

    def webhook_daemon(self, statuses, forge=False):
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1/callbacks/{self.provider_name}"
        daemon = self.start_daemon(self.settings(), listen_port=port)
        self.fake.script({"whatsapp": {"webhook_url": url, "status_delay_ms": 150,
                                       "statuses": {"*": statuses},
                                       "forge_signatures": forge}})
        return daemon

    def wait_webhooks(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            hooks = self.fake.state_snapshot()["webhooks"]
            if len(hooks) >= count:
                return hooks
            if time.monotonic() > deadline:
                self.fail(f"{count} webhook(s) expected, the fake made {hooks}")
            time.sleep(0.05)

    def test_status_webhook_delivered_then_read(self):
        daemon = self.webhook_daemon(["sent", "delivered", "read"])
        sent = daemon.send(messenger_message("+4915112345678"))
        final = self.wait_receipt(daemon, sent["id"], {"read"})
        wamid = self.records()[0]["id"]
        self.assertEqual(final["attempts"][0].get("provider_message_id"), wamid)
        hooks = self.wait_webhooks(3)
        self.assertEqual([h["status"] for h in hooks], ["sent", "delivered", "read"])
        for hook in hooks:
            self.assert_2xx(hook.get("reply_status"), hook)
        self.assertEqual([(r["status"], r["effect"], r.get("provider_message_id"))
                          for r in final["receipts"]],
                         [("delivered", "applied", wamid), ("read", "applied", wamid)], final)

    def test_status_webhook_failed(self):
        daemon = self.webhook_daemon(["sent", {"status": "failed", "code": 131026,
                                               "title": "Message undeliverable"}])
        sent = daemon.send(messenger_message("+4915112345678"))
        final = self.wait_receipt(daemon, sent["id"], {"failed"})
        [receipt] = final["receipts"]
        self.assertEqual((receipt["status"], receipt["effect"], receipt.get("code")),
                         ("failed", "applied", "131026"), final)
        self.assertIn("Message undeliverable", receipt.get("detail", ""))

    def test_status_webhook_forged(self):
        daemon = self.webhook_daemon(["delivered"], forge=True)
        sent = daemon.send(messenger_message("+4915112345678"))
        daemon.wait_status(sent["id"], {"sent", "delivered", "read"})
        [hook] = self.wait_webhooks(1)
        self.assertIn(hook.get("reply_status"), (401, 403), hook)
        time.sleep(0.3)
        body = daemon.get(sent["id"])
        self.assertEqual(body["status"], "sent")
        self.assertEqual(body.get("receipts", []), [], body)


# --- Slack / Mattermost webhook -------------------------------------------------------------------

class ChatWebhookTest(FakeMessengerMixin, ProviderTestCase):
    """The webhook, not a person, is the destination: the recipient contact is required by the
    messenger channel but ignored, and a dead webhook is the admin's problem (misconfigured)."""

    channel = "messenger"
    provider_name = "slack"

    def settings(self, **overrides):
        settings = {"kind": "chat_webhook", "url": self.fake.url(SLACK_PATH),
                    "allow_private": True, "username": "omnigate", "icon_emoji": ":truck:"}
        settings.update(overrides)
        return settings

    def records(self):
        return self.fake.state_snapshot()["slack"]

    def script(self, outcomes):
        self.fake.script({"slack": {"hooks": {SLACK_PATH: outcomes}}})

    def test_delivered(self):
        daemon = self.start_daemon(self.settings(channel="#orders"))
        sent = daemon.send(messenger_message("ops"))
        final = daemon.wait_status(sent["id"], {"sent"})
        [record] = self.records()
        self.assertEqual(record["headers"].get("Content-Type"), "application/json")
        self.assertEqual(record["body"], {"text": slack_escape(TEXT), "username": "omnigate",
                                          "channel": "#orders", "icon_emoji": ":truck:"})
        self.assertEqual((record["status"], record["reply"]), (200, "ok"))
        [attempt] = final["attempts"]
        self.assertEqual((attempt["provider"], attempt["outcome"], str(attempt["code"])),
                         ("slack", "accepted", "200"))
        self.assertNotIn("provider_message_id", attempt)  # Slack returns no id

    def test_mattermost_text_is_not_escaped(self):
        path = "/hooks/xk3f9a"
        daemon = self.start_daemon({"kind": "chat_webhook", "url": self.fake.url(path),
                                    "allow_private": True, "flavor": "mattermost"})
        sent = daemon.send(messenger_message("ops"))
        daemon.wait_status(sent["id"], {"sent"})
        [record] = self.records()
        self.assertEqual(record["path"], path)
        self.assertEqual(record["body"], {"text": TEXT})

    def test_throttled_with_retry_after(self):
        self.script([{"outcome": "RATE_LIMITED", "retry_after": RETRY_AFTER}])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("ops"))
        final = daemon.wait_status(sent["id"], {"sent"}, timeout=15)
        first, second = self.records()
        self.assertEqual(first["status"], 429)
        self.assert_gap(first["t"], second["t"], RETRY_AFTER)
        self.assertEqual([(a["outcome"], str(a["code"])) for a in final["attempts"]],
                         [("retry", "429 rate_limited"), ("accepted", "200")])

    def test_dead_webhook_pauses_provider(self):
        # No contact can be dead here (messenger_providers.h): 404/410 mean the webhook is gone.
        for outcome, code in (("CHANNEL_NOT_FOUND", "404 channel_not_found"),
                              ("ARCHIVED", "410 channel_is_archived")):
            with self.subTest(outcome=outcome):
                self.fake.reset()
                self.script(outcome)
                daemon = self.start_daemon(self.settings())
                sent = daemon.send(messenger_message("ops"))
                deadline = time.monotonic() + 10
                while not self.records() and time.monotonic() < deadline:
                    time.sleep(0.02)
                attempt = self.assert_kept_and_paused(daemon, sent["id"], self.records,
                                                      messenger_message("ops-2"))
                self.assertEqual(attempt["code"], code)

    def test_auth_failure_pauses_provider(self):
        self.script("PROHIBITED")
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("ops"))
        deadline = time.monotonic() + 10
        while not self.records() and time.monotonic() < deadline:
            time.sleep(0.02)
        attempt = self.assert_kept_and_paused(daemon, sent["id"], self.records,
                                              messenger_message("ops-2"))
        self.assertEqual(attempt["code"], "403 action_prohibited")

    def test_bad_payload_is_rejected(self):
        self.script("INVALID_PAYLOAD")
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("ops"))
        final = daemon.wait_status(sent["id"], {"failed"})
        self.assertEqual([(a["outcome"], a["code"]) for a in final["attempts"]],
                         [("rejected", "400 invalid_payload")])

    def test_server_errors_are_retried(self):
        self.script(["ROLLUP_ERROR", "ROLLUP_ERROR"])
        daemon = self.start_daemon(self.settings())
        sent = daemon.send(messenger_message("ops"))
        final = daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual([r["status"] for r in self.records()], [500, 500, 200])
        self.assertEqual([a["outcome"] for a in final["attempts"]],
                         ["retry", "retry", "accepted"])


if __name__ == "__main__":
    unittest.main()
