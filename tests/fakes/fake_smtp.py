"""A scriptable SMTP server for integration tests, built on aiosmtpd (python3-aiosmtpd).

FakeSmtpServer listens on 127.0.0.1 (port 0, so tests never collide) on a background thread. It
can require STARTTLS (with a certificate from tests/fakes/testca/make_testca.sh) and AUTH PLAIN /
LOGIN with fixed credentials, or run in clear without either. It records every transaction that
reaches MAIL FROM: the envelope, the DATA bytes exactly as received (after the SMTP layer undid
dot-stuffing, before any decoding), whether the session was TLS and authenticated, and the AUTH
user. Replies are scripted per stage (MAIL, RCPT, DATA): a queue consumed in order, then a
per-stage default, then acceptance.

    with FakeSmtpServer(tls_dir=certs, users={"shop": "secret"}) as smtp:
        smtp.script("RCPT", "450 4.2.0 Mailbox busy")
        ...
        [message] = smtp.wait_for(1)
        parsed = message.parse()
"""

import asyncio
import email
import email.policy
import logging
import os
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, TLSSetupException

__all__ = ["FakeSmtpServer", "Reply", "Transaction", "STAGES", "parse_message", "header_block"]

STAGES = ("MAIL", "RCPT", "DATA")

# aiosmtpd logs every command at INFO and warns about its own deprecated attributes; the tests
# assert on what was recorded, so only real errors are worth printing.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Reply:
    """One scripted answer for a stage. `text` None accepts (250); otherwise it is the full reply
    line such as "450 4.2.0 Mailbox busy". A 421 closes the connection after it is sent, as
    RFC 5321 section 3.8 says a server does. `delay` waits before answering; `hang` never answers
    (until the server closes), which is how a stuck server looks."""

    def __init__(self, text=None, delay=0.0, hang=False):
        self.text = text
        self.delay = delay
        self.hang = hang

    @property
    def accepts(self):
        return self.text is None or self.text.startswith("2")

    def __repr__(self):
        return f"Reply({self.text!r}, delay={self.delay}, hang={self.hang})"


def _as_reply(reply):
    return reply if isinstance(reply, Reply) else Reply(reply)


def parse_message(raw):
    """The raw DATA bytes as an email.message.EmailMessage (policy=email.policy.default), which
    decodes RFC 2047 words, MIME parts and transfer encodings the way a mail client would."""
    return email.message_from_bytes(raw, policy=email.policy.default)


def header_block(raw):
    """The raw header lines (before the first empty line), CRLF-split, without unfolding: for
    asserting what was literally on the wire."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


class Transaction:
    """One MAIL FROM .. end of DATA (or the reply that ended it early) as the fake saw it.

    `at` is time.monotonic() at MAIL FROM and `done_at` when the final reply was written (None if
    never answered). `reply` is the reply that ended the transaction ("250 OK" when a message was
    accepted), `stage` where it ended. `data` is None unless DATA was received."""

    def __init__(self, connection, at, mail_from, tls, authenticated, auth_user, auth_mechanism):
        self.connection = connection  # 1, 2, ...: which TCP connection carried it
        self.at = at
        self.done_at = None
        self.mail_from = mail_from
        self.rcpt_tos = []
        self.refused_rcpts = []
        self.data = None
        self.tls = tls
        self.authenticated = authenticated
        self.auth_user = auth_user
        self.auth_mechanism = auth_mechanism
        self.stage = "MAIL"
        self.reply = None

    @property
    def accepted(self):
        return self.stage == "DATA" and self.reply is not None and self.reply.startswith("2")

    def parse(self):
        assert self.data is not None, f"transaction {self!r} has no DATA"
        return parse_message(self.data)

    def __repr__(self):
        return (f"<Transaction conn={self.connection} from={self.mail_from!r} "
                f"to={self.rcpt_tos!r} stage={self.stage} reply={self.reply!r} "
                f"tls={self.tls} auth={self.auth_user!r} "
                f"data={(self.data or b'')[:80]!r}>")


class _Handler:
    """aiosmtpd handler hooks; everything it learns goes to the FakeSmtpServer under its lock."""

    def __init__(self, fake):
        self.fake = fake

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        tx = self.fake._begin(server, session, address)
        reply = await self.fake._answer("MAIL", tx)
        if reply is None:
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 OK"
        self.fake._end(tx, "MAIL", reply)
        return reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        tx = getattr(session, "fake_tx", None)
        reply = await self.fake._answer("RCPT", tx)
        if reply is None:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            if tx is not None:
                with self.fake._lock:
                    tx.rcpt_tos.append(address)
                    tx.stage = "RCPT"
            return "250 OK"
        if tx is not None:
            with self.fake._lock:
                tx.refused_rcpts.append((address, reply))
                tx.stage = "RCPT"
                tx.reply = reply
                tx.done_at = time.monotonic()
                self.fake._lock.notify_all()
        return reply

    async def handle_DATA(self, server, session, envelope):
        tx = getattr(session, "fake_tx", None)
        if tx is not None:
            with self.fake._lock:
                tx.data = bytes(envelope.original_content)
                tx.stage = "DATA"
        reply = await self.fake._answer("DATA", tx)
        reply = "250 2.0.0 OK: queued" if reply is None else reply
        if tx is not None:
            self.fake._end(tx, "DATA", reply)
        return reply

    async def handle_RSET(self, server, session, envelope):
        self.fake._abandon(session)
        return "250 OK"

    async def handle_exception(self, error):
        # A client that rejects our certificate is a result to count (tests assert on it), not
        # a traceback for the test log.
        with self.fake._lock:
            if isinstance(error, TLSSetupException):
                self.fake.tls_failures += 1
                return "454 4.7.0 TLS handshake failed"
            self.fake.errors.append(repr(error))
        return f"500 5.0.0 fake server error: {error!r}"[:500]


class _Smtp(SMTP):
    """aiosmtpd's SMTP session plus what a real server does and aiosmtpd leaves out: it closes
    the connection after a 421, and it tells the fake when a connection ends."""

    def __init__(self, fake, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fake = fake

    async def _handle_client(self):
        # STARTTLS replaces the session object, so the connection number lives here.
        self.fake_connection = self._fake._connection_opened()
        try:
            await super()._handle_client()
        finally:
            self._fake._abandon(self.session)
            self._fake._connection_closed()

    async def push(self, status):
        await super().push(status)
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        if text.startswith("421") and self.transport is not None:
            # Like Postfix: TLS close_notify (without waiting for the client's), then FIN.
            # asyncio's TLS transport alone would keep the TCP connection open until the client
            # answered the close_notify.
            self.transport.close()
            if self._original_transport is not None:
                self._original_transport.close()


class _Controller(Controller):
    def __init__(self, fake, handler, **kwargs):
        super().__init__(handler, hostname="127.0.0.1", port=0, **kwargs)
        self._fake = fake

    def factory(self):
        return _Smtp(self._fake, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        # Bound to port 0: learn the real port before aiosmtpd's start-up probe connects to it.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtpServer:
    """`tls_dir` holds server.pem and server.key (make_testca.sh); None runs without STARTTLS.
    `require_starttls` refuses mail before STARTTLS. `users` maps user name to password and
    turns on AUTH (only after TLS when TLS is configured); None or {} runs without AUTH.
    `mechanisms` limits the AUTH mechanisms offered (default PLAIN and LOGIN)."""

    def __init__(self, tls_dir=None, require_starttls=True, users=None,
                 mechanisms=("PLAIN", "LOGIN")):
        self._lock = threading.Condition()
        self._transactions = []
        self._scripts = {stage: [] for stage in STAGES}
        self._defaults = {stage: Reply() for stage in STAGES}
        self._users = dict(users or {})
        self._hangs = []  # (loop, future) of hanging replies, released on close
        self._closed = False
        self.connections = 0
        self.open_connections = 0
        self.max_open_connections = 0
        self.auth_failures = 0
        self.tls_failures = 0  # STARTTLS handshakes that failed (e.g. the client distrusts us)
        self.errors = []  # unexpected exceptions in the SMTP session, as repr strings
        self.tls = tls_dir is not None

        kwargs = {"server_hostname": "fake-smtp.test", "ident": "omnigate fake SMTP",
                  "data_size_limit": 10 * 1024 * 1024}
        if tls_dir is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(os.path.join(tls_dir, "server.pem"),
                                    os.path.join(tls_dir, "server.key"))
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = require_starttls
        if self._users:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = tls_dir is not None
            kwargs["auth_exclude_mechanism"] = [m for m in ("PLAIN", "LOGIN")
                                                if m not in mechanisms]
        self._controller = _Controller(self, _Handler(self), **kwargs)
        self._controller.start()
        self.port = self._controller.port
        with self._lock:
            # aiosmtpd's start-up probe is not the daemon's connection.
            self.connections = 0
            self.max_open_connections = self.open_connections

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    # --- scripting --------------------------------------------------------------------------------

    def script(self, stage, *replies):
        """Queues replies (strings such as "450 4.2.0 Mailbox busy", or Reply objects) for
        `stage`; each time the stage is reached it consumes the oldest one, then the default."""
        stage = stage.upper()
        assert stage in STAGES, f"stage must be one of {STAGES}"
        with self._lock:
            self._scripts[stage].extend(_as_reply(r) for r in replies)

    def set_default(self, stage, reply):
        """The answer for `stage` once its queue is empty (None: accept)."""
        stage = stage.upper()
        assert stage in STAGES, f"stage must be one of {STAGES}"
        with self._lock:
            self._defaults[stage] = _as_reply(reply)

    def pending_script(self, stage):
        with self._lock:
            return list(self._scripts[stage.upper()])

    # --- inspection -------------------------------------------------------------------------------

    def transactions(self):
        """Every transaction that reached MAIL FROM, accepted or not, in order."""
        with self._lock:
            return list(self._transactions)

    def messages(self):
        """The transactions whose DATA was accepted: the mail the server took responsibility for."""
        with self._lock:
            return [t for t in self._transactions if t.accepted]

    def wait_for(self, n_messages, timeout=10.0):
        """Blocks until at least `n_messages` were accepted; returns them. Raises AssertionError
        on timeout, listing every transaction seen."""
        return self._wait(lambda: self.messages(), n_messages, timeout, "accepted message(s)")

    def wait_for_transactions(self, n, timeout=10.0):
        """Blocks until at least `n` transactions have ended (accepted or refused)."""
        return self._wait(lambda: [t for t in self.transactions() if t.done_at is not None], n,
                          timeout, "finished transaction(s)")

    def _wait(self, collect, n, timeout, what):
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                seen = collect()
                if len(seen) >= n:
                    return seen
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"fake SMTP: expected {n} {what} within {timeout}s, got {len(seen)}; "
                        f"transactions: {self._transactions[:10]}")
                self._lock.wait(left)

    def max_concurrency(self):
        """The most transactions (MAIL FROM .. final reply) in progress at the same moment."""
        events = []
        for t in self.transactions():
            events.append((t.at, 1))
            events.append((t.done_at if t.done_at is not None else float("inf"), -1))
        active = peak = 0
        for _, delta in sorted(events):
            active += delta
            peak = max(peak, active)
        return peak

    # --- lifecycle --------------------------------------------------------------------------------

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            hangs = list(self._hangs)
        for loop, future in hangs:
            loop.call_soon_threadsafe(lambda f=future: f.done() or f.set_result(None))
        self._controller.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # --- called from the server thread ------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = self._users.get(user) == password
        with self._lock:
            if not ok:
                self.auth_failures += 1
        if ok:
            session.fake_auth = (user, mechanism)
        return AuthResult(success=ok, handled=False, auth_data=user)

    def _connection_opened(self):
        with self._lock:
            self.connections += 1
            self.open_connections += 1
            self.max_open_connections = max(self.max_open_connections, self.open_connections)
            return self.connections

    def _connection_closed(self):
        with self._lock:
            self.open_connections -= 1
            self._lock.notify_all()

    def _begin(self, server, session, address):
        user, mechanism = getattr(session, "fake_auth", (None, None))
        tx = Transaction(getattr(server, "fake_connection", 0), time.monotonic(), address,
                         tls=session.ssl is not None, authenticated=bool(session.authenticated),
                         auth_user=user, auth_mechanism=mechanism)
        session.fake_tx = tx
        with self._lock:
            self._transactions.append(tx)
            self._lock.notify_all()
        return tx

    def _end(self, tx, stage, reply):
        with self._lock:
            tx.stage = stage
            tx.reply = reply
            tx.done_at = time.monotonic()
            self._lock.notify_all()

    def _abandon(self, session):
        """RSET, QUIT or a lost connection ends a transaction that got no final reply."""
        tx = getattr(session, "fake_tx", None)
        session.fake_tx = None
        if tx is not None:
            with self._lock:
                if tx.done_at is None:
                    tx.done_at = time.monotonic()
                    tx.reply = tx.reply or "(abandoned)"
                    self._lock.notify_all()

    async def _answer(self, stage, tx):
        """Picks the reply for `stage` and waits as it says; None means accept."""
        with self._lock:
            queue = self._scripts[stage]
            reply = queue.pop(0) if queue else self._defaults[stage]
        if reply.hang:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            with self._lock:
                closed = self._closed
                self._hangs.append((loop, future))
            if not closed:
                await future
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return None if reply.text is None else reply.text
