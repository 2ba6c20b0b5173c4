#pragma once

// The provider plugin contract. A provider is sans-I/O: it turns an outbound message into a
// TransportRequest the daemon executes, and turns the reply (or the transport failure) into a
// Verdict. It opens no sockets or files and reads no clock; the daemon owns every socket,
// timeout, TLS setting, connection pool and rate limit.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "daemon/common/result.h"

namespace omnigate::channels {

using Header = std::pair<std::string, std::string>;

// One rendered message for one channel and one recipient.
struct OutboundMessage {
  std::string id;          // stable message id (ULID); use it for idempotency keys
  std::string channel;     // email | sms | push | messenger
  std::string category;    // e.g. transactional, marketing
  int attempt = 1;         // 1-based attempt number on this provider
  std::int64_t now_unix_ms = 0;  // the daemon's clock at encode time (providers read no clock)
  std::int64_t expires_unix_ms = 0;  // the message's ttl as an instant; 0 = none
  std::string recipient;   // address on the channel: email, E.164 phone, push token, chat id
  std::string recipient_platform;  // push: fcm | apns; empty elsewhere
  std::string subject;     // email subject
  std::string title;       // push title
  std::string text;        // plain text body (email text part, SMS, push body, messenger text)
  std::string html;        // email html part
  std::string data_json;   // push data / extra structured payload, JSON object text or empty
  std::string metadata_json;  // caller's metadata, JSON object text or empty
  std::string locale;         // the customer's locale, e.g. "ru-RU"; may be empty
  std::string credential;     // current token from the provider's CredentialSource, if it has one
};

enum class HttpMethod { Get, Post, Put };
enum class HttpVersion { Any, Http1, Http2Required };

struct HttpRequest {
  HttpMethod method = HttpMethod::Post;
  std::string url;
  std::vector<Header> headers;
  std::string body;
  HttpVersion http_version = HttpVersion::Any;
  std::string pool_key;  // requests with different keys never share a connection
  // Refuse the request if the resolved destination is loopback, private, link-local or a cloud
  // metadata address (SSRF defence for URLs that callers or admins supply).
  bool refuse_private_destinations = false;
};

// A file the daemon writes atomically (temp file, fsync, rename): the outbox provider's "wire".
struct FileWrite {
  std::string path;
  std::string contents;
};

struct SmtpRequest {
  std::string url;  // smtp://host:port or smtps://host:port
  std::string mail_from;
  std::string rcpt_to;
  std::string payload;  // the whole RFC 5322 message, CRLF line endings
  std::string username;
  std::string password;
  bool require_tls = true;
  std::string pool_key;
};

struct TransportRequest {
  std::variant<HttpRequest, FileWrite, SmtpRequest> what;
  std::chrono::milliseconds timeout{30'000};
};

struct TransportReply {
  long status = 0;  // HTTP status, or the last SMTP reply code
  std::vector<Header> headers;
  std::string body;
  std::optional<std::chrono::seconds> retry_after;  // parsed Retry-After, seconds or HTTP-date
  std::string http_version;                          // "1.1", "2"; empty for non-HTTP
};

enum class TransportErrorKind {
  Resolve,        // name did not resolve
  Connect,        // could not connect (refused, unreachable)
  Tls,            // handshake or certificate failure
  Timeout,        // no complete answer in time
  Reset,          // connection dropped after the request may have been sent
  TooLarge,       // reply exceeded the size cap
  Local,          // could not write the file, bad URL, other local failure
};

struct TransportFailure {
  TransportErrorKind kind = TransportErrorKind::Local;
  bool request_may_have_been_sent = false;
  std::string detail;
};

const char* toString(TransportErrorKind kind);

// What the daemon does with the message after one attempt.
enum class Disposition {
  Accepted,           // provider took it: FINAL, status `sent`
  Retry,              // transient: back off (never earlier than retry_after) and try again
  RecipientDead,      // address/token is gone: FINAL for this channel, contact marked invalid
  OptedOut,           // recipient unsubscribed or blocked the sender: FINAL for this channel
  Rejected,           // the message itself is unacceptable: FINAL for this channel
  Misconfigured,      // our credentials/config are wrong: pause the provider, keep the message
};

const char* toString(Disposition disposition);

struct [[nodiscard]] Verdict {
  Disposition disposition = Disposition::Retry;
  std::optional<std::chrono::seconds> retry_after;
  bool pause_provider = false;  // throttled or misconfigured: hold every message for this provider
  std::string provider_code;    // "503", "550 5.1.1", "BadDeviceToken"
  std::string detail;           // human text, kept in the attempt
  std::string provider_message_id;
  // The provider's own credential was refused (e.g. APNs ExpiredProviderToken): the daemon
  // refreshes it and retries this message once without counting the attempt.
  bool refresh_credential = false;
  int segments = 0;  // SMS: segments billed for this attempt, kept with the attempt
};

// A provider callback (delivery receipt, status webhook) as it reached the API.
struct InboundRequest {
  std::string method;
  std::string url;  // the full public URL the provider called, as configured (for signatures)
  std::vector<Header> headers;
  std::string body;
};

enum class ReceiptStatus { Delivered, Read, Failed };

struct StatusUpdate {
  std::string provider_message_id;  // the id the provider returned when it accepted the message
  std::string message_id;           // our message id, when the provider echoes it back
  ReceiptStatus status = ReceiptStatus::Delivered;
  std::string code;
  std::string detail;
};

// A short-lived credential the daemon caches and refreshes for a provider: minted locally (APNs
// ES256 JWT) or fetched from a token endpoint (FCM OAuth2 service-account flow). Sans-I/O like
// the provider itself: the daemon performs the token request and schedules refreshes.
struct Credential {
  std::string value;
  std::int64_t expires_unix_ms = 0;
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  virtual bool mintsLocally() const = 0;
  virtual Result<Credential> mint(std::int64_t now_unix_ms) const;
  virtual Result<TransportRequest> encodeTokenRequest(std::int64_t now_unix_ms) const;
  virtual Result<Credential> interpretTokenReply(const TransportReply& reply,
                                                 std::int64_t now_unix_ms) const;
  // When the daemon should replace `current` (never after it expires).
  virtual std::int64_t refreshAtUnixMs(const Credential& current) const = 0;
};

// One provider setting as the admin wrote it; `line` points back into the config file.
struct Setting {
  std::string value;                // scalars as text
  std::vector<std::string> values;  // arrays of scalars
  bool is_array = false;
  int line = 0;
};

struct ProviderConfig {
  std::string name;
  std::string kind;
  std::map<std::string, Setting> settings;  // every key except the ones the daemon owns
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Builds the request for one attempt; an Error means the message cannot be sent by this
  // provider (treated as Rejected with the error's message).
  virtual Result<TransportRequest> encode(const OutboundMessage& message) const = 0;
  virtual Verdict interpret(const OutboundMessage& message, const TransportReply& reply) const = 0;
  // Default: connection-level trouble is the destination's fault and is retried.
  virtual Verdict interpretFailure(const OutboundMessage& message,
                                   const TransportFailure& failure) const;
  // Receipts posted to /v1/callbacks/{provider}. An Error with code "unauthorized" means the
  // signature did not verify (the API answers 401 and changes nothing); the default refuses
  // with "callbacks_unsupported".
  virtual Result<std::vector<StatusUpdate>> parseCallback(const InboundRequest& request) const;
  // Non-null when encode() needs OutboundMessage::credential.
  virtual const CredentialSource* credentialSource() const { return nullptr; }
};

using ProviderPtr = std::unique_ptr<Provider>;

// Creates a provider from its config; an Error names the offending key in `code` as
// "setting:<key>" when one key is to blame, so the config loader can point at its line.
using ProviderFactory = Result<ProviderPtr> (*)(const ProviderConfig& config);

}  // namespace omnigate::channels
