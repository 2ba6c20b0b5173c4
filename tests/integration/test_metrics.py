"""GET /metrics over the real daemon: Prometheus text whose counters move with what happened."""

import re
import unittest

from harness import Daemon, base_config, email_message  # first: it puts tests/fakes on the path
from fake_http import FakeHttpServer, Reply  # noqa: E402

SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\d+)$')


def parse(text):
    """{(name, labels): value} for every sample; HELP/TYPE lines are checked for every name."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        samples[(match.group(1), match.group(2) or "")] = int(match.group(3))
    for name, _ in samples:
        assert name in typed, f"{name} has no # TYPE line"
    return samples


class MetricsTest(unittest.TestCase):
    def test_counters_follow_sends_failures_and_suppressions(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            fake.script("/email", Reply(503), Reply(200))
            first = daemon.send(email_message("a@example.com"), key="k1")
            daemon.send(email_message("a@example.com"), key="k1")  # an idempotent replay
            daemon.wait_status(first["id"], {"sent"})
            fake.set_default("/email", Reply(400, {"error": "no"}))
            failed = daemon.send(email_message("b@example.com", subject="other"))
            daemon.wait_status(failed["id"], {"failed"})
            resp = daemon.request("GET", "/metrics", token=None)
            self.assertEqual(resp.status, 200, resp)
            self.assertTrue(resp.headers["content-type"].startswith("text/plain; version=0.0.4"))
            m = parse(resp.body.decode())
            self.assertEqual(m[("omnigate_messages_admitted_total", '{status="queued"}')], 2)
            self.assertEqual(m[("omnigate_idempotent_replays_total", "")], 1)
            self.assertEqual(m[("omnigate_dispatch_outcomes_total", '{outcome="sent"}')], 1)
            self.assertEqual(m[("omnigate_dispatch_outcomes_total", '{outcome="retried"}')], 1)
            self.assertEqual(m[("omnigate_dispatch_outcomes_total", '{outcome="failed"}')], 1)
            self.assertEqual(m[("omnigate_provider_attempts_total", '{provider="hook"}')], 3)
            self.assertEqual(m[("omnigate_provider_accepted_total", '{provider="hook"}')], 1)
            self.assertEqual(m[("omnigate_provider_in_flight", '{provider="hook"}')], 0)
            self.assertGreaterEqual(m[("omnigate_store_commits_total", "")], 1)
            self.assertEqual(daemon.request("POST", "/metrics", token=None).status, 405)


if __name__ == "__main__":
    unittest.main()
