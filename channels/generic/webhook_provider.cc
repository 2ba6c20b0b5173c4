#include <boost/url/parse.hpp>

#include "channels/generic/message_json.h"
#include "channels/generic/outbox_provider.h"

namespace omnigate::channels {
namespace {

std::string bodyExcerpt(const std::string& body) {
  constexpr std::size_t kMax = 200;
  std::string out = body.substr(0, kMax);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return body.size() > kMax ? out + "..." : out;
}

class WebhookProvider final : public Provider {
 public:
  WebhookProvider(std::string url, std::string token, bool allow_private)
      : url_(std::move(url)), token_(std::move(token)), allow_private_(allow_private) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url = url_;
    http.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", message.id}};
    if (!token_.empty()) http.headers.emplace_back("Authorization", "Bearer " + token_);
    http.body = messageToJson(message);
    http.refuse_private_destinations = !allow_private_;
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage&, const TransportReply& reply) const override {
    Verdict verdict;
    verdict.provider_code = std::to_string(reply.status);
    verdict.retry_after = reply.retry_after;
    if (reply.status >= 200 && reply.status < 300) {
      verdict.disposition = Disposition::Accepted;
      return verdict;
    }
    verdict.detail = "HTTP " + std::to_string(reply.status) + ": " + bodyExcerpt(reply.body);
    if (reply.status == 429) {
      verdict.disposition = Disposition::Retry;
      verdict.pause_provider = true;
    } else if (reply.status >= 500 || reply.status == 408) {
      verdict.disposition = Disposition::Retry;
      verdict.pause_provider = reply.retry_after.has_value();
    } else if (reply.status == 401 || reply.status == 403) {
      verdict.disposition = Disposition::Misconfigured;
      verdict.pause_provider = true;
    } else {
      verdict.disposition = Disposition::Rejected;
    }
    return verdict;
  }

 private:
  std::string url_;
  std::string token_;
  bool allow_private_;
};

}  // namespace

Result<ProviderPtr> makeWebhookProvider(const ProviderConfig& config) {
  if (auto known = checkKnownSettings(config, {"url", "token", "allow_private"}); !known) {
    return known.error();
  }
  std::string url = settingOr(config, "url");
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (url.empty() || !parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
      parsed->host().empty()) {
    return makeError("setting:url", "a webhook provider needs an absolute http(s) `url`, got '" +
                                        url + "'");
  }
  auto allow_private = boolSetting(config, "allow_private", false);
  if (!allow_private) return allow_private.error();
  return ProviderPtr(
      std::make_unique<WebhookProvider>(url, settingOr(config, "token"), allow_private.value()));
}

}  // namespace omnigate::channels
