"""GET /metrics over the real daemon: Prometheus text whose counters move with what happened."""

import re
import time
import unittest

from harness import (Daemon, base_config, email_message, outbox_config,  # first: tests/fakes
                     raw_exchange)
from fake_http import FakeHttpServer, Reply  # noqa: E402

# Label values are quoted and may hold braces (route="/v1/messages/{id}").
SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|\+Inf)$')


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
        value = float(match.group(3))
        samples[(match.group(1), match.group(2) or "")] = (
            int(value) if value.is_integer() else value)
    for name, _ in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"{name} has no # TYPE line"
    return samples


def wait_metrics(daemon, ready, timeout=10.0):
    """Scrapes until `ready(samples)`: the queue gauges are snapshots about a second old."""
    deadline = time.monotonic() + timeout
    while True:
        resp = daemon.request("GET", "/metrics", token=None)
        assert resp.status == 200, resp
        samples = parse(resp.body.decode())
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def histogram(samples, name):
    """[(le, cumulative count)] in bucket order, with the _count and _sum samples."""
    buckets = [(labels, value) for (n, labels), value in samples.items() if n == name + "_bucket"]
    bounds = [(float("inf") if 'le="+Inf"' in labels else float(labels.split('"')[1]), value)
              for labels, value in buckets]
    return sorted(bounds), samples[(name + "_count", "")], samples[(name + "_sum", "")]


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

    def test_outcomes_queue_store_and_http_by_route(self):
        with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
            fake.script("/email", Reply(503), Reply(200))
            sent = daemon.send(email_message("a@example.com"))
            daemon.wait_status(sent["id"], {"sent"})
            fake.set_default("/email", Reply(400, {"error": "no"}))
            failed = daemon.send(email_message("b@example.com", subject="other"))
            daemon.wait_status(failed["id"], {"failed"})
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            daemon.send(email_message("c@example.com", send_at=later))
            self.assertEqual(daemon.request("GET", "/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV")
                             .status, 404)
            self.assertEqual(daemon.request("GET", "/v1/stats", token=None).status, 401)

            m = wait_metrics(daemon, lambda s: s.get(
                ("omnigate_queue_messages", '{status="scheduled"}')) == 1)
            attempts = {labels: v for (name, labels), v in m.items()
                        if name == "omnigate_attempts_total"}
            self.assertEqual(attempts, {
                '{channel="email",provider="hook",outcome="retried",reason="retry"}': 1,
                '{channel="email",provider="hook",outcome="sent",reason="accepted"}': 1,
                '{channel="email",provider="hook",outcome="failed",reason="rejected"}': 1,
            })
            self.assertEqual(m[("omnigate_messages_accepted_total", '{channel="email"}')], 3)
            for status, count in (("sent", 1), ("failed", 1), ("scheduled", 1), ("queued", 0),
                                  ("sending", 0), ("delivered", 0), ("suppressed", 0)):
                self.assertEqual(m[("omnigate_queue_messages", f'{{status="{status}"}}')],
                                 count, status)
            # The scheduled message is not due yet: nothing is waiting past its time.
            self.assertEqual(m[("omnigate_queue_oldest_due_age_seconds", "")], 0)
            self.assertEqual(m[("omnigate_provider_paused", '{provider="hook"}')], 0)
            self.assertEqual(m[("omnigate_provider_pauses_total", '{provider="hook"}')], 0)

            commits = m[("omnigate_store_commits_total", "")]
            self.assertGreaterEqual(commits, 7)  # 3 submits, 3 claims, 3 finishes at least
            for name, total in (("omnigate_store_commit_seconds", commits),
                                ("omnigate_store_commit_batch_size", commits)):
                buckets, count, total_sum = histogram(m, name)
                self.assertEqual(count, total, name)
                self.assertEqual(buckets[-1], (float("inf"), count), name)
                counts = [c for _, c in buckets]
                self.assertEqual(counts, sorted(counts), f"{name} buckets not cumulative")
                self.assertGreater(total_sum, 0, name)
            _, _, operations = histogram(m, "omnigate_store_commit_batch_size")
            self.assertEqual(operations, m[("omnigate_store_operations_total", "")])
            self.assertGreater(m[("omnigate_store_wal_bytes", "")], 0)

            http = {labels: v for (name, labels), v in m.items()
                    if name == "omnigate_http_requests_total"}
            self.assertEqual(http['{route="/v1/messages",method="POST",code="202"}'], 3)
            self.assertEqual(http['{route="/v1/messages/{id}",method="GET",code="404"}'], 1)
            self.assertGreaterEqual(http['{route="/v1/messages/{id}",method="GET",code="200"}'], 2)
            self.assertEqual(http['{route="/v1/stats",method="GET",code="401"}'], 1)
            self.assertNotIn(sent["id"], "".join(http), "raw ids must not become labels")

    def test_refusals_before_routing_are_counted(self):
        with Daemon(outbox_config()) as daemon:
            requests = [
                (b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n", b" 403 "),
                (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Origin: https://evil.example\r\n\r\n", b" 403 "),
                (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b" 400 "),
                (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Length: 9999999\r\n\r\n{}", b" 413 "),
            ]
            for request, status in requests:
                reply = raw_exchange(daemon.port, request, read_timeout=3.0)
                self.assertIn(status, reply.split(b"\r\n", 1)[0], reply[:200])
            m = wait_metrics(daemon, lambda s: True)
            refusals = {labels: v for (name, labels), v in m.items()
                        if name == "omnigate_http_refusals_total"}
            self.assertEqual(refusals, {'{code="403",reason="forbidden_host"}': 1,
                                        '{code="403",reason="forbidden_origin"}': 1,
                                        '{code="400",reason="bad_request"}': 1,
                                        '{code="413",reason="payload_too_large"}': 1})
            # Refused before routing, so not in the per-route counter.
            self.assertFalse(any(name == "omnigate_http_requests_total" and '"403"' in labels
                                 for name, labels in m), m)

    def test_oldest_due_age_while_a_due_message_waits(self):
        config = base_config()
        config["channels"] = {"email": {"providers": ["slow"]}}
        with FakeHttpServer() as fake:
            config["providers"] = {"slow": {"kind": "webhook", "url": fake.url("/email"),
                                            "allow_private": True, "max_concurrency": 1,
                                            "timeout": "10s"}}
            with Daemon(config) as daemon:
                fake.set_default("/email", Reply(200, delay=4.0))
                daemon.send(email_message("a@example.com"))
                daemon.send(email_message("b@example.com", subject="second"))
                m = wait_metrics(daemon, lambda s: s.get(
                    ("omnigate_queue_oldest_due_age_seconds", ""), 0) > 0, timeout=3.5)
                self.assertGreater(m[("omnigate_queue_oldest_due_age_seconds", "")], 0)
                self.assertEqual(m[("omnigate_queue_messages", '{status="queued"}')], 1)
                self.assertEqual(m[("omnigate_queue_messages", '{status="sending"}')], 1)
                self.assertEqual(m[("omnigate_provider_in_flight", '{provider="slow"}')], 1)


if __name__ == "__main__":
    unittest.main()
