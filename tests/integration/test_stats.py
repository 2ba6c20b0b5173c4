"""GET /v1/stats and POST /v1/messages/{id}/retry over the real daemon (the CLI's contract)."""

import time
import unittest

from harness import Daemon, base_config, email_message  # first: it puts tests/fakes on the path
from fake_http import FakeHttpServer, Reply  # noqa: E402

QUEUE_STATES = {"queued", "scheduled", "sending", "sent", "delivered", "read", "failed",
                "expired", "cancelled", "suppressed"}
UNKNOWN_ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def wait_for(predicate, timeout=10.0, interval=0.1):
    """Polls because the queue counts are snapshots refreshed about once a second."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class StatsTest(unittest.TestCase):
    def stats(self, daemon):
        resp = daemon.request("GET", "/v1/stats")
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.headers["content-type"].startswith("application/json"))
        return resp.json

    def test_stats_after_a_send_and_a_failure(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            fake.script("/email", Reply(200))
            sent = daemon.send(email_message("a@example.com"))
            daemon.wait_status(sent["id"], {"sent"})
            fake.set_default("/email", Reply(400, {"error": "no"}))
            failed = daemon.send(email_message("b@example.com", subject="other"))
            daemon.wait_status(failed["id"], {"failed"})

            stats = wait_for(lambda: (lambda s: s if s["queue"]["failed"] == 1 else None)(
                self.stats(daemon)))
            self.assertIsNotNone(stats, "the failure never showed in /v1/stats")
            self.assertRegex(stats["version"], r"^\d+\.\d+\.\d+")
            self.assertIsInstance(stats["uptime_seconds"], int)
            self.assertGreaterEqual(stats["uptime_seconds"], 0)
            self.assertEqual(set(stats["queue"]), QUEUE_STATES)
            self.assertEqual(stats["queue"]["sent"], 1)
            self.assertEqual(stats["queue"]["failed"], 1)
            self.assertEqual(stats["queue"]["queued"], 0)
            self.assertIsNone(stats["oldest_due_age_seconds"])
            hook = stats["providers"]["hook"]
            self.assertEqual(hook, {"attempts": 2, "accepted": 1, "in_flight": 0,
                                    "paused": False})
            self.assertEqual(stats["providers"]["hook-sms"]["attempts"], 0)
            self.assertEqual(stats["admission"]["admitted"]["queued"], 2)
            self.assertEqual(stats["admission"]["idempotent_replays"], 0)
            self.assertGreater(stats["store"]["wal_bytes"], 0)
            self.assertGreaterEqual(stats["store"]["commits"], 4)  # 2 submits, 2 claims at least

    def test_oldest_due_age_grows_while_a_message_waits(self):
        config = base_config()
        config["channels"] = {"email": {"providers": ["slow"]}}
        with FakeHttpServer() as fake:
            config["providers"] = {"slow": {"kind": "webhook", "url": fake.url("/email"),
                                            "allow_private": True, "max_concurrency": 1,
                                            "timeout": "10s"}}
            with Daemon(config) as daemon:
                fake.set_default("/email", Reply(200, delay=4.0))
                daemon.send(email_message("a@example.com"))
                waiting = daemon.send(email_message("b@example.com", subject="second"))
                age = wait_for(lambda: self.stats(daemon)["oldest_due_age_seconds"], timeout=3.5)
                self.assertIsNotNone(age, "a due message waiting behind the first has no age")
                self.assertGreater(age, 0)
                self.assertLess(age, 10)
                self.assertEqual(daemon.get(waiting["id"])["status"], "queued")
                stats = self.stats(daemon)
                self.assertEqual(stats["providers"]["slow"]["in_flight"], 1)
                self.assertGreaterEqual(stats["queue"]["sending"], 1)

    def test_scheduled_message_is_not_due(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            daemon.send(email_message("a@example.com", send_at=later))
            stats = wait_for(lambda: (lambda s: s if s["queue"]["scheduled"] == 1 else None)(
                self.stats(daemon)))
            self.assertIsNotNone(stats)
            self.assertIsNone(stats["oldest_due_age_seconds"])

    def test_stats_needs_the_token_and_get(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            self.assertEqual(daemon.request("GET", "/v1/stats", token=None).status, 401)
            self.assertEqual(daemon.request("GET", "/v1/stats", token="wrong").status, 401)
            resp = daemon.request("POST", "/v1/stats", body={})
            self.assertEqual(resp.status, 405)
            self.assertEqual(resp.error_code, "method_not_allowed")


class RetryTest(unittest.TestCase):
    def test_failed_message_is_queued_again_and_sent(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            fake.set_default("/email", Reply(400, {"error": "no"}))
            msg = daemon.send(email_message("a@example.com"))
            daemon.wait_status(msg["id"], {"failed"})
            fake.set_default("/email", Reply(200))
            resp = daemon.request("POST", f"/v1/messages/{msg['id']}/retry")
            self.assertEqual(resp.status, 200, resp)
            body = resp.json
            self.assertEqual(body["id"], msg["id"])
            self.assertEqual(body["status"], "queued")
            self.assertEqual(body["channel"], "email")
            self.assertEqual(body["reason"], "retried by the caller")
            self.assertEqual([a["outcome"] for a in body["attempts"]], ["rejected"])
            final = daemon.wait_status(msg["id"], {"sent"})
            self.assertEqual([a["outcome"] for a in final["attempts"]], ["rejected", "accepted"])
            self.assertEqual(len(fake.requests("/email")), 2)

            again = daemon.request("POST", f"/v1/messages/{msg['id']}/retry")
            self.assertEqual(again.status, 409, again)
            self.assertEqual(again.error_code, "not_retryable")
            metrics = daemon.request("GET", "/metrics", token=None).body.decode()
            self.assertIn("omnigate_messages_retried_total 1\n", metrics)

    def test_retry_restarts_from_the_first_channel_with_a_fresh_budget(self):
        retry = {"base": "50ms", "max": "100ms", "max_attempts": 2, "max_age": "1h"}
        with FakeHttpServer() as fake:
            with Daemon(base_config(fake, retry=retry)) as daemon:
                fake.set_default("/email", Reply(503))
                fake.set_default("/sms", Reply(400, {"error": "no"}))
                msg = daemon.send({
                    "to": {"email": "a@example.com", "phone": "+79161234567"},
                    "content": {"email": {"subject": "S", "text": "t"}, "sms": {"text": "t"}},
                    "channels": ["email", "sms"], "strategy": "fallback"})
                failed = daemon.wait_status(msg["id"], {"failed"})
                self.assertEqual([a["channel"] for a in failed["attempts"]],
                                 ["email", "email", "sms"])
                fake.set_default("/sms", Reply(200))
                resp = daemon.request("POST", f"/v1/messages/{msg['id']}/retry")
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.json["channel"], "email")
                final = daemon.wait_status(msg["id"], {"sent"})
                # Two fresh attempts on email (the budget was reset), then sms.
                self.assertEqual([a["channel"] for a in final["attempts"]],
                                 ["email", "email", "sms", "email", "email", "sms"])

    def test_expired_message_can_be_retried(self):
        retry = {"base": "200ms", "max": "300ms", "max_attempts": 100, "max_age": "1h"}
        with FakeHttpServer() as fake, Daemon(base_config(fake, retry=retry)) as daemon:
            fake.set_default("/email", Reply(503))
            msg = daemon.send(email_message("a@example.com", ttl="1s"))
            expired = daemon.wait_status(msg["id"], {"expired"}, timeout=15)
            self.assertIn("expires_at", expired)
            fake.set_default("/email", Reply(200))
            resp = daemon.request("POST", f"/v1/messages/{msg['id']}/retry")
            self.assertEqual(resp.status, 200, resp)
            self.assertNotIn("expires_at", resp.json)  # the TTL that expired it is dropped
            daemon.wait_status(msg["id"], {"sent"})

    def test_other_states_and_unknown_ids(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            scheduled = daemon.send(email_message("a@example.com", send_at=later))
            resp = daemon.request("POST", f"/v1/messages/{scheduled['id']}/retry")
            self.assertEqual(resp.status, 409, resp)
            self.assertEqual(resp.error_code, "not_retryable")
            self.assertEqual(daemon.get(scheduled["id"])["status"], "scheduled")
            self.assertEqual(daemon.request("DELETE", f"/v1/messages/{scheduled['id']}").status,
                             200)
            cancelled = daemon.request("POST", f"/v1/messages/{scheduled['id']}/retry")
            self.assertEqual(cancelled.status, 409, cancelled)

            unknown = daemon.request("POST", f"/v1/messages/{UNKNOWN_ULID}/retry")
            self.assertEqual(unknown.status, 404, unknown)
            self.assertEqual(unknown.error_code, "not_found")
            self.assertEqual(daemon.request("POST", "/v1/messages/nope/retry").status, 404)
            self.assertEqual(
                daemon.request("GET", f"/v1/messages/{scheduled['id']}/retry").status, 405)
            self.assertEqual(
                daemon.request("POST", f"/v1/messages/{scheduled['id']}/retry",
                               token=None).status, 401)


if __name__ == "__main__":
    unittest.main()
