"""[log] level and target: what reaches the daemon's stderr, and which values are refused."""

import unittest

from harness import Daemon, base_config, email_message  # first: it puts tests/fakes on the path
from fake_http import FakeHttpServer, Reply  # noqa: E402


class LogConfigTest(unittest.TestCase):
    def run_one_retried_send(self, level):
        """One message that needs a retry, so there is a non-final and a final attempt line."""
        with FakeHttpServer() as fake:
            config = base_config(fake, log={"level": level, "target": "stderr"})
            with Daemon(config) as daemon:
                fake.script("/email", Reply(503), Reply(200))
                msg = daemon.send(email_message("alice@example.com"))
                daemon.wait_status(msg["id"], {"sent"})
                daemon.stop()
                return msg["id"], daemon.log()

    def test_info_logs_the_final_state_once_and_attempts_at_debug(self):
        message_id, log = self.run_one_retried_send("info")
        lines = [line for line in log.splitlines() if message_id in line]
        self.assertEqual(len(lines), 1, log)
        self.assertIn("-> sent", lines[0])
        self.assertIn(" info ", lines[0])
        self.assertIn("omnigated ready", log)
        self.assertNotIn(" debug ", log)

        message_id, log = self.run_one_retried_send("debug")
        lines = [line for line in log.splitlines() if message_id in line]
        self.assertEqual(len(lines), 2, log)
        self.assertIn(" debug ", lines[0])
        self.assertIn("-> queued", lines[0])

    def test_contacts_are_not_logged(self):
        _, log = self.run_one_retried_send("trace")
        self.assertNotIn("alice@example.com", log)

    def test_bad_values_are_refused(self):
        for section, key in (({"level": "verbose"}, "log.level"),
                             ({"target": "syslog"}, "log.target"),
                             ({"colour": True}, "colour")):
            with self.subTest(section=section):
                daemon = Daemon(base_config(log=section), start=False)
                try:
                    result = daemon.check_config()
                finally:
                    daemon.cleanup()
                self.assertEqual(result.returncode, 1, result)
                self.assertIn(key, result.stderr)


if __name__ == "__main__":
    unittest.main()
