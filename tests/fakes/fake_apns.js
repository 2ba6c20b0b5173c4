#!/usr/bin/env node
'use strict';
/*
 * Fake Apple Push Notification service (provider API, token auth): HTTP/2 over TLS only.
 * Needs nothing but Node's own http2 and crypto modules (Debian package `nodejs`).
 *
 * Start:
 *   node fake_apns.js --cert server.pem --key server.key --public-key apns_key.pub \
 *       --team-id TEAM123456 --key-id KEY1234567 [--topic com.example.app]
 *
 * It prints two lines on stdout, then serves until killed:
 *   PORT <n>      HTTPS on 127.0.0.1 offering only "h2" in ALPN (an HTTP/1.1 client fails the
 *                 handshake, as with Apple), POST /3/device/<token>
 *   CONTROL <m>   plain HTTP/1.1 on 127.0.0.1 for the test: GET /state, POST /script,
 *                 POST /reset; its connections are not counted below
 *
 * Each request is checked the way APNs does, in this order, and refused with the reason APNs
 * gives: method (405 MethodNotAllowed), path (404 BadPath; 400 MissingDeviceToken /
 * BadDeviceToken for a non-hex token), authorization (403 MissingProviderToken; a JWT that is not
 * ES256 with a raw 64-byte R||S signature verifying against --public-key, or whose kid/iss are not
 * --key-id/--team-id: 403 InvalidProviderToken; iat older than an hour: 403
 * ExpiredProviderToken; a new token less than --min-token-interval seconds after the previous one
 * for the same key: 429 TooManyProviderTokenUpdates, unless this fake just answered
 * ExpiredProviderToken), apns-topic (400 MissingTopic; --topic given and different: 400
 * TopicDisallowed), apns-push-type (400 InvalidPushType), apns-priority (400 BadPriority),
 * apns-expiration (400 BadExpirationDate), apns-collapse-id over 64 bytes (400 BadCollapseId),
 * apns-id not a canonical UUID (400 BadMessageId), body (400 PayloadEmpty; over 4096 bytes, 5120
 * for voip: 413 PayloadTooLarge; not a JSON object with "aps": 400 BadPayload, a reason of this
 * fake's own). Then the scripted outcome for the device token applies; the default is 200 with
 * the request's apns-id echoed (or a generated one) and an empty body.
 *
 * POST /script (JSON, every key optional, merged into the current script):
 *   {"tokens": {"<device token>": OUTCOMES, "*": OUTCOMES},
 *    "delay_ms": 0,         // delay before every device reply (lets concurrent streams overlap)
 *    "clock_offset": 0,     // seconds added to the fake's clock for the iat checks
 *    "min_token_interval": 1200}
 *   OUTCOMES is a list consumed one per request (success once it runs out) or one outcome that
 *   applies to every request. An outcome is an APNs reason name ("BadDeviceToken",
 *   "Unregistered", "TooManyRequests", ... any reason of Apple's table, with its status), "OK",
 *   or {"reason": NAME, "retry_after": seconds}. "Unregistered" and "ExpiredToken" answer 410 with
 *   a "timestamp"; "Shutdown" answers 503 and then sends GOAWAY carrying {"reason":"Shutdown"}.
 * GET /state answers {"connections": TLS connections accepted, "sessions": HTTP/2 sessions,
 *   "max_concurrent_streams": most streams open at once on one session, "requests": [{"session",
 *   "path", "token", "headers", "body", "jwt": {"header","claims"}, "status", "reason"}],
 *   "tokens_seen": distinct provider JWTs}.
 * POST /reset forgets the script and the records (the counters start again from zero).
 */

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const http2 = require('http2');

const MAX_PAYLOAD = 4096;
const MAX_VOIP_PAYLOAD = 5120;
const PUSH_TYPES = new Set(['alert', 'background', 'location', 'voip', 'complication',
  'fileprovider', 'mdm', 'liveactivity', 'pushtotalk', 'widgets', 'controls']);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const REASON_STATUS = {
  BadCollapseId: 400, BadDeviceToken: 400, BadExpirationDate: 400, BadMessageId: 400,
  BadPriority: 400, BadTopic: 400, DeviceTokenNotForTopic: 400, DuplicateHeaders: 400,
  IdleTimeout: 400, InvalidPushType: 400, MissingDeviceToken: 400, MissingTopic: 400,
  PayloadEmpty: 400, TopicDisallowed: 400, BadPayload: 400,
  BadCertificate: 403, BadCertificateEnvironment: 403, ExpiredProviderToken: 403, Forbidden: 403,
  InvalidProviderToken: 403, MissingProviderToken: 403, UnrelatedKeyIdInToken: 403,
  BadEnvironmentKeyIdInToken: 403,
  BadPath: 404, MethodNotAllowed: 405, ExpiredToken: 410, Unregistered: 410,
  PayloadTooLarge: 413, TooManyProviderTokenUpdates: 429, TooManyRequests: 429,
  InternalServerError: 500, ServiceUnavailable: 503, Shutdown: 503,
};

function parseArgs(argv) {
  const args = { host: '127.0.0.1', port: 0, topic: '', minTokenInterval: 1200 };
  const names = { '--cert': 'cert', '--key': 'key', '--public-key': 'publicKey',
    '--team-id': 'teamId', '--key-id': 'keyId', '--topic': 'topic', '--host': 'host',
    '--port': 'port', '--min-token-interval': 'minTokenInterval' };
  for (let i = 2; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (!name || i + 1 >= argv.length) throw new Error(`unknown or incomplete option ${argv[i]}`);
    args[name] = argv[i + 1];
  }
  for (const required of ['cert', 'key', 'publicKey', 'teamId', 'keyId']) {
    if (!args[required]) {
      const flag = required.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      throw new Error(`--${flag} is required`);
    }
  }
  args.port = Number(args.port);
  args.minTokenInterval = Number(args.minTokenInterval);
  return args;
}

const args = parseArgs(process.argv);
const publicKey = crypto.createPublicKey(fs.readFileSync(args.publicKey));

const state = {};
function reset() {
  state.script = { tokens: {}, delay_ms: 0, clock_offset: 0,
    min_token_interval: args.minTokenInterval };
  state.connections = 0;
  state.sessions = 0;
  state.maxConcurrentStreams = 0;
  state.requests = [];
  state.jwtVerdicts = new Map();  // jwt text -> {ok, reason, header, claims}
  state.lastTokenIat = null;      // iat of the newest accepted provider token
  state.refreshInvited = false;   // we just told the client its token expired
}
reset();

const nowSeconds = () => Date.now() / 1000 + Number(state.script.clock_offset || 0);

function b64urlJson(text) {
  return JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
}

// Verifies a provider token once; APNs-style reuse of one token across requests is the norm.
function checkProviderToken(jwt) {
  let verdict = state.jwtVerdicts.get(jwt);
  if (!verdict) {
    verdict = verifyProviderToken(jwt);
    state.jwtVerdicts.set(jwt, verdict);
  }
  if (!verdict.ok) return verdict;
  const iat = verdict.claims.iat;
  if (nowSeconds() - iat > 3600) {
    state.refreshInvited = true;
    return { ...verdict, ok: false, reason: 'ExpiredProviderToken' };
  }
  if (!verdict.accepted) {
    const interval = Number(state.script.min_token_interval || 0);
    if (state.lastTokenIat !== null && iat !== state.lastTokenIat && !state.refreshInvited &&
        Math.abs(iat - state.lastTokenIat) < interval) {
      return { ...verdict, ok: false, reason: 'TooManyProviderTokenUpdates' };
    }
    verdict.accepted = true;
    state.lastTokenIat = iat;
    state.refreshInvited = false;
  }
  return verdict;
}

function verifyProviderToken(jwt) {
  const parts = jwt.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'InvalidProviderToken' };
  let header;
  let claims;
  try {
    header = b64urlJson(parts[0]);
    claims = b64urlJson(parts[1]);
  } catch (e) {
    return { ok: false, reason: 'InvalidProviderToken' };
  }
  const signature = Buffer.from(parts[2], 'base64url');
  const bad = { ok: false, reason: 'InvalidProviderToken', header, claims };
  if (header.alg !== 'ES256' || header.kid !== args.keyId || claims.iss !== args.teamId ||
      !Number.isInteger(claims.iat)) {
    return bad;
  }
  // ieee-p1363 is the raw R||S form; a DER signature has another length and fails here.
  if (signature.length !== 64) return bad;
  const verified = crypto.verify('sha256', Buffer.from(parts[0] + '.' + parts[1]),
    { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  return verified ? { ok: true, header, claims } : bad;
}

function nextOutcome(token) {
  const tokens = state.script.tokens;
  const key = Object.prototype.hasOwnProperty.call(tokens, token) ? token
    : (Object.prototype.hasOwnProperty.call(tokens, '*') ? '*' : null);
  if (key === null) return { reason: 'OK' };
  let outcome = tokens[key];
  if (Array.isArray(outcome)) outcome = outcome.length ? outcome.shift() : 'OK';
  return typeof outcome === 'string' ? { reason: outcome } : outcome;
}

// Returns the refusal APNs would give before looking at the device, or null.
function validate(method, path, headers, body, record) {
  if (method !== 'POST') return 'MethodNotAllowed';
  const match = /^\/3\/device\/([^/?]*)$/.exec(path);
  if (!match) return 'BadPath';
  record.token = match[1];
  if (!record.token) return 'MissingDeviceToken';
  if (!/^[0-9a-fA-F]+$/.test(record.token)) return 'BadDeviceToken';
  const authorization = headers.authorization || '';
  if (!authorization) return 'MissingProviderToken';
  if (!authorization.startsWith('bearer ')) return 'InvalidProviderToken';
  const jwt = checkProviderToken(authorization.slice('bearer '.length));
  if (jwt.header) record.jwt = { header: jwt.header, claims: jwt.claims };
  if (!jwt.ok) return jwt.reason;
  const topic = headers['apns-topic'];
  if (!topic) return 'MissingTopic';
  if (args.topic && topic !== args.topic && !topic.startsWith(args.topic + '.')) {
    return 'TopicDisallowed';
  }
  const pushType = headers['apns-push-type'] || 'alert';
  if (!PUSH_TYPES.has(pushType)) return 'InvalidPushType';
  const priority = headers['apns-priority'];
  if (priority !== undefined && !['10', '5', '1'].includes(priority)) return 'BadPriority';
  if (pushType === 'background' && priority === '10') return 'BadPriority';
  const expiration = headers['apns-expiration'];
  if (expiration !== undefined && !/^\d+$/.test(expiration)) return 'BadExpirationDate';
  const collapseId = headers['apns-collapse-id'];
  if (collapseId !== undefined && Buffer.byteLength(collapseId) > 64) return 'BadCollapseId';
  const apnsId = headers['apns-id'];
  if (apnsId !== undefined && !UUID.test(apnsId)) return 'BadMessageId';
  if (body.length === 0) return 'PayloadEmpty';
  if (body.length > (pushType === 'voip' ? MAX_VOIP_PAYLOAD : MAX_PAYLOAD)) {
    return 'PayloadTooLarge';
  }
  try {
    const payload = JSON.parse(body.toString('utf8'));
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload) ||
        typeof payload.aps !== 'object' || payload.aps === null) {
      return 'BadPayload';
    }
  } catch (e) {
    return 'BadPayload';
  }
  return null;
}

function respond(stream, session, record, reason, extraHeaders) {
  const finish = () => {
    if (stream.destroyed || stream.closed) return;
    record.reason = reason === 'OK' ? null : reason;
    record.status = reason === 'OK' ? 200 : (REASON_STATUS[reason] || 400);
    const headers = { ':status': record.status, ...extraHeaders };
    if (reason === 'OK') {
      headers['apns-id'] = record.headers['apns-id'] || crypto.randomUUID();
      stream.respond(headers, { endStream: true });
      return;
    }
    const body = { reason };
    if (record.status === 410) body.timestamp = Date.now() - 86400000;
    headers['content-type'] = 'application/json';
    if (record.headers['apns-id']) headers['apns-id'] = record.headers['apns-id'];
    stream.respond(headers);
    stream.end(JSON.stringify(body));
    if (reason === 'Shutdown') {
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, undefined,
        Buffer.from(JSON.stringify({ reason: 'Shutdown' })));
    }
  };
  const delay = Number(state.script.delay_ms || 0);
  if (delay > 0) setTimeout(finish, delay); else finish();
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  allowHTTP1: false,
  ALPNProtocols: ['h2'],
  minVersion: 'TLSv1.2',
  settings: { maxConcurrentStreams: 1000 },
});

server.on('secureConnection', () => { state.connections += 1; });

let nextSessionId = 0;
server.on('session', (session) => {
  state.sessions += 1;
  session.omnigateId = ++nextSessionId;
  session.openStreams = 0;
  session.on('error', () => {});
});

server.on('stream', (stream, headers) => {
  const session = stream.session;
  session.openStreams += 1;
  state.maxConcurrentStreams = Math.max(state.maxConcurrentStreams, session.openStreams);
  stream.on('close', () => { session.openStreams -= 1; });
  stream.on('error', () => {});
  const chunks = [];
  stream.on('data', (chunk) => chunks.push(chunk));
  stream.on('end', () => {
    const body = Buffer.concat(chunks);
    const plainHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!name.startsWith(':')) plainHeaders[name] = value;
    }
    const record = { session: session.omnigateId, path: headers[':path'], token: null,
      headers: plainHeaders, body: body.toString('utf8'), time: Date.now() };
    state.requests.push(record);
    const refusal = validate(headers[':method'], headers[':path'] || '', headers, body, record);
    if (refusal) {
      respond(stream, session, record, refusal, {});
      return;
    }
    const outcome = nextOutcome(record.token);
    if (outcome.reason === 'ExpiredProviderToken') state.refreshInvited = true;
    const extra = {};
    if (outcome.retry_after !== undefined) extra['retry-after'] = String(outcome.retry_after);
    respond(stream, session, record, outcome.reason || 'OK', extra);
  });
});

// Non-h2 clients never get a response: Node ends their connection, as APNs does.
server.on('unknownProtocol', (socket) => socket.destroy());

function controlReply(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json',
    'content-length': Buffer.byteLength(data) });
  res.end(data);
}

const control = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/state') {
      controlReply(res, 200, { connections: state.connections, sessions: state.sessions,
        max_concurrent_streams: state.maxConcurrentStreams, requests: state.requests,
        tokens_seen: state.jwtVerdicts.size });
    } else if (req.method === 'POST' && req.url === '/reset') {
      reset();
      controlReply(res, 200, { ok: true });
    } else if (req.method === 'POST' && req.url === '/script') {
      let script;
      try {
        script = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch (e) {
        controlReply(res, 400, { error: 'script is not JSON' });
        return;
      }
      const known = ['tokens', 'delay_ms', 'clock_offset', 'min_token_interval'];
      const unknown = Object.keys(script).filter((k) => !known.includes(k));
      if (unknown.length) {
        controlReply(res, 400, { error: `unknown script keys: ${unknown}` });
        return;
      }
      if (script.tokens) Object.assign(state.script.tokens, script.tokens);
      for (const key of ['delay_ms', 'clock_offset', 'min_token_interval']) {
        if (key in script) state.script[key] = script[key];
      }
      controlReply(res, 200, { ok: true });
    } else {
      controlReply(res, 404, { error: 'unknown control path' });
    }
  });
});

server.listen(args.port, args.host, () => {
  control.listen(0, '127.0.0.1', () => {
    process.stdout.write(`PORT ${server.address().port}\nCONTROL ${control.address().port}\n`);
  });
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
