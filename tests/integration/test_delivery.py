"""Delivery through the webhook provider: the wire body, retries, backoff, Retry-After, permanent
failures, TTL, scheduling, cancellation, idempotency and channel fallback."""

import json
import math
import os
import threading
import time
import unittest

from harness import Daemon, ULID_RE, base_config, email_message, rfc3339, stop_after_test
from fake_http import FakeHttpServer, Reply


class DeliveryTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeHttpServer()
        self.addCleanup(self.fake.close)
        self._daemon = None

    @property
    def daemon(self):
        """The default daemon, started on first use (tests that need another config start
        their own with start_daemon). Touch it before starting threads: this is not locked."""
        if self._daemon is None:
            self._daemon = self.start_daemon(base_config(self.fake))
        return self._daemon

    def start_daemon(self, config):
        daemon = Daemon(config)
        daemon.__enter__()
        stop_after_test(self, daemon)
        return daemon

    def assert_quiet(self, path, count, seconds=0.5):
        """Nothing more arrives at `path` for `seconds`."""
        time.sleep(seconds)
        self.assertEqual(self.fake.count(path), count, self.fake.requests(path))

    # --- the happy path ---------------------------------------------------------------------------

    def test_delivered_with_contract_body(self):
        message = email_message("a@example.com", subject="Order shipped", text="It is on its way",
                                metadata={"order": "A-17"})
        message["content"]["email"]["html"] = "<p>It is on its way</p>"
        accepted = self.daemon.send(message)
        self.assertRegex(accepted["id"], ULID_RE)
        self.assertEqual(accepted["status"], "queued")
        self.assertEqual(accepted["channel"], "email")
        self.assertEqual(accepted["plan"], ["email"])
        self.assertIsInstance(accepted["decision"], list)
        for step in accepted["decision"]:
            self.assertIn("step", step)
            self.assertIn("result", step)

        [request] = self.fake.wait_for(1, path="/email")
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.header("Content-Type").split(";")[0].strip(), "application/json")
        self.assertEqual(request.header("Idempotency-Key"), accepted["id"])
        self.assertEqual(request.json, {
            "id": accepted["id"], "channel": "email", "category": "transactional", "attempt": 1,
            "to": "a@example.com", "subject": "Order shipped", "text": "It is on its way",
            "html": "<p>It is on its way</p>", "metadata": {"order": "A-17"}})

        final = self.daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual(final["channel"], "email")
        self.assertEqual(final["plan"], ["email"])
        self.assertEqual(final["category"], "transactional")
        for field in ("created_at", "updated_at", "decision"):
            self.assertIn(field, final)
        self.assertEqual(len(final["attempts"]), 1, final)
        attempt = final["attempts"][0]
        self.assertEqual(attempt["n"], 1)
        self.assertEqual(attempt["channel"], "email")
        self.assertEqual(attempt["provider"], "hook")
        self.assertEqual(attempt["outcome"], "accepted")
        self.assertEqual(str(attempt["code"]), "200")
        self.assertIn("started_at", attempt)
        self.assertIn("finished_at", attempt)
        self.assert_quiet("/email", 1)
        self.assertEqual(self.fake.count("/sms"), 0)

    def test_sms_body(self):
        accepted = self.daemon.send({"to": {"phone": "+79161234567"},
                                     "content": {"sms": {"text": "Code 1234"}},
                                     "category": "otp"})
        self.assertEqual(accepted["plan"], ["sms"])
        [request] = self.fake.wait_for(1, path="/sms")
        self.assertEqual(request.json, {"id": accepted["id"], "channel": "sms", "category": "otp",
                                        "attempt": 1, "to": "+79161234567", "text": "Code 1234"})
        self.daemon.wait_status(accepted["id"], {"sent"})

    # --- retries ----------------------------------------------------------------------------------

    def test_503_then_200_is_retried_and_sent(self):
        self.fake.script("/email", Reply(503, {"error": "busy"}))
        accepted = self.daemon.send(email_message())
        final = self.daemon.wait_status(accepted["id"], {"sent"})
        requests = self.fake.requests("/email")
        self.assertEqual(len(requests), 2, requests)
        self.assertEqual([r.json["attempt"] for r in requests], [1, 2])
        self.assertEqual({r.header("Idempotency-Key") for r in requests}, {accepted["id"]})
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"])
        self.assertEqual(str(final["attempts"][0]["code"]), "503")
        self.assert_quiet("/email", 2)

    def test_statuses_that_are_retried(self):
        for status in (500, 502, 503, 504, 408):
            with self.subTest(status=status):
                before = self.fake.count("/email")
                self.fake.script("/email", Reply(status, {"error": "transient"}))
                accepted = self.daemon.send(email_message())
                final = self.daemon.wait_status(accepted["id"], {"sent"})
                self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"])
                self.assertEqual(self.fake.count("/email") - before, 2)

    def test_statuses_that_fail_permanently(self):
        for status in (400, 404, 410, 413, 422):
            with self.subTest(status=status):
                before = self.fake.count("/email")
                self.fake.script("/email", Reply(status, "no such mailbox here"))
                accepted = self.daemon.send(email_message())
                final = self.daemon.wait_status(accepted["id"], {"failed"})
                self.assertIn(str(status), final.get("reason", ""), final)
                self.assertIn("no such mailbox", final.get("reason", ""), final)
                self.assertEqual(self.fake.count("/email") - before, 1)

    def test_503_retry_after_is_honoured(self):
        self.fake.script("/email", Reply(503, headers={"Retry-After": "2"}))
        accepted = self.daemon.send(email_message())
        first, second = self.fake.wait_for(2, timeout=8, path="/email")
        self.assertGreaterEqual(second.at - first.at, 2.0 - 0.005)
        self.daemon.wait_status(accepted["id"], {"sent"})

    def test_429_retry_after_is_honoured(self):
        self.fake.script("/email", Reply(429, {"error": "slow down"}, headers={"Retry-After": "2"}))
        accepted = self.daemon.send(email_message())
        first, second = self.fake.wait_for(2, timeout=8, path="/email")
        waited = second.at - first.at
        # The daemon's timestamps have millisecond resolution; allow that much rounding.
        self.assertGreaterEqual(waited, 2.0 - 0.005, "retried before Retry-After elapsed")
        self.assertLess(waited, 4.0, "retry came far later than Retry-After")
        self.daemon.wait_status(accepted["id"], {"sent"})

    def test_429_http_date_retry_after_is_honoured(self):
        retry_at = math.ceil(time.time()) + 2
        http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(retry_at))
        self.fake.script("/email", Reply(429, headers={"Retry-After": http_date}))
        accepted = self.daemon.send(email_message())
        _, second = self.fake.wait_for(2, timeout=8, path="/email")
        self.assertGreaterEqual(second.wall, retry_at - 0.005)
        self.daemon.wait_status(accepted["id"], {"sent"})

    def test_429_pauses_the_provider_for_other_messages(self):
        self.fake.script("/email", Reply(429, headers={"Retry-After": "2"}))
        first = self.daemon.send(email_message("a@example.com"))
        [throttled] = self.fake.wait_for(1, path="/email")
        second = self.daemon.send(email_message("b@example.com"))
        requests = self.fake.wait_for(3, timeout=8, path="/email")
        for later in requests[1:]:
            self.assertGreaterEqual(later.at - throttled.at, 2.0 - 0.005,
                                    f"provider was not paused: {requests}")
        self.daemon.wait_status(first["id"], {"sent"})
        self.daemon.wait_status(second["id"], {"sent"})

    def test_permanent_400_fails_with_reason(self):
        self.fake.set_default("/email", Reply(400, {"error": "mailbox syntax invalid"}))
        accepted = self.daemon.send(email_message())
        final = self.daemon.wait_status(accepted["id"], {"failed"})
        self.assertIn("400", final.get("reason", ""), final)
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["rejected"])
        self.assertIn("400", final["attempts"][0]["detail"])
        self.assertIn("mailbox syntax invalid", final["attempts"][0]["detail"])
        self.assert_quiet("/email", 1)

    def test_retries_exhausted_after_max_attempts(self):
        self.fake.set_default("/email", Reply(503))
        accepted = self.daemon.send(email_message())
        # base 200ms, max 1s, full jitter: three backoffs take at most 0.2 + 0.4 + 0.8 s.
        final = self.daemon.wait_status(accepted["id"], {"failed"}, timeout=8)
        requests = self.fake.requests("/email")
        self.assertEqual(len(requests), 4)
        self.assertEqual([r.json["attempt"] for r in requests], [1, 2, 3, 4])
        # Full jitter: the n-th backoff lies in [0, min(max, base * 2^(n-1))]; 0.25 s of slack
        # covers the round trip and scheduling.
        for n, (before, after) in enumerate(zip(requests, requests[1:]), start=1):
            ceiling = min(1.0, 0.2 * 2 ** (n - 1))
            self.assertLess(after.at - before.done_at, ceiling + 0.25,
                            f"backoff {n} exceeded its ceiling of {ceiling}s")
        self.assertEqual(len(final["attempts"]), 4, final)
        self.assertTrue(all(a["outcome"] == "retry" for a in final["attempts"]), final)
        self.assertTrue(final.get("reason"), final)
        self.assert_quiet("/email", 4, seconds=1.2)

    def test_connection_refused_is_retried(self):
        # Point sms at a port with nothing listening, then at the fake: the first attempt fails
        # at connect time and must count as a retry, not a failure.
        closed = FakeHttpServer()
        closed_port = closed.port
        closed.close()
        config = base_config(self.fake)
        config["providers"]["hook-sms"]["url"] = f"http://127.0.0.1:{closed_port}/sms"
        daemon = self.start_daemon(config)
        accepted = daemon.send({"to": {"phone": "+79161234567"},
                                "content": {"sms": {"text": "x"}}})
        final = daemon.wait_status(accepted["id"], {"failed"}, timeout=8)
        self.assertEqual(len(final["attempts"]), 4, final)
        self.assertTrue(all(a["outcome"] == "retry" for a in final["attempts"]), final)

    def test_hanging_provider_times_out_and_is_retried(self):
        config = base_config(self.fake)
        config["providers"]["hook"]["timeout"] = "1s"
        daemon = self.start_daemon(config)
        self.fake.script("/email", Reply(hang=True))
        accepted = daemon.send(email_message())
        first, second = self.fake.wait_for(2, timeout=6, path="/email")
        self.assertGreaterEqual(second.at - first.at, 1.0 - 0.005)
        final = daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"])

    def test_max_concurrency_is_respected(self):
        config = base_config(self.fake)
        config["providers"]["hook"]["max_concurrency"] = 2
        daemon = self.start_daemon(config)
        self.fake.set_default("/email", Reply(delay=0.3))
        ids = [daemon.send(email_message(f"u{i}@example.com"))["id"] for i in range(6)]
        for message_id in ids:
            daemon.wait_status(message_id, {"sent"})
        self.assertEqual(self.fake.count("/email"), 6)
        self.assertEqual(self.fake.max_concurrency("/email"), 2)

    def test_message_in_backoff_survives_restart(self):
        self.fake.script("/email", Reply(503, headers={"Retry-After": "2"}))
        accepted = self.daemon.send(email_message())
        [first] = self.fake.wait_for(1, path="/email")
        self.daemon.stop()
        self.daemon.restart()
        self.assertEqual(self.daemon.get(accepted["id"])["status"], "queued")
        _, second = self.fake.wait_for(2, timeout=6, path="/email")
        self.assertGreaterEqual(second.at - first.at, 2.0 - 0.005,
                                "a restart forgot the Retry-After")
        final = self.daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"])

    def test_cancel_during_backoff_stops_retries(self):
        self.fake.set_default("/email", Reply(503, headers={"Retry-After": "2"}))
        accepted = self.daemon.send(email_message())
        self.fake.wait_for(1, path="/email")
        time.sleep(0.2)  # let the retry verdict be recorded
        resp = self.daemon.request("DELETE", f"/v1/messages/{accepted['id']}")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.daemon.get(accepted["id"])["status"], "cancelled")
        self.assert_quiet("/email", 1, seconds=2.5)
        self.assertEqual(self.daemon.get(accepted["id"])["status"], "cancelled")

    def test_ttl_expiry(self):
        self.fake.set_default("/email", Reply(503, headers={"Retry-After": "30"}))
        accepted = self.daemon.send(email_message(ttl="1s"))
        final = self.daemon.wait_status(accepted["id"], {"expired"}, timeout=5)
        self.assertIn("expires_at", final)
        self.assertTrue(final.get("reason"), final)
        self.assertEqual(self.fake.count("/email"), 1)

    # --- scheduling and cancellation --------------------------------------------------------------

    def test_send_at_in_the_future(self):
        send_at = math.ceil(time.time()) + 2
        accepted = self.daemon.send(email_message(send_at=rfc3339(send_at)))
        self.assertEqual(accepted["status"], "scheduled")
        record = self.daemon.get(accepted["id"])
        self.assertEqual(record["status"], "scheduled")
        self.assertIn("send_at", record)
        time.sleep(max(0.0, send_at - time.time() - 0.3))
        self.assertEqual(self.fake.count("/email"), 0, "delivered before send_at")
        [request] = self.fake.wait_for(1, timeout=4, path="/email")
        self.assertGreaterEqual(request.wall, send_at - 0.005)
        self.assertLess(request.wall, send_at + 2.0)
        self.daemon.wait_status(accepted["id"], {"sent"})

    def test_send_at_in_the_past_is_queued(self):
        accepted = self.daemon.send(email_message(send_at=rfc3339(time.time() - 3600)))
        self.assertEqual(accepted["status"], "queued")
        self.daemon.wait_status(accepted["id"], {"sent"})

    def test_cancel_before_send(self):
        send_at = math.ceil(time.time()) + 2
        accepted = self.daemon.send(email_message(send_at=rfc3339(send_at)))
        self.assertEqual(accepted["status"], "scheduled")
        resp = self.daemon.request("DELETE", f"/v1/messages/{accepted['id']}")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json, {"id": accepted["id"], "status": "cancelled"})
        self.assertEqual(self.daemon.get(accepted["id"])["status"], "cancelled")
        again = self.daemon.request("DELETE", f"/v1/messages/{accepted['id']}")
        self.assertEqual(again.status, 409, again)
        self.assertEqual(again.error_code, "already_final")
        time.sleep(max(0.0, send_at - time.time() + 1.0))
        self.assertEqual(self.fake.count(), 0, self.fake.requests())
        self.assertEqual(self.daemon.get(accepted["id"])["status"], "cancelled")

    def test_cancel_after_sent_is_409(self):
        accepted = self.daemon.send(email_message())
        self.daemon.wait_status(accepted["id"], {"sent"})
        resp = self.daemon.request("DELETE", f"/v1/messages/{accepted['id']}")
        self.assertEqual(resp.status, 409, resp)
        self.assertEqual(resp.error_code, "already_final")
        self.assertEqual(self.daemon.get(accepted["id"])["status"], "sent")

    # --- idempotency ------------------------------------------------------------------------------

    def test_idempotent_replay_returns_same_id_and_delivers_once(self):
        message = email_message(metadata={"n": 1})
        first = self.daemon.send(message, key="order-17-shipped")
        second = self.daemon.send(message, key="order-17-shipped", expect=(200, 202))
        self.assertEqual(second["id"], first["id"])
        self.daemon.wait_status(first["id"], {"sent"})
        # A replay after delivery still names the same message and sends nothing new.
        third = self.daemon.send(message, key="order-17-shipped", expect=(200, 202))
        self.assertEqual(third["id"], first["id"])
        self.assert_quiet("/email", 1)
        # Insignificant whitespace is not part of "the same body".
        spaced = json.dumps(message, indent=2)
        resp = self.daemon.request("POST", "/v1/messages", spaced,
                                   headers={"Content-Type": "application/json",
                                            "Idempotency-Key": "order-17-shipped"})
        self.assertIn(resp.status, (200, 202), resp)
        self.assertEqual(resp.json["id"], first["id"])

    def test_idempotent_replay_ignores_member_order(self):
        # JSON object members are unordered; a client that re-serializes the same request (most
        # JSON libraries do not promise an order) is making the same request.
        message = email_message(metadata={"a": 1, "b": 2})
        first = self.daemon.send(message, key="order-member-order")
        reordered = {"metadata": {"b": 2, "a": 1}, "content": message["content"],
                     "to": message["to"]}
        again = self.daemon.send(reordered, key="order-member-order", expect=(200, 202))
        self.assertEqual(again["id"], first["id"])

    def test_concurrent_requests_with_one_key_make_one_message(self):
        message = email_message(metadata={"race": True})
        results, errors = [], []
        clients = [self.daemon.client() for _ in range(16)]

        def post(client):
            try:
                resp = client.request("POST", "/v1/messages", message,
                                      headers={"Idempotency-Key": "race-1"})
                results.append((resp.status, resp.json.get("id")))
            except Exception as e:  # collected: a thread must not swallow a failure
                errors.append(e)
            finally:
                client.close()

        threads = [threading.Thread(target=post, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 16)
        self.assertTrue(all(status in (200, 202) for status, _ in results), results)
        ids = {message_id for _, message_id in results}
        self.assertEqual(len(ids), 1, results)
        self.daemon.wait_status(ids.pop(), {"sent"})
        self.assert_quiet("/email", 1)

    def test_same_key_different_body_is_409(self):
        first = self.daemon.send(email_message(text="one"), key="k-1")
        resp = self.daemon.request("POST", "/v1/messages", email_message(text="two"),
                                   headers={"Idempotency-Key": "k-1"})
        self.assertEqual(resp.status, 409, resp)
        self.assertEqual(resp.error_code, "idempotency_conflict")
        self.daemon.wait_status(first["id"], {"sent"})
        self.assert_quiet("/email", 1)
        self.assertEqual(self.fake.requests("/email")[0].json["text"], "one")

    def test_different_keys_make_different_messages(self):
        message = email_message()
        a = self.daemon.send(message, key="key-a")
        b = self.daemon.send(message, key="key-b")
        self.assertNotEqual(a["id"], b["id"])
        self.fake.wait_for(2, path="/email")

    # --- fallback ---------------------------------------------------------------------------------

    def test_fallback_to_sms_after_permanent_email_failure(self):
        self.fake.set_default("/email", Reply(400, {"error": "bad address"}))
        accepted = self.daemon.send({
            "to": {"email": "a@example.com", "phone": "+79161234567"},
            "content": {"email": {"subject": "S", "text": "by mail"}, "sms": {"text": "by sms"}},
            "channels": ["email", "sms"], "strategy": "fallback"})
        self.assertEqual(accepted["plan"], ["email", "sms"])
        self.assertEqual(accepted["channel"], "email")
        [sms] = self.fake.wait_for(1, path="/sms")
        self.assertEqual(sms.json["channel"], "sms")
        self.assertEqual(sms.json["to"], "+79161234567")
        self.assertEqual(sms.json["text"], "by sms")
        final = self.daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual(final["channel"], "sms")
        self.assertEqual([(a["channel"], a["outcome"]) for a in final["attempts"]],
                         [("email", "rejected"), ("sms", "accepted")])
        self.assert_quiet("/sms", 1)
        self.assertEqual(self.fake.count("/email"), 1)

    def test_default_plan_order_prefers_sms_over_email(self):
        accepted = self.daemon.send({
            "to": {"email": "a@example.com", "phone": "+79161234567"},
            "content": {"email": {"subject": "S", "text": "t"}, "sms": {"text": "t"}}})
        self.assertEqual(accepted["plan"], ["sms", "email"])
        self.assertEqual(accepted["channel"], "sms")
        self.daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual(self.fake.count("/sms"), 1)
        self.assertEqual(self.fake.count("/email"), 0)

    # --- shutdown ---------------------------------------------------------------------------------

    def test_sigterm_finishes_in_flight_delivery(self):
        self.fake.script("/email", Reply(delay=1.0))
        accepted = self.daemon.send(email_message())
        self.fake.wait_for(1, path="/email")
        stopped_at = time.monotonic()
        self.daemon.stop()  # asserts exit code 0
        self.assertGreaterEqual(time.monotonic() - stopped_at, 0.5,
                                "exited without waiting for the in-flight delivery")
        self.daemon.restart()
        final = self.daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["accepted"])
        self.assert_quiet("/email", 1)

    def test_sigterm_with_a_stuck_provider_exits_and_retries_after_restart(self):
        # The provider never answers; its 5 s timeout ends the attempt during the drain, and the
        # attempt must be retried after the restart, never counted as sent.
        self.fake.script("/email", Reply(hang=True))
        accepted = self.daemon.send(email_message())
        self.fake.wait_for(1, path="/email")
        self.daemon.stop(timeout=20)
        self.daemon.restart()
        final = self.daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual(final["attempts"][-1]["outcome"], "accepted")
        self.assertNotEqual(final["attempts"][0]["outcome"], "accepted")
        self.assertEqual(self.fake.count("/email"), 2)

    def test_pending_message_survives_restart(self):
        send_at = math.ceil(time.time()) + 2
        accepted = self.daemon.send(email_message(send_at=rfc3339(send_at)))
        self.daemon.restart()
        self.assertEqual(self.daemon.get(accepted["id"])["status"], "scheduled")
        self.fake.wait_for(1, timeout=5, path="/email")
        self.daemon.wait_status(accepted["id"], {"sent"})


class OutboxTest(unittest.TestCase):
    def test_outbox_writes_message_file_beside_config(self):
        config = base_config(channels={"email": {"providers": ["box"]}},
                             providers={"box": {"kind": "outbox", "dir": "outbox"}})
        with Daemon(config) as daemon:
            accepted = daemon.send(email_message("o@example.com", subject="Boxed", text="T"))
            daemon.wait_status(accepted["id"], {"sent"})
            path = daemon.path("outbox", "email", accepted["id"] + ".json")
            self.assertTrue(os.path.exists(path), f"no {path}; outbox holds "
                            f"{list(os.walk(daemon.path()))}")
            with open(path) as f:
                body = json.load(f)
            self.assertEqual(body["id"], accepted["id"])
            self.assertEqual(body["to"], "o@example.com")
            self.assertEqual(body["subject"], "Boxed")
            # Relative paths resolve against the config's directory, not the working directory.
            self.assertTrue(os.path.exists(daemon.db_path))
            self.assertFalse(os.path.exists(os.path.join(daemon.cwd, "outbox")))
            self.assertFalse(os.path.exists(os.path.join(daemon.cwd, "omnigate.db")))


if __name__ == "__main__":
    unittest.main()
