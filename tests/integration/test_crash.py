"""kill -9 under load: everything acknowledged survives and is delivered, idempotency keys keep
working across the crash, and the store passes PRAGMA integrity_check afterwards."""

import collections
import http.client
import os
import random
import re
import threading
import time
import unittest

from harness import Daemon, base_config
from fake_http import FakeHttpServer, Reply

ROUNDS = 4
CLIENT_THREADS = 8


class _Sender(threading.Thread):
    """Sends messages with unique Idempotency-Keys until its connection breaks (the kill)."""

    def __init__(self, daemon, round_no, thread_no):
        super().__init__(daemon=True)
        self.client = daemon.client(timeout=5)
        self.prefix = f"r{round_no}-t{thread_no}"
        self.acked = {}       # key -> id
        self.uncertain = {}   # key -> body: the request was cut off; it may or may not be stored
        self.rejected = []    # anything else is a bug; reported by the test
        self.stop_flag = threading.Event()

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            key = f"{self.prefix}-{n}"
            n += 1
            body = message_for(key)
            try:
                resp = self.client.request("POST", "/v1/messages", body,
                                           headers={"Idempotency-Key": key})
            except (OSError, http.client.HTTPException):
                self.uncertain[key] = body
                break
            if resp.status == 202:
                self.acked[key] = resp.json["id"]
            elif resp.status == 503:
                # Shedding or not ready: not acknowledged, so nothing to check; try again later.
                time.sleep(0.01)
            else:
                self.rejected.append((key, resp))
        self.client.close()


def message_for(key):
    # The key travels in metadata, so the fake can tell which client request a delivery is for.
    return {"to": {"email": f"{key}@example.com"},
            "content": {"email": {"subject": f"crash test {key}", "text": "body"}},
            "metadata": {"client_key": key}}


class CrashTest(unittest.TestCase):
    def test_kill_9_under_load(self):
        # CRASH_SEED=<n> replays a run's timing choices.
        seed = int(os.environ.get("CRASH_SEED") or random.randrange(1 << 30))
        rng = random.Random(seed)
        print(f"\ncrash test seed {seed}")
        fake = FakeHttpServer()
        self.addCleanup(fake.close)
        # A little provider latency keeps deliveries in flight when the kill lands.
        fake.set_default("/email", Reply(delay=0.002))
        config = base_config(fake)
        daemon = Daemon(config)
        daemon.__enter__()
        failed = True
        try:
            self._rounds(daemon, fake, rng)
            failed = False
        finally:
            daemon.__exit__(AssertionError if failed else None, None, None)

    def _rounds(self, daemon, fake, rng):
        all_acked = {}  # key -> id
        # When each restart began: a request the fake records before then came from a daemon
        # that is now dead (the fake may log a request some milliseconds after the kill that
        # it was sent before).
        restart_times = []
        interrupted_total = 0
        for round_no in range(ROUNDS):
            senders = [_Sender(daemon, round_no, t) for t in range(CLIENT_THREADS)]
            for s in senders:
                s.start()
            time.sleep(rng.uniform(0.3, 1.5))
            daemon.kill()
            for s in senders:
                s.stop_flag.set()
                s.join(10)
                self.assertFalse(s.is_alive(), "a client thread hung after the kill")
            rejected = [r for s in senders for r in s.rejected]
            self.assertEqual(rejected, [], "requests were refused during normal operation")
            acked = {k: v for s in senders for k, v in s.acked.items()}
            uncertain = {k: v for s in senders for k, v in s.uncertain.items()}
            self.assertGreater(len(acked), 0, "no message was acknowledged before the kill")

            restart_times.append(time.monotonic())
            daemon.restart()
            metrics = daemon.request("GET", "/metrics", token=None).body.decode()
            found = re.search(r"^omnigate_recovery_interrupted_attempts (\d+)$", metrics, re.M)
            self.assertIsNotNone(found, "the duplicate window is reported in /metrics")
            interrupted_total += int(found.group(1))
            # Acknowledged ⊆ stored: every 202 is readable after the crash.
            for key, message_id in acked.items():
                resp = daemon.request("GET", f"/v1/messages/{message_id}")
                self.assertEqual(resp.status, 200, f"acked {key} -> {message_id} lost: {resp}")
            # A client that lost its connection retries with the same key; if the daemon had
            # stored the message (the fake may even have seen it), it must answer with that id.
            delivered_before = self._ids_by_key(fake)
            replayed = 0
            for key, body in uncertain.items():
                resp = daemon.request("POST", "/v1/messages", body,
                                      headers={"Idempotency-Key": key})
                self.assertIn(resp.status, (200, 202), f"retry of {key}: {resp}")
                message_id = resp.json["id"]
                if key in delivered_before:
                    self.assertEqual(delivered_before[key], {message_id},
                                     f"retry of {key} made a second message")
                if resp.headers.get("idempotent-replayed") == "true":
                    replayed += 1
                acked[key] = message_id
            print(f"round {round_no}: {len(acked) - len(uncertain)} acked, {len(uncertain)} cut "
                  f"off ({replayed} of them had been stored)")
            for key, message_id in acked.items():
                self.assertNotIn(key, all_acked)
                all_acked[key] = message_id

        # Every acknowledged message reaches the provider, then exactly one final state: sent
        # (the fake always answers 200).
        wanted = set(all_acked.values())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = {r.json["id"] for r in fake.requests("/email")}
            if wanted <= seen:
                break
            time.sleep(0.2)
        for key, message_id in all_acked.items():
            record = daemon.wait_status(message_id, {"sent"}, timeout=5)
            self.assertEqual(record["status"], "sent", f"{key}: {record}")

        deliveries = collections.Counter()
        for request in fake.requests("/email"):
            deliveries[request.json["id"]] += 1
        missing = [k for k, v in all_acked.items() if deliveries[v] == 0]
        self.assertEqual(missing, [], "acked messages that the provider never saw")
        # One client key is one message: no retried request created a second message.
        for key, ids in self._ids_by_key(fake).items():
            self.assertEqual(len(ids), 1, f"client key {key} became several messages: {ids}")
            if key in all_acked:
                self.assertEqual(ids, {all_acked[key]})
        # Duplicates are allowed only for deliveries in flight at a kill: every copy but the
        # last must come from a daemon that was killed afterwards, i.e. copies are separated by
        # restarts.
        duplicates = {m: n for m, n in deliveries.items() if n > 1}
        by_id = collections.defaultdict(list)
        for request in fake.requests("/email"):
            if request.json["id"] in duplicates:
                by_id[request.json["id"]].append(request)
        for message_id, copies in by_id.items():
            for earlier, later in zip(copies, copies[1:]):
                self.assertTrue(
                    any(earlier.at < r <= later.at for r in restart_times),
                    f"{message_id} was delivered twice by one daemon: attempts "
                    f"{earlier.json['attempt']} and {later.json['attempt']}, "
                    f"{later.at - earlier.at:.3f}s apart")
        print(f"{len(all_acked)} messages, {sum(deliveries.values())} deliveries, "
              f"{len(duplicates)} duplicated by a kill, {interrupted_total} attempts interrupted")
        # Every extra copy is an attempt the metric counted as interrupted.
        extra_copies = sum(n - 1 for n in duplicates.values())
        self.assertLessEqual(extra_copies, interrupted_total)

        # Nothing is delivered again once sent.
        settled = sum(deliveries.values())
        time.sleep(0.5)
        self.assertEqual(fake.count("/email"), settled)

        daemon.stop()
        self.assertEqual(daemon.integrity_check(), ["ok"])
        # A clean restart after all this finds nothing left to do.
        daemon.restart()
        time.sleep(0.5)
        self.assertEqual(fake.count("/email"), settled)
        daemon.stop()

    @staticmethod
    def _ids_by_key(fake):
        ids = collections.defaultdict(set)
        for request in fake.requests("/email"):
            key = (request.json.get("metadata") or {}).get("client_key")
            ids[key].add(request.json["id"])
        return ids


if __name__ == "__main__":
    unittest.main()
