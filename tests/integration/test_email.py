"""Email through a real SMTP server (aiosmtpd, tests/fakes/fake_smtp.py): STARTTLS and AUTH, the
MIME message on the wire, templates, SMTP reply handling and retries, provider failover, header
injection, dot-stuffing and long lines, rate and concurrency limits. Every assertion is about
what the SMTP server actually received, or what the daemon reports about it."""

import email.utils
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, ULID_RE, base_config, email_message, stop_after_test
from fake_smtp import FakeSmtpServer, Reply, header_block

_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTS = os.path.dirname(_HERE)
MAKE_TESTCA = os.path.join(_TESTS, "fakes", "testca", "make_testca.sh")
SAMPLE_TEMPLATES = os.path.join(os.path.dirname(_TESTS), "etc", "templates")

USER = "shop"
PASSWORD = "s3cret-Пароль"
FROM = "Shop Отдел <noreply@shop.example>"
FROM_NAME = "Shop Отдел"
FROM_ADDRESS = "noreply@shop.example"

# A template of our own, for data that lands in a header (the samples put only an order id there).
GREETING_TEMPLATE = {
    "default/email.subject": "Hello {{name}}\n",
    "default/email.txt": "Dear {{name}},\nthank you.\n",
}


def closed_port():
    """A loopback port that refuses connections: bound (so nobody else takes it) but never
    listening. The returned socket must stay open for as long as the port is in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def html_message(address, subject, text, html, **extra):
    message = email_message(address, subject=subject, text=text, **extra)
    message["content"]["email"]["html"] = html
    return message


def crlf(text):
    """What a text part must decode to: MIME text is CRLF on the wire, and the email package
    keeps the CRLFs when it decodes base64 or quoted-printable."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


class EmailTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="omnigate-email-ca-")
        subprocess.run(["bash", MAKE_TESTCA, cls.pki], check=True, capture_output=True,
                       timeout=60)
        cls.ca_file = os.path.join(cls.pki, "ca.pem")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    # --- fixtures ---------------------------------------------------------------------------------

    def smtp_server(self, **kwargs):
        """A fake with STARTTLS required and AUTH for USER/PASSWORD, unless kwargs say otherwise."""
        kwargs.setdefault("tls_dir", self.pki)
        kwargs.setdefault("users", {USER: PASSWORD})
        server = FakeSmtpServer(**kwargs)
        self.addCleanup(server.close)
        return server

    @staticmethod
    def provider(url, **settings):
        config = {"kind": "smtp", "url": url, "from": FROM, "username": USER,
                  "password_file": "smtp.pass", "require_starttls": True,
                  "reply_to": "Support <help@shop.example>",
                  "list_unsubscribe": ["https://shop.example/u/{id}",
                                       "mailto:unsub@shop.example?subject={id}"],
                  "max_concurrency": 4, "rate": 50, "timeout": "10s"}
        config.update(settings)
        return {k: v for k, v in config.items() if v is not None}

    def email_config(self, providers, trust_ca=True, **sections):
        """base_config with only an email channel, served by `providers` (name -> settings) in
        the order given."""
        config = base_config(templates={"dir": "templates"}, **sections)
        if trust_ca:
            config["tls"] = {"ca_file": self.ca_file}
        config["channels"] = {"email": {"providers": list(providers)}}
        config["providers"] = dict(providers)
        return config

    def start_daemon(self, config, extra_templates=None):
        """A daemon with the sample templates (plus `extra_templates`: id -> {relative path:
        text}) and the SMTP password in smtp.pass beside its config."""
        daemon = Daemon(config, start=False)
        try:
            secret = daemon.path("smtp.pass")
            with open(secret, "w", encoding="utf-8") as f:
                f.write(PASSWORD + "\n")
            os.chmod(secret, 0o600)
            shutil.copytree(SAMPLE_TEMPLATES, daemon.path("templates"))
            for template_id, files in (extra_templates or {}).items():
                for relative, text in files.items():
                    path = daemon.path("templates", template_id, relative)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(text)
            daemon.start()
        except BaseException:
            daemon.cleanup(failed=True)
            raise
        stop_after_test(self, daemon)
        return daemon


    def daemon_for(self, server, extra_templates=None, **provider_settings):
        return self.start_daemon(
            self.email_config({"smtp-main": self.provider(server.url, **provider_settings)}),
            extra_templates=extra_templates)

    def wait_attempts(self, daemon, message_id, count, timeout=10.0):
        """Polls until the message shows `count` finished attempts; returns the record."""
        deadline = time.monotonic() + timeout
        while True:
            record = daemon.get(message_id)
            finished = [a for a in record.get("attempts", []) if a.get("outcome") != "in_flight"]
            if len(finished) >= count:
                return record
            if time.monotonic() > deadline:
                self.fail(f"message {message_id}: expected {count} attempt(s), got "
                          f"{json.dumps(record, ensure_ascii=False)[:1500]}")
            time.sleep(0.05)

    def assert_quiet(self, server, transactions, seconds=0.5):
        """No further SMTP transaction starts within `seconds`."""
        time.sleep(seconds)
        self.assertEqual(len(server.transactions()), transactions, server.transactions())

    # --- wire-format checks -----------------------------------------------------------------------

    def assert_wire_format(self, raw):
        """RFC 5322 / 5321 line discipline: every line ends in CRLF (no bare CR or LF anywhere),
        no line is longer than 998 octets, and the header block is 7-bit."""
        self.assertTrue(raw.endswith(b"\r\n"), raw[-40:])
        lines = raw[:-2].split(b"\r\n")
        for number, line in enumerate(lines, start=1):
            self.assertNotIn(b"\n", line, f"bare LF in line {number}: {line[:100]!r}")
            self.assertNotIn(b"\r", line, f"bare CR in line {number}: {line[:100]!r}")
            self.assertLessEqual(len(line), 998, f"line {number} has {len(line)} octets")
        for line in header_block(raw):
            self.assertTrue(line.isascii(), f"8-bit header line: {line!r}")

    def assert_text_round_trip(self, received, sent):
        """The decoded text equals what was sent with its line breaks as CRLF; at most one line
        break may be added at the very end (test_text_round_trips_exactly holds the daemon to
        none)."""
        self.assertIn(received, (crlf(sent), crlf(sent) + "\r\n"),
                      f"sent {sent[:200]!r}...")

    def body_parts(self, parsed):
        """[(content type, decoded content)] of a multipart/alternative message."""
        self.assertEqual(parsed.get_content_type(), "multipart/alternative")
        return [(part.get_content_type(), part.get_content()) for part in parsed.iter_parts()]

    def text_part(self, parsed):
        part = parsed.get_body(preferencelist=("plain",))
        self.assertIsNotNone(part, parsed.as_string()[:2000])
        return part.get_content()

    def html_part(self, parsed):
        part = parsed.get_body(preferencelist=("html",))
        self.assertIsNotNone(part, parsed.as_string()[:2000])
        return part.get_content()

    # --- 1. delivery, session and MIME structure --------------------------------------------------

    def test_delivery_over_starttls_with_auth_and_mime_structure(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        subject = "Ваш заказ A-17 отправлен — спасибо, что выбрали нас!"
        text = "Здравствуйте!\nВаш заказ A-17 уже в пути.\n\nС уважением,\nМагазин\n"
        html = "<p>Здравствуйте!</p>\n<p>Ваш заказ <b>A-17</b> уже в пути.</p>\n"
        before = time.time()
        accepted = daemon.send(html_message("petya@example.com", subject, text, html))
        self.assertRegex(accepted["id"], ULID_RE)
        final = daemon.wait_status(accepted["id"], {"sent"})
        [message] = server.wait_for(1)

        # The session: upgraded with STARTTLS, authenticated as the configured user.
        self.assertTrue(message.tls, message)
        self.assertTrue(message.authenticated, message)
        self.assertEqual(message.auth_user, USER)
        self.assertEqual(message.mail_from, FROM_ADDRESS)
        self.assertEqual(message.rcpt_tos, ["petya@example.com"])
        self.assertEqual(server.auth_failures, 0)

        raw = message.data
        self.assert_wire_format(raw)
        parsed = message.parse()

        date = email.utils.parsedate_to_datetime(parsed["Date"])
        self.assertIsNotNone(date.tzinfo, parsed["Date"])
        self.assertLess(abs(date.timestamp() - before), 120, parsed["Date"])
        message_id = parsed["Message-ID"]
        self.assertRegex(message_id, r"^<[^<>@\s]+@shop\.example>$")
        self.assertIn(accepted["id"], message_id)

        [sender] = parsed["From"].addresses
        self.assertEqual(sender.display_name, FROM_NAME)
        self.assertEqual(sender.addr_spec, FROM_ADDRESS)
        [recipient] = parsed["To"].addresses
        self.assertEqual(recipient.addr_spec, "petya@example.com")
        [reply_to] = parsed["Reply-To"].addresses
        self.assertEqual((reply_to.display_name, reply_to.addr_spec),
                         ("Support", "help@shop.example"))
        self.assertEqual(str(parsed["MIME-Version"]).strip(), "1.0")
        self.assertIsNone(parsed["Bcc"])
        # Transactional mail carries no unsubscribe headers.
        self.assertIsNone(parsed["List-Unsubscribe"])
        self.assertIsNone(parsed["List-Unsubscribe-Post"])

        # The Cyrillic subject went out as RFC 2047 encoded words and decodes to the original.
        self.assertEqual(str(parsed["Subject"]), subject)
        raw_subject = [line for line in header_block(raw) if line.lower().startswith(b"subject:")]
        self.assertEqual(len(raw_subject), 1, header_block(raw))
        self.assertIn(b"=?", raw_subject[0])
        self.assertTrue(raw_subject[0].isascii())

        # multipart/alternative with exactly text/plain then text/html, nothing attached.
        parts = self.body_parts(parsed)
        self.assertEqual([ctype for ctype, _ in parts], ["text/plain", "text/html"])
        self.assertEqual(list(parsed.iter_attachments()), [])
        for part in parsed.iter_parts():
            self.assertEqual(part.get_content_charset(), "utf-8")
            self.assertFalse(part.is_multipart())
        self.assertEqual(parts[0][1], crlf(text))
        self.assertEqual(parts[1][1], crlf(html))

        # What the API says about it.
        self.assertEqual(len(final["attempts"]), 1, final)
        attempt = final["attempts"][0]
        self.assertEqual((attempt["provider"], attempt["outcome"]), ("smtp-main", "accepted"))
        self.assertTrue(str(attempt["code"]).startswith("250"), attempt)
        self.assert_quiet(server, 1)

    def test_auth_plain_and_login(self):
        for mechanism in ("PLAIN", "LOGIN"):
            with self.subTest(mechanism=mechanism):
                server = self.smtp_server(mechanisms=(mechanism,))
                daemon = self.daemon_for(server)
                accepted = daemon.send(email_message("a@example.com"))
                daemon.wait_status(accepted["id"], {"sent"})
                [message] = server.wait_for(1)
                self.assertEqual((message.tls, message.auth_user, message.auth_mechanism),
                                 (True, USER, mechanism))

    def test_wrong_password_is_a_provider_problem_not_a_delivery(self):
        server = self.smtp_server(users={USER: "another password"})
        daemon = self.daemon_for(server)
        accepted = daemon.send(email_message("a@example.com"))
        record = self.wait_attempts(daemon, accepted["id"], 1)
        attempt = record["attempts"][0]
        self.assertEqual(attempt["outcome"], "misconfigured", record)
        self.assertIn("535", str(attempt["code"]) + attempt.get("detail", ""), record)
        # The operator has to fix the password: the message waits instead of failing.
        self.assertEqual(record["status"], "queued", record)
        self.assertGreaterEqual(server.auth_failures, 1)
        self.assertEqual(server.transactions(), [])

    def test_untrusted_certificate_sends_nothing(self):
        # Without [tls] ca_file the test CA is unknown: the STARTTLS handshake must fail and no
        # mail (and no password) may cross the connection in clear instead.
        server = self.smtp_server()
        daemon = self.start_daemon(
            self.email_config({"smtp-main": self.provider(server.url)}, trust_ca=False))
        accepted = daemon.send(email_message("a@example.com"))
        record = self.wait_attempts(daemon, accepted["id"], 1)
        self.assertEqual(record["attempts"][0]["outcome"], "misconfigured", record)
        self.assertNotEqual(record["status"], "sent", record)
        self.assertGreaterEqual(server.tls_failures, 1, "the daemon did not even try STARTTLS")
        self.assertEqual(server.transactions(), [])
        self.assertEqual(server.auth_failures, 0)

    def test_server_without_starttls_is_refused_when_tls_is_required(self):
        server = self.smtp_server(tls_dir=None, users=None)
        daemon = self.daemon_for(server, username=None, password_file=None)
        accepted = daemon.send(email_message("a@example.com"))
        record = self.wait_attempts(daemon, accepted["id"], 1)
        self.assertEqual(record["attempts"][0]["outcome"], "misconfigured", record)
        self.assertEqual(server.transactions(), [])

    def test_plain_server_when_tls_is_not_required(self):
        server = self.smtp_server(tls_dir=None, users=None)
        daemon = self.daemon_for(server, username=None, password_file=None,
                                 require_starttls=False)
        accepted = daemon.send(email_message("a@example.com", subject="Plain", text="ok"))
        daemon.wait_status(accepted["id"], {"sent"})
        [message] = server.wait_for(1)
        self.assertEqual((message.tls, message.authenticated), (False, False))
        self.assertEqual(str(message.parse()["Subject"]), "Plain")

    def test_marketing_mail_carries_list_unsubscribe(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        accepted = daemon.send(email_message("a@example.com", subject="Sale", text="50% off",
                                             category="marketing"))
        daemon.wait_status(accepted["id"], {"sent"})
        [message] = server.wait_for(1)
        self.assert_wire_format(message.data)
        parsed = message.parse()
        uris = re.findall(r"<([^<>]+)>", str(parsed["List-Unsubscribe"]))
        self.assertEqual(uris, [f"https://shop.example/u/{accepted['id']}",
                                f"mailto:unsub@shop.example?subject={accepted['id']}"])
        self.assertEqual(str(parsed["List-Unsubscribe-Post"]), "List-Unsubscribe=One-Click")

    def test_message_id_is_stable_across_a_retry(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        server.script("DATA", "450 4.2.0 Mailbox busy")
        accepted = daemon.send(email_message("a@example.com"))
        final = daemon.wait_status(accepted["id"], {"sent"})
        first, second = server.wait_for_transactions(2)
        self.assertEqual(first.reply, "450 4.2.0 Mailbox busy")
        self.assertTrue(second.accepted, second)
        self.assertEqual(first.parse()["Message-ID"], second.parse()["Message-ID"])
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"])
        self.assertEqual(len(server.messages()), 1)

    # --- 2. templates -----------------------------------------------------------------------------

    TEMPLATE_DATA = {
        "order": {"id": "A-17", "carrier": "<b>Почта</b>",
                  "tracking_url": "https://track.example/A-17?a=1&b=2",
                  "items": [{"name": "Зелёный чай", "quantity": 2}]},
        "shop": {"name": "{{order.id}} & Co"},
    }

    def test_template_delivery_in_russian(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        accepted = daemon.send({"to": {"email": "a@example.com"}, "template": "order_shipped",
                                "locale": "ru", "data": self.TEMPLATE_DATA})
        daemon.wait_status(accepted["id"], {"sent"})
        [message] = server.wait_for(1)
        self.assert_wire_format(message.data)
        parsed = message.parse()
        self.assertEqual(str(parsed["Subject"]), "Заказ A-17 отправлен")
        parts = self.body_parts(parsed)
        self.assertEqual([ctype for ctype, _ in parts], ["text/plain", "text/html"])
        text, html = parts[0][1], parts[1][1]

        # Plain text: data inserted as it is, including markup and mustache-looking values.
        self.assertIn("Ваш заказ A-17 уже в пути (<b>Почта</b>).", text)
        self.assertIn("  - Зелёный чай x 2", text)
        self.assertIn("Отследить посылку: https://track.example/A-17?a=1&b=2", text)
        self.assertIn("сделали заказ в {{order.id}} & Co.", text)
        self.assertNotIn("&lt;", text)
        # HTML: the same values escaped, the template's own markup intact.
        self.assertIn("<strong>A-17</strong>", html)
        self.assertIn("(&lt;b&gt;Почта&lt;/b&gt;)", html)
        self.assertNotIn("<b>Почта</b>", html)
        self.assertIn('href="https://track.example/A-17?a=1&amp;b=2"', html)
        self.assertIn("{{order.id}} &amp; Co", html)
        self.assertTrue(html.lstrip().startswith("<!DOCTYPE html>"), html[:200])

        # The render endpoint shows exactly what was sent.
        resp = daemon.request("POST", "/v1/templates/order_shipped/render",
                              {"data": self.TEMPLATE_DATA, "locale": "ru", "channel": "email"})
        self.assertEqual(resp.status, 200, resp)
        rendered = resp.json
        self.assertEqual(rendered["locale"], "ru")
        self.assertEqual(str(parsed["Subject"]), rendered["email"]["subject"])
        self.assertEqual(text, crlf(rendered["email"]["text"]))
        self.assertEqual(html, crlf(rendered["email"]["html"]))

    def test_render_endpoint(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        path = "/v1/templates/order_shipped/render"

        resp = daemon.request("POST", path, {"data": self.TEMPLATE_DATA, "locale": "ru"})
        self.assertEqual(resp.status, 200, resp)
        body = resp.json
        self.assertEqual((body["template"], body["locale"]), ("order_shipped", "ru"))
        self.assertEqual(set(body) - {"template", "locale"},
                         {"email", "sms", "push", "messenger"}, body)
        self.assertEqual(set(body["email"]), {"subject", "text", "html"})
        self.assertEqual(body["email"]["subject"], "Заказ A-17 отправлен")
        self.assertEqual(body["push"]["title"], "Заказ A-17 отправлен")
        self.assertEqual(body["push"]["data"], {"screen": "order", "order_id": "A-17"})
        self.assertIn("A-17", body["sms"]["text"])
        self.assertIn("A-17", body["messenger"]["text"])

        # One channel only; a locale without a variant resolves to default.
        resp = daemon.request("POST", path, {"data": self.TEMPLATE_DATA, "locale": "pt-BR",
                                             "channel": "sms"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["locale"], "default")
        self.assertEqual(set(resp.json) - {"template", "locale"}, {"sms"}, resp.json)
        self.assertTrue(resp.json["sms"]["text"].startswith("Order A-17 has shipped."),
                        resp.json)

        resp = daemon.request("POST", "/v1/templates/no_such_template/render", {"data": {}})
        self.assertEqual(resp.status, 404, resp)
        self.assertEqual(resp.error_code, "unknown_template", resp)

        for bad in ('{"data": ', '[1, 2]', '{"data": "not an object"}',
                    '{"data": {}, "channel": "fax"}', '{"data": {}, "locale": 7}'):
            with self.subTest(body=bad):
                resp = daemon.request("POST", path, bad,
                                      headers={"Content-Type": "application/json"})
                self.assertIn(resp.status, (400, 422), resp)
                self.assertTrue(resp.error_code, resp)
        self.assertEqual(server.transactions(), [])

    # --- 3. SMTP replies --------------------------------------------------------------------------

    def test_421_is_retried_then_delivered(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        server.script("DATA", "421 4.3.2 Service shutting down")
        accepted = daemon.send(email_message("a@example.com"))
        final = daemon.wait_status(accepted["id"], {"sent"}, timeout=15)
        # One 421 costs one attempt: the connection the server closed is not used again.
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"],
                         f"one 421 cost more than one attempt: {final['attempts']}")
        first = final["attempts"][0]
        self.assertTrue(str(first["code"]).startswith("421"), first)
        self.assertIn("Service shutting down", first["detail"])
        transactions = server.transactions()
        self.assertEqual(len(transactions), 2, transactions)
        self.assertEqual(transactions[0].reply, "421 4.3.2 Service shutting down")
        self.assertEqual(len(server.messages()), 1)

    def test_450_at_rcpt_is_retried_then_sent(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        server.script("RCPT", "450 4.2.0 Mailbox busy")
        accepted = daemon.send(email_message("a@example.com"))
        final = daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"], final)
        self.assertTrue(str(final["attempts"][0]["code"]).startswith("450"), final)
        self.assertIn("Mailbox busy", final["attempts"][0]["detail"])
        first, second = server.transactions()
        self.assertEqual(first.refused_rcpts, [("a@example.com", "450 4.2.0 Mailbox busy")])
        self.assertIsNone(first.data, "DATA was sent although the only recipient was refused")
        self.assertTrue(second.accepted, second)
        self.assertEqual(len(server.messages()), 1)

    def test_550_5_1_1_fails_and_nothing_is_stored(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        server.script("RCPT", "550 5.1.1 No such user")
        accepted = daemon.send(email_message("ghost@example.com"))
        final = daemon.wait_status(accepted["id"], {"failed"})
        self.assertEqual(len(final["attempts"]), 1, final)
        attempt = final["attempts"][0]
        self.assertTrue(str(attempt["code"]).startswith("550"), attempt)
        self.assertIn("No such user", attempt["detail"], attempt)
        self.assertIn("No such user", final.get("reason", ""), final)
        self.assertEqual(server.messages(), [])
        self.assert_quiet(server, 1)
        [transaction] = server.transactions()
        self.assertIsNone(transaction.data)

    # --- 4. failover ------------------------------------------------------------------------------

    def failover_daemon(self, primary_url, backup):
        return self.start_daemon(self.email_config({
            "smtp-main": self.provider(primary_url),
            "smtp-backup": self.provider(backup.url),
        }))

    def test_failover_when_primary_refuses_connections(self):
        sock, port = closed_port()
        self.addCleanup(sock.close)
        backup = self.smtp_server()
        daemon = self.failover_daemon(f"smtp://127.0.0.1:{port}", backup)
        started = time.monotonic()
        accepted = daemon.send(email_message("a@example.com"))
        final = daemon.wait_status(accepted["id"], {"sent"})
        # "Right away": no backoff wait, let alone the primary's pause.
        self.assertLess(time.monotonic() - started, 3.0, final)
        [message] = backup.wait_for(1)
        self.assertEqual(message.rcpt_tos, ["a@example.com"])
        last = final["attempts"][-1]
        self.assertEqual((last["provider"], last["outcome"]), ("smtp-backup", "accepted"), final)
        self.assertEqual(final["attempts"][0]["provider"], "smtp-main", final)

        # The primary is paused (1 s for a first pause): the next message goes straight to the
        # backup. Only checked while the pause surely lasts, so a slow machine cannot fail it.
        second = daemon.send(email_message("b@example.com"))
        record = daemon.wait_status(second["id"], {"sent"})
        if time.monotonic() - started < 0.8:
            self.assertEqual([a["provider"] for a in record["attempts"]], ["smtp-backup"],
                             record)

    def test_failover_when_primary_answers_421(self):
        primary = self.smtp_server()
        primary.set_default("MAIL", "421 4.3.2 Service shutting down")
        backup = self.smtp_server()
        daemon = self.failover_daemon(primary.url, backup)
        accepted = daemon.send(email_message("a@example.com"))
        final = daemon.wait_status(accepted["id"], {"sent"})
        [message] = backup.wait_for(1)
        self.assertEqual(message.rcpt_tos, ["a@example.com"])
        self.assertEqual(primary.messages(), [])
        self.assertEqual([t.reply for t in primary.transactions()],
                         ["421 4.3.2 Service shutting down"])
        first, last = final["attempts"][0], final["attempts"][-1]
        self.assertEqual(first["provider"], "smtp-main", final)
        self.assertTrue(str(first["code"]).startswith("421"), final)
        self.assertEqual((last["provider"], last["outcome"]), ("smtp-backup", "accepted"), final)

    # --- 5. header injection ----------------------------------------------------------------------

    def assert_no_injection(self, message, recipient):
        self.assertEqual(message.rcpt_tos, [recipient])
        self.assert_wire_format(message.data)
        parsed = message.parse()
        self.assertIsNone(parsed["Bcc"])
        self.assertEqual(parsed.get_all("To"), [recipient])
        for line in header_block(message.data):
            self.assertFalse(line.lower().startswith(b"bcc:"), line)
        self.assertNotIn("\r", str(parsed["Subject"]))
        self.assertNotIn("\n", str(parsed["Subject"]))

    def test_crlf_in_subject_cannot_add_a_header(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        resp = daemon.request("POST", "/v1/messages",
                              email_message("a@example.com", subject="Hi\r\nBcc: x@evil.example"))
        if resp.status in (400, 422):
            self.assertTrue(resp.error_code, resp)
            self.assert_quiet(server, 0)
            return
        self.assertEqual(resp.status, 202, resp)
        final = daemon.wait_status(resp.json["id"], {"sent", "failed"})
        # First the security property: whatever reached the server carries no injected header.
        for message in server.messages():
            self.assert_no_injection(message, "a@example.com")
        # Then the contract: a subject that can never be sent is refused at the API with a 4xx,
        # not accepted with 202 and failed later; otherwise it must be delivered intact.
        self.assertEqual(final["status"], "sent",
                         f"accepted with 202 but not deliverable: {final.get('reason')}")
        self.assertEqual(len(server.messages()), 1)

    def test_crlf_in_template_data_cannot_add_a_header(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server, extra_templates={"greeting": GREETING_TEMPLATE})
        name = "A\r\nBcc: x@evil.example"
        resp = daemon.request("POST", "/v1/messages",
                              {"to": {"email": "a@example.com"}, "template": "greeting",
                               "data": {"name": name}})
        if resp.status in (400, 422):
            self.assertTrue(resp.error_code, resp)
            self.assert_quiet(server, 0)
            return
        self.assertEqual(resp.status, 202, resp)
        daemon.wait_status(resp.json["id"], {"sent"})
        [message] = server.wait_for(1)
        self.assert_no_injection(message, "a@example.com")
        parsed = message.parse()
        # One-line parts fold line breaks to spaces: the name is text inside the subject.
        self.assertEqual(str(parsed["Subject"]), "Hello A Bcc: x@evil.example")
        # The body is not a header context; the value arrives as it was given.
        self.assert_text_round_trip(self.text_part(parsed), f"Dear {name},\nthank you.\n")

    def test_crlf_in_recipient_cannot_add_a_recipient(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        for address in ("a@example.com\r\nRCPT TO:<x@evil.example>",
                        "a@example.com>\r\nBcc: x@evil.example",
                        "Someone <a@example.com>, x@evil.example"):
            with self.subTest(address=address):
                resp = daemon.request("POST", "/v1/messages", email_message(address))
                if resp.status == 202:
                    final = daemon.wait_status(resp.json["id"], {"sent", "failed"})
                    self.assertEqual(final["status"], "failed", final)
                else:
                    self.assertIn(resp.status, (400, 422), resp)
        self.assert_quiet(server, 0)

    # --- 6. dot-stuffing, long lines, smuggling ---------------------------------------------------

    def test_dot_lines_and_a_5000_character_line_arrive_intact(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        long_line = "".join(chr(ord("a") + i % 26) for i in range(5000))
        text = f"first\n.\n..\n.leading dot\n{long_line}\n. \nlast\n"
        accepted = daemon.send(email_message("a@example.com", subject="Dots", text=text))
        daemon.wait_status(accepted["id"], {"sent"})
        [message] = server.wait_for(1)
        self.assert_quiet(server, 1)
        self.assertEqual(len(server.messages()), 1)
        self.assert_wire_format(message.data)
        parsed = message.parse()
        self.assertEqual(parsed.get_content_type(), "text/plain")
        self.assert_text_round_trip(parsed.get_content(), text)

    def test_smtp_smuggling_in_the_body_stays_in_the_body(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        smuggled = ("Hello\r\n.\r\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<x@evil.example>\r\n"
                    "DATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n"
                    "bare LF dot\n.\nbare CR dot\r.\rend")
        accepted = daemon.send(email_message("a@example.com", subject="Smuggling",
                                             text=smuggled))
        daemon.wait_status(accepted["id"], {"sent"})
        [message] = server.wait_for(1)
        self.assert_quiet(server, 1)
        self.assertEqual(message.mail_from, FROM_ADDRESS)
        self.assertEqual(message.rcpt_tos, ["a@example.com"])
        self.assert_wire_format(message.data)
        parsed = message.parse()
        self.assertEqual(str(parsed["Subject"]), "Smuggling")
        # Every line break style becomes CRLF; nothing else changes.
        self.assert_text_round_trip(parsed.get_content(), smuggled.replace("\r\n", "\n")
                                    .replace("\r", "\n"))

    def test_text_round_trips_exactly(self):
        # The decoded text/plain part is the text sent, line breaks as CRLF, not one more.
        server = self.smtp_server()
        daemon = self.daemon_for(server)
        cases = []
        for script, text in (("ascii", "Line one\nline two\n"),
                             ("ascii, no final newline", "Line one\nline two"),
                             ("cyrillic", "Строка один\nстрока два\n"),
                             ("cyrillic, no final newline", "Строка один\nстрока два")):
            for html in (None, "<p>x</p>"):
                message = email_message("a@example.com", subject=script, text=text)
                if html:
                    message["content"]["email"]["html"] = html
                cases.append((script, html is not None, text,
                              daemon.send(message)["id"]))
        for _, _, _, message_id in cases:
            daemon.wait_status(message_id, {"sent"})
        received = {m.parse()["Message-ID"].strip("<>").split("@")[0]: m
                    for m in server.wait_for(len(cases))}
        for script, multipart, text, message_id in cases:
            with self.subTest(text=script, multipart=multipart):
                parsed = received[message_id].parse()
                self.assertEqual(parsed.get_content_type(),
                                 "multipart/alternative" if multipart else "text/plain")
                expected = {crlf(text)}
                if not multipart and not text.endswith("\n"):
                    # A message ends with a line break on the wire; only a quoted-printable soft
                    # break could hide it, so one added line break is tolerated here.
                    expected.add(crlf(text) + "\r\n")
                self.assertIn(self.text_part(parsed), expected)

    def test_envelope_from_with_message_id(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server, envelope_from="bounces+{id}@shop.example")
        accepted = daemon.send(email_message("a@example.com"))
        daemon.wait_status(accepted["id"], {"sent"})
        [message] = server.wait_for(1)
        self.assertEqual(message.mail_from, f"bounces+{accepted['id']}@shop.example")
        [sender] = message.parse()["From"].addresses
        self.assertEqual(sender.addr_spec, FROM_ADDRESS)

    # --- 7. rate and concurrency ------------------------------------------------------------------

    def test_rate_limit(self):
        server = self.smtp_server()
        daemon = self.daemon_for(server, rate=5, max_concurrency=4)
        started = time.monotonic()
        ids = [daemon.send(email_message(f"u{i}@example.com"))["id"] for i in range(15)]
        messages = server.wait_for(15, timeout=20)
        # 5 messages/s with a burst of at most 5: the other 10 need at least 2 s.
        elapsed = max(m.at for m in messages) - started
        self.assertGreaterEqual(elapsed, 1.6, f"15 messages at rate 5/s took {elapsed:.2f}s")
        for message_id in ids:
            daemon.wait_status(message_id, {"sent"})
        self.assertEqual(sorted(m.rcpt_tos[0] for m in messages),
                         sorted(f"u{i}@example.com" for i in range(15)))

    def test_max_concurrency(self):
        for limit in (1, 3):
            with self.subTest(max_concurrency=limit):
                server = self.smtp_server()
                server.set_default("RCPT", Reply(delay=0.3))
                daemon = self.daemon_for(server, rate=1000, max_concurrency=limit)
                ids = [daemon.send(email_message(f"u{i}@example.com"))["id"] for i in range(6)]
                server.wait_for(6, timeout=15)
                for message_id in ids:
                    daemon.wait_status(message_id, {"sent"})
                # With a limit above 1 the fake must see overlap, or it could not see a leak.
                self.assertEqual(server.max_concurrency(), limit, server.transactions())
                if limit == 1:
                    self.assertEqual(server.max_open_connections, 1)

    def test_slow_end_of_data_reply_stalls_nothing_else(self):
        # Servers scan a message before they answer the final dot; that can take seconds. The
        # daemon runs one event loop, so waiting for that answer must not block it: the API
        # keeps answering and the other transfers of the provider keep going.
        server = self.smtp_server()
        server.set_default("DATA", Reply(delay=1.5))
        daemon = self.daemon_for(server, rate=1000, max_concurrency=3)
        ids = [daemon.send(email_message(f"u{i}@example.com"))["id"] for i in range(3)]
        # Probe the API all the while the server sits on its answers.
        client = daemon.client()
        self.addCleanup(client.close)
        worst = 0.0
        deadline = time.monotonic() + 15
        while len(server.messages()) < len(ids) and time.monotonic() < deadline:
            started = time.monotonic()
            health = client.request("GET", "/healthz", token=None)
            worst = max(worst, time.monotonic() - started)
            self.assertEqual(health.status, 200, health)
            time.sleep(0.05)
        for message_id in ids:
            daemon.wait_status(message_id, {"sent"}, timeout=15)
        self.assertLess(worst, 0.5, f"/healthz took up to {worst:.2f}s while the server was "
                                    f"slow to answer DATA: the event loop was blocked")
        self.assertEqual(server.max_concurrency(), 3, server.transactions())

    def test_hanging_server_times_out_and_is_retried(self):
        server = self.smtp_server()
        server.script("DATA", Reply(hang=True))
        daemon = self.daemon_for(server, timeout="1s")
        accepted = daemon.send(email_message("a@example.com"))
        final = daemon.wait_status(accepted["id"], {"sent"}, timeout=15)
        # One hang costs one attempt: the connection still waiting for the DATA reply is closed,
        # not reused for the retry.
        self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"],
                         f"one hang cost more than one attempt: {final['attempts']}")
        first, second = server.transactions()
        self.assertFalse(first.accepted, first)
        self.assertGreaterEqual(second.at - first.at, 1.0 - 0.05)
        self.assertEqual(len(server.messages()), 1)


if __name__ == "__main__":
    unittest.main()
