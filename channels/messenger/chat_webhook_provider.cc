#include <boost/json.hpp>

#include "channels/generic/message_json.h"
#include "channels/messenger/messenger_providers.h"
#include "channels/sms/sms_settings.h"
#include "channels/sms/wire_format.h"

namespace omnigate::channels {
namespace {

enum class Flavor { Slack, Mattermost };

struct ChatWebhookOptions {
  std::string url;
  Flavor flavor = Flavor::Slack;
  std::string username;
  std::string channel;
  std::string icon_emoji;
  bool allow_private = false;
};

class ChatWebhookProvider final : public Provider {
 public:
  explicit ChatWebhookProvider(ChatWebhookOptions options) : options_(std::move(options)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    if (message.text.empty()) return makeError("empty_message", "a chat message needs text");
    boost::json::object body;
    body["text"] = options_.flavor == Flavor::Slack ? escapeSlackText(message.text) : message.text;
    if (!options_.username.empty()) body["username"] = options_.username;
    if (!options_.channel.empty()) body["channel"] = options_.channel;
    if (!options_.icon_emoji.empty()) body["icon_emoji"] = options_.icon_emoji;
    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url = options_.url;
    http.headers = {{"Content-Type", "application/json"}};
    http.body = boost::json::serialize(body);
    http.refuse_private_destinations = !options_.allow_private;
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage&, const TransportReply& reply) const override {
    Verdict verdict;
    verdict.provider_code = std::to_string(reply.status);
    if (reply.status >= 200 && reply.status < 300) {
      verdict.disposition = Disposition::Accepted;
      return verdict;
    }
    // Slack answers with a bare reason ("channel_not_found"); keep it as the code.
    std::string reason = wire::bodyExcerpt(reply.body);
    if (!reason.empty() && reason.find(' ') == std::string::npos && reason.size() < 64) {
      verdict.provider_code += " " + reason;
    }
    verdict.detail = "HTTP " + std::to_string(reply.status) + ": " + reason;
    verdict.retry_after = reply.retry_after;
    if (reply.status == 429) {
      verdict.disposition = Disposition::Retry;
      verdict.pause_provider = true;
    } else if (reply.status >= 500 || reply.status == 408) {
      verdict.disposition = Disposition::Retry;
    } else if (reply.status == 401 || reply.status == 403 || reply.status == 404 ||
               reply.status == 410) {
      // The webhook itself is revoked, archived or forbidden: every message would fail alike.
      verdict.disposition = Disposition::Misconfigured;
      verdict.pause_provider = true;
    } else {
      verdict.disposition = Disposition::Rejected;
    }
    return verdict;
  }

 private:
  ChatWebhookOptions options_;
};

}  // namespace

std::string escapeSlackText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Result<ProviderPtr> makeChatWebhookProvider(const ProviderConfig& config) {
  if (auto known = checkKnownSettings(
          config, {"url", "flavor", "username", "channel", "icon_emoji", "allow_private"});
      !known) {
    return known.error();
  }
  ChatWebhookOptions options;
  options.url = settingOr(config, "url");
  if (auto url = sms::checkHttpUrl("url", options.url); !url) return url.error();
  std::string flavor = settingOr(config, "flavor", "slack");
  if (flavor == "slack") {
    options.flavor = Flavor::Slack;
  } else if (flavor == "mattermost") {
    options.flavor = Flavor::Mattermost;
  } else {
    return makeError("setting:flavor", "flavor must be slack or mattermost, got '" + flavor + "'");
  }
  options.username = settingOr(config, "username");
  options.channel = settingOr(config, "channel");
  options.icon_emoji = settingOr(config, "icon_emoji");
  auto allow_private = boolSetting(config, "allow_private", false);
  if (!allow_private) return allow_private.error();
  options.allow_private = allow_private.value();
  return ProviderPtr(std::make_unique<ChatWebhookProvider>(std::move(options)));
}

}  // namespace omnigate::channels
