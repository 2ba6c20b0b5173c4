"""`omnigated --check-config`: a good file passes, and each kind of mistake fails with exit 1 and
a message that points at the file, the line and the key."""

import os
import subprocess
import time
import unittest

from harness import TOKEN_SHA256, Daemon, binary

GOOD = """\
[server]
listen = "127.0.0.1:0"
unix_socket = "api.sock"
read_timeout = "10s"

[[api.tokens]]
name = "test"
sha256 = "{{sha}}"

[store]
path = "omnigate.db"

[retry]
base = "200ms"
max = "1s"
max_attempts = 4
max_age = "1h"

[channels.email]
providers = ["hook"]

[channels.sms]
providers = ["box"]

[providers.hook]
kind = "webhook"
url = "http://127.0.0.1:9/email"
allow_private = true
max_concurrency = 8
timeout = "5s"

[providers.box]
kind = "outbox"
dir = "outbox"
"""


def line_of(text, needle):
    """1-based number of the first line containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise ValueError(f"{needle!r} not in the config")


def insert_after(text, anchor, new_line):
    lines = text.splitlines()
    index = line_of(text, anchor)
    lines.insert(index, new_line)
    return "\n".join(lines) + "\n"


def replace_line(text, needle, new_line):
    lines = text.splitlines()
    lines[line_of(text, needle) - 1] = new_line
    return "\n".join(lines) + "\n"


class ConfigCheckTest(unittest.TestCase):
    def check(self, text):
        daemon = Daemon(text, placeholders={"sha": TOKEN_SHA256}, start=False)
        self.addCleanup(daemon.cleanup)
        result = daemon.check_config()
        return daemon, result

    def assert_rejected(self, text, *mentions, line=None):
        daemon, result = self.check(text)
        self.assertEqual(result.returncode, 1, f"stdout: {result.stdout}\nstderr: {result.stderr}")
        for word in mentions:
            self.assertIn(word, result.stderr)
        if line is not None:
            self.assertIn(f":{line}:", result.stderr,
                          f"the error does not point at line {line}")
        self.assertIn("omnigate.toml", result.stderr, "the error does not name the file")
        # Nothing is created by a check.
        self.assertFalse(os.path.exists(daemon.db_path))
        return result

    def test_good_config_passes(self):
        daemon, result = self.check(GOOD)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(os.path.exists(daemon.db_path), "--check-config created the store")
        self.assertFalse(os.path.exists(daemon.path("api.sock")))

    def test_sample_config_in_the_tree_is_valid(self):
        sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc",
                              "omnigate.toml")
        if not os.path.exists(sample):
            self.skipTest("no sample configuration yet")
        result = subprocess.run([binary(), "--config", sample, "--check-config"],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_unknown_keys_name_line_and_key(self):
        cases = [
            ("[server]", "bogus_server_key = 1"),
            ("[store]", "bogus_store_key = \"x\""),
            ("max_age = ", "bogus_retry_key = 3"),
            ("allow_private", "bogus_provider_key = true"),
            ('dir = "outbox"', "bogus_outbox_key = 1"),
        ]
        for anchor, new_line in cases:
            key = new_line.split(" ")[0]
            with self.subTest(key=key):
                text = insert_after(GOOD, anchor, new_line)
                self.assert_rejected(text, key, line=line_of(text, key))

    def test_unknown_table_is_rejected(self):
        text = GOOD + "\n[bogus_table]\nx = 1\n"
        self.assert_rejected(text, "bogus_table", line=line_of(text, "[bogus_table]"))

    def test_bad_token_hash(self):
        for bad in ["not-a-hash", "ab" * 31, "ab" * 33, "zz" * 32]:
            with self.subTest(sha256=bad):
                text = replace_line(GOOD, "sha256 =", f'sha256 = "{bad}"')
                self.assert_rejected(text, "sha256", line=line_of(text, "sha256 ="))

    def test_plain_token_is_refused(self):
        text = insert_after(GOOD, 'name = "test"', 'token = "secret"')
        self.assert_rejected(text, "token", line=line_of(text, 'token = "secret"'))

    def test_unknown_provider_kind(self):
        text = replace_line(GOOD, 'kind = "webhook"', 'kind = "carrier-pigeon"')
        self.assert_rejected(text, "carrier-pigeon", line=line_of(text, "carrier-pigeon"))

    def test_bad_values(self):
        cases = [
            ("base = ", 'base = "fast"', "base"),
            ("max_attempts", "max_attempts = 0", "max_attempts"),
            ("max_attempts", 'max_attempts = "4"', "max_attempts"),
            ('listen = ', 'listen = "127.0.0.1:99999"', "listen"),
            ('timeout = "5s"', 'timeout = "forever"', "timeout"),
            ('url = "http', 'url = "ftp://127.0.0.1/x"', "url"),
            ("allow_private", 'allow_private = "yes"', "allow_private"),
        ]
        for needle, new_line, key in cases:
            with self.subTest(line=new_line):
                text = replace_line(GOOD, needle, new_line)
                self.assert_rejected(text, key, line=line_of(text, new_line))

    def test_channel_with_undefined_provider(self):
        text = replace_line(GOOD, 'providers = ["box"]', 'providers = ["nowhere"]')
        self.assert_rejected(text, "nowhere")

    def test_toml_syntax_error_points_at_line(self):
        text = insert_after(GOOD, "[store]", "path = = broken")
        self.assert_rejected(text, line=line_of(text, "= = broken"))

    def test_missing_file(self):
        result = subprocess.run([binary(), "--config", "/nonexistent/omnigate.toml",
                                 "--check-config"], capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn("/nonexistent/omnigate.toml", result.stderr)

    def test_running_with_a_bad_config_exits_1(self):
        text = insert_after(GOOD, "[server]", "bogus_server_key = 1")
        daemon = Daemon(text, placeholders={"sha": TOKEN_SHA256}, start=False)
        self.addCleanup(daemon.cleanup)
        started = time.monotonic()
        result = subprocess.run([binary(), "--config", daemon.config_path], capture_output=True,
                                text=True, timeout=10, cwd=daemon.cwd)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("bogus_server_key", result.stderr)
        self.assertLess(time.monotonic() - started, 5)
        self.assertFalse(os.path.exists(daemon.db_path))


if __name__ == "__main__":
    unittest.main()
