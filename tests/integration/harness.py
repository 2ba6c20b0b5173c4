"""Starts the real omnigated binary (from $OMNIGATED) in a private temporary directory and talks to
it over real sockets. Standard library only; run with /usr/bin/python3.

    with FakeHttpServer() as fake, Daemon(base_config(fake)) as daemon:
        sent = daemon.send({"to": {...}, "content": {...}})
        daemon.wait_status(sent["id"], {"sent"})
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_FAKES = os.path.join(os.path.dirname(_HERE), "fakes")
if _FAKES not in sys.path:
    sys.path.insert(0, _FAKES)

TOKEN = "integration-test-token"
TOKEN_SHA256 = hashlib.sha256(TOKEN.encode()).hexdigest()
FINAL_STATUSES = frozenset(
    {"sent", "delivered", "read", "failed", "expired", "cancelled", "suppressed"})
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_LISTENING_RE = re.compile(r"api listening on 127\.0\.0\.1:(\d+)")
# Slow builds (TSan, a loaded machine) may need longer: OMNIGATE_TEST_START_TIMEOUT seconds.
START_TIMEOUT = float(os.environ.get("OMNIGATE_TEST_START_TIMEOUT", "10"))
STOP_TIMEOUT = 30.0


def binary():
    path = os.environ.get("OMNIGATED")
    if not path:
        raise RuntimeError("set OMNIGATED to the omnigated binary under test")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"OMNIGATED={path} is not an executable file")
    return path


# --- configuration --------------------------------------------------------------------------------

def base_config(fake=None, **sections):
    """The usual test configuration: ephemeral loopback port, one token, a store beside the
    config, a quick retry policy, and webhook providers for email and sms pointing at `fake`.
    Keyword arguments replace or add whole top-level sections (e.g. retry={...})."""
    config = {
        "server": {"listen": "127.0.0.1:0"},
        "api": {"tokens": [{"name": "test", "sha256": TOKEN_SHA256}]},
        "store": {"path": "omnigate.db"},
        "retry": {"base": "200ms", "max": "1s", "max_attempts": 4, "max_age": "1h"},
    }
    if fake is not None:
        config["channels"] = {"email": {"providers": ["hook"]},
                              "sms": {"providers": ["hook-sms"]}}
        config["providers"] = {
            "hook": {"kind": "webhook", "url": fake.url("/email"), "allow_private": True,
                     "max_concurrency": 8, "timeout": "5s"},
            "hook-sms": {"kind": "webhook", "url": fake.url("/sms"), "allow_private": True},
        }
    config.update(sections)
    return config


def outbox_config(**sections):
    """base_config with every message going to an outbox directory instead of a peer."""
    config = base_config(**sections)
    config.setdefault("channels", {"email": {"providers": ["box"]}})
    config.setdefault("providers", {"box": {"kind": "outbox", "dir": "outbox"}})
    return config


def _toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _is_table_array(value):
    return isinstance(value, list) and value and all(isinstance(v, dict) for v in value)


def to_toml(config):
    """A small TOML writer for the shapes our configs use: nested tables, arrays of tables,
    scalars and arrays of scalars."""
    lines = []

    def emit(table, prefix):
        scalars = {k: v for k, v in table.items()
                   if not isinstance(v, dict) and not _is_table_array(v)}
        if prefix and (scalars or not table):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        if scalars:
            lines.append("")
        for k, v in table.items():
            name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            if isinstance(v, dict):
                emit(v, name)
            elif _is_table_array(v):
                for item in v:
                    lines.append(f"[[{name}]]")
                    for ik, iv in item.items():
                        lines.append(f"{_toml_key(ik)} = {_toml_value(iv)}")
                    lines.append("")

    emit(config, "")
    return "\n".join(lines) + "\n"


# --- HTTP client ----------------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"HTTP {self.status}: body is not JSON: {self.body[:300]!r}")

    @property
    def error_code(self):
        try:
            return json.loads(self.body)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


class Client:
    """One keep-alive connection to the daemon's API. Not thread-safe: give each thread its own
    (Daemon.client())."""

    def __init__(self, port, token=TOKEN, timeout=10.0):
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, token=..., raw=False):
        """Sends one request. `body` may be a dict/list (sent as JSON), str or bytes; `token=None`
        omits Authorization. Network errors propagate (the crash test relies on seeing them)."""
        token = self.token if token is ... else token
        all_headers = {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        reused = self.conn is not None
        try:
            return self._once(method, path, body, all_headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A reused keep-alive connection may have been closed by the server while idle;
            # only then is one transparent retry right.
            self.close()
            if not reused:
                raise
            return self._once(method, path, body, all_headers)

    def _once(self, method, path, body, headers):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except Exception:
            self.close()
            raise
        result = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        if resp.will_close:
            self.close()
        return result


# --- the daemon -----------------------------------------------------------------------------------

class DaemonError(AssertionError):
    pass


class Daemon:
    """A daemon in its own temporary directory. `config` is a dict (written as TOML) or TOML text
    in which {{name}} placeholders are replaced from `placeholders`."""

    def __init__(self, config=None, placeholders=None, args=(), start=True, keep_dir=False,
                 env=None):
        self.dir = tempfile.mkdtemp(prefix="omnigate-it-")
        # The daemon runs from an unrelated working directory so that a relative path resolved
        # against the cwd instead of the config's directory shows up as a missing file.
        self.cwd = os.path.join(self.dir, "cwd")
        os.mkdir(self.cwd)
        self.config_path = os.path.join(self.dir, "omnigate.toml")
        self.log_path = os.path.join(self.dir, "omnigated.log")
        self.args = list(args)
        self.env = dict(env or {})  # added to the daemon's environment
        self.proc = None
        self.port = None
        self.keep_dir = keep_dir
        self._log_offset = 0
        self._client = None
        self._failed = False
        self.write_config(config if config is not None else base_config(), placeholders)
        self._start_requested = start

    # context manager: start on enter, stop (and clean up) on exit
    def __enter__(self):
        if self._start_requested and self.proc is None:
            try:
                self.start()
            except BaseException:
                self.cleanup(failed=True)
                raise
        return self

    def __exit__(self, exc_type, exc, tb):
        failed = exc_type is not None
        try:
            if self.running():
                if failed:
                    self.kill()
                else:
                    self.stop()
        except BaseException:
            failed = True
            raise
        finally:
            self.cleanup(failed=failed)
        return False

    def write_config(self, config, placeholders=None):
        text = to_toml(config) if isinstance(config, dict) else config
        for name, value in (placeholders or {}).items():
            text = text.replace("{{" + name + "}}", str(value))
        with open(self.config_path, "w") as f:
            f.write(text)
        self.config_text = text

    @property
    def db_path(self):
        return os.path.join(self.dir, "omnigate.db")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # --- process control --------------------------------------------------------------------------

    def start(self, timeout=START_TIMEOUT):
        assert not self.running(), "daemon already running"
        log = open(self.log_path, "ab")
        self._log_offset = log.tell()
        self.proc = subprocess.Popen([binary(), "--config", self.config_path, *self.args],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     cwd=self.cwd, env={**os.environ, **self.env})
        log.close()
        self.port = None
        self._drop_client()
        deadline = time.monotonic() + timeout
        while self.port is None:
            match = _LISTENING_RE.search(self.log_since_start())
            if match:
                self.port = int(match.group(1))
                break
            if self.proc.poll() is not None:
                self._fail(f"omnigated exited with {self.proc.returncode} before listening")
            if time.monotonic() > deadline:
                self._fail(f"omnigated did not log 'api listening on' within {timeout}s")
            time.sleep(0.02)
        while True:
            try:
                if self.request("GET", "/readyz", token=None).status == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                self._fail(f"omnigated exited with {self.proc.returncode} before /readyz was 200")
            if time.monotonic() > deadline:
                self._fail(f"/readyz was not 200 within {timeout}s")
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT, expect_code=0):
        """SIGTERM, wait, and assert the exit code (0: a clean stop)."""
        self._drop_client()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._fail(f"omnigated did not exit within {timeout}s of SIGTERM")
        if expect_code is not None and code != expect_code:
            self._fail(f"omnigated exited with {code} after SIGTERM, expected {expect_code}")
        return code

    def kill(self):
        self._drop_client()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self, timeout=START_TIMEOUT):
        """Starts the binary again with the same directory and configuration (after stop() or
        kill(); a running daemon is stopped cleanly first)."""
        if self.running():
            self.stop()
        return self.start(timeout)

    def cleanup(self, failed=False):
        self._drop_client()
        if self.running():
            self.kill()
        if failed or self._failed or self.keep_dir:
            sys.stderr.write(f"\n--- omnigated log tail ({self.log_path}) ---\n"
                             f"{self.log_tail()}\n--- end of log ---\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _fail(self, message):
        self._failed = True
        raise DaemonError(f"{message}\n--- omnigated log tail ---\n{self.log_tail()}")

    # --- logs -------------------------------------------------------------------------------------

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_since_start(self):
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    # --- API --------------------------------------------------------------------------------------

    def client(self, token=TOKEN, timeout=10.0):
        """A fresh connection of its own (for threads, or for raw keep-alive checks)."""
        return Client(self.port, token=token, timeout=timeout)

    def _drop_client(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(self, method, path, body=None, headers=None, token=...):
        if self._client is None:
            self._client = Client(self.port)
        return self._client.request(method, path, body=body, headers=headers, token=token)

    def send(self, message, key=None, expect=(202,), headers=None):
        """POST /v1/messages; asserts the status is in `expect` and returns the JSON reply."""
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["Idempotency-Key"] = key
        resp = self.request("POST", "/v1/messages", message, headers=all_headers)
        if isinstance(expect, int):
            expect = (expect,)
        if resp.status not in expect:
            raise AssertionError(f"POST /v1/messages: expected HTTP {expect}, got {resp}\n"
                                 f"--- omnigated log tail ---\n{self.log_tail(15)}")
        return resp.json

    def get(self, message_id):
        resp = self.request("GET", f"/v1/messages/{message_id}")
        if resp.status != 200:
            raise AssertionError(f"GET /v1/messages/{message_id}: {resp}")
        return resp.json

    def wait_status(self, message_id, statuses, timeout=10.0, interval=0.05):
        """Polls GET /v1/messages/{id} until its status is one of `statuses`; returns the body."""
        if isinstance(statuses, str):
            statuses = {statuses}
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.get(message_id)
            if last.get("status") in statuses:
                return last
            if last.get("status") in FINAL_STATUSES:
                break  # a final status never changes; waiting longer cannot help
            if time.monotonic() > deadline:
                break
            time.sleep(interval)
        raise AssertionError(
            f"message {message_id}: expected status in {sorted(statuses)}, last seen "
            f"{json.dumps(last, indent=1)[:2000]}\n--- omnigated log tail ---\n{self.log_tail(15)}")

    # --- the store --------------------------------------------------------------------------------

    def integrity_check(self):
        """PRAGMA integrity_check on the store; only while the daemon is stopped (the daemon
        must be the database's only connection while it runs)."""
        assert not self.running(), "stop the daemon before opening its database"
        conn = sqlite3.connect(self.db_path)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        return [r[0] for r in rows]

    # --- --check-config --------------------------------------------------------------------------

    def check_config(self, timeout=10.0):
        """Runs `omnigated --config <this config> --check-config`; returns CompletedProcess."""
        return subprocess.run([binary(), "--config", self.config_path, "--check-config"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, cwd=self.cwd)


def test_failed(test):
    """Whether the unittest.TestCase `test` has failed so far. Meant for cleanups, which run
    after the test body, when its failures are already in the result (a failed subTest names its
    parent)."""
    result = getattr(test._outcome, "result", None)
    return result is not None and any(
        getattr(failed, "test_case", failed) is test
        for failed, _ in result.errors + result.failures)


def stop_after_test(test, daemon, on_failure=None):
    """Stops `daemon` when `test` ends: a passed test cleans its directory up; a failed one keeps
    it and prints the daemon's log (after calling `on_failure`, e.g. to print fakes' logs)."""
    def finish():
        failed = test_failed(test)
        if failed and on_failure is not None:
            on_failure()
        daemon.__exit__(AssertionError if failed else None, None, None)
    test.addCleanup(finish)


def raw_exchange(port, data, read_timeout=5.0):
    """Sends raw bytes on a fresh connection and returns everything the server sends back until
    it closes the connection or `read_timeout` passes without data."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        return _exchange(s, data)


def unix_exchange(path, data, read_timeout=5.0):
    """raw_exchange over the daemon's Unix socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(read_timeout)
        s.connect(path)
        return _exchange(s, data)


def _exchange(s, data):
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before reading everything; read its answer
    chunks = []
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except (socket.timeout, ConnectionResetError):
        pass
    return b"".join(chunks)


def rss_kib(pid):
    """The process's resident set (VmRSS) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def status_of(raw_response):
    """The status code of the first HTTP response in `raw_response`, or None."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", raw_response)
    return int(match.group(1)) if match else None


def rfc3339(epoch_seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def email_message(address="a@example.com", subject="Hello", text="Hi there", **extra):
    message = {"to": {"email": address}, "content": {"email": {"subject": subject, "text": text}}}
    message.update(extra)
    return message
