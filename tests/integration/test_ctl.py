"""omnigatectl against the real daemon: the admin CLI is only useful if its exit codes and output
match what the API did, so every command here is checked against the daemon's own view."""

import json
import os
import subprocess
import tempfile
import time
import unittest

from harness import TOKEN, Daemon, email_message, outbox_config, rfc3339  # puts fakes on the path
from fake_http import FakeHttpServer, Reply  # noqa: E402

CTL_TIMEOUT = 60.0
BAD_LINES = (57, 143)


def ctl_binary():
    """$OMNIGATECTL (set by ctest), else the omnigatectl built beside $OMNIGATED."""
    path = os.environ.get("OMNIGATECTL")
    if not path and os.environ.get("OMNIGATED"):
        path = os.path.join(os.path.dirname(os.environ["OMNIGATED"]), "omnigatectl")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set OMNIGATECTL to the omnigatectl binary under test")
    return path


def ctl_config(fake):
    """Outbox for email (always accepted), a webhook to `fake` for sms (scripted failures), and
    the API on a Unix socket beside the config as well as on loopback TCP."""
    return outbox_config(
        server={"listen": "127.0.0.1:0", "unix_socket": "api.sock"},
        channels={"email": {"providers": ["box"]}, "sms": {"providers": ["hook-sms"]}},
        providers={"box": {"kind": "outbox", "dir": "outbox"},
                   "hook-sms": {"kind": "webhook", "url": fake.url("/sms"),
                                "allow_private": True}})


class CtlTestBase(unittest.TestCase):
    def setUp(self):
        self.fake = FakeHttpServer()
        self.daemon = Daemon(ctl_config(self.fake))
        self.daemon.__enter__()
        self.socket = self.daemon.path("api.sock")
        self.assertTrue(os.path.exists(self.socket), "the daemon did not create its socket")

    def tearDown(self):
        self.daemon.__exit__(None, None, None)
        self.fake.close()

    def ctl(self, *args, token=TOKEN, via="socket", stdin=None, env=None, expect=None):
        """Runs omnigatectl; `via` is "socket", "url" or None (no connection option). Asserts
        the exit code when `expect` is given."""
        command = [ctl_binary()]
        if via == "socket":
            command += ["--socket", self.socket]
        elif via == "url":
            command += ["--url", f"http://127.0.0.1:{self.daemon.port}"]
        if token is not None:
            command += ["--token", token]
        command += list(args)
        full_env = {k: v for k, v in os.environ.items() if k != "OMNIGATE_TOKEN"}
        full_env.update(env or {})
        result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                                timeout=CTL_TIMEOUT, env=full_env)
        if expect is not None:
            self.assertEqual(result.returncode, expect,
                             f"{command[1:]}\nstdout: {result.stdout[-2000:]}\n"
                             f"stderr: {result.stderr[-2000:]}")
        return result

    def ctl_json(self, *args, **kwargs):
        result = self.ctl("--json", *args, **kwargs)
        try:
            return json.loads(result.stdout)
        except ValueError:
            self.fail(f"not JSON: {result.stdout!r} (stderr {result.stderr!r})")

    def wait_ctl_status(self, message_id, statuses, via="socket", timeout=10.0):
        """Polls `status ID` through the CLI itself until the status is one of `statuses`."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.ctl_json("status", message_id, via=via, expect=0)
            if body["status"] in statuses or time.monotonic() > deadline:
                self.assertIn(body["status"], statuses, body)
                return body
            time.sleep(0.05)

    def skip_if_missing(self, method, path):
        """The endpoint is new; a 404 for the path (not for an id) means it is not there yet."""
        resp = self.daemon.request(method, path)
        if resp.status == 404 and "no such endpoint" in resp.body.decode(errors="replace"):
            self.skipTest(f"{method} {path} is not implemented by this daemon yet (404)")


class CtlMessagesTest(CtlTestBase):
    def test_send_and_status_over_socket_and_url(self):
        message = json.dumps(email_message(subject="ctl"))
        text = self.ctl("send", "--json", message, expect=0)
        self.assertRegex(text.stdout, r"(?m)^id\s+[0-9A-Z]{26}$")
        self.assertRegex(text.stdout, r"(?m)^status\s+queued$")
        sent = self.ctl_json("send", "--json", message, via="url", expect=0)
        self.assertEqual(sent["status"], "queued", sent)
        self.assertEqual(sent["plan"], ["email"], sent)
        body = self.wait_ctl_status(sent["id"], {"sent"}, via="url")
        self.assertEqual(body["id"], sent["id"])
        self.assertEqual(body, self.daemon.get(sent["id"]))
        human = self.ctl("status", sent["id"], expect=0)
        self.assertRegex(human.stdout, r"(?m)^status\s+sent$")
        self.assertIn("attempts:", human.stdout)
        self.assertRegex(human.stdout, r"(?m)^\s+1\s+email\s+box\b.*\baccepted\b")
        # The body may come from stdin too; an Idempotency-Key makes the repeat a replay.
        first = self.ctl_json("send", "--idempotency-key", "k-1", stdin=message, expect=0)
        again = self.ctl_json("send", "--idempotency-key", "k-1", stdin=message, expect=0)
        self.assertEqual(first["id"], again["id"])

    def test_refusals_map_to_exit_one_with_the_api_code(self):
        bad = self.ctl("send", "--json", json.dumps({"to": {"email": "x@example.com"}}),
                       expect=1)
        self.assertIn("invalid_request", bad.stderr)
        self.assertIn("HTTP 422", bad.stderr)
        not_json = self.ctl("send", "--json", "{nope", expect=1)
        self.assertIn("invalid_json", not_json.stderr)
        missing = self.ctl("status", "01ARZ3NDEKTSV4RRFFQ69G5FAV", expect=1)
        self.assertIn("not_found", missing.stderr)
        # With --json the API's error body is on stdout, for scripts.
        body = self.ctl_json("status", "01ARZ3NDEKTSV4RRFFQ69G5FAV", expect=1)
        self.assertEqual(body["error"]["code"], "not_found")

    def test_cancel_a_scheduled_message(self):
        later = email_message(send_at=rfc3339(time.time() + 3600))
        sent = self.ctl_json("send", "--json", json.dumps(later), expect=0)
        self.assertEqual(sent["status"], "scheduled", sent)
        cancelled = self.ctl("cancel", sent["id"], via="url", expect=0)
        self.assertEqual(cancelled.stdout.strip(), f"{sent['id']} cancelled")
        self.assertEqual(self.daemon.get(sent["id"])["status"], "cancelled")
        again = self.ctl("cancel", sent["id"], expect=1)
        self.assertIn("already_final", again.stderr)
        self.assertEqual(self.ctl_json("status", sent["id"], expect=0)["status"], "cancelled")

    def test_retry_of_a_failed_message(self):
        self.fake.script("/sms", Reply(400, {"error": "bad number"}))
        sms = {"to": {"phone": "+79161234567"}, "content": {"sms": {"text": "code 1234"}}}
        sent = self.ctl_json("send", "--json", json.dumps(sms), expect=0)
        self.daemon.wait_status(sent["id"], {"failed"})
        result = self.ctl("--json", "retry", sent["id"])
        if result.returncode == 1 and "not_found" in result.stderr:
            self.skipTest("POST /v1/messages/{id}/retry is not implemented yet (404)")
        self.assertEqual(result.returncode, 0, result)
        retried = json.loads(result.stdout)
        self.assertEqual(retried["id"], sent["id"])
        self.assertIn(retried["status"], {"queued", "sending", "sent"}, retried)
        final = self.daemon.wait_status(sent["id"], {"sent"})
        self.assertEqual(final["attempts"][-1]["outcome"], "accepted", final)
        self.assertEqual(self.fake.count("/sms"), 2)
        refused = self.ctl("retry", sent["id"], expect=1)
        self.assertIn("not_retryable", refused.stderr)
        unknown = self.ctl("retry", "01ARZ3NDEKTSV4RRFFQ69G5FAV", expect=1)
        self.assertIn("not_found", unknown.stderr)


class CtlBatchTest(CtlTestBase):
    def write_batch(self, directory):
        path = os.path.join(directory, "batch.jsonl")
        with open(path, "w") as f:
            for n in range(1, 201):
                if n == BAD_LINES[0]:
                    f.write("{this is not json\n")
                elif n == BAD_LINES[1]:
                    f.write(json.dumps(email_message(address="not-an-address")) + "\n")
                else:
                    f.write(json.dumps(email_message(subject=f"line {n}")) + "\n")
        return path

    def test_send_file_reports_bad_lines_and_reruns_without_duplicates(self):
        with tempfile.TemporaryDirectory() as directory:
            path = self.write_batch(directory)
            text = self.ctl("send", "--file", path, "-j", "4", "--idempotency-prefix", "b1-",
                            expect=1)
            self.assertRegex(text.stdout, r"^200 lines: 198 accepted, 2 refused, 0 errors")
            reported = sorted(int(line.split(":")[0].split()[1])
                              for line in text.stderr.splitlines() if line.startswith("line "))
            self.assertEqual(reported, list(BAD_LINES), text.stderr)
            self.assertIn(f"line {BAD_LINES[0]}: invalid_json", text.stderr)
            self.assertIn(f"line {BAD_LINES[1]}: invalid_request", text.stderr)
            # The same file again with the same prefix: every good line is a replay.
            rerun = self.ctl_json("send", "--file", path, "--idempotency-prefix", "b1-",
                                  via="url", expect=1)
        self.assertEqual(rerun["total"], 200)
        self.assertEqual(rerun["accepted"], 198)
        self.assertEqual(rerun["replayed"], 198)
        self.assertEqual(rerun["refused"], 2)
        self.assertEqual([f["line"] for f in rerun["failures"]], list(BAD_LINES))
        self.assertEqual({f["status"] for f in rerun["failures"]}, {400, 422})
        admitted = self.daemon.request("GET", "/metrics").body.decode()
        total = sum(float(line.rsplit(" ", 1)[1]) for line in admitted.splitlines()
                    if line.startswith("omnigate_messages_admitted_total"))
        self.assertEqual(total, 198, "a rerun with the same prefix must not store new messages")

    def test_send_file_all_good_exits_zero(self):
        lines = "\n".join(json.dumps(email_message(subject=f"s{n}")) for n in range(20))
        result = self.ctl("send", "--file", "-", stdin=lines + "\n\n", expect=0)
        self.assertRegex(result.stdout, r"^20 lines: 20 accepted, 0 refused, 0 errors")


class CtlStatsAndCustomersTest(CtlTestBase):
    def test_queue_and_stats_match_what_was_sent(self):
        self.skip_if_missing("GET", "/v1/stats")
        ids = [self.ctl_json("send", "--json", json.dumps(email_message()), expect=0)["id"]
               for _ in range(3)]
        for message_id in ids:
            self.daemon.wait_status(message_id, {"sent"})
        later = self.ctl_json("send", "--json",
                              json.dumps(email_message(send_at=rfc3339(time.time() + 3600))),
                              expect=0)
        doomed = self.ctl_json("send", "--json",
                               json.dumps(email_message(send_at=rfc3339(time.time() + 3600))),
                               expect=0)
        self.ctl("cancel", doomed["id"], expect=0)
        self.assertEqual(later["status"], "scheduled")

        # The daemon keeps a queue snapshot for a second or more (a scrape must stay cheap), so
        # poll until it reflects the sends above.
        deadline = time.monotonic() + 10.0
        while True:
            queue = self.ctl_json("queue", expect=0)
            counts = queue["queue"]
            if (counts["sent"], counts["cancelled"]) == (3, 1) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(queue["queue"]["sent"], 3, queue)
        self.assertEqual(queue["queue"]["cancelled"], 1, queue)
        self.assertEqual(sum(queue["queue"].values()), 5, queue)
        oldest = queue["oldest_due_age_seconds"]
        self.assertTrue(oldest is None or oldest >= 0, queue)
        text = self.ctl("queue", via="url", expect=0)
        self.assertRegex(text.stdout, r"(?m)^sent\s+3$")
        self.assertRegex(text.stdout, r"(?m)^cancelled\s+1$")
        self.assertIn("oldest due:", text.stdout)

        stats = self.ctl_json("stats", via="url", expect=0)
        self.assertIsInstance(stats["version"], str)
        self.assertGreaterEqual(stats["uptime_seconds"], 0)
        self.assertEqual(stats["queue"], queue["queue"])
        self.assertEqual(stats["providers"]["box"]["accepted"], 3, stats)
        self.assertEqual(stats["providers"]["box"]["in_flight"], 0, stats)
        self.assertIs(stats["providers"]["box"]["paused"], False, stats)
        human = self.ctl("stats", expect=0)
        self.assertRegex(human.stdout, r"(?m)^version\s+\S+")
        self.assertRegex(human.stdout, r"(?m)^\s+box\s+")

    def test_customer_put_get_merge(self):
        profile = {"contacts": {"email": "ann@example.com"}, "timezone": "Europe/Moscow"}
        stored = self.ctl_json("customer", "put", "c-ann", "--json", json.dumps(profile),
                               expect=0)
        self.assertEqual(stored["contacts"]["email"], "ann@example.com", stored)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "bob.json")
            with open(path, "w") as f:
                json.dump({"contacts": {"phone": "+79160000000"}}, f)
            self.ctl("customer", "put", "c-bob", "--file", path, via="url", expect=0)
        got = self.ctl_json("customer", "get", "c-ann", expect=0)
        self.assertEqual(got["contacts"]["email"], "ann@example.com", got)
        text = self.ctl("customer", "get", "c-ann", expect=0)
        self.assertRegex(text.stdout, r"(?m)^contacts\.email\s+ann@example\.com$")
        taken = self.ctl("customer", "put", "c-eve", "--json",
                         json.dumps({"contacts": {"email": "ann@example.com"}}), expect=1)
        self.assertIn("contact_taken", taken.stderr)
        merged = self.ctl_json("customer", "merge", "c-ann", "--from", "c-bob", expect=0)
        self.assertEqual(merged["customer"]["contacts"]["phone"], "+79160000000", merged)
        via_old = self.ctl_json("customer", "get", "c-bob", via="url", expect=0)
        self.assertEqual(via_old["id"], "c-ann", via_old)
        self.assertEqual(via_old["contacts"]["email"], "ann@example.com", via_old)
        self.ctl("customer", "get", "c-nobody", expect=1)


class CtlConnectionTest(CtlTestBase):
    def test_tokens(self):
        wrong = self.ctl("status", "01ARZ3NDEKTSV4RRFFQ69G5FAV", token="wrong", expect=1)
        self.assertIn("unauthorized", wrong.stderr)
        missing = self.ctl("queue", token=None, expect=1)
        self.assertIn("unauthorized", missing.stderr)
        # $OMNIGATE_TOKEN, then --token-file.
        sent = email_message()
        self.ctl("send", "--json", json.dumps(sent), token=None,
                 env={"OMNIGATE_TOKEN": TOKEN}, expect=0)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "token")
            with open(path, "w") as f:
                f.write(TOKEN + "\n")
            self.ctl("--token-file", path, "send", "--json", json.dumps(sent), token=None,
                     expect=0)

    def test_usage_errors_exit_two(self):
        self.ctl(expect=2)
        self.ctl("status", expect=2)
        self.ctl("frobnicate", expect=2)
        self.ctl("send", "--json", "{}", "--file", "x.jsonl", expect=2)
        self.ctl("--url", "https://127.0.0.1:1", "queue", via=None, expect=2)
        self.assertIn("Exit codes:", self.ctl("--help", expect=0).stdout)

    def test_daemon_not_running_exits_three(self):
        gone = self.ctl("--socket", self.daemon.path("nothing.sock"), "queue", via=None,
                        expect=3)
        self.assertIn("nothing.sock", gone.stderr)
        port = self.daemon.port
        self.daemon.stop()
        self.ctl("--url", f"http://127.0.0.1:{port}", "status", "01ARZ3NDEKTSV4RRFFQ69G5FAV",
                 via=None, expect=3)
        self.ctl("send", "--file", "-", stdin=json.dumps(email_message()) + "\n", expect=3)

    def test_check_config(self):
        good = self.ctl("check-config", "--config", self.daemon.config_path, via=None,
                        token=None, expect=0)
        self.assertIn("is valid", good.stdout)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "bad.toml")
            with open(path, "w") as f:
                f.write(self.daemon.config_text + "\n[server2]\nlisten = 1\n")
            bad = self.ctl("check-config", "--config", path, via=None, token=None, expect=1)
        self.assertIn("server2", bad.stderr)


if __name__ == "__main__":
    unittest.main()
