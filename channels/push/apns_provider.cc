#include "channels/push/apns_provider.h"

#include <openssl/evp.h>

#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <map>

#include "channels/generic/message_json.h"
#include "channels/push/jwt.h"
#include "channels/push/push_payload.h"
#include "daemon/common/duration.h"

namespace omnigate::channels {
namespace {

using push::JwtAlgorithm;
using push::JwtKey;

constexpr const char* kDefaultBaseUrl = "https://api.push.apple.com";
constexpr std::int64_t kTokenLifetimeMs = 60 * 60 * 1000;  // APNs refuses older tokens
constexpr std::int64_t kTokenRefreshAfterMs = 40 * 60 * 1000;
constexpr std::size_t kMaxPayloadBytes = 4096;
constexpr std::size_t kMaxVoipPayloadBytes = 5120;
constexpr std::size_t kMaxCollapseIdBytes = 64;
constexpr std::size_t kMaxTokenLength = 200;

// Namespace for apns-id UUIDs; any fixed UUID works, this one is ours alone.
constexpr std::array<unsigned char, 16> kApnsIdNamespace = {
    0x3b, 0x1e, 0x6a, 0x52, 0x9c, 0x0d, 0x4f, 0x7e, 0xa1, 0x58, 0x2d, 0x64, 0xc9, 0x0b, 0x77, 0xe3};

// Topic suffixes Apple requires for push types that are not plain app notifications.
const std::map<std::string, std::string>& pushTypeTopicSuffixes() {
  static const std::map<std::string, std::string> suffixes = {
      {"alert", ""},
      {"background", ""},
      {"mdm", ""},
      {"controls", ""},
      {"voip", ".voip"},
      {"complication", ".complication"},
      {"fileprovider", ".pushkit.fileprovider"},
      {"liveactivity", ".push-type.liveactivity"},
      {"location", ".location-query"},
      {"pushtotalk", ".voip-ptt"},
      {"widgets", ".push-type.widgets"},
  };
  return suffixes;
}

bool isHexToken(const std::string& token) {
  if (token.empty() || token.size() > kMaxTokenLength) return false;
  for (unsigned char c : token) {
    if (!std::isxdigit(c)) return false;
  }
  return true;
}

bool isAppleId(const std::string& id) {
  if (id.size() != 10) return false;
  for (unsigned char c : id) {
    if (!std::isalnum(c)) return false;
  }
  return true;
}

class ApnsCredentialSource final : public CredentialSource {
 public:
  ApnsCredentialSource(JwtKey key, std::string team_id, std::string key_id)
      : key_(std::move(key)), team_id_(std::move(team_id)), key_id_(std::move(key_id)) {}

  bool mintsLocally() const override { return true; }

  Result<Credential> mint(std::int64_t now_unix_ms) const override {
    const std::int64_t iat = now_unix_ms / 1000;
    boost::json::object header{{"kid", key_id_}};
    boost::json::object claims{{"iss", team_id_}, {"iat", iat}};
    auto token = push::signJwt(key_, std::move(header), claims);
    if (!token) return token.error();
    return Credential{std::move(token.value()), iat * 1000 + kTokenLifetimeMs};
  }

  std::int64_t refreshAtUnixMs(const Credential& current) const override {
    const std::int64_t issued = current.expires_unix_ms - kTokenLifetimeMs;
    return issued + kTokenRefreshAfterMs;
  }

 private:
  JwtKey key_;
  std::string team_id_;
  std::string key_id_;
};

struct ApnsOptions {
  std::string base_url;
  std::string topic;
  std::string push_type;
  std::string priority;  // empty: APNs default (10)
  std::optional<std::int64_t> expiration_seconds;
  std::string pool_key;
};

enum class ReasonClass { Dead, Refresh, Config, RetryDevice, RetryPause, Retry, Reject };

ReasonClass classifyReason(const std::string& reason, long status) {
  static const std::map<std::string, ReasonClass> reasons = {
      {"BadDeviceToken", ReasonClass::Dead},
      {"DeviceTokenNotForTopic", ReasonClass::Dead},
      {"Unregistered", ReasonClass::Dead},
      {"ExpiredToken", ReasonClass::Dead},
      {"ExpiredProviderToken", ReasonClass::Refresh},
      {"BadTopic", ReasonClass::Config},
      {"TopicDisallowed", ReasonClass::Config},
      {"MissingTopic", ReasonClass::Config},
      {"BadCertificate", ReasonClass::Config},
      {"BadCertificateEnvironment", ReasonClass::Config},
      {"Forbidden", ReasonClass::Config},
      {"InvalidProviderToken", ReasonClass::Config},
      {"MissingProviderToken", ReasonClass::Config},
      {"UnrelatedKeyIdInToken", ReasonClass::Config},
      {"BadEnvironmentKeyIdInToken", ReasonClass::Config},
      {"BadEnvironmentKeyInToken", ReasonClass::Config},
      {"TooManyRequests", ReasonClass::RetryDevice},
      {"TooManyProviderTokenUpdates", ReasonClass::RetryPause},
      {"ServiceUnavailable", ReasonClass::RetryPause},
      {"InternalServerError", ReasonClass::Retry},
      {"Shutdown", ReasonClass::Retry},
      {"IdleTimeout", ReasonClass::Retry},
      {"BadCollapseId", ReasonClass::Reject},
      {"BadExpirationDate", ReasonClass::Reject},
      {"BadMessageId", ReasonClass::Reject},
      {"BadPriority", ReasonClass::Reject},
      {"DuplicateHeaders", ReasonClass::Reject},
      {"InvalidPushType", ReasonClass::Reject},
      {"MissingDeviceToken", ReasonClass::Reject},
      {"PayloadEmpty", ReasonClass::Reject},
      {"BadPath", ReasonClass::Reject},
      {"MethodNotAllowed", ReasonClass::Reject},
      {"PayloadTooLarge", ReasonClass::Reject},
  };
  if (auto it = reasons.find(reason); it != reasons.end()) return it->second;
  // A reason newer than this table: fall back on what its status means.
  switch (status) {
    case 403:
      return ReasonClass::Config;
    case 410:
      return ReasonClass::Dead;
    case 429:
      return ReasonClass::RetryDevice;
    case 503:
      return ReasonClass::RetryPause;
    default:
      return status >= 500 ? ReasonClass::Retry : ReasonClass::Reject;
  }
}

class ApnsProvider final : public Provider {
 public:
  ApnsProvider(JwtKey key, std::string team_id, std::string key_id, ApnsOptions options)
      : credentials_(std::move(key), std::move(team_id), std::move(key_id)),
        options_(std::move(options)) {}

  const CredentialSource* credentialSource() const override { return &credentials_; }

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    if (!message.recipient_platform.empty() && message.recipient_platform != "apns") {
      return makeError("wrong_platform", "an APNs provider cannot deliver to a '" +
                                             message.recipient_platform + "' token");
    }
    // The token becomes part of the path, so anything but hex would change the request itself.
    if (!isHexToken(message.recipient)) {
      return makeError("invalid_recipient", "an APNs device token is hexadecimal");
    }
    if (message.credential.empty()) {
      return makeError("credential_missing", "no APNs provider token yet");
    }
    auto data = push::parsePushData(message.data_json);
    if (!data) return data.error();
    if (data->collapse_key.size() > kMaxCollapseIdBytes) {
      return makeError("bad_data", "collapse_id is longer than 64 bytes");
    }

    auto body = payload(message, data.value());
    const std::size_t limit =
        options_.push_type == "voip" ? kMaxVoipPayloadBytes : kMaxPayloadBytes;
    if (body.size() > limit) {
      return makeError("payload_too_large", "payload is " + std::to_string(body.size()) +
                                                " bytes; APNs accepts " + std::to_string(limit));
    }

    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url = options_.base_url + "/3/device/" + message.recipient;
    http.http_version = HttpVersion::Http2Required;
    http.pool_key = options_.pool_key;
    http.headers = {{"authorization", "bearer " + message.credential},
                    {"apns-topic", options_.topic},
                    {"apns-push-type", options_.push_type},
                    {"apns-id", push::apnsIdFor(message.id)},
                    {"content-type", "application/json"}};
    if (!options_.priority.empty()) http.headers.emplace_back("apns-priority", options_.priority);
    if (options_.expiration_seconds) {
      std::int64_t at = *options_.expiration_seconds == 0
                            ? 0
                            : message.now_unix_ms / 1000 + *options_.expiration_seconds;
      http.headers.emplace_back("apns-expiration", std::to_string(at));
    } else if (message.expires_unix_ms > 0) {
      // The message's own ttl: APNs stops trying when the sender would have given up anyway.
      http.headers.emplace_back("apns-expiration", std::to_string(message.expires_unix_ms / 1000));
    }
    if (!data->collapse_key.empty()) {
      http.headers.emplace_back("apns-collapse-id", data->collapse_key);
    }
    http.body = std::move(body);
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage& message, const TransportReply& reply) const override {
    Verdict verdict;
    verdict.retry_after = reply.retry_after;
    verdict.provider_code = std::to_string(reply.status);
    if (reply.http_version != "2") {
      verdict.disposition = Disposition::Misconfigured;
      verdict.pause_provider = true;
      verdict.provider_code = "http_version";
      verdict.detail = "APNs speaks only HTTP/2 but the reply came over HTTP/" +
                       (reply.http_version.empty() ? std::string("?") : reply.http_version) +
                       " (status " + std::to_string(reply.status) + "); check base_url";
      return verdict;
    }
    if (reply.status == 200) {
      verdict.disposition = Disposition::Accepted;
      verdict.provider_message_id =
          push::findHeader(reply.headers, "apns-id").value_or(push::apnsIdFor(message.id));
      return verdict;
    }
    std::string reason;
    std::string timestamp;
    boost::system::error_code ec;
    auto parsed = boost::json::parse(reply.body, ec);
    if (!ec && parsed.is_object()) {
      const auto& object = parsed.as_object();
      if (const auto* field = object.if_contains("reason"); field && field->is_string()) {
        reason = std::string(field->as_string());
      }
      if (const auto* field = object.if_contains("timestamp"); field && field->is_number()) {
        timestamp = boost::json::serialize(*field);
      }
    }
    if (!reason.empty()) verdict.provider_code = reason;
    verdict.detail = "HTTP " + std::to_string(reply.status) + " " +
                     (reason.empty() ? push::bodyExcerpt(reply.body) : reason);
    if (!timestamp.empty()) verdict.detail += " (token invalid since " + timestamp + " ms)";
    switch (classifyReason(reason, reply.status)) {
      case ReasonClass::Dead:
        verdict.disposition = Disposition::RecipientDead;
        break;
      case ReasonClass::Refresh:
        verdict.disposition = Disposition::Retry;
        verdict.refresh_credential = true;
        break;
      case ReasonClass::Config:
        verdict.disposition = Disposition::Misconfigured;
        verdict.pause_provider = true;
        break;
      case ReasonClass::RetryDevice:
        verdict.disposition = Disposition::Retry;
        break;
      case ReasonClass::RetryPause:
        verdict.disposition = Disposition::Retry;
        verdict.pause_provider = true;
        break;
      case ReasonClass::Retry:
        verdict.disposition = Disposition::Retry;
        break;
      case ReasonClass::Reject:
        verdict.disposition = Disposition::Rejected;
        break;
    }
    return verdict;
  }

 private:
  std::string payload(const OutboundMessage& message, const push::PushData& data) const {
    boost::json::object aps;
    if (const auto* extra = data.fields.if_contains("aps"); extra && extra->is_object()) {
      aps = extra->as_object();
    }
    if (options_.push_type == "background") {
      aps["content-available"] = 1;
    } else if (!message.title.empty() || !message.text.empty()) {
      boost::json::object alert;
      if (!message.title.empty()) alert["title"] = message.title;
      if (!message.text.empty()) alert["body"] = message.text;
      aps["alert"] = std::move(alert);
    }
    boost::json::object body;
    for (const auto& [key, value] : data.fields) {
      if (key != "aps") body[key] = value;
    }
    body["aps"] = std::move(aps);
    return boost::json::serialize(body);
  }

  ApnsCredentialSource credentials_;
  ApnsOptions options_;
};

}  // namespace

namespace push {

std::string apnsIdFor(const std::string& name) {
  std::string input(kApnsIdNamespace.begin(), kApnsIdNamespace.end());
  input += name;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha1(), nullptr);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace push

Result<ProviderPtr> makeApnsProvider(const ProviderConfig& config) {
  if (auto known = checkKnownSettings(config, {"team_id", "key_id", "private_key", "topic",
                                               "base_url", "push_type", "priority", "expiration"});
      !known) {
    return known.error();
  }
  std::string team_id = settingOr(config, "team_id");
  if (!isAppleId(team_id)) {
    return makeError("setting:team_id", "team_id must be the 10-character Apple Team ID");
  }
  std::string key_id = settingOr(config, "key_id");
  if (!isAppleId(key_id)) {
    return makeError("setting:key_id", "key_id must be the 10-character Key ID of the .p8 key");
  }
  std::string pem = settingOr(config, "private_key");
  if (pem.empty()) {
    return makeError("setting:private_key",
                     "private_key is required (set private_key_file to the .p8 key)");
  }
  auto key = JwtKey::fromPrivateKeyPem(pem, JwtAlgorithm::Es256);
  if (!key) {
    return makeError("setting:private_key", "private_key is unusable: " + key.error().message);
  }

  ApnsOptions options;
  auto base_url = push::baseUrlSetting(config, "base_url", kDefaultBaseUrl);
  if (!base_url) return base_url.error();
  options.base_url = base_url.value();
  options.push_type = settingOr(config, "push_type", "alert");
  auto suffix = pushTypeTopicSuffixes().find(options.push_type);
  if (suffix == pushTypeTopicSuffixes().end()) {
    return makeError("setting:push_type", "unknown APNs push_type '" + options.push_type + "'");
  }
  options.topic = settingOr(config, "topic");
  if (options.topic.empty() || options.topic.find_first_of(" \r\n\t") != std::string::npos) {
    return makeError("setting:topic", "topic must be the app's bundle id");
  }
  if (!options.topic.ends_with(suffix->second)) options.topic += suffix->second;

  options.priority = settingOr(config, "priority");
  if (!options.priority.empty() && options.priority != "10" && options.priority != "5" &&
      options.priority != "1") {
    return makeError("setting:priority", "priority must be 10, 5 or 1");
  }
  if (options.push_type == "background") {
    if (options.priority == "10") {
      return makeError("setting:priority", "background pushes must use priority 5 or 1");
    }
    if (options.priority.empty()) options.priority = "5";
  }
  if (std::string expiration = settingOr(config, "expiration"); !expiration.empty()) {
    if (expiration == "0") {
      options.expiration_seconds = 0;
    } else {
      auto parsed = parseDuration(expiration);
      if (!parsed || parsed->count() < 1000) {
        return makeError("setting:expiration",
                         "expiration must be \"0\" or a duration such as \"1h\"");
      }
      options.expiration_seconds = parsed->count() / 1000;
    }
  }
  options.pool_key = team_id + ":" + key_id;
  return ProviderPtr(std::make_unique<ApnsProvider>(std::move(key.value()), std::move(team_id),
                                                    std::move(key_id), std::move(options)));
}

}  // namespace omnigate::channels
