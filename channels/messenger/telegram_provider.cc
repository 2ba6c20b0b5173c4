#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>

#include "channels/generic/message_json.h"
#include "channels/messenger/messenger_providers.h"
#include "channels/sms/segments.h"
#include "channels/sms/sms_settings.h"
#include "channels/sms/wire_format.h"

namespace omnigate::channels {
namespace {

// Telegram measures text in UTF-16 units.
constexpr std::size_t kMaxTextUnits = 4096;

enum class ParseMode { None, MarkdownV2, Html };

struct TelegramOptions {
  std::string bot_token;
  std::string base_url;
  ParseMode parse_mode = ParseMode::None;
  bool disable_notification = false;
};

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Chat ids are integers up to 52 bits; channel usernames are strings.
boost::json::value chatId(const std::string& recipient) {
  std::int64_t number = 0;
  auto [end, ec] = std::from_chars(recipient.data(), recipient.data() + recipient.size(), number);
  if (!recipient.empty() && ec == std::errc() && end == recipient.data() + recipient.size()) {
    return number;
  }
  return boost::json::string(recipient);
}

Verdict classify(long status, std::string_view description, const boost::json::value* json) {
  Verdict verdict;
  if (status == 429) {
    verdict.disposition = Disposition::Retry;
    verdict.pause_provider = true;
    return verdict;
  }
  if (status == 401 || status == 404) {
    verdict.disposition = Disposition::Misconfigured;
    verdict.pause_provider = true;
    return verdict;
  }
  if (status == 403) {
    // Every documented 403 ("bot was blocked by the user", "user is deactivated", kicked, not a
    // member, can't initiate) means this chat will not take our messages.
    verdict.disposition = Disposition::RecipientDead;
    return verdict;
  }
  if (status == 400) {
    std::string migrate =
        json ? wire::jsonScalarText(wire::jsonPath(*json, "parameters.migrate_to_chat_id")) : "";
    if (!migrate.empty()) {
      verdict.disposition = Disposition::RecipientDead;
      verdict.provider_code = "migrate_to_chat_id:" + migrate;
      return verdict;
    }
    verdict.disposition = startsWith(description, "Bad Request: chat not found")
                              ? Disposition::RecipientDead
                              : Disposition::Rejected;
    return verdict;
  }
  verdict.disposition = status >= 500 || status == 408 ? Disposition::Retry : Disposition::Rejected;
  return verdict;
}

class TelegramProvider final : public Provider {
 public:
  explicit TelegramProvider(TelegramOptions options) : options_(std::move(options)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    if (message.text.empty()) return makeError("empty_message", "a Telegram message needs text");
    std::size_t units = sms::utf16Length(message.text);
    if (units > kMaxTextUnits) {
      return makeError("too_long", "Telegram accepts at most 4096 characters, the text has " +
                                       std::to_string(units) + " UTF-16 units");
    }
    if (message.recipient.empty()) return makeError("no_recipient", "no Telegram chat id");
    boost::json::object body;
    body["chat_id"] = chatId(message.recipient);
    switch (options_.parse_mode) {
      case ParseMode::None:
        body["text"] = message.text;
        break;
      case ParseMode::MarkdownV2:
        body["text"] = escapeTelegramMarkdownV2(message.text);
        body["parse_mode"] = "MarkdownV2";
        break;
      case ParseMode::Html:
        body["text"] = escapeTelegramHtml(message.text);
        body["parse_mode"] = "HTML";
        break;
    }
    if (options_.disable_notification) body["disable_notification"] = true;
    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url = options_.base_url + "/bot" + options_.bot_token + "/sendMessage";
    http.headers = {{"Content-Type", "application/json"}};
    http.body = boost::json::serialize(body);
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage&, const TransportReply& reply) const override {
    auto json = wire::parseJson(reply.body);
    const boost::json::value* root = json ? &*json : nullptr;
    bool ok = root && wire::jsonScalarText(wire::jsonPath(*root, "ok")) == "true";
    if (reply.status == 200 && ok) {
      Verdict verdict;
      verdict.disposition = Disposition::Accepted;
      verdict.provider_code = "200";
      verdict.provider_message_id =
          wire::jsonScalarText(wire::jsonPath(*root, "result.message_id"));
      return verdict;
    }
    std::string description =
        root ? wire::jsonScalarText(wire::jsonPath(*root, "description")) : "";
    // The HTTP status equals error_code; a 200 with ok:false is malformed, so trust the body.
    long status = reply.status;
    if (status == 200) {
      std::string code = root ? wire::jsonScalarText(wire::jsonPath(*root, "error_code")) : "";
      status = 0;
      std::from_chars(code.data(), code.data() + code.size(), status);
      if (status == 0) status = 502;
    }
    Verdict verdict = classify(status, description, root);
    if (verdict.provider_code.empty()) verdict.provider_code = std::to_string(status);
    verdict.detail = "HTTP " + std::to_string(reply.status) + ": " +
                     wire::bodyExcerpt(description.empty() ? reply.body : description);
    verdict.retry_after = reply.retry_after;
    std::string retry_after =
        root ? wire::jsonScalarText(wire::jsonPath(*root, "parameters.retry_after")) : "";
    long seconds = 0;
    auto [end, ec] =
        std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds);
    if (ec == std::errc() && end == retry_after.data() + retry_after.size() && seconds > 0) {
      // The body is Telegram's own word and retrying earlier is said to extend the ban.
      verdict.retry_after = std::chrono::seconds(std::max(
          seconds, verdict.retry_after ? static_cast<long>(verdict.retry_after->count()) : 0L));
    }
    return verdict;
  }

 private:
  TelegramOptions options_;
};

}  // namespace

std::string escapeTelegramMarkdownV2(std::string_view text) {
  constexpr std::string_view kSpecial = "_*[]()~`>#+-=|{}.!\\";
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (kSpecial.find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string escapeTelegramHtml(std::string_view text) {
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
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Result<ProviderPtr> makeTelegramProvider(const ProviderConfig& config) {
  if (auto known = checkKnownSettings(
          config, {"bot_token", "base_url", "parse_mode", "disable_notification"});
      !known) {
    return known.error();
  }
  TelegramOptions options;
  options.bot_token = settingOr(config, "bot_token");
  // "<bot id>:<secret>"; anything with '/' or '?' would silently change the request path.
  bool token_ok = options.bot_token.find(':') != std::string::npos;
  for (char c : options.bot_token) {
    token_ok = token_ok &&
               (std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-');
  }
  if (!token_ok) {
    return makeError("setting:bot_token",
                     "bot_token (or bot_token_file) must be the token BotFather gave, "
                     "like 123456:ABC-DEF...");
  }
  options.base_url = settingOr(config, "base_url", "https://api.telegram.org");
  if (auto url = sms::checkHttpUrl("base_url", options.base_url); !url) return url.error();
  while (options.base_url.back() == '/') options.base_url.pop_back();
  std::string mode = settingOr(config, "parse_mode", "none");
  if (mode == "none") {
    options.parse_mode = ParseMode::None;
  } else if (mode == "MarkdownV2") {
    options.parse_mode = ParseMode::MarkdownV2;
  } else if (mode == "HTML") {
    options.parse_mode = ParseMode::Html;
  } else {
    return makeError("setting:parse_mode",
                     "parse_mode must be none, MarkdownV2 or HTML, got '" + mode + "'");
  }
  auto silent = boolSetting(config, "disable_notification", false);
  if (!silent) return silent.error();
  options.disable_notification = silent.value();
  return ProviderPtr(std::make_unique<TelegramProvider>(std::move(options)));
}

}  // namespace omnigate::channels
