"""systemd integration over a real NOTIFY_SOCKET, and SIGHUP reloads of the whole configuration.

systemd trusts READY=1 to mean "the store is open, recovery is done and the listeners are bound",
restarts the daemon when WATCHDOG=1 stops, and expects RELOADING=1 (with MONOTONIC_USEC) before
the READY=1 that ends a reload; these tests listen on the socket systemd would provide. The
reload tests prove what `systemctl reload` promises: the new configuration applies as a whole,
an invalid one changes nothing, and messages flowing during reloads are neither lost nor doubled.
"""

import hashlib
import os
import signal
import socket
import threading
import time
import unittest

from harness import Daemon, email_message, outbox_config, to_toml


class NotifySocket:
    """The datagram socket systemd listens on for sd_notify; records (monotonic time, fields)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = {}
            for line in data.decode().split("\n"):
                if "=" in line:
                    key, value = line.split("=", 1)
                    fields[key] = value
            self.messages.append((time.monotonic(), fields))

    def close(self):
        self._stop = True
        self._thread.join()
        self.sock.close()

    def wait_for(self, key, value=None, after=0, timeout=10.0):
        """Index of the first message from index `after` on that has `key` (= `value`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in range(after, len(self.messages)):
                fields = self.messages[i][1]
                if key in fields and (value is None or fields[key] == value):
                    return i
            time.sleep(0.02)
        raise AssertionError(f"no {key}={value} after message {after}; got {self.messages}")

    def states(self):
        """The state keys in arrival order (READY, RELOADING, STOPPING, WATCHDOG)."""
        keys = []
        for _, fields in self.messages:
            for key in ("READY", "RELOADING", "STOPPING", "WATCHDOG"):
                if key in fields:
                    keys.append(key)
        return keys


def token_entry(name, token):
    return {"name": name, "sha256": hashlib.sha256(token.encode()).hexdigest()}


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon(outbox_config(), start=False)
        self.notify = NotifySocket(self.daemon.dir)
        self.daemon.env = {"NOTIFY_SOCKET": self.notify.path, "WATCHDOG_USEC": "600000"}

    def tearDown(self):
        if self.daemon.running():
            self.daemon.kill()
        self.daemon.cleanup()
        self.notify.close()

    def test_ready_after_recovery_reloading_then_ready_watchdog_and_stopping(self):
        # Leave pending work behind a SIGKILL, so the next start has something to recover.
        self.daemon.start()
        future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        for i in range(20):
            self.daemon.send(email_message(f"r{i}@example.com", send_at=future))
        self.daemon.kill()
        self.notify.messages.clear()

        self.daemon.start()
        ready = self.notify.wait_for("READY", "1")
        status_before = [f.get("STATUS", "") for _, f in self.notify.messages[:ready]]
        self.assertTrue(any("recover" in s for s in status_before),
                        f"a STATUS about recovery comes before READY: {status_before}")
        # READY came only after recovery was logged and the listener was bound.
        log = self.daemon.log_since_start()
        self.assertIn("20 pending", log)
        self.assertEqual(self.notify.states().count("READY"), 1)

        # The watchdog beats at half of WATCHDOG_USEC (0.3 s here).
        first_beat = self.notify.wait_for("WATCHDOG", "1", after=ready)
        second_beat = self.notify.wait_for("WATCHDOG", "1", after=first_beat + 1, timeout=2)
        gap = self.notify.messages[second_beat][0] - self.notify.messages[first_beat][0]
        self.assertLess(gap, 0.6, "beats come well within the watchdog interval")

        before_reload = len(self.notify.messages)
        sent_at = time.monotonic()
        os.kill(self.daemon.proc.pid, signal.SIGHUP)
        reloading = self.notify.wait_for("RELOADING", "1", after=before_reload)
        fields = self.notify.messages[reloading][1]
        self.assertIn("MONOTONIC_USEC", fields)
        usec = int(fields["MONOTONIC_USEC"])
        # CLOCK_MONOTONIC is time.monotonic() on Linux: the stamp is taken at the reload.
        self.assertGreaterEqual(usec, int(sent_at * 1e6) - 1000)
        self.assertLessEqual(usec, int(time.monotonic() * 1e6))
        self.notify.wait_for("READY", "1", after=reloading + 1)

        before_stop = len(self.notify.messages)
        self.daemon.stop()
        self.notify.wait_for("STOPPING", "1", after=before_stop, timeout=1)
        order = [k for k in self.notify.states() if k != "WATCHDOG"]
        self.assertEqual(order, ["READY", "RELOADING", "READY", "STOPPING"])

    def test_watchdog_is_not_sent_without_watchdog_usec(self):
        self.daemon.env = {"NOTIFY_SOCKET": self.notify.path}
        self.daemon.start()
        self.notify.wait_for("READY", "1")
        time.sleep(1.0)
        self.assertNotIn("WATCHDOG", self.notify.states())


class ReloadTest(unittest.TestCase):
    def test_new_token_provider_and_log_level_apply_on_reload(self):
        config = outbox_config()
        with Daemon(config) as daemon:
            first = daemon.send(email_message())
            daemon.wait_status(first["id"], "sent")
            self.assertTrue(os.path.exists(daemon.path("outbox", "email", first["id"] + ".json")))

            self.assertNotIn("sd_notify:", daemon.log_since_start(), "debug is off at info")
            config["api"]["tokens"] = [token_entry("rotated", "rotated-token")]
            config["providers"]["box"]["dir"] = "outbox-after"
            config["log"] = {"level": "debug"}
            daemon.write_config(config)
            os.kill(daemon.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "configuration" not in daemon.log_since_start() or \
                    "reloaded" not in daemon.log_since_start():
                self.assertLess(time.monotonic(), deadline, daemon.log_tail())
                time.sleep(0.05)

            # The new level applies to the reload's own READY notification.
            deadline = time.monotonic() + 5
            while "sd_notify: READY=1" not in daemon.log_since_start():
                self.assertLess(time.monotonic(), deadline, "[log] level did not reload")
                time.sleep(0.05)
            self.assertEqual(daemon.request("GET", f"/v1/messages/{first['id']}").status, 401,
                             "the old token is gone after the reload")
            client = daemon.client(token="rotated-token")
            resp = client.request("POST", "/v1/messages", email_message("b@example.com"))
            self.assertEqual(resp.status, 202, resp)
            second = resp.json["id"]
            deadline = time.monotonic() + 10
            while client.request("GET", f"/v1/messages/{second}").json["status"] != "sent":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            self.assertTrue(os.path.exists(daemon.path("outbox-after", "email", second + ".json")),
                            "the changed provider delivers after the reload")
            client.close()
            daemon._drop_client()
            daemon.stop()

    def test_invalid_reload_keeps_the_running_configuration(self):
        config = outbox_config()
        with Daemon(config) as daemon:
            good_text = daemon.config_text
            for broken in ("[server\nlisten = 1",  # not TOML
                           good_text + "\n[providers.extra]\nkind = \"no-such-kind\"\n",
                           good_text.replace('dir = "outbox"', 'dir = ""')):
                with open(daemon.config_path, "w") as f:
                    f.write(broken)
                mark = len(daemon.log_since_start())
                os.kill(daemon.proc.pid, signal.SIGHUP)
                deadline = time.monotonic() + 5
                while "reload refused" not in daemon.log_since_start()[mark:]:
                    self.assertLess(time.monotonic(), deadline, daemon.log_tail())
                    time.sleep(0.05)
                sent = daemon.send(email_message())
                daemon.wait_status(sent["id"], "sent")
                self.assertTrue(os.path.exists(daemon.path("outbox", "email",
                                                           sent["id"] + ".json")))
            self.assertTrue(daemon.running())

    def test_fixed_settings_wait_for_restart(self):
        config = outbox_config()
        with Daemon(config) as daemon:
            port = daemon.port
            config["store"]["path"] = "other.db"
            daemon.write_config(config)
            os.kill(daemon.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "takes effect after a restart" not in daemon.log_since_start():
                self.assertLess(time.monotonic(), deadline, daemon.log_tail())
                time.sleep(0.05)
            self.assertIn("[store]", daemon.log_since_start())
            sent = daemon.send(email_message())
            daemon.wait_status(sent["id"], "sent")
            self.assertEqual(daemon.port, port)
            self.assertFalse(os.path.exists(daemon.path("other.db")))

    def test_reload_under_load_loses_and_doubles_nothing(self):
        config = outbox_config()
        config["providers"]["box"]["max_concurrency"] = 4
        with Daemon(config) as daemon:
            texts = []
            for variant in range(2):
                config["providers"]["box"]["dir"] = f"outbox-{variant}"
                config["providers"]["box"]["max_concurrency"] = 4 + variant
                texts.append(to_toml(config))
            accepted = []
            lock = threading.Lock()
            stop = threading.Event()
            errors = []

            def sender(n):
                client = daemon.client()
                try:
                    for i in range(150):
                        resp = client.request("POST", "/v1/messages",
                                              email_message(f"load{n}-{i}@example.com"),
                                              headers={"Idempotency-Key": f"k{n}-{i}"})
                        if resp.status != 202:
                            errors.append(str(resp))
                            continue
                        with lock:
                            accepted.append(resp.json["id"])
                except Exception as e:  # noqa: BLE001 - reported by the assertion below
                    errors.append(repr(e))
                finally:
                    client.close()

            def reloader():
                variant = 0
                while not stop.is_set():
                    # Atomically, as an admin's editor or config management would.
                    with open(daemon.config_path + ".new", "w") as f:
                        f.write(texts[variant])
                    os.replace(daemon.config_path + ".new", daemon.config_path)
                    os.kill(daemon.proc.pid, signal.SIGHUP)
                    variant ^= 1
                    time.sleep(0.05)

            threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
            reload_thread = threading.Thread(target=reloader)
            reload_thread.start()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            stop.set()
            reload_thread.join()
            self.assertEqual(errors, [])
            self.assertEqual(len(accepted), 600)
            self.assertGreater(daemon.log_since_start().count("reloaded"), 5)
            for message_id in accepted:
                daemon.wait_status(message_id, "sent", timeout=20)
            files = []
            # The first messages may go out before the first SIGHUP is handled, to the
            # directory the daemon started with.
            for outbox in ["outbox", "outbox-0", "outbox-1"]:
                directory = daemon.path(outbox, "email")
                if os.path.isdir(directory):
                    files += os.listdir(directory)
            delivered = sorted(f[:-len(".json")] for f in files)
            self.assertEqual(delivered, sorted(accepted),
                             "every accepted message delivered exactly once across reloads")
            self.assertNotIn("reload refused", daemon.log_since_start())


if __name__ == "__main__":
    unittest.main()
