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

constexpr std::size_t kMaxTextCharacters = 4096;

struct WhatsappOptions {
  std::string access_token;
  std::string phone_number_id;
  std::string base_url;
  std::string app_secret;
  std::string template_name;
  std::string template_language;
  bool preview_url = false;
};

Verdict verdictFor(Disposition disposition, bool pause = false) {
  Verdict verdict;
  verdict.disposition = disposition;
  verdict.pause_provider = pause;
  return verdict;
}

// Meta asks clients to decide on `code`, not on the message text or the HTTP status.
std::optional<Verdict> verdictForCode(std::int64_t code) {
  switch (code) {
    case 4:
    case 80007:
    case 130429:
    case 613:
    case 131048:
      return verdictFor(Disposition::Retry, true);
    case 131056:
      return verdictFor(Disposition::Retry);  // this recipient only
    case 1:
    case 2:
    case 131000:
    case 131016:
      return verdictFor(Disposition::Retry);
    case 0:
    case 190:
    case 3:
    case 10:
    case 368:
    case 131031:
    case 131030:
    case 133010:
    case 132001:
    case 132015:
    case 132016:
      return verdictFor(Disposition::Misconfigured, true);
    case 131026:
      return verdictFor(Disposition::RecipientDead);
    case 131050:
      return verdictFor(Disposition::OptedOut);
    case 100:
    case 131008:
    case 131009:
    case 131021:
    case 131047:
    case 131049:
    case 131051:
    case 131052:
    case 131053:
    case 132000:
    case 132005:
    case 132007:
    case 132012:
      return verdictFor(Disposition::Rejected);
    default:
      if (code >= 200 && code <= 299) return verdictFor(Disposition::Misconfigured, true);
      return std::nullopt;
  }
}

Verdict verdictForStatus(long status) {
  if (status == 429) return verdictFor(Disposition::Retry, true);
  if (status == 401 || status == 403) return verdictFor(Disposition::Misconfigured, true);
  if (status >= 500 || status == 408) return verdictFor(Disposition::Retry);
  return verdictFor(Disposition::Rejected);
}

std::string languageFor(const WhatsappOptions& options, const std::string& locale) {
  if (!options.template_language.empty()) return options.template_language;
  if (locale.empty()) return "en_US";
  std::string code = locale;
  for (char& c : code) {
    if (c == '-') c = '_';
  }
  return code;
}

class WhatsappProvider final : public Provider {
 public:
  explicit WhatsappProvider(WhatsappOptions options) : options_(std::move(options)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    std::string to = message.recipient;
    if (!to.empty() && to.front() == '+') to.erase(0, 1);
    if (to.empty()) return makeError("no_recipient", "no WhatsApp phone number");
    boost::json::object body{
        {"messaging_product", "whatsapp"}, {"recipient_type", "individual"}, {"to", to}};
    auto message_template = templateFromData(message.data_json);
    if (!message_template) return message_template.error();
    if (!message_template->empty()) {
      body["type"] = "template";
      body["template"] = std::move(message_template.value());
    } else if (!options_.template_name.empty()) {
      boost::json::object configured{
          {"name", options_.template_name},
          {"language",
           {{"code", languageFor(options_, message.locale)}, {"policy", "deterministic"}}}};
      if (!message.text.empty()) {
        configured["components"] = boost::json::array{boost::json::object{
            {"type", "body"},
            {"parameters", boost::json::array{{{"type", "text"}, {"text", message.text}}}}}};
      }
      body["type"] = "template";
      body["template"] = std::move(configured);
    } else {
      if (message.text.empty()) return makeError("empty_message", "a WhatsApp text needs text");
      auto characters = sms::countSegments(message.text).characters;
      if (characters > kMaxTextCharacters) {
        return makeError("too_long", "WhatsApp text messages hold at most 4096 characters, got " +
                                         std::to_string(characters));
      }
      body["type"] = "text";
      body["text"] = {{"preview_url", options_.preview_url}, {"body", message.text}};
    }
    HttpRequest http;
    http.method = HttpMethod::Post;
    http.url = options_.base_url + "/" + options_.phone_number_id + "/messages";
    http.headers = {{"Authorization", "Bearer " + options_.access_token},
                    {"Content-Type", "application/json"}};
    http.body = boost::json::serialize(body);
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage&, const TransportReply& reply) const override {
    auto json = wire::parseJson(reply.body);
    const boost::json::value* root = json ? &*json : nullptr;
    Verdict verdict;
    if (reply.status >= 200 && reply.status < 300) {
      std::string id = root ? wire::jsonScalarText(wire::jsonPath(*root, "messages.0.id")) : "";
      if (!id.empty()) {
        verdict.disposition = Disposition::Accepted;
        verdict.provider_code = std::to_string(reply.status);
        verdict.provider_message_id = id;
        return verdict;
      }
    }
    std::string code_text = root ? wire::jsonScalarText(wire::jsonPath(*root, "error.code")) : "";
    std::optional<Verdict> by_code;
    if (!code_text.empty()) {
      std::int64_t code = 0;
      auto [end, ec] = std::from_chars(code_text.data(), code_text.data() + code_text.size(), code);
      if (ec == std::errc()) by_code = verdictForCode(code);
    }
    if (by_code) {
      verdict = *by_code;
    } else if (reply.status >= 200 && reply.status < 300) {
      // A 2xx without a message id is not an acceptance we could ever match a receipt to.
      verdict = verdictFor(Disposition::Retry);
    } else {
      verdict = verdictForStatus(reply.status);
    }
    verdict.retry_after = reply.retry_after;
    verdict.provider_code = code_text.empty() ? std::to_string(reply.status) : code_text;
    std::string text = root ? wire::jsonScalarText(wire::jsonPath(*root, "error.message")) : "";
    std::string details =
        root ? wire::jsonScalarText(wire::jsonPath(*root, "error.error_data.details")) : "";
    if (!details.empty()) text += (text.empty() ? "" : ": ") + details;
    verdict.detail = "HTTP " + std::to_string(reply.status) + ": " +
                     wire::bodyExcerpt(text.empty() ? reply.body : text);
    return verdict;
  }

  Result<std::vector<StatusUpdate>> parseCallback(const InboundRequest& request) const override {
    if (options_.app_secret.empty()) {
      return makeError("unauthorized", "no app_secret configured to verify WhatsApp webhooks");
    }
    std::string_view header = wire::headerValue(request.headers, "X-Hub-Signature-256");
    constexpr std::string_view kPrefix = "sha256=";
    std::string expected = wire::hexEncode(wire::hmacSha256(options_.app_secret, request.body));
    if (header.substr(0, kPrefix.size()) != kPrefix ||
        !wire::constantTimeEquals(expected, lowercase(header.substr(kPrefix.size())))) {
      return makeError("unauthorized", "X-Hub-Signature-256 does not verify");
    }
    auto json = wire::parseJson(request.body);
    if (!json || !json->is_object()) return makeError("bad_callback", "webhook body is not JSON");
    std::vector<StatusUpdate> updates;
    const auto* entries = wire::jsonPath(*json, "entry");
    if (entries == nullptr || !entries->is_array()) return updates;
    for (const auto& entry : entries->as_array()) {
      const auto* changes = wire::jsonPath(entry, "changes");
      if (changes == nullptr || !changes->is_array()) continue;
      for (const auto& change : changes->as_array()) {
        const auto* statuses = wire::jsonPath(change, "value.statuses");
        if (statuses == nullptr || !statuses->is_array()) continue;
        for (const auto& status : statuses->as_array()) appendUpdate(status, updates);
      }
    }
    return updates;
  }

 private:
  static std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  }

  static void appendUpdate(const boost::json::value& status, std::vector<StatusUpdate>& updates) {
    StatusUpdate update;
    update.provider_message_id = wire::jsonScalarText(wire::jsonPath(status, "id"));
    std::string state = wire::jsonScalarText(wire::jsonPath(status, "status"));
    if (update.provider_message_id.empty()) return;
    if (state == "delivered") {
      update.status = ReceiptStatus::Delivered;
    } else if (state == "read") {
      update.status = ReceiptStatus::Read;
    } else if (state == "failed") {
      update.status = ReceiptStatus::Failed;
      update.code = wire::jsonScalarText(wire::jsonPath(status, "errors.0.code"));
      update.detail = wire::jsonScalarText(wire::jsonPath(status, "errors.0.title"));
      std::string details =
          wire::jsonScalarText(wire::jsonPath(status, "errors.0.error_data.details"));
      if (!details.empty()) update.detail += (update.detail.empty() ? "" : ": ") + details;
    } else {
      return;  // "sent" and anything newer than this code: nothing final
    }
    updates.push_back(std::move(update));
  }

  // An empty object when the message data names no template.
  static Result<boost::json::object> templateFromData(const std::string& data_json) {
    if (data_json.empty()) return boost::json::object{};
    auto data = wire::parseJson(data_json);
    const boost::json::value* found = data ? wire::jsonPath(*data, "whatsapp_template") : nullptr;
    if (found == nullptr) return boost::json::object{};
    const auto* object = found->if_object();
    if (object == nullptr || wire::jsonScalarText(wire::jsonPath(*found, "name")).empty()) {
      return makeError("bad_template", "data.whatsapp_template must be an object with a name");
    }
    boost::json::object out;
    out["name"] = object->at("name");
    const boost::json::value* language = wire::jsonPath(*found, "language");
    if (language != nullptr && language->is_string()) {
      out["language"] = {{"code", *language}, {"policy", "deterministic"}};
    } else if (language != nullptr && language->is_object()) {
      out["language"] = *language;
    } else {
      out["language"] = {{"code", "en_US"}, {"policy", "deterministic"}};
    }
    if (const auto* components = wire::jsonPath(*found, "components")) {
      if (!components->is_array()) {
        return makeError("bad_template", "data.whatsapp_template.components must be an array");
      }
      out["components"] = *components;
    }
    return out;
  }

  WhatsappOptions options_;
};

}  // namespace

Result<ProviderPtr> makeWhatsappProvider(const ProviderConfig& config) {
  if (auto known =
          checkKnownSettings(config, {"access_token", "phone_number_id", "base_url", "app_secret",
                                      "template_name", "template_language", "preview_url"});
      !known) {
    return known.error();
  }
  WhatsappOptions options;
  options.access_token = settingOr(config, "access_token");
  if (options.access_token.empty()) {
    return makeError("setting:access_token",
                     "whatsapp needs `access_token` (or `access_token_file`)");
  }
  for (char c : options.access_token) {
    if (c == '\r' || c == '\n' || c == ' ') {
      return makeError("setting:access_token", "access_token must be one word");
    }
  }
  options.phone_number_id = settingOr(config, "phone_number_id");
  bool digits = !options.phone_number_id.empty();
  for (char c : options.phone_number_id) digits = digits && c >= '0' && c <= '9';
  if (!digits) {
    return makeError("setting:phone_number_id",
                     "phone_number_id must be the numeric id of the WhatsApp business number");
  }
  options.base_url = settingOr(config, "base_url", "https://graph.facebook.com/v19.0");
  if (auto url = sms::checkHttpUrl("base_url", options.base_url); !url) return url.error();
  while (options.base_url.back() == '/') options.base_url.pop_back();
  options.app_secret = settingOr(config, "app_secret");
  options.template_name = settingOr(config, "template_name");
  options.template_language = settingOr(config, "template_language");
  if (!options.template_language.empty() && options.template_name.empty()) {
    return makeError("setting:template_language", "template_language needs template_name");
  }
  auto preview = boolSetting(config, "preview_url", false);
  if (!preview) return preview.error();
  options.preview_url = preview.value();
  return ProviderPtr(std::make_unique<WhatsappProvider>(std::move(options)));
}

}  // namespace omnigate::channels
