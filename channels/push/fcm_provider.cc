#include "channels/push/fcm_provider.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>

#include "channels/generic/message_json.h"
#include "channels/push/jwt.h"
#include "channels/push/push_payload.h"
#include "daemon/common/duration.h"

namespace omnigate::channels {
namespace {

using push::JwtAlgorithm;
using push::JwtKey;

constexpr const char* kDefaultBaseUrl = "https://fcm.googleapis.com";
constexpr const char* kDefaultTokenUrl = "https://oauth2.googleapis.com/token";
constexpr const char* kScope = "https://www.googleapis.com/auth/firebase.messaging";
constexpr std::int64_t kAssertionLifetimeSeconds = 3600;  // Google's maximum
constexpr std::int64_t kRefreshMarginMs = 5 * 60 * 1000;
constexpr std::size_t kMaxPayloadBytes = 4096;
constexpr std::chrono::seconds kQuotaBackoff{60};
constexpr std::int64_t kMaxTtlSeconds = 28 * 24 * 3600;

struct ServiceAccount {
  std::string client_email;
  std::string private_key_id;
  std::string token_uri;
  std::string project_id;
};

std::string stringField(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

bool reservedDataKey(std::string_view key) {
  return key == "from" || key == "message_type" || key.starts_with("google") ||
         key.starts_with("gcm");
}

// FCM data values are strings only; anything else travels as its JSON text.
std::string dataValueText(const boost::json::value& value) {
  return value.is_string() ? std::string(value.as_string()) : boost::json::serialize(value);
}

class FcmCredentialSource final : public CredentialSource {
 public:
  FcmCredentialSource(JwtKey key, ServiceAccount account, std::string token_url)
      : key_(std::move(key)), account_(std::move(account)), token_url_(std::move(token_url)) {}

  bool mintsLocally() const override { return false; }

  Result<TransportRequest> encodeTokenRequest(std::int64_t now_unix_ms) const override {
    const std::int64_t iat = now_unix_ms / 1000;
    boost::json::object header;
    if (!account_.private_key_id.empty()) header["kid"] = account_.private_key_id;
    boost::json::object claims{{"iss", account_.client_email},
                               {"scope", kScope},
                               {"aud", token_url_},
                               {"iat", iat},
                               {"exp", iat + kAssertionLifetimeSeconds}};
    auto assertion = push::signJwt(key_, std::move(header), claims);
    if (!assertion) return assertion.error();
    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url = token_url_;
    http.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                    {"Accept", "application/json"}};
    // The assertion is base64url and dots only, so it needs no form escaping.
    http.body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" +
                assertion.value();
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  // Error codes: "credential_rejected" when the token endpoint refused our assertion (a key or
  // clock problem a retry will not fix), "credential_unavailable" for throttling and server
  // trouble, "bad_token_reply" for a 200 we cannot read.
  Result<Credential> interpretTokenReply(const TransportReply& reply,
                                         std::int64_t now_unix_ms) const override {
    boost::system::error_code ec;
    auto parsed = boost::json::parse(reply.body, ec);
    const boost::json::object* body = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
    if (reply.status != 200) {
      std::string what = "token endpoint answered HTTP " + std::to_string(reply.status);
      if (body != nullptr && !stringField(*body, "error").empty()) {
        what += ": " + stringField(*body, "error");
        if (auto description = stringField(*body, "error_description"); !description.empty()) {
          what += " (" + description + ")";
        }
      } else {
        what += ": " + push::bodyExcerpt(reply.body);
      }
      bool transient = reply.status == 429 || reply.status >= 500 || reply.status == 408;
      return makeError(transient ? "credential_unavailable" : "credential_rejected", what);
    }
    if (body == nullptr) return makeError("bad_token_reply", "token reply is not a JSON object");
    Credential credential;
    credential.value = stringField(*body, "access_token");
    if (credential.value.empty()) {
      return makeError("bad_token_reply", "token reply has no access_token");
    }
    // It goes into an Authorization header: anything but visible ASCII is a broken reply.
    if (std::any_of(credential.value.begin(), credential.value.end(),
                    [](char c) { return c <= 0x20 || c >= 0x7f; })) {
      return makeError("bad_token_reply", "token reply has an access_token with control characters");
    }
    std::int64_t expires_in = -1;
    if (const auto* field = body->if_contains("expires_in")) {
      if (field->is_int64()) {
        expires_in = field->as_int64();
      } else if (field->is_uint64()) {
        expires_in =
            static_cast<std::int64_t>(std::min<std::uint64_t>(field->as_uint64(), 1u << 30));
      } else if (field->is_double() && std::isfinite(field->as_double())) {
        expires_in = static_cast<std::int64_t>(std::clamp(field->as_double(), -1.0, 1e9));
      } else if (field->is_string()) {
        try {
          expires_in = std::stoll(std::string(field->as_string()));
        } catch (const std::exception&) {
          expires_in = -1;
        }
      }
    }
    // A token is never trusted for more than a day, whatever the reply claims (and a huge
    // number must not overflow the arithmetic below).
    expires_in = std::min<std::int64_t>(expires_in, 86'400);
    if (expires_in <= 0) {
      return makeError("bad_token_reply", "token reply has no positive expires_in");
    }
    credential.expires_unix_ms = now_unix_ms + expires_in * 1000;
    return credential;
  }

  // Five minutes of slack covers clock skew and one failed refresh; the daemon never lets the
  // refresh time pass the expiry itself.
  std::int64_t refreshAtUnixMs(const Credential& current) const override {
    return current.expires_unix_ms - kRefreshMarginMs;
  }

 private:
  JwtKey key_;
  ServiceAccount account_;
  std::string token_url_;
};

struct AndroidOptions {
  std::string priority;  // "HIGH" | "NORMAL" | empty
  std::string ttl;       // "3600s" | empty
  std::string collapse_key;
};

struct FcmErrorReply {
  std::string fcm_code;     // FcmError errorCode
  std::string rpc_status;   // error.status
  std::string message;      // error.message
  std::string apns_reason;  // ApnsError reason, when FCM relays one
  long apns_status = 0;
};

FcmErrorReply parseErrorReply(const std::string& body) {
  FcmErrorReply out;
  boost::system::error_code ec;
  auto parsed = boost::json::parse(body, ec);
  if (ec || !parsed.is_object()) return out;
  const auto* error = parsed.as_object().if_contains("error");
  if (error == nullptr || !error->is_object()) return out;
  out.rpc_status = stringField(error->as_object(), "status");
  out.message = stringField(error->as_object(), "message");
  const auto* details = error->as_object().if_contains("details");
  if (details == nullptr || !details->is_array()) return out;
  for (const auto& detail : details->as_array()) {
    if (!detail.is_object()) continue;
    const auto& object = detail.as_object();
    std::string type = stringField(object, "@type");
    if (type.ends_with("google.firebase.fcm.v1.FcmError") && out.fcm_code.empty()) {
      out.fcm_code = stringField(object, "errorCode");
    } else if (type.ends_with("google.firebase.fcm.v1.ApnsError")) {
      out.apns_reason = stringField(object, "reason");
      if (const auto* status = object.if_contains("statusCode"); status && status->is_int64()) {
        out.apns_status = static_cast<long>(status->as_int64());
      }
    }
  }
  return out;
}

bool mentionsRegistrationToken(const std::string& message) {
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("registration token") != std::string::npos ||
         lower.find("device token") != std::string::npos;
}

class FcmProvider final : public Provider {
 public:
  FcmProvider(JwtKey key, ServiceAccount account, std::string token_url, std::string send_url,
              AndroidOptions android, bool validate_only)
      : credentials_(std::move(key), std::move(account), std::move(token_url)),
        send_url_(std::move(send_url)),
        android_(std::move(android)),
        validate_only_(validate_only) {}

  const CredentialSource* credentialSource() const override { return &credentials_; }

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    if (!message.recipient_platform.empty() && message.recipient_platform != "fcm") {
      return makeError("wrong_platform", "an FCM provider cannot deliver to a '" +
                                             message.recipient_platform + "' token");
    }
    if (message.recipient.empty()) return makeError("invalid_recipient", "no FCM token");
    if (message.credential.empty()) {
      return makeError("credential_missing", "no FCM access token yet");
    }
    auto data = push::parsePushData(message.data_json);
    if (!data) return data.error();

    boost::json::object fcm_message;
    fcm_message["token"] = message.recipient;
    std::size_t payload_bytes = 0;
    if (!message.title.empty() || !message.text.empty()) {
      boost::json::object notification;
      if (!message.title.empty()) notification["title"] = message.title;
      if (!message.text.empty()) notification["body"] = message.text;
      payload_bytes += message.title.size() + message.text.size();
      fcm_message["notification"] = std::move(notification);
    }
    if (!data->fields.empty()) {
      boost::json::object strings;
      for (const auto& [key, value] : data->fields) {
        if (reservedDataKey(key)) {
          return makeError("bad_data", "FCM reserves the data key '" + std::string(key) + "'");
        }
        std::string text = dataValueText(value);
        payload_bytes += key.size() + text.size();
        strings[key] = std::move(text);
      }
      fcm_message["data"] = std::move(strings);
    }
    if (payload_bytes > kMaxPayloadBytes) {
      return makeError("payload_too_large", "notification and data take " +
                                                std::to_string(payload_bytes) +
                                                " bytes; FCM accepts 4096");
    }
    boost::json::object android;
    if (!android_.priority.empty()) android["priority"] = android_.priority;
    if (!android_.ttl.empty()) {
      android["ttl"] = android_.ttl;
    } else if (message.expires_unix_ms > 0) {
      // The message's own ttl, as FCM's duration ("3600s"); never negative.
      std::int64_t left = std::max<std::int64_t>(0, message.expires_unix_ms - message.now_unix_ms);
      android["ttl"] = std::to_string(left / 1000) + "s";
    }
    std::string collapse_key =
        data->collapse_key.empty() ? android_.collapse_key : data->collapse_key;
    if (!collapse_key.empty()) android["collapse_key"] = collapse_key;
    if (!android.empty()) fcm_message["android"] = std::move(android);

    boost::json::object body;
    if (validate_only_) body["validate_only"] = true;
    body["message"] = std::move(fcm_message);

    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url = send_url_;
    http.headers = {{"Authorization", "Bearer " + message.credential},
                    {"Content-Type", "application/json; charset=utf-8"}};
    http.body = boost::json::serialize(body);
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage&, const TransportReply& reply) const override {
    Verdict verdict;
    verdict.retry_after = reply.retry_after;
    if (reply.status >= 200 && reply.status < 300) {
      verdict.disposition = Disposition::Accepted;
      verdict.provider_code = std::to_string(reply.status);
      boost::system::error_code ec;
      auto parsed = boost::json::parse(reply.body, ec);
      if (!ec && parsed.is_object()) {
        verdict.provider_message_id = stringField(parsed.as_object(), "name");
      }
      return verdict;
    }
    FcmErrorReply error = parseErrorReply(reply.body);
    verdict.provider_code = !error.fcm_code.empty()     ? error.fcm_code
                            : !error.rpc_status.empty() ? error.rpc_status
                                                        : std::to_string(reply.status);
    verdict.detail = "HTTP " + std::to_string(reply.status) + " " + verdict.provider_code + ": " +
                     (error.message.empty() ? push::bodyExcerpt(reply.body) : error.message);
    if (!error.apns_reason.empty()) {
      verdict.detail += " (APNs " + error.apns_reason + ")";
    }
    classify(error, reply.status, verdict);
    return verdict;
  }

 private:
  static void retryAtLeast(Verdict& verdict, std::chrono::seconds floor) {
    verdict.retry_after = std::max(verdict.retry_after.value_or(floor), floor);
  }

  static void classify(const FcmErrorReply& error, long status, Verdict& verdict) {
    const std::string& code = error.fcm_code;
    const std::string& rpc = error.rpc_status;
    auto set = [&verdict](Disposition disposition, bool pause) {
      verdict.disposition = disposition;
      verdict.pause_provider = pause;
    };
    bool apns_token_gone = error.apns_status == 410 || error.apns_reason == "Unregistered" ||
                           error.apns_reason == "BadDeviceToken";
    if (code == "UNREGISTERED") {
      set(Disposition::RecipientDead, false);
    } else if (code == "INVALID_ARGUMENT" || (code.empty() && rpc == "INVALID_ARGUMENT")) {
      bool token_problem = apns_token_gone || mentionsRegistrationToken(error.message);
      set(token_problem ? Disposition::RecipientDead : Disposition::Rejected, false);
    } else if (code == "QUOTA_EXCEEDED" || (code.empty() && rpc == "RESOURCE_EXHAUSTED") ||
               (code.empty() && rpc.empty() && status == 429)) {
      set(Disposition::Retry, true);
      retryAtLeast(verdict, kQuotaBackoff);
    } else if (code == "UNAVAILABLE" || (code.empty() && rpc == "UNAVAILABLE")) {
      set(Disposition::Retry, true);
    } else if (code == "INTERNAL" || code == "UNSPECIFIED_ERROR" ||
               (code.empty() && (rpc == "INTERNAL" || status >= 500))) {
      set(Disposition::Retry, verdict.retry_after.has_value());
    } else if (code == "SENDER_ID_MISMATCH" || code == "THIRD_PARTY_AUTH_ERROR" ||
               code == "APNS_AUTH_ERROR" || (code.empty() && rpc == "PERMISSION_DENIED") ||
               (code.empty() && rpc.empty() && status == 403)) {
      set(Disposition::Misconfigured, true);
    } else if (code.empty() && (rpc == "UNAUTHENTICATED" || status == 401)) {
      set(Disposition::Retry, false);
      verdict.refresh_credential = true;
    } else if (code.empty() && (rpc == "NOT_FOUND" || status == 404)) {
      // Without an FcmError detail a 404 is the project or URL, not the token.
      set(Disposition::Misconfigured, true);
    } else if (status == 408) {
      set(Disposition::Retry, false);
    } else {
      set(Disposition::Rejected, false);
    }
  }

  FcmCredentialSource credentials_;
  std::string send_url_;
  AndroidOptions android_;
  bool validate_only_;
};

Result<ServiceAccount> parseServiceAccount(const std::string& text, std::string& private_key) {
  auto bad = [](const std::string& why) {
    return makeError("setting:service_account", "service_account: " + why);
  };
  if (text.empty()) return bad("required (set service_account_file to the JSON key file)");
  boost::system::error_code ec;
  auto parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_object()) return bad("not a JSON object");
  const auto& object = parsed.as_object();
  ServiceAccount account;
  account.client_email = stringField(object, "client_email");
  account.private_key_id = stringField(object, "private_key_id");
  account.token_uri = stringField(object, "token_uri");
  account.project_id = stringField(object, "project_id");
  private_key = stringField(object, "private_key");
  if (account.client_email.empty()) return bad("client_email is missing");
  if (private_key.empty()) return bad("private_key is missing");
  return account;
}

}  // namespace

Result<ProviderPtr> makeFcmProvider(const ProviderConfig& config) {
  if (auto known =
          checkKnownSettings(config, {"service_account", "project_id", "base_url", "token_url",
                                      "android_priority", "ttl", "collapse_key", "validate_only"});
      !known) {
    return known.error();
  }
  std::string private_key_pem;
  auto account = parseServiceAccount(settingOr(config, "service_account"), private_key_pem);
  if (!account) return account.error();
  auto key = JwtKey::fromPrivateKeyPem(private_key_pem, JwtAlgorithm::Rs256);
  if (!key) {
    return makeError("setting:service_account",
                     "service_account: private_key is unusable: " + key.error().message);
  }
  std::string project = settingOr(config, "project_id", account->project_id);
  if (project.empty()) {
    return makeError("setting:project_id", "no project_id in the key file or the settings");
  }
  if (project.find_first_of("/?#% ") != std::string::npos) {
    return makeError("setting:project_id", "project_id '" + project + "' is not a project id");
  }
  auto base_url = push::baseUrlSetting(config, "base_url", kDefaultBaseUrl);
  if (!base_url) return base_url.error();
  std::string token_default = account->token_uri.empty() ? kDefaultTokenUrl : account->token_uri;
  auto token_url = push::baseUrlSetting(config, "token_url", token_default);
  if (!token_url) return token_url.error();

  AndroidOptions android;
  std::string priority = settingOr(config, "android_priority");
  if (priority == "high") {
    android.priority = "HIGH";
  } else if (priority == "normal") {
    android.priority = "NORMAL";
  } else if (!priority.empty()) {
    return makeError("setting:android_priority", "android_priority must be high or normal");
  }
  if (std::string ttl = settingOr(config, "ttl"); !ttl.empty()) {
    auto parsed = ttl == "0" ? Result<Millis>(Millis(0)) : parseDuration(ttl);
    if (!parsed || parsed->count() < 0 || parsed->count() / 1000 > kMaxTtlSeconds) {
      return makeError("setting:ttl", "ttl must be a duration from 0 to 28d, got '" + ttl + "'");
    }
    const auto ms = parsed->count();
    android.ttl = std::to_string(ms / 1000);
    if (ms % 1000 != 0) android.ttl += "." + std::to_string(1000 + ms % 1000).substr(1);
    android.ttl += "s";
  }
  android.collapse_key = settingOr(config, "collapse_key");
  auto validate_only = boolSetting(config, "validate_only", false);
  if (!validate_only) return validate_only.error();

  std::string send_url = base_url.value() + "/v1/projects/" + project + "/messages:send";
  return ProviderPtr(std::make_unique<FcmProvider>(
      std::move(key.value()), std::move(account.value()), token_url.value(), std::move(send_url),
      std::move(android), validate_only.value()));
}

}  // namespace omnigate::channels
