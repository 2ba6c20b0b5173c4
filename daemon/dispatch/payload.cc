#include "daemon/dispatch/payload.h"

#include <boost/json.hpp>

#include "templates/json_data.h"

namespace omnigate::dispatch {
namespace json = boost::json;

bool isChannel(std::string_view name) {
  for (auto c : kChannels) {
    if (name == c) return true;
  }
  return false;
}

bool hasContact(const Contacts& contacts, const std::string& channel) {
  if (channel == "email") return !contacts.email.empty();
  if (channel == "sms") return !contacts.phone.empty();
  if (channel == "push") return !contacts.push.empty();
  if (channel == "messenger") return !contacts.telegram.empty();
  return false;
}

namespace {

void putIfPresent(json::object& out, const char* key, const std::string& value) {
  if (!value.empty()) out[key] = value;
}

std::string stringAt(const json::object& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

}  // namespace

std::string toJson(const MessagePayload& payload) {
  json::object to;
  putIfPresent(to, "email", payload.to.email);
  putIfPresent(to, "phone", payload.to.phone);
  putIfPresent(to, "telegram", payload.to.telegram);
  if (!payload.to.push.empty()) {
    json::array push;
    for (const auto& target : payload.to.push) {
      push.push_back(json::object{{"platform", target.platform}, {"token", target.token}});
    }
    to["push"] = std::move(push);
  }
  json::object content;
  for (const auto& [channel, part] : payload.content) {
    json::object c;
    putIfPresent(c, "subject", part.subject);
    putIfPresent(c, "text", part.text);
    putIfPresent(c, "html", part.html);
    putIfPresent(c, "title", part.title);
    putIfPresent(c, "body", part.body);
    putIfPresent(c, "data", part.data_json);
    content[channel] = std::move(c);
  }
  json::object out{{"to", std::move(to)}, {"content", std::move(content)}};
  putIfPresent(out, "template", payload.template_id);
  putIfPresent(out, "locale", payload.locale);
  putIfPresent(out, "data", payload.data_json);
  putIfPresent(out, "customer", payload.customer_json);
  putIfPresent(out, "metadata", payload.metadata_json);
  return json::serialize(out);
}

Result<MessagePayload> payloadFromJson(std::string_view text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec || !value.is_object()) return makeError("corrupt_payload", "stored payload is not JSON");
  const auto& root = value.as_object();
  MessagePayload payload;
  if (auto it = root.find("to"); it != root.end() && it->value().is_object()) {
    const auto& to = it->value().as_object();
    payload.to.email = stringAt(to, "email");
    payload.to.phone = stringAt(to, "phone");
    payload.to.telegram = stringAt(to, "telegram");
    if (auto p = to.find("push"); p != to.end() && p->value().is_array()) {
      for (const auto& item : p->value().as_array()) {
        if (!item.is_object()) continue;
        payload.to.push.push_back(
            {stringAt(item.as_object(), "platform"), stringAt(item.as_object(), "token")});
      }
    }
  }
  if (auto it = root.find("content"); it != root.end() && it->value().is_object()) {
    for (const auto& [channel, part] : it->value().as_object()) {
      if (!part.is_object()) continue;
      const auto& c = part.as_object();
      payload.content[std::string(channel)] =
          ChannelContent{stringAt(c, "subject"), stringAt(c, "text"),  stringAt(c, "html"),
                         stringAt(c, "title"),   stringAt(c, "body"), stringAt(c, "data")};
    }
  }
  payload.template_id = stringAt(root, "template");
  payload.locale = stringAt(root, "locale");
  payload.data_json = stringAt(root, "data");
  payload.customer_json = stringAt(root, "customer");
  payload.metadata_json = stringAt(root, "metadata");
  return payload;
}

Result<std::map<std::string, ChannelContent>> renderContent(
    const templates::TemplateSet& templates, const MessagePayload& payload,
    std::string_view only_channel, std::string* resolved_locale) {
  templates::TemplateValue data = templates::TemplateValue::object();
  if (!payload.data_json.empty()) {
    boost::system::error_code ec;
    auto value = json::parse(payload.data_json, ec);
    if (ec || !value.is_object()) {
      return makeError("corrupt_payload", "stored template data is not a JSON object");
    }
    data = templates::templateValueFromJson(value.as_object());
  }
  if (!payload.customer_json.empty() && data.find("customer") == nullptr) {
    boost::system::error_code ec;
    auto customer = json::parse(payload.customer_json, ec);
    if (!ec && customer.is_object()) {
      data.set("customer", templates::templateValueFromJson(customer.as_object()));
    }
  }
  auto parts = templates.render(payload.template_id, payload.locale, data, only_channel);
  if (!parts) return parts.error();
  if (resolved_locale) *resolved_locale = parts->resolved_locale;
  std::map<std::string, ChannelContent> content;
  if (!parts->email_subject.empty() && (!parts->email_text.empty() || !parts->email_html.empty())) {
    content["email"] = {.subject = parts->email_subject,
                        .text = parts->email_text,
                        .html = parts->email_html};
  }
  if (!parts->sms_text.empty()) content["sms"] = {.text = parts->sms_text};
  if (!parts->push_title.empty() || !parts->push_body.empty()) {
    content["push"] = {.title = parts->push_title,
                       .body = parts->push_body,
                       .data_json = parts->push_data_json};
  }
  if (!parts->messenger_text.empty()) content["messenger"] = {.text = parts->messenger_text};
  return content;
}

Result<channels::OutboundMessage> buildOutbound(const MessagePayload& payload,
                                                const templates::TemplateSet& templates,
                                                const store::MessageRecord& message,
                                                const std::string& channel, int attempt,
                                                SysTime now) {
  channels::OutboundMessage out;
  out.id = message.id;
  out.channel = channel;
  out.category = message.category;
  out.attempt = attempt;
  out.now_unix_ms = toUnixMillis(now);
  if (message.expires_at) out.expires_unix_ms = toUnixMillis(*message.expires_at);
  out.metadata_json = payload.metadata_json;
  out.locale = payload.locale;
  if (channel == "email") {
    out.recipient = payload.to.email;
  } else if (channel == "sms") {
    out.recipient = payload.to.phone;
  } else if (channel == "messenger") {
    out.recipient = payload.to.telegram;
  } else if (channel == "push" && !payload.to.push.empty()) {
    out.recipient = payload.to.push.front().token;
    out.recipient_platform = payload.to.push.front().platform;
  }
  if (out.recipient.empty()) {
    return makeError("no_contact", "the message has no " + channel + " contact");
  }
  std::map<std::string, ChannelContent> rendered;
  const auto* content = &payload.content;
  if (!payload.template_id.empty()) {
    auto result = renderContent(templates, payload, channel);
    if (!result) return result.error();
    rendered = std::move(result.value());
    content = &rendered;
  }
  auto it = content->find(channel);
  if (it == content->end()) {
    return makeError("no_content", "the message has no content for " + channel);
  }
  const auto& part = it->second;
  out.subject = part.subject;
  out.text = channel == "push" ? part.body : part.text;
  out.html = part.html;
  out.title = part.title;
  out.data_json = part.data_json;
  return out;
}

}  // namespace omnigate::dispatch
