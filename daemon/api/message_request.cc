#include "daemon/api/message_request.h"

#include <algorithm>
#include <cmath>
#include <boost/json.hpp>

#include "channels/sms/phone_number.h"
#include "daemon/api/field_reader.h"

namespace omnigate::api {
namespace json = boost::json;

namespace {

bool isIdentifier(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

void readContacts(FieldReader& r, const json::object& to, dispatch::Contacts& contacts,
                  std::string_view phone_region) {
  if (!r.checkKnown(to, "to.", {"email", "phone", "push", "telegram"})) return;
  if (r.string(to, "email", "to.email", contacts.email, 254) && !contacts.email.empty() &&
      !looksLikeEmail(contacts.email)) {
    r.fail("to.email", "is not an email address");
  }
  if (r.string(to, "phone", "to.phone", contacts.phone, 64) && !contacts.phone.empty()) {
    auto normalized = channels::sms::normalizePhoneNumber(contacts.phone, phone_region);
    if (normalized) {
      contacts.phone = std::move(normalized.value());
    } else {
      r.fail("to.phone", normalized.error().message);
    }
  }
  r.string(to, "telegram", "to.telegram", contacts.telegram, 64);
  if (auto it = to.find("push"); it != to.end() && !it->value().is_null()) {
    if (!it->value().is_array()) {
      r.fail("to.push", "must be an array of {\"platform\", \"token\"}");
      return;
    }
    int i = 0;
    for (const auto& item : it->value().as_array()) {
      std::string path = "to.push[" + std::to_string(i++) + "]";
      if (!item.is_object()) {
        r.fail(path, "must be an object");
        return;
      }
      const auto& o = item.as_object();
      if (!r.checkKnown(o, path + ".", {"platform", "token"})) return;
      dispatch::PushTarget target;
      r.string(o, "platform", path + ".platform", target.platform, 16);
      r.string(o, "token", path + ".token", target.token, 4096);
      if (target.platform != "fcm" && target.platform != "apns") {
        r.fail(path + ".platform", "must be \"fcm\" or \"apns\"");
        return;
      }
      if (target.token.empty()) {
        r.fail(path + ".token", "is required");
        return;
      }
      contacts.push.push_back(std::move(target));
    }
  }
}

void readContent(FieldReader& r, const json::object& content,
                 std::map<std::string, dispatch::ChannelContent>& out) {
  if (!r.checkKnown(content, "content.", {"email", "sms", "push", "messenger"})) return;
  constexpr std::size_t kMaxPart = 256 * 1024;
  for (const auto& [key, value] : content) {
    std::string channel(key);
    std::string path = "content." + channel;
    auto* part = r.object(content, key, path);
    if (!part) continue;
    dispatch::ChannelContent c;
    if (channel == "email") {
      if (!r.checkKnown(*part, path + ".", {"subject", "text", "html"})) return;
      r.string(*part, "subject", path + ".subject", c.subject, 998);
      r.string(*part, "text", path + ".text", c.text, kMaxPart);
      r.string(*part, "html", path + ".html", c.html, kMaxPart);
      if (c.subject.empty()) r.fail(path + ".subject", "is required");
      if (c.subject.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        r.fail(path + ".subject", "must be one line (no CR, LF or NUL)");
      }
      if (c.text.empty() && c.html.empty()) r.fail(path, "needs text or html");
    } else if (channel == "push") {
      if (!r.checkKnown(*part, path + ".", {"title", "body", "data"})) return;
      r.string(*part, "title", path + ".title", c.title, 1024);
      if (c.title.find('\0') != std::string::npos) r.fail(path + ".title", "must not contain NUL");
      r.string(*part, "body", path + ".body", c.body, 4096);
      if (auto* data = r.object(*part, "data", path + ".data")) c.data_json = json::serialize(*data);
      if (c.title.empty() && c.body.empty()) r.fail(path, "needs a title or a body");
    } else {
      if (!r.checkKnown(*part, path + ".", {"text"})) return;
      r.string(*part, "text", path + ".text", c.text, channel == "sms" ? 1600 : 4096);
      if (c.text.empty()) r.fail(path + ".text", "is required");
    }
    out[channel] = std::move(c);
  }
}

void readStringArray(FieldReader& r, const json::object& root, std::string_view key,
                     std::vector<std::string>& out, std::size_t max_items) {
  auto it = root.find(key);
  if (it == root.end() || it->value().is_null()) return;
  std::string path(key);
  if (!it->value().is_array()) {
    r.fail(path, "must be an array of strings");
    return;
  }
  if (it->value().as_array().size() > max_items) {
    r.fail(path, "has more than " + std::to_string(max_items) + " items");
    return;
  }
  for (const auto& item : it->value().as_array()) {
    if (!item.is_string() || item.as_string().empty()) {
      r.fail(path, "must be an array of non-empty strings");
      return;
    }
    out.emplace_back(item.as_string());
  }
}

bool allNumbersFinite(const json::value& value) {
  switch (value.kind()) {
    case json::kind::double_:
      return std::isfinite(value.get_double());
    case json::kind::array:
      return std::all_of(value.get_array().begin(), value.get_array().end(),
                         [](const json::value& item) { return allNumbersFinite(item); });
    case json::kind::object:
      return std::all_of(value.get_object().begin(), value.get_object().end(),
                         [](const json::key_value_pair& item) {
                           return allNumbersFinite(item.value());
                         });
    default:
      return true;
  }
}

}  // namespace

Result<SendRequest> parseSendRequest(std::string_view body, json::value* parsed,
                                     std::string_view phone_region) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;
  json::value root_value = json::parse(body, ec, {}, options);
  if (ec) return makeError("invalid_json", "the body is not valid JSON: " + ec.message());
  if (!root_value.is_object()) return makeError("invalid_request", "the body must be a JSON object");
  const auto& root = root_value.as_object();
  // Boost.JSON reads 1e400 as infinity and would write it back as "Infinity", which is not JSON:
  // a body like that could be accepted and never delivered.
  if (!allNumbersFinite(root_value)) {
    return makeError("invalid_request", "the body holds a number too large for a double");
  }

  std::optional<Error> error;
  FieldReader r(error);
  SendRequest req;
  r.checkKnown(root, "",
               {"customer_id", "to", "template", "data", "locale", "content", "category",
                "channels", "strategy", "dedupe_key", "cancel_keys", "send_at", "ttl", "priority",
                "metadata"});
  r.string(root, "customer_id", "customer_id", req.customer_id, 200);
  if (auto* to = r.object(root, "to", "to")) readContacts(r, *to, req.payload.to, phone_region);
  r.string(root, "template", "template", req.template_id, 200);
  r.string(root, "locale", "locale", req.locale, 35);
  if (auto* content = r.object(root, "content", "content")) {
    readContent(r, *content, req.payload.content);
  }
  if (auto* data = r.object(root, "data", "data")) {
    req.payload.data_json = json::serialize(*data);
  }
  r.string(root, "category", "category", req.category, 64);
  if (!isIdentifier(req.category)) {
    r.fail("category", "must be lower-case letters, digits, '_' or '-'");
  }
  readStringArray(r, root, "channels", req.channels, 4);
  for (const auto& channel : req.channels) {
    if (!dispatch::isChannel(channel)) {
      r.fail("channels", "contains '" + channel + "'; channels are email, sms, push, messenger");
    } else if (std::count(req.channels.begin(), req.channels.end(), channel) > 1) {
      r.fail("channels", "names '" + channel + "' twice");
    }
  }
  if (root.contains("channels") && req.channels.empty() && !error) {
    r.fail("channels", "must not be empty");
  }
  r.string(root, "strategy", "strategy", req.strategy, 16);
  if (req.strategy != "fallback" && req.strategy != "broadcast") {
    r.fail("strategy", "must be \"fallback\" or \"broadcast\"");
  } else if (req.strategy == "broadcast") {
    r.fail("strategy", "\"broadcast\" is not supported yet; use \"fallback\"");
  }
  r.string(root, "priority", "priority", req.priority, 16);
  if (req.priority != "low" && req.priority != "normal" && req.priority != "high") {
    r.fail("priority", "must be \"low\", \"normal\" or \"high\"");
  }
  r.string(root, "dedupe_key", "dedupe_key", req.dedupe_key, 256);
  readStringArray(r, root, "cancel_keys", req.cancel_keys, 32);
  std::string send_at;
  if (r.string(root, "send_at", "send_at", send_at, 64) && !send_at.empty()) {
    auto t = parseRfc3339(send_at);
    if (!t) {
      r.fail("send_at", "must be an RFC 3339 time such as \"2026-11-23T10:00:00Z\"");
    } else {
      req.send_at = *t;
    }
  }
  std::string ttl;
  if (r.string(root, "ttl", "ttl", ttl, 32) && !ttl.empty()) {
    auto d = parseDuration(ttl);
    if (!d || d->count() <= 0) {
      r.fail("ttl", "must be a positive duration such as \"90s\", \"2h\" or \"7d\"");
    } else {
      req.ttl = *d;
    }
  }
  if (auto* metadata = r.object(root, "metadata", "metadata")) {
    req.payload.metadata_json = json::serialize(*metadata);
    if (req.payload.metadata_json.size() > 16 * 1024) r.fail("metadata", "is larger than 16 KiB");
  }
  if (!error) {
    if (req.customer_id.empty() && !root.contains("to")) {
      r.fail("to", "is required when there is no customer_id");
    } else if (req.template_id.empty() && req.payload.content.empty()) {
      r.fail("content", "or template is required");
    } else if (!req.template_id.empty() && !req.payload.content.empty()) {
      r.fail("template", "and content cannot be used together");
    } else if (req.template_id.empty() && !req.payload.data_json.empty()) {
      r.fail("data", "is only used with a template");
    }
  }
  if (error) return *error;
  req.payload.template_id = req.template_id;
  req.payload.locale = req.locale;
  if (parsed) *parsed = std::move(root_value);
  return req;
}

std::vector<std::string> planChannels(const SendRequest& request,
                                      const std::map<std::string, dispatch::ChannelContent>& content,
                                      const std::vector<std::string>& default_channels,
                                      const std::vector<std::string>& configured_channels,
                                      std::string* trace) {
  const auto& wanted = request.channels.empty() ? default_channels : request.channels;
  std::vector<std::string> plan;
  std::string skipped;
  auto skip = [&skipped](const std::string& channel, const char* why) {
    skipped += (skipped.empty() ? "" : ", ") + channel + ": " + why;
  };
  for (const auto& channel : wanted) {
    if (std::find(configured_channels.begin(), configured_channels.end(), channel) ==
        configured_channels.end()) {
      skip(channel, "no provider configured");
    } else if (!dispatch::hasContact(request.payload.to, channel)) {
      skip(channel, "no contact");
    } else if (!content.count(channel)) {
      skip(channel, request.template_id.empty() ? "no content" : "the template has no part for it");
    } else {
      plan.push_back(channel);
    }
  }
  if (trace) {
    std::string order = request.channels.empty() ? "default order" : "requested";
    std::string joined;
    for (const auto& c : plan) joined += (joined.empty() ? "" : ", ") + c;
    *trace = (plan.empty() ? std::string("none") : joined) + " (" + order +
             (skipped.empty() ? "" : "; skipped " + skipped) + ")";
  }
  return plan;
}

}  // namespace omnigate::api
