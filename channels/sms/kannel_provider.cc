#include <charconv>

#include "channels/generic/message_json.h"
#include "channels/sms/sms_providers.h"
#include "channels/sms/sms_settings.h"
#include "channels/sms/wire_format.h"

namespace omnigate::channels {
namespace {

// Kannel DLR types (gw/dlr.h).
constexpr int kDlrDelivered = 1;
constexpr int kDlrUndelivered = 2;
constexpr int kDlrSmscReject = 16;

enum class KannelCharset { Utf8, Utf16Be };

struct KannelOptions {
  std::string url;
  std::string username;
  std::string password;
  sms::SenderIds senders;
  bool post = false;
  std::string smsc;
  std::string dlr_url;
  int dlr_mask = 31;
  std::string dlr_secret;
  KannelCharset charset = KannelCharset::Utf8;
  int max_segments = 10;
};

std::string toUtf16Be(const std::string& utf8) {
  std::string out;
  auto put = [&out](char32_t unit) {
    out.push_back(static_cast<char>((unit >> 8) & 0xFF));
    out.push_back(static_cast<char>(unit & 0xFF));
  };
  for (std::size_t pos = 0; pos < utf8.size();) {
    char32_t c = sms::nextCodePoint(utf8, pos);
    if (c > 0xFFFF) {
      c -= 0x10000;
      put(0xD800 + (c >> 10));
      put(0xDC00 + (c & 0x3FF));
    } else {
      put(c);
    }
  }
  return out;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

Verdict verdictFor(Disposition disposition, bool pause = false) {
  Verdict verdict;
  verdict.disposition = disposition;
  verdict.pause_provider = pause;
  return verdict;
}

// Kannel's replies are fixed English sentences (gw/smsbox.c); the status alone is ambiguous
// (403 is both bad credentials and "not routable").
Verdict verdictForFailure(long status, std::string_view body) {
  if (status == 403 && contains(body, "Authorization failed")) {
    return verdictFor(Disposition::Misconfigured, true);
  }
  if (status == 400 && contains(body, "Sender missing")) {
    return verdictFor(Disposition::Misconfigured, true);
  }
  if (status == 400 && contains(body, "denied by white- and/or black-lists")) {
    return verdictFor(Disposition::RecipientDead);
  }
  if (status == 404 || status == 401) return verdictFor(Disposition::Misconfigured, true);
  if (status == 429 || status == 503) return verdictFor(Disposition::Retry, true);
  if (status >= 500 || status == 408) return verdictFor(Disposition::Retry);
  return verdictFor(Disposition::Rejected);
}

// "Sent. Message splits: 3" when immediate-sendsms-reply is on.
int splitsFromReply(std::string_view body) {
  constexpr std::string_view kSplits = "Message splits: ";
  std::size_t at = body.find(kSplits);
  if (at == std::string_view::npos) return 0;
  std::string_view digits = body.substr(at + kSplits.size());
  int value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return value;
}

class KannelProvider final : public Provider {
 public:
  explicit KannelProvider(KannelOptions options) : options_(std::move(options)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    auto segments = sms::checkSegments(message.text, options_.max_segments);
    if (!segments) return segments.error();
    bool ucs2 = segments->encoding == sms::SmsEncoding::Ucs2;
    bool utf16 = ucs2 && options_.charset == KannelCharset::Utf16Be;
    std::string text = utf16 ? toUtf16Be(message.text) : message.text;
    std::string charset = utf16 ? "UTF-16BE" : "UTF-8";
    std::string coding = ucs2 ? "2" : "0";
    const std::string& from = options_.senders.forCategory(message.category);

    HttpRequest http;
    if (options_.post) {
      http.method = HttpMethod::Post;
      http.url = options_.url;
      http.headers = {{"Content-Type", "text/plain; charset=" + charset},
                      {"X-Kannel-Username", options_.username},
                      {"X-Kannel-Password", options_.password},
                      {"X-Kannel-To", message.recipient},
                      {"X-Kannel-Coding", coding}};
      if (!from.empty()) http.headers.emplace_back("X-Kannel-From", from);
      if (!options_.smsc.empty()) http.headers.emplace_back("X-Kannel-SMSC", options_.smsc);
      if (!options_.dlr_url.empty()) {
        http.headers.emplace_back("X-Kannel-DLR-Mask", std::to_string(options_.dlr_mask));
        http.headers.emplace_back("X-Kannel-DLR-URL", dlrUrlFor(message.id));
      }
      http.body = std::move(text);
    } else {
      wire::FormFields fields{{"username", options_.username},
                              {"password", options_.password},
                              {"to", message.recipient}};
      if (!from.empty()) fields.emplace_back("from", from);
      fields.emplace_back("text", std::move(text));
      fields.emplace_back("coding", coding);
      fields.emplace_back("charset", charset);
      if (!options_.smsc.empty()) fields.emplace_back("smsc", options_.smsc);
      if (!options_.dlr_url.empty()) {
        fields.emplace_back("dlr-mask", std::to_string(options_.dlr_mask));
        fields.emplace_back("dlr-url", dlrUrlFor(message.id));
      }
      http.method = HttpMethod::Get;
      http.url = wire::appendQuery(options_.url, wire::formEncode(fields));
    }
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage& message, const TransportReply& reply) const override {
    Verdict verdict;
    if (reply.status >= 200 && reply.status < 300) {
      verdict.disposition = Disposition::Accepted;
    } else {
      verdict = verdictForFailure(reply.status, reply.body);
      verdict.retry_after = reply.retry_after;
      verdict.detail =
          "HTTP " + std::to_string(reply.status) + ": " + wire::bodyExcerpt(reply.body);
    }
    verdict.provider_code = std::to_string(reply.status);
    // Kannel hands out no id of its own; the DLR URL carries ours back.
    if (verdict.disposition == Disposition::Accepted) verdict.provider_message_id = message.id;
    int splits = splitsFromReply(reply.body);
    verdict.segments = splits > 0 ? splits : sms::countSegments(message.text).segments;
    return verdict;
  }

  Result<std::vector<StatusUpdate>> parseCallback(const InboundRequest& request) const override {
    if (options_.dlr_url.empty()) {
      return makeError("unauthorized", "this provider asks Kannel for no delivery reports");
    }
    auto fields = wire::formDecode(wire::queryOf(request.url));
    if (!fields) return makeError("unauthorized", "malformed DLR query string");
    if (request.method == "POST") {
      auto body = wire::formDecode(request.body);
      if (!body) return makeError("unauthorized", "malformed DLR form body");
      fields->insert(fields->end(), body->begin(), body->end());
    }
    auto field = [&](std::string_view name) -> std::string {
      for (const auto& [key, value] : fields.value()) {
        if (key == name) return value;
      }
      return {};
    };
    std::string id = field("id");
    if (id.empty() || !wire::constantTimeEquals(tokenFor(id), field("token"))) {
      return makeError("unauthorized", "DLR token does not match the message id");
    }
    std::string type_text = field("type");
    int type = 0;
    auto [end, ec] = std::from_chars(type_text.data(), type_text.data() + type_text.size(), type);
    if (ec != std::errc() || end != type_text.data() + type_text.size()) {
      return makeError("bad_callback", "DLR type '" + type_text + "' is not a number");
    }
    StatusUpdate update;
    update.provider_message_id = id;
    update.message_id = id;
    update.code = "dlr:" + type_text;
    update.detail = field("reply");
    if (type & kDlrDelivered) {
      update.status = ReceiptStatus::Delivered;
    } else if (type & (kDlrUndelivered | kDlrSmscReject)) {
      update.status = ReceiptStatus::Failed;
    } else {
      return std::vector<StatusUpdate>{};  // buffered, SMSC ack, intermediate
    }
    return std::vector<StatusUpdate>{std::move(update)};
  }

 private:
  std::string tokenFor(const std::string& id) const {
    return wire::hexEncode(wire::hmacSha256(options_.dlr_secret, "kannel-dlr:" + id)).substr(0, 32);
  }

  // Kannel substitutes %d and %A when it calls the URL; everything else passes through.
  std::string dlrUrlFor(const std::string& id) const {
    return wire::appendQuery(options_.dlr_url, "id=" + wire::formEscape(id) +
                                                   "&type=%d&token=" + tokenFor(id) + "&reply=%A");
  }

  KannelOptions options_;
};

}  // namespace

Result<ProviderPtr> makeKannelProvider(const ProviderConfig& config) {
  if (auto known =
          sms::checkSettings(config,
                             {"url", "username", "password", "from", "method", "smsc", "dlr_url",
                              "dlr_mask", "dlr_secret", "charset", "max_segments"},
                             {"from_"});
      !known) {
    return known.error();
  }
  KannelOptions options;
  options.url = settingOr(config, "url");
  if (auto url = sms::checkHttpUrl("url", options.url); !url) return url.error();
  options.username = settingOr(config, "username");
  options.password = settingOr(config, "password");
  if (options.username.empty()) {
    return makeError("setting:username", "kannel needs the sendsms-user's `username`");
  }
  if (options.password.empty()) {
    return makeError("setting:password",
                     "kannel needs the sendsms-user's `password` (or `password_file`)");
  }
  options.senders = sms::SenderIds::fromConfig(config, "from");
  std::string method = settingOr(config, "method", "get");
  if (method != "get" && method != "post") {
    return makeError("setting:method", "method must be get or post, got '" + method + "'");
  }
  options.post = method == "post";
  options.smsc = settingOr(config, "smsc");
  options.dlr_url = settingOr(config, "dlr_url");
  if (!options.dlr_url.empty()) {
    if (auto url = sms::checkHttpUrl("dlr_url", options.dlr_url); !url) return url.error();
  }
  auto mask = sms::intSetting(config, "dlr_mask", 31, 1, 63);
  if (!mask) return mask.error();
  options.dlr_mask = mask.value();
  options.dlr_secret = settingOr(config, "dlr_secret", options.password);
  std::string charset = settingOr(config, "charset", "utf-8");
  if (charset == "utf-8") {
    options.charset = KannelCharset::Utf8;
  } else if (charset == "utf-16be") {
    options.charset = KannelCharset::Utf16Be;
  } else {
    return makeError("setting:charset", "charset must be utf-8 or utf-16be, got '" + charset + "'");
  }
  auto max_segments = sms::maxSegmentsSetting(config);
  if (!max_segments) return max_segments.error();
  options.max_segments = max_segments.value();
  return ProviderPtr(std::make_unique<KannelProvider>(std::move(options)));
}

}  // namespace omnigate::channels
