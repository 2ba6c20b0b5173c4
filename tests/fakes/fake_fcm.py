#!/usr/bin/python3
"""Fake Firebase Cloud Messaging (HTTP v1) plus Google's OAuth2 token endpoint, over TLS.

Start:
    /usr/bin/python3 fake_fcm.py --cert server.pem --key server.key \
        --public-key fcm_service_account.pub [--project omnigate-test] \
        [--client-email NAME@PROJECT.iam.gserviceaccount.com] [--expires-in 3599]

It prints two lines on stdout, then serves until killed:
    PORT <n>       HTTPS (HTTP/1.1) on 127.0.0.1: POST /token, POST /v1/projects/<p>/messages:send
    CONTROL <m>    plain HTTP on 127.0.0.1 for the test: GET /state, POST /script, POST /reset

Token endpoint (RFC 6749 error shape, like Google's): the form must carry
grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256 assertion whose signature
verifies against --public-key (checked with the openssl CLI), whose aud is this endpoint's URL
(https://127.0.0.1:<n>/token or https://localhost:<n>/token), whose scope includes
firebase.messaging, whose iss is --client-email when given, with exp - iat <= 3600 and exp in the
future. Failures answer 400 {"error":"invalid_grant","error_description":...}. Success issues a
fresh "ya29.fake-<k>" token valid for expires_in seconds on the fake's clock.

Send endpoint: the bearer token must be one this fake issued and has not expired, else 401
UNAUTHENTICATED without an FcmError detail (so a client should refresh). Wrong project: 404
NOT_FOUND without detail. The body is validated as FCM does (one target, string-only data,
reserved data keys, android priority/ttl, 4096-byte payload) and refused with 400
INVALID_ARGUMENT. Then the scripted outcome for the token applies; the default is success,
200 {"name":"projects/<p>/messages/<k>"}.

POST /script (JSON, every key optional, merged into the current script):
    {"tokens": {"<registration token>": OUTCOMES, "*": OUTCOMES},
     "token_endpoint": OUTCOMES_FOR_TOKEN_REQUESTS,
     "expires_in": 3599,            # lifetime of the access tokens issued from now on
     "clock_offset": 0,             # seconds added to the fake's clock (expiry checks, exp/iat)
     "delay_ms": 0}                 # delay before every send reply
  OUTCOMES is either a list, consumed one per request (success once it runs out), or a single
  outcome that applies to every request. A per-token entry wins over "*". An outcome is a name or
  {"outcome": NAME, "retry_after": seconds}. Send outcomes: OK, UNREGISTERED (404),
  INVALID_TOKEN (400 INVALID_ARGUMENT about the registration token), INVALID_ARGUMENT (400 about
  a field), APNS_UNREGISTERED (400 with an ApnsError 410 detail), SENDER_ID_MISMATCH (403),
  QUOTA_EXCEEDED (429 with a QuotaFailure detail), UNAVAILABLE (503), INTERNAL (500),
  THIRD_PARTY_AUTH_ERROR (401 with detail), UNAUTHENTICATED (401 without detail, as for an expired
  access token), PERMISSION_DENIED (403 without detail). Token-endpoint outcomes: OK,
  invalid_grant (400), unavailable (503).
GET /state answers {"token_requests": [...], "sends": [...], "access_tokens_issued": k,
    "connections": c} where each send records token, project, body, outcome and status.
POST /reset forgets the script and the records (issued access tokens stay valid).
"""

import argparse
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
MAX_PAYLOAD = 4096
MAX_TTL_SECONDS = 2419200


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rs256_verifies(public_key_path, signing_input, signature):
    with tempfile.NamedTemporaryFile(delete=False) as sig_file:
        sig_file.write(signature)
    try:
        result = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", public_key_path, "-signature", sig_file.name],
            input=signing_input, capture_output=True, check=False)
        return result.returncode == 0
    finally:
        os.unlink(sig_file.name)


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.port = 0
        self.access_tokens = {}  # token -> expiry (fake clock, seconds)
        self.issued = 0
        self.connections = 0
        self.reset()

    def reset(self):
        self.script = {"tokens": {}, "token_endpoint": [], "expires_in": self.args.expires_in,
                       "clock_offset": 0, "delay_ms": 0}
        self.token_requests = []
        self.sends = []
        self.message_counter = 0

    def now(self):
        return time.time() + self.script["clock_offset"]

    def next_outcome(self, outcomes):
        """Pops the next outcome of a scripted list; a single outcome is permanent."""
        if isinstance(outcomes, list):
            if not outcomes:
                return {"outcome": "OK"}
            outcome = outcomes.pop(0)
        else:
            outcome = outcomes
        if isinstance(outcome, str):
            outcome = {"outcome": outcome}
        return outcome

    def send_outcome(self, token):
        tokens = self.script["tokens"]
        if token in tokens:
            return self.next_outcome(tokens[token])
        if "*" in tokens:
            return self.next_outcome(tokens["*"])
        return {"outcome": "OK"}


def rpc_error(code, status, message, details=()):
    return {"error": {"code": code, "message": message, "status": status,
                      "details": list(details)}}


def fcm_detail(error_code):
    return {"@type": FCM_ERROR, "errorCode": error_code}


SEND_OUTCOMES = {
    "UNREGISTERED": (404, rpc_error(404, "NOT_FOUND", "Requested entity was not found.",
                                    [fcm_detail("UNREGISTERED")])),
    "INVALID_TOKEN": (400, rpc_error(
        400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
        [fcm_detail("INVALID_ARGUMENT")])),
    "INVALID_ARGUMENT": (400, rpc_error(
        400, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl' (type.googleapis.com/"
        "google.protobuf.Duration), Field 'ttl', Illegal duration format",
        [fcm_detail("INVALID_ARGUMENT"),
         {"@type": "type.googleapis.com/google.rpc.BadRequest",
          "fieldViolations": [{"field": "message.android.ttl",
                               "description": "Illegal duration format"}]}])),
    "APNS_UNREGISTERED": (400, rpc_error(
        400, "INVALID_ARGUMENT", "APNs device token is disabled.",
        [fcm_detail("INVALID_ARGUMENT"),
         {"@type": "type.googleapis.com/google.firebase.fcm.v1.ApnsError",
          "reason": "Unregistered", "statusCode": 410}])),
    "SENDER_ID_MISMATCH": (403, rpc_error(403, "PERMISSION_DENIED", "SenderId mismatch",
                                          [fcm_detail("SENDER_ID_MISMATCH")])),
    "QUOTA_EXCEEDED": (429, rpc_error(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'.",
        [fcm_detail("QUOTA_EXCEEDED"),
         {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
          "violations": [{"subject": "project", "description": "Send requests per minute"}]}])),
    "UNAVAILABLE": (503, rpc_error(503, "UNAVAILABLE", "The service is currently unavailable.",
                                   [fcm_detail("UNAVAILABLE")])),
    "INTERNAL": (500, rpc_error(500, "INTERNAL", "Internal error encountered.",
                                [fcm_detail("INTERNAL")])),
    "THIRD_PARTY_AUTH_ERROR": (401, rpc_error(
        401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service",
        [fcm_detail("THIRD_PARTY_AUTH_ERROR")])),
    "UNAUTHENTICATED": (401, rpc_error(
        401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
        "access token, login cookie or other valid authentication credential.")),
    "PERMISSION_DENIED": (403, rpc_error(
        403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied on resource "
        "'//cloudresourcemanager.googleapis.com/projects/omnigate-test' (or it may not exist).")),
}


def invalid_argument(message):
    return 400, rpc_error(400, "INVALID_ARGUMENT", message, [fcm_detail("INVALID_ARGUMENT")])


def validate_message(body):
    """The checks FCM makes on a send body; returns an error reply or None."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        return invalid_argument("Request contains an invalid argument: message is required")
    targets = [k for k in ("token", "topic", "condition") if k in message]
    if len(targets) != 1:
        return invalid_argument("Exactly one of token, topic or condition must be set")
    size = 0
    notification = message.get("notification", {})
    if not isinstance(notification, dict):
        return invalid_argument("Invalid value at 'message.notification'")
    for key in ("title", "body", "image"):
        if key in notification:
            if not isinstance(notification[key], str):
                return invalid_argument(f"Invalid value at 'message.notification.{key}'")
            if key != "image":
                size += len(notification[key].encode())
    data = message.get("data", {})
    if not isinstance(data, dict):
        return invalid_argument("Invalid value at 'message.data'")
    for index, (key, value) in enumerate(data.items()):
        if not isinstance(value, str):
            return invalid_argument(
                f"Invalid value at 'message.data[{index}].value' (TYPE_STRING)")
        if key in ("from", "message_type") or key.startswith(("google", "gcm")):
            return invalid_argument(f"Invalid data payload key: {key}")
        size += len(key.encode()) + len(value.encode())
    if size > MAX_PAYLOAD:
        return invalid_argument("Message is too big")
    android = message.get("android", {})
    if not isinstance(android, dict):
        return invalid_argument("Invalid value at 'message.android'")
    if "priority" in android and android["priority"] not in ("HIGH", "NORMAL"):
        return invalid_argument("Invalid value at 'message.android.priority'")
    if "ttl" in android:
        ttl = android["ttl"]
        match = re.fullmatch(r"(\d+)(\.\d{1,9})?s", ttl) if isinstance(ttl, str) else None
        if not match or int(match.group(1)) > MAX_TTL_SECONDS:
            return invalid_argument("Invalid value at 'message.android.ttl'")
    return None


def make_handler(state):
    class FcmHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            with state.lock:
                state.connections += 1

        def reply(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length)

        def do_POST(self):
            path = urllib.parse.urlsplit(self.path).path
            body = self.read_body()
            if path == "/token":
                self.token(body)
                return
            match = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", path)
            if match:
                self.send_message(match.group(1), body)
                return
            self.reply(404, rpc_error(404, "NOT_FOUND", "Not found: " + path))

        def token(self, body):
            form = urllib.parse.parse_qs(body.decode(errors="replace"), keep_blank_values=True)
            record = {"time": time.time()}
            error = self.check_assertion(form, record)
            with state.lock:
                scripted = state.next_outcome(state.script["token_endpoint"])
                if error is None and scripted["outcome"] == "invalid_grant":
                    error = "scripted invalid_grant"
                if error is None and scripted["outcome"] == "unavailable":
                    record["error"] = "scripted unavailable"
                    status, reply = 503, {"error": "temporarily_unavailable"}
                elif error is not None:
                    record["error"] = error
                    status, reply = 400, {"error": "invalid_grant", "error_description": error}
                else:
                    state.issued += 1
                    token = f"ya29.fake-{state.issued}"
                    expires_in = int(state.script["expires_in"])
                    state.access_tokens[token] = state.now() + expires_in
                    record["access_token"] = token
                    status, reply = 200, {"access_token": token, "expires_in": expires_in,
                                          "token_type": "Bearer"}
                state.token_requests.append(record)
            self.reply(status, reply)

        def check_assertion(self, form, record):
            if form.get("grant_type") != [GRANT_TYPE]:
                return "Invalid grant_type: " + ",".join(form.get("grant_type", []))
            assertion = form.get("assertion", [""])[0]
            parts = assertion.split(".")
            if len(parts) != 3:
                return "Invalid JWT: malformed assertion"
            try:
                header = json.loads(b64url_decode(parts[0]))
                claims = json.loads(b64url_decode(parts[1]))
                signature = b64url_decode(parts[2])
            except ValueError:
                return "Invalid JWT: not base64url JSON"
            record["header"] = header
            record["claims"] = claims
            if header.get("alg") != "RS256":
                return "Invalid JWT: alg must be RS256"
            signing_input = (parts[0] + "." + parts[1]).encode()
            if not rs256_verifies(state.args.public_key, signing_input, signature):
                return "Invalid JWT Signature."
            audiences = {f"https://{host}:{state.port}/token"
                         for host in ("127.0.0.1", "localhost")}
            if claims.get("aud") not in audiences:
                return f"Invalid JWT: aud {claims.get('aud')!r} is not this token endpoint"
            if SCOPE not in str(claims.get("scope", "")).split():
                return "Invalid JWT: scope lacks firebase.messaging"
            if state.args.client_email and claims.get("iss") != state.args.client_email:
                return "Invalid JWT: iss is not the service account"
            iat, exp = claims.get("iat"), claims.get("exp")
            if not isinstance(iat, int) or not isinstance(exp, int):
                return "Invalid JWT: iat and exp must be integers"
            now = state.now()
            if exp - iat > 3600 or exp <= now or iat > now + 300:
                return ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                        "reasonable timeframe. Check your iat and exp values in the JWT claim.")
            return None

        def send_message(self, project, raw_body):
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = None
            record = {"time": time.time(), "project": project, "body": body,
                      "token": (body or {}).get("message", {}).get("token")
                      if isinstance(body, dict) and isinstance(body.get("message"), dict)
                      else None}
            with state.lock:
                delay = state.script["delay_ms"] / 1000.0
                expiry = state.access_tokens.get(token)
                if expiry is None or expiry <= state.now():
                    record["outcome"] = "UNAUTHENTICATED"
                    status, reply = SEND_OUTCOMES["UNAUTHENTICATED"]
                    headers = [("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')]
                elif state.args.project and project != state.args.project:
                    record["outcome"] = "NOT_FOUND"
                    status, reply = 404, rpc_error(404, "NOT_FOUND",
                                                   "Requested entity was not found.")
                    headers = []
                else:
                    status, reply, headers = self.scripted_reply(project, body, record)
                record["status"] = status
                state.sends.append(record)
            if delay:
                time.sleep(delay)
            self.reply(status, reply, headers)

        def scripted_reply(self, project, body, record):
            invalid = validate_message(body)
            if invalid is not None:
                record["outcome"] = "INVALID_REQUEST"
                return invalid[0], invalid[1], []
            outcome = state.send_outcome(record["token"])
            record["outcome"] = outcome["outcome"]
            headers = []
            if "retry_after" in outcome:
                headers.append(("Retry-After", str(outcome["retry_after"])))
            if outcome["outcome"] == "OK":
                state.message_counter += 1
                return 200, {"name": f"projects/{project}/messages/"
                                     f"0:{int(time.time() * 1000)}%{state.message_counter:06d}"}, []
            status, reply = SEND_OUTCOMES[outcome["outcome"]]
            return status, reply, headers

    return FcmHandler


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
            if self.path != "/state":
                self.reply(404, {"error": "unknown control path"})
                return
            with state.lock:
                snapshot = {"token_requests": state.token_requests, "sends": state.sends,
                            "access_tokens_issued": state.issued,
                            "connections": state.connections}
                self.reply(200, snapshot)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/reset":
                with state.lock:
                    state.reset()
                self.reply(200, {"ok": True})
                return
            if self.path != "/script":
                self.reply(404, {"error": "unknown control path"})
                return
            try:
                script = json.loads(raw or b"{}")
            except ValueError:
                self.reply(400, {"error": "script is not JSON"})
                return
            unknown = [k for k in script
                       if k not in ("tokens", "token_endpoint", "expires_in", "clock_offset",
                                    "delay_ms")]
            if unknown:
                self.reply(400, {"error": f"unknown script keys: {unknown}"})
                return
            with state.lock:
                if "tokens" in script:
                    state.script["tokens"].update(script["tokens"])
                for key in ("token_endpoint", "expires_in", "clock_offset", "delay_ms"):
                    if key in script:
                        state.script[key] = script[key]
            self.reply(200, {"ok": True})

    return ControlHandler


def main():
    parser = argparse.ArgumentParser(description="Fake FCM HTTP v1 and OAuth2 token endpoint")
    parser.add_argument("--cert", required=True, help="server certificate PEM")
    parser.add_argument("--key", required=True, help="server private key PEM")
    parser.add_argument("--public-key", required=True,
                        help="service account public key PEM that verifies the assertions")
    parser.add_argument("--project", default="", help="the only project accepted (default any)")
    parser.add_argument("--client-email", default="", help="expected iss (default any)")
    parser.add_argument("--expires-in", type=int, default=3599)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["http/1.1"])
    # The handshake happens on first read, in the connection's own thread, so a client that
    # connects and stalls cannot hold up accept().
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    state.port = server.server_address[1]

    control = ThreadingHTTPServer(("127.0.0.1", 0), make_control_handler(state))
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()

    print(f"PORT {state.port}", flush=True)
    print(f"CONTROL {control.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
