#pragma once

// What a stored message carries for delivery: the recipient's contacts and the content per
// channel. The API writes it at intake; the dispatcher reads it to build each attempt.

#include <map>
#include <string>
#include <vector>

#include "channels/provider.h"
#include "daemon/common/result.h"
#include "daemon/store/store.h"
#include "templates/template_set.h"

namespace omnigate::dispatch {

struct PushTarget {
  std::string platform;  // fcm | apns
  std::string token;
};

struct Contacts {
  std::string email;
  std::string phone;
  std::string telegram;
  std::vector<PushTarget> push;
};

struct ChannelContent {
  std::string subject;  // email
  std::string text;     // email text part, sms, messenger
  std::string html;     // email
  std::string title;    // push
  std::string body;     // push
  std::string data_json;  // push data object
};

// Either inline `content` or a template: a template is rendered for the channel at each attempt,
// so a scheduled or retried message uses the template set in force when it is sent.
struct MessagePayload {
  Contacts to;
  std::map<std::string, ChannelContent> content;  // by channel
  std::string template_id;
  std::string locale;
  std::string data_json;  // the request's `data` object, for the template
  // The customer's profile fields templates may use as {{customer.*}} (id, locale, timezone,
  // email, phone); a `customer` key in `data` wins.
  std::string customer_json;
  std::string metadata_json;
};

inline constexpr const char* kChannels[] = {"email", "sms", "push", "messenger"};
bool isChannel(std::string_view name);
bool hasContact(const Contacts& contacts, const std::string& channel);

std::string toJson(const MessagePayload& payload);
Result<MessagePayload> payloadFromJson(std::string_view json);

// The payload's template rendered with its data and locale, as content by channel; a channel
// whose parts render to nothing is absent. `only_channel` renders just that one. Errors:
// `unknown_template`, `template_render`, `corrupt_payload`. `resolved_locale` receives the
// template variant used ("ru", "default").
Result<std::map<std::string, ChannelContent>> renderContent(
    const templates::TemplateSet& templates, const MessagePayload& payload,
    std::string_view only_channel = {}, std::string* resolved_locale = nullptr);

// One attempt's message for `channel`; an Error when the payload lacks what the channel needs.
Result<channels::OutboundMessage> buildOutbound(const MessagePayload& payload,
                                                const templates::TemplateSet& templates,
                                                const store::MessageRecord& message,
                                                const std::string& channel, int attempt,
                                                SysTime now);

}  // namespace omnigate::dispatch
