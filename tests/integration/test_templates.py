"""Templates through the real daemon: `template` + `data` + `locale` on POST /v1/messages rendered
at dispatch, the render preview endpoint, start-up validation that names the broken file and line,
and SIGHUP reloads that keep the old set when the new one is broken."""

import json
import os
import signal
import time
import unittest

from harness import Daemon, base_config

ORDER_TEXT = "Order {{order}} for {{name}} has shipped.\n"
TEMPLATES = {
    "order_shipped/default/email.subject": "Order {{order}} shipped",
    "order_shipped/default/email.txt": ORDER_TEXT,
    "order_shipped/default/email.html": "<p>Order <b>{{order}}</b> for {{name}}.</p>\n",
    "order_shipped/default/sms.txt": "Order {{order}} shipped\n",
    "order_shipped/ru/email.subject": "Заказ {{order}} отправлен",
    "order_shipped/ru/email.txt": "Заказ {{order}} для {{name}} отправлен.\n",
    "greet/default/email.subject": "Hi {{customer.id}}",
    "greet/default/email.txt": "Hello\n",
    "greet/ru/email.subject": "Привет, {{customer.id}}",
    "greet/ru/email.txt": "Здравствуйте\n",
    "email_only/default/email.subject": "Only email",
    "email_only/default/email.txt": "Hello {{name}}\n",
}


def write_templates(root, files):
    for relative, content in files.items():
        path = os.path.join(root, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)


def template_config():
    return base_config(
        templates={"dir": "templates"},
        channels={"email": {"providers": ["box"]}, "sms": {"providers": ["box"]}},
        providers={"box": {"kind": "outbox", "dir": "outbox"}})


def outbox_file(daemon, channel, message_id):
    path = daemon.path("outbox", channel, message_id + ".json")
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"no outbox file {path}\n{daemon.log_tail(15)}")
        time.sleep(0.05)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class TemplateDeliveryTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon(template_config(), start=False)
        write_templates(self.daemon.path("templates"), TEMPLATES)
        self.daemon.start()

    def tearDown(self):
        self.daemon.__exit__(None, None, None)

    def send(self, **fields):
        message = {"to": {"email": "a@example.com", "phone": "+79161234567"}}
        message.update(fields)
        return self.daemon.send(message)

    def test_localized_template_rendered_with_data_at_delivery(self):
        accepted = self.send(template="order_shipped", data={"order": "A-17", "name": "Ива"},
                             locale="ru-RU", channels=["email"])
        self.daemon.wait_status(accepted["id"], {"sent"})
        mail = outbox_file(self.daemon, "email", accepted["id"])
        self.assertEqual(mail["subject"], "Заказ A-17 отправлен")
        self.assertEqual(mail["text"], "Заказ A-17 для Ива отправлен.\n")
        # No ru html part: the email channel comes from the ru variant as a whole.
        self.assertNotIn("html", mail)

    def test_html_escapes_data_text_keeps_it_and_tags_in_data_stay_literal(self):
        accepted = self.send(template="order_shipped",
                             data={"order": "{{name}}", "name": "<b>Bob</b> & Co"},
                             channels=["email"])
        self.daemon.wait_status(accepted["id"], {"sent"})
        mail = outbox_file(self.daemon, "email", accepted["id"])
        self.assertEqual(mail["subject"], "Order {{name}} shipped")
        self.assertEqual(mail["text"], "Order {{name}} for <b>Bob</b> & Co has shipped.\n")
        self.assertEqual(mail["html"],
                         "<p>Order <b>{{name}}</b> for &lt;b&gt;Bob&lt;/b&gt; &amp; Co.</p>\n")

    def test_plan_keeps_only_channels_the_template_has(self):
        accepted = self.send(template="email_only", data={"name": "Ann"},
                             channels=["sms", "email"])
        self.assertEqual(accepted["plan"], ["email"])
        plan_steps = [step["result"] for step in accepted["decision"] if step["step"] == "plan"]
        self.assertEqual(len(plan_steps), 1, accepted["decision"])
        self.assertIn("sms: the template has no part for it", plan_steps[0])
        self.daemon.wait_status(accepted["id"], {"sent"})
        self.assertEqual(outbox_file(self.daemon, "email", accepted["id"])["text"], "Hello Ann\n")

    def test_customer_profile_picks_the_locale_and_fills_customer_fields(self):
        resp = self.daemon.request("PUT", "/v1/customers/c-9",
                                   {"contacts": {"email": "c9@example.com"}, "locale": "ru-RU"})
        self.assertEqual(resp.status, 200, resp)
        accepted = self.daemon.send({"customer_id": "c-9", "template": "greet",
                                     "channels": ["email"]})
        self.daemon.wait_status(accepted["id"], {"sent"})
        mail = outbox_file(self.daemon, "email", accepted["id"])
        self.assertEqual(mail["subject"], "Привет, c-9")
        # An explicit locale wins over the profile's.
        # (Different data: the same template and data twice would be a duplicate for c-9.)
        english = self.daemon.send({"customer_id": "c-9", "template": "greet", "locale": "en",
                                    "data": {"n": 2}, "channels": ["email"]})
        self.daemon.wait_status(english["id"], {"sent"})
        self.assertEqual(outbox_file(self.daemon, "email", english["id"])["subject"], "Hi c-9")

    def test_unknown_template_and_bad_data_are_refused(self):
        resp = self.daemon.request("POST", "/v1/messages",
                                   {"to": {"email": "a@example.com"}, "template": "nope"})
        self.assertEqual(resp.status, 422, resp)
        self.assertEqual(resp.error_code, "unknown_template")
        resp = self.daemon.request("POST", "/v1/messages",
                                   {"to": {"email": "a@example.com"}, "template": "order_shipped",
                                    "data": ["not", "an", "object"]})
        self.assertEqual(resp.status, 422, resp)
        self.assertEqual(resp.error_code, "invalid_request")
        self.assertIn("data", resp.json["error"]["message"])

    def test_render_preview_returns_every_part(self):
        resp = self.daemon.request("POST", "/v1/templates/order_shipped/render",
                                   {"data": {"order": "A-1", "name": "<i>"}, "locale": "ru"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["template"], "order_shipped")
        self.assertEqual(resp.json["locale"], "ru")
        self.assertEqual(resp.json["email"]["subject"], "Заказ A-1 отправлен")
        self.assertEqual(resp.json["sms"], {"text": "Order A-1 shipped"})
        resp = self.daemon.request("POST", "/v1/templates/order_shipped/render",
                                   {"data": {"order": "A-1", "name": "<i>"}, "channel": "email"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(set(resp.json) - {"template", "locale"}, {"email"})
        self.assertEqual(resp.json["locale"], "default")
        self.assertEqual(resp.json["email"]["html"], "<p>Order <b>A-1</b> for &lt;i&gt;.</p>\n")

    def test_render_preview_errors(self):
        cases = [
            ("/v1/templates/missing/render", {}, 404, "unknown_template"),
            ("/v1/templates/order_shipped/render", {"channel": "fax"}, 422, "invalid_request"),
            ("/v1/templates/order_shipped/render", {"data": 3}, 422, "invalid_request"),
            ("/v1/templates/order_shipped/render", {"colour": "red"}, 422, "invalid_request"),
        ]
        for path, body, status, code in cases:
            with self.subTest(path=path, body=body):
                resp = self.daemon.request("POST", path, body)
                self.assertEqual(resp.status, status, resp)
                self.assertEqual(resp.error_code, code)
        resp = self.daemon.request("POST", "/v1/templates/order_shipped/render", b"{nope",
                                   headers={"Content-Type": "application/json"})
        self.assertEqual(resp.status, 400, resp)
        self.assertEqual(resp.error_code, "invalid_json")
        resp = self.daemon.request("GET", "/v1/templates/order_shipped/render")
        self.assertEqual(resp.status, 405, resp)
        resp = self.daemon.request("POST", "/v1/templates/order_shipped/render", {}, token=None)
        self.assertEqual(resp.status, 401, resp)

    def test_sighup_reloads_and_keeps_the_old_set_when_broken(self):
        write_templates(self.daemon.path("templates"),
                        {"welcome/default/sms.txt": "Welcome {{name}}"})
        self.daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            resp = self.daemon.request("POST", "/v1/templates/welcome/render",
                                       {"data": {"name": "Ann"}})
            if resp.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["sms"], {"text": "Welcome Ann"})

        write_templates(self.daemon.path("templates"),
                        {"welcome/default/sms.txt": "Welcome {{#name}} unclosed",
                         "later/default/sms.txt": "Later"})
        self.daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload refused" not in self.daemon.log_since_start():
            self.assertLess(time.monotonic(), deadline, self.daemon.log_tail(10))
            time.sleep(0.05)
        self.assertIn("welcome/default/sms.txt:1", self.daemon.log_since_start())
        # The old set is still the one in force: the good template renders as before and the
        # new one from the broken batch does not exist.
        resp = self.daemon.request("POST", "/v1/templates/welcome/render",
                                   {"data": {"name": "Ann"}})
        self.assertEqual(resp.json["sms"], {"text": "Welcome Ann"})
        resp = self.daemon.request("POST", "/v1/templates/later/render", {})
        self.assertEqual(resp.status, 404, resp)


class TemplateValidationTest(unittest.TestCase):
    def test_broken_template_names_file_and_line_and_daemon_refuses_to_start(self):
        with Daemon(template_config(), start=False) as daemon:
            broken = dict(TEMPLATES)
            broken["order_shipped/default/email.txt"] = "line one\nline {{#two}} never closed\n"
            write_templates(daemon.path("templates"), broken)
            checked = daemon.check_config()
            self.assertEqual(checked.returncode, 1, checked)
            self.assertIn("order_shipped/default/email.txt:2", checked.stderr)
            with self.assertRaises(AssertionError):
                daemon.start(timeout=5)
            self.assertIn("order_shipped/default/email.txt:2", daemon.log())

    def test_missing_template_directory_is_a_config_error(self):
        with Daemon(template_config(), start=False) as daemon:
            checked = daemon.check_config()
            self.assertEqual(checked.returncode, 1, checked)
            self.assertIn("templates.dir", checked.stderr)

    def test_without_templates_a_template_request_is_unknown(self):
        with Daemon(base_config(channels={"email": {"providers": ["box"]}},
                                providers={"box": {"kind": "outbox", "dir": "outbox"}})) as daemon:
            resp = daemon.request("POST", "/v1/messages",
                                  {"to": {"email": "a@example.com"}, "template": "order_shipped"})
            self.assertEqual(resp.status, 422, resp)
            self.assertEqual(resp.error_code, "unknown_template")


if __name__ == "__main__":
    unittest.main()
