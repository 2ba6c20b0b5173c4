"""Customers and omnichannel policy over the real daemon: profiles, identity resolution, exact caps
under concurrency (also across a restart), cross-channel dedupe, events that cancel pending
messages, quiet hours in the customer's time zone, fallback after a permanent failure, merges."""

import datetime
import threading
import time
import unittest

from harness import Daemon, base_config  # first: it puts tests/fakes on the import path
from fake_http import FakeHttpServer, Reply  # noqa: E402

CAP_RULE = "marketing-3-per-day"


def policy_config(fake):
    return base_config(
        categories={"marketing": {"stop_on": ["purchase"], "quiet_hours": True},
                    "reminder": {"stop_on": ["purchase"]}},
        caps=[{"name": CAP_RULE, "category": "marketing", "limit": 3, "window": "1d"}],
        channels={"email": {"providers": ["hook-email"]}, "sms": {"providers": ["hook-sms"]},
                  "push": {"providers": ["hook-push"]}},
        providers={name: {"kind": "webhook", "url": fake.url("/" + name.split("-")[1]),
                          "allow_private": True, "max_concurrency": 16}
                   for name in ("hook-email", "hook-sms", "hook-push")})


PROFILE = {"contacts": {"email": "ann@example.com", "phone": "+79161234567",
                        "push": [{"platform": "fcm", "token": "tok-1"}]},
           "timezone": "Europe/Moscow", "locale": "ru"}


def marketing(customer="c-1", **extra):
    message = {"customer_id": customer, "category": "marketing", "channels": ["email"],
               "content": {"email": {"subject": "Sale", "text": "50% off"}}}
    message.update(extra)
    return message


class CustomerPolicyTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeHttpServer()
        self.daemon = Daemon(policy_config(self.fake))
        self.daemon.__enter__()

    def tearDown(self):
        self.daemon.__exit__(None, None, None)
        self.fake.close()

    def put(self, customer, profile):
        return self.daemon.request("PUT", f"/v1/customers/{customer}", profile)

    def put_ok(self, customer, profile=PROFILE):
        resp = self.put(customer, profile)
        self.assertEqual(resp.status, 200, resp)
        return resp.json

    def test_profile_round_trip_validation_conflict_and_erasure(self):
        body = self.put_ok("c-1")
        self.assertEqual(body["contacts"]["phone"], "+79161234567")
        got = self.daemon.request("GET", "/v1/customers/c-1")
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json["timezone"], "Europe/Moscow")
        bad = self.put("c-2", {"timezone": "Mars/Olympus"})
        self.assertEqual(bad.status, 422, bad)
        self.assertIn("timezone", bad.json["error"]["message"])
        taken = self.put("c-2", {"contacts": {"email": "ann@example.com"}})
        self.assertEqual(taken.status, 409, taken)
        self.assertEqual(taken.error_code, "contact_taken")
        self.assertIn("c-1", taken.json["error"]["message"])
        pending = self.daemon.send(marketing(send_at="2099-01-01T00:00:00Z"))
        erased = self.daemon.request("DELETE", "/v1/customers/c-1")
        self.assertEqual(erased.status, 200, erased)
        self.assertEqual(self.daemon.request("GET", "/v1/customers/c-1").status, 404)
        self.assertEqual(self.daemon.get(pending["id"])["status"], "cancelled")
        self.assertEqual(self.daemon.request("DELETE", "/v1/customers/nobody").status, 404)

    def test_cap_is_exact_under_concurrency_and_survives_restart(self):
        self.put_ok("c-1")
        results = []
        lock = threading.Lock()

        def worker(n):
            client = self.daemon.client()
            for _ in range(n):
                resp = client.request("POST", "/v1/messages", marketing())
                with lock:
                    results.append(resp)
            client.close()

        threads = [threading.Thread(target=worker, args=(25,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 200)
        self.assertTrue(all(r.status == 202 for r in results), [r for r in results if r.status != 202])
        statuses = [r.json["status"] for r in results]
        admitted = [r.json for r in results if r.json["status"] != "suppressed"]
        self.assertEqual(len(admitted), 3, statuses)
        suppressed = [r.json for r in results if r.json["status"] == "suppressed"]
        self.assertEqual(len(suppressed), 197)
        for s in suppressed:
            self.assertIn(CAP_RULE, s["reason"])
        for a in admitted:
            self.daemon.wait_status(a["id"], {"sent"})
        self.assertEqual(self.fake.count("/email"), 3)
        # The counters are durable: after a restart the cap still holds.
        self.daemon.restart()
        again = self.daemon.send(marketing())
        self.assertEqual(again["status"], "suppressed", again)
        self.assertIn(CAP_RULE, again["reason"])
        # Transactional mail bypasses the marketing cap.
        receipt = self.daemon.send(marketing(category="transactional"))
        self.assertEqual(receipt["status"], "queued", receipt)

    def test_same_dedupe_key_on_push_and_email_reaches_the_customer_once(self):
        self.put_ok("c-1")
        first = self.daemon.send({"customer_id": "c-1", "channels": ["push"],
                                  "dedupe_key": "order-17-shipped",
                                  "content": {"push": {"title": "Shipped", "body": "A-17"}}})
        second = self.daemon.send({"customer_id": "c-1", "channels": ["email"],
                                   "dedupe_key": "order-17-shipped",
                                   "content": {"email": {"subject": "Shipped", "text": "A-17"}}})
        self.assertEqual(first["status"], "queued", first)
        self.assertEqual(second["status"], "suppressed", second)
        self.assertIn("duplicate", second["reason"])
        self.daemon.wait_status(first["id"], {"sent"})
        time.sleep(0.3)
        self.assertEqual(self.fake.count("/push"), 1)
        self.assertEqual(self.fake.count("/email"), 0)

    def test_purchase_event_cancels_the_pending_cart_reminder(self):
        self.put_ok("c-1")
        later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
        reminder = self.daemon.send({
            "customer_id": "c-1", "category": "transactional", "channels": ["email"],
            "cancel_keys": ["cart-991"], "send_at": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "content": {"email": {"subject": "Your cart", "text": "Still there"}}})
        other = self.daemon.send({
            "customer_id": "c-1", "category": "reminder", "channels": ["email"],
            "send_at": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "content": {"email": {"subject": "Reminder", "text": "x"}}})
        kept = self.daemon.send({
            "customer_id": "c-1", "category": "transactional", "channels": ["email"],
            "cancel_keys": ["cart-5"], "send_at": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "content": {"email": {"subject": "Other cart", "text": "x"}}})
        resp = self.daemon.request("POST", "/v1/customers/c-1/events",
                                   {"name": "purchase", "keys": ["cart-991"]})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(sorted(resp.json["cancelled"]), sorted([reminder["id"], other["id"]]))
        self.assertEqual(self.daemon.get(reminder["id"])["status"], "cancelled")
        self.assertIn("cart-991", self.daemon.get(reminder["id"])["reason"])
        self.assertEqual(self.daemon.get(kept["id"])["status"], "scheduled")
        bad = self.daemon.request("POST", "/v1/customers/c-1/events", {"keys": ["x"]})
        self.assertEqual(bad.status, 422, bad)

    def test_marketing_in_quiet_hours_waits_for_their_end_in_customer_time(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        start = (now - datetime.timedelta(minutes=30)).strftime("%H:%M")
        end = (now + datetime.timedelta(minutes=90)).strftime("%H:%M")
        profile = dict(PROFILE, timezone="UTC",
                       preferences={"quiet_hours": {"start": start, "end": end}})
        self.put_ok("c-1", profile)
        deferred = self.daemon.send(marketing())
        self.assertEqual(deferred["status"], "scheduled", deferred)
        expected = (now + datetime.timedelta(minutes=90)).replace(second=0, microsecond=0)
        self.assertEqual(deferred["send_at"], expected.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.assertTrue(any(step["step"] == "quiet_hours" for step in deferred["decision"]),
                        deferred["decision"])
        urgent = self.daemon.send(marketing(category="transactional"))
        self.assertEqual(urgent["status"], "queued", urgent)

    def test_permanent_push_failure_falls_back_to_sms_exactly_once(self):
        self.put_ok("c-1")
        self.fake.set_default("/push", Reply(400, {"error": "bad token"}))
        sent = self.daemon.send({"customer_id": "c-1", "channels": ["push", "sms"],
                                 "content": {"push": {"title": "Code", "body": "1234"},
                                             "sms": {"text": "Code 1234"}}})
        self.assertEqual(sent["plan"], ["push", "sms"])
        final = self.daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual(final["channel"], "sms")
        self.assertEqual([a["channel"] for a in final["attempts"]], ["push", "sms"])
        time.sleep(0.3)
        self.assertEqual(self.fake.count("/push"), 1)
        self.assertEqual(self.fake.count("/sms"), 1)

    def test_channels_are_ranked_by_the_customers_own_history(self):
        self.put_ok("c-1", {"contacts": {"email": "ann@example.com",
                                         "push": [{"platform": "fcm", "token": "tok-1"}]}})
        self.fake.set_default("/push", Reply(400, {"error": "not registered"}))
        for _ in range(3):
            sent = self.daemon.send({"customer_id": "c-1",
                                     "content": {"push": {"title": "t", "body": "b"},
                                                 "email": {"subject": "s", "text": "t"}}})
            self.assertEqual(sent["plan"], ["push", "email"], sent)
            self.daemon.wait_status(sent["id"], {"sent"})
        # Push never got through for this person, email always did: email goes first now.
        ranked = self.daemon.send({"customer_id": "c-1",
                                   "content": {"push": {"title": "t", "body": "b"},
                                               "email": {"subject": "s", "text": "t"}}})
        self.assertEqual(ranked["plan"], ["email", "push"], ranked["decision"])
        got = self.daemon.request("GET", "/v1/customers/c-1").json
        self.assertEqual(got["stats"]["push"]["attempts"], 3, got)
        self.assertEqual(got["stats"]["email"]["delivered"], 3, got)

    def test_engagement_counts_survive_eviction_from_the_customer_cache(self):
        # One idle customer in memory: c-1's counts exist only in its cached copy until c-1 is
        # dropped, and dropping it must write them.
        self.daemon.__exit__(None, None, None)
        config = policy_config(self.fake)
        config["store"] = {"path": "omnigate.db", "customer_cache": 1}
        self.daemon = Daemon(config)
        self.daemon.__enter__()
        self.put_ok("c-2", {"contacts": {"email": "bob@example.com"}})
        self.put_ok("c-1", {"contacts": {"email": "ann@example.com"}})
        for _ in range(2):
            sent = self.daemon.send(marketing())
            self.daemon.wait_status(sent["id"], {"sent"})
        deadline = time.monotonic() + 5
        got = self.daemon.request("GET", "/v1/customers/c-1").json
        while got.get("stats", {}).get("email", {}).get("attempts") != 2 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
            got = self.daemon.request("GET", "/v1/customers/c-1").json
        self.assertEqual(got["stats"]["email"], {"attempts": 2, "delivered": 2, "read": 0}, got)
        # Read back from the database, not from memory: a restart holds nothing cached.
        self.daemon.restart()
        got = self.daemon.request("GET", "/v1/customers/c-1").json
        self.assertEqual(got["stats"]["email"], {"attempts": 2, "delivered": 2, "read": 0}, got)

    def test_send_by_contact_finds_the_customer(self):
        self.put_ok("c-1")
        for _ in range(3):
            self.daemon.send(marketing())
        by_contact = self.daemon.send({"to": {"email": "ANN@example.com"}, "category": "marketing",
                                       "content": {"email": {"subject": "s", "text": "t"}}})
        self.assertEqual(by_contact["status"], "suppressed", by_contact)
        self.assertEqual(self.daemon.get(by_contact["id"])["customer_id"], "c-1")
        stranger = self.daemon.send({"to": {"email": "zed@example.com"}, "category": "marketing",
                                     "content": {"email": {"subject": "s", "text": "t"}}})
        self.assertEqual(stranger["status"], "queued", stranger)

    def test_merge_folds_history_and_caps_into_the_survivor(self):
        self.put_ok("c-a", {"contacts": {"email": "a@example.com"}})
        self.put_ok("c-b", {"contacts": {"phone": "+79160000000"}})
        a_sent = [self.daemon.send(marketing("c-a")) for _ in range(2)]
        b_sent = [self.daemon.send(marketing("c-b", channels=["sms"],
                                             content={"sms": {"text": "sale"}}))
                  for _ in range(2)]
        self.assertTrue(all(m["status"] == "queued" for m in a_sent + b_sent))
        merged = self.daemon.request("POST", "/v1/customers/c-a/merge", {"from": "c-b"})
        self.assertEqual(merged.status, 200, merged)
        self.assertEqual(merged.json["customer"]["contacts"]["phone"], "+79160000000")
        # One person: four marketing sends already, the cap of three holds.
        capped = self.daemon.send(marketing("c-a"))
        self.assertEqual(capped["status"], "suppressed", capped)
        self.assertIn(CAP_RULE, capped["reason"])
        # The merged id keeps resolving to the survivor.
        got = self.daemon.request("GET", "/v1/customers/c-b")
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json["id"], "c-a")
        via_old_id = self.daemon.send(marketing("c-b"))
        self.assertEqual(self.daemon.get(via_old_id["id"])["customer_id"], "c-a")
        history = self.daemon.request("GET", "/v1/customers/c-a/messages")
        self.assertEqual(history.status, 200, history)
        ids = [m["id"] for m in history.json["messages"]]
        for m in a_sent + b_sent + [capped, via_old_id]:
            self.assertIn(m["id"], ids)
        self.assertEqual(ids[0], via_old_id["id"], "newest first")
        self.assertEqual(self.daemon.request("POST", "/v1/customers/c-a/merge",
                                             {"from": "c-a"}).status, 422)
        self.assertEqual(self.daemon.request("POST", "/v1/customers/c-a/merge",
                                             {"from": "nobody"}).status, 404)


if __name__ == "__main__":
    unittest.main()
