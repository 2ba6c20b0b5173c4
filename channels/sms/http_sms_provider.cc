#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cctype>
#include <memory>
// GCC 12 with sanitizers reports a false -Wmaybe-uninitialized inside libstdc++'s regex compiler
// (GCC bug 105562); the pragma covers only that header's lines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "channels/generic/message_json.h"
#include "channels/sms/sms_providers.h"
#include "channels/sms/sms_settings.h"
#include "channels/sms/wire_format.h"

namespace omnigate::channels {
namespace {

enum class BodyEscaping { Form, Json, Xml, Raw };

struct HttpSmsOptions {
  std::string url;
  HttpMethod method = HttpMethod::Post;
  std::string content_type;
  BodyEscaping escaping = BodyEscaping::Form;
  std::string body;
  std::shared_ptr<const std::regex> success_regex;  // shared: std::regex is not cheap to copy
  std::string success_json_path;
  std::optional<std::string> success_json_value;
  std::string message_id_json_path;
  std::string auth_header;
  std::string auth_value;
  sms::SenderIds senders;
  bool allow_private = false;
  int max_segments = 10;
};

std::string jsonStringInside(const std::string& text) {
  std::string quoted = boost::json::serialize(boost::json::string(text));
  return quoted.substr(1, quoted.size() - 2);
}

std::string xmlEscape(const std::string& text) {
  std::string out;
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
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string escapeFor(BodyEscaping escaping, const std::string& value) {
  switch (escaping) {
    case BodyEscaping::Form:
      return wire::formEscape(value);
    case BodyEscaping::Json:
      return jsonStringInside(value);
    case BodyEscaping::Xml:
      return xmlEscape(value);
    case BodyEscaping::Raw:
      return value;
  }
  return value;
}

// Substitutes the known placeholders in one pass, so a value that itself contains "{to}" is
// never expanded again; other braces (JSON's own) stay as written.
std::string fillTemplate(const std::string& pattern, BodyEscaping escaping,
                         const std::array<std::pair<std::string_view, std::string>, 5>& values) {
  std::string out;
  out.reserve(pattern.size() + 64);
  std::size_t pos = 0;
  while (pos < pattern.size()) {
    bool replaced = false;
    if (pattern[pos] == '{') {
      for (const auto& [name, value] : values) {
        if (pattern.compare(pos + 1, name.size(), name) == 0 &&
            pos + 1 + name.size() < pattern.size() && pattern[pos + 1 + name.size()] == '}') {
          out += escapeFor(escaping, value);
          pos += name.size() + 2;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(pattern[pos++]);
  }
  return out;
}

bool truthy(const boost::json::value& value) {
  if (value.is_null()) return false;
  if (const bool* flag = value.if_bool()) return *flag;
  if (value.is_int64()) return value.as_int64() != 0;
  if (value.is_uint64()) return value.as_uint64() != 0;
  if (value.is_double()) return value.as_double() != 0;
  if (const auto* text = value.if_string()) return !text->empty();
  return true;
}

class HttpSmsProvider final : public Provider {
 public:
  explicit HttpSmsProvider(HttpSmsOptions options) : options_(std::move(options)) {}

  Result<TransportRequest> encode(const OutboundMessage& message) const override {
    auto segments = sms::checkSegments(message.text, options_.max_segments);
    if (!segments) return segments.error();
    std::array<std::pair<std::string_view, std::string>, 5> values{{
        {"to", message.recipient},
        {"text", message.text},
        {"from", options_.senders.forCategory(message.category)},
        {"id", message.id},
        {"category", message.category},
    }};
    HttpRequest http;
    http.method = options_.method;
    http.url = fillTemplate(options_.url, BodyEscaping::Form, values);
    if (options_.method != HttpMethod::Get) {
      http.body = fillTemplate(options_.body, options_.escaping, values);
      http.headers.emplace_back("Content-Type", options_.content_type);
    }
    if (!options_.auth_value.empty()) {
      http.headers.emplace_back(options_.auth_header, options_.auth_value);
    }
    http.refuse_private_destinations = !options_.allow_private;
    TransportRequest request;
    request.what = std::move(http);
    return request;
  }

  Verdict interpret(const OutboundMessage& message, const TransportReply& reply) const override {
    Verdict verdict;
    verdict.provider_code = std::to_string(reply.status);
    verdict.segments = sms::countSegments(message.text).segments;
    verdict.retry_after = reply.retry_after;
    if (reply.status < 200 || reply.status >= 300) {
      verdict.detail =
          "HTTP " + std::to_string(reply.status) + ": " + wire::bodyExcerpt(reply.body);
      if (reply.status == 429) {
        verdict.disposition = Disposition::Retry;
        verdict.pause_provider = true;
      } else if (reply.status == 401 || reply.status == 403) {
        verdict.disposition = Disposition::Misconfigured;
        verdict.pause_provider = true;
      } else if (reply.status >= 500 || reply.status == 408) {
        verdict.disposition = Disposition::Retry;
      } else {
        verdict.disposition = Disposition::Rejected;
      }
      return verdict;
    }
    verdict.retry_after.reset();
    if (options_.success_regex && !matchesSuccessRegex(reply.body)) {
      return refused(std::move(verdict), "reply does not match success_regex", reply.body);
    }
    std::optional<boost::json::value> json;
    if (!options_.success_json_path.empty() || !options_.message_id_json_path.empty()) {
      json = wire::parseJson(reply.body);
    }
    if (!options_.success_json_path.empty()) {
      const boost::json::value* found =
          json ? wire::jsonPath(*json, options_.success_json_path) : nullptr;
      bool ok = found != nullptr && (options_.success_json_value ? wire::jsonScalarText(found) ==
                                                                       *options_.success_json_value
                                                                 : truthy(*found));
      if (!ok) {
        return refused(std::move(verdict),
                       "reply fails success_json_path " + options_.success_json_path, reply.body);
      }
    }
    verdict.disposition = Disposition::Accepted;
    if (json && !options_.message_id_json_path.empty()) {
      verdict.provider_message_id =
          wire::jsonScalarText(wire::jsonPath(*json, options_.message_id_json_path));
    }
    return verdict;
  }

 private:
  // libstdc++'s regex recurses per character, so only the head of the body is searched (success
  // markers sit there) and a pathological pattern costs an error instead of the process.
  bool matchesSuccessRegex(const std::string& body) const {
    constexpr std::size_t kSearched = 16 * 1024;
    try {
      std::string_view head(body.data(), std::min(body.size(), kSearched));
      return std::regex_search(head.begin(), head.end(), *options_.success_regex);
    } catch (const std::regex_error&) {
      return false;
    }
  }

  static Verdict refused(Verdict verdict, const std::string& why, const std::string& body) {
    verdict.disposition = Disposition::Rejected;
    verdict.detail = why + ": " + wire::bodyExcerpt(body);
    return verdict;
  }

  HttpSmsOptions options_;
};

BodyEscaping escapingFor(const std::string& content_type) {
  std::string base = content_type.substr(0, content_type.find(';'));
  for (char& c : base) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  if (base == "application/x-www-form-urlencoded") return BodyEscaping::Form;
  if (base == "application/json" || (base.size() > 5 && base.ends_with("+json"))) {
    return BodyEscaping::Json;
  }
  if (base == "application/xml" || base == "text/xml" || base.ends_with("+xml")) {
    return BodyEscaping::Xml;
  }
  return BodyEscaping::Raw;
}

}  // namespace

Result<ProviderPtr> makeHttpSmsProvider(const ProviderConfig& config) {
  if (auto known = sms::checkSettings(
          config,
          {"url", "method", "content_type", "body", "success_regex", "success_json_path",
           "success_json_value", "message_id_json_path", "auth_token", "auth_header", "auth_scheme",
           "from", "max_segments", "allow_private"},
          {"from_"});
      !known) {
    return known.error();
  }
  HttpSmsOptions options;
  options.url = settingOr(config, "url");
  std::array<std::pair<std::string_view, std::string>, 5> probe{
      {{"to", "1"}, {"text", "t"}, {"from", "f"}, {"id", "i"}, {"category", "c"}}};
  if (auto url = sms::checkHttpUrl("url", fillTemplate(options.url, BodyEscaping::Form, probe));
      !url) {
    return url.error();
  }
  std::string method = settingOr(config, "method", "POST");
  for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (method == "POST") {
    options.method = HttpMethod::Post;
  } else if (method == "GET") {
    options.method = HttpMethod::Get;
  } else if (method == "PUT") {
    options.method = HttpMethod::Put;
  } else {
    return makeError("setting:method", "method must be POST, GET or PUT, got '" + method + "'");
  }
  options.content_type = settingOr(config, "content_type", "application/x-www-form-urlencoded");
  options.escaping = escapingFor(options.content_type);
  std::string default_body =
      options.escaping == BodyEscaping::Form ? "to={to}&text={text}&from={from}" : "";
  options.body = settingOr(config, "body", default_body);
  if (options.method != HttpMethod::Get && options.body.empty()) {
    return makeError("setting:body", "a " + method + " with content_type " + options.content_type +
                                         " needs a `body` template");
  }
  if (options.method == HttpMethod::Get && config.settings.count("body") != 0) {
    return makeError("setting:body", "a GET sends no body; put the placeholders in `url`");
  }
  if (std::string pattern = settingOr(config, "success_regex"); !pattern.empty()) {
    try {
      options.success_regex = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& error) {
      return makeError(
          "setting:success_regex",
          "success_regex is not a valid regular expression: " + std::string(error.what()));
    }
  }
  options.success_json_path = settingOr(config, "success_json_path");
  if (config.settings.count("success_json_value") != 0) {
    if (options.success_json_path.empty()) {
      return makeError("setting:success_json_value", "success_json_value needs success_json_path");
    }
    options.success_json_value = settingOr(config, "success_json_value");
  }
  options.message_id_json_path = settingOr(config, "message_id_json_path");
  options.auth_header = settingOr(config, "auth_header", "Authorization");
  std::string token = settingOr(config, "auth_token");
  std::string scheme = settingOr(config, "auth_scheme", "Bearer");
  if (!token.empty()) options.auth_value = scheme.empty() ? token : scheme + " " + token;
  for (char c : options.auth_header + options.auth_value) {
    if (c == '\r' || c == '\n') {
      return makeError("setting:auth_token", "auth settings must not contain line breaks");
    }
  }
  options.senders = sms::SenderIds::fromConfig(config, "from");
  auto allow_private = boolSetting(config, "allow_private", false);
  if (!allow_private) return allow_private.error();
  options.allow_private = allow_private.value();
  auto max_segments = sms::maxSegmentsSetting(config);
  if (!max_segments) return max_segments.error();
  options.max_segments = max_segments.value();
  return ProviderPtr(std::make_unique<HttpSmsProvider>(std::move(options)));
}

}  // namespace omnigate::channels
