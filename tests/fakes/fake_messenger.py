#!/usr/bin/python3
"""Fake messenger providers: Telegram Bot API, WhatsApp Cloud API and Slack/Mattermost incoming
webhooks, plain HTTP/1.1.

Start from a shell:
    /usr/bin/python3 fake_messenger.py [--bot-token 123456:ABC...] [--wa-token TOKEN]
        [--wa-phone-number-id 106540352242922] [--wa-app-secret SECRET] [--wa-webhook-url URL]

It prints two lines on stdout, then serves until killed:
    PORT <n>       the provider endpoints on 127.0.0.1 (point each provider's base_url/url here)
    CONTROL <m>    plain HTTP for the test: GET /state, POST /script, POST /reset

Or import it (no side effects on import):
    server = FakeMessenger(bot_token=..., ...).start(); server.script({...}); server.stop()

Telegram (providers.md §5.1): GET or POST /bot<token>/<method>, method names case-insensitive,
sendMessage only; parameters from the query string, JSON, or a urlencoded form. A token other than
--bot-token → 401 {"ok":false,"error_code":401,"description":"Unauthorized"}; another method →
404 "Not Found". Checks with the Bot API's own descriptions: chat_id present ("Bad Request:
chat_id is empty"), text non-empty ("Bad Request: message text is empty"), parse_mode known
("Bad Request: unsupported parse_mode"), entities parse ("Bad Request: can't parse entities: ..."
for MarkdownV2 reserved characters not escaped with '\\', and for HTML tags other than
b/i/u/s/code/pre/a or unknown '&' entities), and at most 4096 UTF-16 units after parsing
("Bad Request: message is too long"). The HTTP status always equals error_code. Default success:
200 {"ok":true,"result":{"message_id":n,"date":...,"chat":{...},"text":<text after parsing>}}.

WhatsApp (providers.md §5.2): POST /<version>/<phone-number-id>/messages with
"Authorization: Bearer <--wa-token>" (else 401, Graph code 190). An unknown phone-number id → 400
code 100. The body must have messaging_product "whatsapp", a digits-only `to`, and either
type "text" with text.body of 1..4096 characters or type "template" with template.name and
template.language.code (else 400 code 100 / 131009). Default success: 200 {"messaging_product":
"whatsapp","contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.<...>"}]}. Afterwards the
fake POSTs the scripted statuses (default ["sent","delivered"]) to the webhook URL as Meta's
status payload, signed X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app secret, body).

Slack / Mattermost (providers.md §5.3): POST /services/<T>/<B>/<secret> or /hooks/<id> with a JSON
body carrying "text" (or "blocks"/"attachments"): 200 "ok"; a body that is not such JSON → 400
"invalid_payload", no text → 400 "no_text". Errors are plain text.

POST /script (JSON, every key optional, merged into the current script):
    {"telegram": {"chats": {"<chat_id>": OUTCOMES, "*": OUTCOMES}},
     "whatsapp": {"recipients": {"<digits>": OUTCOMES, "*": OUTCOMES},
                  "statuses": {"<digits>": ["sent", {"status": "failed", "code": 131047}],
                               "*": ["sent", "delivered"]},
                  "webhook_url": "http://...", "status_delay_ms": 50,
                  "forge_signatures": false},
     "slack": {"hooks": {"<path>": OUTCOMES, "*": OUTCOMES}},
     "delay_ms": 0, "hang_seconds": 30}
  OUTCOMES: a list consumed one per request (success once it runs out) or one outcome for every
  request; a specific key wins over "*". An outcome is a NAME or {"outcome": NAME,
  "retry_after": seconds}.
  Telegram: OK, BLOCKED (403 bot was blocked by the user), DEACTIVATED (403 user is
  deactivated), KICKED (403), CANT_INITIATE (403), CHAT_NOT_FOUND (400), MIGRATED (400 with
  parameters.migrate_to_chat_id), TOO_MANY_REQUESTS (429 with parameters.retry_after and a
  Retry-After header; retry_after default 5), UNAUTHORIZED (401), SERVER_ERROR (500),
  BAD_GATEWAY (502 HTML from the front end), HANG.
  WhatsApp: OK, UNDELIVERABLE (131026), RATE_LIMIT (130429), PAIR_RATE_LIMIT (131056),
  REENGAGEMENT (131047), OPTED_OUT (131050), AUTH (190, 401), TEMPLATE_MISSING (132001, 404),
  NOT_ALLOWED (131030), SERVER_ERROR (131000, 500), UNAVAILABLE (503 plain text), HANG;
  retry_after adds a Retry-After header.
  Slack: OK, INVALID_PAYLOAD (400), CHANNEL_NOT_FOUND (404), NO_SERVICE (404), ARCHIVED (410
  channel_is_archived), PROHIBITED (403 action_prohibited), RATE_LIMITED (429 + Retry-After,
  default 1), ROLLUP_ERROR (500), HANG.
GET /state answers {"telegram": [...], "whatsapp": [...], "slack": [...], "webhooks": [...]}.
POST /reset forgets the script and the records.
"""

import argparse
import hashlib
import hmac
import html
import json
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKDOWN_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a",
             "tg-spoiler", "span", "blockquote"}

TELEGRAM_ERRORS = {
    "BLOCKED": (403, "Forbidden: bot was blocked by the user"),
    "DEACTIVATED": (403, "Forbidden: user is deactivated"),
    "KICKED": (403, "Forbidden: bot was kicked from the supergroup chat"),
    "CANT_INITIATE": (403, "Forbidden: bot can't initiate conversation with a user"),
    "CHAT_NOT_FOUND": (400, "Bad Request: chat not found"),
    "MIGRATED": (400, "Bad Request: group chat was upgraded to a supergroup chat"),
    "TOO_MANY_REQUESTS": (429, "Too Many Requests: retry after %d"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "SERVER_ERROR": (500, "Internal Server Error"),
}

WHATSAPP_ERRORS = {
    "UNDELIVERABLE": (400, 131026, "Message Undeliverable"),
    "RATE_LIMIT": (400, 130429, "Rate limit hit"),
    "PAIR_RATE_LIMIT": (400, 131056, "(Business Account, Consumer Account) pair rate limit hit"),
    "REENGAGEMENT": (400, 131047, "Re-engagement message"),
    "OPTED_OUT": (400, 131050, "User has stopped marketing messages"),
    "AUTH": (401, 190, "Error validating access token: Session has expired"),
    "TEMPLATE_MISSING": (404, 132001, "Template name does not exist in the translation"),
    "NOT_ALLOWED": (400, 131030, "Recipient phone number not in allowed list"),
    "SERVER_ERROR": (500, 131000, "Something went wrong"),
}

SLACK_ERRORS = {
    "INVALID_PAYLOAD": (400, "invalid_payload"),
    "CHANNEL_NOT_FOUND": (404, "channel_not_found"),
    "NO_SERVICE": (404, "no_service"),
    "ARCHIVED": (410, "channel_is_archived"),
    "PROHIBITED": (403, "action_prohibited"),
    "RATE_LIMITED": (429, "rate_limited"),
    "ROLLUP_ERROR": (500, "rollup_error"),
}


def utf16_units(text):
    return len(text.encode("utf-16-le")) // 2


def parse_markdown_v2(text):
    """The text Telegram would show, or an error for an unescaped reserved character."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                return None, "Can't parse entities: unexpected end of text"
            out.append(text[i + 1])
            i += 2
            continue
        if c in MARKDOWN_V2_RESERVED:
            # Formatting marks are legal in real MarkdownV2, but the gateway sends plain text
            # escaped, so any unescaped reserved character here is its bug.
            return None, ("can't parse entities: Character '%s' is reserved and must be escaped "
                          "with the preceding '\\'" % c)
        out.append(c)
        i += 1
    return "".join(out), None


def parse_html(text):
    for match in re.finditer(r"<(/?)([a-zA-Z-]*)[^>]*>?", text):
        if match.group(2).lower() not in HTML_TAGS or not match.group(0).endswith(">"):
            return None, "can't parse entities: Unsupported start tag \"%s\"" % match.group(2)
    for match in re.finditer(r"&([^;\s]*);?", text):
        if match.group(1) not in ("lt", "gt", "amp", "quot") and not match.group(1).startswith("#"):
            return None, "can't parse entities: Unsupported HTML entity \"&%s\"" % match.group(1)
    stripped = re.sub(r"<[^>]*>", "", text)
    return html.unescape(stripped), None


def pick_outcome(table, key, consumed):
    entry_key = key if key in table else "*"
    if entry_key not in table:
        return "OK", {}
    outcomes = table[entry_key]
    if isinstance(outcomes, list):
        index = consumed.get(entry_key, 0)
        consumed[entry_key] = index + 1
        if index >= len(outcomes):
            return "OK", {}
        outcome = outcomes[index]
    else:
        outcome = outcomes
    if isinstance(outcome, dict):
        return outcome.get("outcome", "OK"), outcome
    return outcome, {}


class State:
    def __init__(self, bot_token, wa_token, wa_phone_number_id, wa_app_secret, wa_webhook_url):
        self.bot_token = bot_token
        self.wa_token = wa_token
        self.wa_phone_number_id = wa_phone_number_id
        self.wa_app_secret = wa_app_secret
        self.wa_webhook_url = wa_webhook_url
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.next_message_id = 1
        self.reset()

    def reset(self):
        with self.lock:
            self.script = {"telegram": {}, "whatsapp": {}, "slack": {}, "delay_ms": 0,
                           "hang_seconds": 30}
            self.consumed = {"telegram": {}, "whatsapp": {}, "slack": {}}
            self.records = {"telegram": [], "whatsapp": [], "slack": [], "webhooks": []}

    def merge_script(self, update):
        with self.lock:
            for key, value in update.items():
                if key in ("telegram", "whatsapp", "slack") and isinstance(value, dict):
                    self.script[key].update(value)
                    self.consumed[key] = {}
                else:
                    self.script[key] = value

    def outcome(self, provider, table_name, key):
        with self.lock:
            table = self.script[provider].get(table_name, {})
            return pick_outcome(table, key, self.consumed[provider])

    def setting(self, provider, key, default):
        with self.lock:
            return self.script[provider].get(key, default)

    def message_id(self):
        with self.lock:
            self.next_message_id += 1
            return self.next_message_id

    def record(self, kind, entry):
        with self.lock:
            self.records[kind].append(entry)

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.records))


def make_handler(state):
    class MessengerHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body, content_type="application/json", headers=()):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def pause(self):
            delay = state.script.get("delay_ms", 0)
            if delay:
                time.sleep(delay / 1000.0)

        def hang(self):
            state.stopping.wait(float(state.script.get("hang_seconds", 30)))
            self.close_connection = True

        def do_GET(self):
            self.route(b"")

        def do_POST(self):
            self.route(self.read_body())

        def route(self, body):
            parts = urllib.parse.urlsplit(self.path)
            segments = parts.path.strip("/").split("/")
            if segments and segments[0].startswith("bot"):
                return self.telegram(segments, parts.query, body)
            if self.command == "POST" and len(segments) == 3 and segments[2] == "messages":
                return self.whatsapp(segments[1], body)
            if self.command == "POST" and (parts.path.startswith("/services/")
                                           or parts.path.startswith("/hooks/")):
                return self.slack(parts.path, body)
            self.reply(404, "Not Found", "text/plain")

        # --- Telegram -------------------------------------------------------------------------

        def telegram_error(self, status, description, record, parameters=None, headers=()):
            record.update(status=status, description=description)
            state.record("telegram", record)
            body = {"ok": False, "error_code": status, "description": description}
            if parameters:
                body["parameters"] = parameters
            self.reply(status, json.dumps(body), headers=headers)

        def telegram(self, segments, query, raw):
            record = {"method": self.command, "path_method": segments[-1],
                      "headers": dict(self.headers.items())}
            if segments[0][3:] != state.bot_token:
                return self.telegram_error(401, "Unauthorized", record)
            if len(segments) != 2 or segments[1].lower() != "sendmessage":
                return self.telegram_error(404, "Not Found", record)
            params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            try:
                if content_type == "application/json":
                    params.update(json.loads(raw or b"{}"))
                elif raw:
                    params.update(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
            except ValueError:
                return self.telegram_error(400, "Bad Request: can't parse JSON object", record)
            record["params"] = params
            chat_id = params.get("chat_id")
            text = params.get("text", "")
            mode = (params.get("parse_mode") or "").lower()
            if chat_id in (None, ""):
                return self.telegram_error(400, "Bad Request: chat_id is empty", record)
            if not text:
                return self.telegram_error(400, "Bad Request: message text is empty", record)
            if mode == "markdownv2":
                shown, error = parse_markdown_v2(text)
            elif mode == "html":
                shown, error = parse_html(text)
            elif mode in ("", "markdown"):
                shown, error = text, None
            else:
                return self.telegram_error(400, "Bad Request: unsupported parse_mode", record)
            if error:
                return self.telegram_error(400, "Bad Request: " + error, record)
            if utf16_units(shown) > 4096:
                return self.telegram_error(400, "Bad Request: message is too long", record)
            record["text"] = shown
            outcome, options = state.outcome("telegram", "chats", str(chat_id))
            record["outcome"] = outcome
            self.pause()
            if outcome == "HANG":
                state.record("telegram", record)
                return self.hang()
            if outcome == "BAD_GATEWAY":
                record["status"] = 502
                state.record("telegram", record)
                return self.reply(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                                  "text/html")
            if outcome in TELEGRAM_ERRORS:
                status, description = TELEGRAM_ERRORS[outcome]
                parameters, headers = None, ()
                if outcome == "TOO_MANY_REQUESTS":
                    wait = int(options.get("retry_after", 5))
                    description = description % wait
                    parameters = {"retry_after": wait}
                    headers = [("Retry-After", str(wait))]
                elif outcome == "MIGRATED":
                    parameters = {"migrate_to_chat_id": int(options.get("migrate_to_chat_id",
                                                                        -1001234567890))}
                return self.telegram_error(status, description, record, parameters, headers)
            message_id = state.message_id()
            record.update(status=200, message_id=message_id)
            state.record("telegram", record)
            chat = {"id": chat_id, "type": "private"}
            self.reply(200, json.dumps({"ok": True, "result": {
                "message_id": message_id, "date": int(time.time()), "chat": chat, "text": shown}}))

        # --- WhatsApp -------------------------------------------------------------------------

        def graph_error(self, status, code, message, record, headers=()):
            record.update(status=status, code=code)
            state.record("whatsapp", record)
            self.reply(status, json.dumps({"error": {
                "message": "(#%d) %s" % (code, message), "type": "OAuthException", "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": message},
                "fbtrace_id": secrets.token_urlsafe(12)}}), headers=headers)

        def whatsapp(self, phone_number_id, raw):
            record = {"path": self.path, "headers": dict(self.headers.items())}
            if self.headers.get("Authorization") != "Bearer " + state.wa_token:
                return self.graph_error(401, 190, "Error validating access token", record)
            if phone_number_id != state.wa_phone_number_id:
                return self.graph_error(400, 100, "Unsupported post request. Object with ID '%s' "
                                        "does not exist" % phone_number_id, record)
            try:
                body = json.loads(raw)
            except ValueError:
                return self.graph_error(400, 100, "Invalid parameter", record)
            record["body"] = body
            to = str(body.get("to", ""))
            if body.get("messaging_product") != "whatsapp" or not to.isdigit():
                return self.graph_error(400, 100, "Invalid parameter", record)
            kind = body.get("type", "text")
            if kind == "text":
                text = (body.get("text") or {}).get("body", "")
                if not text or len(text) > 4096:
                    return self.graph_error(400, 100, "Param text['body'] must be 1-4096 "
                                            "characters", record)
            elif kind == "template":
                template = body.get("template") or {}
                if not template.get("name") or not (template.get("language") or {}).get("code"):
                    return self.graph_error(400, 131008, "Required parameter is missing", record)
            else:
                return self.graph_error(400, 131009, "Parameter value is not valid", record)
            outcome, options = state.outcome("whatsapp", "recipients", to)
            record["outcome"] = outcome
            self.pause()
            if outcome == "HANG":
                state.record("whatsapp", record)
                return self.hang()
            headers = []
            if "retry_after" in options:
                headers.append(("Retry-After", str(options["retry_after"])))
            if outcome == "UNAVAILABLE":
                record["status"] = 503
                state.record("whatsapp", record)
                return self.reply(503, "Service Unavailable", "text/plain", headers)
            if outcome in WHATSAPP_ERRORS:
                status, code, message = WHATSAPP_ERRORS[outcome]
                return self.graph_error(status, code, message, record, headers)
            wamid = "wamid." + secrets.token_urlsafe(24)
            record.update(status=200, id=wamid)
            state.record("whatsapp", record)
            self.reply(200, json.dumps({"messaging_product": "whatsapp",
                                        "contacts": [{"input": to, "wa_id": to}],
                                        "messages": [{"id": wamid}]}))
            self.whatsapp_statuses(to, wamid)

        def whatsapp_statuses(self, to, wamid):
            url = state.setting("whatsapp", "webhook_url", state.wa_webhook_url)
            if not url:
                return
            table = state.setting("whatsapp", "statuses", {})
            statuses = table.get(to, table.get("*", ["sent", "delivered"]))
            secret = state.wa_app_secret
            if state.setting("whatsapp", "forge_signatures", False):
                secret = "not-the-app-secret"
            delay = state.setting("whatsapp", "status_delay_ms", 50) / 1000.0

            def run():
                for item in statuses:
                    if state.stopping.wait(delay):
                        return
                    item = item if isinstance(item, dict) else {"status": item}
                    status = {"id": wamid, "status": item["status"],
                              "timestamp": str(int(time.time())), "recipient_id": to}
                    if item["status"] == "failed":
                        code = int(item.get("code", 131026))
                        status["errors"] = [{"code": code, "title": item.get("title", "Failure"),
                                             "message": item.get("title", "Failure"),
                                             "error_data": {"details": "scripted failure"}}]
                    payload = json.dumps({"object": "whatsapp_business_account", "entry": [{
                        "id": "102290129340398", "changes": [{"field": "messages", "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881",
                                         "phone_number_id": state.wa_phone_number_id},
                            "statuses": [status]}}]}]}).encode()
                    signature = "sha256=" + hmac.new(secret.encode(), payload,
                                                     hashlib.sha256).hexdigest()
                    record = {"provider": "whatsapp", "url": url, "status": item["status"],
                              "signature": signature, "body": payload.decode()}
                    request = urllib.request.Request(url, data=payload, method="POST", headers={
                        "Content-Type": "application/json", "X-Hub-Signature-256": signature})
                    try:
                        with urllib.request.urlopen(request, timeout=10) as response:
                            record["reply_status"] = response.status
                    except urllib.error.HTTPError as error:
                        record["reply_status"] = error.code
                    except OSError as error:
                        record["error"] = str(error)
                    state.record("webhooks", record)
            threading.Thread(target=run, daemon=True).start()

        # --- Slack / Mattermost ---------------------------------------------------------------

        def slack(self, path, raw):
            record = {"path": path, "headers": dict(self.headers.items())}
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except ValueError:
                record.update(status=400, reply="invalid_payload")
                state.record("slack", record)
                return self.reply(400, "invalid_payload", "text/plain")
            record["body"] = body
            if not (body.get("text") or body.get("blocks") or body.get("attachments")):
                record.update(status=400, reply="no_text")
                state.record("slack", record)
                return self.reply(400, "no_text", "text/plain")
            outcome, options = state.outcome("slack", "hooks", path)
            record["outcome"] = outcome
            self.pause()
            if outcome == "HANG":
                state.record("slack", record)
                return self.hang()
            if outcome in SLACK_ERRORS:
                status, text = SLACK_ERRORS[outcome]
                headers = []
                if outcome == "RATE_LIMITED" or "retry_after" in options:
                    headers.append(("Retry-After", str(options.get("retry_after", 1))))
                record.update(status=status, reply=text)
                state.record("slack", record)
                return self.reply(status, text, "text/plain", headers)
            record.update(status=200, reply="ok")
            state.record("slack", record)
            self.reply(200, "ok", "text/plain")

    return MessengerHandler


def make_control_handler(state):
    class ControlHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/state":
                return self.reply(200, state.snapshot())
            self.reply(404, {"error": "unknown path"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == "/script":
                try:
                    state.merge_script(json.loads(body or b"{}"))
                except (ValueError, AttributeError) as error:
                    return self.reply(400, {"error": str(error)})
                return self.reply(200, {"ok": True})
            if self.path == "/reset":
                state.reset()
                return self.reply(200, {"ok": True})
            self.reply(404, {"error": "unknown path"})

    return ControlHandler


class FakeMessenger:
    """All three providers on 127.0.0.1, port 0; `port` and `control_port` are set by start()."""

    def __init__(self, bot_token="123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
                 wa_token="fake-wa-token", wa_phone_number_id="106540352242922",
                 wa_app_secret="fake-app-secret", wa_webhook_url=""):
        self.state = State(bot_token, wa_token, wa_phone_number_id, wa_app_secret,
                           wa_webhook_url)
        self.server = None
        self.control = None

    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.control = ThreadingHTTPServer(("127.0.0.1", 0), make_control_handler(self.state))
        for server in (self.server, self.control):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def control_port(self):
        return self.control.server_address[1]

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def script(self, update):
        self.state.merge_script(update)

    def state_snapshot(self):
        return self.state.snapshot()

    def reset(self):
        self.state.reset()

    def stop(self):
        self.state.stopping.set()
        for server in (self.server, self.control):
            if server is not None:
                server.shutdown()
                server.server_close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot-token", default="123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11")
    parser.add_argument("--wa-token", default="fake-wa-token")
    parser.add_argument("--wa-phone-number-id", default="106540352242922")
    parser.add_argument("--wa-app-secret", default="fake-app-secret")
    parser.add_argument("--wa-webhook-url", default="")
    args = parser.parse_args()
    fake = FakeMessenger(args.bot_token, args.wa_token, args.wa_phone_number_id,
                         args.wa_app_secret, args.wa_webhook_url).start()
    print("PORT %d" % fake.port)
    print("CONTROL %d" % fake.control_port)
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
