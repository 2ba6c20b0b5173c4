"""Secrets never leave the daemon through its logs, API replies, metrics or spool files.

Every credential a provider takes is given a distinctive value through a `*_file` (the API token
through its SHA-256), every reachable error path is walked (bad bearer tokens, providers refusing
the credentials, misconfiguration, --check-config on broken configs, reloads), and then every
output the daemon produced is searched for each secret, plain and base64-encoded. A separate
test checks that a recipient's email address and phone number are masked in log lines.
"""

import base64
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import TOKEN, TOKEN_SHA256, Client, Daemon, binary, stop_after_test
from fake_http import FakeHttpServer, Reply
from fake_messenger import FakeMessenger
from fake_sms import FakeSms
from fake_smtp import FakeSmtpServer
from fault_http import FaultServer, Respond

_HERE = os.path.dirname(os.path.abspath(__file__))
_MAKE_TESTCA = os.path.join(os.path.dirname(_HERE), "fakes", "testca", "make_testca.sh")


def _secret(label):
    return f"{label}-{secrets.token_hex(12)}"


API_TOKEN = _secret("apitok")
SMTP_USER = "omnigate"
SMTP_PASSWORD = _secret("smtppw")
HOOK_TOKEN = _secret("hooktok")
TWILIO_SID = "AC" + secrets.token_hex(16)
TWILIO_TOKEN = secrets.token_hex(16)  # Twilio auth tokens are 32 hex digits
BOT_TOKEN = f"{secrets.randbelow(10**9)}:AA{secrets.token_urlsafe(24)}"
BOT_TOKEN_ROTATED = f"{secrets.randbelow(10**9)}:AA{secrets.token_urlsafe(24)}"
WRONG_TOKENS = [_secret("wrongtok"), _secret("wrongtok2")]
INLINE_SECRET = _secret("inline")

# Contacts for the masking test: distinctive, so a hit cannot be a coincidence.
EMAIL_LOCAL = f"masked.{secrets.token_hex(4)}"
EMAIL = f"{EMAIL_LOCAL}@example.com"
PHONE = "+7916" + str(secrets.randbelow(9_000_000) + 1_000_000)


def forms(secret):
    """The secret as it could leak: plain, and base64 (standard and URL-safe, with and without
    padding, as in an Authorization header or a JWT)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    out = {raw}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw)
        out.add(encoded)
        out.add(encoded.rstrip(b"="))
    return out


def write_secret(path, value, mode=0o600):
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, mode)


class RecordingClient(Client):
    """A Client that keeps every reply, so each API body can be searched afterwards."""

    def __init__(self, port, replies, **kwargs):
        super().__init__(port, **kwargs)
        self.replies = replies

    def request(self, *args, **kwargs):
        resp = super().request(*args, **kwargs)
        headers = "".join(f"{k}: {v}\n" for k, v in resp.headers.items()).encode()
        self.replies.append((f"{args[:2]}", headers + resp.body))
        return resp


class SecretsTestBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="omnigate-secrets-pki-")
        subprocess.run(["bash", _MAKE_TESTCA, cls.pki, "--push-keys"], check=True,
                       capture_output=True)
        with open(os.path.join(cls.pki, "fcm_service_account.key")) as f:
            key_lines = [line for line in f.read().splitlines() if not line.startswith("-----")]
        # Whole base64 lines of the private key: any of them in an output is a leak.
        cls.fcm_key_lines = key_lines[1:-1]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        self.replies = []  # (what, bytes) of every API reply and tool output
        self.secrets = {
            "api token": API_TOKEN, "harness token": TOKEN, "smtp password": SMTP_PASSWORD,
            "smtp AUTH PLAIN": f"\0{SMTP_USER}\0{SMTP_PASSWORD}", "webhook token": HOOK_TOKEN,
            "twilio token": TWILIO_TOKEN, "twilio basic auth": f"{TWILIO_SID}:{TWILIO_TOKEN}",
            "telegram token": BOT_TOKEN, "telegram token (rotated)": BOT_TOKEN_ROTATED,
            "inline secret": INLINE_SECRET,
        }
        for i, token in enumerate(WRONG_TOKENS):
            self.secrets[f"wrong bearer token {i}"] = token
        for i, line in enumerate(self.fcm_key_lines):
            self.secrets[f"fcm private key line {i}"] = line

    def start_daemon(self, config, files):
        daemon = Daemon(config, start=False)
        try:
            for name, (value, mode) in files.items():
                write_secret(daemon.path(name), value, mode)
            daemon.start()
        except BaseException:
            daemon.cleanup(failed=True)
            raise
        stop_after_test(self, daemon)
        return daemon


    def client(self, daemon, token=API_TOKEN):
        client = RecordingClient(daemon.port, self.replies, token=token)
        self.addCleanup(client.close)
        return client

    def wait_attempted(self, client, message_id, timeout=10.0):
        """Waits until the message has at least one finished attempt; returns its record."""
        deadline = time.monotonic() + timeout
        while True:
            record = client.request("GET", f"/v1/messages/{message_id}").json
            finished = [a for a in record.get("attempts", []) if a.get("outcome") != "in_flight"]
            if finished or record.get("status") in ("sent", "failed"):
                return record
            if time.monotonic() > deadline:
                self.fail(f"no attempt on {message_id} within {timeout}s: {record}")
            time.sleep(0.1)

    def find_leaks(self, sources, secret_map):
        """[(secret name, source name)] for every secret form found in any source."""
        leaks = []
        for name, secret in secret_map.items():
            for form in forms(secret):
                for where, data in sources:
                    if form in data:
                        leaks.append((name, where))
        return sorted(set(leaks))


class SecretsInOutputsTest(SecretsTestBase):
    def test_no_secret_reaches_logs_replies_metrics_or_files(self):
        smtp = FakeSmtpServer(tls_dir=self.pki, users={SMTP_USER: "not-the-configured-one"})
        self.addCleanup(smtp.close)
        hook = FakeHttpServer()
        self.addCleanup(hook.close)
        hook.set_default("/email", Reply(401, {"error": "bad token"}))
        sms = FakeSms(account_sid=TWILIO_SID, auth_token="the-right-one-is-elsewhere").start()
        self.addCleanup(sms.stop)
        messenger = FakeMessenger(bot_token="1:the-right-one-is-elsewhere").start()
        self.addCleanup(messenger.stop)
        fcm_token = FaultServer(tls=(os.path.join(self.pki, "server.pem"),
                                     os.path.join(self.pki, "server.key")),
                                default=Respond(401, '{"error": "invalid_grant", '
                                                '"error_description": "Invalid JWT Signature."}'))
        self.addCleanup(fcm_token.close)

        config = {
            "server": {"listen": "127.0.0.1:0"},
            "api": {"tokens": [{"name": "shop", "sha256": hashlib.sha256(
                API_TOKEN.encode()).hexdigest()}, {"name": "test", "sha256": TOKEN_SHA256}]},
            "store": {"path": "omnigate.db"},
            "retry": {"base": "200ms", "max": "1s", "max_attempts": 3, "max_age": "1h"},
            "tls": {"ca_file": os.path.join(self.pki, "ca.pem")},
            "channels": {"email": {"providers": ["smtp-main", "mail-hook"]},
                         "sms": {"providers": ["twilio", "sms-box"]},
                         "messenger": {"providers": ["telegram"]},
                         "push": {"providers": ["fcm"]}},
            "providers": {
                "smtp-main": {"kind": "smtp", "url": smtp.url, "from": "Shop <shop@example.com>",
                              "username": SMTP_USER, "password_file": "smtp.pass",
                              "timeout": "5s"},
                "mail-hook": {"kind": "webhook", "url": hook.url("/email"),
                              "allow_private": True, "token_file": "hook.token"},
                "twilio": {"kind": "twilio", "account_sid": TWILIO_SID,
                           "auth_token_file": "twilio.token", "from": "+15005550006",
                           "base_url": sms.url()},
                "sms-box": {"kind": "outbox", "dir": "outbox"},
                "telegram": {"kind": "telegram", "bot_token_file": "telegram.token",
                             "base_url": messenger.url()},
                "fcm": {"kind": "fcm",
                        "service_account_file": os.path.join(self.pki,
                                                             "fcm_service_account.json"),
                        "base_url": fcm_token.url(""), "token_url": fcm_token.url("/token")},
            },
        }
        files = {"smtp.pass": (SMTP_PASSWORD, 0o600), "hook.token": (HOOK_TOKEN, 0o600),
                 "twilio.token": (TWILIO_TOKEN, 0o600), "telegram.token": (BOT_TOKEN, 0o600)}
        daemon = self.start_daemon(config, files)
        api = self.client(daemon)

        # Bearer tokens that are wrong, malformed or in the wrong place.
        for token in WRONG_TOKENS:
            self.assertEqual(self.client(daemon, token=token).request(
                "GET", "/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV").status, 401)
        for header in (f"Basic {base64.b64encode(f'shop:{WRONG_TOKENS[0]}'.encode()).decode()}",
                       f"Bearer  {WRONG_TOKENS[1]}", f"bearer {WRONG_TOKENS[0]}x" * 50,
                       WRONG_TOKENS[1]):
            resp = api.request("POST", "/v1/messages", {"to": {}}, token=None,
                               headers={"Authorization": header})
            self.assertEqual(resp.status, 401, resp)
        resp = api.request("GET", f"/v1/stats?token={WRONG_TOKENS[0]}", token=None)
        self.assertEqual(resp.status, 401, resp)

        # Every provider refuses the credentials it is given.
        sends = {
            "email": {"to": {"email": "alice@example.com"},
                      "content": {"email": {"subject": "s", "text": "t"}}},
            "sms": {"to": {"phone": "+79161112233"}, "content": {"sms": {"text": "t"}}},
            "messenger": {"to": {"telegram": "424242"}, "content": {"messenger": {"text": "t"}}},
            "push": {"to": {"push": [{"platform": "fcm", "token": "device-token-1"}]},
                     "content": {"push": {"title": "t", "body": "b"}}},
        }
        ids = {}
        for channel, message in sends.items():
            resp = api.request("POST", "/v1/messages", message)
            self.assertEqual(resp.status, 202, resp)
            ids[channel] = resp.json["id"]
        records = {channel: self.wait_attempted(api, ids[channel]) for channel in ids}
        outcomes = {c: r["attempts"][0]["outcome"] for c, r in records.items()}
        # The error paths really were taken: each first attempt met a credential refusal.
        self.assertEqual(outcomes, {c: "misconfigured" for c in outcomes}, records)
        self.assertGreaterEqual(smtp.auth_failures, 1)
        self.assertGreaterEqual(fcm_token.count(), 1)
        # The daemon's own signed credentials are secrets too.
        for i, request in enumerate(fcm_token.requests()):
            self.secrets[f"fcm token request {i}"] = request.body.decode(errors="replace")
        # Let the fallbacks and retries run (webhook 401, outbox) and read everything back.
        time.sleep(1.5)
        for channel, message_id in ids.items():
            api.request("GET", f"/v1/messages/{message_id}")
            api.request("DELETE", f"/v1/messages/{message_id}")
        api.request("GET", "/v1/customers/nobody")
        for path in ("/metrics", "/v1/stats", "/healthz", "/readyz"):
            resp = api.request("GET", path)
            self.assertIn(resp.status, (200, 404), resp)

        # Reload with a secret file of unsafe permissions, then a rotated Telegram token. SIGHUP
        # reloads templates only, so the rotated token takes a restart to be used.
        os.chmod(daemon.path("twilio.token"), 0o644)
        daemon.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        os.chmod(daemon.path("twilio.token"), 0o600)
        self.assertTrue(daemon.running(), "a reload with a bad secret file stopped the daemon")
        write_secret(daemon.path("telegram.token"), BOT_TOKEN_ROTATED)
        daemon.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        daemon.restart()
        api = self.client(daemon)
        resp = api.request("POST", "/v1/messages", sends["messenger"])
        self.assertEqual(resp.status, 202, resp)
        self.assertEqual(self.wait_attempted(api, resp.json["id"])["attempts"][0]["outcome"],
                         "misconfigured")
        self.assertEqual(len(messenger.state_snapshot()["telegram"]), 2,
                         "the restarted daemon did not call Telegram with the rotated token")

        # --check-config on the running config and on broken variants of it.
        self._check_config(daemon.config_path, daemon.cwd, "check-config (good)")
        self._broken_configs(daemon)

        daemon.stop()
        sources = [("daemon log", daemon.log().encode())] + self.replies
        for root, _, names in os.walk(daemon.dir):
            for name in names:
                path = os.path.join(root, name)
                if name.startswith("omnigate.db") or name in files:
                    continue  # the database, and the secret files themselves
                with open(path, "rb") as f:
                    sources.append((os.path.relpath(path, daemon.dir), f.read()))
        self.assertTrue(any(name.startswith("outbox") for name, _ in sources),
                        "the sms fallback wrote no outbox file; the outbox was not searched")
        self.assertEqual(self.find_leaks(sources, self.secrets), [])

    def _check_config(self, config_path, cwd, what):
        run = subprocess.run([binary(), "--config", config_path, "--check-config"],
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=20, cwd=cwd)
        self.replies.append((what, run.stdout + run.stderr))
        return run

    def _broken_configs(self, daemon):
        work = tempfile.mkdtemp(prefix="omnigate-secrets-cfg-")
        self.addCleanup(shutil.rmtree, work, True)
        good = daemon.config_text
        for name in ("smtp.pass", "hook.token", "twilio.token", "telegram.token"):
            shutil.copy(daemon.path(name), os.path.join(work, name))
        variants = {
            # A secret file others can read is refused.
            "world-readable token file": (good, {"telegram.token": 0o644}),
            # A secret written inline under a misspelled key.
            "inline secret, unknown key": (
                good.replace('auth_token_file = "twilio.token"',
                             f'auth_token_file = "twilio.token"\nauth_tokn = "{INLINE_SECRET}"'),
                {}),
            # An inline secret beside an invalid setting of the same provider.
            "inline secret, bad base_url": (
                good.replace('bot_token_file = "telegram.token"',
                             f'bot_token = "{INLINE_SECRET}"').replace(
                    'base_url = "http://127.0.0.1', 'base_url = "ftp://127.0.0.1', 1), {}),
        }
        for what, (text, modes) in variants.items():
            if not modes:
                self.assertNotEqual(text, good, f"variant '{what}' did not change the config")
            path = os.path.join(work, "omnigate.toml")
            with open(path, "w") as f:
                f.write(text)
            for name, mode in modes.items():
                os.chmod(os.path.join(work, name), mode)
            run = self._check_config(path, work, f"check-config ({what})")
            self.assertNotEqual(run.returncode, 0, f"'{what}' passed --check-config: "
                                                   f"{run.stdout + run.stderr}")
            for name in modes:
                os.chmod(os.path.join(work, name), 0o600)


class WrongTypedSecretTest(SecretsTestBase):
    def test_secret_setting_of_the_wrong_type_is_refused_without_echoing_it(self):
        # An array where the token string belongs must not pass as "no token" (the provider
        # would then call its peer unauthenticated), and the refusal must not quote the value.
        daemon = Daemon({
            "server": {"listen": "127.0.0.1:0"},
            "api": {"tokens": [{"name": "test", "sha256": TOKEN_SHA256}]},
            "store": {"path": "omnigate.db"},
            "channels": {"email": {"providers": ["hook"]}},
            "providers": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/email",
                                   "allow_private": True, "token": [INLINE_SECRET]}},
        }, start=False)
        self.addCleanup(daemon.cleanup)
        run = daemon.check_config()
        output = (run.stdout + run.stderr).encode()
        self.assertEqual(self.find_leaks([("check-config", output)],
                                         {"inline secret": INLINE_SECRET}), [])
        self.assertNotEqual(run.returncode, 0, f"token = [...] passed --check-config: {output}")


class ContactsInLogsTest(SecretsTestBase):
    def test_email_and_phone_are_masked_in_log_lines(self):
        hook = FakeHttpServer()
        self.addCleanup(hook.close)
        hook.script("/email", Reply(503, {"error": "busy"}))
        hook.script("/sms", Reply(400, {"error": "bad number"}))
        config = {
            "server": {"listen": "127.0.0.1:0"},
            "api": {"tokens": [{"name": "test", "sha256": TOKEN_SHA256}]},
            "store": {"path": "omnigate.db"},
            "retry": {"base": "200ms", "max": "1s", "max_attempts": 2, "max_age": "1h"},
            "channels": {"email": {"providers": ["hook"]}, "sms": {"providers": ["hook-sms"]}},
            "providers": {
                "hook": {"kind": "webhook", "url": hook.url("/email"), "allow_private": True},
                "hook-sms": {"kind": "webhook", "url": hook.url("/sms"), "allow_private": True},
            },
        }
        daemon = self.start_daemon(config, {})
        api = self.client(daemon, token=TOKEN)
        resp = api.request("POST", "/v1/messages", {
            "customer_id": "c-mask", "to": {"email": EMAIL, "phone": PHONE},
            "content": {"email": {"subject": "s", "text": "t"}, "sms": {"text": "t"}},
            "channels": ["sms", "email"]})
        self.assertEqual(resp.status, 202, resp)
        message_id = resp.json["id"]
        deadline = time.monotonic() + 10
        while api.request("GET", f"/v1/messages/{message_id}").json["status"] not in (
                "sent", "failed"):
            self.assertLess(time.monotonic(), deadline, "message did not finish")
            time.sleep(0.1)
        # A contact that clashes is an error path that names contacts too.
        api.request("PUT", "/v1/customers/c-other", {"contacts": {"email": EMAIL}})
        daemon.stop()
        log = daemon.log()
        self.assertGreaterEqual(len(hook.requests()), 2, "the providers were not reached")
        leaks = [line for line in log.splitlines()
                 if EMAIL_LOCAL in line or PHONE in line or PHONE[1:] in line]
        self.assertEqual(leaks, [], "contacts appear unmasked in the log")


if __name__ == "__main__":
    unittest.main()
