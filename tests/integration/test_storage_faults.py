"""Storage faults over the real binary: a full state directory (a small tmpfs) and fsync errors
(an LD_PRELOAD shim). The promise under test is the API's: a 202 means the message is stored,
whatever the disk does, and a disk that recovers needs no restart."""

import errno
import json
import os
import subprocess
import sys
import time
import unittest

from harness import Daemon, email_message, outbox_config


def fill(path):
    """Writes `path` until the file system is full (down to the last byte); returns its size."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            block = b"\0" * size
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def delivered(directory, message_id):
    """Whether the outbox provider wrote `message_id` (as <dir>/<channel>/<id>.json)."""
    for _, _, files in os.walk(directory):
        if f"{message_id}.json" in files:
            return True
    return False


class DiskFullTest(unittest.TestCase):
    """SQLITE_FULL must become 503 storage_full with Retry-After, never a 202 for a message that
    is not stored, and intake must resume once space is freed."""

    def setUp(self):
        self.daemon = Daemon(start=False)
        self.state = self.daemon.path("state")
        os.mkdir(self.state)
        if os.geteuid() != 0:
            self.daemon.cleanup()
            self.skipTest("mounting a tmpfs needs root")
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.state],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            self.daemon.cleanup()
            self.skipTest(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        self.addCleanup(self.daemon.cleanup)
        self.addCleanup(subprocess.run, ["umount", "-l", self.state], capture_output=True)
        config = outbox_config(store={"path": os.path.join(self.state, "omnigate.db")},
                               retry={"base": "200ms", "max": "500ms", "max_attempts": 50,
                                      "max_age": "1h"})
        self.daemon.write_config(config)

    def test_full_disk_refuses_then_recovers_without_restart(self):
        d = self.daemon
        d.start()
        outbox = d.path("outbox")
        before = [d.send(email_message(text=f"before {i}"))["id"] for i in range(5)]
        # Scheduled a little later, so that they are due while the disk is full.
        due = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
        later = [d.send(email_message(text=f"later {i}", send_at=due))["id"] for i in range(3)]
        for message_id in before:
            d.wait_status(message_id, {"sent"})
        keyed = email_message(text="keyed")
        first = d.request("POST", "/v1/messages", keyed, headers={"Idempotency-Key": "full-1"})
        self.assertEqual(first.status, 202, first)

        filler = os.path.join(self.state, "filler")
        fill(filler)
        acked = []
        refused = 0
        for i in range(30):
            resp = d.request("POST", "/v1/messages", email_message(text=f"full {i} " + "x" * 4000))
            if resp.status == 202:
                acked.append(resp.json["id"])  # some may fit in pages SQLite already has
                continue
            self.assertEqual(resp.status, 503, resp)
            self.assertEqual(resp.error_code, "storage_full", resp)
            self.assertTrue(resp.headers.get("retry-after", "").isdigit(), resp.headers)
            refused += 1
        self.assertGreater(refused, 0, "a full disk never refused anything")
        # A client retrying a request that was stored before the disk filled up is told it was
        # stored (a replay writes nothing), not that the disk is full.
        for _ in range(3):
            again = d.request("POST", "/v1/messages", keyed, headers={"Idempotency-Key": "full-1"})
            self.assertEqual(again.status, 202, again)
            self.assertEqual(again.json["id"], first.json["id"])
            self.assertEqual(again.headers.get("idempotent-replayed"), "true", again.headers)
        self.assertTrue(d.running(), "the daemon exited on a full disk")
        # Reads keep working while full.
        for message_id in before + acked:
            self.assertIn(d.get(message_id)["status"], {"queued", "sent", "scheduled"})
        sys.stderr.write(f"\nwhile full: {len(acked)} acknowledged, {refused} refused\n")
        # Messages stored before the disk filled up are delivered while it is still full
        # (the outbox is on another disk): a full state directory stops intake, not delivery.
        for message_id in later + acked:
            d.wait_status(message_id, {"sent"}, timeout=10)
            self.assertTrue(delivered(outbox, message_id), f"{message_id} not in the outbox")

        os.unlink(filler)
        deadline = time.monotonic() + 10
        while True:
            resp = d.request("POST", "/v1/messages", email_message(text="after"))
            if resp.status == 202:
                break
            self.assertEqual(resp.error_code, "storage_full", resp)
            self.assertLess(time.monotonic(), deadline, "intake did not resume after freeing space")
            time.sleep(0.2)
        after = resp.json["id"]
        # Everything acknowledged is delivered: before, while full, and after.
        for message_id in before + later + acked + [after, first.json["id"]]:
            d.wait_status(message_id, {"sent"}, timeout=15)
            self.assertTrue(delivered(outbox, message_id), f"{message_id} not in the outbox")
        d.stop()
        self.assertEqual(d.integrity_check(), ["ok"])


class FsyncErrorTest(unittest.TestCase):
    """After an fsync error the kernel may have dropped the dirty pages; a store that went on
    would acknowledge messages it may not have. The daemon must stop acknowledging, exit with
    code 3 for systemd to restart it, and keep every message it had acknowledged."""

    def test_fsync_error_stops_intake_and_keeps_acked_messages(self):
        shim = os.environ.get("OMNIGATE_IO_ERROR_PRELOAD")
        if not shim:
            self.skipTest("set OMNIGATE_IO_ERROR_PRELOAD to the omnigate_io_error_preload module")
        with Daemon(outbox_config(), start=False) as d:
            trigger = d.path("io-error-trigger")
            saved = {k: os.environ.get(k) for k in
                     ("LD_PRELOAD", "OMNIGATE_IO_ERROR_TRIGGER", "ASAN_OPTIONS")}
            os.environ["LD_PRELOAD"] = shim
            os.environ["OMNIGATE_IO_ERROR_TRIGGER"] = trigger
            # A preloaded library ahead of libasan trips ASan's link-order check.
            asan = saved["ASAN_OPTIONS"]
            os.environ["ASAN_OPTIONS"] = ((asan + ":") if asan else "") + \
                "verify_asan_link_order=0"
            try:
                d.start()
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            acked = [d.send(email_message(text=f"acked {i}"))["id"] for i in range(10)]

            with open(trigger, "w"):
                pass
            answers = []
            for i in range(5):
                try:
                    resp = d.request("POST", "/v1/messages", email_message(text=f"doomed {i}"))
                except OSError as e:
                    answers.append(repr(e))
                    break
                answers.append(resp.status)
                self.assertNotEqual(resp.status, 202, f"acknowledged after an fsync error: {resp}")
                self.assertEqual(resp.status, 503, resp)
                self.assertIn(resp.error_code, {"storage_error", "storage_io_error"}, resp)
                if not d.running():
                    break
            try:
                code = d.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.fail(f"the daemon kept running after an fsync error (answers {answers})")
            self.assertEqual(code, 3, f"exit code after an fsync error (answers {answers})")

            d.start()  # without the shim now
            for message_id in acked:
                self.assertIn(d.get(message_id)["status"], {"queued", "sent"})
            d.stop()
            self.assertEqual(d.integrity_check(), ["ok"])


if __name__ == "__main__":
    unittest.main()
