#!/usr/bin/python3
"""Fake SMS providers: Twilio's Messages API and Kannel's smsbox `sendsms`, plain HTTP/1.1.

Start from a shell:
    /usr/bin/python3 fake_sms.py [--account-sid AC...] [--auth-token TOKEN]
        [--kannel-user gw] [--kannel-pass secret] [--kannel-global-sender NAME]

It prints two lines on stdout, then serves until killed:
    PORT <n>       the provider endpoints on 127.0.0.1 (point `base_url` / `url` here)
    CONTROL <m>    plain HTTP for the test: GET /state, POST /script, POST /reset

Or import it (the module has no side effects) and drive it from a test:
    server = FakeSms(account_sid=..., auth_token=...)
    server.start(); ...; server.script({...}); server.state(); server.stop()

Twilio (providers.md §4.1, §4.2): POST /2010-04-01/Accounts/<sid>/Messages.json with HTTP basic
auth (account sid : auth token). Wrong credentials → 401 {"code":20003,...}; a path account other
than the authenticated one → 404 20404. The form is checked like Twilio does: To must look like
E.164 (else 400 21211), Body required (21602), From or MessagingServiceSid required (21603),
Body at most 1600 characters (21617). Then the scripted outcome for the To number applies; the
default is 201 with a Message resource (sid "SM" + 32 hex, status "queued", num_segments as
counted for GSM-7/UCS-2). Error bodies are {"code","message","more_info","status"}.
When the request carried StatusCallback, the fake later POSTs each scripted status (default
["sent", "delivered"]) there as a form, signed with X-Twilio-Signature (base64 HMAC-SHA1 of the
URL plus the sorted parameters, keyed with the auth token), in the scripted order. Failed and
undelivered statuses carry ErrorCode/ErrorMessage.

Kannel (providers.md §4.3): GET or POST /cgi-bin/sendsms. GET takes CGI parameters; POST takes
the text as the body and the parameters as X-Kannel-* headers. Checks, with smsbox's exact
replies: credentials (403 "Authorization failed for sendsms"), receiver (400 "Missing receiver
number, rejected"), sender (400 "Sender missing and no global set, rejected" unless
--kannel-global-sender), coding (400 "Coding field misformed, rejected"), dlr-mask (400
"DLR-Mask field misformed, rejected"); text decoded per charset (UTF-8 or UTF-16BE, else 400
"Charset or body misformed, rejected"). Default success: 202 "0: Accepted for delivery". When
dlr-url and dlr-mask are given, the fake later GETs the DLR URL once per scripted DLR type
(default [8, 1]) that the mask allows, substituting %d (type), %A (SMSC reply
"id:<fid> sub:001 dlvrd:001 ... stat:DELIVRD err:000", URL-encoded), %F (foreign id), %I, %T,
%p/%P, %q/%Q, %i, %n, %c, %% with User-Agent Kannel/1.4.5.

POST /script (JSON, every key optional, merged into the current script):
    {"twilio": {"recipients": {"+15551234567": OUTCOMES, "*": OUTCOMES},
                "callbacks": {"+15551234567": ["sent", "undelivered"], "*": [...]},
                "callback_delay_ms": 50, "forge_signatures": false},
     "kannel": {"recipients": {...}, "dlr": {"+4912345678": [8, 2], "*": [8, 1]},
                "dlr_delay_ms": 50},
     "delay_ms": 0,          # delay before every provider reply
     "hang_seconds": 30}     # how long HANG holds the connection before closing it unanswered
  OUTCOMES is a list consumed one per request (success once it runs out) or one outcome for every
  request; a per-recipient entry wins over "*". An outcome is a NAME or {"outcome": NAME,
  "retry_after": seconds}.
  Twilio outcomes: OK, THROTTLED (429 20429, Retry-After when given), INVALID_TO (400 21211),
  UNSUBSCRIBED (400 21610), NOT_MOBILE (400 21614), UNREACHABLE (400 21612), LANDLINE (400 21635),
  REGION (400 21408), AUTH (401 20003), SERVER_ERROR (500), UNAVAILABLE (503), HANG.
  Kannel outcomes: OK, QUEUED (202 "3: ..."), SENT (202 "Sent."), DENIED (400 white/black-lists),
  NOT_ROUTABLE (403), TEMPORAL (503), FAILED (500 "Sending failed."), AUTH (403), UNKNOWN (404
  "Unknown request."), HANG.
GET /state answers {"twilio": [...], "kannel": [...], "callbacks": [...]}: every provider request
    (path, headers, parsed fields, text, outcome, status) and every callback the fake made (url,
    fields/query, signature, the gateway's status or error).
POST /reset forgets the script and the records.
"""

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = set("\f^{}\\[~]|€")

TWILIO_ERRORS = {
    "THROTTLED": (429, 20429, "Too Many Requests"),
    "INVALID_TO": (400, 21211, "Invalid 'To' Phone Number"),
    "UNSUBSCRIBED": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "NOT_MOBILE": (400, 21614, "'To' number is not a valid mobile number"),
    "UNREACHABLE": (400, 21612, "The 'To' phone number is not currently reachable"),
    "LANDLINE": (400, 21635, "'To' number cannot be a landline"),
    "REGION": (400, 21408, "Permission to send an SMS has not been enabled for the region"),
    "AUTH": (401, 20003, "Authenticate"),
    "SERVER_ERROR": (500, 20500, "Internal Server Error"),
    "UNAVAILABLE": (503, 20503, "Service Unavailable"),
}

KANNEL_REPLIES = {
    "OK": (202, "0: Accepted for delivery"),
    "QUEUED": (202, "3: Queued for later delivery"),
    "SENT": (202, "Sent."),
    "DENIED": (400, "Number(s) has/have been denied by white- and/or black-lists."),
    "NOT_ROUTABLE": (403, "Not routable. Do not try again."),
    "TEMPORAL": (503, "Temporal failure, try again later."),
    "FAILED": (500, "Sending failed."),
    "AUTH": (403, "Authorization failed for sendsms"),
    "UNKNOWN": (404, "Unknown request."),
}


def count_segments(text):
    """GSM-7 vs UCS-2 segments as providers.md §6 counts them (ceil per part)."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        units = sum(2 if c in GSM_EXTENSION else 1 for c in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    if units == 0:
        return 0
    return 1 if units <= single else -(-units // part)


def twilio_signature(auth_token, url, fields):
    signed = url + "".join(k + v for k, v in sorted(fields))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def pick_outcome(table, key, consumed):
    """Next outcome for `key` from a {key|"*": OUTCOMES} table; (name, options)."""
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
    def __init__(self, account_sid, auth_token, kannel_user, kannel_pass, global_sender):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.kannel_user = kannel_user
        self.kannel_pass = kannel_pass
        self.global_sender = global_sender
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset()

    def reset(self):
        with self.lock:
            self.script = {"twilio": {}, "kannel": {}, "delay_ms": 0, "hang_seconds": 30}
            self.consumed = {"twilio": {}, "kannel": {}}
            self.records = {"twilio": [], "kannel": [], "callbacks": []}

    def merge_script(self, update):
        with self.lock:
            for key, value in update.items():
                if key in ("twilio", "kannel") and isinstance(value, dict):
                    self.script[key].update(value)
                    if "recipients" in value:
                        self.consumed[key] = {}
                else:
                    self.script[key] = value

    def outcome(self, provider, recipient):
        with self.lock:
            table = self.script[provider].get("recipients", {})
            return pick_outcome(table, recipient, self.consumed[provider])

    def setting(self, provider, key, default):
        with self.lock:
            return self.script[provider].get(key, default)

    def record(self, kind, entry):
        with self.lock:
            self.records[kind].append(entry)

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.records))


def deliver_later(state, delay_ms, deliveries):
    """Runs the callbacks in order on a background thread; deliveries are (url, data, headers)."""
    def run():
        for url, data, headers, record in deliveries:
            if state.stopping.wait(delay_ms / 1000.0):
                return
            request = urllib.request.Request(url, data=data, headers=headers,
                                             method="POST" if data is not None else "GET")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    record["status"] = response.status
            except urllib.error.HTTPError as error:
                record["status"] = error.code
            except OSError as error:
                record["error"] = str(error)
            state.record("callbacks", record)
    threading.Thread(target=run, daemon=True).start()


def make_handler(state):
    class SmsHandler(BaseHTTPRequestHandler):
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
            path = urllib.parse.urlsplit(self.path).path
            if path == "/cgi-bin/sendsms":
                return self.kannel(urllib.parse.urlsplit(self.path).query, None)
            self.reply(404, "Unknown request.", "text/html")

        def do_POST(self):
            body = self.read_body()
            parts = urllib.parse.urlsplit(self.path)
            segments = parts.path.strip("/").split("/")
            if parts.path == "/cgi-bin/sendsms":
                return self.kannel(parts.query, body)
            if (len(segments) == 4 and segments[0] == "2010-04-01" and segments[1] == "Accounts"
                    and segments[3] == "Messages.json"):
                return self.twilio(segments[2], body)
            self.reply(404, json.dumps({"code": 20404, "message": "The requested resource "
                                        + parts.path + " was not found", "status": 404}))

        # --- Twilio ---------------------------------------------------------------------------

        def twilio_error(self, status, code, message, record, headers=()):
            record.update(status=status, code=code)
            state.record("twilio", record)
            self.reply(status, json.dumps({
                "code": code, "message": message,
                "more_info": "https://www.twilio.com/docs/errors/%d" % code, "status": status}),
                headers=headers)

        def twilio(self, path_account, raw):
            fields = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
            form = dict(fields)
            record = {"path": self.path, "headers": dict(self.headers.items()), "fields": form}
            expected = "Basic " + base64.b64encode(
                (state.account_sid + ":" + state.auth_token).encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self.twilio_error(401, 20003, "Authenticate", record)
            if path_account != state.account_sid:
                return self.twilio_error(404, 20404, "The requested resource was not found",
                                         record)
            to = form.get("To", "")
            body = form.get("Body", "")
            if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16):
                return self.twilio_error(400, 21211, "Invalid 'To' Phone Number: " + to, record)
            if not body:
                return self.twilio_error(400, 21602, "Message body is required.", record)
            if not form.get("From") and not form.get("MessagingServiceSid"):
                return self.twilio_error(400, 21603, "A 'From' phone number is required.", record)
            if len(body) > 1600:
                return self.twilio_error(400, 21617, "The concatenated message body exceeds the "
                                         "1600 character limit.", record)
            outcome, options = state.outcome("twilio", to)
            record["outcome"] = outcome
            self.pause()
            if outcome == "HANG":
                state.record("twilio", record)
                return self.hang()
            if outcome in TWILIO_ERRORS:
                status, code, message = TWILIO_ERRORS[outcome]
                headers = []
                if "retry_after" in options:
                    headers.append(("Retry-After", str(options["retry_after"])))
                return self.twilio_error(status, code, message, record, headers)
            sid = "SM" + secrets.token_hex(16)
            now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
            resource = {
                "sid": sid, "account_sid": state.account_sid, "to": to,
                "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": body, "status": "queued", "num_segments": str(count_segments(body)),
                "num_media": "0", "direction": "outbound-api", "api_version": "2010-04-01",
                "price": None, "error_code": None, "error_message": None, "date_created": now,
                "date_sent": None,
                "uri": "/2010-04-01/Accounts/%s/Messages/%s.json" % (state.account_sid, sid)}
            record.update(status=201, sid=sid, text=body)
            state.record("twilio", record)
            self.reply(201, json.dumps(resource))
            if form.get("StatusCallback"):
                self.twilio_callbacks(form, sid)

        def twilio_callbacks(self, form, sid):
            table = state.setting("twilio", "callbacks", {})
            to = form["To"]
            statuses = table.get(to, table.get("*", ["sent", "delivered"]))
            key = state.auth_token
            if state.setting("twilio", "forge_signatures", False):
                key = "not-the-auth-token"
            url = form["StatusCallback"]
            deliveries = []
            for status in statuses:
                fields = [("MessageSid", sid), ("SmsSid", sid), ("AccountSid", state.account_sid),
                          ("MessageStatus", status), ("SmsStatus", status), ("To", to),
                          ("From", form.get("From", "")), ("ApiVersion", "2010-04-01")]
                if status in ("failed", "undelivered"):
                    fields += [("ErrorCode", "30005"),
                               ("ErrorMessage", "Unknown destination handset")]
                signature = twilio_signature(key, url, fields)
                headers = {"Content-Type": "application/x-www-form-urlencoded",
                           "X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
                record = {"provider": "twilio", "url": url, "fields": dict(fields),
                          "signature": signature}
                deliveries.append((url, urllib.parse.urlencode(fields).encode(), headers, record))
            deliver_later(state, state.setting("twilio", "callback_delay_ms", 50), deliveries)

        # --- Kannel ---------------------------------------------------------------------------

        def kannel_reply(self, status, text, record):
            record["status"] = status
            record["reply"] = text
            state.record("kannel", record)
            self.reply(status, text, "text/html")

        def kannel(self, query, body):
            if body is None:
                params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True,
                                                     encoding="latin-1"))
                raw_text = params.get("text", "").encode("latin-1")
            else:
                params = {}
                for name, value in self.headers.items():
                    if name.lower().startswith("x-kannel-"):
                        params[name.lower()[len("x-kannel-"):]] = value
                raw_text = body
                content_type = self.headers.get("Content-Type", "")
                if "charset=" in content_type and "charset" not in params:
                    params["charset"] = content_type.split("charset=")[1].split(";")[0].strip()
            params = {k: v for k, v in params.items()}
            user = params.get("username", params.get("user"))
            password = params.get("password", params.get("pass"))
            dlr_url = params.get("dlr-url", params.get("dlrurl", ""))
            dlr_mask = params.get("dlr-mask", params.get("dlrmask", ""))
            record = {"method": self.command, "path": self.path,
                      "headers": dict(self.headers.items()),
                      "params": {k: v for k, v in params.items() if k != "text"}}
            if user != state.kannel_user or password != state.kannel_pass:
                return self.kannel_reply(403, "Authorization failed for sendsms", record)
            to = params.get("to", "")
            if not to.strip():
                return self.kannel_reply(400, "Missing receiver number, rejected", record)
            if not params.get("from") and not state.global_sender:
                return self.kannel_reply(400, "Sender missing and no global set, rejected",
                                         record)
            coding = params.get("coding", "0")
            if coding not in ("0", "1", "2"):
                return self.kannel_reply(400, "Coding field misformed, rejected", record)
            if dlr_mask and not (dlr_mask.isdigit() and 0 <= int(dlr_mask) <= 63):
                return self.kannel_reply(400, "DLR-Mask field misformed, rejected", record)
            charset = params.get("charset", "UTF-16BE" if coding == "2" else "UTF-8").upper()
            try:
                text = raw_text.decode({"UTF-8": "utf-8", "UTF-16BE": "utf-16-be"}[charset])
            except (KeyError, UnicodeDecodeError):
                return self.kannel_reply(400, "Charset or body misformed, rejected", record)
            record.update(text=text, to=to, coding=coding, charset=charset)
            outcome, options = state.outcome("kannel", to)
            record["outcome"] = outcome
            self.pause()
            if outcome == "HANG":
                state.record("kannel", record)
                return self.hang()
            status, reply = KANNEL_REPLIES.get(outcome, KANNEL_REPLIES["OK"])
            self.kannel_reply(status, reply, record)
            if status == 202 and dlr_url and dlr_mask:
                self.kannel_dlrs(dlr_url, int(dlr_mask), params, to, user)

        def kannel_dlrs(self, dlr_url, mask, params, to, user):
            table = state.setting("kannel", "dlr", {})
            types = table.get(to, table.get("*", [8, 1]))
            foreign_id = secrets.token_hex(8)
            internal_id = secrets.token_hex(16)
            sender = params.get("from", state.global_sender or "")
            deliveries = []
            for dlr_type in types:
                if not dlr_type & mask:
                    continue
                stat = {1: "DELIVRD", 2: "UNDELIV", 4: "ENROUTE", 8: "ACKED", 16: "REJECTD",
                        32: "ENROUTE"}.get(dlr_type, "UNKNOWN")
                smsc_reply = ("id:%s sub:001 dlvrd:%s submit date:2401011200 done date:2401011201"
                              " stat:%s err:000 text:" % (foreign_id,
                                                          "001" if dlr_type == 1 else "000", stat))
                values = {"d": str(dlr_type), "A": smsc_reply, "F": foreign_id, "I": internal_id,
                          "T": str(int(time.time())), "p": sender, "P": to,
                          "q": sender.replace("00", "+", 1) if sender.startswith("00") else sender,
                          "Q": to, "i": "fake-smsc", "n": user or "", "c": params.get("coding", "0")}
                url = substitute(dlr_url, values)
                record = {"provider": "kannel", "url": url, "type": dlr_type,
                          "query": dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query,
                                                               keep_blank_values=True))}
                headers = {"User-Agent": "Kannel/1.4.5"}
                deliveries.append((url, None, headers, record))
            deliver_later(state, state.setting("kannel", "dlr_delay_ms", 50), deliveries)

    return SmsHandler


def substitute(url, values):
    """Kannel's DLR-URL escapes: %X replaced by the URL-encoded value, %% by %."""
    out = []
    i = 0
    while i < len(url):
        if url[i] == "%" and i + 1 < len(url):
            code = url[i + 1]
            if code == "%":
                out.append("%")
                i += 2
                continue
            if code in values:
                out.append(urllib.parse.quote(values[code], safe=""))
                i += 2
                continue
        out.append(url[i])
        i += 1
    return "".join(out)


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


class FakeSms:
    """Both endpoints on 127.0.0.1, port 0; `port` and `control_port` are set by start()."""

    def __init__(self, account_sid="AC0123456789abcdef0123456789abcdef",
                 auth_token="fake-twilio-token", kannel_user="gw", kannel_pass="kannel-pass",
                 kannel_global_sender=None):
        self.state = State(account_sid, auth_token, kannel_user, kannel_pass,
                           kannel_global_sender)
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
    parser.add_argument("--account-sid", default="AC0123456789abcdef0123456789abcdef")
    parser.add_argument("--auth-token", default="fake-twilio-token")
    parser.add_argument("--kannel-user", default="gw")
    parser.add_argument("--kannel-pass", default="kannel-pass")
    parser.add_argument("--kannel-global-sender", default=None)
    args = parser.parse_args()
    fake = FakeSms(args.account_sid, args.auth_token, args.kannel_user, args.kannel_pass,
                   args.kannel_global_sender).start()
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
