#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <charconv>

#include "channels/generic/message_json.h"
#include "channels/sms/sms_providers.h"
#include "channels/sms/sms_settings.h"
#include "channels/sms/wire_format.h"

namespace omnigate::channels {
namespace {

// Twilio refuses longer bodies with 21617 whatever the encoding.
constexpr std::size_t kMaxBodyCharacters = 1600;

struct TwilioOptions {
  std::string account_sid;
  std::string auth_token;
  std::string api_key_sid;
  std::string api_key_secret;
  sms::SenderIds senders;
  std::string messaging_service_sid;
  std::string base_url;
  std::string status_callback_url;
  int validity_period = 0;
  int max_segments = 10;
};

Verdict verdictFor(Disposition disposition, bool pause = false) {
  Verdict verdict;
  verdict.disposition = disposition;
  verdict.pause_provider = pause;
  return verdict;
}

// Twilio's documented error codes; nullopt leaves the decision to the HTTP status.
std::optional<Verdict> verdictForCode(std::int64_t code) {
  switch (code) {
    case 20429:
      return verdictFor(Disposition::Retry, true);
    case 20003:
    case 20404:
    case 21606:
    case 30002:
      return verdictFor(Disposition::Misconfigured, true);
    // Region permission and trial-account limits concern this destination, not every message.
    case 21408:
    case 21608:
      return verdictFor(Disposition::Misconfigured);
    case 21211:
    case 21612:
    case 21614:
    case 21635:
      return verdictFor(Disposition::RecipientDead);
    case 21610:
      return verdictFor(Disposition::OptedOut);
    case 21602:
    case 21603:
    case 21617:
      return verdictFor(Disposition::Rejected);
    default:
      return std::nullopt;
  }
}

Verdict verdictForStatus(long status) {
  if (status == 429) return verdictFor(Disposition::Retry, true);
  // Without a Twilio error code a 403/404 means the base_url or the credentials are wrong.
  if (status == 401 || status == 403 || status == 404) {
    return verdictFor(Disposition::Misconfigured, true);
  }
  if (status >= 500 || status == 408) return verdictFor(Disposition::Retry);
  return verdictFor(Disposition::Rejected);
}

// Twilio validates against the URL both with and without an explicit default port, because a
// proxy may or may not have kept it; accept the same two spellings.
std::vector<std::string> signatureUrls(const std::string& url) {
  std::vector<std::string> urls{url};
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return urls;
  boost::urls::url variant(*parsed);
  std::string default_port = variant.scheme() == "https" ? "443" : "80";
  if (variant.has_port()) {
    if (variant.port() == default_port) {
      variant.remove_port();
      urls.push_back(std::string(variant.buffer()));
    }
  } else {
    variant.set_port(default_port);
    urls.push_back(std::string(variant.buffer()));
  }
  return urls;
}

class TwilioProvider final : public Provider {
 public:
  explicit TwilioProvider(TwilioOptions options) : options_(std::move(options)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    auto segments = sms::checkSegments(message.text, options_.max_segments);
    if (!segments) return segments.error();
    if (segments->characters > kMaxBodyCharacters) {
      return makeError("too_long", "Twilio accepts at most 1600 characters, the text has " +
                                       std::to_string(segments->characters));
    }
    wire::FormFields fields{{"To", message.recipient}};
    const std::string& from = options_.senders.forCategory(message.category);
    if (!from.empty()) {
      fields.emplace_back("From", from);
    } else {
      fields.emplace_back("MessagingServiceSid", options_.messaging_service_sid);
    }
    fields.emplace_back("Body", message.text);
    if (!options_.status_callback_url.empty()) {
      fields.emplace_back("StatusCallback", options_.status_callback_url);
    }
    if (options_.validity_period > 0) {
      fields.emplace_back("ValidityPeriod", std::to_string(options_.validity_period));
    }
    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url =
        options_.base_url + "/2010-04-01/Accounts/" + options_.account_sid + "/Messages.json";
    bool api_key = !options_.api_key_sid.empty();
    std::string user = api_key ? options_.api_key_sid : options_.account_sid;
    std::string secret = api_key ? options_.api_key_secret : options_.auth_token;
    http.headers = {{"Authorization", "Basic " + wire::base64Encode(user + ":" + secret)},
                    {"Content-Type", "application/x-www-form-urlencoded"},
                    {"Accept", "application/json"}};
    http.body = wire::formEncode(fields);
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage& message, const TransportReply& reply) const override {
    auto json = wire::parseJson(reply.body);
    Verdict verdict;
    if (reply.status == 200 || reply.status == 201) {
      const std::string sid = json ? wire::jsonScalarText(wire::jsonPath(*json, "sid")) : "";
      if (sid.empty()) {
        // Twilio always answers a created message with its sid; a 2xx without one came from
        // something in between (a proxy, a captive portal), so Twilio has not got the message.
        verdict.disposition = Disposition::Retry;
        verdict.provider_code = std::to_string(reply.status);
        verdict.detail =
            "HTTP " + std::to_string(reply.status) +
            " without a message sid (not a Twilio reply): " + wire::bodyExcerpt(reply.body);
        return verdict;
      }
      verdict.disposition = Disposition::Accepted;
      verdict.provider_message_id = sid;
      verdict.provider_code = std::to_string(reply.status);
      verdict.segments = segmentsFor(message, json ? &*json : nullptr);
      return verdict;
    }
    std::int64_t code = 0;
    if (json) {
      if (const auto* value = wire::jsonPath(*json, "code"); value && value->is_int64()) {
        code = value->as_int64();
      }
    }
    verdict = verdictForCode(code).value_or(verdictForStatus(reply.status));
    verdict.retry_after = reply.retry_after;
    verdict.provider_code = code != 0 ? std::to_string(code) : std::to_string(reply.status);
    std::string text = json ? wire::jsonScalarText(wire::jsonPath(*json, "message")) : "";
    verdict.detail = "HTTP " + std::to_string(reply.status) + ": " +
                     wire::bodyExcerpt(text.empty() ? reply.body : text);
    verdict.segments = segmentsFor(message, nullptr);
    return verdict;
  }

  Result<std::vector<StatusUpdate>> parseCallback(const InboundRequest& request) const override {
    auto fields = wire::formDecode(request.method == "POST" ? request.body : "");
    if (!fields) return makeError("unauthorized", "callback body is not form data");
    std::string signature(wire::headerValue(request.headers, "X-Twilio-Signature"));
    if (signature.empty() || !signatureMatches(request.url, fields.value(), signature)) {
      return makeError("unauthorized", "X-Twilio-Signature does not verify");
    }
    auto field = [&](std::string_view name) -> std::string {
      for (const auto& [key, value] : fields.value()) {
        if (key == name) return value;
      }
      return {};
    };
    std::string status = field("MessageStatus");
    if (status.empty()) status = field("SmsStatus");
    std::string sid = field("MessageSid");
    if (sid.empty()) sid = field("SmsSid");
    if (sid.empty()) return makeError("bad_callback", "callback without MessageSid");
    StatusUpdate update;
    update.provider_message_id = sid;
    update.code = field("ErrorCode");
    update.detail = field("ErrorMessage");
    if (status == "delivered") {
      update.status = ReceiptStatus::Delivered;
    } else if (status == "read") {
      update.status = ReceiptStatus::Read;
    } else if (status == "undelivered" || status == "failed" || status == "canceled") {
      update.status = ReceiptStatus::Failed;
      if (update.code.empty()) update.code = status;
      if (update.detail.empty()) update.detail = "Twilio status " + status;
    } else {
      return std::vector<StatusUpdate>{};  // queued, sending, sent...: nothing final yet
    }
    return std::vector<StatusUpdate>{std::move(update)};
  }

 private:
  int segmentsFor(const OutboundMessage& message, const boost::json::value* reply) const {
    if (reply != nullptr) {
      // Twilio's own count is what it bills; "0" means it has not counted yet.
      std::string counted = wire::jsonScalarText(wire::jsonPath(*reply, "num_segments"));
      int value = 0;
      auto [end, ec] = std::from_chars(counted.data(), counted.data() + counted.size(), value);
      if (ec == std::errc() && end == counted.data() + counted.size() && value > 0) return value;
    }
    return sms::countSegments(message.text).segments;
  }

  bool signatureMatches(const std::string& url, wire::FormFields fields,
                        const std::string& signature) const {
    std::sort(fields.begin(), fields.end());
    std::string signed_params;
    for (const auto& [name, value] : fields) signed_params += name + value;
    for (const auto& candidate : signatureUrls(url)) {
      std::string expected =
          wire::base64Encode(wire::hmacSha1(options_.auth_token, candidate + signed_params));
      if (wire::constantTimeEquals(expected, signature)) return true;
    }
    return false;
  }

  TwilioOptions options_;
};

}  // namespace

Result<ProviderPtr> makeTwilioProvider(const ProviderConfig& config) {
  if (auto known = sms::checkSettings(config,
                                      {"account_sid", "auth_token", "api_key_sid", "api_key_secret",
                                       "from", "messaging_service_sid", "base_url",
                                       "status_callback_url", "validity_period", "max_segments"},
                                      {"from_"});
      !known) {
    return known.error();
  }
  TwilioOptions options;
  options.account_sid = settingOr(config, "account_sid");
  if (options.account_sid.size() != 34 || options.account_sid.compare(0, 2, "AC") != 0) {
    return makeError("setting:account_sid",
                     "account_sid must be the 34-character Account SID starting with AC");
  }
  options.auth_token = settingOr(config, "auth_token");
  if (options.auth_token.empty()) {
    return makeError("setting:auth_token",
                     "twilio needs `auth_token` (or `auth_token_file`): it signs status callbacks");
  }
  options.api_key_sid = settingOr(config, "api_key_sid");
  options.api_key_secret = settingOr(config, "api_key_secret");
  if (options.api_key_sid.empty() != options.api_key_secret.empty()) {
    return makeError(options.api_key_sid.empty() ? "setting:api_key_sid" : "setting:api_key_secret",
                     "`api_key_sid` and `api_key_secret` go together");
  }
  options.senders = sms::SenderIds::fromConfig(config, "from");
  options.messaging_service_sid = settingOr(config, "messaging_service_sid");
  if (!options.senders.hasDefault() && options.messaging_service_sid.empty()) {
    return makeError("setting:from",
                     "twilio needs `from` or `messaging_service_sid` for messages whose category "
                     "has no from_<category>");
  }
  options.base_url = settingOr(config, "base_url", "https://api.twilio.com");
  if (auto url = sms::checkHttpUrl("base_url", options.base_url); !url) return url.error();
  while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
  options.status_callback_url = settingOr(config, "status_callback_url");
  if (!options.status_callback_url.empty()) {
    if (auto url = sms::checkHttpUrl("status_callback_url", options.status_callback_url); !url) {
      return url.error();
    }
  }
  auto validity = sms::intSetting(config, "validity_period", 0, 1, 36000);
  if (!validity) return validity.error();
  options.validity_period = validity.value();
  auto max_segments = sms::maxSegmentsSetting(config);
  if (!max_segments) return max_segments.error();
  options.max_segments = max_segments.value();
  return ProviderPtr(std::make_unique<TwilioProvider>(std::move(options)));
}

}  // namespace omnigate::channels
