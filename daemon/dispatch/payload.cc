#include "daemon/dispatch/payload.h"

#include <boost/json.hpp>

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
  payload.metadata_json = stringAt(root, "metadata");
  return payload;
}

Result<channels::OutboundMessage> buildOutbound(const MessagePayload& payload,
                                                const store::MessageRecord& message,
                                                const std::string& channel, int attempt,
                                                SysTime now) {
  channels::OutboundMessage out;
  out.id = message.id;
  out.channel = channel;
  out.category = message.category;
  out.attempt = attempt;
  out.now_unix_ms = toUnixMillis(now);
  out.metadata_json = payload.metadata_json;
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
  auto it = payload.content.find(channel);
  if (it == payload.content.end()) {
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
